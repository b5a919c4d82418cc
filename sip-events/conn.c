/** @file conn.c  One non-blocking SIP stream connection (TLS or lab TCP).
 *
 * Framing follows RFC 3261 18.3: a message ends Content-Length bytes after
 * its blank line, so sipev_msg_parse runs with require_length.  Between
 * messages a CRLFCRLF ping is answered with a CRLF pong and a lone CRLF is
 * dropped (RFC 5626 3.5.1).  To keep a slow sender from making us re-parse a
 * growing buffer on every byte, a header section is parsed only once its
 * blank line is present, and a body only once all of it has arrived.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sipev.h"
#include "util.h"

enum {
    CONN_DEFAULT_MAX = 256 * 1024,
    CONN_READ_CHUNK = 16 * 1024,
    CONN_READS_PER_IO = 16, /* fairness: other connections share the loop */
};

struct sipev_conn {
    int fd;                /* owned */
    SSL *ssl;              /* owned; NULL for plain TCP */
    bool server;
    bool established;
    bool hs_want_write;    /* the handshake or a read is blocked on writing */
    enum sr_err failed;    /* sticky: SR_OK while healthy */
    struct buf rx;         /* rx.p[rx_off .. rx.len) not yet consumed */
    size_t rx_off;
    size_t rx_need;        /* do not parse before this many unconsumed bytes */
    size_t rx_scanned;     /* unconsumed bytes already searched for the blank line */
    struct buf tx;
    size_t tx_off;
    sipev_msg_fn *on_msg;
    void *arg;
    char peer[SIPEV_STR];
};

/* buf_consume moves the tail down and leaves its old copy behind: wipe it
 * (rx and tx both hold key bodies in the clear). */
static void consume_wiped(struct buf *b, size_t n)
{
    size_t before = b->len;

    buf_consume(b, n);
    sr_wipe(b->p + b->len, before - b->len);
}

int sipev_conn_fd(const struct sipev_conn *c)
{
    return c ? c->fd : -1;
}

enum sr_err sipev_conn_set_max_tx(struct sipev_conn *c, size_t max)
{
    if (!c || max == 0)
        return SR_EINVAL;
    if (c->tx.len - c->tx_off > max)
        return SR_ELIMIT;
    if (c->tx_off) {
        buf_consume(&c->tx, c->tx_off);
        c->tx_off = 0;
    }
    c->tx.max = max;
    return SR_OK;
}

size_t sipev_conn_tx_queued(const struct sipev_conn *c)
{
    return c ? c->tx.len - c->tx_off : 0;
}

bool sipev_conn_established(const struct sipev_conn *c)
{
    return c && c->established;
}

const char *sipev_conn_peer(const struct sipev_conn *c)
{
    return c ? c->peer : "";
}

bool sipev_conn_want_write(const struct sipev_conn *c)
{
    return c && (c->tx.len > c->tx_off || c->hs_want_write);
}

enum sr_err sipev_conn_create(struct sipev_conn **out, const struct sipev_conn_cfg *cfg)
{
    struct sipev_conn *c;
    size_t max;
    int fl;

    if (!out || !cfg || cfg->fd < 0 || !cfg->on_msg)
        return SR_EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return SR_ENOMEM;
    c->fd = -1;
    max = cfg->max_buffer ? cfg->max_buffer : CONN_DEFAULT_MAX;
    buf_init(&c->rx, max);
    buf_init(&c->tx, cfg->max_tx_buffer ? cfg->max_tx_buffer : max);
    c->server = cfg->server;
    c->on_msg = cfg->on_msg;
    c->arg = cfg->arg;

    fl = fcntl(cfg->fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(cfg->fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
        free(c);
        return SR_EIO;
    }
    if (cfg->tls) {
        ERR_clear_error();
        c->ssl = SSL_new(cfg->tls);
        if (!c->ssl || SSL_set_fd(c->ssl, cfg->fd) != 1) {
            SSL_free(c->ssl);
            free(c);
            return SR_ECRYPTO;
        }
        if (cfg->server) {
            SSL_set_accept_state(c->ssl);
        } else {
            SSL_set_connect_state(c->ssl);
            /* The client speaks first (ClientHello): an owner that polls
             * before its first sipev_conn_io() must poll for writing, or
             * both ends wait for each other forever. */
            c->hs_want_write = true;
        }
    } else {
        c->established = true;
    }
    c->fd = cfg->fd; /* owned from here on */
    *out = c;
    return SR_OK;
}

void sipev_conn_destroy(struct sipev_conn *c)
{
    if (!c)
        return;
    if (c->ssl) {
        if (c->established)
            SSL_shutdown(c->ssl); /* best effort close_notify; never blocks */
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    buf_fini(&c->rx);
    buf_fini(&c->tx);
    free(c);
}

/* A received alert about our certificate is an authentication failure;
 * other TLS errors are I/O errors. */
static enum sr_err ssl_err_class(void)
{
    unsigned long e;
    enum sr_err err = SR_EIO;

    while ((e = ERR_get_error()) != 0) {
        int r = ERR_GET_REASON(e);
        if (ERR_GET_LIB(e) != ERR_LIB_SSL)
            continue;
        if (r == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            err = SR_ECLOSED;
            continue;
        }
        switch (r - SSL_AD_REASON_OFFSET) {
        case SSL_AD_HANDSHAKE_FAILURE:
        case SSL_AD_BAD_CERTIFICATE:
        case SSL_AD_UNSUPPORTED_CERTIFICATE:
        case SSL_AD_CERTIFICATE_REVOKED:
        case SSL_AD_CERTIFICATE_EXPIRED:
        case SSL_AD_CERTIFICATE_UNKNOWN:
        case SSL_AD_UNKNOWN_CA:
        case SSL_AD_ACCESS_DENIED:
        case SSL_AD_CERTIFICATE_REQUIRED: err = SR_EAUTH; break;
        default: break;
        }
    }
    return err;
}

static enum sr_err fail(struct sipev_conn *c, enum sr_err err)
{
    if (!c->failed)
        c->failed = err;
    return c->failed;
}

static enum sr_err do_handshake(struct sipev_conn *c)
{
    int r;

    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    c->hs_want_write = false;
    if (r == 1) {
        c->established = true;
        if (sipev_tls_peer_identity(c->ssl, c->peer, sizeof(c->peer)) != SR_OK) {
            log_debug("peer certificate carries no usable SIP or DNS identity");
            return fail(c, SR_EAUTH);
        }
        log_debug("TLS %s established with %s", SSL_get_version(c->ssl), c->peer);
        return SR_OK;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: return SR_OK;
    case SSL_ERROR_WANT_WRITE: c->hs_want_write = true; return SR_OK;
    case SSL_ERROR_ZERO_RETURN: return fail(c, SR_ECLOSED);
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        /* The peer hung up mid-handshake without an alert: a closed
         * connection (an overloaded or refusing server), not a verdict on
         * anyone's certificate. */
        return fail(c, SR_ECLOSED);
    default: {
        long vr = SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK)
            log_debug("peer certificate refused: %s", X509_verify_cert_error_string(vr));
        ERR_clear_error();
        /* Every handshake failure is an authentication failure to the
         * owner: either side may have refused the other's certificate. */
        return fail(c, SR_EAUTH);
    }
    }
}

static enum sr_err flush_tx(struct sipev_conn *c)
{
    while (c->tx.len > c->tx_off) {
        size_t n = c->tx.len - c->tx_off;
        const char *p = c->tx.p + c->tx_off;
        if (c->ssl) {
            int w;
            ERR_clear_error();
            w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            if (w <= 0) {
                int se = SSL_get_error(c->ssl, w);
                if (se == SSL_ERROR_WANT_WRITE || se == SSL_ERROR_WANT_READ)
                    break;
                return se == SSL_ERROR_ZERO_RETURN ? SR_ECLOSED : ssl_err_class();
            }
            c->tx_off += (size_t)w;
        } else {
            ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                return errno == EPIPE || errno == ECONNRESET ? SR_ECLOSED : SR_EIO;
            }
            c->tx_off += (size_t)w;
        }
    }
    if (c->tx_off == c->tx.len) {
        /* Sent NOTIFYs carry keys in the clear (TLS encrypts them on the
         * way out): gone from memory once the kernel has them. */
        sr_wipe(c->tx.p, c->tx.len);
        c->tx.len = 0;
        c->tx_off = 0;
    } else if (c->tx_off > c->tx.max / 2) {
        consume_wiped(&c->tx, c->tx_off);
        c->tx_off = 0;
    }
    return SR_OK;
}

enum sr_err sipev_conn_send(struct sipev_conn *c, const void *data, size_t len)
{
    enum sr_err err;

    if (!c || (!data && len))
        return SR_EINVAL;
    if (c->failed)
        return SR_ESTATE;
    if (c->tx_off && c->tx.len + len > c->tx.max) {
        consume_wiped(&c->tx, c->tx_off);
        c->tx_off = 0;
    }
    err = buf_append(&c->tx, data, len);
    if (err)
        return err;
    if (!c->established)
        return SR_OK; /* flushed once the handshake completes */
    err = flush_tx(c);
    return err ? fail(c, err) : SR_OK;
}

/* RFC 3261 18.3 / 8.2.6: answer a request we cannot frame with 400, when
 * enough of it was read to address the response. */
static void queue_400(struct sipev_conn *c, const struct sipev_msg *msg, const char *why)
{
    struct buf out;
    char warning[160];
    struct sipev_extra_hdr w = { "Warning", warning };
    size_t j = 0;

    if (msg->status != 0 || msg->method.len == 0 || !sipev_msg_hdr(msg, SIPEV_HDR_VIA) ||
        !sipev_msg_hdr(msg, SIPEV_HDR_CSEQ) || !sipev_msg_hdr(msg, SIPEV_HDR_FROM) ||
        !sipev_msg_hdr(msg, SIPEV_HDR_TO) || !sipev_msg_hdr(msg, SIPEV_HDR_CALL_ID))
        return;
    /* RFC 3261 20.43: warn-code 399 (miscellaneous), warn-agent, quoted text. */
    const char *prefix = "399 srtprec \"";
    for (const char *s = prefix; *s && j < sizeof(warning) - 3; s++)
        warning[j++] = *s;
    for (const char *s = why ? why : "malformed message"; *s && j < sizeof(warning) - 3; s++)
        if (*s != '"' && *s != '\\' && (unsigned char)*s >= 0x20)
            warning[j++] = *s;
    warning[j++] = '"';
    warning[j] = '\0';
    buf_init(&out, SIPEV_MAX_MSG);
    if (sipev_resp_print(&out, msg, 400, "Bad Request", NULL, &w, 1, NULL, NULL, 0) == SR_OK &&
        buf_append(&c->tx, out.p, out.len) == SR_OK)
        log_debug("queued 400: %s", why ? why : "");
    buf_fini(&out);
}

/* Consume keep-alives at the front; false when more bytes are needed. */
static bool keepalives(struct sipev_conn *c)
{
    for (;;) {
        const char *p = c->rx.p + c->rx_off;
        size_t n = c->rx.len - c->rx_off;
        if (n == 0 || p[0] != '\r')
            return true;
        if (n < 4 && memcmp(p, "\r\n\r\n", n) == 0)
            return false; /* a ping or a pong, not yet decidable */
        if (n >= 4 && memcmp(p, "\r\n\r\n", 4) == 0) {
            c->rx_off += 4;
            if (buf_append(&c->tx, "\r\n", 2) != SR_OK)
                return true; /* tx full: the pong is lost, the caller will see ELIMIT later */
            continue;
        }
        if (n >= 2 && p[1] == '\n') {
            c->rx_off += 2; /* a pong, or a stray CRLF (RFC 3261 7.5) */
            continue;
        }
        return true; /* not a keep-alive: let the parser judge it */
    }
}

static enum sr_err process_rx(struct sipev_conn *c)
{
    struct sipev_msg msg;
    const char *why = NULL;
    size_t used;
    enum sr_err err;

    for (;;) {
        size_t n;
        const char *p;

        if (!keepalives(c))
            break;
        p = c->rx.p + c->rx_off;
        n = c->rx.len - c->rx_off;
        if (n == 0 || n < c->rx_need)
            break;
        if (c->rx_need == 0 && n <= SIPEV_MAX_MSG) {
            /* No blank line yet: nothing to parse (bounded by SIPEV_MAX_MSG). */
            size_t from = c->rx_scanned > 3 ? c->rx_scanned - 3 : 0;
            if (!memmem(p + from, n - from, "\r\n\r\n", 4)) {
                c->rx_scanned = n;
                break;
            }
        }
        err = sipev_msg_parse(p, n, true, &msg, &used, &why);
        if (err == SR_EAGAIN) {
            c->rx_need = used > n ? used : n + 1;
            break;
        }
        c->rx_need = 0;
        c->rx_scanned = 0;
        if (err) {
            log_debug("framing error: %s", why ? why : sr_strerror(err));
            queue_400(c, &msg, why);
            return fail(c, err);
        }
        c->rx_off += used;
        if (!c->on_msg(c, &msg, c->arg)) {
            sr_wipe((char *)p, used);
            return fail(c, SR_ECLOSED);
        }
        /* A NOTIFY's body held keys in the clear: gone once handled. */
        sr_wipe((char *)p, used);
        if (c->failed)
            return c->failed;
    }
    if (c->rx_off == c->rx.len) {
        c->rx.len = 0;
        c->rx_off = 0;
    }
    return SR_OK;
}

static enum sr_err read_some(struct sipev_conn *c, bool *again)
{
    enum sr_err err;
    char *dst;
    size_t room;

    *again = false;
    if (c->rx_off) {
        consume_wiped(&c->rx, c->rx_off);
        c->rx_off = 0;
    }
    room = c->rx.max - c->rx.len;
    if (room == 0)
        return SR_ELIMIT;
    if (room > CONN_READ_CHUNK)
        room = CONN_READ_CHUNK;
    dst = buf_reserve(&c->rx, room, &err);
    if (!dst)
        return err;
    if (c->ssl) {
        int r;
        ERR_clear_error();
        r = SSL_read(c->ssl, dst, (int)room);
        if (r <= 0) {
            switch (SSL_get_error(c->ssl, r)) {
            case SSL_ERROR_WANT_READ: return SR_OK;
            case SSL_ERROR_WANT_WRITE: c->hs_want_write = true; return SR_OK;
            case SSL_ERROR_ZERO_RETURN: return SR_ECLOSED;
            case SSL_ERROR_SYSCALL: ERR_clear_error(); return SR_ECLOSED;
            default: return ssl_err_class();
            }
        }
        c->rx.len += (size_t)r;
        *again = true;
        return SR_OK;
    }
    ssize_t r = recv(c->fd, dst, room, 0);
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? SR_OK : SR_EIO;
    if (r == 0)
        return SR_ECLOSED;
    c->rx.len += (size_t)r;
    *again = true;
    return SR_OK;
}

enum sr_err sipev_conn_io(struct sipev_conn *c)
{
    enum sr_err err;
    bool again = true;

    if (!c)
        return SR_EINVAL;
    if (c->failed) {
        /* Deliver what was queued (a 400, say) before the owner closes. */
        if (c->established)
            flush_tx(c);
        return c->failed;
    }
    if (!c->established) {
        err = do_handshake(c);
        if (err || !c->established)
            return err;
    }
    c->hs_want_write = false;
    /* Past the read budget, still drain what TLS already decrypted: poll()
     * cannot see it, and SSL_pending() is bounded by one record. */
    for (int i = 0; again && (i < CONN_READS_PER_IO || (c->ssl && SSL_pending(c->ssl) > 0)); i++) {
        err = read_some(c, &again);
        if (err)
            return fail(c, err); /* complete messages before it were dispatched */
        err = process_rx(c);
        if (err) {
            flush_tx(c);
            return err;
        }
        /* TLS may hold decrypted bytes that poll() cannot see. */
        if (!again && c->ssl && SSL_pending(c->ssl) > 0)
            again = true;
    }
    err = flush_tx(c);
    return err ? fail(c, err) : SR_OK;
}
