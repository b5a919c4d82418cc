/** @file media.c  The recorder's media path, one engine per receive thread
 *  (worker.c; docs/recorder.md "Threads and sockets"): UDP receive
 *  (recvmmsg on its socket), demultiplexing by (source, SSRC), binding
 *  streams to disclosed keys (by SSRC, else by trial authentication),
 *  SRTP/SRTCP decryption, re-keys, and writing into each call's shared
 *  archive (archive.c).
 *
 * Nothing is lost silently (docs/recorder.md, "Where every packet goes"):
 * - a packet whose key has not come yet is held; when the key comes it is
 *   decrypted and recorded;
 * - a packet that cannot be held (pool or stream queue full), and every held
 *   packet whose key has not come key-wait-ms after its stream's first
 *   packet, is archived still encrypted (STOR_PKT_ENCRYPTED): in the archive
 *   of the call whose disclosed fork source equals the packet's source, else
 *   in the recorder's "unmatched" archive;
 * - a packet that must be dropped (auth failure, replay, malformed, no stream
 *   slot, storage error, kernel queue overflow) is counted under its reason,
 *   in the call's trailer counts when the call is known, and always in the
 *   metrics file and the operator log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
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
    MAX_PORTS = 8,       /* media-listen addresses */
    TRIAL_EVERY = 25,    /* an unbound stream retries trial authentication every 25 packets
                            (0.5 s of G.711): key derivation per candidate is not free */
    SWEEP_GRACE_MS = 2000, /* a call a full state omits lingers at least this long: the rest
                              of a split full state comes in the next NOTIFYs */
    REKEY_GRACE = 256,   /* packets the old key stays usable after the new one took over
                            (late and reordered packets of the old key) */
};

struct rd_call;

struct rd_binding;

struct rd_stream {
    struct rec_flow flow;
    struct rec_srtp *srtp;     /* NULL until a key is bound */
    struct rec_srtp *alt;      /* during a re-key: the other key's session, or NULL */
    uint32_t alt_left;         /* 0: alt is the new key, not yet seen; else packets until
                                  the old key (now alt) is retired */
    struct rec_held_q held;    /* packets that came before the key */
    struct rd_call *call;      /* bound: its call; unbound: the archive that keeps its
                                  packets encrypted (NULL until one was needed) */
    struct rd_binding *bind;   /* NULL until bound */
    unsigned stor_idx;         /* in call's archive (bound: decrypted; unbound: encrypted) */
    bool rtp_added;            /* bound: stor_idx names its decrypted RTP stream (added on
                                  the first RTP packet, so an RTCP-only flow adds none) */
    bool enc_added;            /* unbound: stor_idx names its encrypted stream in call */
    bool key_wait_over;        /* unbound: key-wait-ms passed; packets go straight to
                                  the archive encrypted */
    bool rtcp_added;
    unsigned rtcp_idx;         /* SRTCP (decrypted) stream in the call's archive */
    uint64_t rtcp_count;
    uint64_t first_us;         /* monotonic time of the first packet */
    uint32_t trial_countdown;
    bool have_seq, have_ts;
    uint64_t highest_ext_seq;
    uint64_t last_ext_ts;
    uint32_t last_ts;
    struct rd_stream *next;    /* in call->streams, or in media->unbound */
};

struct rd_binding {            /* a stream's keys as disclosed by a keyagent */
    struct rec_flow key;       /* addr/port zero, ssrc: bind_tab key (if desc.ssrc_known) */
    bool in_tab;
    struct rd_call *call;
    size_t n_streams;          /* streams bound to it (more than one after SSRC changes) */
    struct sipev_stream desc;  /* includes the keys: wiped on free */
};

struct rd_call {
    char peer[SIPEV_STR];
    char call_id[SIPEV_STR];
    struct rd_arch *arch;      /* shared with the other engines that know the call */
    struct stor_counts counts;
    bool ended;
    bool swept;                /* ended only because a full state omitted it: a later part
                                  of a split full state may list it again (rd_eng_keybody) */
    bool unmatched;            /* the archive of never-keyed packets from unknown sources */
    uint64_t listed_gen;       /* the last key body (kb_gen) that listed it */
    uint64_t close_at_us;
    struct rd_stream *streams;
    struct rd_binding *bindings[SIPEV_MAX_STREAMS];
    size_t n_bindings;
    struct rd_call *next;
};

/* One media socket: media-listen may name several addresses (ports, IPv4
 * and IPv6); each engine has a socket on every one. */
struct rd_sock {
    struct rd_watch w;
    struct rd_eng *eng;
    uint32_t ovfl_last;            /* SO_RXQ_OVFL: this socket's running drop count */
};

struct rd_eng {
    const struct rd_cfg *cfg;
    struct rd_loop *loop;
    struct rd_archives *archives;
    struct rd_sock socks[MAX_PORTS];
    size_t n_socks;
    struct rec_streams *table;     /* (source, SSRC) -> rd_stream */
    struct rec_streams *bind_tab;  /* SSRC -> rd_binding */
    struct rec_held *held;
    struct rd_call *calls;
    size_t n_calls;
    struct rec_calltab *call_tab;  /* (peer, Call-ID) -> call, unmatched ones excepted */
    uint64_t kb_gen;               /* key bodies applied: marks the calls a body lists */
    struct rd_stream *unbound;     /* streams waiting for their key */
    struct rd_call *unmatched;     /* open "unmatched" archive, or NULL */
    bool log_keys;                 /* log what key bodies say (one engine does: they all
                                      apply the same bodies) */
    atomic_bool authorised;        /* some keyagent's subscription is active (set by main) */
    uint64_t next_flush_us, next_metrics_us;
    uint64_t next_close_us;        /* no ended call closes before this (a lower bound):
                                      the tick walks the calls only then, not per wakeup */
    struct rd_eng_stats st;        /* this thread's counters */
    pthread_mutex_t pub_mu;        /* guards pub, the copy other threads read */
    struct rd_eng_stats pub;
    uint8_t bufs[BATCH][PKT_CAP];
    uint8_t scratch[PKT_CAP];      /* copy of a packet tried under two keys */
    union {
        char buf[CMSG_SPACE(sizeof(uint32_t))];
        uint64_t align; /* cmsghdr alignment (size_t) */
    } ctl[BATCH];
    struct sockaddr_storage names[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
};

/* ------------------------------------------------------------- helpers */

static void stats_publish(struct rd_eng *m);

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

static struct rd_call *call_find(struct rd_eng *m, const char *peer, const char *call_id)
{
    return rec_calltab_find(m->call_tab, peer, call_id);
}

static void binding_free(struct rd_eng *m, struct rd_binding *b)
{
    if (!b)
        return;
    if (b->in_tab && rec_streams_lookup(m->bind_tab, &b->key) == b)
        rec_streams_remove(m->bind_tab, &b->key, NULL);
    sr_wipe(&b->desc, sizeof(b->desc));
    free(b);
}

static void stream_free(struct rd_eng *m, struct rd_stream *s)
{
    rec_held_discard(m->held, &s->held); /* callers archive held packets first */
    rec_streams_remove(m->table, &s->flow, NULL);
    rec_srtp_destroy(s->srtp);
    rec_srtp_destroy(s->alt);
    free(s);
}

static enum sr_err call_open(struct rd_eng *m, const char *peer, const struct sipev_dialog *d,
                             bool unmatched, struct rd_call **out)
{
    struct stor_call_info *ci;
    struct rd_call *c;
    enum sr_err err;

    if (m->n_calls >= m->cfg->max_streams / 2)
        return SR_ELIMIT;
    c = calloc(1, sizeof(*c));
    ci = calloc(1, sizeof(*ci)); /* large; not worth a stack frame */
    if (!c || !ci) {
        free(c);
        free(ci);
        return SR_ENOMEM;
    }
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    snprintf(c->call_id, sizeof(c->call_id), "%s", d->call_id);
    snprintf(ci->call_id, sizeof(ci->call_id), "%s", d->call_id);
    snprintf(ci->local_aor, sizeof(ci->local_aor), "%s", d->local_aor);
    snprintf(ci->remote_aor, sizeof(ci->remote_aor), "%s", d->remote_aor);
    snprintf(ci->local_tag, sizeof(ci->local_tag), "%s", d->local_tag);
    snprintf(ci->remote_tag, sizeof(ci->remote_tag), "%s", d->remote_tag);
    snprintf(ci->source, sizeof(ci->source), "%s", peer);
    ci->start_wall_us = d->start_wall_us ? d->start_wall_us : sr_wall_us();
    /* Every engine applies the same key bodies: the first to see the call
     * opens its archive, the others share it. */
    err = rd_arch_get(m->archives, peer, ci, unmatched, &c->arch);
    free(ci);
    if (err) {
        free(c);
        return err;
    }
    c->unmatched = unmatched;
    if (!unmatched && (err = rec_calltab_insert(m->call_tab, c->peer, c->call_id, c)) != SR_OK) {
        struct stor_counts none = { 0 };
        rd_arch_release(m->archives, c->arch, &none);
        free(c);
        return err;
    }
    c->next = m->calls;
    m->calls = c;
    m->n_calls++;
    *out = c;
    return SR_OK;
}

/* The archive of packets whose key never came and whose source matches no
 * disclosed fork source: opened on first need, sealed when idle for
 * call-linger-ms + key-wait-ms, or at shutdown. */
static struct rd_call *unmatched_get(struct rd_eng *m)
{
    struct sipev_dialog *d;
    struct rd_call *c = m->unmatched;

    if (c)
        return c;
    d = calloc(1, sizeof(*d)); /* large; not worth a stack frame on the packet path */
    if (!d)
        return NULL;
    snprintf(d->call_id, sizeof(d->call_id), "unmatched-%llu",
             (unsigned long long)(sr_wall_us() / 1000000u));
    snprintf(d->local_aor, sizeof(d->local_aor), "unknown");
    snprintf(d->remote_aor, sizeof(d->remote_aor), "unknown");
    if (call_open(m, "unmatched", d, true, &c) != SR_OK)
        c = NULL;
    free(d);
    if (!c)
        return NULL;
    c->ended = true; /* closes when idle; every packet pushes close_at_us on */
    m->next_close_us = 0; /* its close_at_us is 0 until a packet lands in it */
    m->unmatched = c;
    return c;
}

static void call_close(struct rd_eng *m, struct rd_call *c)
{
    while (c->streams) {
        struct rd_stream *s = c->streams;
        c->streams = s->next;
        stream_free(m, s);
    }
    for (size_t i = 0; i < c->n_bindings; i++)
        binding_free(m, c->bindings[i]);
    /* Unbound streams that kept packets encrypted here find a new home. */
    for (struct rd_stream *s = m->unbound; s; s = s->next)
        if (s->call == c) {
            s->call = NULL;
            s->enc_added = false;
        }
    if (m->unmatched == c)
        m->unmatched = NULL;
    if (!c->unmatched)
        rec_calltab_remove(m->call_tab, c->peer, c->call_id);
    rd_arch_release(m->archives, c->arch, &c->counts); /* the last engine's seals it */
    free(c);
}

/* ------------------------------------------------------------- packets */

/* "a.b.c.d:port" or "[v6]:port", the form key bodies use for fork addresses. */
static void flow_addr_str(const struct rec_flow *f, char *out, size_t cap)
{
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    char ip[INET6_ADDRSTRLEN];

    if (memcmp(f->addr, v4mapped, sizeof(v4mapped)) == 0) {
        inet_ntop(AF_INET, f->addr + 12, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, f->port);
    } else {
        inet_ntop(AF_INET6, f->addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%u", ip, f->port);
    }
}

/* Which archive keeps an unbound stream's packets encrypted: the open call
 * whose disclosed fork source is this stream's source, else "unmatched". */
static struct rd_call *enc_home(struct rd_eng *m, struct rd_stream *s, uint8_t pt)
{
    struct stor_stream_info si = { 0 };
    char src[SIPEV_STR];
    enum sr_err err;

    if (!s->call) {
        flow_addr_str(&s->flow, src, sizeof(src));
        for (struct rd_call *c = m->calls; c && !s->call; c = c->next)
            for (size_t i = 0; !c->unmatched && i < c->n_bindings; i++)
                if (strcmp(c->bindings[i]->desc.src, src) == 0) {
                    s->call = c;
                    break;
                }
        /* A recorder that no keyagent authorises keeps nobody's media,
         * not even encrypted (the caller counts the packet). */
        if (!s->call && atomic_load_explicit(&m->authorised, memory_order_relaxed))
            s->call = unmatched_get(m);
        if (!s->call)
            return NULL;
    }
    if (!s->enc_added) {
        si.ssrc = s->flow.ssrc;
        si.payload_type = pt & 0x7f;
        snprintf(si.codec, sizeof(si.codec), "SRTP");
        si.clock_rate = 8000; /* unknown: the payload type is all the header says */
        si.direction = STOR_DIR_RECV;
        flow_addr_str(&s->flow, si.label, sizeof(si.label));
        err = rd_arch_add_stream(s->call->arch, &si, &s->stor_idx);
        if (err == SR_ELIMIT && s->call->unmatched) {
            /* A storm of unknown sources filled it: the next one starts a
             * new unmatched archive; this one seals once idle. */
            log_warn("unmatched archive %s is full (%s): opening another", s->call->call_id,
                     sr_strerror(err));
            rd_arch_retire(m->archives, s->call->arch);
            if (m->unmatched == s->call)
                m->unmatched = NULL;
            s->call = unmatched_get(m);
            err = s->call ? rd_arch_add_stream(s->call->arch, &si, &s->stor_idx) : SR_ENOMEM;
        }
        if (err != SR_OK)
            return NULL;
        s->enc_added = true;
    }
    return s->call;
}

/* Keep a packet whose key has not come, as received. */
static void record_encrypted(struct rd_eng *m, struct rd_stream *s, const uint8_t *pkt,
                             size_t len, uint64_t arrival_us, bool is_rtcp)
{
    struct rec_rtp rtp;
    struct stor_pkt sp = { 0 };
    struct rd_call *c;
    bool rtp_ok = !is_rtcp && rec_rtp_parse(pkt, len, true, &rtp, NULL) == SR_OK;

    c = enc_home(m, s, rtp_ok ? rtp.pt : 0);
    if (!c) {
        if (atomic_load_explicit(&m->authorised, memory_order_relaxed))
            m->st.storage_err++;
        else
            m->st.unauthorised++;
        return;
    }
    if (rtp_ok) {
        sp.seq = rtp.seq;
        sp.ext_seq = ext_seq_update(s, rtp.seq);
        sp.ext_ts = ext_ts_update(s, rtp.ts);
    } else {
        sp.ext_seq = s->highest_ext_seq;
        sp.ext_ts = s->last_ext_ts;
    }
    sp.arrival_wall_us = arrival_us;
    sp.flags = STOR_PKT_ENCRYPTED;
    sp.payload = pkt;
    sp.payload_len = len;
    if (rd_arch_packet(c->arch, s->stor_idx, &sp, RD_PKT_ENCRYPTED) != SR_OK) {
        m->st.storage_err++;
        c->counts.overload++;
        return;
    }
    m->st.encrypted_kept++;
    c->counts.encrypted_kept++;
    if (c->unmatched) {
        c->close_at_us = sr_now_us() + (m->cfg->call_linger_ms + m->cfg->key_wait_ms) * 1000u;
        if (c->close_at_us < m->next_close_us)
            m->next_close_us = c->close_at_us;
    }
}

static void record_held_encrypted(void *arg, uint8_t *pkt, size_t len, uint64_t ts_us,
                                  unsigned flags)
{
    struct rd_stream *s = ((void **)arg)[1];
    struct rd_eng *m = ((void **)arg)[0];

    record_encrypted(m, s, pkt, len, ts_us, flags & 1u);
}

/* Unprotect with the current session; during a re-key, try the other key
 * too (on a copy: a failed GCM try may leave garbage in the buffer). */
static enum sr_err unprotect_any(struct rd_eng *m, struct rd_stream *s, uint8_t *pkt,
                                 size_t *len, bool rtcp)
{
    size_t len0 = *len;
    enum sr_err err, err2;

    if (s->alt)
        memcpy(m->scratch, pkt, len0 <= PKT_CAP ? len0 : PKT_CAP);
    err = rtcp ? rec_srtp_unprotect_rtcp(s->srtp, pkt, len) : rec_srtp_unprotect(s->srtp, pkt, len);
    if (!s->alt)
        return err;
    if (err == SR_OK) {
        if (s->alt_left && --s->alt_left == 0) {
            rec_srtp_destroy(s->alt); /* the old key's grace is over */
            s->alt = NULL;
        }
        return SR_OK;
    }
    /* A replay under the old key may be the new key's restarted SRTCP index. */
    if (err != SR_EAUTH && err != SR_ENOKEY && err != SR_EREPLAY)
        return err;
    memcpy(pkt, m->scratch, len0);
    *len = len0;
    err2 = rtcp ? rec_srtp_unprotect_rtcp(s->alt, pkt, len) : rec_srtp_unprotect(s->alt, pkt, len);
    if (err2 != SR_OK)
        return err;
    if (s->alt_left == 0) {
        /* The new key's first packet: it becomes current; the old key
         * stays for REKEY_GRACE packets for late ones. */
        struct rec_srtp *t = s->srtp;
        s->srtp = s->alt;
        s->alt = t;
        s->alt_left = REKEY_GRACE;
        log_info("call %s: SSRC %08x switched to its new key", s->call->call_id, s->flow.ssrc);
    }
    return SR_OK;
}

static void count_crypto_err(struct rd_eng *m, struct rd_stream *s, enum sr_err err)
{
    if (err == SR_EAUTH || err == SR_ENOKEY) {
        m->st.auth_fail++;
        s->call->counts.auth_fail++;
    } else if (err == SR_EREPLAY) {
        m->st.replay++;
        s->call->counts.replay++;
    } else {
        m->st.malformed++;
        s->call->counts.malformed++;
    }
}

static void record_rtp(struct rd_eng *m, struct rd_stream *s, uint8_t *pkt, size_t len,
                       uint64_t arrival_us)
{
    struct rec_rtp rtp;
    struct stor_pkt sp;
    const char *why = NULL;
    enum sr_err err = unprotect_any(m, s, pkt, &len, false);

    if (err) {
        count_crypto_err(m, s, err);
        return;
    }
    if (rec_rtp_parse(pkt, len, false, &rtp, &why) != SR_OK) {
        m->st.malformed++;
        s->call->counts.malformed++;
        return;
    }
    if (!s->rtp_added) {
        const struct sipev_stream *d = &s->bind->desc;
        struct stor_stream_info si = { 0 };
        si.ssrc = s->flow.ssrc;
        si.payload_type = d->payload_type;
        snprintf(si.codec, sizeof(si.codec), "%s", d->codec);
        si.clock_rate = d->clock_rate;
        si.direction = d->direction == SIPEV_DIR_SEND ? STOR_DIR_SEND : STOR_DIR_RECV;
        snprintf(si.label, sizeof(si.label), "%s", d->id);
        if (rd_arch_add_stream(s->call->arch, &si, &s->stor_idx) != SR_OK) {
            m->st.storage_err++;
            s->call->counts.overload++;
            return;
        }
        s->rtp_added = true;
    }
    sp.seq = rtp.seq;
    sp.ext_seq = ext_seq_update(s, rtp.seq);
    sp.ext_ts = ext_ts_update(s, rtp.ts);
    sp.arrival_wall_us = arrival_us;
    sp.flags = rtp.marker ? STOR_PKT_MARKER : 0;
    sp.payload = (const uint8_t *)rtp.payload.p;
    sp.payload_len = rtp.payload.len;
    err = rd_arch_packet(s->call->arch, s->stor_idx, &sp, RD_PKT_RTP);
    if (err) {
        m->st.storage_err++;
        s->call->counts.overload++;
        return;
    }
    m->st.recorded++;
    s->call->counts.packets++;
}

/* SRTCP is decrypted and kept whole in a logical stream of its own
 * ("rtcp", label "<stream id>/rtcp"): its sender reports map RTP time to
 * wall-clock time.  Exports of audio skip it (not a codec they know). */
static void record_rtcp(struct rd_eng *m, struct rd_stream *s, uint8_t *pkt, size_t len,
                        uint64_t arrival_us)
{
    struct stor_pkt sp = { 0 };
    enum sr_err err = unprotect_any(m, s, pkt, &len, true);

    if (err) {
        count_crypto_err(m, s, err);
        return;
    }
    if (!s->rtcp_added) {
        struct stor_stream_info si = { 0 };
        si.ssrc = s->flow.ssrc;
        snprintf(si.codec, sizeof(si.codec), "rtcp");
        si.clock_rate = s->bind->desc.clock_rate ? s->bind->desc.clock_rate : 8000;
        si.direction = s->bind->desc.direction == SIPEV_DIR_SEND ? STOR_DIR_SEND : STOR_DIR_RECV;
        snprintf(si.label, sizeof(si.label), "%.58s/rtcp", s->bind->desc.id);
        if (rd_arch_add_stream(s->call->arch, &si, &s->rtcp_idx) != SR_OK) {
            m->st.storage_err++;
            s->call->counts.overload++;
            return;
        }
        s->rtcp_added = true;
    }
    sp.seq = (uint16_t)s->rtcp_count;
    sp.ext_seq = s->rtcp_count++;
    sp.ext_ts = s->last_ext_ts;
    sp.arrival_wall_us = arrival_us;
    sp.payload = pkt;
    sp.payload_len = len;
    if (rd_arch_packet(s->call->arch, s->rtcp_idx, &sp, RD_PKT_RTCP) != SR_OK) {
        m->st.storage_err++;
        s->call->counts.overload++;
        return;
    }
    m->st.rtcp++;
}

static void record_held(void *arg, uint8_t *pkt, size_t len, uint64_t ts_us, unsigned flags)
{
    struct rd_stream *s = ((void **)arg)[1];
    struct rd_eng *m = ((void **)arg)[0];

    if (flags & 1u)
        record_rtcp(m, s, pkt, len, ts_us);
    else
        record_rtp(m, s, pkt, len, ts_us);
}

/* The session parameters of binding b for SSRC ssrc.  fresh: a new SSRC of
 * a stream already bound (hold/unhold, re-INVITE): its ROC starts at 0 and
 * its sequence is unknown, so the disclosed position does not apply. */
static void binding_cfg(const struct rd_binding *b, uint32_t ssrc, bool fresh,
                        struct rec_srtp_cfg *sc)
{
    const struct sipev_stream *d = &b->desc;

    memset(sc, 0, sizeof(*sc));
    sc->ssrc = ssrc;
    sc->n_keys = d->n_keys < REC_SRTP_MAX_KEYS ? d->n_keys : REC_SRTP_MAX_KEYS;
    for (size_t i = 0; i < sc->n_keys; i++) {
        sc->keys[i].suite = (enum rec_suite)d->keys[i].suite;
        memcpy(sc->keys[i].master, d->keys[i].master, d->keys[i].master_len);
        sc->keys[i].master_len = d->keys[i].master_len;
        sc->keys[i].mki = d->keys[i].mki;
        sc->keys[i].mki_len = d->keys[i].mki_len;
    }
    sc->roc = fresh ? 0 : d->roc;
    sc->seq = d->seq;
    sc->have_seq = !fresh;
}

static void unbound_remove(struct rd_eng *m, struct rd_stream *s)
{
    for (struct rd_stream **pp = &m->unbound; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            s->next = NULL;
            return;
        }
}

/* Attach unbound s to the call and key that b describes, then drain its
 * held packets.  On failure s stays unbound (and on m->unbound). */
static void stream_bind(struct rd_eng *m, struct rd_stream *s, struct rd_binding *b, bool fresh)
{
    struct rec_srtp_cfg sc;
    const struct sipev_stream *d = &b->desc;
    struct rec_srtp *srtp = NULL;
    void *ctx[2] = { m, s };
    enum sr_err err;
    char kid[17];

    binding_cfg(b, s->flow.ssrc, fresh, &sc);
    err = rec_srtp_create(&srtp, &sc);
    sr_wipe(&sc, sizeof(sc));
    sr_key_id(d->keys[0].master, d->keys[0].master_len, kid);
    if (err) {
        log_error("call %s: SRTP session for SSRC %08x (key %s) failed: %s", b->call->call_id,
                  s->flow.ssrc, kid, sr_strerror(err));
        return;
    }
    unbound_remove(m, s);
    s->srtp = srtp;
    s->rtp_added = false;
    s->enc_added = false;
    s->call = b->call;
    s->bind = b;
    b->n_streams++;
    s->have_ts = false;
    s->highest_ext_seq = fresh ? 0 : ((uint64_t)d->roc << 16) | d->seq;
    s->next = b->call->streams;
    b->call->streams = s;
    log_info("call %s: stream %s SSRC %08x bound to key %s (%s, ROC %u)", b->call->call_id, d->id,
             s->flow.ssrc, kid, d->codec, fresh ? 0u : d->roc);
    rec_held_drain(m->held, &s->held, record_held, ctx);
}

struct trial_set {
    struct rd_binding *b[REC_SRTP_MAX_TRIAL];
    bool fresh[REC_SRTP_MAX_TRIAL];
    size_t n;
};

/* 0: unrelated; 1: o is s's RTP/RTCP sibling (same address and SSRC,
 * ports one apart: RTCP without rtcp-mux); 2: same source, another SSRC. */
static int source_relation(const struct rec_flow *o, const struct rec_flow *s)
{
    unsigned d = o->port > s->port ? o->port - s->port : s->port - o->port;

    if (memcmp(o->addr, s->addr, sizeof(o->addr)) != 0)
        return 0;
    if (o->ssrc == s->ssrc && d == 1)
        return 1;
    return d == 0 ? 2 : 0;
}

/* Candidate keys for stream s, whose SSRC no disclosure names: (a) streams
 * disclosed without an SSRC that no packet has been bound to yet, (b) the
 * keys of streams already bound that came from the same source (address and
 * port): an SSRC change of the same stream; or from the neighbouring port
 * with the same SSRC: the RTP (or RTCP) half of a stream whose other half
 * was bound first.  Keyagents do not tell which
 * source addresses are theirs unless they disclose fork sources, so (a)
 * spans every keyagent's open calls; at most REC_SRTP_MAX_TRIAL. */
static void trial_collect(struct rd_eng *m, const struct rd_stream *s, struct trial_set *ts)
{
    ts->n = 0;
    for (struct rd_call *c = m->calls; c && ts->n < REC_SRTP_MAX_TRIAL; c = c->next) {
        if (c->unmatched)
            continue;
        for (size_t i = 0; i < c->n_bindings && ts->n < REC_SRTP_MAX_TRIAL; i++) {
            struct rd_binding *b = c->bindings[i];
            if (!b->desc.ssrc_known && b->n_streams == 0) {
                ts->b[ts->n] = b;
                ts->fresh[ts->n++] = false;
            }
        }
        for (struct rd_stream *o = c->streams; o && ts->n < REC_SRTP_MAX_TRIAL; o = o->next) {
            int rel = o->bind ? source_relation(&o->flow, &s->flow) : 0;
            bool dup = false;
            for (size_t k = 0; k < ts->n; k++)
                dup = dup || ts->b[k] == o->bind;
            if (rel && !dup) {
                ts->b[ts->n] = o->bind;
                ts->fresh[ts->n++] = rel == 2;
            }
        }
    }
}

/* Trial-authenticate pkt (not modified) against ts; bind s on success. */
static bool trial_bind(struct rd_eng *m, struct rd_stream *s, struct trial_set *ts,
                       const uint8_t *pkt, size_t len, bool is_rtcp)
{
    struct rec_srtp_cfg cands[REC_SRTP_MAX_TRIAL];
    uint8_t copy[PKT_CAP];
    size_t which = 0, l = len;
    enum sr_err err;

    if (!ts->n || len > sizeof(copy))
        return false;
    for (size_t i = 0; i < ts->n; i++)
        binding_cfg(ts->b[i], s->flow.ssrc, ts->fresh[i], &cands[i]);
    memcpy(copy, pkt, len);
    err = rec_srtp_trial(cands, ts->n, copy, &l, is_rtcp, &which, NULL);
    sr_wipe(cands, sizeof(cands));
    sr_wipe(copy, sizeof(copy));
    if (err != SR_OK)
        return false;
    m->st.trial_bound++;
    if (ts->fresh[which]) {
        m->st.ssrc_changes++;
        log_info("call %s: SSRC %08x from the source of stream %s: a new SSRC of that stream",
                 ts->b[which]->call->call_id, s->flow.ssrc, ts->b[which]->desc.id);
    }
    stream_bind(m, s, ts->b[which], ts->fresh[which]);
    return s->srtp != NULL;
}

static void on_packet(struct rd_eng *m, uint8_t *pkt, size_t len, const struct sockaddr *sa,
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
    if (!s && is_rtcp && flow.port > 0) {
        /* RTCP without rtcp-mux comes from the RTP port + 1 (RFC 3550
         * 11): it belongs to that stream, not to a stream of its own. */
        struct rec_flow rtp_flow = flow;
        struct rd_stream *o;
        rtp_flow.port--;
        o = rec_streams_lookup(m->table, &rtp_flow);
        if (o && o->srtp) {
            record_rtcp(m, o, pkt, len, arrival_us);
            return;
        }
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s || rec_streams_insert(m->table, &flow, s) != SR_OK) {
            free(s);
            m->st.no_stream_slot++;
            return;
        }
        s->flow = flow;
        s->first_us = sr_now_us();
        s->next = m->unbound;
        m->unbound = s;
        b = rec_streams_lookup(m->bind_tab, &(struct rec_flow){ .ssrc = ssrc });
        if (b)
            stream_bind(m, s, b, false);
    }
    if (!s->srtp) {
        if (s->trial_countdown == 0) {
            struct trial_set ts;
            s->trial_countdown = TRIAL_EVERY;
            trial_collect(m, s, &ts);
            trial_bind(m, s, &ts, pkt, len, is_rtcp);
        } else {
            s->trial_countdown--;
        }
    }
    if (!s->srtp) {
        if (s->key_wait_over) {
            record_encrypted(m, s, pkt, len, arrival_us, is_rtcp);
        } else if (rec_held_push(m->held, &s->held, pkt, len, arrival_us, is_rtcp ? 1u : 0u) ==
                   SR_OK) {
            m->st.held++;
        } else {
            m->st.held_full++; /* not dropped: kept as received */
            record_encrypted(m, s, pkt, len, arrival_us, is_rtcp);
        }
        return;
    }
    if (is_rtcp)
        record_rtcp(m, s, pkt, len, arrival_us);
    else
        record_rtp(m, s, pkt, len, arrival_us);
}

static void on_udp(struct rd_watch *w, uint32_t events)
{
    struct rd_sock *sk = (struct rd_sock *)((char *)w - offsetof(struct rd_sock, w));
    struct rd_eng *m = sk->eng;

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
            m->msgs[i].msg_hdr.msg_control = m->ctl[i].buf;
            m->msgs[i].msg_hdr.msg_controllen = sizeof(m->ctl[i].buf);
        }
        n = recvmmsg(w->fd, m->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;
        now = sr_wall_us();
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &m->msgs[i].msg_hdr;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
                    cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
                    uint32_t v;
                    memcpy(&v, CMSG_DATA(cm), sizeof(v));
                    /* A running count of datagrams the kernel dropped on this
                     * socket's full queue: add what is new since last seen. */
                    m->st.kernel_drops += (uint32_t)(v - sk->ovfl_last);
                    sk->ovfl_last = v;
                }
            if (mh->msg_flags & MSG_TRUNC) {
                m->st.malformed++;
                continue;
            }
            on_packet(m, m->bufs[i], m->msgs[i].msg_len, (const struct sockaddr *)&m->names[i],
                      mh->msg_namelen, now);
        }
        if (n < BATCH)
            break;
    }
    stats_publish(m);
}

/* ---------------------------------------------------------- key bodies */

static bool keys_equal(const struct sipev_stream *a, const struct sipev_stream *b)
{
    if (a->n_keys != b->n_keys)
        return false;
    for (size_t i = 0; i < a->n_keys; i++)
        if (a->keys[i].suite != b->keys[i].suite || a->keys[i].master_len != b->keys[i].master_len ||
            a->keys[i].mki != b->keys[i].mki || a->keys[i].mki_len != b->keys[i].mki_len ||
            !sr_ct_equal(a->keys[i].master, b->keys[i].master, a->keys[i].master_len))
            return false;
    return true;
}

/* New keys for a stream already disclosed.  Each stream bound to b gets a
 * second session with the new keys, positioned where the stream is now; the
 * first packet the new session authenticates makes it current, and the old
 * one stays for REKEY_GRACE packets (late, reordered ones): no gap.  With
 * MKIs the new key list usually holds the old key too, and the new session
 * serves both. */
static void binding_rekey(struct rd_eng *m, struct rd_binding *b, const struct sipev_stream *d)
{
    char kid[17];

    sr_wipe(b->desc.keys, sizeof(b->desc.keys));
    memcpy(b->desc.keys, d->keys, sizeof(d->keys));
    b->desc.n_keys = d->n_keys;
    m->st.rekeys++;
    sr_key_id(d->keys[0].master, d->keys[0].master_len, kid);
    if (m->log_keys)
        log_info("call %s: stream %s re-keyed to key %s", b->call->call_id, d->id, kid);
    for (struct rd_stream *s = b->call->streams; s; s = s->next) {
        struct rec_srtp_cfg sc;
        struct rec_srtp *n = NULL;
        if (s->bind != b || !s->srtp)
            continue;
        binding_cfg(b, s->flow.ssrc, false, &sc);
        if (s->highest_ext_seq) {
            sc.roc = (uint32_t)(s->highest_ext_seq >> 16);
            sc.seq = (uint16_t)s->highest_ext_seq;
        }
        if (rec_srtp_create(&n, &sc) != SR_OK) {
            log_error("call %s: SSRC %08x: session for the new key failed", b->call->call_id,
                      s->flow.ssrc);
        } else {
            rec_srtp_destroy(s->alt);
            s->alt = n;
            s->alt_left = 0;
        }
        sr_wipe(&sc, sizeof(sc));
    }
}

static struct rd_binding *binding_by_id(struct rd_call *c, const char *id)
{
    for (size_t i = 0; i < c->n_bindings; i++)
        if (strcmp(c->bindings[i]->desc.id, id) == 0)
            return c->bindings[i];
    return NULL;
}

static void bind_waiting_ssrc(struct rd_eng *m, struct rd_binding *b)
{
    for (struct rd_stream *s = m->unbound, *nx; s; s = nx) {
        nx = s->next;
        if (s->flow.ssrc == b->desc.ssrc)
            stream_bind(m, s, b, false);
    }
}

static bool binding_tab_add(struct rd_eng *m, struct rd_binding *b)
{
    b->key = ssrc_key(b->desc.ssrc);
    if (rec_streams_lookup(m->bind_tab, &b->key) ||
        rec_streams_insert(m->bind_tab, &b->key, b) != SR_OK) {
        if (m->log_keys)
            log_warn("call %s: SSRC %08x is already bound to another stream; stream %s waits for "
                     "trial authentication", b->call->call_id, b->desc.ssrc, b->desc.id);
        return false;
    }
    b->in_tab = true;
    return true;
}

static void apply_stream(struct rd_eng *m, struct rd_call *c, const struct sipev_stream *d)
{
    struct rd_binding *b;
    char kid[17];

    if (!d->n_keys)
        return;
    b = binding_by_id(c, d->id);
    if (b) {
        if (!keys_equal(&b->desc, d))
            binding_rekey(m, b, d);
        if (d->ssrc_known && !b->desc.ssrc_known) {
            b->desc.ssrc_known = true;
            b->desc.ssrc = d->ssrc;
            if (binding_tab_add(m, b))
                bind_waiting_ssrc(m, b);
        }
        b->desc.state = d->state;
        return;
    }
    if (c->n_bindings == SR_ARRAY_LEN(c->bindings)) {
        if (m->log_keys)
            log_warn("call %s: more than %zu streams; stream %s ignored", c->call_id,
                     SR_ARRAY_LEN(c->bindings), d->id);
        return;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        return;
    b->call = c;
    b->desc = *d;
    c->bindings[c->n_bindings++] = b;
    sr_key_id(d->keys[0].master, d->keys[0].master_len, kid);
    if (d->ssrc_known) {
        if (m->log_keys)
            log_info("call %s: key %s disclosed for stream %s SSRC %08x", c->call_id, kid, d->id,
                     d->ssrc);
        if (binding_tab_add(m, b))
            bind_waiting_ssrc(m, b);
        return;
    }
    if (m->log_keys)
        log_info("call %s: key %s disclosed for stream %s without an SSRC: trial authentication",
                 c->call_id, kid, d->id);
    /* Streams that arrived before this key: try the oldest held packet of
     * each now, and let the next packet of every unbound stream try. */
    for (struct rd_stream *s = m->unbound, *nx; s; s = nx) {
        struct trial_set ts = { .n = 1 };
        const uint8_t *p;
        size_t l;
        unsigned fl;
        nx = s->next;
        s->trial_countdown = 0;
        if (b->n_streams || rec_held_peek(m->held, &s->held, &p, &l, &fl) != SR_OK)
            continue;
        ts.b[0] = b;
        ts.fresh[0] = false;
        trial_bind(m, s, &ts, p, l, fl & 1u);
    }
}

static void call_end_after(struct rd_eng *m, struct rd_call *c, uint64_t linger_ms)
{
    if (c->ended)
        return;
    c->ended = true;
    c->close_at_us = sr_now_us() + linger_ms * 1000u;
    if (c->close_at_us < m->next_close_us)
        m->next_close_us = c->close_at_us;
}

static void call_end(struct rd_eng *m, struct rd_call *c)
{
    call_end_after(m, c, m->cfg->call_linger_ms);
}

void rd_eng_keybody(struct rd_eng *m, const char *peer, const struct sipev_keybody *kb)
{

    /* A full state lists every call the keyagent still has (RFC 4235
     * semantics): a call of ours it omits has ended, e.g. while NOTIFYs were
     * coalesced or the keyagent restarted.  Without this the archive would
     * stay open until shutdown.  But a full state too large for one message
     * is split, and its later parts are partial bodies with the next
     * versions: a call they list exists after all (applying the parts in
     * order gives the full state).  So the omitted call lingers (at least
     * SWEEP_GRACE_MS) and is revived if a later body lists it. */
    m->kb_gen++;
    if (kb->full) {
        for (size_t i = 0; i < kb->n_dialogs; i++) {
            struct rd_call *c = call_find(m, peer, kb->dialogs[i].call_id);
            if (c)
                c->listed_gen = m->kb_gen;
        }
        for (struct rd_call *c = m->calls; c; c = c->next)
            if (!c->unmatched && !c->ended && c->listed_gen != m->kb_gen &&
                strcmp(c->peer, peer) == 0) {
                if (m->log_keys)
                    log_info("call %s: absent from %s's full state: ends unless listed again",
                             c->call_id, peer);
                call_end_after(m, c, m->cfg->call_linger_ms > SWEEP_GRACE_MS
                                         ? m->cfg->call_linger_ms : SWEEP_GRACE_MS);
                c->swept = true;
            }
    }
    for (size_t i = 0; i < kb->n_dialogs; i++) {
        const struct sipev_dialog *d = &kb->dialogs[i];
        struct rd_call *c = call_find(m, peer, d->call_id);
        if (!c) {
            enum sr_err err;
            if (d->state == SIPEV_DIALOG_ENDED)
                continue;
            err = call_open(m, peer, d, false, &c);
            if (err) {
                log_error("call %s from %s: cannot open an archive: %s", d->call_id, peer,
                          sr_strerror(err));
                continue;
            }
        } else if (c->swept && d->state != SIPEV_DIALOG_ENDED) {
            if (m->log_keys)
                log_info("call %s: listed again by %s (split full state): goes on", d->call_id,
                         peer);
            c->ended = false;
            c->swept = false;
        }
        for (size_t j = 0; j < d->n_streams; j++)
            apply_stream(m, c, &d->streams[j]);
        if (d->state == SIPEV_DIALOG_ENDED)
            call_end(m, c);
    }
}

/* ------------------------------------------------------------- metrics */

/* Copy the counters where other threads read them: after each receive
 * burst and tick, not per packet (a lock per packet for a metrics file). */
static void stats_publish(struct rd_eng *m)
{
    struct rec_held_stats hs;

    rec_held_stats(m->held, &hs);
    m->st.streams = rec_streams_count(m->table);
    m->st.held_now = hs.in_use;
    m->st.held_slots = hs.slots;
    pthread_mutex_lock(&m->pub_mu);
    m->pub = m->st;
    pthread_mutex_unlock(&m->pub_mu);
}

void rd_eng_stats(struct rd_eng *m, struct rd_eng_stats *out)
{
    pthread_mutex_lock(&m->pub_mu);
    *out = m->pub;
    pthread_mutex_unlock(&m->pub_mu);
}

/* -------------------------------------------------------------- set-up */

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

enum sr_err rd_eng_create(struct rd_eng **out, const struct rd_eng_cfg *ec)
{
    const struct rd_cfg *cfg = ec->cfg;
    struct rec_held_cfg hc = { 0 };
    struct rd_eng *m;
    enum sr_err err;

    m = calloc(1, sizeof(*m));
    if (!m)
        return SR_ENOMEM;
    pthread_mutex_init(&m->pub_mu, NULL);
    m->cfg = cfg;
    m->loop = ec->loop;
    m->archives = ec->archives;
    m->log_keys = ec->log_keys;
    atomic_init(&m->authorised, false);
    err = rec_streams_create(&m->table, cfg->max_streams);
    if (!err)
        err = rec_streams_create(&m->bind_tab, cfg->max_streams);
    if (!err)
        err = rec_calltab_create(&m->call_tab, cfg->max_streams / 2);
    if (err)
        goto fail;
    hc.slots = ec->max_held_packets ? ec->max_held_packets : 1;
    hc.slot_size = PKT_CAP;
    hc.per_stream_max = cfg->max_held_per_stream ? cfg->max_held_per_stream : 1;
    if (hc.per_stream_max > hc.slots)
        hc.per_stream_max = hc.slots;
    err = rec_held_create(&m->held, &hc);
    if (err)
        goto fail;
    err = open_socks(m, cfg->media_listen, ec->reuseport);
    if (err)
        goto fail;
    m->next_flush_us = sr_now_us() + cfg->flush_interval_ms * 1000u;
    m->next_close_us = UINT64_MAX;
    stats_publish(m);
    *out = m;
    return SR_OK;
fail:
    rd_eng_destroy(m, NULL);
    return err;
}

/* Archive the held packets of s encrypted: its key did not come in time. */
static void unbound_give_up(struct rd_eng *m, struct rd_stream *s)
{
    void *ctx[2] = { m, s };
    char src[SIPEV_STR];

    s->key_wait_over = true;
    if (!s->held.count)
        return;
    flow_addr_str(&s->flow, src, sizeof(src));
    log_warn("SSRC %08x from %s: no key after %lu ms; %u packets kept encrypted", s->flow.ssrc,
             src, m->cfg->key_wait_ms, s->held.count);
    rec_held_drain(m->held, &s->held, record_held_encrypted, ctx);
}

void rd_eng_destroy(struct rd_eng *m, struct rd_eng_stats *final)
{
    if (!m)
        return;
    for (struct rd_stream *s = m->unbound; s; s = s->next)
        unbound_give_up(m, s);
    while (m->unbound) {
        struct rd_stream *s = m->unbound;
        m->unbound = s->next;
        stream_free(m, s);
    }
    while (m->calls) {
        struct rd_call *c = m->calls;
        m->calls = c->next;
        call_close(m, c);
    }
    for (size_t i = 0; i < m->n_socks; i++) {
        rd_loop_del(m->loop, &m->socks[i].w);
        close(m->socks[i].w.fd);
    }
    if (final) {
        const uint64_t *src = (const uint64_t *)&m->st;
        uint64_t *dst = (uint64_t *)final;
        /* Counters only: gauges of a stopped engine are zero. */
        for (size_t k = 0; k < offsetof(struct rd_eng_stats, streams) / sizeof(uint64_t); k++)
            dst[k] += src[k];
    }
    rec_held_destroy(m->held);
    rec_streams_destroy(m->table);
    rec_calltab_destroy(m->call_tab);
    rec_streams_destroy(m->bind_tab);
    pthread_mutex_destroy(&m->pub_mu);
    free(m);
}

/* Key-wait and linger timers; archives are flushed by main (worker.c). */
uint64_t rd_eng_tick(struct rd_eng *m, uint64_t now)
{
    uint64_t next = m->next_flush_us, wait_us = m->cfg->key_wait_ms * 1000u;

    if (now >= m->next_flush_us) {
        m->next_flush_us = now + m->cfg->flush_interval_ms * 1000u;
        next = m->next_flush_us;
        /* Streams whose key did not come within key-wait-ms (checked at the
         * flush cadence: a scan of the unbound list, not per packet). */
        for (struct rd_stream *s = m->unbound; s; s = s->next)
            if (!s->key_wait_over && now >= s->first_us + wait_us)
                unbound_give_up(m, s);
    }
    /* Walking thousands of calls on every loop wakeup cost more than a
     * packet's decryption: walk them only when some call may be due. */
    if (now >= m->next_close_us) {
        m->next_close_us = UINT64_MAX;
        for (struct rd_call **pp = &m->calls; *pp;) {
            struct rd_call *c = *pp;
            if (c->ended && now >= c->close_at_us) {
                *pp = c->next;
                m->n_calls--;
                call_close(m, c);
                continue;
            }
            if (c->ended && c->close_at_us < m->next_close_us)
                m->next_close_us = c->close_at_us;
            pp = &c->next;
        }
    }
    if (m->next_close_us < next)
        next = m->next_close_us;
    stats_publish(m);
    return next;
}

void rd_eng_set_authorised(struct rd_eng *m, bool authorised)
{
    atomic_store_explicit(&m->authorised, authorised, memory_order_relaxed);
}
