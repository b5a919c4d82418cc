/** @file notifier.c  The RFC 6665 notifier for the event package "srtp".
 *
 * Each accepted connection is a sipev_conn; each subscription is a dialog
 * bound to the connection its SUBSCRIBE came on, and every NOTIFY goes back
 * over that connection (RFC 5923 reuse: subscribers sit behind NATs and
 * firewalls that only let the keyagent answer).  The notifier never tells an
 * unauthorised peer anything but 403: no NOTIFY, no Call-ID, no count.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ka_priv.h"
#include "log.h"
#include "util.h"

enum {
    NOTIFY_HDR_BUDGET = 2048,             /* NOTIFY header block; the body gets the rest */
    OUT_BODY_MAX = 16 * 1024 * 1024,      /* SIPEV_MAX_MSG bounds what may be sent */
    CONN_TX_SLACK = 256 * 1024,           /* responses queued beside a subscription's NOTIFYs */
    /* What a connection that is not (yet) an authorised subscriber's may
     * have queued: its 403s and 4xx.  One that does not read them is closed
     * at this bound instead of holding 16 MiB (docs/keyagent.md, "Connection
     * admission"). */
    CONN_TX_UNAUTH = 64 * 1024,
};

struct conn {
    struct ka_watch w;        /* first: epoll data.ptr points here */
    struct ka_notifier *n;
    struct sipev_conn *sc;    /* owned */
    bool want_out;
    bool dead;                /* close at the end of this iteration */
    bool authorised;          /* a subscription was accepted on it: reserved room, big send bound */
    uint64_t accepted_us;     /* the TLS handshake deadline counts from here */
    uint64_t last_active_us;  /* accept, then the last complete message (a trickle of
                                 bytes does not count) or NOTIFY sent */
    struct sockaddr_storage addr; /* peer address (port zeroed): the per-address limit */
};

struct sub {
    struct conn *conn;        /* borrowed; NULL once the connection is gone */
    char identity[SIPEV_STR]; /* verified subscriber identity */
    char call_id[SIPEV_STR];
    char local_tag[33];       /* our To-tag */
    char remote_tag[128];
    char local_uri[SIPEV_STR], remote_uri[SIPEV_STR], target[SIPEV_STR];
    char event_id[64];        /* Event: srtp;id=... ("" if none) */
    uint32_t remote_cseq, local_cseq;
    uint64_t expires_at_us;
    uint64_t version;         /* of the last NOTIFY body sent */
    bool sent_body;           /* version is meaningful */
    bool need_full;           /* new, refreshed, or changes held back while the
                                 window was full: send the full state */
    bool terminate;           /* send a final NOTIFY, then remove */
    bool fetch;               /* initial Expires: 0 (RFC 6665 4.4.3) */
    const char *term_reason;
    struct ka_nwin win;       /* NOTIFYs awaiting their final response */
    bool dead;
    bool dead_after_send;     /* final NOTIFY queued in msg */
    struct ka_filter entry_filter;        /* the allow entry's, copied (SIGHUP may replace the list) */
    struct ka_filter body_filter;         /* the SUBSCRIBE body's narrowing; empty: none */
    struct buf msg;           /* NOTIFYs prepared this iteration (hold keys: wiped) */
    bool heavy;               /* this flush: owed more than KA_LIGHT_DIALOGS dialogs */
};

struct ka_notifier {
    struct ka_notifier_cfg cfg;
    struct ka_authz authz;    /* own copy: cfg.authz only seeds it */
    uint64_t idle_conn_us;
    uint64_t handshake_us;
    /* Our Contact (RFC 3261 12.1.1: in every dialog-creating 2xx and each
     * NOTIFY): the listener's address, sips: on TLS, so it is reachable. */
    char contact[SIPEV_STR + 32];
    struct conn **conns;
    size_t n_conns;
    struct sub **subs;
    size_t n_subs;
    struct buf out;           /* scratch for printing messages */
    bool unsynced;            /* disclosure records appended since the last sync */
    struct ka_filter scratch_filter; /* a SUBSCRIBE's body filter while it is checked */
    /* Body scratch, reused by every NOTIFY: a dialog is about 17 KB, and a
     * fresh keybody per NOTIFY cost a calloc and a wipe of its whole
     * capacity (4 dialogs) for each subscriber.  Only the dialogs used are
     * wiped after each NOTIFY (docs/benchmarks.md, "Key disclosure"). */
    struct sipev_keybody kb;
    /* Bodies shared within one flush (docs/benchmarks.md, "Key disclosure"):
     * subscriptions with the same kind of body and the same filters see the
     * same dialogs, so their XML is printed once and only the <srtp-keys>
     * line (the version) differs.  Wiped at the end of every flush. */
    struct share {
        int kind;                      /* enum body_kind */
        const struct ka_filter *entry; /* a subscription's entry filter (stable in a flush) */
        const struct ka_filter *body;  /* a subscription's body filter (stable in a flush) */
        bool usable;                   /* false: print per subscription (split, error) */
        size_t n_dialogs;
        struct buf frag;               /* the <dialog> elements (keys) */
        struct buf recs;               /* per dialog with keys: "call-id\0key-ids\0" */
    } share[16];
    size_t n_share;
    struct buf body;                   /* one subscription's composed body (keys) */
};

enum { KB_SCRATCH_KEEP = 64 }; /* dialogs of capacity kept between NOTIFYs */

/* ------------------------------------------------------------ lifecycle */

enum sr_err ka_notifier_create(struct ka_notifier **out, const struct ka_notifier_cfg *cfg)
{
    struct ka_notifier *n;

    if (!out || !cfg || !cfg->calls || !cfg->authz || !cfg->entity || !cfg->via_host ||
        cfg->max_subscriptions == 0 || cfg->max_connections == 0 || cfg->min_expires == 0 ||
        cfg->reserved_connections >= cfg->max_connections ||
        cfg->default_expires < cfg->min_expires || cfg->max_expires < cfg->default_expires)
        return SR_EINVAL;
    /* Keys never travel on plain TCP unless the lab flag says so. */
    if (!cfg->tls && !cfg->lab_allow_plain)
        return SR_EINVAL;
    n = calloc(1, sizeof(*n));
    if (!n)
        return SR_ENOMEM;
    n->cfg = *cfg;
    n->authz = *cfg->authz;
    n->cfg.authz = &n->authz;
    if (cfg->tls)
        snprintf(n->contact, sizeof(n->contact), "<sips:%s>", cfg->via_host);
    else
        snprintf(n->contact, sizeof(n->contact), "<sip:%s;transport=tcp>", cfg->via_host);
    n->idle_conn_us = (uint64_t)(cfg->idle_conn_s ? cfg->idle_conn_s : KA_IDLE_CONN_S) * 1000000;
    n->handshake_us =
        (uint64_t)(cfg->handshake_s ? cfg->handshake_s : KA_HANDSHAKE_S) * 1000000;
    buf_init(&n->out, OUT_BODY_MAX);
    sipev_keybody_init(&n->kb);
    buf_init(&n->body, SIPEV_MAX_MSG - NOTIFY_HDR_BUDGET);
    for (size_t i = 0; i < SR_ARRAY_LEN(n->share); i++) {
        buf_init(&n->share[i].frag, SIPEV_MAX_MSG - NOTIFY_HDR_BUDGET);
        buf_init(&n->share[i].recs, OUT_BODY_MAX);
    }
    /* Twice the limit: connections evicted in an iteration stay in the array
     * (dead) until its flush frees them; only live ones count. */
    n->conns = calloc(cfg->max_connections * 2, sizeof(*n->conns));
    n->subs = calloc(cfg->max_subscriptions, sizeof(*n->subs));
    if (!n->conns || !n->subs) {
        ka_notifier_destroy(n);
        return SR_ENOMEM;
    }
    *out = n;
    return SR_OK;
}

static void sub_free(struct sub *s)
{
    if (!s)
        return;
    buf_fini(&s->msg); /* wipes */
    ka_nwin_fini(&s->win);
    sr_wipe(s, sizeof(*s));
    free(s);
}

static void conn_free(struct ka_notifier *n, struct conn *c)
{
    if (!c)
        return;
    if (c->sc) {
        epoll_ctl(n->cfg.epoll_fd, EPOLL_CTL_DEL, sipev_conn_fd(c->sc), NULL);
        sipev_conn_destroy(c->sc);
    }
    free(c);
}

void ka_notifier_destroy(struct ka_notifier *n)
{
    if (!n)
        return;
    for (size_t i = 0; n->subs && i < n->n_subs; i++)
        sub_free(n->subs[i]);
    for (size_t i = 0; n->conns && i < n->n_conns; i++)
        conn_free(n, n->conns[i]);
    free(n->subs);
    free(n->conns);
    buf_fini(&n->out);
    sipev_keybody_fini(&n->kb); /* wipes its whole capacity */
    buf_fini(&n->body);
    for (size_t i = 0; i < SR_ARRAY_LEN(n->share); i++) {
        buf_fini(&n->share[i].frag);
        buf_fini(&n->share[i].recs);
    }
    free(n);
}

size_t ka_notifier_subscriptions(const struct ka_notifier *n)
{
    return n ? n->n_subs : 0;
}

size_t ka_notifier_connections(const struct ka_notifier *n)
{
    return n ? n->n_conns : 0;
}

static uint64_t now_of(const struct ka_notifier *n)
{
    return n->cfg.now_us ? n->cfg.now_us(n->cfg.now_arg) : sr_now_us();
}

/* ------------------------------------------------------------- sending */

static void conn_update_events(struct ka_notifier *n, struct conn *c)
{
    bool want;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->w };

    if (c->dead || !c->sc)
        return;
    want = sipev_conn_want_write(c->sc);
    if (want == c->want_out)
        return;
    c->want_out = want;
    if (want)
        ev.events |= EPOLLOUT;
    epoll_ctl(n->cfg.epoll_fd, EPOLL_CTL_MOD, sipev_conn_fd(c->sc), &ev);
}

static void conn_send(struct conn *c, struct buf *msg)
{
    enum sr_err err;

    if (c->dead)
        return;
    err = sipev_conn_send(c->sc, msg->p, msg->len);
    if (err) {
        log_warn("connection to %s: cannot queue a message: %s", sipev_conn_peer(c->sc),
                 sr_strerror(err));
        c->dead = true;
    }
}

static void respond(struct conn *c, const struct sipev_msg *req, unsigned status,
                    const char *reason, const char *to_tag, const struct sipev_extra_hdr *extra,
                    size_t n_extra)
{
    struct buf *out = &c->n->out;
    enum sr_err err;

    buf_reset(out);
    err = sipev_resp_print(out, req, status, reason, to_tag, extra, n_extra, NULL, NULL, 0);
    if (err) {
        log_warn("cannot print a %u response: %s", status, sr_strerror(err));
        return;
    }
    conn_send(c, out);
}

/* "a-1:<keyid>,b-1:<keyid>" for the disclosure log; "" if no keys. */
static void key_ids_of(const struct sipev_dialog *d, struct buf *ids)
{
    for (size_t s = 0; s < d->n_streams; s++)
        for (size_t k = 0; k < d->streams[s].n_keys; k++) {
            char id[17];
            const struct sipev_key *key = &d->streams[s].keys[k];
            sr_key_id(key->master, key->master_len, id);
            buf_printf(ids, "%s%s:%s", ids->len ? "," : "", d->streams[s].id, id);
        }
}

/* Every (subscriber, call) whose keys this body carries goes on the record
 * before the NOTIFY leaves; if that fails, the keys do not leave. */
static enum sr_err disclose_record(struct ka_notifier *n, const struct sub *s,
                                   const struct sipev_keybody *kb)
{
    struct buf ids;
    enum sr_err err = SR_OK;

    if (!n->cfg.disclog) {
        if (n->cfg.metrics)
            n->cfg.metrics->disclosures += kb->n_dialogs;
        return SR_OK;
    }
    buf_init(&ids, 4096);
    for (size_t i = 0; i < kb->n_dialogs && !err; i++) {
        buf_reset(&ids);
        key_ids_of(&kb->dialogs[i], &ids);
        if (ids.len == 0)
            continue;
        err = ka_disclog_append(n->cfg.disclog, sr_wall_us(), s->identity, s->call_id,
                                kb->dialogs[i].call_id, kb->version, ids.p);
        if (!err) {
            n->unsynced = true;
            if (n->cfg.metrics)
                n->cfg.metrics->disclosures++;
        }
    }
    buf_fini(&ids);
    return err;
}

static unsigned remaining_s(const struct sub *s, uint64_t now)
{
    return s->expires_at_us > now ? (unsigned)((s->expires_at_us - now + 999999) / 1000000) : 0;
}

static void msg_clear(struct sub *s);

/* body: 0 none, 1 full state, 2 changes since the last settle. */
enum body_kind { BODY_NONE, BODY_FULL, BODY_PARTIAL };

/* What a NOTIFY carries, for the log line. */
struct notify_desc {
    const char *kind;  /* "full", "partial" or "-" (no body) */
    uint64_t version;
    size_t n_dialogs;
};

/* Print one NOTIFY with body (a printed key body, or NULL) onto s->msg and
 * start its client transaction (a final NOTIFY has none: the subscription
 * ends as it leaves). */
static enum sr_err notify_print_raw(struct ka_notifier *n, struct sub *s, const struct buf *body,
                                    struct notify_desc d, uint64_t now)
{
    char state[80], event[96], branch[40];
    struct sipev_extra_hdr extra[2];
    struct sipev_req r = { 0 };
    size_t mark = s->msg.len;
    enum sr_err err = SR_OK;

    if (s->terminate)
        snprintf(state, sizeof(state), "terminated;reason=%s", s->term_reason);
    else
        snprintf(state, sizeof(state), "active;expires=%u", remaining_s(s, now));
    snprintf(event, sizeof(event), "%s%s%s", SIPEV_EVENT_PACKAGE, s->event_id[0] ? ";id=" : "",
             s->event_id);
    extra[0] = (struct sipev_extra_hdr){ "Event", event };
    extra[1] = (struct sipev_extra_hdr){ "Subscription-State", state };
    memcpy(branch, "z9hG4bK", 7);
    sipev_random_token(branch + 7, sizeof(branch) - 7);
    r.method = "NOTIFY";
    r.ruri = s->target;
    r.via_transport = n->cfg.tls ? "TLS" : "TCP";
    r.via_host = n->cfg.via_host;
    r.branch = branch;
    r.via_alias = true;
    r.from_uri = s->local_uri;
    r.from_tag = s->local_tag;
    r.to_uri = s->remote_uri;
    r.to_tag = s->remote_tag;
    r.call_id = s->call_id;
    r.cseq = ++s->local_cseq;
    r.contact = n->contact;
    r.extra = extra;
    r.n_extra = 2;
    if (body) {
        r.content_type = SIPEV_KEYBODY_TYPE;
        r.body = body->p;
        r.body_len = body->len;
    }
    err = sipev_req_print(&s->msg, &r);
    if (err)
        return err;
    if (!s->terminate) {
        err = ka_nwin_start(&s->win, r.cseq, now);
        if (err) {
            sr_wipe(s->msg.p + mark, s->msg.len - mark);
            s->msg.len = mark;
            return err;
        }
    }
    if (n->cfg.metrics)
        n->cfg.metrics->notifies++;
    log_info("NOTIFY %s v%llu (%s, %zu calls) to %s", d.kind, (unsigned long long)d.version, state,
             d.n_dialogs, s->identity);
    return SR_OK;
}

/* Print one NOTIFY with kb as its body (or none) onto s->msg. */
static enum sr_err notify_print(struct ka_notifier *n, struct sub *s, const struct sipev_keybody *kb,
                                uint64_t now)
{
    struct buf body;
    struct notify_desc d = { "-", 0, 0 };
    enum sr_err err = SR_OK;

    buf_init(&body, SIPEV_MAX_MSG - NOTIFY_HDR_BUDGET);
    if (kb) {
        err = sipev_keybody_print(&body, kb);
        d = (struct notify_desc){ kb->full ? "full" : "partial", kb->version, kb->n_dialogs };
    }
    if (!err)
        err = notify_print_raw(n, s, kb ? &body : NULL, d, now);
    buf_fini(&body); /* wipes: it held keys */
    return err;
}

/* Wipe what the last NOTIFY put in the scratch body, keep its memory unless
 * a large full state grew it. */
static void kb_scratch_clear(struct sipev_keybody *kb)
{
    if (kb->cap_dialogs > KB_SCRATCH_KEEP) {
        sipev_keybody_fini(kb);
        return;
    }
    if (kb->dialogs)
        sr_wipe(kb->dialogs, kb->n_dialogs * sizeof(*kb->dialogs));
    kb->n_dialogs = 0;
    kb->version = 0;
    kb->full = false;
    kb->entity[0] = '\0';
}

/* Prepare what s must be told into s->msg (sent by flush after the
 * disclosure log is synced).  A body too large for one SIP message is split:
 * the first NOTIFY has the requested kind, the rest are partial, each with
 * the next version, so the subscriber ends with the same state. */
static void notify_prepare(struct ka_notifier *n, struct sub *s, enum body_kind kind, uint64_t now)
{
    struct sipev_keybody *kb = &n->kb;
    enum sr_err err = SR_OK;

    if (s->dead || !s->conn || s->conn->dead)
        return;
    kb_scratch_clear(kb);
    if (kind == BODY_NONE) {
        err = notify_print(n, s, NULL, now);
        goto out;
    }
    kb->full = kind == BODY_FULL;
    slice_copy_cstr(slice_cstr(n->cfg.entity), kb->entity, sizeof(kb->entity));
    err = ka_callstore_fill(n->cfg.calls, kb, kb->full, &s->entry_filter, &s->body_filter);
    if (err)
        goto out;
    /* A partial NOTIFY with nothing this subscriber may see is not sent at
     * all: an unmatched subscriber must not even learn that something
     * happened. */
    if (kind == BODY_PARTIAL && kb->n_dialogs == 0)
        goto out;
    size_t per = kb->n_dialogs ? kb->n_dialogs : 1;
    for (size_t off = 0; off < kb->n_dialogs || off == 0;) {
        struct sipev_keybody chunk = *kb;
        size_t mark = s->msg.len;

        chunk.dialogs = kb->dialogs + off;
        chunk.n_dialogs = kb->n_dialogs - off < per ? kb->n_dialogs - off : per;
        chunk.full = kb->full && off == 0;
        chunk.version = s->sent_body ? s->version + 1 : 0;
        err = notify_print(n, s, &chunk, now);
        if (err == SR_ELIMIT && per > 1) {
            s->msg.len = mark;
            per = (per + 1) / 2;
            err = SR_OK;
            continue;
        }
        if (err)
            break;
        err = disclose_record(n, s, &chunk);
        if (err) {
            log_error("disclosure log append failed (%s): ending subscription of %s",
                      sr_strerror(err), s->identity);
            break;
        }
        s->version = chunk.version;
        s->sent_body = true;
        off += chunk.n_dialogs;
        if (chunk.n_dialogs == 0)
            break;
    }
out:
    if (err) {
        /* Past SIPEV_MAX_MSG even for one call, or the log failed: end the
         * subscription rather than lie by omission. */
        if (err != SR_EIO)
            log_error("subscription %s (%s): cannot build a NOTIFY: %s", s->call_id,
                      s->identity, sr_strerror(err));
        msg_clear(s);
        s->dead = true;
    } else if (s->terminate) {
        s->dead_after_send = true;
    }
    kb_scratch_clear(kb);
}

/* s->msg held keys: wipe before reuse (buf_reset only forgets the length). */
static void msg_clear(struct sub *s)
{
    if (s->msg.p)
        sr_wipe(s->msg.p, s->msg.len);
    buf_reset(&s->msg);
}

/* Send what notify_prepare queued (the disclosure log is synced by now). */
static void notify_send_queued(struct sub *s, uint64_t now)
{
    if (s->msg.len == 0)
        return;
    if (!s->dead && s->conn && !s->conn->dead) {
        conn_send(s->conn, &s->msg);
        /* Traffic either way keeps a connection from being idle: a final
         * NOTIFY must not be followed by an idle close before its 200. */
        s->conn->last_active_us = now;
    }
    msg_clear(s);
    if (s->dead_after_send)
        s->dead = true;
}

/* ------------------------------------------------------- shared bodies */

static bool filter_eq(const struct ka_filter *a, const struct ka_filter *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->item[i].kind != b->item[i].kind || a->item[i].len != b->item[i].len ||
            memcmp(a->pool + a->item[i].off, b->pool + b->item[i].off, a->item[i].len) != 0)
            return false;
    return true;
}

/* Build sh for the subscriptions like s: fill the dialogs, print them once
 * (ka_kb_fragment_print), and note each dialog's disclosure record.  Anything unexpected leaves sh not
 * usable, and those subscriptions take the per-subscription path, which
 * also splits bodies too large for one message. */
static void share_build(struct ka_notifier *n, struct share *sh, const struct sub *s, int kind)
{
    struct sipev_keybody *kb = &n->kb;
    struct buf ids;
    enum sr_err err;

    sh->kind = kind;
    sh->entry = &s->entry_filter;
    sh->body = &s->body_filter;
    sh->usable = false;
    sh->n_dialogs = 0;
    kb_scratch_clear(kb);
    kb->full = kind == BODY_FULL;
    slice_copy_cstr(slice_cstr(n->cfg.entity), kb->entity, sizeof(kb->entity));
    if (ka_callstore_fill(n->cfg.calls, kb, kb->full, &s->entry_filter, &s->body_filter) != SR_OK)
        goto out;
    sh->n_dialogs = kb->n_dialogs;
    if (kind == BODY_PARTIAL && kb->n_dialogs == 0) {
        sh->usable = true; /* nothing for these subscriptions */
        goto out;
    }
    if (ka_kb_fragment_print(&sh->frag, kb, &n->body) != SR_OK)
        goto out;
    buf_init(&ids, 4096);
    err = SR_OK;
    for (size_t i = 0; i < kb->n_dialogs && !err; i++) {
        buf_reset(&ids);
        key_ids_of(&kb->dialogs[i], &ids);
        if (ids.len == 0)
            continue;
        err = buf_append(&sh->recs, kb->dialogs[i].call_id, strlen(kb->dialogs[i].call_id) + 1);
        if (!err)
            err = buf_append(&sh->recs, ids.p, ids.len + 1);
    }
    buf_fini(&ids);
    sh->usable = err == SR_OK;
out:
    if (!sh->usable) {
        sr_wipe(sh->frag.p, sh->frag.len);
        buf_reset(&sh->frag);
        buf_reset(&sh->recs);
    }
    kb_scratch_clear(kb);
}

/* The shared body for s and kind, built on first use; NULL when more
 * distinct filters than slots appear in one flush (per-subscription path). */
static struct share *share_get(struct ka_notifier *n, const struct sub *s, int kind)
{
    struct share *sh;

    for (size_t i = 0; i < n->n_share; i++) {
        sh = &n->share[i];
        if (sh->kind == kind && filter_eq(sh->entry, &s->entry_filter) &&
            filter_eq(sh->body, &s->body_filter))
            return sh;
    }
    if (n->n_share == SR_ARRAY_LEN(n->share))
        return NULL;
    sh = &n->share[n->n_share++];
    share_build(n, sh, s, kind);
    return sh;
}

/* End of a flush: the bodies held keys; keep the memory for the next one. */
static void share_clear(struct ka_notifier *n)
{
    for (size_t i = 0; i < n->n_share; i++) {
        sr_wipe(n->share[i].frag.p, n->share[i].frag.len);
        buf_reset(&n->share[i].frag);
        buf_reset(&n->share[i].recs);
    }
    n->n_share = 0;
    sr_wipe(n->body.p, n->body.len);
    buf_reset(&n->body);
}

/* Does s have anything in a partial NOTIFY of this flush?  Asked when its
 * window is full: only then does it owe a full state, so that a subscriber
 * that matched nothing learns nothing, not even that something changed. */
static bool sub_sees_changes(struct ka_notifier *n, const struct sub *s)
{
    struct share *sh = share_get(n, s, BODY_PARTIAL);
    struct sipev_keybody *kb = &n->kb;
    bool seen;

    if (sh && sh->usable)
        return sh->n_dialogs > 0;
    kb_scratch_clear(kb);
    /* On an error, assume changes: the full state sent later is exact. */
    seen = ka_callstore_fill(n->cfg.calls, kb, false, &s->entry_filter, &s->body_filter) != SR_OK ||
           kb->n_dialogs > 0;
    kb_scratch_clear(kb);
    return seen;
}

/* notify_prepare through a shared body: the subscription's own head
 * (version), the shared dialogs, the tail; then its disclosure records. */
static void notify_prepare_shared(struct ka_notifier *n, struct sub *s, int kind, uint64_t now)
{
    struct share *sh;
    struct notify_desc d;
    enum sr_err err;

    if (s->dead || !s->conn || s->conn->dead)
        return;
    sh = share_get(n, s, kind);
    if (!sh || !sh->usable) {
        notify_prepare(n, s, kind, now);
        return;
    }
    if (kind == BODY_PARTIAL && sh->n_dialogs == 0)
        return; /* as in notify_prepare: an unmatched subscriber learns nothing */
    d.kind = kind == BODY_FULL ? "full" : "partial";
    d.version = s->sent_body ? s->version + 1 : 0;
    d.n_dialogs = sh->n_dialogs;
    buf_reset(&n->body);
    err = ka_kb_compose(&n->body, n->cfg.entity, kind == BODY_FULL, d.version, &sh->frag);
    if (!err)
        err = notify_print_raw(n, s, &n->body, d, now);
    sr_wipe(n->body.p, n->body.len);
    buf_reset(&n->body);
    if (err == SR_ELIMIT) {
        /* Too large with this subscription's headers: the split path. */
        notify_prepare(n, s, kind, now);
        return;
    }
    if (!n->cfg.disclog && n->cfg.metrics)
        n->cfg.metrics->disclosures += sh->n_dialogs;
    for (size_t off = 0; !err && n->cfg.disclog && off < sh->recs.len;) {
        const char *cid = sh->recs.p + off;
        const char *ids = cid + strlen(cid) + 1;

        off = (size_t)(ids - sh->recs.p) + strlen(ids) + 1;
        err = ka_disclog_append(n->cfg.disclog, sr_wall_us(), s->identity, s->call_id, cid,
                                d.version, ids);
        if (!err) {
            n->unsynced = true;
            if (n->cfg.metrics)
                n->cfg.metrics->disclosures++;
        }
        else
            log_error("disclosure log append failed (%s): ending subscription of %s",
                      sr_strerror(err), s->identity);
    }
    if (err) {
        if (err != SR_EIO)
            log_error("subscription %s (%s): cannot build a NOTIFY: %s", s->call_id, s->identity,
                      sr_strerror(err));
        msg_clear(s);
        s->dead = true;
        return;
    }
    s->version = d.version;
    s->sent_body = true;
    if (s->terminate)
        s->dead_after_send = true;
}

/* ------------------------------------------------------------ receiving */

static struct sub *sub_find(struct ka_notifier *n, struct slice call_id, struct slice local_tag,
                            struct slice remote_tag)
{
    for (size_t i = 0; i < n->n_subs; i++) {
        struct sub *s = n->subs[i];
        if (!s->dead && slice_eq(slice_cstr(s->call_id), call_id) &&
            slice_eq(slice_cstr(s->local_tag), local_tag) &&
            slice_eq(slice_cstr(s->remote_tag), remote_tag))
            return s;
    }
    return NULL;
}

static void on_response(struct ka_notifier *n, const struct sipev_msg *m)
{
    const struct sipev_hdr *from = sipev_msg_hdr(m, SIPEV_HDR_FROM);
    const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);
    const struct sipev_hdr *cid = sipev_msg_hdr(m, SIPEV_HDR_CALL_ID);
    const struct sipev_hdr *cseq = sipev_msg_hdr(m, SIPEV_HDR_CSEQ);
    struct slice ftag, ttag, method;
    uint32_t num;
    struct sub *s;

    /* Our NOTIFY: From carries our tag, To the subscriber's. */
    if (!from || !to || !cid || !cseq || !sipev_param(from->value, "tag", &ftag) ||
        !sipev_param(to->value, "tag", &ttag) || !sipev_cseq_parse(cseq->value, &num, &method) ||
        !slice_eq(method, SLICE_LIT("NOTIFY")))
        return;
    s = sub_find(n, cid->value, ftag, ttag);
    if (!s)
        return;
    if (ka_nwin_response(&s->win, num, m->status, now_of(n)) != KA_NWIN_FAILED)
        return;
    /* RFC 6665 4.2.2: 481 ends the subscription; we treat every other
     * failure the same way, since resending keys blindly helps nobody. */
    log_notice("subscriber %s answered NOTIFY with %u: subscription removed", s->identity,
               m->status);
    s->dead = true;
}

static bool accept_ok(const struct sipev_msg *m)
{
    bool seen = false;

    for (size_t i = 0; i < m->n_hdr; i++) {
        struct slice cur;
        if (m->hdr[i].id != SIPEV_HDR_ACCEPT)
            continue;
        seen = true;
        cur = m->hdr[i].value;
        for (size_t guard = 0; cur.len && guard < SIPEV_MAX_LINE; guard++) {
            struct slice item = slice_trim(slice_split(&cur, ','));
            struct slice type = slice_trim(slice_split(&item, ';'));
            if (slice_eq_nocase(type, SLICE_LIT(SIPEV_KEYBODY_TYPE)) ||
                slice_eq_nocase(type, SLICE_LIT("application/*")) ||
                slice_eq_nocase(type, SLICE_LIT("*/*")))
                return true;
        }
    }
    /* RFC 6665 4.1.2.1: no Accept means the package's default type. */
    return !seen;
}

static struct sub *sub_create(struct ka_notifier *n, struct conn *c, const struct sipev_msg *m,
                              const char *identity, struct slice event_id)
{
    const struct sipev_hdr *from = sipev_msg_hdr(m, SIPEV_HDR_FROM);
    const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);
    const struct sipev_hdr *cid = sipev_msg_hdr(m, SIPEV_HDR_CALL_ID);
    const struct sipev_hdr *contact = sipev_msg_hdr(m, SIPEV_HDR_CONTACT);
    struct slice ftag, furi, turi, target;
    struct sub *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    buf_init(&s->msg, OUT_BODY_MAX);
    if (!sipev_param(from->value, "tag", &ftag) || !sipev_uri_of(from->value, &furi) ||
        !sipev_uri_of(to->value, &turi))
        goto fail;
    /* Without a Contact the From URI is the best remote target we have; the
     * NOTIFY goes over the same connection either way. */
    if (!contact || !sipev_uri_of(contact->value, &target))
        target = furi;
    if (!slice_copy_cstr(cid->value, s->call_id, sizeof(s->call_id)) ||
        !slice_copy_cstr(ftag, s->remote_tag, sizeof(s->remote_tag)) ||
        !slice_copy_cstr(furi, s->remote_uri, sizeof(s->remote_uri)) ||
        !slice_copy_cstr(turi, s->local_uri, sizeof(s->local_uri)) ||
        !slice_copy_cstr(target, s->target, sizeof(s->target)) ||
        !slice_copy_cstr(event_id, s->event_id, sizeof(s->event_id)) ||
        !slice_copy_cstr(slice_cstr(identity), s->identity, sizeof(s->identity)))
        goto fail;
    ka_nwin_init(&s->win);
    sipev_random_token(s->local_tag, sizeof(s->local_tag));
    s->conn = c;
    return s;
fail:
    sub_free(s);
    return NULL;
}

static void count_refusal(struct ka_notifier *n, enum ka_refusal why)
{
    if (n->cfg.metrics)
        n->cfg.metrics->refusals[why]++;
}

/* A SUBSCRIBE body narrows the subscription (KA_FILTER_TYPE).  false: a
 * response was sent and the request must go no further.  *have is false
 * when there is no body (keep whatever filter there was). */
static bool body_filter_take(struct ka_notifier *n, struct conn *c, const struct sipev_msg *m,
                             struct ka_filter *out, bool *have)
{
    const struct sipev_hdr *ct = sipev_msg_hdr(m, SIPEV_HDR_CONTENT_TYPE);
    struct slice type = ct ? ct->value : SLICE_NULL;
    const char *why = "";

    *have = false;
    if (m->body.len == 0)
        return true;
    type = slice_trim(slice_split(&type, ';'));
    if (!slice_eq_nocase(type, SLICE_LIT(KA_FILTER_TYPE))) {
        struct sipev_extra_hdr acc = { "Accept", KA_FILTER_TYPE };
        count_refusal(n, KA_REFUSE_BAD_FILTER);
        respond(c, m, 415, "Unsupported Media Type", NULL, &acc, 1);
        return false;
    }
    if (ka_filter_parse_body(out, m->body, &why) != SR_OK) {
        char warning[160];
        struct sipev_extra_hdr w = { "Warning", warning };
        /* RFC 3261 20.43: 399 is the catch-all warn-code. */
        snprintf(warning, sizeof(warning), "399 srtprec \"%s\"", why);
        count_refusal(n, KA_REFUSE_BAD_FILTER);
        respond(c, m, 400, "Bad Filter", NULL, &w, 1);
        return false;
    }
    *have = true;
    return true;
}

/* c carries an authorised subscription from now on: never evicted, and its
 * send bound fits a full state of many calls, which leaves as several
 * NOTIFYs in one go (up to OUT_BODY_MAX, notify_prepare): the connection
 * must take them all, or the subscriber's re-subscription would meet the
 * same full state and the same refusal for ever.  Growth is on demand. */
static void conn_authorise(struct conn *c)
{
    if (c->authorised)
        return;
    c->authorised = true;
    if (sipev_conn_set_max_tx(c->sc, OUT_BODY_MAX + CONN_TX_SLACK) != SR_OK)
        c->dead = true; /* cannot happen: raising */
}

/* The 2xx that creates or refreshes a dialog: Expires and our Contact. */
static void respond_200(struct ka_notifier *n, struct conn *c, const struct sipev_msg *m,
                        const struct sub *s, struct sipev_extra_hdr expires)
{
    struct sipev_extra_hdr hdr[2] = { expires, { "Contact", n->contact } };

    respond(c, m, 200, "OK", s->local_tag, hdr, 2);
}

static size_t subs_of(const struct ka_notifier *n, const char *identity)
{
    size_t k = 0;

    for (size_t i = 0; i < n->n_subs; i++)
        if (!n->subs[i]->dead && ka_identity_eq(n->subs[i]->identity, identity))
            k++;
    return k;
}

static void on_subscribe(struct ka_notifier *n, struct conn *c, const struct sipev_msg *m)
{
    struct ka_filter *body_filter = &n->scratch_filter;
    const struct ka_filter *entry_filter;
    bool have_filter;
    const struct sipev_hdr *from = sipev_msg_hdr(m, SIPEV_HDR_FROM);
    const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);
    const struct sipev_hdr *cid = sipev_msg_hdr(m, SIPEV_HDR_CALL_ID);
    const struct sipev_hdr *cseq = sipev_msg_hdr(m, SIPEV_HDR_CSEQ);
    const struct sipev_hdr *event = sipev_msg_hdr(m, SIPEV_HDR_EVENT);
    const struct sipev_hdr *exp = sipev_msg_hdr(m, SIPEV_HDR_EXPIRES);
    struct slice ftag, ttag, method, furi, event_id = SLICE_NULL;
    char identity[SIPEV_STR], exp_txt[24], min_txt[24];
    struct sipev_extra_hdr extra[2];
    uint64_t expires = n->cfg.default_expires, now = now_of(n);
    uint32_t num;
    bool in_dialog;
    struct sub *s;

    if (!from || !to || !cid || !cseq || !sipev_param(from->value, "tag", &ftag) ||
        !sipev_cseq_parse(cseq->value, &num, &method) || !sipev_uri_of(from->value, &furi)) {
        count_refusal(n, KA_REFUSE_BAD_REQUEST);
        respond(c, m, 400, "Bad Request", NULL, NULL, 0);
        return;
    }
    in_dialog = sipev_param(to->value, "tag", &ttag);
    if (!event || !slice_eq_nocase(sipev_value_token(event->value), SLICE_LIT("srtp"))) {
        extra[0] = (struct sipev_extra_hdr){ "Allow-Events", SIPEV_EVENT_PACKAGE };
        count_refusal(n, KA_REFUSE_BAD_EVENT);
        respond(c, m, 489, "Bad Event", NULL, extra, 1);
        return;
    }
    sipev_param(event->value, "id", &event_id);

    /* Identity: the verified certificate; on lab plain TCP only, the From
     * URI (anyone can claim it: that is why it is a lab setting). */
    if (n->cfg.tls)
        slice_copy_cstr(slice_cstr(sipev_conn_peer(c->sc)), identity, sizeof(identity));
    else if (!slice_copy_cstr(furi, identity, sizeof(identity)))
        identity[0] = '\0';
    entry_filter = ka_authz_lookup(n->cfg.authz, identity);
    if (!entry_filter) {
        log_notice("refused subscription from '%s' (not in allow list)", identity);
        count_refusal(n, KA_REFUSE_FORBIDDEN);
        respond(c, m, 403, "Forbidden", NULL, NULL, 0);
        return;
    }
    if (!body_filter_take(n, c, m, body_filter, &have_filter))
        return;
    if (exp) {
        if (!slice_to_u64(slice_trim(exp->value), UINT32_MAX, &expires)) {
            count_refusal(n, KA_REFUSE_BAD_REQUEST);
            respond(c, m, 400, "Bad Expires", NULL, NULL, 0);
            return;
        }
    }
    if (expires != 0 && expires < n->cfg.min_expires) {
        snprintf(min_txt, sizeof(min_txt), "%u", n->cfg.min_expires);
        extra[0] = (struct sipev_extra_hdr){ "Min-Expires", min_txt };
        count_refusal(n, KA_REFUSE_BAD_REQUEST);
        respond(c, m, 423, "Interval Too Brief", NULL, extra, 1);
        return;
    }
    if (expires > n->cfg.max_expires)
        expires = n->cfg.max_expires;
    snprintf(exp_txt, sizeof(exp_txt), "%llu", (unsigned long long)expires);
    extra[0] = (struct sipev_extra_hdr){ "Expires", exp_txt };

    if (in_dialog) {
        s = sub_find(n, cid->value, ttag, ftag);
        if (!s) {
            count_refusal(n, KA_REFUSE_BAD_REQUEST);
            respond(c, m, 481, "Subscription Does Not Exist", NULL, NULL, 0);
            return;
        }
        if (strcmp(s->identity, identity) != 0) {
            count_refusal(n, KA_REFUSE_FORBIDDEN);
            respond(c, m, 403, "Forbidden", NULL, NULL, 0);
            return;
        }
        if (num <= s->remote_cseq) {
            count_refusal(n, KA_REFUSE_BAD_REQUEST);
            respond(c, m, 500, "CSeq Out of Order", NULL, NULL, 0);
            return;
        }
        s->remote_cseq = num;
        s->conn = c; /* a refresh over a new connection moves the dialog */
        conn_authorise(c);
        if (have_filter)
            s->body_filter = *body_filter; /* replaces, still under the entry filter */
        respond_200(n, c, m, s, extra[0]);
        if (expires == 0) {
            s->terminate = true;
            s->term_reason = "timeout";
            log_info("unsubscribe from %s", identity);
        } else {
            s->expires_at_us = now + expires * 1000000;
            s->need_full = true; /* RFC 6665 4.2.1.2: NOTIFY on every refresh */
        }
        return;
    }

    if (!accept_ok(m)) {
        extra[1] = (struct sipev_extra_hdr){ "Accept", SIPEV_KEYBODY_TYPE };
        count_refusal(n, KA_REFUSE_NOT_ACCEPTABLE);
        respond(c, m, 406, "Not Acceptable", NULL, extra + 1, 1);
        return;
    }
    if (n->cfg.max_per_identity && subs_of(n, identity) >= n->cfg.max_per_identity) {
        /* One identity (one lawful-intercept subscriber, say) cannot take
         * every slot and lock the others out. */
        extra[1] = (struct sipev_extra_hdr){ "Retry-After", "60" };
        count_refusal(n, KA_REFUSE_OVERLOAD);
        log_notice("refused subscription from %s: it has %zu already (max-subscriptions-per-identity)",
                   identity, n->cfg.max_per_identity);
        respond(c, m, 503, "Too Many Subscriptions For This Identity", NULL, extra + 1, 1);
        return;
    }
    if (n->n_subs == n->cfg.max_subscriptions) {
        extra[1] = (struct sipev_extra_hdr){ "Retry-After", "60" };
        count_refusal(n, KA_REFUSE_OVERLOAD);
        respond(c, m, 503, "Too Many Subscriptions", NULL, extra + 1, 1);
        return;
    }
    s = sub_create(n, c, m, identity, event_id);
    if (!s) {
        count_refusal(n, KA_REFUSE_BAD_REQUEST);
        respond(c, m, 400, "Bad Request", NULL, NULL, 0);
        return;
    }
    s->remote_cseq = num;
    s->expires_at_us = now + expires * 1000000;
    s->need_full = true;
    s->entry_filter = *entry_filter;
    if (have_filter)
        s->body_filter = *body_filter;
    if (expires == 0) {
        s->fetch = true; /* RFC 6665 4.4.3: one NOTIFY with the state, then done */
        s->terminate = true;
        s->term_reason = "timeout";
    }
    n->subs[n->n_subs++] = s;
    conn_authorise(c);
    respond_200(n, c, m, s, extra[0]);
    log_notice("subscription from %s accepted (expires %llu)", identity,
               (unsigned long long)expires);
}

static bool on_msg(struct sipev_conn *sc, const struct sipev_msg *m, void *arg)
{
    struct conn *c = arg;
    struct ka_notifier *n = c->n;

    (void)sc;
    c->last_active_us = now_of(n); /* a complete message: the idle clock restarts */
    if (m->status) {
        on_response(n, m);
        return true;
    }
    if (slice_eq(m->method, SLICE_LIT("SUBSCRIBE"))) {
        on_subscribe(n, c, m);
    } else if (!slice_eq(m->method, SLICE_LIT("ACK"))) {
        struct sipev_extra_hdr allow = { "Allow", "SUBSCRIBE" };
        respond(c, m, 405, "Method Not Allowed", NULL, &allow, 1);
    }
    return !c->dead;
}

/* ---------------------------------------------------------- connections */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return true; /* AF_UNIX and the like: one "address" */
}

/* Make room for a new connection from addr, or say there is none.  A
 * connection that is not an authorised subscriber's may use only the
 * unreserved part of max-connections, and at most max-per-address of those
 * from one address; past either, the oldest such one (from that address,
 * else from anywhere) is evicted: a flood of silent or slow connections
 * then cycles through its own share and cannot keep a newcomer (the
 * recorder reconnecting) out.  Authorised subscribers' connections are
 * never evicted, and the reserved slots are theirs alone. */
static bool admit(struct ka_notifier *n, const struct sockaddr_storage *addr)
{
    size_t live = 0, pending = 0, from_addr = 0;
    struct conn *oldest = NULL, *oldest_here = NULL;
    size_t pool = n->cfg.max_connections - n->cfg.reserved_connections;
    size_t per_addr = n->cfg.max_per_address ? n->cfg.max_per_address : pool;

    for (size_t i = 0; i < n->n_conns; i++) {
        struct conn *c = n->conns[i];
        if (c->dead)
            continue;
        live++;
        if (c->authorised)
            continue;
        pending++;
        if (!oldest || c->accepted_us < oldest->accepted_us)
            oldest = c;
        if (same_addr(&c->addr, addr)) {
            from_addr++;
            if (!oldest_here || c->accepted_us < oldest_here->accepted_us)
                oldest_here = c;
        }
    }
    if (n->n_conns == n->cfg.max_connections * 2)
        return false; /* evicted ones not yet freed: wait for the flush */
    if (from_addr >= per_addr && oldest_here) {
        oldest_here->dead = true;
        pending--;
        live--;
        if (n->cfg.metrics)
            n->cfg.metrics->conns_evicted++;
        if (oldest == oldest_here)
            oldest = NULL;
    }
    if (pending >= pool) {
        if (!oldest) {
            for (size_t i = 0; i < n->n_conns; i++) {
                struct conn *c = n->conns[i];
                if (!c->dead && !c->authorised && (!oldest || c->accepted_us < oldest->accepted_us))
                    oldest = c;
            }
        }
        if (!oldest)
            return false;
        oldest->dead = true;
        live--;
        if (n->cfg.metrics)
            n->cfg.metrics->conns_evicted++;
    }
    return live < n->cfg.max_connections;
}

void ka_notifier_accept(struct ka_notifier *n, int fd)
{
    struct sipev_conn_cfg cc = { 0 };
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
    struct sockaddr_storage addr = { 0 };
    socklen_t alen = sizeof(addr);
    struct conn *c;
    enum sr_err err;

    if (getpeername(fd, (struct sockaddr *)&addr, &alen) != 0)
        addr.ss_family = AF_UNSPEC;
    if (!admit(n, &addr)) {
        log_warn("too many connections (%zu, all authorised subscribers'): refusing one",
                 n->cfg.max_connections);
        if (n->cfg.metrics)
            n->cfg.metrics->conns_refused++;
        close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->w.kind = KA_WATCH_SIP;
    c->w.obj = c;
    c->n = n;
    c->accepted_us = c->last_active_us = now_of(n);
    c->addr = addr;
    cc.tls = n->cfg.tls;
    cc.server = true;
    cc.fd = fd;
    cc.on_msg = on_msg;
    cc.arg = c;
    /* Small until a subscription is accepted on it (conn_authorise). */
    cc.max_tx_buffer = CONN_TX_UNAUTH;
    err = sipev_conn_create(&c->sc, &cc);
    if (err) {
        log_warn("cannot set up a connection: %s", sr_strerror(err));
        free(c); /* the conn owns fd only once created */
        close(fd);
        return;
    }
    /* Start with EPOLLOUT: the TLS handshake may want to write first. */
    c->want_out = true;
    ev.data.ptr = &c->w;
    if (epoll_ctl(n->cfg.epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        log_warn("epoll_ctl: %s", strerror(errno));
        conn_free(n, c);
        return;
    }
    n->conns[n->n_conns++] = c;
}

void ka_notifier_io(struct ka_notifier *n, struct ka_watch *w, uint32_t events)
{
    struct conn *c = w->obj;
    enum sr_err err;

    (void)events;
    if (c->dead)
        return;
    /* No last_active_us here: any byte would reset the idle clock, and a
     * trickle of one byte a second would hold the slot for ever. */
    err = sipev_conn_io(c->sc);
    if (err) {
        if (err != SR_ECLOSED)
            log_info("connection from %s closed: %s",
                     sipev_conn_peer(c->sc)[0] ? sipev_conn_peer(c->sc) : "(unverified peer)",
                     sr_strerror(err));
        c->dead = true;
        return;
    }
    conn_update_events(n, c);
}

/* ------------------------------------------------------------- reload */

enum sr_err ka_notifier_set_authz(struct ka_notifier *n, const struct ka_authz *az)
{
    size_t ended = 0, refiltered = 0;

    if (!n || !az)
        return SR_EINVAL;
    n->authz = *az;
    for (size_t i = 0; i < n->n_subs; i++) {
        struct sub *s = n->subs[i];
        const struct ka_filter *f;

        if (s->dead || s->terminate)
            continue;
        f = ka_authz_lookup(&n->authz, s->identity);
        if (!f) {
            /* Revoked: no key may reach it from now on.  RFC 6665 4.2.2:
             * "rejected" is the reason for a change in authorisation. */
            s->terminate = true;
            s->term_reason = "rejected";
            s->need_full = false;
            ended++;
            log_notice("subscription of %s ended: no longer in the allow list", s->identity);
            continue;
        }
        if (!filter_eq(f, &s->entry_filter)) {
            /* A changed filter may take calls away as well as add some: the
             * full state tells the subscriber exactly what it may now see. */
            s->entry_filter = *f;
            s->need_full = true;
            refiltered++;
        }
    }
    log_notice("allow list: %zu entries; %zu subscriptions ended, %zu with a new filter, %zu kept",
               n->authz.n, ended, refiltered, n->n_subs - ended - refiltered);
    return SR_OK;
}

void ka_notifier_set_tls(struct ka_notifier *n, SSL_CTX *tls)
{
    /* Borrowed like the first one; connections already up hold their own
     * reference through their SSL (SSL_new takes one), so the caller may
     * free the old context once this returns. */
    if (n && tls && n->cfg.tls)
        n->cfg.tls = tls;
}

/* ---------------------------------------------------------------- flush */

/* When c is closed for being idle: only a connection that carries no live
 * subscription is (a subscriber may stay silent for the whole lifetime of
 * its subscription: NOTIFYs come only on changes).  UINT64_MAX: never.  Both
 * reap() and ka_notifier_timeout_ms() ask this, so no deadline is reported
 * that reap() would not act on (that mismatch once made the loop spin:
 * every connection's idle deadline counted, a subscriber's passed after
 * 120 s and epoll_wait was then called with timeout 0 for ever). */
static uint64_t conn_idle_deadline(const struct ka_notifier *n, const struct conn *c)
{
    uint64_t idle;

    if (c->dead)
        return UINT64_MAX;
    for (size_t k = 0; k < n->n_subs; k++)
        if (n->subs[k]->conn == c && !n->subs[k]->dead)
            return UINT64_MAX;
    idle = c->last_active_us + n->idle_conn_us;
    /* The handshake has its own, shorter deadline, from accept. */
    if (c->sc && !sipev_conn_established(c->sc) && c->accepted_us + n->handshake_us < idle)
        return c->accepted_us + n->handshake_us;
    return idle;
}

static void reap(struct ka_notifier *n, uint64_t now)
{
    size_t kept = 0;

    for (size_t i = 0; i < n->n_conns; i++) {
        struct conn *c = n->conns[i];

        if (now >= conn_idle_deadline(n, c)) {
            log_info("closing %s connection",
                     c->sc && !sipev_conn_established(c->sc) ? "a slow TLS handshake's" : "an idle");
            c->dead = true;
        }
        /* Let queued output (a final NOTIFY) drain before an idle close. */
        if (c->dead) {
            for (size_t k = 0; k < n->n_subs; k++)
                if (n->subs[k]->conn == c) {
                    n->subs[k]->conn = NULL;
                    n->subs[k]->dead = true;
                }
            conn_free(n, c);
            continue;
        }
        n->conns[kept++] = c;
    }
    n->n_conns = kept;
    kept = 0;
    for (size_t i = 0; i < n->n_subs; i++) {
        if (n->subs[i]->dead) {
            sub_free(n->subs[i]);
            continue;
        }
        n->subs[kept++] = n->subs[i];
    }
    n->n_subs = kept;
}

/* The dialogs s would be sent in this flush (0: none, or no keys). */
static size_t sub_weight(const struct ka_notifier *n, const struct sub *s, bool changed)
{
    if (s->dead || (s->terminate && !s->fetch))
        return 0;
    if (s->need_full)
        return ka_callstore_count_matching(n->cfg.calls, true, &s->entry_filter, &s->body_filter);
    if (changed && s->sent_body)
        return ka_callstore_count_matching(n->cfg.calls, false, &s->entry_filter,
                                           &s->body_filter);
    return 0;
}

/* One subscription's work in a flush: its timers, then the NOTIFY it is
 * owed (built, disclosures appended; sent by the caller after the sync). */
static void sub_prepare(struct ka_notifier *n, struct sub *s, bool changed, uint64_t now)
{
    bool room = ka_nwin_may_send(&s->win);

    if (s->need_full && (!s->terminate || s->fetch)) {
        /* Waits for room: the full state covers whatever changes. */
        if (room) {
            notify_prepare_shared(n, s, BODY_FULL, now);
            s->need_full = false;
        }
    } else if (s->terminate) {
        /* No keys, and the subscription ends: not held by the window. */
        notify_prepare(n, s, BODY_NONE, now);
    } else if (changed && s->sent_body) {
        if (room) {
            notify_prepare_shared(n, s, BODY_PARTIAL, now);
        } else if (sub_sees_changes(n, s)) {
            /* The window is full: coalesce this and every later change
             * into one full state once a NOTIFY is answered. */
            log_info("subscriber %s has %zu NOTIFYs unanswered: full state follows",
                     s->identity, ka_nwin_outstanding(&s->win));
            s->need_full = true;
        }
    }
}

/* One fdatasync covers every NOTIFY prepared so far; only then do keys
 * leave.  If the log cannot be made durable, no key leaves and every
 * subscription that would have received one ends. */
static void sync_and_send(struct ka_notifier *n, uint64_t now)
{
    if (n->unsynced) {
        enum sr_err err = ka_disclog_sync(n->cfg.disclog);
        n->unsynced = false;
        if (err) {
            log_error("disclosure log sync failed (%s): ending %zu subscriptions", sr_strerror(err),
                      n->n_subs);
            for (size_t i = 0; i < n->n_subs; i++)
                if (n->subs[i]->msg.len) {
                    msg_clear(n->subs[i]);
                    n->subs[i]->dead = true;
                }
        }
    }
    for (size_t i = 0; i < n->n_subs; i++)
        notify_send_queued(n->subs[i], now);
}

/* Two stages (docs/keyagent.md, "NOTIFY scheduling"): subscriptions owed
 * at most KA_LIGHT_DIALOGS dialogs are built, synced and sent first, then
 * the others.  A filtered subscriber's NOTIFY therefore never waits for the
 * XML, disclosure records and TLS writes of calls it may not see: without
 * the split its latency grew with the hidden call volume (a timing channel,
 * issue 13).  The second sync costs nothing when one stage is empty. */
void ka_notifier_flush(struct ka_notifier *n, uint64_t now)
{
    bool changed = ka_callstore_changed(n->cfg.calls);

    for (size_t i = 0; i < n->n_subs; i++) {
        struct sub *s = n->subs[i];

        s->heavy = false;
        if (s->dead)
            continue;
        if (!s->terminate && now >= s->expires_at_us) {
            s->terminate = true;
            s->term_reason = "timeout";
        }
        /* Timer F of any outstanding NOTIFY: RFC 6665 4.2.2 removes the
         * subscription. */
        if (ka_nwin_tick(&s->win, now)) {
            log_notice("subscriber %s did not answer a NOTIFY (Timer F): subscription removed",
                       s->identity);
            msg_clear(s);
            s->dead = true;
            continue;
        }
        s->heavy = sub_weight(n, s, changed) > KA_LIGHT_DIALOGS;
        if (!s->heavy)
            sub_prepare(n, s, changed, now);
    }
    sync_and_send(n, now);
    for (size_t i = 0; i < n->n_subs; i++)
        if (n->subs[i]->heavy && !n->subs[i]->dead)
            sub_prepare(n, n->subs[i], changed, now);
    share_clear(n);
    sync_and_send(n, now);
    ka_callstore_settle(n->cfg.calls);
    for (size_t i = 0; i < n->n_conns; i++)
        conn_update_events(n, n->conns[i]);
    reap(n, now);
}

int ka_notifier_timeout_ms(const struct ka_notifier *n, uint64_t now)
{
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; i < n->n_subs; i++) {
        const struct sub *s = n->subs[i];
        uint64_t f = ka_nwin_next_us(&s->win);
        if (s->expires_at_us < next)
            next = s->expires_at_us;
        if (f < next)
            next = f;
    }
    for (size_t i = 0; i < n->n_conns; i++) {
        uint64_t idle = conn_idle_deadline(n, n->conns[i]);
        if (idle < next)
            next = idle;
    }
    if (next == UINT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    return (next - now) / 1000 > 60000 ? 60000 : (int)((next - now) / 1000 + 1);
}

void ka_notifier_shutdown(struct ka_notifier *n)
{
    uint64_t now = now_of(n);

    for (size_t i = 0; i < n->n_subs; i++) {
        struct sub *s = n->subs[i];
        if (s->dead || s->terminate)
            continue;
        s->terminate = true;
        s->term_reason = "noresource";
        notify_prepare(n, s, BODY_NONE, now);
        notify_send_queued(s, now);
    }
    /* Best effort: one more write attempt for what is queued. */
    for (size_t i = 0; i < n->n_conns; i++)
        if (!n->conns[i]->dead)
            sipev_conn_io(n->conns[i]->sc);
}
