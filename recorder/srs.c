/** @file srs.c  The SIPREC Session Recording Server (RFC 7866) inside
 *  srtprec-recorder: recording clients (SBCs, media servers) connect over
 *  mutual TLS and send INVITEs whose body offers one m= line per recorded
 *  stream (SDES-SRTP keys in a=crypto) plus RFC 7865 metadata.  Each session
 *  gets its own media ports; its keys go to the engine as one more key
 *  source (the client's certificate identity), each stream scoped to the
 *  port it was given (engine.h: fork destination), so a session's keys
 *  never bind another session's packets.
 *
 * LAB ONLY, with lab-allow-plain-tcp: plain TCP, and UDP on
 * siprec-listen-udp (sipev_udp: retransmitted requests are answered from
 * its cache, our BYE and UPDATE retransmitted on Timer E); neither has a
 * client identity, so the allow list does not apply and keys cross in clear.
 *
 * Runs on main's loop; every object here belongs to that thread.  Bounded:
 * connections, sessions, streams per session and media ports are fixed
 * tables sized at start.  docs/siprec.md is the profile: what is accepted,
 * refused, and why.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authz.h"
#include "daemon_priv.h"
#include "log.h"
#include "prom.h"
#include "siprec.h"
#include "stor.h"
#include "util.h"

enum {
    MAX_CONNS = 256,
    HANDSHAKE_US = 10u * 1000000u,
    ORPHAN_US = 32u * 1000000u,   /* a session whose connection closed: 64*T1 to come back */
    OUT_MAX = 128 * 1024,
    BYE_MARGIN_S = 32,            /* RFC 4028 10: BYE at expiry - min(32, SE/3) */
};

struct rd_srs;

struct srs_conn {
    struct rd_watch w;
    struct rd_srs *s;
    struct sipev_conn *sc;     /* NULL for a UDP peer */
    bool udp;                  /* a UDP peer (lab only): no connection, no identity */
    struct sipev_addr peer;    /* udp: where its messages come from and go */
    bool dead;
    bool want_out;
    uint64_t accepted_us;
};

/* Both are 16: a session's m= lines are one dialog's streams. */
enum { SRS_MAX_MEDIA = 16 };
_Static_assert((int)SRS_MAX_MEDIA <= (int)SIPREC_SDP_MAX_MEDIA &&
                   (int)SRS_MAX_MEDIA <= (int)SIPEV_MAX_STREAMS,
               "a session's m= lines must fit the SDP parser and one key-body dialog");

/* One m= line of a session as last offered. */
struct srs_stream {
    char id[SIPREC_SDP_LABEL];     /* the engine's stream id: the first a=label of the m=
                                      line, else "m<index>"; kept when a re-offer relabels
                                      it, so its keys stay one stream's (re-key, not a new one) */
    char label[SIPREC_SDP_LABEL];  /* the current a=label (metadata lookups) */
    char media[16];
    unsigned pt, clock_rate;
    char codec[32];
    bool inactive;                 /* a=inactive (hold) */
    bool plain;                    /* RTP/AVP(F): recorded as received, no keys */
    struct sipev_key keys[SIPEV_MAX_KEYS]; /* the picked a=crypto's (wiped with the session) */
    size_t n_keys;
    unsigned port;                 /* RTP port; RTCP on port + 1; 0: disabled */
    uint64_t sock[2];              /* media socket ids (rd_media_add_sock); 0: none */
};

struct srs_timer {
    unsigned se_s;                 /* 0: no session timer */
    bool we_refresh;               /* refresher=uas */
    uint64_t refresh_at, expire_at;
};

struct srs_session {
    bool used;
    char call_id[SIPEV_STR];
    char from_tag[128], to_tag[40];
    char from_uri[SIPEV_STR], to_uri[SIPEV_STR], contact[SIPEV_STR];
    char peer[SIPEV_STR];          /* the recording client's identity (key source) */
    struct srs_conn *conn;         /* NULL after its connection closed */
    uint32_t remote_cseq, local_cseq;
    uint32_t invite_cseq;          /* the INVITE (or re-INVITE) CANCEL may name */
    struct srs_stream st[SRS_MAX_MEDIA];
    size_t n_st;
    unsigned sdp_version;
    uint64_t start_wall_us;
    uint64_t sdp_id;
    struct siprec_md *md;          /* metadata model (RFC 7865), NULL until some came */
    struct srs_timer tm;           /* RFC 4028 */
    uint64_t orphan_at;            /* connection closed: ends then unless a request comes */
};

struct rd_srs {
    struct rd_srs_cfg c;
    struct ka_authz allow;
    struct rd_watch listen;
    struct sipev_udp *udp;         /* siprec-listen-udp (lab only), or NULL */
    struct rd_watch udp_watch;
    char udp_addr[NI_MAXHOST + NI_MAXSERV + 4];
    char via_host[NI_MAXHOST + NI_MAXSERV + 4];
    char contact[NI_MAXHOST + NI_MAXSERV + 40]; /* our Contact URI */
    struct srs_conn *conns[MAX_CONNS];
    size_t n_conns;
    struct srs_session *sess;      /* max_sessions */
    size_t n_sess;
    uint8_t *port_used;            /* one byte per RTP/RTCP pair of the range */
    size_t n_pairs, port_next;
    struct buf out, sdp_out;
    struct siprec_body body;       /* scratch: the request's parts */
    struct siprec_sdp *sdp;        /* scratch: the offer (holds keys: wiped after use) */
    struct siprec_md *md;          /* scratch: a metadata document before its merge */
    struct rd_srs_stats st;
};

/* ------------------------------------------------------------ helpers */

static uint64_t now_of(const struct rd_srs *s)
{
    return s->c.now_us ? s->c.now_us(s->c.now_arg) : sr_now_us();
}

/* A header by name, also its compact form (NULL if none). */
static const struct sipev_hdr *hdr_named(const struct sipev_msg *m, const char *name,
                                         const char *compact)
{
    for (size_t i = 0; i < m->n_hdr; i++)
        if (slice_eq_nocase(m->hdr[i].name, slice_cstr(name)) ||
            (compact && slice_eq_nocase(m->hdr[i].name, slice_cstr(compact))))
            return &m->hdr[i];
    return NULL;
}

/* Does any header of id (or named) list option tag opt? */
static bool lists_option(const struct sipev_msg *m, enum sipev_hdr_id id, const char *opt)
{
    for (size_t i = 0; i < m->n_hdr; i++) {
        struct slice v;
        if (m->hdr[i].id != id)
            continue;
        v = m->hdr[i].value;
        while (v.len) {
            struct slice t = slice_trim(slice_split(&v, ','));
            if (slice_eq_nocase(t, slice_cstr(opt)))
                return true;
        }
    }
    return false;
}

/* RFC 3261 25.1 token: what an option tag may be. */
static bool is_token(struct slice t)
{
    if (!t.len)
        return false;
    for (size_t i = 0; i < t.len; i++) {
        char ch = t.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("-.!%*_+`'~", ch)))
            return false;
    }
    return true;
}

static bool option_known(struct slice t)
{
    return slice_eq_nocase(t, SLICE_LIT("siprec")) || slice_eq_nocase(t, SLICE_LIT("timer"));
}

/* Require's option tags we do not support, comma-separated into out ("" if none). */
static void unknown_required(const struct sipev_msg *m, char *out, size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < m->n_hdr; i++) {
        struct slice v;
        if (m->hdr[i].id != SIPEV_HDR_REQUIRE)
            continue;
        v = m->hdr[i].value;
        while (v.len) {
            struct slice t = slice_trim(slice_split(&v, ','));
            int n;
            if (!t.len || option_known(t) || !is_token(t))
                continue;
            n = snprintf(out + used, cap - used, "%s%.*s", used ? ", " : "", (int)t.len, t.p);
            if (n < 0 || (size_t)n >= cap - used)
                return;
            used += (size_t)n;
        }
    }
}

static bool to_tag_of(const struct sipev_msg *m, struct slice *tag)
{
    const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);

    return to && sipev_param(to->value, "tag", tag) && tag->len;
}

static void copy_slice(struct slice v, char *out, size_t cap)
{
    if (!slice_copy_cstr(v, out, cap))
        out[0] = '\0';
}

/* ------------------------------------------------------------ sending */

/* The client's verified identity; "" for plain TCP and UDP (lab only). */
static const char *conn_peer(const struct srs_conn *c)
{
    return c->udp ? "" : sipev_conn_peer(c->sc);
}

/* The key source a session of this connection is recorded under. */
static const char *conn_source(const struct srs_conn *c)
{
    return conn_peer(c)[0] ? conn_peer(c) : c->udp ? "lab:udp" : "lab:plain-tcp";
}

static void conn_events(struct srs_conn *c)
{
    bool want;

    if (c->dead || c->udp)
        return;
    want = sipev_conn_want_write(c->sc);
    if (want == c->want_out)
        return;
    c->want_out = want;
    rd_loop_mod(c->s->c.loop, &c->w, EPOLLIN | (want ? EPOLLOUT : 0u));
}

static void conn_send_out(struct srs_conn *c)
{
    enum sr_err err;

    if (!c || c->dead)
        return;
    if (c->udp) {
        /* A response answers the request's server transaction (and is
         * resent from its cache); a request of ours starts a client one. */
        bool resp = c->s->out.len > 8 && memcmp(c->s->out.p, "SIP/2.0 ", 8) == 0;
        uint64_t now = now_of(c->s);
        err = resp ? sipev_udp_send_response(c->s->udp, &c->peer, c->s->out.p, c->s->out.len, now)
                   : sipev_udp_send_request(c->s->udp, &c->peer, c->s->out.p, c->s->out.len, now);
        if (err)
            log_warn("SIPREC over UDP: cannot send a %s: %s", resp ? "response" : "request",
                     sr_strerror(err));
        return;
    }
    err = sipev_conn_send(c->sc, c->s->out.p, c->s->out.len);
    if (err) {
        log_warn("SIPREC connection from %s: cannot queue a message: %s", conn_peer(c),
                 sr_strerror(err));
        c->dead = true;
    }
}

/* A response with optional Warning (RFC 3261 20.43: 399, our agent name, a
 * quoted reason) and extra headers, no body. */
static void respond(struct srs_conn *c, const struct sipev_msg *req, unsigned status,
                    const char *reason, const char *to_tag, const char *warning,
                    const struct sipev_extra_hdr *extra, size_t n_extra)
{
    struct sipev_extra_hdr hdrs[8];
    char warn[512];
    size_t n = 0;

    for (size_t i = 0; i < n_extra && n < SR_ARRAY_LEN(hdrs) - 1; i++)
        hdrs[n++] = extra[i];
    if (warning) {
        snprintf(warn, sizeof(warn), "399 srtprec \"%s\"", warning);
        hdrs[n++] = (struct sipev_extra_hdr){ "Warning", warn };
    }
    buf_reset(&c->s->out);
    if (sipev_resp_print(&c->s->out, req, status, reason, to_tag, hdrs, n, NULL, NULL, 0) !=
        SR_OK) {
        log_warn("SIPREC: cannot print a %u response", status);
        return;
    }
    conn_send_out(c);
}

static void refuse(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m,
                   unsigned status, const char *reason, const char *why,
                   const struct sipev_extra_hdr *extra, size_t n_extra)
{
    struct slice cid = { 0 };
    const struct sipev_hdr *h = sipev_msg_hdr(m, SIPEV_HDR_CALL_ID);

    if (h)
        cid = h->value;
    s->st.refused[status >= 400 && status < 500 ? 0 : 1]++;
    if (status == 403)
        s->st.forbidden++;
    else if (status == 488)
        s->st.not_acceptable++;
    else if (status == 400)
        s->st.bad_request++;
    log_notice("SIPREC %.*s from %s (Call-ID %.*s): %u %s: %s", (int)m->method.len, m->method.p,
               conn_peer(c)[0] ? conn_peer(c) : c->udp ? "(UDP, lab)" : "(unverified)",
               (int)cid.len, cid.p, status, reason, why ? why : "");
    respond(c, m, status, reason, NULL, why, extra, n_extra);
}

/* ------------------------------------------------------- media ports */

static int udp_bind(const char *host, unsigned port, unsigned long rcvbuf)
{
    struct addrinfo hints = { 0 }, *ai = NULL;
    char ps[8];
    int fd = -1, rb = (int)rcvbuf;

    snprintf(ps, sizeof(ps), "%u", port);
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return -1;
    fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static void ports_free(struct rd_srs *s, struct srs_stream *t)
{
    for (int k = 0; k < 2; k++)
        if (t->sock[k]) {
            rd_media_del_sock(s->c.media, t->sock[k]);
            t->sock[k] = 0;
        }
    if (t->port) {
        size_t pair = (t->port - s->c.cfg->siprec_port_lo) / 2;
        if (pair < s->n_pairs)
            s->port_used[pair] = 0;
        t->port = 0;
    }
}

/* An RTP/RTCP port pair of the range, both bound, handed to an engine.  A
 * port some other process holds (or a socket a worker has not closed yet)
 * is skipped.  spread picks the worker. */
static enum sr_err ports_alloc(struct rd_srs *s, struct srs_stream *t, size_t spread)
{
    const struct rd_cfg *cfg = s->c.cfg;

    for (size_t tries = 0; tries < s->n_pairs; tries++) {
        size_t pair = s->port_next;
        unsigned port = (unsigned)(cfg->siprec_port_lo + 2 * pair);
        int fd[2];

        s->port_next = (s->port_next + 1) % s->n_pairs;
        if (s->port_used[pair])
            continue;
        fd[0] = udp_bind(cfg->siprec_media_address, port, cfg->rcvbuf);
        fd[1] = fd[0] >= 0 ? udp_bind(cfg->siprec_media_address, port + 1, cfg->rcvbuf) : -1;
        if (fd[1] < 0) {
            if (fd[0] >= 0)
                close(fd[0]);
            continue;
        }
        s->port_used[pair] = 1;
        t->port = port;
        for (int k = 0; k < 2; k++)
            if (rd_media_add_sock(s->c.media, fd[k], spread, &t->sock[k]) != SR_OK) {
                t->sock[k] = 0;
                ports_free(s, t);
                return SR_EIO;
            }
        return SR_OK;
    }
    return SR_ELIMIT;
}

/* ------------------------------------------------------------- keys */

/* The AOR of the participant that sends the stream labelled label (RFC
 * 7865: stream by label, its sender through participantstreamassoc); NULL
 * if the metadata does not say. */
static const char *sender_aor(const struct srs_session *ss, const char *label)
{
    const struct siprec_md_stream *st;
    const struct siprec_md_participant *p;

    if (!ss->md || !label[0] || !(st = siprec_md_stream_by_label(ss->md, label)) ||
        !(p = siprec_md_stream_sender(ss->md, st->id)) || !p->n_nameid)
        return NULL;
    return p->nameid[0].aor;
}

/* The session as a key body: one dialog, one stream per recorded m= line,
 * each scoped to its RTP port (the fork destination).  The dialog's parties
 * are the senders of its first two streams (or the first two participants),
 * so the index row names who was recorded. */
static void session_keys(struct rd_srs *s, struct srs_session *ss, bool ended)
{
    const char *addr = s->c.cfg->siprec_media_address;
    const char *party[2] = { NULL, NULL };
    struct sipev_keybody kb;
    struct sipev_dialog *d;
    size_t np = 0;

    sipev_keybody_init(&kb);
    kb.full = false; /* one session's state: the others go on */
    if (sipev_keybody_add_dialog(&kb, &d) != SR_OK) {
        sipev_keybody_fini(&kb);
        return;
    }
    for (size_t i = 0; i < ss->n_st && np < 2; i++) {
        const char *a = sender_aor(ss, ss->st[i].label);
        if (a && (!np || strcmp(a, party[0]) != 0))
            party[np++] = a;
    }
    for (size_t i = 0; ss->md && np < 2 && i < ss->md->n_participant; i++)
        if (ss->md->participant[i].n_nameid &&
            (!np || strcmp(ss->md->participant[i].nameid[0].aor, party[0]) != 0))
            party[np++] = ss->md->participant[i].nameid[0].aor;
    snprintf(d->call_id, sizeof(d->call_id), "%s", ss->call_id);
    snprintf(d->local_tag, sizeof(d->local_tag), "%s", ss->to_tag);
    snprintf(d->remote_tag, sizeof(d->remote_tag), "%s", ss->from_tag);
    snprintf(d->local_aor, sizeof(d->local_aor), "%s", party[0] ? party[0] : ss->from_uri);
    snprintf(d->remote_aor, sizeof(d->remote_aor), "%s", party[1] ? party[1] : "");
    d->start_wall_us = ss->start_wall_us;
    d->state = ended ? SIPEV_DIALOG_ENDED : SIPEV_DIALOG_ACTIVE;
    /* An ended session is told without keys (as a keyagent tells an ended call). */
    for (size_t i = 0; !ended && i < ss->n_st && d->n_streams < SIPEV_MAX_STREAMS; i++) {
        const struct srs_stream *t = &ss->st[i];
        struct sipev_stream *o;
        if (!t->port || (!t->n_keys && !t->plain))
            continue;
        const char *sender = sender_aor(ss, t->label);
        o = &d->streams[d->n_streams++];
        snprintf(o->id, sizeof(o->id), "%s", t->id);
        /* From the first party's view (the dialog's local AOR): what it
         * sends is "send", the rest "recv" (the export's two channels).
         * Without metadata: alternate by m= line. */
        if (sender)
            o->direction = party[0] && strcmp(sender, party[0]) == 0 ? SIPEV_DIR_SEND
                                                                      : SIPEV_DIR_RECV;
        else
            o->direction = i % 2 ? SIPEV_DIR_RECV : SIPEV_DIR_SEND;
        snprintf(o->media, sizeof(o->media), "%s", t->media);
        o->payload_type = t->pt;
        snprintf(o->codec, sizeof(o->codec), "%s", t->codec);
        o->clock_rate = t->clock_rate;
        snprintf(o->dst, sizeof(o->dst), strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, t->port);
        memcpy(o->keys, t->keys, sizeof(o->keys));
        o->n_keys = t->n_keys;
        o->plain = t->plain;
        o->state = t->inactive ? SIPEV_STREAM_PAUSED : SIPEV_STREAM_ACTIVE;
    }
    s->c.on_keybody(ss->peer, &kb, s->c.arg);
    sipev_keybody_fini(&kb); /* wipes the keys' copy */
}

/* ---------------------------------------------------------- sessions */

static struct srs_session *session_find(struct rd_srs *s, struct slice call_id)
{
    for (size_t i = 0; i < s->c.cfg->siprec_max_sessions; i++)
        if (s->sess[i].used && slice_eq(slice_cstr(s->sess[i].call_id), call_id))
            return &s->sess[i];
    return NULL;
}

static void session_free(struct rd_srs *s, struct srs_session *ss)
{
    for (size_t i = 0; i < SRS_MAX_MEDIA; i++)
        ports_free(s, &ss->st[i]);
    siprec_md_destroy(ss->md);
    sr_wipe(ss, sizeof(*ss));
    s->n_sess--;
}

static void session_end(struct rd_srs *s, struct srs_session *ss, const char *why)
{
    session_keys(s, ss, true);
    log_notice("SIPREC session %s from %s ended: %s", ss->call_id, ss->peer, why);
    session_free(s, ss);
    s->st.ended++;
}

/* Codec of an m= line: its first format's rtpmap, else the static RTP/AVP
 * payload types a recording carries (RFC 3551 table 4). */
static void codec_of(const struct siprec_sdp_media *m, struct srs_stream *t)
{
    static const struct { unsigned pt; const char *name; unsigned rate; } statics[] = {
        { 0, "PCMU", 8000 }, { 8, "PCMA", 8000 }, { 9, "G722", 8000 }, { 18, "G729", 8000 },
    };

    t->pt = m->n_fmt ? m->fmt[0] : 0;
    t->codec[0] = '\0';
    t->clock_rate = 8000;
    for (size_t k = 0; k < m->n_rtpmap; k++)
        if (m->rtpmap[k].pt == t->pt) {
            snprintf(t->codec, sizeof(t->codec), "%s", m->rtpmap[k].codec);
            t->clock_rate = m->rtpmap[k].clock_rate;
            return;
        }
    for (size_t k = 0; k < SR_ARRAY_LEN(statics); k++)
        if (statics[k].pt == t->pt) {
            snprintf(t->codec, sizeof(t->codec), "%s", statics[k].name);
            t->clock_rate = statics[k].rate;
        }
}

/* Apply the offer in s->sdp to ss: m= lines kept (same index) take new
 * keys, labels and hold; new ones get ports; lines now disabled give theirs
 * back.  Lines srtprec does not record (RTP/AVP, non-RTP) are answered
 * with port 0 (RFC 3264 6: that stream is rejected, the session goes on). */
static enum sr_err session_apply(struct rd_srs *s, struct srs_session *ss, size_t spread,
                                 const char **why)
{
    const struct siprec_sdp *o = s->sdp;
    size_t n = o->n_media < SRS_MAX_MEDIA ? o->n_media : SRS_MAX_MEDIA;

    if (o->n_media > SRS_MAX_MEDIA) {
        *why = "more m= lines than a recording session may have (16)";
        return SR_ELIMIT;
    }
    if (n < ss->n_st) {
        *why = "the offer has fewer m= lines than the session (RFC 3264 8: disable with port 0)";
        return SR_EPARSE;
    }
    for (size_t i = 0; i < n; i++) {
        const struct siprec_sdp_media *m = &o->media[i];
        struct srs_stream *t = &ss->st[i];
        int pick = siprec_sdp_crypto_pick(m);
        bool plain = m->proto == SIPREC_PROTO_RTP_AVP || m->proto == SIPREC_PROTO_RTP_AVPF;
        /* A line that changes between RTP/AVP and RTP/SAVP is a new stream
         * on new ports: the engine never turns a keyed stream plain. */
        bool kind_changed = t->port && t->plain != plain;
        char id[SIPREC_SDP_LABEL];

        if (m->label[0])
            snprintf(id, sizeof(id), "%s", m->label);
        else
            snprintf(id, sizeof(id), "m%zu", i);
        if (t->port && strcmp(t->label, m->label) != 0)
            log_info("SIPREC session %s: stream %s relabelled %s -> %s", ss->call_id, t->id,
                     t->label, m->label);
        sr_wipe(t->keys, sizeof(t->keys));
        t->n_keys = 0;
        if (m->port && plain && !s->c.cfg->siprec_plain_rtp)
            log_notice("SIPREC session %s: m= line %zu is plain RTP: rejected (port 0, "
                       "siprec-plain-rtp = no)", ss->call_id, i);
        if (kind_changed)
            ports_free(s, t);
        if (!m->port || (plain ? !s->c.cfg->siprec_plain_rtp : pick < 0)) {
            ports_free(s, t);
            continue;
        }
        t->plain = plain;
        if (kind_changed)
            snprintf(t->id, sizeof(t->id), "%.50s.%u", id, ss->sdp_version + 1);
        else if (!t->port)
            snprintf(t->id, sizeof(t->id), "%s", id);
        snprintf(t->label, sizeof(t->label), "%s", m->label);
        snprintf(t->media, sizeof(t->media), "%s", m->media);
        codec_of(m, t);
        t->inactive = m->dir == SIPREC_DIR_INACTIVE;
        for (size_t k = 0; !plain && k < m->crypto[pick].n_keys && k < SIPEV_MAX_KEYS; k++) {
            const struct srtpkey_key *src = &m->crypto[pick].keys[k];
            struct sipev_key *dst = &t->keys[k];
            dst->suite = (enum sipev_suite)m->crypto[pick].suite;
            memcpy(dst->master, src->master, src->master_len);
            dst->master_len = src->master_len;
            dst->lifetime = src->lifetime;
            dst->mki = src->mki;
            dst->mki_len = src->mki_len;
            t->n_keys++;
        }
        if (!t->port) {
            enum sr_err err = ports_alloc(s, t, spread);
            if (err) {
                *why = err == SR_ELIMIT ? "no media ports free (siprec-media-ports)"
                                        : "media socket failed";
                return err;
            }
        }
    }
    ss->n_st = n;
    return SR_OK;
}

/* The metadata document in s->body (if any) merged into ss's model;
 * false with *why when it does not parse or merge (the session is unchanged). */
static bool metadata_take(struct rd_srs *s, struct srs_session *ss, const char **why,
                          unsigned *status)
{
    enum siprec_err e;

    if (!s->body.meta.len)
        return true;
    if (!ss->md && !(ss->md = siprec_md_create())) {
        *why = "out of memory";
        *status = 500;
        return false;
    }
    e = siprec_md_parse(s->body.meta.p, s->body.meta.len, s->md, why);
    if (e == SIPREC_OK)
        e = siprec_md_merge(ss->md, s->md, why);
    siprec_md_clear(s->md);
    if (e == SIPREC_OK)
        return true;
    *status = siprec_err_status(e);
    return false;
}

/* The request's metadata document, as sent, to the archive (after
 * session_keys: the call's archive is opened from that key body). */
static void metadata_archive(struct rd_srs *s, const struct srs_session *ss)
{
    struct stor_party pt[STOR_MAX_PARTIES];
    size_t n = 0;

    if (!s->body.meta.len || !s->c.on_metadata)
        return;
    /* Every participant of the merged model, each of its nameIDs: the
     * index finds the call by any of them, not only the two the key body
     * names (session_keys). */
    for (size_t i = 0; ss->md && i < ss->md->n_participant; i++) {
        const struct siprec_md_participant *p = &ss->md->participant[i];
        for (size_t k = 0; k < p->n_nameid && n < STOR_MAX_PARTIES; k++) {
            if (!p->nameid[k].aor[0])
                continue;
            memset(&pt[n], 0, sizeof(pt[n]));
            snprintf(pt[n].aor, sizeof(pt[n].aor), "%s", p->nameid[k].aor);
            snprintf(pt[n].name, sizeof(pt[n].name), "%s", p->nameid[k].name);
            snprintf(pt[n].role, sizeof(pt[n].role), "participant");
            n++;
        }
    }
    s->c.on_metadata(ss->peer, ss->call_id, (const uint8_t *)s->body.meta.p, s->body.meta.len,
                     sr_wall_us(), pt, n, s->c.arg);
}

static void answer_send(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m,
                        struct srs_session *ss, bool with_sdp)
{
    struct siprec_answer_cfg ac = { 0 };
    struct sipev_extra_hdr h[6];
    char se[64];
    size_t n = 0;
    enum siprec_err e = SIPREC_OK;

    buf_reset(&s->sdp_out);
    if (with_sdp) {
        ac.addr = s->c.cfg->siprec_media_address;
        ac.ipv6 = strchr(ac.addr, ':') != NULL;
        ac.sess_id = ss->sdp_id;
        ac.sess_version = ++ss->sdp_version;
        ac.rtcp_mux = true;
        for (size_t i = 0; i < ss->n_st; i++)
            ac.port[i] = ss->st[i].port;
        e = siprec_sdp_answer_print(s->sdp, &ac, &s->sdp_out, NULL);
    }
    h[n++] = (struct sipev_extra_hdr){ "Contact", s->contact };
    h[n++] = (struct sipev_extra_hdr){ "Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE" };
    h[n++] = (struct sipev_extra_hdr){ "Supported", "siprec, timer" };
    if (ss->tm.se_s) {
        snprintf(se, sizeof(se), "%u;refresher=%s", ss->tm.se_s, ss->tm.we_refresh ? "uas" : "uac");
        h[n++] = (struct sipev_extra_hdr){ "Session-Expires", se };
        if (!ss->tm.we_refresh)
            h[n++] = (struct sipev_extra_hdr){ "Require", "timer" };
    }
    buf_reset(&s->out);
    if (e != SIPREC_OK ||
        sipev_resp_print(&s->out, m, 200, "OK", ss->to_tag, h, n,
                         with_sdp ? "application/sdp" : NULL, (const char *)s->sdp_out.p,
                         s->sdp_out.len) != SR_OK) {
        log_warn("SIPREC session %s: cannot print the answer: %s", ss->call_id,
                 siprec_strerror(e));
        respond(c, m, 500, "Server Internal Error", ss->to_tag, "cannot write the answer", NULL,
                0);
        return;
    }
    conn_send_out(c);
}

/* The request's body into s->body and (when it has SDP) s->sdp; false:
 * answered (4xx).  need_sdp: an INVITE that opens a session. */
static bool body_take(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m,
                      bool need_sdp)
{
    const struct sipev_hdr *ct = sipev_msg_hdr(m, SIPEV_HDR_CONTENT_TYPE);
    const char *why = NULL;
    enum siprec_err e;

    memset(&s->body, 0, sizeof(s->body));
    e = siprec_body_parse(ct ? ct->value : slice_cstr(""), m->body, &s->body);
    if (e == SIPREC_OK && need_sdp && !s->body.sdp.len) {
        /* Not supported, by decision (docs/siprec.md, "Offerless INVITEs"):
         * 488, since the request is well formed but its negotiation is not
         * one the recorder takes. */
        refuse(s, c, m, 488, "Not Acceptable Here",
               "offerless INVITE not supported: put the recording SDP offer (one m= line per "
               "recorded stream) in the INVITE", NULL, 0);
        return false;
    }
    if (e == SIPREC_OK && s->body.sdp.len)
        e = siprec_sdp_parse(s->body.sdp, s->sdp, &why);
    if (e == SIPREC_OK)
        return true;
    {
        unsigned st = siprec_err_status(e);
        struct sipev_extra_hdr h = { "Accept", "application/sdp, multipart/mixed, "
                                               "application/rs-metadata+xml, "
                                               "application/rs-metadata" };
        char w[256];
        snprintf(w, sizeof(w), "%s%s%s", siprec_strerror(e), why && strcmp(why, siprec_strerror(e)) ? ": " : "",
                 why && strcmp(why, siprec_strerror(e)) ? why : "");
        for (char *q = w; *q; q++)
            if (*q == '"' || *q == '\\')
                *q = '\'';
        refuse(s, c, m, st,
               st == 415   ? "Unsupported Media Type"
               : st == 488 ? "Not Acceptable Here"
               : st == 413 ? "Request Entity Too Large"
               : st == 500 ? "Server Internal Error"
                           : "Bad Request",
               w, st == 415 ? &h : NULL, st == 415 ? 1 : 0);
    }
    siprec_sdp_wipe(s->sdp);
    return false;
}

/* RFC 4028: the timer a request's Session-Expires / Min-SE asks for, into
 * *tm (committed by the caller once the request succeeds).  false:
 * answered 422. */
static bool timer_negotiate(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m,
                            struct srs_timer *tm, uint64_t now)
{
    const struct sipev_hdr *se = hdr_named(m, "Session-Expires", "x");
    struct slice v, refresher;
    uint64_t secs;
    unsigned min_se = (unsigned)s->c.cfg->siprec_min_se;

    memset(tm, 0, sizeof(*tm));
    if (!se)
        return true; /* no timer (a refresh without one turns it off, RFC 4028 9) */
    v = sipev_value_token(se->value);
    if (!slice_to_u64(slice_trim(v), 86400, &secs) || secs == 0)
        secs = s->c.cfg->siprec_session_expires;
    if (secs < min_se) {
        char min[16];
        struct sipev_extra_hdr h = { "Min-SE", min };
        snprintf(min, sizeof(min), "%u", min_se);
        refuse(s, c, m, 422, "Session Interval Too Small", "Session-Expires below our Min-SE",
               &h, 1);
        return false;
    }
    tm->se_s = (unsigned)secs;
    /* The client refreshes when it supports timers and did not ask us to;
     * otherwise we do (RFC 4028 7.2, 9). */
    tm->we_refresh = !lists_option(m, SIPEV_HDR_SUPPORTED, "timer") &&
                             !lists_option(m, SIPEV_HDR_REQUIRE, "timer")
                         ? true
                         : sipev_param(se->value, "refresher", &refresher) &&
                               slice_eq_nocase(refresher, SLICE_LIT("uas"));
    tm->expire_at = now + (uint64_t)tm->se_s * 1000000u;
    tm->refresh_at = tm->we_refresh ? now + (uint64_t)tm->se_s * 500000u : UINT64_MAX;
    return true;
}

/* Option tags and the +sip.src feature tag; false: answered. */
static bool invite_checks(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m)
{
    char unknown[256];
    const struct sipev_hdr *contact = sipev_msg_hdr(m, SIPEV_HDR_CONTACT);
    struct slice v;

    unknown_required(m, unknown, sizeof(unknown));
    if (unknown[0]) {
        struct sipev_extra_hdr h = { "Unsupported", unknown };
        refuse(s, c, m, 420, "Bad Extension", "Require lists an option tag we do not support",
               &h, 1);
        return false;
    }
    if (!lists_option(m, SIPEV_HDR_REQUIRE, "siprec")) {
        struct sipev_extra_hdr h = { "Require", "siprec" };
        refuse(s, c, m, 421, "Extension Required",
               "this is a recording server: Require: siprec (RFC 7866 6.1.1)", &h, 1);
        return false;
    }
    if (!contact || !sipev_param(contact->value, "+sip.src", &v)) {
        refuse(s, c, m, 400, "Bad Request",
               "Contact lacks the +sip.src feature tag (RFC 7866 6.1.1)", NULL, 0);
        return false;
    }
    return true;
}

static void on_invite_new(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m,
                          uint64_t now)
{
    const struct sipev_hdr *from = sipev_msg_hdr(m, SIPEV_HDR_FROM),
                           *to = sipev_msg_hdr(m, SIPEV_HDR_TO),
                           *cid = sipev_msg_hdr(m, SIPEV_HDR_CALL_ID),
                           *cseq = sipev_msg_hdr(m, SIPEV_HDR_CSEQ),
                           *contact = sipev_msg_hdr(m, SIPEV_HDR_CONTACT);
    struct srs_session *ss = NULL;
    struct slice tag, uri, meth;
    const char *why = NULL;
    uint32_t num = 0;
    enum sr_err err;

    if (!invite_checks(s, c, m))
        return;
    if (session_find(s, cid->value)) {
        refuse(s, c, m, 482, "Loop Detected", "a session with this Call-ID exists", NULL, 0);
        return;
    }
    if (s->n_sess >= s->c.cfg->siprec_max_sessions) {
        struct sipev_extra_hdr h = { "Retry-After", "5" };
        refuse(s, c, m, 503, "Service Unavailable", "siprec-max-sessions reached", &h, 1);
        return;
    }
    if (!body_take(s, c, m, true))
        return;
    for (size_t i = 0; i < s->c.cfg->siprec_max_sessions; i++)
        if (!s->sess[i].used) {
            ss = &s->sess[i];
            break;
        }
    memset(ss, 0, sizeof(*ss));
    ss->used = true;
    s->n_sess++;
    copy_slice(cid->value, ss->call_id, sizeof(ss->call_id));
    if (sipev_param(from->value, "tag", &tag))
        copy_slice(tag, ss->from_tag, sizeof(ss->from_tag));
    if (sipev_uri_of(from->value, &uri))
        copy_slice(uri, ss->from_uri, sizeof(ss->from_uri));
    if (sipev_uri_of(to->value, &uri))
        copy_slice(uri, ss->to_uri, sizeof(ss->to_uri));
    if (sipev_uri_of(contact->value, &uri))
        copy_slice(uri, ss->contact, sizeof(ss->contact));
    sipev_cseq_parse(cseq->value, &num, &meth);
    ss->remote_cseq = ss->invite_cseq = num;
    ss->local_cseq = 1;
    sipev_random_token(ss->to_tag, sizeof(ss->to_tag));
    snprintf(ss->peer, sizeof(ss->peer), "%s", conn_source(c));
    ss->conn = c;
    ss->orphan_at = UINT64_MAX;
    ss->start_wall_us = sr_wall_us();
    ss->sdp_id = ss->start_wall_us / 1000u;
    if (!timer_negotiate(s, c, m, &ss->tm, now)) {
        session_free(s, ss);
        siprec_sdp_wipe(s->sdp);
        return;
    }
    {
        unsigned st = 400;
        if (!metadata_take(s, ss, &why, &st)) {
            session_free(s, ss);
            siprec_sdp_wipe(s->sdp);
            refuse(s, c, m, st, st == 413 ? "Request Entity Too Large" : "Bad Request", why,
                   NULL, 0);
            return;
        }
    }
    err = session_apply(s, ss, (size_t)(ss - s->sess), &why);
    if (err) {
        session_free(s, ss);
        siprec_sdp_wipe(s->sdp);
        if (err == SR_ELIMIT || err == SR_EIO) {
            struct sipev_extra_hdr h = { "Retry-After", "5" };
            refuse(s, c, m, 503, "Service Unavailable", why, &h, 1);
        } else {
            refuse(s, c, m, err == SR_EUNSUPP ? 488 : 400,
                   err == SR_EUNSUPP ? "Not Acceptable Here" : "Bad Request", why, NULL, 0);
        }
        return;
    }
    s->st.sessions++;
    session_keys(s, ss, false);
    metadata_archive(s, ss);
    answer_send(s, c, m, ss, true);
    siprec_sdp_wipe(s->sdp);
    log_notice("SIPREC session %s from %s: %zu streams recorded", ss->call_id, ss->peer,
               ss->n_st);
}

/* The request belongs to ss's dialog and comes from its client. */
static bool in_dialog(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m,
                      struct srs_session *ss)
{
    struct slice tag;
    const struct sipev_hdr *from = sipev_msg_hdr(m, SIPEV_HDR_FROM);

    if (!sipev_identity_eq(ss->peer, conn_source(c))) {
        refuse(s, c, m, 403, "Forbidden", "the session belongs to another recording client",
               NULL, 0);
        return false;
    }
    if (!to_tag_of(m, &tag) || !slice_eq(tag, slice_cstr(ss->to_tag)) ||
        !sipev_param(from->value, "tag", &tag) || !slice_eq(tag, slice_cstr(ss->from_tag))) {
        refuse(s, c, m, 481, "Call/Transaction Does Not Exist", "no dialog with these tags",
               NULL, 0);
        return false;
    }
    /* A request from the client on a new connection adopts it (RFC 5923 style reuse). */
    ss->conn = c;
    ss->orphan_at = UINT64_MAX;
    return true;
}

static void on_reoffer(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m,
                       struct srs_session *ss, bool is_update, uint64_t now)
{
    const char *why = NULL;
    unsigned st = 400;
    uint32_t num = 0;
    struct slice meth;
    struct srs_timer tm;
    bool have_sdp;
    enum sr_err err;

    sipev_cseq_parse(sipev_msg_hdr(m, SIPEV_HDR_CSEQ)->value, &num, &meth);
    if (num <= ss->remote_cseq) {
        refuse(s, c, m, 500, "Server Internal Error",
               "CSeq not above the dialog's (RFC 3261 12.2.2)", NULL, 0);
        return;
    }
    ss->remote_cseq = num;
    if (!is_update)
        ss->invite_cseq = num;
    if (!body_take(s, c, m, false))
        return;
    have_sdp = s->body.sdp.len > 0;
    if (!is_update && !have_sdp) {
        refuse(s, c, m, 488, "Not Acceptable Here",
               "offerless re-INVITE not supported: put the recording SDP offer in it (or use "
               "UPDATE for metadata alone)", NULL, 0);
        return;
    }
    if (!timer_negotiate(s, c, m, &tm, now)) {
        siprec_sdp_wipe(s->sdp);
        return;
    }
    if (!metadata_take(s, ss, &why, &st)) {
        siprec_sdp_wipe(s->sdp);
        refuse(s, c, m, st, st == 413 ? "Request Entity Too Large" : "Bad Request", why, NULL,
               0);
        return;
    }
    if (have_sdp) {
        err = session_apply(s, ss, (size_t)(ss - s->sess), &why);
        if (err) {
            /* The streams changed before the failure keep their new state
             * (their keys go out below); the client learns why. */
            session_keys(s, ss, false);
            siprec_sdp_wipe(s->sdp);
            refuse(s, c, m, err == SR_EUNSUPP ? 488 : err == SR_ELIMIT ? 503 : 400,
                   err == SR_EUNSUPP   ? "Not Acceptable Here"
                   : err == SR_ELIMIT ? "Service Unavailable"
                                      : "Bad Request",
                   why, NULL, 0);
            return;
        }
        s->st.reoffers++;
    }
    ss->tm = tm; /* the refresh (RFC 4028 9): only a request that succeeded */
    session_keys(s, ss, false); /* new keys, streams or parties */
    metadata_archive(s, ss);
    answer_send(s, c, m, ss, have_sdp);
    siprec_sdp_wipe(s->sdp);
}

static void on_request(struct rd_srs *s, struct srs_conn *c, const struct sipev_msg *m)
{
    const char *peer = conn_peer(c);
    const struct sipev_hdr *cid = sipev_msg_hdr(m, SIPEV_HDR_CALL_ID);
    struct srs_session *ss = session_find(s, cid->value);
    struct slice tag;
    uint64_t now = now_of(s);

    if (slice_eq(m->method, SLICE_LIT("ACK")))
        return; /* our 2xx is final; reliable transport: nothing to stop */
    /* Authorisation before anything else: an unauthorised client learns
     * nothing and records nothing.  Plain TCP (lab only) has no identity. */
    if (s->c.tls && !c->udp && !ka_authz_allows(&s->allow, peer)) {
        refuse(s, c, m, 403, "Forbidden", "recording client not in siprec-allow", NULL, 0);
        return;
    }
    if (slice_eq(m->method, SLICE_LIT("OPTIONS"))) {
        struct sipev_extra_hdr h[] = {
            { "Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE" },
            { "Supported", "siprec, timer" },
            { "Accept", "application/sdp, multipart/mixed, application/rs-metadata+xml" },
        };
        respond(c, m, 200, "OK", NULL, NULL, h, SR_ARRAY_LEN(h));
        return;
    }
    if (slice_eq(m->method, SLICE_LIT("INVITE"))) {
        if (!to_tag_of(m, &tag))
            on_invite_new(s, c, m, now);
        else if (!ss)
            refuse(s, c, m, 481, "Call/Transaction Does Not Exist", "no such session", NULL, 0);
        else if (in_dialog(s, c, m, ss))
            on_reoffer(s, c, m, ss, false, now);
        return;
    }
    if (slice_eq(m->method, SLICE_LIT("UPDATE"))) {
        if (!ss)
            refuse(s, c, m, 481, "Call/Transaction Does Not Exist", "no such session", NULL, 0);
        else if (in_dialog(s, c, m, ss))
            on_reoffer(s, c, m, ss, true, now);
        return;
    }
    if (slice_eq(m->method, SLICE_LIT("BYE"))) {
        if (!ss) {
            refuse(s, c, m, 481, "Call/Transaction Does Not Exist", "no such session", NULL, 0);
        } else if (in_dialog(s, c, m, ss)) {
            respond(c, m, 200, "OK", NULL, NULL, NULL, 0);
            session_end(s, ss, "BYE");
        }
        return;
    }
    if (slice_eq(m->method, SLICE_LIT("CANCEL"))) {
        /* Every INVITE is answered at once with a final response, so a
         * CANCEL always finds it completed: 200 for the CANCEL, no effect
         * on the session (RFC 3261 9.2); the client sends BYE. */
        uint32_t num = 0;
        struct slice meth;
        sipev_cseq_parse(sipev_msg_hdr(m, SIPEV_HDR_CSEQ)->value, &num, &meth);
        if (ss && num == ss->invite_cseq)
            respond(c, m, 200, "OK", ss->to_tag, NULL, NULL, 0);
        else
            refuse(s, c, m, 481, "Call/Transaction Does Not Exist",
                   "no INVITE transaction to cancel", NULL, 0);
        return;
    }
    {
        struct sipev_extra_hdr h = { "Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE" };
        refuse(s, c, m, 405, "Method Not Allowed", "not a SIPREC method", &h, 1);
    }
}

static bool on_msg(struct sipev_conn *sc, const struct sipev_msg *m, void *arg)
{
    struct srs_conn *c = arg;

    (void)sc;
    if (m->status)
        return true; /* responses to our BYE/UPDATE: reliable transport, nothing to do */
    on_request(c->s, c, m);
    return !c->dead;
}

/* -------------------------------------------------------- connections */

static void conn_free(struct rd_srs *s, struct srs_conn *c)
{
    for (size_t i = 0; i < s->c.cfg->siprec_max_sessions; i++)
        if (s->sess[i].used && s->sess[i].conn == c) {
            s->sess[i].conn = NULL;
            s->sess[i].orphan_at = now_of(s) + ORPHAN_US;
        }
    if (!c->udp)
        rd_loop_del(s->c.loop, &c->w);
    sipev_conn_destroy(c->sc);
    free(c);
}

static void on_conn(struct rd_watch *w, uint32_t events)
{
    struct srs_conn *c = (struct srs_conn *)w;
    enum sr_err err;

    (void)events;
    if (c->dead)
        return;
    err = sipev_conn_io(c->sc);
    if (err) {
        if (err != SR_ECLOSED)
            log_info("SIPREC connection from %s closed: %s",
                     conn_peer(c)[0] ? conn_peer(c) : "(unverified peer)",
                     sr_strerror(err));
        c->dead = true;
        return;
    }
    conn_events(c);
}

static void on_accept(struct rd_watch *w, uint32_t events)
{
    struct rd_srs *s = (struct rd_srs *)((char *)w - offsetof(struct rd_srs, listen));

    (void)events;
    for (int i = 0; i < 16; i++) {
        int one = 1;
        struct sipev_conn_cfg cc = { 0 };
        struct srs_conn *c;
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (s->n_conns == MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
            s->st.conns_refused++;
            close(fd);
            continue;
        }
        /* A response is one TLS record: Nagle would hold it back behind the
         * client's delayed ACK of the last one (tens of ms per INVITE). */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->s = s;
        c->w.on_event = on_conn;
        c->w.fd = fd;
        c->accepted_us = now_of(s);
        cc.tls = s->c.tls;
        cc.server = true;
        cc.fd = fd;
        cc.on_msg = on_msg;
        cc.arg = c;
        if (sipev_conn_create(&c->sc, &cc) != SR_OK) {
            free(c);
            close(fd);
            continue;
        }
        c->want_out = true;
        if (rd_loop_add(s->c.loop, &c->w, EPOLLIN | EPOLLOUT) != SR_OK) {
            sipev_conn_destroy(c->sc);
            free(c);
            continue;
        }
        s->conns[s->n_conns++] = c;
    }
}

static enum sr_err listen_open(struct rd_srs *s)
{
    const char *where = s->c.cfg->siprec_listen;
    const char *colon = strrchr(where, ':');
    struct addrinfo hints = { 0 }, *ai = NULL;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    char host[CONF_STR_MAX], hs[NI_MAXHOST], ps[NI_MAXSERV];
    int one = 1, fd;

    if (!colon)
        return SR_EINVAL;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - where), where);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
        return SR_EINVAL;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0 ||
        getnameinfo((struct sockaddr *)&sa, sl, hs, sizeof(hs), ps, sizeof(ps),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        log_error("siprec-listen %s: %s", where, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return SR_EIO;
    }
    freeaddrinfo(ai);
    s->listen.fd = fd;
    s->listen.on_event = on_accept;
    if (strchr(hs, ':'))
        snprintf(s->via_host, sizeof(s->via_host), "[%s]:%s", hs, ps);
    else
        snprintf(s->via_host, sizeof(s->via_host), "%s:%s", hs, ps);
    snprintf(s->contact, sizeof(s->contact), s->c.tls ? "<sips:%s>" : "<sip:%s;transport=tcp>",
             s->via_host);
    log_notice("SIPREC: listening on %s (%s)", s->via_host,
               s->c.tls ? "mutual TLS" : "LAB MODE: plain TCP, keys in clear");
    return rd_loop_add(s->c.loop, &s->listen, EPOLLIN);
}

/* ------------------------------------------------------- UDP (lab only) */

/* The peer record of a UDP client (created on its first request). */
static struct srs_conn *udp_peer(struct rd_srs *s, const struct sipev_addr *from)
{
    struct srs_conn *c;

    for (size_t i = 0; i < s->n_conns; i++)
        if (s->conns[i]->udp && sipev_addr_eq(&s->conns[i]->peer, from))
            return s->conns[i];
    if (s->n_conns == MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
        s->st.conns_refused++;
        return NULL;
    }
    c->s = s;
    c->udp = true;
    c->peer = *from;
    c->accepted_us = now_of(s);
    s->conns[s->n_conns++] = c;
    return c;
}

static void udp_on_msg(struct sipev_udp *u, const struct sipev_msg *m,
                       const struct sipev_addr *from, void *arg)
{
    struct rd_srs *s = arg;
    struct srs_conn *c;

    (void)u;
    if (m->status)
        return; /* a response to our BYE/UPDATE: the transaction ends it */
    c = udp_peer(s, from);
    if (c)
        on_request(s, c, m);
}

static void udp_on_event(struct rd_watch *w, uint32_t events)
{
    struct rd_srs *s = (struct rd_srs *)((char *)w - offsetof(struct rd_srs, udp_watch));

    (void)events;
    if (sipev_udp_io(s->udp, now_of(s)) != SR_OK)
        log_warn("siprec-listen-udp: the socket failed");
}

/* siprec-listen-udp: keys would cross in clear, from clients nobody
 * authenticated, so only the lab setting opens it (the keyagent's and the
 * recorder's lab-allow-plain-tcp, which covers UDP). */
static enum sr_err udp_open(struct rd_srs *s)
{
    const char *where = s->c.cfg->siprec_listen_udp;
    const char *colon = strrchr(where, ':');
    struct sipev_udp_cfg uc = { 0 };
    struct sipev_addr local;
    char host[CONF_STR_MAX];
    enum sr_err err;

    if (!s->c.cfg->lab_allow_plain_tcp) {
        log_error("siprec-listen-udp %s: SIPREC over UDP carries SRTP keys in clear from "
                  "unauthenticated clients: refused unless lab-allow-plain-tcp = yes (lab only)",
                  where);
        return SR_EINVAL;
    }
    if (!colon) {
        log_error("siprec-listen-udp %s: not host:port", where);
        return SR_EINVAL;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - where), where);
    uc.host = host;
    uc.port = colon + 1;
    uc.lab_allow_keys = true; /* lab-allow-plain-tcp, checked above */
    uc.max_txns = 4096;
    uc.on_msg = udp_on_msg;
    uc.arg = s;
    err = sipev_udp_create(&s->udp, &uc);
    if (err) {
        log_error("siprec-listen-udp %s: %s", where, sr_strerror(err));
        return err;
    }
    sipev_udp_local(s->udp, &local);
    sipev_addr_fmt(&local, s->udp_addr, sizeof(s->udp_addr));
    s->udp_watch.fd = sipev_udp_fd(s->udp);
    s->udp_watch.on_event = udp_on_event;
    log_warn("SIPREC: LAB MODE: listening on UDP %s: keys in clear, clients not authenticated",
             s->udp_addr);
    return rd_loop_add(s->c.loop, &s->udp_watch, EPOLLIN);
}

/* ------------------------------------------------------------ timers */

/* An in-dialog request of ours (BYE at expiry, UPDATE to refresh). */
static void send_request(struct rd_srs *s, struct srs_session *ss, const char *method)
{
    char branch[48], tok[24];
    struct sipev_req r = { 0 };

    if (!ss->conn || ss->conn->dead)
        return;
    sipev_random_token(tok, sizeof(tok));
    snprintf(branch, sizeof(branch), "z9hG4bK%s", tok);
    r.method = method;
    r.ruri = ss->contact[0] ? ss->contact : ss->from_uri;
    r.via_transport = ss->conn->udp ? "UDP" : s->c.tls ? "TLS" : "TCP";
    r.via_host = ss->conn->udp ? s->udp_addr : s->via_host;
    r.branch = branch;
    r.from_uri = ss->to_uri;
    r.from_tag = ss->to_tag;
    r.to_uri = ss->from_uri;
    r.to_tag = ss->from_tag;
    r.call_id = ss->call_id;
    r.cseq = ++ss->local_cseq;
    r.contact = s->contact;
    buf_reset(&s->out);
    if (sipev_req_print(&s->out, &r) == SR_OK)
        conn_send_out(ss->conn);
}

uint64_t rd_srs_tick(struct rd_srs *s, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    size_t kept = 0;

    for (size_t i = 0; i < s->n_conns; i++) {
        struct srs_conn *c = s->conns[i];
        if (c->udp) { /* a peer, not a connection: kept while the SRS runs */
            s->conns[kept++] = c;
            continue;
        }
        if (!c->dead && !sipev_conn_established(c->sc) && now >= c->accepted_us + HANDSHAKE_US) {
            log_info("SIPREC connection: TLS handshake not done in %u s: closed",
                     HANDSHAKE_US / 1000000u);
            c->dead = true;
        }
        if (c->dead && !sipev_conn_want_write(c->sc)) {
            conn_free(s, c);
            continue;
        }
        if (c->dead)
            sipev_conn_io(c->sc); /* flush the last response (sticky error) */
        if (!sipev_conn_established(c->sc) && c->accepted_us + HANDSHAKE_US < next)
            next = c->accepted_us + HANDSHAKE_US;
        s->conns[kept++] = c;
    }
    s->n_conns = kept;
    if (s->udp) {
        uint64_t u;
        sipev_udp_tick(s->udp, now);
        u = sipev_udp_next_us(s->udp);
        next = u < next ? u : next;
    }
    for (size_t i = 0; i < s->c.cfg->siprec_max_sessions; i++) {
        struct srs_session *ss = &s->sess[i];
        uint64_t bye_at;
        if (!ss->used)
            continue;
        if (now >= ss->orphan_at) {
            session_end(s, ss, "its connection closed and the client did not come back");
            continue;
        }
        if (ss->tm.se_s) {
            unsigned margin = ss->tm.se_s / 3 < BYE_MARGIN_S ? ss->tm.se_s / 3 : BYE_MARGIN_S;
            bye_at = ss->tm.expire_at - (uint64_t)margin * 1000000u;
            if (now >= bye_at) {
                send_request(s, ss, "BYE");
                s->st.timer_expired++;
                session_end(s, ss, "session timer expired (RFC 4028 10)");
                continue;
            }
            if (now >= ss->tm.refresh_at) {
                send_request(s, ss, "UPDATE");
                ss->tm.expire_at = now + (uint64_t)ss->tm.se_s * 1000000u;
                ss->tm.refresh_at = now + (uint64_t)ss->tm.se_s * 500000u;
            }
            next = bye_at < next ? bye_at : next;
            next = ss->tm.refresh_at < next ? ss->tm.refresh_at : next;
        }
        next = ss->orphan_at < next ? ss->orphan_at : next;
    }
    return next;
}

/* -------------------------------------------------------------- set-up */

enum sr_err rd_srs_create(struct rd_srs **out, const struct rd_srs_cfg *c)
{
    const struct rd_cfg *cfg = c->cfg;
    struct rd_srs *s;
    const char *why = "";
    size_t col = 0;
    enum sr_err err;

    if (cfg->siprec_port_hi <= cfg->siprec_port_lo + 1) {
        log_error("siprec-media-ports: need at least one even/odd pair (got %lu-%lu)",
                  cfg->siprec_port_lo, cfg->siprec_port_hi);
        return SR_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return SR_ENOMEM;
    s->c = *c;
    s->listen.fd = -1;
    buf_init(&s->out, OUT_MAX);
    buf_init(&s->sdp_out, SIPREC_SDP_MAX);
    err = ka_authz_parse_at(&s->allow, cfg->siprec_allow, &why, &col);
    if (err) {
        log_error("siprec-allow: column %zu: %s", col + 1, why);
        goto fail;
    }
    if (c->tls && s->allow.n == 0)
        log_warn("siprec-allow is empty: every recording client will be refused (403)");
    s->sess = calloc(cfg->siprec_max_sessions, sizeof(*s->sess));
    s->n_pairs = (cfg->siprec_port_hi - cfg->siprec_port_lo + 1) / 2;
    s->port_used = calloc(s->n_pairs, 1);
    s->sdp = calloc(1, sizeof(*s->sdp));
    s->md = siprec_md_create();
    if (!s->sess || !s->port_used || !s->sdp || !s->md) {
        err = SR_ENOMEM;
        goto fail;
    }
    err = listen_open(s);
    if (!err && cfg->siprec_listen_udp[0])
        err = udp_open(s);
    if (err)
        goto fail;
    *out = s;
    return SR_OK;
fail:
    rd_srs_destroy(s);
    return err;
}

void rd_srs_destroy(struct rd_srs *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->sess && i < s->c.cfg->siprec_max_sessions; i++)
        if (s->sess[i].used) {
            send_request(s, &s->sess[i], "BYE");
            session_end(s, &s->sess[i], "recorder shutting down");
        }
    for (size_t i = 0; i < s->n_conns; i++) {
        if (!s->conns[i]->udp)
            sipev_conn_io(s->conns[i]->sc); /* best effort: flush the BYEs */
        conn_free(s, s->conns[i]);
    }
    if (s->udp) {
        rd_loop_del(s->c.loop, &s->udp_watch);
        sipev_udp_destroy(s->udp); /* wipes its cached messages (keys) */
    }
    if (s->listen.fd >= 0) {
        rd_loop_del(s->c.loop, &s->listen);
        close(s->listen.fd);
    }
    buf_fini(&s->out);
    buf_fini(&s->sdp_out);
    if (s->sdp) {
        siprec_sdp_wipe(s->sdp);
        free(s->sdp);
    }
    siprec_md_destroy(s->md);
    free(s->sess);
    free(s->port_used);
    free(s);
}

void rd_srs_set_tls(struct rd_srs *s, SSL_CTX *tls)
{
    if (s && tls && s->c.tls)
        s->c.tls = tls;
}

enum sr_err rd_srs_set_allow(struct rd_srs *s, const char *list)
{
    struct ka_authz az;
    const char *why = "";
    size_t col = 0;

    if (ka_authz_parse_at(&az, list, &why, &col) != SR_OK) {
        log_error("reload: siprec-allow: column %zu: %s; the old list stays", col + 1, why);
        return SR_EPARSE;
    }
    s->allow = az;
    return SR_OK;
}

const char *rd_srs_address(const struct rd_srs *s)
{
    return s->via_host;
}

const char *rd_srs_udp_address(const struct rd_srs *s)
{
    return s->udp_addr;
}

void rd_srs_stats(const struct rd_srs *s, struct rd_srs_stats *out)
{
    *out = s->st;
    out->sessions_now = s->n_sess;
    out->conns_now = s->n_conns;
}

void rd_srs_metrics(const struct rd_srs *s, struct prom *p)
{
    struct rd_srs_stats st;
    static const char refused[] = "srtprec_recorder_siprec_refused_total";

    if (!s)
        return;
    rd_srs_stats(s, &st);
    prom_counter(p, "srtprec_recorder_siprec_sessions_total", "SIPREC sessions accepted.",
                 st.sessions);
    prom_gauge(p, "srtprec_recorder_siprec_sessions", "SIPREC sessions open now.",
               st.sessions_now);
    prom_family(p, refused, "counter", "SIPREC requests refused, by status.");
    prom_sample1(p, refused, "status", "403", st.forbidden);
    prom_sample1(p, refused, "status", "488", st.not_acceptable);
    prom_sample1(p, refused, "status", "400", st.bad_request);
    prom_sample1(p, refused, "status", "other",
                 st.refused[0] + st.refused[1] - st.forbidden - st.not_acceptable -
                     st.bad_request);
    prom_counter(p, "srtprec_recorder_siprec_reoffers_total",
                 "re-INVITEs and UPDATEs with an offer applied.", st.reoffers);
    prom_counter(p, "srtprec_recorder_siprec_timer_expired_total",
                 "Sessions ended by their session timer.", st.timer_expired);
}
