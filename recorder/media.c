/** @file media.c  The daemon side of one engine (engine.h): its UDP
 *  sockets on every media-listen address (recvmmsg batches), the archive
 *  ops that map the engine's writes onto the shared per-call archives
 *  (archive.c), and the counters other threads read.  Every rule about
 *  packets and keys lives in the engine; this file only feeds it.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "daemon_priv.h"
#include "log.h"
#include "rec.h"
#include "stor.h"
#include "util.h"

enum {
    BATCH = 32,          /* datagrams per recvmmsg */
    BATCHES_PER_EVENT = 64, /* then let the loop serve TLS and timers */
    PKT_CAP = 2048,
    MAX_PORTS = 8,       /* media-listen addresses */
};

/* One media socket: media-listen may name several addresses (ports, IPv4
 * and IPv6); each engine has a socket on every one. */
struct rd_sock {
    struct rd_watch w;
    struct rd_eng *eng;
    struct rec_flow local;         /* the socket's own address (packets' destination) */
    uint32_t ovfl_last;            /* SO_RXQ_OVFL: this socket's running drop count */
};

/* A SIPREC session's media socket (srs.c), added and removed at run time.
 * Removal closes the fd at once and frees the struct at the next tick: an
 * epoll batch may still hold an event for it. */
struct rd_dsock {
    struct rd_sock sk;             /* first: on_udp finds it from the watch */
    uint64_t id;
    bool dead;
    struct rd_dsock *next;
};

struct rd_eng {
    struct rd_loop *loop;
    struct rd_dsock *dsocks;       /* SIPREC sessions' sockets, live and dead */
    struct rd_archives *archives;
    const struct rd_cfg *cfg;
    struct rec_eng *eng;
    struct rd_sock socks[MAX_PORTS];
    size_t n_socks;
    struct rd_sock *cur;           /* the socket on_udp is reading */
    unsigned cap_slot;             /* its share of cfg->cap (capture.h) */
    bool cap_attached;
    bool keys_seen;                /* a key body was applied: a capture file may start */
    atomic_bool authorised;
    pthread_mutex_t pub_mu;        /* guards pub, the copy other threads read */
    struct rec_eng_stats pub;
    uint8_t bufs[BATCH][PKT_CAP];
    union {
        char buf[CMSG_SPACE(sizeof(uint32_t))];
        uint64_t align; /* cmsghdr alignment (size_t) */
    } ctl[BATCH];
    struct sockaddr_storage names[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
};

/* ------------------------------------------------------- archive ops */

static enum sr_err ops_open(void *arg, const char *source, const struct stor_call_info *ci,
                            bool unmatched, void **arch)
{
    struct rd_arch *a = NULL;
    enum sr_err err = rd_arch_get(arg, source, ci, unmatched, &a);

    *arch = a;
    return err;
}

static enum sr_err ops_add_stream(void *arg, void *arch, const struct stor_stream_info *si,
                                  unsigned *idx)
{
    (void)arg;
    return rd_arch_add_stream(arch, si, idx);
}

static enum sr_err ops_packet(void *arg, void *arch, unsigned idx, const struct stor_pkt *p,
                              enum rec_pkt_kind kind)
{
    (void)arg;
    return rd_arch_packet(arch, idx, p, (enum rd_pkt_kind)kind);
}

static void ops_release(void *arg, void *arch, const struct stor_counts *counts)
{
    rd_arch_release(arg, arch, counts);
}

static void ops_retire(void *arg, void *arch)
{
    rd_arch_retire(arg, arch);
}

static void ops_parties(void *arg, void *arch, const char *local_aor, const char *remote_aor)
{
    (void)arg;
    rd_arch_parties(arch, local_aor, remote_aor);
}

static const struct rec_eng_archive_ops archive_ops = {
    ops_open, ops_add_stream, ops_packet, ops_release, ops_retire, ops_parties,
};

/* --------------------------------------------------------------- stats */

/* Copy the counters where other threads read them: after each receive
 * burst and tick, not per packet (a lock per packet for a metrics file). */
static void stats_publish(struct rd_eng *m)
{
    struct rec_eng_stats st;

    rec_eng_stats(m->eng, &st);
    pthread_mutex_lock(&m->pub_mu);
    m->pub = st;
    pthread_mutex_unlock(&m->pub_mu);
}

void rd_eng_stats(struct rd_eng *m, struct rec_eng_stats *out)
{
    pthread_mutex_lock(&m->pub_mu);
    *out = m->pub;
    pthread_mutex_unlock(&m->pub_mu);
}

/* ------------------------------------------------------------- receive */

static void on_datagram(struct rd_eng *m, int i, uint64_t now, uint64_t mono_now)
{
    struct msghdr *mh = &m->msgs[i].msg_hdr;
    struct rec_eng_pkt p;

    p.data = m->bufs[i];
    p.len = m->msgs[i].msg_len;
    p.arrival_wall_us = now;
    p.now_us = mono_now;
    p.dst = m->cur->local;
    if ((mh->msg_flags & MSG_TRUNC) ||
        rec_flow_set(&p.src, (const struct sockaddr *)&m->names[i], mh->msg_namelen, 0) !=
            SR_OK) {
        /* Too long for a packet buffer, or a peer address of no known
         * family: the engine counts it malformed. */
        p.len = 0;
        memset(&p.src, 0, sizeof(p.src));
    }
    rec_eng_packet(m->eng, &p);
}

static void on_udp(struct rd_watch *w, uint32_t events)
{
    struct rd_sock *sk = (struct rd_sock *)((char *)w - offsetof(struct rd_sock, w));
    struct rd_eng *m = sk->eng;

    if (w->fd < 0)
        return; /* a removed session socket whose event was already queued */
    m->cur = sk;

    (void)events;
    for (int b = 0; b < BATCHES_PER_EVENT; b++) {
        int n;
        uint64_t now, mono_now;
        for (int i = 0; i < BATCH; i++) {
            m->iov[i].iov_base = m->bufs[i];
            m->iov[i].iov_len = PKT_CAP;
            memset(&m->msgs[i].msg_hdr, 0, sizeof(m->msgs[i].msg_hdr));
            m->msgs[i].msg_hdr.msg_name = &m->names[i];
            m->msgs[i].msg_hdr.msg_namelen = sizeof(m->names[i]);
            m->msgs[i].msg_hdr.msg_iov = &m->iov[i];
            m->msgs[i].msg_hdr.msg_iovlen = 1;
            m->msgs[i].msg_hdr.msg_control = m->ctl[i].buf;
            m->msgs[i].msg_hdr.msg_controllen = sizeof(m->ctl[i].buf);
        }
        n = recvmmsg(w->fd, m->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;
        now = sr_wall_us();
        mono_now = sr_now_us();
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &m->msgs[i].msg_hdr;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
                    cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
                    uint32_t v;
                    memcpy(&v, CMSG_DATA(cm), sizeof(v));
                    /* A running count of datagrams the kernel dropped on this
                     * socket's full queue: add what is new since last seen. */
                    rec_eng_count_source_drops(m->eng, (uint32_t)(v - sk->ovfl_last));
                    sk->ovfl_last = v;
                }
            on_datagram(m, i, now, mono_now);
        }
        if (n < BATCH)
            break;
    }
    stats_publish(m);
}

/* ---------------------------------------------------------- sockets */

static int open_udp(const char *listen, int rcvbuf, bool reuseport)
{
    struct addrinfo hints = { 0 }, *ai = NULL;
    char host[CONF_STR_MAX];
    const char *colon = strrchr(listen, ':');
    int fd = -1, one = 1;

    if (!colon)
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
        return -1;
    fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        /* One socket per worker on the same address: the kernel hashes the
         * 4-tuple, so a source always lands on the same worker.  Only then:
         * a lone recorder must still fail to bind a port already taken. */
        if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
            close(fd);
            freeaddrinfo(ai);
            return -1;
        }
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        /* Kernel drops on a full receive queue, reported with each datagram. */
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

/* A socket on every address of media-listen ("ADDR:PORT, [ADDR6]:PORT, ..."). */
static enum sr_err open_socks(struct rd_eng *m, const char *listen, bool reuseport)
{
    char list[CONF_STR_MAX], item[CONF_STR_MAX];
    struct slice cur;
    enum sr_err err;

    snprintf(list, sizeof(list), "%s", listen);
    cur = slice_cstr(list);
    while (cur.len) {
        struct slice one = slice_trim(slice_split(&cur, ','));
        struct rd_sock *sk;
        if (!one.len)
            continue;
        slice_copy_cstr(one, item, sizeof(item));
        if (m->n_socks == MAX_PORTS) {
            log_error("media-listen: at most %d addresses", MAX_PORTS);
            return SR_ELIMIT;
        }
        sk = &m->socks[m->n_socks];
        sk->eng = m;
        sk->w.on_event = on_udp;
        errno = 0;
        sk->w.fd = open_udp(item, (int)m->cfg->rcvbuf, reuseport);
        if (sk->w.fd < 0) {
            log_error("media-listen %s: cannot bind: %s", item,
                      errno ? strerror(errno) : "expected ADDRESS:PORT or [IPv6]:PORT");
            return SR_EIO;
        }
        {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            if (getsockname(sk->w.fd, (struct sockaddr *)&ss, &sl) != 0 ||
                rec_flow_set(&sk->local, (struct sockaddr *)&ss, sl, 0) != SR_OK)
                memset(&sk->local, 0, sizeof(sk->local));
        }
        if ((err = rd_loop_add(m->loop, &sk->w, EPOLLIN))) {
            close(sk->w.fd);
            return err;
        }
        m->n_socks++;
    }
    if (!m->n_socks) {
        log_error("media-listen: no address");
        return SR_EINVAL;
    }
    return SR_OK;
}


/* -------------------------------------------------------------- set-up */

enum sr_err rd_eng_create(struct rd_eng **out, const struct rd_eng_cfg *ec)
{
    const struct rd_cfg *cfg = ec->cfg;
    struct rec_eng_cfg c = { 0 };
    struct rd_eng *m;
    enum sr_err err;

    m = calloc(1, sizeof(*m));
    if (!m)
        return SR_ENOMEM;
    pthread_mutex_init(&m->pub_mu, NULL);
    m->cfg = cfg;
    m->loop = ec->loop;
    m->archives = ec->archives;
    c.ops = &archive_ops;
    c.ops_arg = ec->archives;
    c.key_wait_ms = cfg->key_wait_ms;
    c.call_linger_ms = cfg->call_linger_ms;
    c.tick_ms = cfg->flush_interval_ms;
    c.max_streams = cfg->max_streams;
    c.max_held_packets = ec->max_held_packets;
    c.max_held_bytes = ec->max_held_bytes;
    c.max_held_per_stream = cfg->max_held_per_stream;
    c.max_unbound = cfg->max_unbound_streams;
    c.max_unbound_per_source = cfg->max_unbound_per_source;
    c.unmatched_streams_per_min = cfg->max_unmatched_per_min;
    c.max_calls_per_source = cfg->max_calls_per_keyagent;
    c.opens_per_source_per_s = cfg->max_opens_per_keyagent;
    c.log_keys = ec->log_keys;
    err = rec_eng_create(&m->eng, &c);
    if (err)
        goto fail;
    err = open_socks(m, cfg->media_listen, ec->reuseport);
    if (err)
        goto fail;
    if (cfg->cap) {
        m->cap_slot = ec->cap_slot;
        err = rd_cap_attach(cfg->cap, ec->cap_slot, ec->cap_slots ? ec->cap_slots : 1, m->loop,
                            m->eng);
        m->cap_attached = true; /* detach undoes a part too */
        if (err)
            goto fail;
    }
    stats_publish(m);
    *out = m;
    return SR_OK;
fail:
    rd_eng_destroy(m, NULL);
    return err;
}

static void dsocks_reap(struct rd_eng *m, bool all)
{
    for (struct rd_dsock **pp = &m->dsocks, *d; (d = *pp);) {
        if (!d->dead && !all) {
            pp = &d->next;
            continue;
        }
        if (d->sk.w.fd >= 0) {
            rd_loop_del(m->loop, &d->sk.w);
            close(d->sk.w.fd);
        }
        *pp = d->next;
        free(d);
    }
}

enum sr_err rd_eng_add_sock(struct rd_eng *m, int fd, uint64_t id)
{
    struct rd_dsock *d = calloc(1, sizeof(*d));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int one = 1;
    enum sr_err err;

    if (!d) {
        close(fd);
        return SR_ENOMEM;
    }
    d->id = id;
    d->sk.eng = m;
    d->sk.w.on_event = on_udp;
    d->sk.w.fd = fd;
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        rec_flow_set(&d->sk.local, (struct sockaddr *)&ss, sl, 0) != SR_OK)
        memset(&d->sk.local, 0, sizeof(d->sk.local));
    if ((err = rd_loop_add(m->loop, &d->sk.w, EPOLLIN))) {
        close(fd);
        free(d);
        return err;
    }
    d->next = m->dsocks;
    m->dsocks = d;
    return SR_OK;
}

void rd_eng_del_sock(struct rd_eng *m, uint64_t id)
{
    for (struct rd_dsock *d = m->dsocks; d; d = d->next)
        if (d->id == id && !d->dead) {
            d->dead = true;
            rd_loop_del(m->loop, &d->sk.w);
            close(d->sk.w.fd);
            d->sk.w.fd = -1;
            return;
        }
}

void rd_eng_destroy(struct rd_eng *m, struct rec_eng_stats *final)
{
    if (!m)
        return;
    if (m->cap_attached)
        rd_cap_detach(m->cfg->cap, m->cap_slot);
    for (size_t i = 0; i < m->n_socks; i++) {
        rd_loop_del(m->loop, &m->socks[i].w);
        close(m->socks[i].w.fd);
    }
    dsocks_reap(m, true);
    rec_eng_destroy(m->eng, final);
    pthread_mutex_destroy(&m->pub_mu);
    free(m);
}

void rd_eng_keybody(struct rd_eng *m, const char *peer, const struct sipev_keybody *kb)
{
    rec_eng_keybody(m->eng, peer, kb);
    m->keys_seen = true;
}

uint64_t rd_eng_tick(struct rd_eng *m, uint64_t now)
{
    uint64_t next = rec_eng_tick(m->eng, now), t;

    dsocks_reap(m, false);
    if (m->cap_attached) {
        /* A file is replayed once a keyagent accepted us and sent its first
         * key state: its packets then meet the keys disclosed so far. */
        t = rd_cap_tick(m->cfg->cap, m->cap_slot, sr_now_us(),
                        m->keys_seen && atomic_load(&m->authorised));
        next = t < next ? t : next;
    }
    stats_publish(m);
    return next;
}

void rd_eng_set_authorised(struct rd_eng *m, bool authorised)
{
    atomic_store(&m->authorised, authorised);
    rec_eng_set_authorised(m->eng, authorised);
}
