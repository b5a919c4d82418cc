/** @file media.c  The recorder's media path on the loop thread: UDP receive
 *  (recvmmsg), demultiplexing by (source, SSRC), binding streams to disclosed
 *  keys, SRTP decryption and one archive per call.
 *
 * Nothing is lost silently: a packet that cannot be recorded is counted under
 * its reason, the counts go into the archive trailer and the operator log.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_priv.h"
#include "log.h"
#include "rec.h"
#include "stor.h"
#include "util.h"

enum {
    BATCH = 32,          /* datagrams per recvmmsg */
    BATCHES_PER_EVENT = 64, /* then let the loop serve TLS and timers */
    PKT_CAP = 2048,
    MAX_RECIPIENTS = 8,
};

struct rd_call;

struct rd_stream {
    struct rec_flow flow;
    struct rec_srtp *srtp;     /* NULL until a key is bound */
    struct rec_held_q held;    /* packets that came before the key */
    struct rd_call *call;      /* NULL until bound */
    unsigned stor_idx;
    bool have_seq, have_ts;
    uint64_t highest_ext_seq;
    uint64_t last_ext_ts;
    uint32_t last_ts;
    struct rd_stream *next;    /* in call->streams, or in media->unbound */
};

struct rd_binding {            /* a key disclosed for (keyagent, SSRC) */
    struct rec_flow key;       /* addr/port zero, ssrc: table key */
    struct rd_call *call;
    struct sipev_stream desc;  /* includes the keys: wiped on free */
};

struct rd_call {
    char peer[SIPEV_STR];
    char call_id[SIPEV_STR];
    struct stor_writer *w;
    struct stor_record rec;
    struct stor_counts counts;
    bool ended;
    uint64_t close_at_us;
    struct rd_stream *streams;
    struct rd_binding *bindings[SIPEV_MAX_STREAMS];
    size_t n_bindings;
    struct rd_call *next;
};

struct rd_media {
    const struct rd_cfg *cfg;
    struct rd_loop *loop;
    struct stor_index *index;
    struct rd_watch udp;
    struct rec_streams *table;     /* (source, SSRC) -> rd_stream */
    struct rec_streams *bind_tab;  /* SSRC -> rd_binding */
    struct rec_held *held;
    struct rd_call *calls;
    size_t n_calls;
    struct rd_stream *unbound;     /* streams waiting for their key */
    char recipients[MAX_RECIPIENTS][CONF_STR_MAX];
    const char *recipient_ptrs[MAX_RECIPIENTS];
    size_t n_recipients;
    uint64_t next_flush_us;
    struct {
        uint64_t rx, rtcp, malformed, recorded, auth_fail, replay, held, held_drop, no_stream_slot,
            storage_err, unbound_discarded;
    } st;
    uint8_t bufs[BATCH][PKT_CAP];
    struct sockaddr_storage names[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
};

/* ------------------------------------------------------------- helpers */

static struct rec_flow ssrc_key(uint32_t ssrc)
{
    struct rec_flow f;

    memset(&f, 0, sizeof(f));
    f.ssrc = ssrc;
    return f;
}

static uint64_t ext_seq_update(struct rd_stream *s, uint16_t seq)
{
    uint64_t base = s->highest_ext_seq & ~(uint64_t)0xffff, best = base | seq;

    /* RFC 3711 3.3.1: take the candidate index nearest the highest seen. */
    if (best > s->highest_ext_seq && best - s->highest_ext_seq > 32768 && best >= 65536)
        best -= 65536;
    else if (best < s->highest_ext_seq && s->highest_ext_seq - best > 32768)
        best += 65536;
    if (best > s->highest_ext_seq)
        s->highest_ext_seq = best;
    return best;
}

static uint64_t ext_ts_update(struct rd_stream *s, uint32_t ts)
{
    int64_t ext;

    if (!s->have_ts) {
        s->have_ts = true;
        s->last_ts = ts;
        s->last_ext_ts = (uint64_t)ts + (1ull << 32); /* room for reordering before the first */
        return s->last_ext_ts;
    }
    ext = (int64_t)s->last_ext_ts + (int32_t)(ts - s->last_ts);
    if (ext < 0)
        ext = 0;
    if ((uint64_t)ext > s->last_ext_ts) {
        s->last_ext_ts = (uint64_t)ext;
        s->last_ts = ts;
    }
    return (uint64_t)ext;
}

/* --------------------------------------------------------------- calls */

static struct rd_call *call_find(struct rd_media *m, const char *peer, const char *call_id)
{
    for (struct rd_call *c = m->calls; c; c = c->next)
        if (strcmp(c->call_id, call_id) == 0 && strcmp(c->peer, peer) == 0)
            return c;
    return NULL;
}

static void binding_free(struct rd_media *m, struct rd_binding *b)
{
    struct rd_binding *cur;

    if (!b)
        return;
    cur = rec_streams_lookup(m->bind_tab, &b->key);
    if (cur == b)
        rec_streams_remove(m->bind_tab, &b->key, NULL);
    sr_wipe(&b->desc, sizeof(b->desc));
    free(b);
}

static void stream_free(struct rd_media *m, struct rd_stream *s)
{
    size_t dropped = rec_held_discard(m->held, &s->held);

    if (dropped && s->call)
        s->call->counts.overload += dropped;
    m->st.unbound_discarded += s->call ? 0 : dropped;
    rec_streams_remove(m->table, &s->flow, NULL);
    rec_srtp_destroy(s->srtp);
    free(s);
}

static enum sr_err call_open(struct rd_media *m, const char *peer, const struct sipev_dialog *d,
                             struct rd_call **out)
{
    struct stor_writer_cfg wc = { 0 };
    struct rd_call *c;
    enum sr_err err;

    if (m->n_calls >= m->cfg->max_streams / 2)
        return SR_ELIMIT;
    c = calloc(1, sizeof(*c));
    if (!c)
        return SR_ENOMEM;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    snprintf(c->call_id, sizeof(c->call_id), "%s", d->call_id);
    snprintf(c->rec.call.call_id, sizeof(c->rec.call.call_id), "%s", d->call_id);
    snprintf(c->rec.call.local_aor, sizeof(c->rec.call.local_aor), "%s", d->local_aor);
    snprintf(c->rec.call.remote_aor, sizeof(c->rec.call.remote_aor), "%s", d->remote_aor);
    snprintf(c->rec.call.local_tag, sizeof(c->rec.call.local_tag), "%s", d->local_tag);
    snprintf(c->rec.call.remote_tag, sizeof(c->rec.call.remote_tag), "%s", d->remote_tag);
    snprintf(c->rec.call.source, sizeof(c->rec.call.source), "%s", peer);
    c->rec.call.start_wall_us = d->start_wall_us ? d->start_wall_us : sr_wall_us();
    wc.dir = m->cfg->archive_dir;
    wc.recipients = m->recipient_ptrs;
    wc.n_recipients = m->n_recipients;
    err = stor_writer_open(&c->w, &wc, &c->rec.call, c->rec.id);
    if (err) {
        free(c);
        return err;
    }
    c->rec.state = STOR_STATE_RECORDING;
    snprintf(c->rec.path, sizeof(c->rec.path), "%s/%s.srec", m->cfg->archive_dir, c->rec.id);
    err = stor_index_put(m->index, &c->rec);
    if (err)
        log_error("index: cannot record the start of call %s: %s", c->call_id, sr_strerror(err));
    c->next = m->calls;
    m->calls = c;
    m->n_calls++;
    log_notice("call %s from %s (%s -> %s): recording into archive %s", c->call_id, peer,
               c->rec.call.local_aor, c->rec.call.remote_aor, c->rec.id);
    *out = c;
    return SR_OK;
}

static void call_close(struct rd_media *m, struct rd_call *c)
{
    char path[4096];
    struct stat sb;
    enum sr_err err;

    while (c->streams) {
        struct rd_stream *s = c->streams;
        c->streams = s->next;
        stream_free(m, s);
    }
    for (size_t i = 0; i < c->n_bindings; i++)
        binding_free(m, c->bindings[i]);
    err = stor_writer_close(c->w, &c->counts, path, sizeof(path));
    c->rec.end_wall_us = sr_wall_us();
    c->rec.packets = c->counts.packets;
    if (err) {
        log_error("call %s: sealing archive %s failed: %s", c->call_id, c->rec.id, sr_strerror(err));
        c->rec.state = STOR_STATE_DAMAGED;
    } else {
        c->rec.state = STOR_STATE_COMPLETE;
        snprintf(c->rec.path, sizeof(c->rec.path), "%s", path);
        if (stat(path, &sb) == 0)
            c->rec.bytes = (uint64_t)sb.st_size;
    }
    if (stor_index_put(m->index, &c->rec) != SR_OK)
        log_error("index: cannot record the end of call %s", c->call_id);
    log_notice("call %s ended: archive %s, %llu packets, %u streams, %llu bytes%s", c->call_id,
               c->rec.id, (unsigned long long)c->counts.packets, c->rec.n_streams,
               (unsigned long long)c->rec.bytes,
               c->counts.packets ? "" : " (no media arrived: the archive says so)");
    if (c->counts.auth_fail || c->counts.replay || c->counts.overload || c->counts.malformed)
        log_warn("call %s: not recorded: %llu auth failures, %llu replays, %llu overload, %llu "
                 "malformed", c->call_id, (unsigned long long)c->counts.auth_fail,
                 (unsigned long long)c->counts.replay, (unsigned long long)c->counts.overload,
                 (unsigned long long)c->counts.malformed);
    free(c);
}

/* ------------------------------------------------------------- packets */

static void record_rtp(struct rd_media *m, struct rd_stream *s, uint8_t *pkt, size_t len,
                       uint64_t arrival_us)
{
    struct rec_rtp rtp;
    struct stor_pkt sp;
    const char *why = NULL;
    enum sr_err err = rec_srtp_unprotect(s->srtp, pkt, &len);

    if (err == SR_EAUTH || err == SR_ENOKEY) {
        m->st.auth_fail++;
        s->call->counts.auth_fail++;
        return;
    }
    if (err == SR_EREPLAY) {
        m->st.replay++;
        s->call->counts.replay++;
        return;
    }
    if (err || rec_rtp_parse(pkt, len, false, &rtp, &why) != SR_OK) {
        m->st.malformed++;
        s->call->counts.malformed++;
        return;
    }
    sp.seq = rtp.seq;
    sp.ext_seq = ext_seq_update(s, rtp.seq);
    sp.ext_ts = ext_ts_update(s, rtp.ts);
    sp.arrival_wall_us = arrival_us;
    sp.flags = rtp.marker ? STOR_PKT_MARKER : 0;
    sp.payload = (const uint8_t *)rtp.payload.p;
    sp.payload_len = rtp.payload.len;
    err = stor_writer_packet(s->call->w, s->stor_idx, &sp);
    if (err) {
        m->st.storage_err++;
        s->call->counts.overload++;
        return;
    }
    m->st.recorded++;
    s->call->counts.packets++;
}

static void record_held(void *arg, uint8_t *pkt, size_t len, uint64_t ts_us, unsigned flags)
{
    struct rd_stream *s = ((void **)arg)[1];
    struct rd_media *m = ((void **)arg)[0];

    if (flags & 1u) {
        m->st.rtcp++; /* SRTCP is counted; archiving it comes with issue 5 */
        return;
    }
    record_rtp(m, s, pkt, len, ts_us);
}

/* Attach s to the call and key that b describes, then drain its held packets. */
static void stream_bind(struct rd_media *m, struct rd_stream *s, struct rd_binding *b)
{
    struct rec_srtp_cfg sc = { 0 };
    struct stor_stream_info si = { 0 };
    const struct sipev_stream *d = &b->desc;
    void *ctx[2] = { m, s };
    enum sr_err err;
    char kid[17];

    sc.ssrc = s->flow.ssrc;
    sc.sender = false;
    sc.n_keys = d->n_keys < REC_SRTP_MAX_KEYS ? d->n_keys : REC_SRTP_MAX_KEYS;
    for (size_t i = 0; i < sc.n_keys; i++) {
        sc.keys[i].suite = (enum rec_suite)d->keys[i].suite;
        memcpy(sc.keys[i].master, d->keys[i].master, d->keys[i].master_len);
        sc.keys[i].master_len = d->keys[i].master_len;
        sc.keys[i].mki = d->keys[i].mki;
        sc.keys[i].mki_len = d->keys[i].mki_len;
    }
    sc.roc = d->roc;
    sc.seq = d->seq;
    sc.have_seq = true;
    err = rec_srtp_create(&s->srtp, &sc);
    sr_wipe(&sc, sizeof(sc));
    sr_key_id(d->keys[0].master, d->keys[0].master_len, kid);
    if (err) {
        log_error("call %s: SRTP session for SSRC %08x (key %s) failed: %s", b->call->call_id,
                  s->flow.ssrc, kid, sr_strerror(err));
        return;
    }
    si.ssrc = s->flow.ssrc;
    si.payload_type = d->payload_type;
    snprintf(si.codec, sizeof(si.codec), "%s", d->codec);
    si.clock_rate = d->clock_rate;
    si.direction = d->direction == SIPEV_DIR_SEND ? STOR_DIR_SEND : STOR_DIR_RECV;
    snprintf(si.label, sizeof(si.label), "%s", d->id);
    err = stor_writer_add_stream(b->call->w, &si, &s->stor_idx);
    if (err) {
        log_error("call %s: cannot add stream %08x to the archive: %s", b->call->call_id,
                  s->flow.ssrc, sr_strerror(err));
        rec_srtp_destroy(s->srtp);
        s->srtp = NULL;
        return;
    }
    s->call = b->call;
    s->highest_ext_seq = ((uint64_t)d->roc << 16) | d->seq;
    s->next = b->call->streams;
    b->call->streams = s;
    b->call->rec.n_streams++;
    log_info("call %s: stream %s SSRC %08x bound to key %s (%s, ROC %u)", b->call->call_id, d->id,
             s->flow.ssrc, kid, d->codec, d->roc);
    rec_held_drain(m->held, &s->held, record_held, ctx);
}

static void unbound_remove(struct rd_media *m, struct rd_stream *s)
{
    for (struct rd_stream **pp = &m->unbound; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            s->next = NULL;
            return;
        }
}

static void on_packet(struct rd_media *m, uint8_t *pkt, size_t len, const struct sockaddr *sa,
                      socklen_t salen, uint64_t arrival_us)
{
    struct rec_rtp rtp;
    struct rec_rtcp rtcp;
    struct rec_flow flow;
    struct rd_stream *s;
    struct rd_binding *b;
    const char *why = NULL;
    bool is_rtcp = rec_pkt_is_rtcp(pkt, len);
    uint32_t ssrc;

    m->st.rx++;
    if (is_rtcp ? rec_rtcp_parse(pkt, len, true, &rtcp, &why) != SR_OK
                : rec_rtp_parse(pkt, len, true, &rtp, &why) != SR_OK) {
        m->st.malformed++;
        log_debug("dropped a malformed packet: %s", why ? why : "?");
        return;
    }
    ssrc = is_rtcp ? rtcp.ssrc : rtp.ssrc;
    if (rec_flow_set(&flow, sa, salen, ssrc) != SR_OK) {
        m->st.malformed++;
        return;
    }
    s = rec_streams_lookup(m->table, &flow);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s || rec_streams_insert(m->table, &flow, s) != SR_OK) {
            free(s);
            m->st.no_stream_slot++;
            return;
        }
        s->flow = flow;
        s->next = m->unbound;
        m->unbound = s;
        b = rec_streams_lookup(m->bind_tab, &(struct rec_flow){ .ssrc = ssrc });
        if (b) {
            unbound_remove(m, s);
            stream_bind(m, s, b);
        }
    }
    if (!s->srtp) {
        if (rec_held_push(m->held, &s->held, pkt, len, arrival_us, is_rtcp ? 1u : 0u) == SR_OK)
            m->st.held++;
        else
            m->st.held_drop++;
        return;
    }
    if (is_rtcp) {
        if (rec_srtp_unprotect_rtcp(s->srtp, pkt, &len) == SR_OK)
            m->st.rtcp++;
        else
            m->st.auth_fail++;
        return;
    }
    record_rtp(m, s, pkt, len, arrival_us);
}

static void on_udp(struct rd_watch *w, uint32_t events)
{
    struct rd_media *m = (struct rd_media *)((char *)w - offsetof(struct rd_media, udp));

    (void)events;
    for (int b = 0; b < BATCHES_PER_EVENT; b++) {
        int n;
        uint64_t now;
        for (int i = 0; i < BATCH; i++) {
            m->iov[i].iov_base = m->bufs[i];
            m->iov[i].iov_len = PKT_CAP;
            memset(&m->msgs[i].msg_hdr, 0, sizeof(m->msgs[i].msg_hdr));
            m->msgs[i].msg_hdr.msg_name = &m->names[i];
            m->msgs[i].msg_hdr.msg_namelen = sizeof(m->names[i]);
            m->msgs[i].msg_hdr.msg_iov = &m->iov[i];
            m->msgs[i].msg_hdr.msg_iovlen = 1;
        }
        n = recvmmsg(w->fd, m->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        now = sr_wall_us();
        for (int i = 0; i < n; i++) {
            if (m->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                m->st.malformed++;
                continue;
            }
            on_packet(m, m->bufs[i], m->msgs[i].msg_len,
                      (const struct sockaddr *)&m->names[i], m->msgs[i].msg_hdr.msg_namelen, now);
        }
        if (n < BATCH)
            return;
    }
}

/* ---------------------------------------------------------- key bodies */

static void apply_stream(struct rd_media *m, struct rd_call *c, const struct sipev_stream *d)
{
    struct rec_flow key = ssrc_key(d->ssrc);
    struct rd_binding *b;
    char kid[17];

    if (!d->ssrc_known || !d->n_keys) {
        log_warn("call %s: stream %s disclosed without an SSRC; trial authentication comes "
                 "with issue 5", c->call_id, d->id);
        return;
    }
    b = rec_streams_lookup(m->bind_tab, &key);
    if (b && b->call == c) {
        /* Already known: a re-key or state change.  Re-keying lands with issue 5. */
        return;
    }
    if (b || c->n_bindings == SR_ARRAY_LEN(c->bindings)) {
        log_warn("call %s: SSRC %08x already bound or too many streams; ignored", c->call_id,
                 d->ssrc);
        return;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        return;
    b->key = key;
    b->call = c;
    b->desc = *d;
    if (rec_streams_insert(m->bind_tab, &key, b) != SR_OK) {
        binding_free(m, b);
        return;
    }
    c->bindings[c->n_bindings++] = b;
    sr_key_id(d->keys[0].master, d->keys[0].master_len, kid);
    log_info("call %s: key %s disclosed for stream %s SSRC %08x", c->call_id, kid, d->id, d->ssrc);
    /* Streams that arrived before their key. */
    for (struct rd_stream **pp = &m->unbound; *pp;) {
        struct rd_stream *s = *pp;
        if (s->flow.ssrc == d->ssrc) {
            *pp = s->next;
            s->next = NULL;
            stream_bind(m, s, b);
            continue;
        }
        pp = &s->next;
    }
}

void rd_media_keybody(const char *peer, const struct sipev_keybody *kb, void *arg)
{
    struct rd_media *m = arg;

    for (size_t i = 0; i < kb->n_dialogs; i++) {
        const struct sipev_dialog *d = &kb->dialogs[i];
        struct rd_call *c = call_find(m, peer, d->call_id);
        if (!c) {
            enum sr_err err;
            if (d->state == SIPEV_DIALOG_ENDED)
                continue;
            err = call_open(m, peer, d, &c);
            if (err) {
                log_error("call %s from %s: cannot open an archive: %s", d->call_id, peer,
                          sr_strerror(err));
                continue;
            }
        }
        for (size_t j = 0; j < d->n_streams; j++)
            apply_stream(m, c, &d->streams[j]);
        if (d->state == SIPEV_DIALOG_ENDED && !c->ended) {
            c->ended = true;
            c->close_at_us = sr_now_us() + m->cfg->call_linger_ms * 1000u;
        }
    }
}

/* -------------------------------------------------------------- set-up */

static int open_udp(const char *listen, int rcvbuf)
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
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

enum sr_err rd_media_create(struct rd_media **out, const struct rd_cfg *cfg, struct rd_loop *loop,
                            struct stor_index *index)
{
    struct rec_held_cfg hc = { 0 };
    struct rd_media *m;
    struct slice cur;
    char list[CONF_STR_MAX];
    enum sr_err err;

    m = calloc(1, sizeof(*m));
    if (!m)
        return SR_ENOMEM;
    m->cfg = cfg;
    m->loop = loop;
    m->index = index;
    m->udp.fd = -1;
    m->udp.on_event = on_udp;
    snprintf(list, sizeof(list), "%s", cfg->archive_recipients);
    cur = slice_cstr(list);
    while (cur.len) {
        struct slice item = slice_trim(slice_split(&cur, ','));
        if (!item.len)
            continue;
        if (m->n_recipients == MAX_RECIPIENTS) {
            err = SR_ELIMIT;
            goto fail;
        }
        slice_copy_cstr(item, m->recipients[m->n_recipients], CONF_STR_MAX);
        m->recipient_ptrs[m->n_recipients] = m->recipients[m->n_recipients];
        m->n_recipients++;
    }
    if (!m->n_recipients) {
        log_error("archive-recipients: at least one certificate is required");
        err = SR_EINVAL;
        goto fail;
    }
    err = rec_streams_create(&m->table, cfg->max_streams);
    if (!err)
        err = rec_streams_create(&m->bind_tab, cfg->max_streams);
    if (err)
        goto fail;
    hc.slots = cfg->max_held_packets ? cfg->max_held_packets : 1;
    hc.slot_size = PKT_CAP;
    hc.per_stream_max = cfg->max_held_per_stream ? cfg->max_held_per_stream : 1;
    if (hc.per_stream_max > hc.slots)
        hc.per_stream_max = hc.slots;
    err = rec_held_create(&m->held, &hc);
    if (err)
        goto fail;
    m->udp.fd = open_udp(cfg->media_listen, (int)cfg->rcvbuf);
    if (m->udp.fd < 0) {
        log_error("media-listen %s: cannot bind: %s", cfg->media_listen, strerror(errno));
        err = SR_EIO;
        goto fail;
    }
    err = rd_loop_add(loop, &m->udp, EPOLLIN);
    if (err)
        goto fail;
    m->next_flush_us = sr_now_us() + cfg->flush_interval_ms * 1000u;
    *out = m;
    return SR_OK;
fail:
    rd_media_destroy(m);
    return err;
}

void rd_media_destroy(struct rd_media *m)
{
    if (!m)
        return;
    while (m->calls) {
        struct rd_call *c = m->calls;
        m->calls = c->next;
        call_close(m, c);
    }
    while (m->unbound) {
        struct rd_stream *s = m->unbound;
        m->unbound = s->next;
        stream_free(m, s);
    }
    if (m->udp.fd >= 0) {
        rd_loop_del(m->loop, &m->udp);
        close(m->udp.fd);
    }
    rec_held_destroy(m->held);
    rec_streams_destroy(m->table);
    rec_streams_destroy(m->bind_tab);
    free(m);
}

uint64_t rd_media_tick(struct rd_media *m, uint64_t now)
{
    uint64_t next = m->next_flush_us;

    if (now >= m->next_flush_us) {
        for (struct rd_call *c = m->calls; c; c = c->next)
            if (stor_writer_flush(c->w) != SR_OK)
                log_error("call %s: archive flush failed", c->call_id);
        m->next_flush_us = now + m->cfg->flush_interval_ms * 1000u;
        next = m->next_flush_us;
    }
    for (struct rd_call **pp = &m->calls; *pp;) {
        struct rd_call *c = *pp;
        if (c->ended && now >= c->close_at_us) {
            *pp = c->next;
            m->n_calls--;
            call_close(m, c);
            continue;
        }
        if (c->ended && c->close_at_us < next)
            next = c->close_at_us;
        pp = &c->next;
    }
    return next;
}

void rd_media_log_stats(const struct rd_media *m)
{
    struct rec_held_stats hs;

    rec_held_stats(m->held, &hs);
    log_notice("media: %llu received, %llu recorded, %llu rtcp, %llu malformed, %llu auth "
               "failures, %llu replays, %llu held (%zu now), %llu not held (pool/stream full), "
               "%llu no stream slot, %llu storage errors, %zu calls open",
               (unsigned long long)m->st.rx, (unsigned long long)m->st.recorded,
               (unsigned long long)m->st.rtcp, (unsigned long long)m->st.malformed,
               (unsigned long long)m->st.auth_fail, (unsigned long long)m->st.replay,
               (unsigned long long)m->st.held, hs.in_use, (unsigned long long)m->st.held_drop,
               (unsigned long long)m->st.no_stream_slot, (unsigned long long)m->st.storage_err,
               m->n_calls);
}
