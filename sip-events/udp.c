/** @file udp.c  SIP over UDP for lab use: one datagram socket and a bounded
 *  table of non-INVITE transactions driven by txn.c.
 *
 * UDP is the transport RFC 3261 built its timers for, and the only one in
 * this project where they matter: the network may drop or duplicate any
 * message, so the client retransmits (Timer E) and the server answers a
 * repeated request from its cache instead of handing it to the owner again.
 * Keys in clear are the reason the constructor demands lab_allow_keys.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sipev.h"
#include "util.h"

enum {
    UDP_DEFAULT_TXNS = 64,
    UDP_MAX_TXNS = 4096,
    UDP_READS_PER_IO = 16, /* fairness: other sockets share the loop */
    UDP_BRANCH_MAX = 128,
    UDP_METHOD_MAX = 32,
};

struct udp_txn {
    bool used;
    struct sipev_txn t;
    char branch[UDP_BRANCH_MAX];
    char method[UDP_METHOD_MAX];
    struct sipev_addr peer;   /* client: where the request goes */
    struct buf msg;           /* client: the request; server: the last response */
    uint64_t created_us;      /* server: drop if never answered within 64*T1 */
};

struct sipev_udp {
    int fd;
    struct sipev_udp_cfg cfg;
    struct sipev_txn_timers timers;
    size_t max_datagram;
    char *rx;                 /* max_datagram + 1 bytes: one more shows truncation */
    struct udp_txn *txns;
    size_t n_txns;
    struct sipev_udp_stats st;
};

/* ------------------------------------------------------------ addresses */

enum sr_err sipev_addr_parse(const char *host, const char *port, struct sipev_addr *out)
{
    struct addrinfo hints = { 0 }, *ai = NULL;
    char h[INET6_ADDRSTRLEN + 2];
    size_t hl;

    if (!host || !port || !out)
        return SR_EINVAL;
    hl = strlen(host);
    if (hl >= sizeof(h))
        return SR_EINVAL;
    if (host[0] == '[') { /* "[::1]" as written in URIs and Via */
        if (hl < 3 || host[hl - 1] != ']')
            return SR_EINVAL;
        memcpy(h, host + 1, hl - 2);
        h[hl - 2] = '\0';
    } else {
        memcpy(h, host, hl + 1);
    }
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(h, port, &hints, &ai) != 0 || !ai)
        return SR_EINVAL;
    if (ai->ai_addrlen > sizeof(out->ss)) {
        freeaddrinfo(ai);
        return SR_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    memcpy(&out->ss, ai->ai_addr, ai->ai_addrlen);
    out->len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return SR_OK;
}

void sipev_addr_fmt(const struct sipev_addr *a, char *out, size_t outlen)
{
    char h[INET6_ADDRSTRLEN], p[8];

    if (!outlen)
        return;
    if (!a || getnameinfo((const struct sockaddr *)&a->ss, a->len, h, sizeof(h), p, sizeof(p),
                          NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "?");
        return;
    }
    snprintf(out, outlen, a->ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

bool sipev_addr_eq(const struct sipev_addr *a, const struct sipev_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
               x->sin6_scope_id == y->sin6_scope_id;
    }
    return false;
}

/* --------------------------------------------------------------- create */

enum sr_err sipev_udp_create(struct sipev_udp **out, const struct sipev_udp_cfg *cfg)
{
    struct sipev_udp *u = NULL;
    struct sipev_addr local;
    enum sr_err err = SR_EINVAL;

    if (!out || !cfg || !cfg->on_msg || !cfg->host || !cfg->port)
        return SR_EINVAL;
    if (!cfg->lab_allow_keys) {
        log_debug("UDP endpoint refused: no lab setting allows keys in clear");
        return SR_EINVAL;
    }
    if ((cfg->max_datagram && (cfg->max_datagram < SIPEV_MIN_MSG ||
                               cfg->max_datagram > SIPEV_MAX_MSG)) ||
        cfg->max_txns > UDP_MAX_TXNS)
        return SR_EINVAL;
    if (sipev_addr_parse(cfg->host, cfg->port, &local) != SR_OK)
        return SR_EINVAL;
    u = calloc(1, sizeof(*u));
    if (!u)
        return SR_ENOMEM;
    u->fd = -1;
    u->cfg = *cfg;
    u->cfg.host = u->cfg.port = NULL; /* borrowed only for the call */
    u->timers = cfg->timers ? *cfg->timers : sipev_txn_rfc_timers;
    u->cfg.timers = &u->timers;
    u->max_datagram = cfg->max_datagram ? cfg->max_datagram : SIPEV_MAX_MSG;
    u->n_txns = cfg->max_txns ? cfg->max_txns : UDP_DEFAULT_TXNS;
    err = SR_ENOMEM;
    u->rx = malloc(u->max_datagram + 1);
    u->txns = calloc(u->n_txns, sizeof(*u->txns));
    if (!u->rx || !u->txns)
        goto fail;
    for (size_t i = 0; i < u->n_txns; i++)
        buf_init(&u->txns[i].msg, u->max_datagram);
    err = SR_EIO;
    u->fd = socket(local.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        log_debug("udp socket: %s", strerror(errno));
        goto fail;
    }
    if (local.ss.ss_family == AF_INET6) {
        int one = 1; /* "::" means IPv6 only: an IPv4 peer gets its own endpoint */
        setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(u->fd, (struct sockaddr *)&local.ss, local.len) != 0) {
        log_debug("udp bind: %s", strerror(errno));
        goto fail;
    }
    *out = u;
    return SR_OK;
fail:
    sipev_udp_destroy(u);
    return err;
}

void sipev_udp_destroy(struct sipev_udp *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (u->txns)
        for (size_t i = 0; i < u->n_txns; i++)
            buf_fini(&u->txns[i].msg); /* wipes: a NOTIFY may hold keys */
    free(u->txns);
    if (u->rx)
        sr_wipe(u->rx, u->max_datagram + 1);
    free(u->rx);
    free(u);
}

int sipev_udp_fd(const struct sipev_udp *u)
{
    return u ? u->fd : -1;
}

enum sr_err sipev_udp_local(const struct sipev_udp *u, struct sipev_addr *out)
{
    if (!u || !out)
        return SR_EINVAL;
    memset(out, 0, sizeof(*out));
    out->len = sizeof(out->ss);
    if (getsockname(u->fd, (struct sockaddr *)&out->ss, &out->len) != 0)
        return SR_EIO;
    return SR_OK;
}

size_t sipev_udp_txn_count(const struct sipev_udp *u)
{
    size_t n = 0;

    for (size_t i = 0; u && i < u->n_txns; i++)
        n += u->txns[i].used;
    return n;
}

void sipev_udp_get_stats(const struct sipev_udp *u, struct sipev_udp_stats *out)
{
    if (u && out)
        *out = u->st;
}

/* ---------------------------------------------------------- transactions */

/* The transaction key of a message: top Via branch and CSeq method. */
static bool msg_key(const struct sipev_msg *m, struct slice *branch, struct slice *method)
{
    const struct sipev_hdr *via = sipev_msg_hdr(m, SIPEV_HDR_VIA);
    const struct sipev_hdr *cseq = sipev_msg_hdr(m, SIPEV_HDR_CSEQ);
    struct slice top;

    if (!via || !cseq || !sipev_cseq_parse(cseq->value, NULL, method))
        return false;
    /* A comma-joined Via: only the first (topmost) value counts. */
    top = via->value;
    {
        long comma = slice_find(top, ',');
        if (comma >= 0)
            top.len = (size_t)comma;
    }
    return sipev_param(top, "branch", branch) && branch->len > 0 &&
           branch->len < UDP_BRANCH_MAX && method->len < UDP_METHOD_MAX;
}

static struct udp_txn *txn_find(struct sipev_udp *u, bool client, struct slice branch,
                                struct slice method)
{
    for (size_t i = 0; i < u->n_txns; i++) {
        struct udp_txn *x = &u->txns[i];
        if (x->used && x->t.client == client && slice_eq(slice_cstr(x->branch), branch) &&
            slice_eq(slice_cstr(x->method), method))
            return x;
    }
    return NULL;
}

static struct udp_txn *txn_alloc(struct sipev_udp *u, struct slice branch, struct slice method)
{
    for (size_t i = 0; i < u->n_txns; i++) {
        struct udp_txn *x = &u->txns[i];
        if (!x->used) {
            x->used = true;
            buf_reset(&x->msg);
            slice_copy_cstr(branch, x->branch, sizeof(x->branch));
            slice_copy_cstr(method, x->method, sizeof(x->method));
            return x;
        }
    }
    u->st.txn_full++;
    return NULL;
}

/* Cached messages may be NOTIFYs with keys: wipe, do not just forget. */
static void msg_clear(struct udp_txn *x)
{
    if (x->msg.p)
        sr_wipe(x->msg.p, x->msg.cap);
    buf_reset(&x->msg);
}

static void txn_free(struct udp_txn *x)
{
    x->used = false;
    msg_clear(x);
}

static enum sr_err udp_sendto(struct sipev_udp *u, const struct sipev_addr *to, const void *data,
                              size_t len)
{
    ssize_t n = sendto(u->fd, data, len, 0, (const struct sockaddr *)&to->ss, to->len);

    if (n < 0 || (size_t)n != len) {
        log_debug("udp sendto: %s", n < 0 ? strerror(errno) : "short write");
        return SR_EIO;
    }
    return SR_OK;
}

enum sr_err sipev_udp_send_request(struct sipev_udp *u, const struct sipev_addr *to,
                                   const void *data, size_t len, uint64_t now_us)
{
    struct sipev_msg m;
    struct slice branch, method;
    struct udp_txn *x;
    size_t used = 0;
    enum sr_err err;

    if (!u || !to || !data)
        return SR_EINVAL;
    if (len > u->max_datagram)
        return SR_ELIMIT;
    /* Parsing our own request keeps the key in one place: the bytes sent. */
    if (sipev_msg_parse(data, len, false, &m, &used, NULL) != SR_OK || m.status != 0 ||
        !msg_key(&m, &branch, &method))
        return SR_EPARSE;
    if (txn_find(u, true, branch, method))
        return SR_ESTATE;
    x = txn_alloc(u, branch, method);
    if (!x)
        return SR_ELIMIT;
    x->peer = *to;
    err = buf_append(&x->msg, data, len);
    if (!err)
        err = udp_sendto(u, to, data, len);
    if (err) {
        txn_free(x);
        return err;
    }
    sipev_txn_client_start(&x->t, false, &u->timers, now_us);
    return SR_OK;
}

enum sr_err sipev_udp_send_response(struct sipev_udp *u, const struct sipev_addr *to,
                                    const void *data, size_t len, uint64_t now_us)
{
    struct sipev_msg m;
    struct slice branch, method;
    struct udp_txn *x;
    size_t used = 0;
    unsigned act;
    enum sr_err err;

    if (!u || !to || !data)
        return SR_EINVAL;
    if (len > u->max_datagram)
        return SR_ELIMIT;
    if (sipev_msg_parse(data, len, false, &m, &used, NULL) != SR_OK || m.status == 0 ||
        !msg_key(&m, &branch, &method))
        return SR_EPARSE;
    x = txn_find(u, false, branch, method);
    if (!x)
        return SR_ENOTFOUND;
    act = sipev_txn_server_respond(&x->t, m.status, now_us);
    if (!(act & SIPEV_TXN_SEND))
        return SR_ESTATE;
    x->peer = *to;
    msg_clear(x);
    err = buf_append(&x->msg, data, len);
    if (!err)
        err = udp_sendto(u, to, data, len);
    if (act & SIPEV_TXN_DONE)
        txn_free(x);
    return err;
}

/* --------------------------------------------------------------- receive */

static void reject(struct sipev_udp *u, const struct sipev_addr *from, enum sr_err err,
                   const char *why)
{
    if (u->cfg.on_reject)
        u->cfg.on_reject(u, from, err, why, u->cfg.arg);
}

/* RFC 3261 8.2.6 / 21.4.x: answer a request statelessly when enough of it
 * was read to address the response (the same rule as conn.c's 400). */
static void answer_stateless(struct sipev_udp *u, const struct sipev_addr *to,
                             const struct sipev_msg *msg, unsigned status, const char *reason,
                             const char *why)
{
    struct buf out;
    char warning[160];
    struct sipev_extra_hdr w = { "Warning", warning };
    size_t j = 0;

    if (msg->status != 0 || msg->method.len == 0 || !sipev_msg_hdr(msg, SIPEV_HDR_VIA) ||
        !sipev_msg_hdr(msg, SIPEV_HDR_CSEQ) || !sipev_msg_hdr(msg, SIPEV_HDR_FROM) ||
        !sipev_msg_hdr(msg, SIPEV_HDR_TO) || !sipev_msg_hdr(msg, SIPEV_HDR_CALL_ID))
        return;
    /* RFC 3261 20.43: warn-code 399, warn-agent, quoted text without quotes inside. */
    for (const char *s = "399 srtprec \""; *s && j < sizeof(warning) - 3; s++)
        warning[j++] = *s;
    for (const char *s = why ? why : "malformed message"; *s && j < sizeof(warning) - 3; s++)
        if (*s != '"' && *s != '\\' && (unsigned char)*s >= 0x20)
            warning[j++] = *s;
    warning[j++] = '"';
    warning[j] = '\0';
    buf_init(&out, SIPEV_MAX_MSG);
    if (sipev_resp_print(&out, msg, status, reason, NULL, &w, 1, NULL, NULL, 0) == SR_OK &&
        out.len <= u->max_datagram)
        (void)udp_sendto(u, to, out.p, out.len);
    buf_fini(&out);
}

static bool only_crlf(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

static void on_request(struct sipev_udp *u, const struct sipev_msg *m,
                       const struct sipev_addr *from, uint64_t now_us)
{
    struct slice branch, method;
    struct udp_txn *x;

    if (!msg_key(m, &branch, &method)) {
        u->st.rx_malformed++;
        answer_stateless(u, from, m, 400, "Bad Request", "missing or oversized Via branch");
        reject(u, from, SR_EPARSE, "missing or oversized Via branch");
        return;
    }
    x = txn_find(u, false, branch, method);
    if (x) {
        /* A retransmission: never the owner's business again. */
        u->st.rx_absorbed++;
        if ((sipev_txn_server_on_request(&x->t, now_us) & SIPEV_TXN_SEND) && x->msg.len) {
            u->st.tx_retransmits++;
            (void)udp_sendto(u, &x->peer, x->msg.p, x->msg.len);
        }
        return;
    }
    x = txn_alloc(u, branch, method);
    if (!x) {
        answer_stateless(u, from, m, 503, "Service Unavailable", "transaction table full");
        reject(u, from, SR_ELIMIT, "transaction table full");
        return;
    }
    x->peer = *from;
    x->created_us = now_us;
    sipev_txn_server_start(&x->t, false, &u->timers, now_us);
    u->cfg.on_msg(u, m, from, u->cfg.arg);
}

static void on_response(struct sipev_udp *u, const struct sipev_msg *m,
                        const struct sipev_addr *from, uint64_t now_us)
{
    struct slice branch, method;
    struct udp_txn *x = NULL;

    if (msg_key(m, &branch, &method))
        x = txn_find(u, true, branch, method);
    if (!x) {
        u->st.rx_stray++; /* RFC 3261 18.1.2: no matching transaction, drop */
        reject(u, from, SR_ENOTFOUND, "response matches no transaction");
        return;
    }
    if (!(sipev_txn_client_on_response(&x->t, m->status, now_us) & SIPEV_TXN_DELIVER)) {
        u->st.rx_absorbed++;
        return;
    }
    if (m->status >= 200) /* the request is answered: its copy is not needed */
        msg_clear(x);
    u->cfg.on_msg(u, m, from, u->cfg.arg);
}

static void on_datagram(struct sipev_udp *u, size_t len, size_t real_len,
                        const struct sipev_addr *from, uint64_t now_us)
{
    struct sipev_msg m;
    const char *why = NULL;
    size_t used = 0;
    enum sr_err err;

    u->st.rx++;
    if (real_len > u->max_datagram) {
        /* Parse what fits: a request whose headers arrived gets 513 (RFC 3261 21.5.11). */
        u->st.rx_oversized++;
        memset(&m, 0, sizeof(m));
        err = sipev_msg_parse(u->rx, len, false, &m, &used, &why);
        if (err == SR_OK || err == SR_EPARSE || err == SR_ELIMIT)
            answer_stateless(u, from, &m, 513, "Message Too Large",
                             "datagram larger than max_datagram");
        reject(u, from, SR_ELIMIT, "datagram larger than max_datagram");
        return;
    }
    if (only_crlf(u->rx, len))
        return; /* RFC 5626 keep-alive style padding: nothing to answer */
    memset(&m, 0, sizeof(m));
    err = sipev_msg_parse(u->rx, len, false, &m, &used, &why);
    if (err == SR_EAGAIN) {
        err = SR_EPARSE;
        why = "incomplete message in datagram";
    }
    if (err) {
        u->st.rx_malformed++;
        if (err == SR_EPARSE || err == SR_ELIMIT)
            answer_stateless(u, from, &m, 400, "Bad Request", why);
        reject(u, from, err, why ? why : sr_strerror(err));
        return;
    }
    if (m.status)
        on_response(u, &m, from, now_us);
    else
        on_request(u, &m, from, now_us);
}

enum sr_err sipev_udp_io(struct sipev_udp *u, uint64_t now_us)
{
    if (!u)
        return SR_EINVAL;
    for (int i = 0; i < UDP_READS_PER_IO; i++) {
        struct sipev_addr from;
        ssize_t n;

        memset(&from, 0, sizeof(from));
        from.len = sizeof(from.ss);
        /* MSG_TRUNC: the return value is the datagram's real size, so an
         * oversized one is recognised rather than parsed as if whole. */
        n = recvfrom(u->fd, u->rx, u->max_datagram + 1, MSG_TRUNC,
                     (struct sockaddr *)&from.ss, &from.len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return SR_OK;
            if (errno == ECONNREFUSED)
                continue; /* an ICMP error for an earlier send: Timer F will tell */
            log_debug("udp recvfrom: %s", strerror(errno));
            return SR_EIO;
        }
        size_t real = (size_t)n;
        size_t have = real > u->max_datagram + 1 ? u->max_datagram + 1 : real;
        on_datagram(u, have > u->max_datagram ? u->max_datagram : have, real, &from, now_us);
    }
    return SR_OK;
}

/* ---------------------------------------------------------------- timers */

void sipev_udp_tick(struct sipev_udp *u, uint64_t now_us)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n_txns; i++) {
        struct udp_txn *x = &u->txns[i];
        unsigned act;

        if (!x->used)
            continue;
        if (!x->t.client && x->t.state == SIPEV_TXN_TRYING &&
            now_us >= x->created_us + 64 * u->timers.t1_us) {
            txn_free(x); /* the owner never answered: do not hold the slot forever */
            continue;
        }
        act = sipev_txn_tick(&x->t, now_us);
        if ((act & SIPEV_TXN_SEND) && x->msg.len) {
            u->st.tx_retransmits++;
            (void)udp_sendto(u, &x->peer, x->msg.p, x->msg.len);
        }
        if (act & SIPEV_TXN_DONE) {
            char branch[UDP_BRANCH_MAX];
            memcpy(branch, x->branch, sizeof(branch));
            txn_free(x); /* before the callback, which may start a new transaction */
            if ((act & SIPEV_TXN_TIMEOUT) && u->cfg.on_timeout)
                u->cfg.on_timeout(u, branch, u->cfg.arg);
        }
    }
}

uint64_t sipev_udp_next_us(const struct sipev_udp *u)
{
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; u && i < u->n_txns; i++) {
        const struct udp_txn *x = &u->txns[i];
        uint64_t at;
        if (!x->used)
            continue;
        if (!x->t.client && x->t.state == SIPEV_TXN_TRYING)
            at = x->created_us + 64 * u->timers.t1_us;
        else
            at = sipev_txn_next_us(&x->t);
        if (at < next)
            next = at;
    }
    return next;
}
