/** @file engine.c  The recorder engine (engine.h): demultiplexing by
 *  (source, SSRC), binding streams to disclosed keys by trial
 *  authentication, holding packets that came before their key, SRTP/SRTCP
 *  decryption, re-keys, SSRC changes, and writing into each call's archive
 *  through the archive ops.
 *
 * Nothing is lost silently (docs/recorder.md, "Where every packet goes"):
 * - a packet whose key has not come yet is held; when the key comes it is
 *   decrypted and recorded;
 * - a packet that cannot be held (pool or stream queue full), and every held
 *   packet whose key has not come key-wait-ms after its stream's first
 *   packet, is archived still encrypted (STOR_PKT_ENCRYPTED): in the archive
 *   of the call whose disclosed fork source equals the packet's source, else
 *   in an "unmatched" archive (within its per-minute budget);
 * - a packet that must be dropped (auth failure, replay, malformed, no stream
 *   slot, a flood cap, storage error) is counted under its reason, in the
 *   call's trailer counts when the call is known, and always in the stats.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "harden.h"
#include "log.h"
#include "sipev.h"
#include "stor.h"
#include "util.h"

enum {
    PKT_CAP = 2048,
    TRIAL_EVERY = 25,    /* an unbound stream retries the wider trial every 25 packets
                            (0.5 s of G.711): key derivation per candidate is not free */
    TRIAL_BUDGET_PER_S = 20000, /* wider-trial candidates per second: a flood of new
                                   SSRCs costs at most this many key derivations */
    SWEEP_GRACE_MS = 2000, /* a call a full state omits lingers at least this long: the rest
                              of a split full state comes in the next NOTIFYs */
    REKEY_GRACE = 256,   /* packets the old key stays usable after the new one took over
                            (late and reordered packets of the old key) */
    DEFAULT_PER_SOURCE = 1024,
    DEFAULT_UNMATCHED_PER_MIN = 256,
    DEFAULT_OPENS_PER_S = 1000,
    GIVE_UP_LOG_MAX = 8, /* streams named per scan when their key did not come */
    DUP_WINDOW = 16,     /* fingerprints of a stream's last packets: a mirror's second copy
                            (ingress and egress, capture and fork) comes within a few packets */
    ROC_PPS_MAX = 50,    /* packets a second the ROC search assumes at most (20 ms ptime,
                            the common audio framing): the window's top */
    ROC_CEILING_MIN = 4, /* the window is at least 0..4, whatever the dialog's age: a
                            discloser that knows no start (the keyagent's clock at CALL)
                            still finds a call up to 4 wraps old (87 min at 50/s) */
    ROC_SEARCH_STREAM_BUDGET = 256, /* ROC attempts per stream: a day-long call's window
                                       (67) four times; then it is given up */
    ROC_SEARCH_BUDGET_PER_S = 100000, /* ROC attempts per engine and second (one HMAC
                                         each, about 0.1 s of a core) */
};

struct rd_call;
struct rd_binding;
struct eng_source;
struct key_source;

struct rd_stream {
    struct rec_flow flow;
    struct rec_flow dst;       /* its first packet's destination (all zero: unknown) */
    struct rec_srtp *srtp;     /* NULL until a key is bound */
    struct rec_srtp *alt;      /* during a re-key: the other key's session, or NULL */
    uint32_t alt_left;         /* 0: alt is the new key, not yet seen; else packets until
                                  the old key (now alt) is retired */
    struct rec_held_q held;    /* packets that came before the key */
    struct rd_call *call;      /* bound: its call; unbound: the archive that keeps its
                                  packets encrypted (NULL until one was needed) */
    struct rd_binding *bind;   /* NULL until bound */
    struct eng_source *src;    /* unbound: its source address's record */
    unsigned stor_idx;         /* in call's archive (bound: decrypted; unbound: encrypted) */
    bool rtp_added;            /* bound: stor_idx names its decrypted RTP stream (added on
                                  the first RTP packet, so an RTCP-only flow adds none) */
    bool enc_added;            /* unbound: stor_idx names its encrypted stream in call */
    bool key_wait_over;        /* unbound: key-wait-ms passed; packets go straight to
                                  the archive encrypted */
    bool unmatched_denied;     /* unbound: past the unmatched budget; packets counted only */
    bool paused;               /* bound: its binding's state is paused (a copy: no pointer
                                  chase into the binding per packet) */
    bool rtcp_added;
    unsigned rtcp_idx;         /* SRTCP (decrypted) stream in the call's archive */
    uint64_t rtcp_count;
    uint64_t first_us, last_us; /* monotonic time of the first and the latest packet */
    uint32_t trial_countdown;
    bool have_ts;
    uint64_t highest_ext_seq;
    uint64_t last_ext_ts;
    uint32_t last_ts;
    uint64_t dup_fp[DUP_WINDOW]; /* fingerprints of its last packets that authenticated */
    unsigned dup_next;
    bool roc_search;           /* bound under a key of unknown ROC by an SRTCP packet: the
                                  first RTP packet still has to find the ROC */
    uint16_t roc_tries;        /* ROC attempts spent on it (ROC_SEARCH_STREAM_BUDGET) */
    struct rd_stream *next;    /* in call->streams, or in e->unbound */
};

struct rd_binding {            /* a stream's keys as disclosed by a key source */
    struct rd_binding *ssrc_next; /* chain of bindings disclosing the same SSRC */
    bool in_tab;
    struct rd_call *call;
    size_t n_streams;          /* streams bound to it (more than one after SSRC changes) */
    struct sipev_stream desc;  /* includes the keys: wiped on free */
};

struct rd_call {
    char peer[SIPEV_STR];
    char call_id[SIPEV_STR];
    void *arch;                /* the ops' archive handle */
    struct key_source *ks;     /* NULL for unmatched */
    struct stor_counts counts;
    bool ended;
    bool swept;                /* ended only because a full state omitted it: a later part
                                  of a split full state may list it again */
    bool orphan;               /* omitted by a full state while its media flowed: goes on
                                  until its media stops */
    bool unmatched;            /* an archive of never-keyed packets from unknown sources */
    uint64_t listed_gen;       /* the last key body (kb_gen) that listed it */
    uint64_t parties_fp;       /* fingerprint of the parties its archive was told */
    uint64_t start_wall_us;    /* the dialog's start: bounds the ROC of a key whose ROC the
                                  discloser did not know */
    uint64_t close_at_us;
    struct rd_stream *streams;
    struct rd_binding *bindings[SIPEV_MAX_STREAMS];
    size_t n_bindings;
    struct rd_call *next;
};

struct eng_source {            /* a source address (port 0): caps its unbound streams */
    struct rec_flow key;
    size_t n_unbound;
};

struct pending_call {          /* a call over its key source's opens per second */
    struct sipev_dialog d;     /* as last disclosed, keys included: wiped on free */
    struct pending_call *next;
};

struct key_source {            /* a keyagent identity: quotas */
    char name[SIPEV_STR];
    size_t n_calls, n_streams;
    uint64_t window_us;        /* start of the current one-second open window */
    size_t opens;              /* archive opens in that window */
    struct pending_call *pending; /* oldest first; opened by the tick as the window allows */
    size_t n_pending;
    struct key_source *next;
};

struct rec_eng {
    struct rec_eng_cfg cfg;        /* defaults resolved */
    struct rec_streams *table;     /* (source, SSRC) -> rd_stream */
    struct rec_streams *bind_tab;  /* SSRC -> first rd_binding of its chain */
    struct rec_streams *src_tab;   /* source address -> eng_source */
    struct rec_held *held;
    struct rd_call *calls;
    size_t n_calls;
    struct rec_calltab *call_tab;  /* (peer, Call-ID) -> call, unmatched ones excepted */
    struct sr_secpool *bind_pool;  /* rd_bindings (keys): not in cores, mlock'ed, wiped */
    struct key_source *sources;
    uint64_t kb_gen;               /* key bodies applied: marks the calls a body lists */
    struct rd_stream *unbound;     /* streams waiting for their key */
    size_t n_unbound;
    struct rd_call *unmatched;     /* open "unmatched" archive, or NULL */
    atomic_bool authorised;        /* some keyagent's subscription is active (set by main) */
    uint64_t next_scan_us;         /* key-wait and reaping scan */
    uint64_t next_close_us;        /* no ended call closes before this (a lower bound):
                                      the tick walks the calls only then, not per wakeup */
    uint64_t unmatched_window_us;  /* start of the current minute of the unmatched budget */
    size_t unmatched_in_window;
    uint64_t trial_window_us;      /* start of the current second of the trial budget */
    size_t trials_in_window;
    uint64_t roc_window_us;        /* start of the current second of the ROC search budget */
    size_t roc_in_window;
    uint64_t flood_logged_us;      /* last warning about a refused flow */
    size_t gave_up_in_scan;        /* streams whose key-wait ended in this scan */
    uint64_t pkt_now_us;           /* the packet being handled: its monotonic arrival */
    size_t n_plain;                /* plain (keyless) bindings: 0 skips plain_bind's walk */
    struct rec_eng_stats st;
    uint8_t scratch[PKT_CAP];      /* copy of a packet tried under two keys */
};

/* ------------------------------------------------------------- helpers */

static uint64_t mono(const struct rec_eng *e)
{
    return e->cfg.clock.mono_us(e->cfg.clock.arg);
}

static uint64_t wall(const struct rec_eng *e)
{
    return e->cfg.clock.wall_us(e->cfg.clock.arg);
}

static struct rec_flow ssrc_key(uint32_t ssrc)
{
    struct rec_flow f;

    memset(&f, 0, sizeof(f));
    f.ssrc = ssrc;
    return f;
}

static struct rec_flow addr_key(const struct rec_flow *fl)
{
    struct rec_flow f;

    memset(&f, 0, sizeof(f));
    memcpy(f.addr, fl->addr, sizeof(f.addr));
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

/* flow's address (or the port below it: RTCP without rtcp-mux, RFC 3550
 * 11, comes from and goes to the RTP port + 1) is the fork address want. */
static bool addr_is(const char *want, const struct rec_flow *f)
{
    char str[SIPEV_STR];
    struct rec_flow rtp_port = *f;

    flow_addr_str(f, str, sizeof(str));
    if (strcmp(want, str) == 0)
        return true;
    if (f->port == 0)
        return false;
    rtp_port.port--;
    flow_addr_str(&rtp_port, str, sizeof(str));
    return strcmp(want, str) == 0;
}

static bool flow_known(const struct rec_flow *f)
{
    static const struct rec_flow zero;

    return memcmp(f->addr, zero.addr, sizeof(zero.addr)) != 0 || f->port != 0;
}

/* A binding may take packets of this stream: its disclosure names no fork
 * source, or names the stream's source; and names no fork destination, or
 * names the stream's destination (a SIPREC session's keys apply only to
 * packets sent to the media ports the recorder gave that session; a
 * destination never seen is no match). */
static bool binding_admits(const struct rd_binding *b, const struct rd_stream *s)
{
    if (b->desc.src[0] != '\0' && !addr_is(b->desc.src, &s->flow))
        return false;
    if (b->desc.dst[0] != '\0' && (!flow_known(&s->dst) || !addr_is(b->desc.dst, &s->dst)))
        return false;
    return true;
}

/* A fixed window of `len_us`: true (and one more counted) while under max. */
static bool window_take(uint64_t *start, size_t *used, uint64_t now, uint64_t len_us, size_t max)
{
    if (now >= *start + len_us) {
        *start = now;
        *used = 0;
    }
    if (*used >= max)
        return false;
    (*used)++;
    return true;
}

/* --------------------------------------------------------- key sources */

static struct key_source *key_source_get(struct rec_eng *e, const char *name)
{
    struct key_source *k;

    for (k = e->sources; k; k = k->next)
        if (strcmp(k->name, name) == 0)
            return k;
    k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->next = e->sources;
    e->sources = k;
    return k;
}

static void pending_free(struct pending_call *p)
{
    sr_wipe(p, sizeof(*p));
    free(p);
}

static struct pending_call **pending_find(struct key_source *ks, const char *call_id)
{
    struct pending_call **pp;

    for (pp = &ks->pending; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->d.call_id, call_id) == 0)
            return pp;
    return NULL;
}

/* Merge what a later key body says of a deferred call: its state, and each
 * stream by id (a partial body may list only the streams that changed). */
static void pending_merge(struct pending_call *p, const struct sipev_dialog *d)
{
    p->d.state = d->state;
    for (size_t j = 0; j < d->n_streams; j++) {
        size_t k;
        for (k = 0; k < p->d.n_streams; k++)
            if (strcmp(p->d.streams[k].id, d->streams[j].id) == 0)
                break;
        if (k == p->d.n_streams) {
            if (k == SR_ARRAY_LEN(p->d.streams))
                continue;
            p->d.n_streams++;
        }
        p->d.streams[k] = d->streams[j];
    }
}

/* --------------------------------------------------------------- calls */

static struct rd_call *call_find(struct rec_eng *e, const char *peer, const char *call_id)
{
    return rec_calltab_find(e->call_tab, peer, call_id);
}

static void binding_unchain(struct rec_eng *e, struct rd_binding *b)
{
    struct rec_flow key = ssrc_key(b->desc.ssrc);
    struct rd_binding *head = rec_streams_lookup(e->bind_tab, &key);

    if (!b->in_tab || !head)
        return;
    b->in_tab = false;
    if (head == b) {
        rec_streams_remove(e->bind_tab, &key, NULL);
        if (b->ssrc_next)
            rec_streams_insert(e->bind_tab, &key, b->ssrc_next); /* a slot was just freed */
        return;
    }
    for (struct rd_binding *p = head; p->ssrc_next; p = p->ssrc_next)
        if (p->ssrc_next == b) {
            p->ssrc_next = b->ssrc_next;
            return;
        }
}

static void binding_free(struct rec_eng *e, struct rd_binding *b)
{
    if (!b)
        return;
    if (b->desc.plain && e->n_plain)
        e->n_plain--;
    binding_unchain(e, b);
    sr_secpool_free(e->bind_pool, b); /* wipes it */
}

static void unbound_remove(struct rec_eng *e, struct rd_stream *s)
{
    for (struct rd_stream **pp = &e->unbound; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            s->next = NULL;
            e->n_unbound--;
            break;
        }
    if (s->src) {
        if (--s->src->n_unbound == 0) {
            rec_streams_remove(e->src_tab, &s->src->key, NULL);
            free(s->src);
        }
        s->src = NULL;
    }
}

static void stream_free(struct rec_eng *e, struct rd_stream *s)
{
    rec_held_discard(e->held, &s->held); /* callers archive held packets first */
    rec_streams_remove(e->table, &s->flow, NULL);
    if (s->bind && s->call && s->call->ks && s->call->ks->n_streams)
        s->call->ks->n_streams--;
    rec_srtp_destroy(s->srtp);
    rec_srtp_destroy(s->alt);
    free(s);
}

/* FNV-1a of both AORs: a later body naming other parties is told to the
 * archive once, not a string compare per call per body. */
static uint64_t parties_fp(const struct sipev_dialog *d)
{
    uint64_t h = 14695981039346656037ull;

    for (const char *p = d->local_aor;; p++) {
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
        if (!*p)
            break;
    }
    for (const char *p = d->remote_aor; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

/* A body of an open call names other parties than its archive holds (a
 * SIPREC session whose metadata came after the INVITE).  An empty local
 * AOR says nothing. */
static void call_parties(struct rec_eng *e, struct rd_call *c, const struct sipev_dialog *d)
{
    uint64_t fp;

    if (!d->local_aor[0] || c->unmatched || !e->cfg.ops->parties ||
        (fp = parties_fp(d)) == c->parties_fp)
        return;
    c->parties_fp = fp;
    if (e->cfg.log_keys)
        log_info("call %s: parties now %s, %s", c->call_id, d->local_aor, d->remote_aor);
    e->cfg.ops->parties(e->cfg.ops_arg, c->arch, d->local_aor, d->remote_aor);
}

static enum sr_err call_open(struct rec_eng *e, const char *peer, const struct sipev_dialog *d,
                             bool unmatched, struct rd_call **out)
{
    struct stor_call_info *ci;
    struct key_source *ks = NULL;
    struct rd_call *c;
    enum sr_err err;

    if (e->n_calls >= e->cfg.max_streams / 2)
        return SR_ELIMIT;
    if (!unmatched) {
        ks = key_source_get(e, peer);
        if (!ks)
            return SR_ENOMEM;
        if (ks->n_calls >= e->cfg.max_calls_per_source) {
            e->st.quota_refused++;
            return SR_ELIMIT;
        }
        if (!window_take(&ks->window_us, &ks->opens, mono(e), 1000000u,
                         e->cfg.opens_per_source_per_s))
            return SR_EAGAIN; /* deferred to the next second, not refused */
    }
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
    c->parties_fp = parties_fp(d);
    ci->start_wall_us = d->start_wall_us ? d->start_wall_us : wall(e);
    c->start_wall_us = ci->start_wall_us;
    /* Every engine applies the same key bodies: the first to see the call
     * opens its archive, the others share it. */
    err = e->cfg.ops->open(e->cfg.ops_arg, peer, ci, unmatched, &c->arch);
    free(ci);
    if (err) {
        free(c);
        return err;
    }
    c->unmatched = unmatched;
    c->ks = ks;
    if (!unmatched && (err = rec_calltab_insert(e->call_tab, c->peer, c->call_id, c)) != SR_OK) {
        struct stor_counts none = { 0 };
        e->cfg.ops->release(e->cfg.ops_arg, c->arch, &none);
        free(c);
        return err;
    }
    if (ks)
        ks->n_calls++;
    c->next = e->calls;
    e->calls = c;
    e->n_calls++;
    *out = c;
    return SR_OK;
}

/* The archive of packets whose key never came and whose source matches no
 * disclosed fork source: opened on first need, sealed when idle for
 * call-linger-ms + key-wait-ms, or at shutdown. */
static struct rd_call *unmatched_get(struct rec_eng *e)
{
    struct sipev_dialog *d;
    struct rd_call *c = e->unmatched;

    if (c)
        return c;
    d = calloc(1, sizeof(*d)); /* large; not worth a stack frame on the packet path */
    if (!d)
        return NULL;
    snprintf(d->call_id, sizeof(d->call_id), "unmatched-%llu",
             (unsigned long long)(wall(e) / 1000000u));
    snprintf(d->local_aor, sizeof(d->local_aor), "unknown");
    snprintf(d->remote_aor, sizeof(d->remote_aor), "unknown");
    if (call_open(e, "unmatched", d, true, &c) != SR_OK)
        c = NULL;
    free(d);
    if (!c)
        return NULL;
    c->ended = true; /* closes when idle; every packet pushes close_at_us on */
    e->next_close_us = 0; /* its close_at_us is 0 until a packet lands in it */
    e->unmatched = c;
    return c;
}

static void call_close(struct rec_eng *e, struct rd_call *c)
{
    while (c->streams) {
        struct rd_stream *s = c->streams;
        c->streams = s->next;
        stream_free(e, s);
    }
    for (size_t i = 0; i < c->n_bindings; i++)
        binding_free(e, c->bindings[i]);
    /* Unbound streams that kept packets encrypted here find a new home. */
    for (struct rd_stream *s = e->unbound; s; s = s->next)
        if (s->call == c) {
            s->call = NULL;
            s->enc_added = false;
        }
    if (e->unmatched == c)
        e->unmatched = NULL;
    if (!c->unmatched)
        rec_calltab_remove(e->call_tab, c->peer, c->call_id);
    if (c->ks && c->ks->n_calls)
        c->ks->n_calls--;
    e->cfg.ops->release(e->cfg.ops_arg, c->arch, &c->counts); /* the last engine's seals it */
    free(c);
}

/* ------------------------------------------------------------- packets */

/* An unbound stream may start another unmatched stream this minute. */
static bool unmatched_admit(struct rec_eng *e)
{
    return window_take(&e->unmatched_window_us, &e->unmatched_in_window, mono(e), 60000000u,
                       e->cfg.unmatched_streams_per_min);
}

/* Which archive keeps an unbound stream's packets encrypted: the open call
 * whose disclosed fork source is this stream's source, or whose disclosed
 * fork destination is this stream's destination, else "unmatched". */
static struct rd_call *enc_home(struct rec_eng *e, struct rd_stream *s, uint8_t pt)
{
    struct stor_stream_info si = { 0 };
    char src[SIPEV_STR];
    enum sr_err err;

    if (s->unmatched_denied)
        return NULL;
    if (!s->call) {
        /* A destination alone homes a stream only for a key scoped by its
         * destination alone (a SIPREC session's own port): a shared media
         * port is every call's destination, and junk sent to it must not
         * land in whichever call discloses that port (recorder_flood). */
        flow_addr_str(&s->flow, src, sizeof(src));
        for (struct rd_call *c = e->calls; c && !s->call; c = c->next)
            for (size_t i = 0; !c->unmatched && i < c->n_bindings; i++)
                if (strcmp(c->bindings[i]->desc.src, src) == 0 ||
                    (!c->bindings[i]->desc.src[0] && c->bindings[i]->desc.dst[0] &&
                     flow_known(&s->dst) && addr_is(c->bindings[i]->desc.dst, &s->dst))) {
                    s->call = c;
                    break;
                }
        /* A recorder that no keyagent authorises keeps nobody's media,
         * not even encrypted (the caller counts the packet). */
        if (!s->call && !atomic_load_explicit(&e->authorised, memory_order_relaxed))
            return NULL;
        if (!s->call) {
            if (!unmatched_admit(e)) {
                s->unmatched_denied = true;
                return NULL;
            }
            s->call = unmatched_get(e);
        }
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
        err = e->cfg.ops->add_stream(e->cfg.ops_arg, s->call->arch, &si, &s->stor_idx);
        /* Unknown sources filled it: the next one starts a new unmatched
         * archive; this one seals once idle.  The archive is shared by
         * every worker, so the one opened next may have been filled by
         * the others meanwhile (a flood on several workers): a few tries,
         * not one (recorder_flood counted such a stream as a storage drop). */
        for (int tries = 0; err == SR_ELIMIT && s->call && s->call->unmatched && tries < 4;
             tries++) {
            log_warn("unmatched archive %s is full (%s): opening another", s->call->call_id,
                     sr_strerror(err));
            e->cfg.ops->retire(e->cfg.ops_arg, s->call->arch);
            if (e->unmatched == s->call)
                e->unmatched = NULL;
            s->call = unmatched_get(e);
            err = s->call ? e->cfg.ops->add_stream(e->cfg.ops_arg, s->call->arch, &si,
                                                   &s->stor_idx)
                          : SR_ENOMEM;
        }
        if (err != SR_OK)
            return NULL;
        s->enc_added = true;
    }
    return s->call;
}

/* Keep a packet whose key has not come, as received. */
static void record_encrypted(struct rec_eng *e, struct rd_stream *s, const uint8_t *pkt,
                             size_t len, uint64_t arrival_us, bool is_rtcp)
{
    struct rec_rtp rtp;
    struct stor_pkt sp = { 0 };
    struct rd_call *c;
    bool rtp_ok = !is_rtcp && rec_rtp_parse(pkt, len, true, &rtp, NULL) == SR_OK;

    c = enc_home(e, s, rtp_ok ? rtp.pt : 0);
    if (!c) {
        if (s->unmatched_denied)
            e->st.unmatched_budget++;
        else if (atomic_load_explicit(&e->authorised, memory_order_relaxed))
            e->st.storage_err++;
        else
            e->st.unauthorised++;
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
    if (e->cfg.ops->packet(e->cfg.ops_arg, c->arch, s->stor_idx, &sp, REC_PKT_ENCRYPTED) !=
        SR_OK) {
        e->st.storage_err++;
        c->counts.overload++;
        return;
    }
    e->st.encrypted_kept++;
    c->counts.encrypted_kept++;
    if (c->unmatched) {
        c->close_at_us = mono(e) + (e->cfg.call_linger_ms + e->cfg.key_wait_ms) * 1000u;
        if (c->close_at_us < e->next_close_us)
            e->next_close_us = c->close_at_us;
    }
}

struct drain_ctx {
    struct rec_eng *e;
    struct rd_stream *s;
};

static void record_held_encrypted(void *arg, uint8_t *pkt, size_t len, uint64_t ts_us,
                                  unsigned flags)
{
    struct drain_ctx *d = arg;

    record_encrypted(d->e, d->s, pkt, len, ts_us, flags & 1u);
}

/* A packet's fingerprint, taken before it is decrypted in place: its
 * length, header and trailing authentication tag.  Two copies of one packet
 * have the same; another packet of the stream has another sequence number
 * (or SRTCP index) and tag. */
static uint64_t pkt_fingerprint(const uint8_t *pkt, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ len;
    size_t head = len < 12 ? len : 12, tail = len - head < 10 ? len - head : 10;

    for (size_t i = 0; i < head; i++)
        h = (h ^ pkt[i]) * 1099511628211ull;
    for (size_t i = len - tail; i < len; i++)
        h = (h ^ pkt[i]) * 1099511628211ull;
    return h | 1; /* 0 marks an empty slot */
}

static bool dup_seen(const struct rd_stream *s, uint64_t fp)
{
    for (size_t i = 0; i < DUP_WINDOW; i++)
        if (s->dup_fp[i] == fp)
            return true;
    return false;
}

static void dup_remember(struct rd_stream *s, uint64_t fp)
{
    s->dup_fp[s->dup_next] = fp;
    s->dup_next = (s->dup_next + 1) % DUP_WINDOW;
}

/* Unprotect with the current session; during a re-key, try the other key
 * too (on a copy: a failed GCM try may leave garbage in the buffer). */
static enum sr_err unprotect_any(struct rec_eng *e, struct rd_stream *s, uint8_t *pkt,
                                 size_t *len, bool rtcp)
{
    size_t len0 = *len;
    enum sr_err err, err2;

    if (!s->srtp)
        return SR_OK; /* bound to a plain (keyless) binding: RTP as received */
    if (s->alt)
        memcpy(e->scratch, pkt, len0 <= PKT_CAP ? len0 : PKT_CAP);
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
    if ((err != SR_EAUTH && err != SR_ENOKEY && err != SR_EREPLAY) || len0 > PKT_CAP)
        return err;
    memcpy(pkt, e->scratch, len0);
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

/* A replay whose fingerprint is one of the stream's last recorded packets
 * is the same packet seen twice (a mirror), not an attack: counted apart,
 * and not in the trailer (nothing of the call was lost). */
static void count_crypto_err(struct rec_eng *e, struct rd_stream *s, enum sr_err err, uint64_t fp)
{
    if (err == SR_EREPLAY && dup_seen(s, fp)) {
        e->st.duplicates++;
    } else if (err == SR_EAUTH || err == SR_ENOKEY) {
        e->st.auth_fail++;
        s->call->counts.auth_fail++;
    } else if (err == SR_EREPLAY) {
        e->st.replay++;
        s->call->counts.replay++;
    } else {
        e->st.malformed++;
        s->call->counts.malformed++;
    }
}

static void count_storage_err(struct rec_eng *e, struct rd_stream *s)
{
    e->st.storage_err++;
    s->call->counts.overload++;
}

static void stream_info(const struct rd_stream *s, bool rtcp, struct stor_stream_info *si)
{
    const struct sipev_stream *d = &s->bind->desc;

    memset(si, 0, sizeof(*si));
    si->ssrc = s->flow.ssrc;
    si->plain = d->plain; /* the archive says it was never authenticated */
    si->direction = d->direction == SIPEV_DIR_SEND ? STOR_DIR_SEND : STOR_DIR_RECV;
    if (rtcp) {
        snprintf(si->codec, sizeof(si->codec), "rtcp");
        si->clock_rate = d->clock_rate ? d->clock_rate : 8000;
        snprintf(si->label, sizeof(si->label), "%.58s/rtcp", d->id);
    } else {
        si->payload_type = d->payload_type;
        snprintf(si->codec, sizeof(si->codec), "%s", d->codec);
        si->clock_rate = d->clock_rate;
        snprintf(si->label, sizeof(si->label), "%s", d->id);
    }
}

/* Where a packet that authenticated under a key of unknown ROC is: the ROC
 * the search found and its sequence number. */
struct roc_pos {
    uint32_t roc;
    uint16_t seq;
};

/* The session parameters of binding b for SSRC ssrc.  fresh: a new SSRC of
 * a stream already bound (hold/unhold, re-INVITE): its ROC starts at 0 and
 * its sequence is unknown, so the disclosed position does not apply.  pos
 * (may be NULL): the position a ROC search found, in place of the disclosed
 * one. */
static void binding_cfg(const struct rd_binding *b, uint32_t ssrc, bool fresh,
                        const struct roc_pos *pos, struct rec_srtp_cfg *sc)
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
    sc->roc = fresh || d->roc_unknown ? 0 : d->roc;
    sc->seq = d->seq;
    sc->have_seq = !fresh && !d->roc_unknown;
    if (pos) {
        sc->roc = pos->roc;
        sc->seq = pos->seq;
        sc->have_seq = true;
    }
}

/* The highest ROC a stream of call c can carry now: ROC_PPS_MAX packets a
 * second since the dialog started, plus one for a random first sequence
 * number (RFC 3550 5.1), and at least ROC_CEILING_MIN.  The wall clock is
 * the injected one. */
static uint32_t roc_ceiling(const struct rec_eng *e, const struct rd_call *c)
{
    uint64_t now = wall(e), age_s, hi;

    age_s = now > c->start_wall_us ? (now - c->start_wall_us + 999999u) / 1000000u : 0;
    hi = (age_s * ROC_PPS_MAX + 65535u) / 65536u + 1u;
    if (hi < ROC_CEILING_MIN)
        hi = ROC_CEILING_MIN;
    return hi > UINT32_MAX ? UINT32_MAX : (uint32_t)hi;
}

/* Search the ROC of RTP packet pkt under b's keys (ROC unknown to its
 * discloser), within the stream's budget and the engine's per second;
 * every attempt is counted, and a stream whose budget runs out without a
 * find once. */
static bool roc_search(struct rec_eng *e, struct rd_stream *s, const struct rd_binding *b,
                       const uint8_t *pkt, size_t len, struct roc_pos *pos)
{
    struct rec_srtp_cfg sc;
    struct rec_rtp h;
    size_t left = ROC_SEARCH_STREAM_BUDGET - s->roc_tries, tries = 0;
    uint32_t hi = roc_ceiling(e, b->call);
    uint64_t now = mono(e);
    enum sr_err err;

    if (left == 0 || rec_rtp_parse(pkt, len, true, &h, NULL) != SR_OK)
        return false;
    if (now >= e->roc_window_us + 1000000u) {
        e->roc_window_us = now;
        e->roc_in_window = 0;
    }
    if (e->roc_in_window >= ROC_SEARCH_BUDGET_PER_S)
        return false; /* the next packet tries again */
    if (left > ROC_SEARCH_BUDGET_PER_S - e->roc_in_window)
        left = ROC_SEARCH_BUDGET_PER_S - e->roc_in_window;
    binding_cfg(b, h.ssrc, false, NULL, &sc);
    err = rec_srtp_find_roc(&sc, pkt, len, hi, left, &pos->roc, &tries);
    sr_wipe(&sc, sizeof(sc));
    s->roc_tries = (uint16_t)(s->roc_tries + tries);
    e->roc_in_window += tries;
    e->st.roc_tries += tries;
    if (err == SR_OK) {
        pos->seq = h.seq;
        e->st.roc_found++;
        log_info("call %s: stream %s SSRC %08x: ROC %u found (searched %u..0, %zu tries)",
                 b->call->call_id, b->desc.id, h.ssrc, pos->roc, hi, tries);
        return true;
    }
    if (s->roc_tries >= ROC_SEARCH_STREAM_BUDGET) {
        e->st.roc_failed++;
        log_warn("call %s: SSRC %08x: no ROC up to %u authenticates under key of stream %s: "
                 "search given up", b->call->call_id, h.ssrc, hi, b->desc.id);
    }
    return false;
}

/* A stream an SRTCP packet bound under a key of unknown ROC: its first RTP
 * packets search the ROC, and the session starts again from what they find. */
static void roc_settle(struct rec_eng *e, struct rd_stream *s, const uint8_t *pkt, size_t len)
{
    struct rec_srtp_cfg sc;
    struct rec_srtp *n = NULL;
    struct roc_pos pos;

    if (!roc_search(e, s, s->bind, pkt, len, &pos))
        return;
    binding_cfg(s->bind, s->flow.ssrc, false, &pos, &sc);
    if (rec_srtp_create(&n, &sc) == SR_OK) {
        rec_srtp_destroy(s->srtp);
        s->srtp = n;
        s->roc_search = false;
        s->highest_ext_seq = ((uint64_t)pos.roc << 16) | pos.seq;
    }
    sr_wipe(&sc, sizeof(sc));
}

static void record_rtp(struct rec_eng *e, struct rd_stream *s, uint8_t *pkt, size_t len,
                       uint64_t arrival_us)
{
    struct rec_rtp rtp;
    struct stor_pkt sp;
    uint64_t fp = pkt_fingerprint(pkt, len);
    enum sr_err err;

    if (s->roc_search)
        roc_settle(e, s, pkt, len);
    err = unprotect_any(e, s, pkt, &len, false);

    if (err) {
        count_crypto_err(e, s, err, fp);
        return;
    }
    dup_remember(s, fp);
    if (rec_rtp_parse(pkt, len, false, &rtp, NULL) != SR_OK) {
        e->st.malformed++;
        s->call->counts.malformed++;
        return;
    }
    if (!s->rtp_added) {
        struct stor_stream_info si;
        stream_info(s, false, &si);
        if (e->cfg.ops->add_stream(e->cfg.ops_arg, s->call->arch, &si, &s->stor_idx) != SR_OK) {
            count_storage_err(e, s);
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
    if (e->cfg.ops->packet(e->cfg.ops_arg, s->call->arch, s->stor_idx, &sp, REC_PKT_RTP) !=
        SR_OK) {
        count_storage_err(e, s);
        return;
    }
    e->st.recorded++;
    s->call->counts.packets++;
}

/* SRTCP is decrypted and kept whole in a logical stream of its own
 * ("rtcp", label "<stream id>/rtcp"): its sender reports map RTP time to
 * wall-clock time.  Exports of audio skip it (not a codec they know). */
static void record_rtcp(struct rec_eng *e, struct rd_stream *s, uint8_t *pkt, size_t len,
                        uint64_t arrival_us)
{
    struct stor_pkt sp = { 0 };
    uint64_t fp = pkt_fingerprint(pkt, len);
    enum sr_err err = unprotect_any(e, s, pkt, &len, true);

    if (err) {
        count_crypto_err(e, s, err, fp);
        return;
    }
    dup_remember(s, fp);
    if (!s->rtcp_added) {
        struct stor_stream_info si;
        stream_info(s, true, &si);
        if (e->cfg.ops->add_stream(e->cfg.ops_arg, s->call->arch, &si, &s->rtcp_idx) != SR_OK) {
            count_storage_err(e, s);
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
    if (e->cfg.ops->packet(e->cfg.ops_arg, s->call->arch, s->rtcp_idx, &sp, REC_PKT_RTCP) !=
        SR_OK) {
        count_storage_err(e, s);
        return;
    }
    e->st.rtcp++;
}

static void record_held(void *arg, uint8_t *pkt, size_t len, uint64_t ts_us, unsigned flags)
{
    struct drain_ctx *d = arg;

    if (flags & 1u)
        record_rtcp(d->e, d->s, pkt, len, ts_us);
    else
        record_rtp(d->e, d->s, pkt, len, ts_us);
}

/* Attach unbound s to the call and key that b describes, then drain its
 * held packets.  On failure s stays unbound (and on e->unbound). */
static void stream_bind(struct rec_eng *e, struct rd_stream *s, struct rd_binding *b, bool fresh,
                        const struct roc_pos *pos)
{
    struct rec_srtp_cfg sc;
    const struct sipev_stream *d = &b->desc;
    struct rec_srtp *srtp = NULL;
    struct drain_ctx ctx = { e, s };
    struct key_source *ks = b->call->ks;
    enum sr_err err;
    char kid[17];

    if (ks && ks->n_streams >= e->cfg.max_streams_per_source) {
        e->st.quota_refused++;
        return;
    }
    if (d->plain) {
        snprintf(kid, sizeof(kid), "(plain RTP)");
        err = SR_OK;
    } else {
        binding_cfg(b, s->flow.ssrc, fresh, pos, &sc);
        err = rec_srtp_create(&srtp, &sc);
        sr_wipe(&sc, sizeof(sc));
        sr_key_id(d->keys[0].master, d->keys[0].master_len, kid);
    }
    if (err) {
        log_error("call %s: SRTP session for SSRC %08x (key %s) failed: %s", b->call->call_id,
                  s->flow.ssrc, kid, sr_strerror(err));
        return;
    }
    unbound_remove(e, s);
    if (ks)
        ks->n_streams++;
    s->srtp = srtp;
    s->rtp_added = false;
    s->enc_added = false;
    s->call = b->call;
    s->bind = b;
    s->paused = d->state == SIPEV_STREAM_PAUSED;
    b->n_streams++;
    if (d->plain)
        e->st.plain_bound++;
    s->have_ts = false;
    s->highest_ext_seq = pos     ? ((uint64_t)pos->roc << 16) | pos->seq
                         : fresh || d->roc_unknown ? 0
                                                   : ((uint64_t)d->roc << 16) | d->seq;
    /* Bound by SRTCP (its index is in the packet) under a key of unknown
     * ROC: the first RTP packet still searches. */
    s->roc_search = !pos && !fresh && d->roc_unknown && !d->plain;
    s->next = b->call->streams;
    b->call->streams = s;
    log_info("call %s: stream %s SSRC %08x bound to key %s (%s, ROC %u%s)", b->call->call_id,
             d->id, s->flow.ssrc, kid, d->codec, (unsigned)(s->highest_ext_seq >> 16),
             s->roc_search ? ", unknown yet" : "");
    rec_held_drain(e->held, &s->held, record_held, &ctx);
}

struct trial_set {
    struct rd_binding *b[REC_SRTP_MAX_TRIAL];
    bool fresh[REC_SRTP_MAX_TRIAL];
    size_t n;
};

static void trial_add(struct trial_set *ts, struct rd_binding *b, bool fresh)
{
    if (b->desc.plain)
        return; /* nothing to authenticate: bound by destination (plain_bind) */
    for (size_t k = 0; k < ts->n; k++)
        if (ts->b[k] == b)
            return;
    if (ts->n < REC_SRTP_MAX_TRIAL) {
        ts->b[ts->n] = b;
        ts->fresh[ts->n++] = fresh;
    }
}

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

/* The keys disclosed for this SSRC, from every key source, that admit the
 * stream's source: tried on every packet until one authenticates. */
static void trial_exact(struct rec_eng *e, const struct rd_stream *s, struct trial_set *ts)
{
    struct rec_flow key = ssrc_key(s->flow.ssrc);

    for (struct rd_binding *b = rec_streams_lookup(e->bind_tab, &key); b; b = b->ssrc_next)
        if (!b->call->ended && binding_admits(b, s))
            trial_add(ts, b, false);
}

/* The wider candidates, in order: (a) the keys of streams already bound
 * that came from the same source (an SSRC change of that stream) or from
 * the neighbouring port with the same SSRC (the RTP or RTCP half of a
 * stream bound first); (b) keys disclosed without an SSRC that no packet has
 * been bound to yet; (c) keys disclosed with an SSRC no packet has used (a
 * party that disclosed, or put in its SDP, an SSRC it does not send).
 * Newest calls first; at most REC_SRTP_MAX_TRIAL in all. */
static void trial_wide(struct rec_eng *e, const struct rd_stream *s, struct trial_set *ts)
{
    for (struct rd_call *c = e->calls; c && ts->n < REC_SRTP_MAX_TRIAL; c = c->next)
        for (struct rd_stream *o = c->unmatched ? NULL : c->streams; o; o = o->next) {
            int rel = o->bind ? source_relation(&o->flow, &s->flow) : 0;
            if (rel)
                trial_add(ts, o->bind, rel == 2);
        }
    for (int pass = 0; pass < 2; pass++)
        for (struct rd_call *c = e->calls; c && ts->n < REC_SRTP_MAX_TRIAL; c = c->next) {
            if (c->unmatched || c->ended)
                continue;
            for (size_t i = 0; i < c->n_bindings; i++) {
                struct rd_binding *b = c->bindings[i];
                if (b->n_streams == 0 && b->desc.ssrc_known == (pass == 1) &&
                    binding_admits(b, s))
                    trial_add(ts, b, false);
            }
        }
}

/* Trial-authenticate pkt (not modified) against ts; bind s on success. */
static bool trial_bind(struct rec_eng *e, struct rd_stream *s, struct trial_set *ts,
                       const uint8_t *pkt, size_t len, bool is_rtcp)
{
    struct rec_srtp_cfg cands[REC_SRTP_MAX_TRIAL];
    uint8_t copy[PKT_CAP];
    size_t idx[REC_SRTP_MAX_TRIAL], n = 0, which = 0, l = len;
    struct roc_pos pos, *found = NULL;
    enum sr_err err = SR_EAUTH;

    if (!ts->n || len > sizeof(copy))
        return false;
    /* An RTP packet under a key whose ROC nobody disclosed is searched
     * apart (below); every other candidate authenticates at the disclosed
     * position, as before, at no extra cost. */
    for (size_t i = 0; i < ts->n; i++)
        if (is_rtcp || ts->fresh[i] || !ts->b[i]->desc.roc_unknown) {
            binding_cfg(ts->b[i], s->flow.ssrc, ts->fresh[i], NULL, &cands[n]);
            idx[n++] = i;
        }
    e->st.trial_tries += ts->n;
    if (n) {
        memcpy(copy, pkt, len);
        err = rec_srtp_trial(cands, n, copy, &l, is_rtcp, &which, NULL);
        sr_wipe(cands, sizeof(cands));
        sr_wipe(copy, sizeof(copy));
        if (err == SR_OK)
            which = idx[which];
    }
    for (size_t i = 0; err != SR_OK && i < ts->n; i++)
        if (!is_rtcp && !ts->fresh[i] && ts->b[i]->desc.roc_unknown &&
            roc_search(e, s, ts->b[i], pkt, len, &pos)) {
            which = i;
            found = &pos;
            err = SR_OK;
        }
    if (err != SR_OK)
        return false;
    e->st.trial_bound++;
    if (ts->fresh[which]) {
        e->st.ssrc_changes++;
        log_info("call %s: SSRC %08x from the source of stream %s: a new SSRC of that stream",
                 ts->b[which]->call->call_id, s->flow.ssrc, ts->b[which]->desc.id);
    }
    stream_bind(e, s, ts->b[which], ts->fresh[which], found);
    return s->bind != NULL;
}

/* Try to bind unbound s with this packet: the exact-SSRC keys on every
 * packet, the wider set on the first and then every TRIAL_EVERY packets,
 * within the engine's trial budget. */
static void try_bind(struct rec_eng *e, struct rd_stream *s, const uint8_t *pkt, size_t len,
                     bool is_rtcp)
{
    struct trial_set ts = { .n = 0 };
    size_t n_exact;

    trial_exact(e, s, &ts);
    n_exact = ts.n;
    if (ts.n && trial_bind(e, s, &ts, pkt, len, is_rtcp))
        return;
    if (s->trial_countdown) {
        s->trial_countdown--;
        return;
    }
    s->trial_countdown = TRIAL_EVERY;
    /* The wide set after the exact one, without the keys this packet has
     * just failed (a key disclosed with an SSRC no packet has used is in
     * both): each is tried, and each ROC searched, once a packet. */
    trial_wide(e, s, &ts);
    ts.n -= n_exact;
    memmove(ts.b, ts.b + n_exact, ts.n * sizeof(ts.b[0]));
    memmove(ts.fresh, ts.fresh + n_exact, ts.n * sizeof(ts.fresh[0]));
    if (!ts.n)
        return;
    if (!window_take(&e->trial_window_us, &e->trials_in_window, mono(e), 1000000u,
                     TRIAL_BUDGET_PER_S / REC_SRTP_MAX_TRIAL)) {
        s->trial_countdown = 0; /* the next packet tries again */
        return;
    }
    trial_bind(e, s, &ts, pkt, len, is_rtcp);
}

/* A plain binding takes the streams sent to its destination from one source
 * address: the first stream's.  Plain RTP authenticates nothing, so a
 * second sender to the session's port (an injection, or a stray) is not
 * mixed into the recording: it waits as an unbound stream and is kept as
 * received, apart, once key-wait-ms is over. */
static bool plain_admits(const struct rd_binding *b, const struct rd_stream *s)
{
    if (!b->desc.plain || b->call->ended || !binding_admits(b, s))
        return false;
    if (!b->n_streams)
        return true;
    for (const struct rd_stream *o = b->call->streams; o; o = o->next)
        if (o->bind == b)
            return memcmp(o->flow.addr, s->flow.addr, sizeof(o->flow.addr)) == 0;
    return false;
}

/* Bind new stream s to the plain binding of its destination, if one
 * admits it.  Only for a stream's first packet and for a plain binding's
 * arrival (bind_waiting): never per packet of an unbound stream. */
static void plain_bind(struct rec_eng *e, struct rd_stream *s)
{
    if (!e->n_plain || !flow_known(&s->dst))
        return;
    for (struct rd_call *c = e->calls; c; c = c->next) {
        if (c->unmatched || c->ended)
            continue;
        for (size_t i = 0; i < c->n_bindings; i++)
            if (plain_admits(c->bindings[i], s)) {
                stream_bind(e, s, c->bindings[i], true, NULL);
                return;
            }
    }
}

static void flood_log(struct rec_eng *e, const char *what, const struct rec_flow *f)
{
    char src[SIPEV_STR];
    uint64_t now = mono(e);

    if (e->flood_logged_us && now < e->flood_logged_us + 10000000u)
        return;
    e->flood_logged_us = now;
    flow_addr_str(f, src, sizeof(src));
    log_warn("new flows refused (%s), e.g. SSRC %08x from %s: a flood of unknown SSRCs; "
             "counted in the metrics, this warning at most every 10 s",
             what, f->ssrc, src);
}

/* A new stream for a packet of an unknown flow, or NULL (counted). */
static struct rd_stream *stream_new(struct rec_eng *e, const struct rec_flow *flow,
                                    const struct rec_flow *dst)
{
    struct rec_flow sk = ssrc_key(flow->ssrc), ak = addr_key(flow);
    bool disclosed = rec_streams_lookup(e->bind_tab, &sk) != NULL;
    struct eng_source *src = rec_streams_lookup(e->src_tab, &ak);
    struct rd_stream *s;

    /* A flow whose SSRC a key source disclosed is never refused by the
     * flood caps: a storm of random SSRCs cannot lock out a real call. */
    if (!disclosed && e->n_unbound >= e->cfg.max_unbound) {
        e->st.unbound_full++;
        flood_log(e, "too many streams wait for keys", flow);
        return NULL;
    }
    if (!disclosed && src && src->n_unbound >= e->cfg.max_unbound_per_source) {
        e->st.source_full++;
        flood_log(e, "too many streams from one address wait for keys", flow);
        return NULL;
    }
    if (!src) {
        src = calloc(1, sizeof(*src));
        if (!src || rec_streams_insert(e->src_tab, &ak, src) != SR_OK) {
            free(src);
            e->st.no_stream_slot++;
            return NULL;
        }
        src->key = ak;
    }
    s = calloc(1, sizeof(*s));
    if (!s || rec_streams_insert(e->table, flow, s) != SR_OK) {
        free(s);
        if (src->n_unbound == 0) {
            rec_streams_remove(e->src_tab, &ak, NULL);
            free(src);
        }
        e->st.no_stream_slot++;
        return NULL;
    }
    s->flow = *flow;
    s->dst = *dst;
    s->dst.ssrc = 0;
    s->src = src;
    src->n_unbound++;
    s->first_us = e->pkt_now_us;
    s->next = e->unbound;
    e->unbound = s;
    e->n_unbound++;
    return s;
}

void rec_eng_packet(struct rec_eng *e, const struct rec_eng_pkt *p)
{
    struct rec_rtp rtp;
    struct rec_rtcp rtcp;
    struct rec_flow flow;
    struct rd_stream *s;
    const char *why = NULL;
    uint8_t *pkt = p->data;
    size_t len = p->len;
    bool is_rtcp = rec_pkt_is_rtcp(pkt, len);

    e->st.rx++;
    e->pkt_now_us = p->now_us ? p->now_us : mono(e);
    if (is_rtcp ? rec_rtcp_parse(pkt, len, true, &rtcp, &why) != SR_OK
                : rec_rtp_parse(pkt, len, true, &rtp, &why) != SR_OK) {
        e->st.malformed++;
        log_debug("dropped a malformed packet: %s", why ? why : "?");
        return;
    }
    flow = p->src;
    flow.ssrc = is_rtcp ? rtcp.ssrc : rtp.ssrc;
    s = rec_streams_lookup(e->table, &flow);
    if (!s && is_rtcp && flow.port > 0) {
        /* RTCP without rtcp-mux comes from the RTP port + 1 (RFC 3550
         * 11): it belongs to that stream, not to a stream of its own. */
        struct rec_flow rtp_flow = flow;
        struct rd_stream *o;
        rtp_flow.port--;
        o = rec_streams_lookup(e->table, &rtp_flow);
        if (o && o->bind) {
            o->last_us = e->pkt_now_us;
            if (o->paused)
                e->st.paused++;
            else
                record_rtcp(e, o, pkt, len, p->arrival_wall_us);
            return;
        }
    }
    if (!s) {
        if (!(s = stream_new(e, &flow, &p->dst)))
            return;
        plain_bind(e, s);
    }
    s->last_us = e->pkt_now_us;
    if (!s->bind)
        try_bind(e, s, pkt, len, is_rtcp);
    if (!s->bind) {
        if (s->key_wait_over) {
            record_encrypted(e, s, pkt, len, p->arrival_wall_us, is_rtcp);
        } else if (rec_held_push(e->held, &s->held, pkt, len, p->arrival_wall_us,
                                 is_rtcp ? 1u : 0u) == SR_OK) {
            e->st.held++;
        } else {
            e->st.held_full++; /* not dropped: kept as received */
            record_encrypted(e, s, pkt, len, p->arrival_wall_us, is_rtcp);
        }
        return;
    }
    if (s->paused) {
        /* PCI DSS pause: the endpoint says this part of the call must not
         * be recorded (a card number being read out). */
        e->st.paused++;
        return;
    }
    if (is_rtcp)
        record_rtcp(e, s, pkt, len, p->arrival_wall_us);
    else
        record_rtp(e, s, pkt, len, p->arrival_wall_us);
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
static void binding_rekey(struct rec_eng *e, struct rd_binding *b, const struct sipev_stream *d)
{
    char kid[17];

    sr_wipe(b->desc.keys, sizeof(b->desc.keys));
    memcpy(b->desc.keys, d->keys, sizeof(d->keys));
    b->desc.n_keys = d->n_keys;
    e->st.rekeys++;
    sr_key_id(d->keys[0].master, d->keys[0].master_len, kid);
    if (e->cfg.log_keys)
        log_info("call %s: stream %s re-keyed to key %s", b->call->call_id, d->id, kid);
    for (struct rd_stream *s = b->call->streams; s; s = s->next) {
        struct rec_srtp_cfg sc;
        struct rec_srtp *n = NULL;
        if (s->bind != b || !s->srtp)
            continue;
        binding_cfg(b, s->flow.ssrc, false, NULL, &sc);
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

/* Add b to the chain of its SSRC (another key source may disclose the same
 * SSRC: both are candidates). */
static void binding_chain(struct rec_eng *e, struct rd_binding *b)
{
    struct rec_flow key = ssrc_key(b->desc.ssrc);
    struct rd_binding *head = rec_streams_lookup(e->bind_tab, &key);

    if (head) {
        b->ssrc_next = head->ssrc_next;
        head->ssrc_next = b;
        b->in_tab = true;
        if (e->cfg.log_keys)
            log_notice("call %s: SSRC %08x is also disclosed for call %s (%s): both keys are "
                       "candidates, the one that authenticates binds", b->call->call_id,
                       b->desc.ssrc, head->call->call_id, head->call->peer);
        return;
    }
    if (rec_streams_insert(e->bind_tab, &key, b) == SR_OK)
        b->in_tab = true;
}

/* A key came: let every unbound stream it may belong to try its oldest held
 * packet now, and its next packet anyway. */
static void bind_waiting(struct rec_eng *e, struct rd_binding *b)
{
    if (b->desc.plain) {
        for (struct rd_stream *s = e->unbound, *nx; s; s = nx) {
            nx = s->next;
            if (plain_admits(b, s))
                stream_bind(e, s, b, true, NULL);
        }
        return;
    }
    for (struct rd_stream *s = e->unbound, *nx; s; s = nx) {
        struct trial_set ts = { .n = 1 };
        const uint8_t *p;
        size_t l;
        unsigned fl;
        nx = s->next;
        if (b->desc.ssrc_known && s->flow.ssrc != b->desc.ssrc)
            continue; /* reached by the wide trial of its next packet */
        /* As for a packet after the disclosure (trial_exact, trial_wide):
         * a key names its fork source and destination.  Two disclosed calls
         * can share a key, SSRC and sequence (a media relay passing SRTP
         * through keeps them on both legs): only the addresses tell them
         * apart, and the held packets of one leg must not bind the other. */
        if (!binding_admits(b, s))
            continue;
        s->trial_countdown = 0;
        if (rec_held_peek(e->held, &s->held, &p, &l, &fl) != SR_OK)
            continue;
        ts.b[0] = b;
        ts.fresh[0] = false;
        trial_bind(e, s, &ts, p, l, fl & 1u);
        if (b->n_streams && !b->desc.ssrc_known)
            break; /* an SSRC-less key serves one stream */
    }
}

static void apply_stream(struct rec_eng *e, struct rd_call *c, const struct sipev_stream *d)
{
    struct rd_binding *b;
    char kid[17];

    if (!d->n_keys && !d->plain)
        return;
    if (d->plain && (d->n_keys || !d->dst[0])) {
        /* Only the session's own port can say which packets are its own. */
        if (e->cfg.log_keys)
            log_warn("call %s: plain stream %s without a destination (or with keys): ignored",
                     c->call_id, d->id);
        return;
    }
    b = binding_by_id(c, d->id);
    if (b && b->desc.plain != d->plain) {
        if (e->cfg.log_keys)
            log_warn("call %s: stream %s changed between plain RTP and SRTP: the change is "
                     "ignored (a new m= line records it)", c->call_id, d->id);
        return;
    }
    if (b) {
        if (!keys_equal(&b->desc, d))
            binding_rekey(e, b, d);
        if (d->ssrc_known && !b->desc.ssrc_known) {
            b->desc.ssrc_known = true;
            b->desc.ssrc = d->ssrc;
            binding_chain(e, b);
            bind_waiting(e, b);
        }
        if (b->desc.state != d->state) {
            b->desc.state = d->state;
            for (struct rd_stream *s = c->streams; s; s = s->next)
                if (s->bind == b)
                    s->paused = d->state == SIPEV_STREAM_PAUSED;
        }
        return;
    }
    if (c->n_bindings == SR_ARRAY_LEN(c->bindings)) {
        if (e->cfg.log_keys)
            log_warn("call %s: more than %zu streams; stream %s ignored", c->call_id,
                     SR_ARRAY_LEN(c->bindings), d->id);
        return;
    }
    b = sr_secpool_alloc(e->bind_pool);
    if (!b)
        return;
    b->call = c;
    b->desc = *d;
    c->bindings[c->n_bindings++] = b;
    if (d->plain) {
        e->n_plain++;
        if (e->cfg.log_keys)
            log_info("call %s: stream %s is plain RTP to %s: recorded as received", c->call_id,
                     d->id, d->dst);
        bind_waiting(e, b);
        return;
    }
    sr_key_id(d->keys[0].master, d->keys[0].master_len, kid);
    if (d->ssrc_known) {
        if (e->cfg.log_keys)
            log_info("call %s: key %s disclosed for stream %s SSRC %08x", c->call_id, kid, d->id,
                     d->ssrc);
        binding_chain(e, b);
    } else if (e->cfg.log_keys) {
        log_info("call %s: key %s disclosed for stream %s without an SSRC: trial authentication",
                 c->call_id, kid, d->id);
    }
    bind_waiting(e, b);
}

static void call_end_after(struct rec_eng *e, struct rd_call *c, uint64_t linger_ms)
{
    if (c->ended)
        return;
    c->ended = true;
    c->close_at_us = mono(e) + linger_ms * 1000u;
    if (c->close_at_us < e->next_close_us)
        e->next_close_us = c->close_at_us;
}

static uint64_t call_last_media(const struct rd_call *c)
{
    uint64_t t = 0;

    for (const struct rd_stream *s = c->streams; s; s = s->next)
        if (s->last_us > t)
            t = s->last_us;
    return t;
}

/* A full state lists every call the key source still has (RFC 4235
 * semantics): a call of ours it omits has ended, e.g. while NOTIFYs were
 * coalesced.  But a full state too large for one message is split, and its
 * later parts are partial bodies: a call they list exists after all, so the
 * omitted call lingers (at least SWEEP_GRACE_MS) and is revived if a later
 * body lists it.  And a restarted keyagent's first full state omits calls
 * its endpoints have not disclosed again yet: a call whose media still
 * flows goes on (an orphan) until its media stops. */
static void sweep_full_state(struct rec_eng *e, const char *peer, const struct sipev_keybody *kb)
{
    uint64_t now = mono(e), linger_us = e->cfg.call_linger_ms * 1000u;

    struct key_source *ks = key_source_get(e, peer);

    for (size_t i = 0; i < kb->n_dialogs; i++) {
        struct rd_call *c = call_find(e, peer, kb->dialogs[i].call_id);
        if (c)
            c->listed_gen = e->kb_gen;
    }
    /* A deferred call the full state omits has ended before it opened. */
    for (struct pending_call **pp = ks ? &ks->pending : NULL; pp && *pp;) {
        bool listed = false;
        for (size_t i = 0; i < kb->n_dialogs && !listed; i++)
            listed = strcmp(kb->dialogs[i].call_id, (*pp)->d.call_id) == 0;
        if (listed) {
            pp = &(*pp)->next;
            continue;
        }
        struct pending_call *p = *pp;
        *pp = p->next;
        ks->n_pending--;
        pending_free(p);
    }
    for (struct rd_call *c = e->calls; c; c = c->next) {
        uint64_t last;
        if (c->unmatched || c->ended || c->orphan || c->listed_gen == e->kb_gen ||
            strcmp(c->peer, peer) != 0)
            continue;
        last = call_last_media(c);
        if (last && now < last + (linger_us > SWEEP_GRACE_MS * 1000u ? linger_us
                                                                        : SWEEP_GRACE_MS * 1000u)) {
            c->orphan = true;
            e->st.calls_kept++;
            log_notice("call %s: absent from %s's full state but its media flows: recording "
                       "goes on until the media stops", c->call_id, peer);
            continue;
        }
        if (e->cfg.log_keys)
            log_info("call %s: absent from %s's full state: ends unless listed again", c->call_id,
                     peer);
        call_end_after(e, c, e->cfg.call_linger_ms > SWEEP_GRACE_MS ? e->cfg.call_linger_ms
                                                                    : SWEEP_GRACE_MS);
        c->swept = true;
    }
}

/* A deferred call named again: merged (or dropped, if it ended before its
 * archive could open: its packets, if any, are kept encrypted).  true when
 * d was such a call. */
static bool defer_known(struct rec_eng *e, const char *peer, const struct sipev_dialog *d)
{
    struct key_source *ks = key_source_get(e, peer);
    struct pending_call **pp = ks ? pending_find(ks, d->call_id) : NULL, *p;

    if (!pp)
        return false;
    p = *pp;
    if (d->state == SIPEV_DIALOG_ENDED) {
        *pp = p->next;
        ks->n_pending--;
        pending_free(p);
        return true;
    }
    pending_merge(p, d);
    return true;
}

/* Over the key source's archive opens this second: the call opens in a
 * later second (rec_eng_tick), in disclosure order, its keys kept until
 * then.  Bounded by the source's call quota; past it, refused and counted. */
static void defer(struct rec_eng *e, const char *peer, const struct sipev_dialog *d)
{
    struct key_source *ks = key_source_get(e, peer);
    struct pending_call *p, **tail;

    if (!ks || ks->n_calls + ks->n_pending >= e->cfg.max_calls_per_source ||
        !(p = calloc(1, sizeof(*p)))) {
        e->st.quota_refused++;
        log_error("call %s from %s: refused: over this key source's call quota", d->call_id,
                  peer);
        return;
    }
    p->d = *d;
    for (tail = &ks->pending; *tail; tail = &(*tail)->next)
        ;
    *tail = p;
    ks->n_pending++;
    e->st.calls_deferred++;
}

static void apply_dialog_streams(struct rec_eng *e, struct rd_call *c, const struct sipev_dialog *d);

/* Open deferred calls as each source's window allows. */
static void pending_open(struct rec_eng *e)
{
    for (struct key_source *ks = e->sources; ks; ks = ks->next)
        while (ks->pending) {
            struct pending_call *p = ks->pending;
            struct rd_call *c = NULL;
            enum sr_err err = call_open(e, ks->name, &p->d, false, &c);
            if (err == SR_EAGAIN)
                break;
            ks->pending = p->next;
            ks->n_pending--;
            if (err)
                log_error("call %s from %s: cannot open an archive: %s", p->d.call_id, ks->name,
                          sr_strerror(err));
            else
                apply_dialog_streams(e, c, &p->d);
            pending_free(p);
        }
}

static void apply_dialog_streams(struct rec_eng *e, struct rd_call *c, const struct sipev_dialog *d)
{
    for (size_t j = 0; j < d->n_streams; j++)
        apply_stream(e, c, &d->streams[j]);
}

void rec_eng_keybody(struct rec_eng *e, const char *peer, const struct sipev_keybody *kb)
{
    e->kb_gen++;
    if (kb->full)
        sweep_full_state(e, peer, kb);
    for (size_t i = 0; i < kb->n_dialogs; i++) {
        const struct sipev_dialog *d = &kb->dialogs[i];
        struct rd_call *c = call_find(e, peer, d->call_id);
        if (!c) {
            enum sr_err err;
            if (defer_known(e, peer, d))
                continue;
            if (d->state == SIPEV_DIALOG_ENDED)
                continue;
            err = call_open(e, peer, d, false, &c);
            if (err == SR_EAGAIN) {
                defer(e, peer, d);
                continue;
            }
            if (err) {
                log_error("call %s from %s: cannot open an archive: %s", d->call_id, peer,
                          err == SR_ELIMIT ? "over this key source's or the recorder's call "
                                             "quota"
                                           : sr_strerror(err));
                continue;
            }
        } else if ((c->swept || c->orphan) && d->state != SIPEV_DIALOG_ENDED) {
            if (e->cfg.log_keys)
                log_info("call %s: listed again by %s: goes on", d->call_id, peer);
            c->ended = false;
            c->swept = false;
            c->orphan = false;
        }
        if (d->state != SIPEV_DIALOG_ENDED)
            call_parties(e, c, d);
        apply_dialog_streams(e, c, d);
        if (d->state == SIPEV_DIALOG_ENDED) {
            c->orphan = false;
            call_end_after(e, c, e->cfg.call_linger_ms);
        }
    }
}

/* -------------------------------------------------------------- set-up */

static uint64_t clock_mono(void *arg)
{
    (void)arg;
    return sr_now_us();
}

static uint64_t clock_wall(void *arg)
{
    (void)arg;
    return sr_wall_us();
}

static void cfg_resolve(struct rec_eng_cfg *c)
{
    if (!c->clock.mono_us)
        c->clock.mono_us = clock_mono;
    if (!c->clock.wall_us)
        c->clock.wall_us = clock_wall;
    if (!c->tick_ms)
        c->tick_ms = 1000;
    if (!c->max_unbound)
        c->max_unbound = c->max_streams / 4 ? c->max_streams / 4 : 1;
    if (!c->max_unbound_per_source)
        c->max_unbound_per_source = DEFAULT_PER_SOURCE;
    if (!c->max_held_packets)
        c->max_held_packets = 1;
    if (!c->max_held_per_stream)
        c->max_held_per_stream = 1;
    if (c->max_held_per_stream > c->max_held_packets)
        c->max_held_per_stream = c->max_held_packets;
    if (!c->unmatched_streams_per_min)
        c->unmatched_streams_per_min = DEFAULT_UNMATCHED_PER_MIN;
    if (!c->max_calls_per_source)
        c->max_calls_per_source = c->max_streams / 2;
    if (!c->max_streams_per_source)
        c->max_streams_per_source = c->max_streams;
    if (!c->opens_per_source_per_s)
        c->opens_per_source_per_s = DEFAULT_OPENS_PER_S;
}

enum sr_err rec_eng_create(struct rec_eng **out, const struct rec_eng_cfg *cfg)
{
    struct rec_held_cfg hc = { 0 };
    struct rec_eng *e;
    enum sr_err err;

    if (!out || !cfg || !cfg->ops || cfg->max_streams < 2)
        return SR_EINVAL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return SR_ENOMEM;
    e->cfg = *cfg;
    cfg_resolve(&e->cfg);
    atomic_init(&e->authorised, false);
    err = rec_streams_create(&e->table, e->cfg.max_streams);
    if (!err)
        err = rec_streams_create(&e->bind_tab, e->cfg.max_streams);
    if (!err)
        err = rec_streams_create(&e->src_tab, e->cfg.max_unbound + 1);
    if (!err)
        err = rec_calltab_create(&e->call_tab, e->cfg.max_streams / 2);
    if (!err)
        err = sr_secpool_create(&e->bind_pool, sizeof(struct rd_binding), "recorder key bindings");
    if (err)
        goto fail;
    hc.slots = e->cfg.max_held_packets;
    hc.slot_size = PKT_CAP;
    hc.per_stream_max = e->cfg.max_held_per_stream;
    hc.bytes = e->cfg.max_held_bytes;
    err = rec_held_create(&e->held, &hc);
    if (err)
        goto fail;
    e->next_scan_us = mono(e) + e->cfg.tick_ms * 1000u;
    e->next_close_us = UINT64_MAX;
    *out = e;
    return SR_OK;
fail:
    rec_eng_destroy(e, NULL);
    return err;
}

/* Archive the held packets of s encrypted: its key did not come in time. */
static void unbound_give_up(struct rec_eng *e, struct rd_stream *s)
{
    struct drain_ctx ctx = { e, s };
    char src[SIPEV_STR];
    const uint8_t *p;
    size_t l;
    unsigned fl;

    s->key_wait_over = true;
    if (!s->held.count)
        return;
    /* A last wide trial with the oldest held packet, whatever the countdown:
     * e.g. RTCP from the port next to a stream bound after it came. */
    if (rec_held_peek(e->held, &s->held, &p, &l, &fl) == SR_OK) {
        struct trial_set ts = { .n = 0 };
        trial_exact(e, s, &ts);
        trial_wide(e, s, &ts);
        if (trial_bind(e, s, &ts, p, l, fl & 1u))
            return;
    }
    /* One line per stream, but a flood of junk SSRCs must not flood the
     * log: a few per scan, then one summary (unbound_scan). */
    if (e->gave_up_in_scan++ < GIVE_UP_LOG_MAX) {
        flow_addr_str(&s->flow, src, sizeof(src));
        log_warn("SSRC %08x from %s: no key after %lu ms; %u packets kept encrypted",
                 s->flow.ssrc, src, e->cfg.key_wait_ms, s->held.count);
    }
    rec_held_drain(e->held, &s->held, record_held_encrypted, &ctx);
}

void rec_eng_destroy(struct rec_eng *e, struct rec_eng_stats *final)
{
    if (!e)
        return;
    /* unbound_give_up's last trial may bind s, which then leaves this list. */
    for (struct rd_stream *s = e->unbound, *nx; s; s = nx) {
        nx = s->next;
        unbound_give_up(e, s);
    }
    while (e->unbound) {
        struct rd_stream *s = e->unbound;
        unbound_remove(e, s);
        stream_free(e, s);
    }
    while (e->calls) {
        struct rd_call *c = e->calls;
        e->calls = c->next;
        call_close(e, c);
    }
    while (e->sources) {
        struct key_source *k = e->sources;
        e->sources = k->next;
        while (k->pending) {
            struct pending_call *p = k->pending;
            k->pending = p->next;
            pending_free(p);
        }
        free(k);
    }
    if (final) {
        const uint64_t *src = (const uint64_t *)&e->st;
        uint64_t *dst = (uint64_t *)final;
        /* Counters only: gauges of a stopped engine are zero. */
        for (size_t k = 0; k < REC_ENG_FIRST_GAUGE / sizeof(uint64_t); k++)
            dst[k] += src[k];
    }
    rec_held_destroy(e->held);
    rec_streams_destroy(e->table);
    rec_streams_destroy(e->src_tab);
    rec_calltab_destroy(e->call_tab);
    rec_streams_destroy(e->bind_tab);
    sr_secpool_destroy(e->bind_pool);
    free(e);
}

/* Streams whose key did not come within key-wait-ms are kept encrypted;
 * those idle for key-wait + linger after that are freed (a stream of a
 * flood, or one whose key never came).  At the tick cadence: a scan of the
 * unbound list, not per packet. */
static void unbound_scan(struct rec_eng *e, uint64_t now)
{
    uint64_t wait_us = e->cfg.key_wait_ms * 1000u,
             idle_us = (e->cfg.key_wait_ms + e->cfg.call_linger_ms) * 1000u;

    e->gave_up_in_scan = 0;
    for (struct rd_stream *s = e->unbound, *nx; s; s = nx) {
        nx = s->next;
        if (!s->key_wait_over && now >= s->first_us + wait_us)
            unbound_give_up(e, s);
        if (s->key_wait_over && now >= s->last_us + idle_us) {
            unbound_remove(e, s);
            stream_free(e, s);
            e->st.reaped++;
        }
    }
    if (e->gave_up_in_scan > GIVE_UP_LOG_MAX)
        log_warn("... and %zu more streams without a key after %lu ms (their packets are kept "
                 "encrypted or counted)", e->gave_up_in_scan - GIVE_UP_LOG_MAX, e->cfg.key_wait_ms);
}

/* Orphans (calls a full state omitted while their media flowed) end once
 * their media has stopped for call-linger-ms. */
static void orphan_scan(struct rec_eng *e, uint64_t now)
{
    uint64_t linger_us = e->cfg.call_linger_ms * 1000u;

    for (struct rd_call *c = e->calls; c; c = c->next) {
        if (!c->orphan || c->ended)
            continue;
        if (now >= call_last_media(c) + linger_us) {
            log_notice("call %s: its media stopped and %s never listed it again: ends",
                       c->call_id, c->peer);
            c->orphan = false;
            call_end_after(e, c, 0);
        }
    }
}

uint64_t rec_eng_tick(struct rec_eng *e, uint64_t now)
{
    uint64_t next;

    if (now >= e->next_scan_us) {
        e->next_scan_us = now + e->cfg.tick_ms * 1000u;
        unbound_scan(e, now);
        orphan_scan(e, now);
    }
    pending_open(e);
    next = e->next_scan_us;
    /* Walking thousands of calls on every loop wakeup cost more than a
     * packet's decryption: walk them only when some call may be due. */
    if (now >= e->next_close_us) {
        e->next_close_us = UINT64_MAX;
        for (struct rd_call **pp = &e->calls; *pp;) {
            struct rd_call *c = *pp;
            if (c->ended && now >= c->close_at_us) {
                *pp = c->next;
                e->n_calls--;
                call_close(e, c);
                continue;
            }
            if (c->ended && c->close_at_us < e->next_close_us)
                e->next_close_us = c->close_at_us;
            pp = &c->next;
        }
    }
    if (e->next_close_us < next)
        next = e->next_close_us;
    return next;
}

void rec_eng_set_authorised(struct rec_eng *e, bool authorised)
{
    atomic_store_explicit(&e->authorised, authorised, memory_order_relaxed);
}

void rec_eng_count_source_drops(struct rec_eng *e, uint64_t n)
{
    e->st.kernel_drops += n;
    /* Which call lost them is unknown: every call open now carries them in
     * its trailer (overload), an upper bound of what it may have lost. */
    for (struct rd_call *c = e->calls; n && c; c = c->next)
        if (!c->unmatched && !c->ended)
            c->counts.overload += n;
}

void rec_eng_stats(struct rec_eng *e, struct rec_eng_stats *out)
{
    struct rec_held_stats hs;

    rec_held_stats(e->held, &hs);
    e->st.streams = rec_streams_count(e->table);
    e->st.unbound_now = e->n_unbound;
    e->st.held_now = hs.in_use;
    e->st.held_slots = hs.slots;
    *out = e->st;
}
