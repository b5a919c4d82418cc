/** @file test_sip_udp.c  The lab UDP endpoint (udp.c) over 127.0.0.1 and ::1 in one
 *  process.  Loss is made by reading a datagram away before the endpoint sees it; every
 *  timer is driven by explicit now_us, so nothing sleeps (poll only waits for loopback
 *  delivery, bounded). */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipev.h"
#include "tap.h"
#include "util.h"

enum { MS = 1000, T1 = 500 * MS, T4 = 5000 * MS };

struct seen {
    unsigned requests, responses, timeouts, rejects;
    unsigned last_status;
    char last_method[16];
    char timeout_branch[64];
    const char *last_why;
    enum sr_err last_err;
    struct sipev_addr from;
};

static void on_msg(struct sipev_udp *u, const struct sipev_msg *m, const struct sipev_addr *from,
                   void *arg)
{
    struct seen *s = arg;

    (void)u;
    s->from = *from;
    if (m->status) {
        s->responses++;
        s->last_status = m->status;
    } else {
        s->requests++;
        slice_copy_cstr(m->method, s->last_method, sizeof(s->last_method));
    }
}

static void on_timeout(struct sipev_udp *u, const char *branch, void *arg)
{
    struct seen *s = arg;

    (void)u;
    s->timeouts++;
    snprintf(s->timeout_branch, sizeof(s->timeout_branch), "%s", branch);
}

static void on_reject(struct sipev_udp *u, const struct sipev_addr *from, enum sr_err err,
                      const char *why, void *arg)
{
    struct seen *s = arg;

    (void)u;
    (void)from;
    s->rejects++;
    s->last_err = err;
    s->last_why = why;
}

static bool readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, 2000) == 1; /* loopback delivers at once; the bound is for failures */
}

static struct sipev_udp *endpoint(const char *host, struct seen *s, size_t max_datagram)
{
    struct sipev_udp_cfg c = { 0 };
    struct sipev_udp *u = NULL;

    c.host = host;
    c.port = "0";
    c.lab_allow_keys = true;
    c.max_datagram = max_datagram;
    c.on_msg = on_msg;
    c.on_timeout = on_timeout;
    c.on_reject = on_reject;
    c.arg = s;
    if (sipev_udp_create(&u, &c) != SR_OK)
        return NULL;
    return u;
}

static size_t print_request(char *out, size_t cap, const char *transport_host, const char *branch,
                            uint32_t cseq)
{
    struct buf b;
    struct sipev_extra_hdr ev = { "Event", "srtp" };
    struct sipev_req r = { 0 };
    size_t n = 0;

    r.method = "SUBSCRIBE";
    r.ruri = "sip:ka@example.net";
    r.via_transport = "UDP";
    r.via_host = transport_host;
    r.branch = branch;
    r.from_uri = "sip:rec@example.net";
    r.from_tag = "ft";
    r.to_uri = "sip:ka@example.net";
    r.call_id = "udp-test";
    r.cseq = cseq;
    r.extra = &ev;
    r.n_extra = 1;
    buf_init(&b, SIPEV_MAX_MSG);
    if (sipev_req_print(&b, &r) == SR_OK && b.len < cap) {
        memcpy(out, b.p, b.len);
        n = b.len;
    }
    buf_fini(&b);
    return n;
}

/* The response b's owner sends for the request it was given. */
static struct sipev_msg last_req;
static char last_req_buf[4096];

static enum sr_err respond(struct sipev_udp *u, const struct sipev_addr *to, unsigned status,
                           uint64_t now)
{
    struct buf b;
    enum sr_err err;

    buf_init(&b, SIPEV_MAX_MSG);
    err = sipev_resp_print(&b, &last_req, status, status == 200 ? "OK" : "Trying", "tt", NULL, 0,
                           NULL, NULL, 0);
    if (!err)
        err = sipev_udp_send_response(u, to, b.p, b.len, now);
    buf_fini(&b);
    return err;
}

/* Drop one datagram waiting on fd: the network lost it. */
static bool drop_one(int fd)
{
    char tmp[SIPEV_MAX_MSG];

    return readable(fd) && recv(fd, tmp, sizeof(tmp), 0) > 0;
}

static void exchange(const char *host)
{
    struct seen sa = { 0 }, sb = { 0 };
    struct sipev_udp *a = endpoint(host, &sa, 0), *b = endpoint(host, &sb, 0);
    struct sipev_addr aaddr, baddr;
    struct sipev_udp_stats st;
    char req[4096], via[80];
    size_t len, used;
    const uint64_t t0 = 1000 * MS;

    tap_ok(a && b, "[%s] two endpoints bound", host);
    if (!a || !b)
        goto out;
    sipev_udp_local(a, &aaddr);
    sipev_udp_local(b, &baddr);
    sipev_addr_fmt(&aaddr, via, sizeof(via));
    len = print_request(req, sizeof(req), via, "z9hG4bKudp1", 1);
    tap_ok(len > 0 && sipev_udp_send_request(a, &baddr, req, len, t0) == SR_OK,
           "[%s] request sent, client transaction started", host);
    tap_ok(sipev_udp_send_request(a, &baddr, req, len, t0) == SR_ESTATE,
           "[%s] the same branch twice is refused (SR_ESTATE)", host);
    tap_ok(sipev_udp_next_us(a) == t0 + T1, "[%s] next deadline is Timer E = T1", host);

    tap_ok(readable(sipev_udp_fd(b)) && sipev_udp_io(b, t0 + 1) == SR_OK && sb.requests == 1 &&
               strcmp(sb.last_method, "SUBSCRIBE") == 0,
           "[%s] the server's owner gets the request", host);
    tap_ok(sipev_addr_eq(&sb.from, &aaddr), "[%s] with the client's address", host);
    memcpy(last_req_buf, req, len);
    tap_ok(sipev_msg_parse(last_req_buf, len, false, &last_req, &used, NULL) == SR_OK,
           "request reparsed for the response");
    tap_ok(respond(b, &sb.from, 200, t0 + 2) == SR_OK, "[%s] 200 sent", host);
    tap_ok(respond(b, &sb.from, 200, t0 + 3) == SR_ESTATE, "[%s] a second final is refused", host);

    /* The 200 is lost: Timer E retransmits, the server absorbs and resends the 200. */
    tap_ok(drop_one(sipev_udp_fd(a)), "[%s] the 200 is lost on the way", host);
    sipev_udp_tick(a, t0 + T1 - 1);
    sipev_udp_get_stats(a, &st);
    tap_ok(st.tx_retransmits == 0, "[%s] nothing before Timer E", host);
    sipev_udp_tick(a, t0 + T1);
    sipev_udp_get_stats(a, &st);
    tap_ok(st.tx_retransmits == 1, "[%s] Timer E: request retransmitted", host);
    tap_ok(readable(sipev_udp_fd(b)) && sipev_udp_io(b, t0 + T1 + 1) == SR_OK, "[%s] read", host);
    sipev_udp_get_stats(b, &st);
    tap_ok(sb.requests == 1 && st.rx_absorbed == 1 && st.tx_retransmits == 1,
           "[%s] duplicate request absorbed, cached 200 resent, owner not called again", host);
    tap_ok(readable(sipev_udp_fd(a)) && sipev_udp_io(a, t0 + T1 + 2) == SR_OK &&
               sa.responses == 1 && sa.last_status == 200,
           "[%s] the client's owner gets the 200 once", host);

    /* Another retransmission crossing the 200: answered again, absorbed by Timer K. */
    sipev_udp_io(b, t0 + T1 + 3); /* nothing pending */
    {
        int raw = socket(aaddr.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        (void)sendto(raw, req, len, 0, (struct sockaddr *)&baddr.ss, baddr.len);
        close(raw);
    }
    tap_ok(readable(sipev_udp_fd(b)) && sipev_udp_io(b, t0 + T1 + 4) == SR_OK && sb.requests == 1,
           "[%s] late duplicate absorbed again (Timer J running)", host);
    {
        /* That 200 went to the raw socket's port, not to a: prove a absorbs its own dup. */
        char resp[512];
        struct buf rb;
        buf_init(&rb, sizeof(resp));
        sipev_resp_print(&rb, &last_req, 200, "OK", "tt", NULL, 0, NULL, NULL, 0);
        int raw = socket(aaddr.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        (void)sendto(raw, rb.p, rb.len, 0, (struct sockaddr *)&aaddr.ss, aaddr.len);
        close(raw);
        buf_fini(&rb);
    }
    tap_ok(readable(sipev_udp_fd(a)) && sipev_udp_io(a, t0 + T1 + 5) == SR_OK &&
               sa.responses == 1,
           "[%s] retransmitted 200 absorbed in Completed (Timer K)", host);
    tap_ok(sipev_udp_next_us(a) == t0 + T1 + 2 + T4, "[%s] Timer K = T4 after the 200", host);
    sipev_udp_tick(a, t0 + T1 + 2 + T4);
    tap_ok(sipev_udp_txn_count(a) == 0, "[%s] client transaction gone after Timer K", host);
    tap_ok(sipev_udp_next_us(b) == t0 + 2 + 64 * (uint64_t)T1, "[%s] Timer J = 64*T1", host);
    sipev_udp_tick(b, t0 + 2 + 64 * (uint64_t)T1);
    tap_ok(sipev_udp_txn_count(b) == 0 && sipev_udp_next_us(b) == UINT64_MAX,
           "[%s] server transaction gone after Timer J", host);
out:
    sipev_udp_destroy(a);
    sipev_udp_destroy(b);
}

/* No answer at all: Timer E backs off to T2, Timer F reports the branch. */
static void timer_f(void)
{
    struct seen sa = { 0 }, sb = { 0 };
    struct sipev_udp *a = endpoint("127.0.0.1", &sa, 0), *b = endpoint("127.0.0.1", &sb, 0);
    struct sipev_addr baddr;
    struct sipev_udp_stats st;
    char req[4096];
    size_t len;
    uint64_t now = 0;

    if (!a || !b) {
        tap_ok(false, "endpoints for Timer F");
        goto out;
    }
    sipev_udp_local(b, &baddr);
    len = print_request(req, sizeof(req), "127.0.0.1:9", "z9hG4bKudpF", 1);
    sipev_udp_send_request(a, &baddr, req, len, now);
    for (int guard = 0; guard < 100 && !sa.timeouts; guard++) {
        now = sipev_udp_next_us(a);
        sipev_udp_tick(a, now);
    }
    sipev_udp_get_stats(a, &st);
    tap_ok(sa.timeouts == 1 && strcmp(sa.timeout_branch, "z9hG4bKudpF") == 0,
           "Timer F reported once with the request's branch");
    tap_ok(now == 64 * (uint64_t)T1 && st.tx_retransmits == 10,
           "Timer F at 64*T1 after 10 retransmissions (got %llu)",
           (unsigned long long)st.tx_retransmits);
    tap_ok(sipev_udp_txn_count(a) == 0, "the transaction is gone");
    /* b got 11 copies and gave its owner one; never answered, it expires after 64*T1. */
    for (int i = 0; i < 11 && readable(sipev_udp_fd(b)); i++)
        sipev_udp_io(b, 1);
    sipev_udp_get_stats(b, &st);
    tap_ok(sb.requests == 1 && st.rx_absorbed == 10, "server: 1 delivered, 10 absorbed in Trying");
    sipev_udp_tick(b, 1 + 64 * (uint64_t)T1);
    tap_ok(sipev_udp_txn_count(b) == 0, "an unanswered server transaction is dropped after 64*T1");
out:
    sipev_udp_destroy(a);
    sipev_udp_destroy(b);
}

/* Oversized and malformed datagrams from a plain socket: reasons and answers. */
static void rejects(const char *host)
{
    struct seen sb = { 0 };
    struct sipev_udp *b = endpoint(host, &sb, 1024);
    struct sipev_addr baddr;
    char big[2048], ans[4096];
    int raw = -1;
    ssize_t n;

    if (!b) {
        tap_ok(false, "[%s] endpoint for rejects", host);
        return;
    }
    sipev_udp_local(b, &baddr);
    raw = socket(baddr.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    size_t len = print_request(big, sizeof(big), "127.0.0.1:9", "z9hG4bKbig", 1);
    /* Pad the body past the endpoint's 1024-byte limit (Content-Length says 0: the
     * datagram is refused for its size before its framing is looked at). */
    memset(big + len, 'x', sizeof(big) - len);
    (void)sendto(raw, big, sizeof(big), 0, (struct sockaddr *)&baddr.ss, baddr.len);
    tap_ok(readable(sipev_udp_fd(b)) && sipev_udp_io(b, 0) == SR_OK && sb.rejects == 1 &&
               sb.last_err == SR_ELIMIT && sb.last_why &&
               strcmp(sb.last_why, "datagram larger than max_datagram") == 0 && sb.requests == 0,
           "[%s] oversized datagram rejected with its reason", host);
    n = readable(raw) ? recv(raw, ans, sizeof(ans) - 1, 0) : -1;
    ans[n > 0 ? n : 0] = '\0';
    tap_ok(n > 0 && strncmp(ans, "SIP/2.0 513 Message Too Large\r\n", 31) == 0,
           "[%s] answered 513 Message Too Large", host);

    const char bad[] = "SUBSCRIBE sip:ka@example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad\r\n"
                       "From: <sip:rec@example.net>;tag=1\r\n"
                       "To: <sip:ka@example.net>\r\n"
                       "Call-ID: bad\r\n"
                       "CSeq: 1 NOTIFY\r\n"
                       "\r\n";
    (void)sendto(raw, bad, sizeof(bad) - 1, 0, (struct sockaddr *)&baddr.ss, baddr.len);
    tap_ok(readable(sipev_udp_fd(b)) && sipev_udp_io(b, 0) == SR_OK && sb.rejects == 2 &&
               sb.last_err == SR_EPARSE && sb.requests == 0,
           "[%s] malformed request rejected", host);
    tap_diag("reason: %s", sb.last_why ? sb.last_why : "?");
    n = readable(raw) ? recv(raw, ans, sizeof(ans) - 1, 0) : -1;
    ans[n > 0 ? n : 0] = '\0';
    tap_ok(n > 0 && strncmp(ans, "SIP/2.0 400 Bad Request\r\n", 25) == 0 &&
               strstr(ans, "Warning: 399 srtprec \"CSeq method does not match") != NULL,
           "[%s] answered 400 with the reason in Warning", host);

    const char garbage[] = "\x01\x02 not SIP at all\r\n\r\n";
    (void)sendto(raw, garbage, sizeof(garbage) - 1, 0, (struct sockaddr *)&baddr.ss, baddr.len);
    tap_ok(readable(sipev_udp_fd(b)) && sipev_udp_io(b, 0) == SR_OK && sb.rejects == 3,
           "[%s] garbage rejected, nothing to address a 400 to", host);
    tap_diag("reason: %s", sb.last_why ? sb.last_why : "?");
    struct pollfd p = { .fd = raw, .events = POLLIN };
    tap_ok(poll(&p, 1, 50) == 0, "[%s] and no answer sent", host);

    const char stray[] = "SIP/2.0 200 OK\r\n"
                         "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnone\r\n"
                         "From: <sip:rec@example.net>;tag=1\r\n"
                         "To: <sip:ka@example.net>;tag=2\r\n"
                         "Call-ID: stray\r\n"
                         "CSeq: 1 SUBSCRIBE\r\n"
                         "\r\n";
    (void)sendto(raw, stray, sizeof(stray) - 1, 0, (struct sockaddr *)&baddr.ss, baddr.len);
    tap_ok(readable(sipev_udp_fd(b)) && sipev_udp_io(b, 0) == SR_OK && sb.rejects == 4 &&
               sb.responses == 0 && sb.last_err == SR_ENOTFOUND,
           "[%s] stray response dropped", host);
    (void)sendto(raw, "\r\n\r\n", 4, 0, (struct sockaddr *)&baddr.ss, baddr.len);
    tap_ok(readable(sipev_udp_fd(b)) && sipev_udp_io(b, 0) == SR_OK && sb.rejects == 4,
           "[%s] CRLF keep-alive ignored", host);
    close(raw);
    sipev_udp_destroy(b);
}

static void contract(void)
{
    struct sipev_udp_cfg c = { 0 };
    struct sipev_udp *u = NULL;
    struct seen s = { 0 };
    struct sipev_addr a;
    char txt[64];

    c.host = "127.0.0.1";
    c.port = "0";
    c.on_msg = on_msg;
    c.arg = &s;
    tap_ok(sipev_udp_create(&u, &c) == SR_EINVAL && !u,
           "without lab_allow_keys no UDP endpoint is made");
    c.lab_allow_keys = true;
    c.host = "localhost";
    tap_ok(sipev_udp_create(&u, &c) == SR_EINVAL, "names are not resolved");
    tap_ok(sipev_addr_parse("[::1]", "5060", &a) == SR_OK, "[::1] parses");
    sipev_addr_fmt(&a, txt, sizeof(txt));
    tap_ok(strcmp(txt, "[::1]:5060") == 0, "and formats as [::1]:5060 (%s)", txt);
    tap_ok(sipev_addr_parse("[::1", "5060", &a) == SR_EINVAL, "[::1 without ] refused");
}

int main(void)
{
    contract();
    exchange("127.0.0.1");
    exchange("::1");
    timer_f();
    rejects("127.0.0.1");
    rejects("::1");
    return tap_done();
}
