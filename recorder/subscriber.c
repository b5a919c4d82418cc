/** @file subscriber.c  The recorder's side of the `srtp` event package: one
 *  RFC 6665 subscription per keyagent, over mutual TLS.
 *
 * States: IDLE (waiting for the next attempt) -> CONNECTING (TCP connect in
 * progress) -> SUBSCRIBING (TLS up, SUBSCRIBE sent) -> ACTIVE (2xx seen;
 * refreshed at two thirds of the granted duration, or of the expires a NOTIFY
 * carries).  Any failure goes back to IDLE with exponential back-off and
 * jitter, so a keyagent that restarts is re-subscribed and sends full state
 * again.
 *
 * Lab UDP (target "udp:host:port"): no connection, so IDLE goes straight to
 * SUBSCRIBING on a sipev_udp endpoint bound to an ephemeral port of the
 * local address that routes to the keyagent.  The endpoint owns the
 * transactions (Timers E, F, J, K): retransmitted SUBSCRIBEs, absorbed
 * duplicate NOTIFYs answered from its cache.  Datagrams from any address
 * other than the keyagent's are ignored.  UDP is refused at creation unless
 * the recorder runs in lab mode (see daemon_priv.h).
 *
 * RFC 6665 on this side: 423 raises Expires to Min-Expires; 481 starts a new
 * dialog; each SUBSCRIBE is a client transaction (sip-events txn.c, Timer F
 * over TLS/TCP).  NOTIFYs are taken in CSeq order (an older one gets 500).
 * Subscription-State terminated: deactivated, timeout or no reason ->
 * re-subscribe at once; probation/giveup -> after retry-after (else back-off);
 * rejected, noresource and anything else -> back-off.  A NOTIFY version gap
 * (or a first NOTIFY that is only partial) triggers an in-dialog refresh: the
 * keyagent answers every accepted SUBSCRIBE with full state.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_priv.h"
#include "log.h"
#include "util.h"

enum sub_state { SUB_IDLE, SUB_CONNECTING, SUB_SUBSCRIBING, SUB_ACTIVE };

enum {
    BACKOFF_MIN_US = 500000,     /* first retry after half a second */
    BACKOFF_MAX_US = 300000000,  /* never wait more than five minutes */
};

struct rd_sub {
    struct rd_sub_cfg cfg;
    char target[CONF_STR_MAX];
    char identity[CONF_STR_MAX];
    enum sub_state state;
    struct rd_watch watch;        /* the TCP socket while CONNECTING, then the conn's fd */
    bool watched;
    struct sipev_conn *conn;
    char call_id[64], from_tag[33], to_tag[128], local_host[80];
    uint32_t cseq;
    bool unsubscribing;
    const char *pending_fail;     /* set by a message handler; acted on after sipev_conn_io */
    uint64_t next_attempt_us;     /* IDLE: when to connect */
    uint64_t refresh_us;          /* ACTIVE: when to refresh */
    uint64_t deadline_us;         /* CONNECTING/SUBSCRIBING: give up after */
    uint64_t backoff_us;
    bool have_version;
    uint64_t last_version;
    struct sipev_txn txn;         /* the SUBSCRIBE in flight (SUBSCRIBING) */
    bool have_notify_cseq;
    uint32_t notify_cseq;         /* highest NOTIFY CSeq taken in this dialog */
    bool resync;                  /* full state wanted: refresh once the SUBSCRIBE in flight ends */
    bool retry_set;               /* with pending_fail: retry after retry_us, no back-off growth */
    uint64_t retry_us;
    char peer[SIPEV_STR];
    char peer_identity[SIPEV_STR]; /* required keyagent identity; "" = any (lab) */
    uint64_t identity_mismatches;
    const char *hostport;         /* target without its "udp:" prefix */
    struct sipev_udp *udp;        /* lab UDP: the endpoint (owns the socket) */
    struct sipev_addr udp_peer;   /* lab UDP: the keyagent */
    const struct sipev_addr *udp_from; /* lab UDP: source of the request being handled */
};

static const char UDP_PREFIX[] = "udp:";

static void sub_fail(struct rd_sub *s, const char *what);

static uint64_t jitter(uint64_t us)
{
    uint32_t r = 0;

    sr_random(&r, sizeof(r));
    return us / 2 + (us / 2) * (r % 1000) / 1000; /* 50-100 % of us */
}

static void sub_close(struct rd_sub *s)
{
    if (s->watched)
        rd_loop_del(s->cfg.loop, &s->watch);
    s->watched = false;
    if (s->udp) {
        sipev_udp_destroy(s->udp); /* closes the fd, wipes cached NOTIFY answers */
        s->udp = NULL;
    } else if (s->conn) {
        sipev_conn_destroy(s->conn); /* closes the fd */
        s->conn = NULL;
    } else if (s->watch.fd >= 0) {
        close(s->watch.fd);
    }
    s->watch.fd = -1;
}

static void sub_update_watch(struct rd_sub *s)
{
    if (s->udp)
        return; /* datagrams: always EPOLLIN, sends never block for long */
    uint32_t ev = EPOLLIN | (sipev_conn_want_write(s->conn) ? EPOLLOUT : 0u);

    if (rd_loop_mod(s->cfg.loop, &s->watch, ev) != SR_OK)
        sub_fail(s, "epoll");
}

static enum sr_err sub_send_subscribe(struct rd_sub *s, unsigned expires)
{
    struct buf out;
    char branch[48], tok[17], ruri[CONF_STR_MAX + 8], exp[16];
    struct sipev_extra_hdr extra[] = {
        { "Event", SIPEV_EVENT_PACKAGE },
        { "Accept", SIPEV_KEYBODY_TYPE },
        { "Expires", exp },
    };
    struct sipev_req req = { 0 };
    enum sr_err err;

    sipev_random_token(tok, sizeof(tok));
    snprintf(branch, sizeof(branch), "z9hG4bK%s", tok);
    snprintf(ruri, sizeof(ruri), "%s:%s", s->cfg.tls ? "sips" : "sip", s->hostport);
    snprintf(exp, sizeof(exp), "%u", expires);
    req.method = "SUBSCRIBE";
    req.ruri = ruri;
    req.via_transport = s->udp ? "UDP" : s->cfg.tls ? "TLS" : "TCP";
    req.via_host = s->local_host;
    req.branch = branch;
    req.via_alias = !s->udp; /* RFC 5923: NOTIFYs come back on this connection */
    req.from_uri = s->identity;
    req.from_tag = s->from_tag;
    req.to_uri = ruri;
    req.to_tag = s->to_tag[0] ? s->to_tag : NULL;
    req.call_id = s->call_id;
    req.cseq = ++s->cseq;
    req.contact = s->identity;
    req.extra = extra;
    req.n_extra = SR_ARRAY_LEN(extra);
    buf_init(&out, SIPEV_MAX_MSG);
    err = sipev_req_print(&out, &req);
    if (!err && s->udp) {
        /* The endpoint runs the transaction: Timer E resends, Timer F ends it. */
        err = sipev_udp_send_request(s->udp, &s->udp_peer, out.p, out.len, sr_now_us());
        buf_fini(&out);
        return err;
    }
    if (!err)
        err = sipev_conn_send(s->conn, out.p, out.len);
    buf_fini(&out);
    /* TLS and lab TCP are both reliable: no Timer E, Timer F bounds the wait. */
    if (!err)
        sipev_txn_client_start(&s->txn, true, NULL, sr_now_us());
    return err;
}

/* A fresh dialog: new Call-ID and From tag, no To tag, CSeq and NOTIFY order reset. */
static void sub_new_dialog(struct rd_sub *s)
{
    sipev_random_token(s->call_id, 33);
    sipev_random_token(s->from_tag, sizeof(s->from_tag));
    s->to_tag[0] = '\0';
    s->cseq = 0;
    s->have_notify_cseq = false;
    s->have_version = false;
    s->resync = false;
}

static void sub_fail(struct rd_sub *s, const char *what)
{
    uint64_t now = sr_now_us();

    if (s->retry_set) {
        /* The keyagent said when (retry-after), or that at once is right
         * (deactivated, timeout): no back-off growth. */
        s->retry_set = false;
        s->next_attempt_us = now + s->retry_us;
        log_notice("keyagent %s: %s; re-subscribing in %.1f s", s->target, what,
                   (double)s->retry_us / 1e6);
        sub_close(s);
        s->state = SUB_IDLE;
        s->have_version = false;
        return;
    }
    if (!s->backoff_us)
        s->backoff_us = BACKOFF_MIN_US;
    else if (s->backoff_us < BACKOFF_MAX_US / 2)
        s->backoff_us *= 2;
    else
        s->backoff_us = BACKOFF_MAX_US;
    s->next_attempt_us = now + jitter(s->backoff_us);
    log_warn("keyagent %s: %s; retrying in %.1f s", s->target, what,
             (double)(s->next_attempt_us - now) / 1e6);
    sub_close(s);
    s->state = SUB_IDLE;
    s->have_version = false;
}

static bool reply(struct rd_sub *s, const struct sipev_msg *m, unsigned code, const char *reason)
{
    struct buf out;
    enum sr_err err;

    buf_init(&out, SIPEV_MAX_MSG);
    err = sipev_resp_print(&out, m, code, reason, NULL, NULL, 0, NULL, NULL, 0);
    if (!err && s->udp)
        err = sipev_udp_send_response(s->udp, s->udp_from ? s->udp_from : &s->udp_peer, out.p,
                                      out.len, sr_now_us());
    else if (!err)
        err = sipev_conn_send(s->conn, out.p, out.len);
    buf_fini(&out);
    return err == SR_OK;
}

static bool hdr_token_is(const struct sipev_msg *m, enum sipev_hdr_id id, const char *want)
{
    const struct sipev_hdr *h = sipev_msg_hdr(m, id);

    return h && slice_eq_nocase(sipev_value_token(h->value), slice_cstr(want));
}

static unsigned hdr_uint(const struct sipev_msg *m, enum sipev_hdr_id id, unsigned dflt)
{
    const struct sipev_hdr *h = sipev_msg_hdr(m, id);
    uint64_t v;

    if (h && slice_to_u64(sipev_value_token(h->value), UINT32_MAX, &v))
        return (unsigned)v;
    return dflt;
}

static bool on_response(struct rd_sub *s, const struct sipev_msg *m)
{
    const struct sipev_hdr *cseq = sipev_msg_hdr(m, SIPEV_HDR_CSEQ);
    const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);
    struct slice method, tag;
    uint32_t num;

    if (!cseq || !sipev_cseq_parse(cseq->value, &num, &method) ||
        !slice_eq(method, SLICE_LIT("SUBSCRIBE")) || num != s->cseq)
        return true; /* a stray response: RFC 3261 17.1.3 says drop it */
    /* Over UDP the endpoint's transaction already let only this one through. */
    if (!s->udp &&
        !(sipev_txn_client_on_response(&s->txn, m->status, sr_now_us()) & SIPEV_TXN_DELIVER))
        return true; /* absorbed by the transaction (late or repeated) */
    if (m->status < 200)
        return true;
    if (s->unsubscribing) {
        s->pending_fail = "unsubscribed";
        return false;
    }
    if (m->status >= 200 && m->status < 300) {
        unsigned granted = hdr_uint(m, SIPEV_HDR_EXPIRES, s->cfg.expires);
        if (to && sipev_param(to->value, "tag", &tag) && !s->to_tag[0])
            slice_copy_cstr(tag, s->to_tag, sizeof(s->to_tag));
        if (granted == 0)
            granted = 60;
        s->state = SUB_ACTIVE;
        s->backoff_us = 0;
        s->refresh_us = sr_now_us() + (uint64_t)granted * 1000000u * 2 / 3;
        log_notice("keyagent %s (%s): subscription active for %u s", s->target, s->peer, granted);
        if (s->resync) {
            /* A NOTIFY gap was seen while this SUBSCRIBE was in flight. */
            s->resync = false;
            s->state = SUB_SUBSCRIBING;
            return sub_send_subscribe(s, s->cfg.expires) == SR_OK;
        }
        return true;
    }
    if (m->status == 423) {
        unsigned min = hdr_uint(m, SIPEV_HDR_MIN_EXPIRES, 0);
        if (min > s->cfg.expires && min <= 86400) {
            log_notice("keyagent %s: raising Expires to its Min-Expires %u", s->target, min);
            s->cfg.expires = min;
            return sub_send_subscribe(s, min) == SR_OK;
        }
    }
    if (m->status == 481 && s->to_tag[0]) {
        /* RFC 6665 4.1.2.2: the keyagent forgot us (restart): a new
         * subscription in a fresh dialog, at once. */
        log_notice("keyagent %s: 481 on refresh; subscribing in a new dialog", s->target);
        sub_new_dialog(s);
        return sub_send_subscribe(s, s->cfg.expires) == SR_OK;
    }
    log_error("keyagent %s (%s) refused the subscription: %u %.*s", s->target, s->peer, m->status,
              SLICE_FMT(m->reason));
    s->pending_fail = "subscription refused";
    return false;
}

static bool on_notify(struct rd_sub *s, const struct sipev_msg *m)
{
    const struct sipev_hdr *cid = sipev_msg_hdr(m, SIPEV_HDR_CALL_ID);
    const struct sipev_hdr *ss = sipev_msg_hdr(m, SIPEV_HDR_SUBSCRIPTION_STATE);
    const struct sipev_hdr *ct = sipev_msg_hdr(m, SIPEV_HDR_CONTENT_TYPE);
    struct sipev_keybody kb;
    const char *why = NULL;
    enum sr_err err;
    bool terminated;

    if (!cid || !slice_eq(cid->value, slice_cstr(s->call_id)))
        return reply(s, m, 481, "Subscription Does Not Exist");
    if (!hdr_token_is(m, SIPEV_HDR_EVENT, SIPEV_EVENT_PACKAGE))
        return reply(s, m, 489, "Bad Event");
    if (!ss)
        return reply(s, m, 400, "Missing Subscription-State");
    {
        /* RFC 3261 12.2.2: requests within a dialog arrive in CSeq order. */
        const struct sipev_hdr *cs = sipev_msg_hdr(m, SIPEV_HDR_CSEQ);
        uint32_t num = 0;
        if (!cs || !sipev_cseq_parse(cs->value, &num, NULL))
            return reply(s, m, 400, "Bad CSeq");
        if (s->have_notify_cseq && num <= s->notify_cseq) {
            log_warn("keyagent %s: NOTIFY CSeq %u after %u: out of order, refused", s->target, num,
                     s->notify_cseq);
            return reply(s, m, 500, "CSeq Out of Order");
        }
        s->have_notify_cseq = true;
        s->notify_cseq = num;
    }
    terminated = slice_eq_nocase(sipev_value_token(ss->value), SLICE_LIT("terminated"));
    if (!terminated && s->state == SUB_ACTIVE) {
        /* RFC 6665 4.1.2.3: the notifier may shorten the subscription. */
        struct slice ev;
        uint64_t left;
        if (sipev_param(ss->value, "expires", &ev) && slice_to_u64(ev, 86400, &left) && left > 0) {
            uint64_t at = sr_now_us() + left * 1000000u * 2 / 3;
            if (at < s->refresh_us)
                s->refresh_us = at;
        }
    }
    if (m->body.len) {
        if (!ct || !slice_eq_nocase(sipev_value_token(ct->value), SLICE_LIT(SIPEV_KEYBODY_TYPE)))
            return reply(s, m, 415, "Unsupported Media Type");
        sipev_keybody_init(&kb);
        err = sipev_keybody_parse(m->body.p, m->body.len, &kb, &why);
        if (err) {
            log_error("keyagent %s: NOTIFY body rejected: %s (%s)", s->target, sr_strerror(err),
                      why ? why : "?");
            return reply(s, m, 400, "Bad Key Body");
        }
        if (!reply(s, m, 200, "OK")) {
            sipev_keybody_fini(&kb);
            return false;
        }
        bool gap = !kb.full && (!s->have_version || kb.version != s->last_version + 1);
        if (gap)
            log_warn("keyagent %s: partial NOTIFY version %llu after %s%llu: a NOTIFY was lost; "
                     "re-subscribing for full state", s->target, (unsigned long long)kb.version,
                     s->have_version ? "" : "none, ",
                     (unsigned long long)(s->have_version ? s->last_version : 0));
        s->have_version = true;
        s->last_version = kb.version;
        s->cfg.on_keybody(s->peer, &kb, s->cfg.arg); /* its keys are good even after a gap */
        sipev_keybody_fini(&kb);
        if (gap && !terminated) {
            if (s->state == SUB_ACTIVE) {
                s->state = SUB_SUBSCRIBING;
                if (sub_send_subscribe(s, s->cfg.expires) != SR_OK) {
                    s->pending_fail = "cannot re-subscribe";
                    return false;
                }
            } else {
                s->resync = true;
            }
        }
    } else if (!reply(s, m, 200, "OK")) {
        return false;
    }
    if (terminated && !s->unsubscribing) {
        struct slice reason = SLICE_NULL, ra;
        uint64_t after;
        sipev_param(ss->value, "reason", &reason);
        log_warn("keyagent %s ended the subscription (reason %.*s)", s->target, SLICE_FMT(reason));
        s->to_tag[0] = '\0';
        /* RFC 6665 4.1.3: what the reason says about trying again. */
        if (reason.len == 0 || slice_eq_nocase(reason, SLICE_LIT("deactivated")) ||
            slice_eq_nocase(reason, SLICE_LIT("timeout"))) {
            s->retry_set = true;
            s->retry_us = 0;
            s->backoff_us = 0;
        } else if ((slice_eq_nocase(reason, SLICE_LIT("probation")) ||
                    slice_eq_nocase(reason, SLICE_LIT("giveup"))) &&
                   sipev_param(ss->value, "retry-after", &ra) && slice_to_u64(ra, 86400, &after)) {
            s->retry_set = true;
            s->retry_us = after * 1000000u;
        } /* rejected, noresource, invariant, unknown: back-off */
        s->pending_fail = "subscription terminated"; /* never destroy the conn inside its callback */
        return false;
    }
    return true;
}

static bool on_msg(struct sipev_conn *c, const struct sipev_msg *m, void *arg)
{
    struct rd_sub *s = arg;

    (void)c;
    if (m->status)
        return on_response(s, m);
    if (slice_eq(m->method, SLICE_LIT("NOTIFY")))
        return on_notify(s, m);
    return reply(s, m, 405, "Method Not Allowed");
}

static void on_udp_msg(struct sipev_udp *u, const struct sipev_msg *m,
                       const struct sipev_addr *from, void *arg)
{
    struct rd_sub *s = arg;
    bool keep;

    (void)u;
    if (s->pending_fail)
        return; /* already failing: the endpoint is destroyed after this io */
    if (!sipev_addr_eq(from, &s->udp_peer)) {
        char a[64];
        sipev_addr_fmt(from, a, sizeof(a));
        log_debug("keyagent %s: datagram from %s ignored", s->target, a);
        return;
    }
    s->udp_from = from;
    keep = on_msg(NULL, m, s);
    s->udp_from = NULL;
    if (!keep && !s->pending_fail)
        s->pending_fail = "cannot answer over UDP";
}

static void on_udp_timeout(struct sipev_udp *u, const char *branch, void *arg)
{
    struct rd_sub *s = arg;

    (void)u;
    (void)branch; /* only SUBSCRIBEs are sent, and any unanswered one ends the dialog */
    if (!s->pending_fail)
        s->pending_fail = "no answer to SUBSCRIBE over UDP (Timer F)";
}

static void on_udp_reject(struct sipev_udp *u, const struct sipev_addr *from, enum sr_err err,
                          const char *why, void *arg)
{
    struct rd_sub *s = arg;
    char a[64];

    (void)u;
    sipev_addr_fmt(from, a, sizeof(a));
    log_debug("keyagent %s: datagram from %s dropped: %s (%s)", s->target, a, sr_strerror(err),
              why);
}

static void on_conn_event(struct rd_sub *s)
{
    enum sr_err err;

    s->pending_fail = NULL;
    err = sipev_conn_io(s->conn);
    if (s->pending_fail) {
        sub_fail(s, s->pending_fail);
        return;
    }
    if (err) {
        /* Say what happened: a keyagent that refuses or sheds connections
         * (overload, admission limits) closes them, which is not a failed
         * certificate check. */
        sub_fail(s, err == SR_EAUTH     ? "TLS authentication failed (a certificate was refused)"
                    : err == SR_ECLOSED ? (sipev_conn_established(s->conn)
                                               ? "keyagent closed the connection"
                                               : "keyagent closed the connection during the TLS "
                                                 "handshake (refused or overloaded)")
                                        : sr_strerror(err));
        return;
    }
    if (s->state == SUB_CONNECTING && sipev_conn_established(s->conn)) {
        snprintf(s->peer, sizeof(s->peer), "%s", sipev_conn_peer(s->conn));
        if (s->peer_identity[0] && !sipev_identity_eq(s->peer, s->peer_identity)) {
            /* Same CA, another identity: someone who holds a certificate of
             * ours answered at this address.  Nothing is sent to it. */
            s->identity_mismatches++;
            log_error("keyagent %s: certificate identity '%s' is not the configured '%s': "
                      "subscription refused",
                      s->target, s->peer, s->peer_identity);
            sub_fail(s, "keyagent identity mismatch");
            return;
        }
        s->state = SUB_SUBSCRIBING;
        if (sub_send_subscribe(s, s->cfg.expires) != SR_OK) {
            sub_fail(s, "cannot send SUBSCRIBE");
            return;
        }
    }
    sub_update_watch(s);
}

static void on_event(struct rd_watch *w, uint32_t events)
{
    struct rd_sub *s = (struct rd_sub *)((char *)w - offsetof(struct rd_sub, watch));
    struct sipev_conn_cfg cc = { 0 };
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    enum sr_err err;

    if (s->udp) {
        s->pending_fail = NULL;
        err = sipev_udp_io(s->udp, sr_now_us());
        if (s->pending_fail)
            sub_fail(s, s->pending_fail);
        else if (err)
            sub_fail(s, "UDP socket failed");
        return;
    }
    if (s->conn) {
        on_conn_event(s);
        return;
    }
    /* TCP connect finished (or failed). */
    if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0 ||
        (events & (EPOLLERR | EPOLLHUP))) {
        char what[128];
        snprintf(what, sizeof(what), "connect failed (%s)", strerror(soerr ? soerr : errno));
        sub_fail(s, what);
        return;
    }
    cc.tls = s->cfg.tls;
    cc.server = false;
    cc.fd = w->fd;
    cc.on_msg = on_msg;
    cc.arg = s;
    err = sipev_conn_create(&s->conn, &cc);
    if (err) {
        sub_fail(s, "cannot start TLS");
        return;
    }
    on_conn_event(s);
}

static int split_host_port(const char *hp, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(hp, ':');

    if (!colon || colon == hp)
        return -1;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (!end || end + 1 != colon)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(end - hp - 1), hp + 1);
    } else {
        snprintf(host, hostlen, "%.*s", (int)(colon - hp), hp);
    }
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

/* Lab UDP: bind an endpoint on the local address that routes to the
 * keyagent (a connected throwaway socket tells which), so Via names a
 * reachable host, then SUBSCRIBE at once. */
static void sub_start_udp(struct rd_sub *s)
{
    char host[CONF_STR_MAX], port[16], lh[64];
    struct sipev_udp_cfg uc = { 0 };
    struct sipev_addr local = { 0 };
    int probe;

    if (split_host_port(s->hostport, host, sizeof(host), port, sizeof(port)) != 0 ||
        sipev_addr_parse(host, port, &s->udp_peer) != SR_OK) {
        sub_fail(s, "keyagent address is not numeric host:port");
        return;
    }
    probe = socket(s->udp_peer.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    local.len = sizeof(local.ss);
    if (probe < 0 || connect(probe, (struct sockaddr *)&s->udp_peer.ss, s->udp_peer.len) != 0 ||
        getsockname(probe, (struct sockaddr *)&local.ss, &local.len) != 0 ||
        getnameinfo((struct sockaddr *)&local.ss, local.len, lh, sizeof(lh), NULL, 0,
                    NI_NUMERICHOST) != 0) {
        if (probe >= 0)
            close(probe);
        sub_fail(s, "no route to the keyagent");
        return;
    }
    close(probe);
    uc.host = lh;
    uc.port = "0";
    uc.lab_allow_keys = s->cfg.tls == NULL; /* rd_sub_create refused UDP otherwise */
    uc.on_msg = on_udp_msg;
    uc.on_timeout = on_udp_timeout;
    uc.on_reject = on_udp_reject;
    uc.arg = s;
    if (sipev_udp_create(&s->udp, &uc) != SR_OK) {
        sub_fail(s, "cannot open the UDP endpoint");
        return;
    }
    s->watch.fd = sipev_udp_fd(s->udp);
    if (sipev_udp_local(s->udp, &local) == SR_OK)
        sipev_addr_fmt(&local, s->local_host, sizeof(s->local_host));
    if (rd_loop_add(s->cfg.loop, &s->watch, EPOLLIN) != SR_OK) {
        sub_fail(s, "epoll");
        return;
    }
    s->watched = true;
    sub_new_dialog(s);
    s->peer[0] = '\0';
    s->state = SUB_SUBSCRIBING;
    if (sub_send_subscribe(s, s->cfg.expires) != SR_OK)
        sub_fail(s, "cannot send SUBSCRIBE over UDP");
}

static void sub_connect(struct rd_sub *s)
{
    struct addrinfo hints = { 0 }, *ai = NULL;
    char host[CONF_STR_MAX], port[16];
    struct sockaddr_storage local;
    socklen_t llen = sizeof(local);
    int fd = -1, rc;

    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (strncmp(s->target, UDP_PREFIX, sizeof(UDP_PREFIX) - 1) == 0) {
        sub_start_udp(s);
        return;
    }
    if (split_host_port(s->hostport, host, sizeof(host), port, sizeof(port)) != 0 ||
        getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
        sub_fail(s, "cannot resolve the keyagent address");
        return;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        sub_fail(s, "socket");
        return;
    }
    rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    s->watch.fd = fd;
    if (rc != 0 && errno != EINPROGRESS) {
        sub_fail(s, "connect failed");
        return;
    }
    if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
        char h[64], p[8];
        if (getnameinfo((struct sockaddr *)&local, llen, h, sizeof(h), p, sizeof(p),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0)
            snprintf(s->local_host, sizeof(s->local_host),
                     local.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
    }
    if (rd_loop_add(s->cfg.loop, &s->watch, EPOLLOUT) != SR_OK) {
        sub_fail(s, "epoll");
        return;
    }
    s->watched = true;
    s->state = SUB_CONNECTING;
    s->deadline_us = sr_now_us() + 10000000u;
    /* A new dialog for every connection: the keyagent has no state for us. */
    sub_new_dialog(s);
    s->peer[0] = '\0';
}

enum sr_err rd_sub_create(struct rd_sub **out, const struct rd_sub_cfg *cfg)
{
    struct rd_sub *s;

    if (!out || !cfg || !cfg->target || !cfg->identity || !cfg->loop || !cfg->on_keybody)
        return SR_EINVAL;
    if (strncmp(cfg->target, UDP_PREFIX, sizeof(UDP_PREFIX) - 1) == 0 && cfg->tls) {
        /* Keys in clear: only a recorder already in lab mode may use UDP. */
        log_error("keyagent %s: refused: UDP carries SRTP keys in clear; it needs "
                  "lab-allow-plain-tcp=yes (which covers UDP) and no tls-cert/tls-key/tls-ca",
                  cfg->target);
        return SR_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return SR_ENOMEM;
    s->cfg = *cfg;
    snprintf(s->target, sizeof(s->target), "%s", cfg->target);
    s->hostport = s->target;
    if (strncmp(s->target, UDP_PREFIX, sizeof(UDP_PREFIX) - 1) == 0) {
        s->hostport = s->target + sizeof(UDP_PREFIX) - 1;
        log_warn("LAB MODE: keyagent %s over UDP; SRTP keys cross the network in clear",
                 s->target);
    }
    snprintf(s->identity, sizeof(s->identity), "%s", cfg->identity);
    if (cfg->peer_identity &&
        snprintf(s->peer_identity, sizeof(s->peer_identity), "%s", cfg->peer_identity) >=
            (int)sizeof(s->peer_identity)) {
        free(s);
        return SR_EINVAL;
    }
    s->cfg.peer_identity = s->peer_identity;
    s->cfg.target = s->target;
    s->cfg.identity = s->identity;
    s->watch.on_event = on_event;
    s->watch.fd = -1;
    s->state = SUB_IDLE;
    s->next_attempt_us = sr_now_us();
    *out = s;
    return SR_OK;
}

void rd_sub_set_tls(struct rd_sub *s, SSL_CTX *tls)
{
    /* The live connection keeps the context it was made with (each SSL
     * holds a reference to its SSL_CTX); the next connect takes this one. */
    if (s->cfg.tls && tls)
        s->cfg.tls = tls;
}

void rd_sub_destroy(struct rd_sub *s)
{
    if (!s)
        return;
    sub_close(s);
    free(s);
}

/* Lab UDP: the endpoint's timers first (retransmissions, Timer F, expiry of
 * answered NOTIFYs), then the subscription's own, whichever comes first. */
static uint64_t sub_tick_udp(struct rd_sub *s, uint64_t now)
{
    uint64_t next;

    s->pending_fail = NULL;
    sipev_udp_tick(s->udp, now);
    if (s->pending_fail) {
        sub_fail(s, s->pending_fail);
        return s->next_attempt_us;
    }
    if (s->state == SUB_ACTIVE && now >= s->refresh_us) {
        s->state = SUB_SUBSCRIBING;
        if (sub_send_subscribe(s, s->cfg.expires) != SR_OK) {
            sub_fail(s, "cannot refresh");
            return s->next_attempt_us;
        }
    }
    next = sipev_udp_next_us(s->udp);
    if (s->state == SUB_ACTIVE && s->refresh_us < next)
        next = s->refresh_us;
    return next == UINT64_MAX ? now + 1000000u : next;
}

uint64_t rd_sub_tick(struct rd_sub *s, uint64_t now)
{
    if (s->udp && (s->state == SUB_SUBSCRIBING || s->state == SUB_ACTIVE))
        return sub_tick_udp(s, now);
    switch (s->state) {
    case SUB_IDLE:
        if (now >= s->next_attempt_us) {
            sub_connect(s);
            return s->state == SUB_IDLE ? s->next_attempt_us : s->deadline_us;
        }
        return s->next_attempt_us;
    case SUB_CONNECTING:
        if (now >= s->deadline_us) {
            sub_fail(s, "connect/handshake timed out");
            return s->next_attempt_us;
        }
        return s->deadline_us;
    case SUB_SUBSCRIBING:
        if (sipev_txn_tick(&s->txn, now) & SIPEV_TXN_TIMEOUT) {
            sub_fail(s, "no answer to SUBSCRIBE (Timer F)");
            return s->next_attempt_us;
        }
        return sipev_txn_next_us(&s->txn);
    case SUB_ACTIVE:
        if (now >= s->refresh_us) {
            s->state = SUB_SUBSCRIBING;
            if (sub_send_subscribe(s, s->cfg.expires) != SR_OK) {
                sub_fail(s, "cannot refresh");
                return s->next_attempt_us;
            }
            sub_update_watch(s);
            return sipev_txn_next_us(&s->txn);
        }
        return s->refresh_us;
    }
    return now + 1000000u;
}

void rd_sub_unsubscribe(struct rd_sub *s)
{
    if (!s || (!s->conn && !s->udp) || (s->state != SUB_ACTIVE && s->state != SUB_SUBSCRIBING))
        return;
    s->unsubscribing = true;
    if (s->udp) {
        (void)sub_send_subscribe(s, 0); /* one datagram, best effort: we are shutting down */
        return;
    }
    if (sub_send_subscribe(s, 0) == SR_OK)
        sipev_conn_io(s->conn); /* best effort: flush now, we are shutting down */
}

uint64_t rd_sub_identity_mismatches(const struct rd_sub *s)
{
    return s ? s->identity_mismatches : 0;
}

bool rd_sub_active(const struct rd_sub *s)
{
    return s && s->state == SUB_ACTIVE;
}

const char *rd_sub_target(const struct rd_sub *s)
{
    return s->target;
}

const char *rd_sub_state_name(const struct rd_sub *s)
{
    static const char *const names[] = { [SUB_IDLE] = "idle", [SUB_CONNECTING] = "connecting",
                                         [SUB_SUBSCRIBING] = "subscribing",
                                         [SUB_ACTIVE] = "active" };
    return names[s->state];
}
