/** @file test_sip_parse.c  sipev_msg_parse and the header helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "sipev.h"
#include "tap.h"

static const char subscribe[] =
    "SUBSCRIBE sips:ka@pbx.example.net SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK776;alias\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Recorder\" <sips:rec@example.net>;tag=a1\r\n"
    "To: <sips:ka@pbx.example.net>\r\n"
    "Call-ID: 8f3c@192.0.2.1\r\n"
    "CSeq: 1 SUBSCRIBE\r\n"
    "o: srtp\r\n"
    "Accept: application/srtp-keys+xml\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static const char notify[] =
    "NOTIFY sips:rec@192.0.2.1:5061;transport=tls SIP/2.0\r\n"
    "v: SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bKnotify1\r\n"
    "Via: SIP/2.0/TLS 198.51.100.8:5061;branch=z9hG4bKproxy\r\n"
    "f: <sips:ka@pbx.example.net>;tag=b2\r\n"
    "t: <sips:rec@example.net>;tag=a1\r\n"
    "i: 8f3c@192.0.2.1\r\n"
    "CSeq: 2 NOTIFY\r\n"
    "Event: srtp;id=5\r\n"
    "Subscription-State: active;expires=3599\r\n"
    "c: application/srtp-keys+xml\r\n"
    "X-Folded: first\r\n"
    " second\r\n"
    "\tthird\r\n"
    "l: 5\r\n"
    "\r\n"
    "hello";

static const char resp200[] = "SIP/2.0 200 OK\r\n"
                              "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK776\r\n"
                              "From: <sips:rec@example.net>;tag=a1\r\n"
                              "To: <sips:ka@pbx.example.net>;tag=zz9\r\n"
                              "Call-ID: 8f3c@192.0.2.1\r\n"
                              "CSeq: 1 SUBSCRIBE\r\n"
                              "Expires: 1800\r\n"
                              "Content-Length: 0\r\n\r\n";

static const char resp403[] = "SIP/2.0 403 Forbidden\r\n"
                              "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK776\r\n"
                              "From: <sips:rec@example.net>;tag=a1\r\n"
                              "To: <sips:ka@pbx.example.net>;tag=zz9\r\n"
                              "Call-ID: 8f3c@192.0.2.1\r\n"
                              "CSeq: 1 SUBSCRIBE\r\n"
                              "Content-Length: 0\r\n\r\n";

static const char resp489[] = "SIP/2.0 489 Bad Event\r\n"
                              "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK776\r\n"
                              "From: <sips:rec@example.net>;tag=a1\r\n"
                              "To: <sips:ka@pbx.example.net>;tag=zz9\r\n"
                              "Call-ID: 8f3c@192.0.2.1\r\n"
                              "CSeq: 1 SUBSCRIBE\r\n"
                              "Allow-Events: srtp\r\n"
                              "Content-Length: 0\r\n\r\n";

static enum sr_err parse(const char *s, size_t n, bool stream, struct sipev_msg *m, size_t *used,
                         const char **why)
{
    *why = NULL;
    return sipev_msg_parse(guard_copy(s, n), n, stream, m, used, why);
}

static bool val_is(const struct sipev_msg *m, enum sipev_hdr_id id, const char *want)
{
    const struct sipev_hdr *h = sipev_msg_hdr(m, id);
    return h && slice_eq(h->value, slice_cstr(want));
}

static void valid_messages(void)
{
    struct sipev_msg m;
    size_t used;
    const char *why;
    enum sr_err err;

    err = parse(subscribe, sizeof(subscribe) - 1, true, &m, &used, &why);
    tap_ok(err == SR_OK, "SUBSCRIBE parses (%s)", why ? why : "");
    tap_ok(used == sizeof(subscribe) - 1, "SUBSCRIBE consumed exactly");
    tap_ok(slice_eq(m.method, SLICE_LIT("SUBSCRIBE")) && m.status == 0, "method");
    tap_ok(slice_eq(m.ruri, SLICE_LIT("sips:ka@pbx.example.net")), "Request-URI");
    tap_ok(val_is(&m, SIPEV_HDR_EVENT, "srtp"), "compact 'o' is Event");
    tap_ok(val_is(&m, SIPEV_HDR_EXPIRES, "3600"), "Expires");
    tap_ok(val_is(&m, SIPEV_HDR_ACCEPT, SIPEV_KEYBODY_TYPE), "Accept");
    tap_ok(val_is(&m, SIPEV_HDR_MAX_FORWARDS, "70"), "Max-Forwards");
    tap_ok(m.body.len == 0, "empty body");
    tap_ok(m.n_hdr == 10, "10 headers (%zu)", m.n_hdr);

    err = parse(notify, sizeof(notify) - 1, true, &m, &used, &why);
    tap_ok(err == SR_OK, "NOTIFY parses (%s)", why ? why : "");
    tap_ok(used == sizeof(notify) - 1, "NOTIFY consumed exactly");
    tap_ok(slice_eq(m.body, SLICE_LIT("hello")), "body is Content-Length bytes");
    tap_ok(val_is(&m, SIPEV_HDR_FROM, "<sips:ka@pbx.example.net>;tag=b2"), "compact f");
    tap_ok(val_is(&m, SIPEV_HDR_TO, "<sips:rec@example.net>;tag=a1"), "compact t");
    tap_ok(val_is(&m, SIPEV_HDR_CALL_ID, "8f3c@192.0.2.1"), "compact i");
    tap_ok(val_is(&m, SIPEV_HDR_CONTENT_TYPE, SIPEV_KEYBODY_TYPE), "compact c");
    tap_ok(val_is(&m, SIPEV_HDR_SUBSCRIPTION_STATE, "active;expires=3599"), "Subscription-State");
    {
        unsigned vias = 0;
        const struct sipev_hdr *folded = NULL;
        for (size_t i = 0; i < m.n_hdr; i++) {
            vias += m.hdr[i].id == SIPEV_HDR_VIA;
            if (slice_eq_nocase(m.hdr[i].name, SLICE_LIT("x-folded")))
                folded = &m.hdr[i];
        }
        tap_ok(vias == 2, "repeated Via kept in order (v and Via)");
        tap_ok(sipev_msg_hdr(&m, SIPEV_HDR_VIA) == &m.hdr[0], "first Via is first");
        tap_ok(folded && folded->id == SIPEV_HDR_OTHER &&
                   slice_eq(folded->value, SLICE_LIT("first\r\n second\r\n\tthird")),
               "folding kept inside the value");
    }

    err = parse(resp200, sizeof(resp200) - 1, true, &m, &used, &why);
    tap_ok(err == SR_OK && m.status == 200 && slice_eq(m.reason, SLICE_LIT("OK")), "200 OK");
    tap_ok(m.method.len == 0, "response has no method");
    err = parse(resp403, sizeof(resp403) - 1, true, &m, &used, &why);
    tap_ok(err == SR_OK && m.status == 403 && slice_eq(m.reason, SLICE_LIT("Forbidden")), "403");
    err = parse(resp489, sizeof(resp489) - 1, true, &m, &used, &why);
    tap_ok(err == SR_OK && m.status == 489 && val_is(&m, SIPEV_HDR_ALLOW_EVENTS, "srtp"), "489");

    /* two messages back to back: used stops at the first */
    {
        char two[2 * sizeof(subscribe)];
        size_t n1 = sizeof(subscribe) - 1;
        memcpy(two, subscribe, n1);
        memcpy(two + n1, subscribe, n1);
        err = parse(two, 2 * n1, true, &m, &used, &why);
        tap_ok(err == SR_OK && used == n1, "pipelined: first message only");
    }
    /* leading CRLFs are skipped (RFC 3261 7.5) */
    {
        char buf[sizeof(subscribe) + 4] = "\r\n\r\n";
        memcpy(buf + 4, subscribe, sizeof(subscribe) - 1);
        err = parse(buf, sizeof(subscribe) + 3, true, &m, &used, &why);
        tap_ok(err == SR_OK && used == sizeof(subscribe) + 3, "leading CRLFs skipped");
    }
    /* datagram: no Content-Length, body is the rest */
    {
        static const char dg[] = "NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                                 "From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\n"
                                 "CSeq: 1 NOTIFY\r\n\r\nrest of datagram";
        err = parse(dg, sizeof(dg) - 1, false, &m, &used, &why);
        tap_ok(err == SR_OK && slice_eq(m.body, SLICE_LIT("rest of datagram")),
               "datagram body is the rest");
        err = parse(dg, sizeof(dg) - 1, true, &m, &used, &why);
        tap_ok(err == SR_EPARSE && why && strstr(why, "Content-Length"),
               "stream without Content-Length: SR_EPARSE (%s)", why ? why : "");
    }
}

static void every_prefix(const char *name, const char *msg, size_t n)
{
    struct sipev_msg m;
    size_t used, wrong = 0, first = 0;
    const char *why;

    for (size_t i = 0; i < n; i++) {
        if (parse(msg, i, true, &m, &used, &why) != SR_EAGAIN) {
            if (!wrong)
                first = i;
            wrong++;
        }
    }
    tap_ok(wrong == 0, "%s: all %zu proper prefixes give SR_EAGAIN (first bad %zu)", name, n,
           first);
    tap_ok(parse(msg, n, true, &m, &used, &why) == SR_OK, "%s: whole message parses", name);
}

static void expect(const char *label, const char *msg, enum sr_err want, const char *why_part)
{
    struct sipev_msg m;
    size_t used;
    const char *why = NULL;
    enum sr_err err = parse(msg, strlen(msg), true, &m, &used, &why);

    tap_ok(err == want && (!why_part || (why && strstr(why, why_part))), "%s: %s (%s)", label,
           sr_strerror(err), why ? why : "-");
}

#define HDRS                                                                                      \
    "Via: SIP/2.0/TLS h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"          \
    "Call-ID: x\r\n"

static void hostile(void)
{
    expect("bare LF line ends", "SUBSCRIBE sip:a@b SIP/2.0\nVia: x\n\n", SR_EPARSE, "bare LF");
    expect("bare CR", "SUBSCRIBE sip:a@b SIP/2.0\rX", SR_EPARSE, "bare CR");
    expect("bare LF in value", "SUBSCRIBE sip:a@b SIP/2.0\r\nVia: a\nb\r\n\r\n", SR_EPARSE,
           "bare LF");
    expect("double SP in request line",
           "SUBSCRIBE  sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1 SUBSCRIBE\r\nl: 0\r\n\r\n", SR_EPARSE,
           "Request-URI");
    expect("SP in Request-URI", "SUBSCRIBE sip:a@b; lr SIP/2.0\r\n" HDRS "\r\n", SR_EPARSE, NULL);
    expect("trailing SP", "SUBSCRIBE sip:a@b SIP/2.0 \r\n" HDRS "\r\n", SR_EPARSE, "trailing");
    expect("SIP/3.0", "SUBSCRIBE sip:a@b SIP/3.0\r\n" HDRS "\r\n", SR_EPARSE, "version");
    expect("<> around Request-URI", "SUBSCRIBE <sip:a@b> SIP/2.0\r\n" HDRS "\r\n", SR_EPARSE,
           "scheme");
    expect("IPv6 without []", "SUBSCRIBE sip:2001:db8::10 SIP/2.0\r\n" HDRS "\r\n", SR_EPARSE,
           "port");
    expect("method not a token", "SUB(SCRIBE sip:a@b SIP/2.0\r\n" HDRS "\r\n", SR_EPARSE,
           "method");
    expect("status 700", "SIP/2.0 700 Big\r\n" HDRS "CSeq: 1 SUBSCRIBE\r\nl: 0\r\n\r\n",
           SR_EPARSE, "status");
    expect("status 2 digits", "SIP/2.0 20 OK\r\n" HDRS "\r\n", SR_EPARSE, "three digits");
    expect("status 099", "SIP/2.0 099 OK\r\n" HDRS "CSeq: 1 X\r\nl: 0\r\n\r\n", SR_EPARSE,
           "status");
    expect("header without colon", "SUBSCRIBE sip:a@b SIP/2.0\r\nVia SIP\r\n\r\n", SR_EPARSE,
           "':'");
    expect("header name not a token", "SUBSCRIBE sip:a@b SIP/2.0\r\n(Via): x\r\n\r\n", SR_EPARSE,
           "token");
    expect("continuation first", "SUBSCRIBE sip:a@b SIP/2.0\r\n folded: x\r\n\r\n", SR_EPARSE,
           "continuation");
    expect("negative Content-Length",
           "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1 SUBSCRIBE\r\nContent-Length: -5\r\n\r\n",
           SR_EPARSE, "Content-Length");
    expect("two Content-Length",
           "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1 SUBSCRIBE\r\nl: 0\r\nl: 0\r\n\r\n",
           SR_EPARSE, "repeated Content-Length");
    expect("huge Content-Length",
           "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1 SUBSCRIBE\r\nl: 99999999999999999999999\r\n\r\n",
           SR_ELIMIT, "Content-Length");
    expect("Content-Length 70000",
           "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1 SUBSCRIBE\r\nl: 70000\r\n\r\n", SR_ELIMIT,
           NULL);
    expect("CSeq over 2^32-1",
           "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 4294967296 SUBSCRIBE\r\nl: 0\r\n\r\n",
           SR_EPARSE, "CSeq");
    expect("CSeq method mismatch",
           "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1 NOTIFY\r\nl: 0\r\n\r\n", SR_EPARSE,
           "CSeq method");
    expect("CSeq without method", "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1\r\nl: 0\r\n\r\n",
           SR_EPARSE, "CSeq");
    expect("missing Call-ID",
           "SUBSCRIBE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS h\r\nFrom: <sip:a@b>;tag=1\r\n"
           "To: <sip:c@d>\r\nCSeq: 1 SUBSCRIBE\r\nl: 0\r\n\r\n",
           SR_EPARSE, "Call-ID");
    expect("repeated To",
           "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "To: <sip:e@f>\r\nCSeq: 1 SUBSCRIBE\r\nl: 0\r\n\r\n",
           SR_EPARSE, "repeated To");
    expect("empty Via params",
           "SUBSCRIBE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n"
           "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 SUBSCRIBE\r\nl: 0\r\n\r\n",
           SR_EPARSE, "Via");
    expect("unterminated quote in To",
           "SUBSCRIBE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS h\r\nFrom: <sip:a@b>;tag=1\r\n"
           "To: \"Mr. J <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 SUBSCRIBE\r\nl: 0\r\n\r\n",
           SR_EPARSE, "quoted");
    expect("body shorter on datagram is EAGAIN on stream",
           "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1 SUBSCRIBE\r\nl: 10\r\n\r\nabc",
           SR_EAGAIN, NULL);
    {
        static const char dg[] =
            "SUBSCRIBE sip:a@b SIP/2.0\r\n" HDRS "CSeq: 1 SUBSCRIBE\r\nl: 10\r\n\r\nabc";
        struct sipev_msg m;
        size_t used;
        const char *why = NULL;
        tap_ok(sipev_msg_parse(guard_copy(dg, sizeof(dg) - 1), sizeof(dg) - 1, false, &m, &used,
                               &why) == SR_EPARSE &&
                   why,
               "datagram shorter than Content-Length: SR_EPARSE (%s)", why ? why : "-");
    }
    /* binary junk and a NUL in the start line */
    {
        static const char junk[] = "\x00\x01\x02\xff\r\n\r\n";
        struct sipev_msg m;
        size_t used;
        const char *why = NULL;
        tap_ok(sipev_msg_parse(guard_copy(junk, sizeof(junk) - 1), sizeof(junk) - 1, true, &m,
                               &used, &why) == SR_EPARSE,
               "binary junk: SR_EPARSE (%s)", why ? why : "-");
    }
}

static void limits(void)
{
    struct sipev_msg m;
    size_t used;
    const char *why = NULL;
    char *big;
    size_t n = 0;
    enum sr_err err;

    /* 65 headers */
    big = malloc(200000);
    n = (size_t)snprintf(big, 200000, "SUBSCRIBE sip:a@b SIP/2.0\r\n");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(big + n, 200000 - n, "X-H%d: v\r\n", i);
    n += (size_t)snprintf(big + n, 200000 - n, "\r\n");
    err = sipev_msg_parse(guard_copy(big, n), n, true, &m, &used, &why);
    tap_ok(err == SR_ELIMIT && why, "65 headers: SR_ELIMIT (%s)", why ? why : "-");

    /* one header line of 9000 bytes */
    n = (size_t)snprintf(big, 200000, "SUBSCRIBE sip:a@b SIP/2.0\r\nX-Long: ");
    memset(big + n, 'a', 9000);
    n += 9000;
    err = sipev_msg_parse(guard_copy(big, n), n, true, &m, &used, &why);
    tap_ok(err == SR_ELIMIT, "over-long line, unterminated: SR_ELIMIT (%s)", why ? why : "-");
    n += (size_t)snprintf(big + n, 200000 - n, "\r\n\r\n");
    err = sipev_msg_parse(guard_copy(big, n), n, true, &m, &used, &why);
    tap_ok(err == SR_ELIMIT, "over-long line: SR_ELIMIT (%s)", why ? why : "-");

    /* a header section over 64 KiB made of folded lines */
    n = (size_t)snprintf(big, 200000, "SUBSCRIBE sip:a@b SIP/2.0\r\n");
    while (n < 70000)
        n += (size_t)snprintf(big + n, 200000 - n, "X: %0100d\r\n", 0);
    err = sipev_msg_parse(guard_copy(big, n), n, true, &m, &used, &why);
    tap_ok(err == SR_ELIMIT, "header section over SIPEV_MAX_MSG: SR_ELIMIT");

    /* start line with no CRLF beyond SIPEV_MAX_LINE */
    memset(big, 'A', 10000);
    err = sipev_msg_parse(guard_copy(big, 10000), 10000, true, &m, &used, &why);
    tap_ok(err == SR_ELIMIT, "endless start line: SR_ELIMIT");

    /* endless CRLFs */
    for (size_t i = 0; i < 70000; i += 2)
        memcpy(big + i, "\r\n", 2);
    err = sipev_msg_parse(guard_copy(big, 70000), 70000, true, &m, &used, &why);
    tap_ok(err == SR_ELIMIT, "endless CRLFs: SR_ELIMIT");
    free(big);
}

static void helpers(void)
{
    struct slice v, u;
    uint32_t n;

    tap_ok(sipev_param(SLICE_LIT("<sip:a@b;tag=no>;tag=yes;expires=60"), "tag", &v) &&
               slice_eq(v, SLICE_LIT("yes")),
           "param skips the URI's own parameters");
    tap_ok(sipev_param(SLICE_LIT("active;expires=60"), "EXPIRES", &v) &&
               slice_eq(v, SLICE_LIT("60")),
           "param name is case-insensitive");
    tap_ok(sipev_param(SLICE_LIT("SIP/2.0/TLS h;branch=z9hG4bK1;alias"), "alias", &v) && v.len == 0,
           "param without value is empty");
    tap_ok(!sipev_param(SLICE_LIT("<sip:a@b>;tag=x"), "expires", &v), "absent param");
    tap_ok(sipev_param(SLICE_LIT("\"a;tag=q\" <sip:a@b> ; tag = t1"), "tag", &v) &&
               slice_eq(v, SLICE_LIT("t1")),
           "param ignores quoted display name and LWS");
    tap_ok(sipev_param(SLICE_LIT("x;reason=\"a;b\""), "reason", &v) &&
               slice_eq(v, SLICE_LIT("\"a;b\"")),
           "quoted param value kept whole");
    tap_ok(!sipev_param(SLICE_LIT("a, b;tag=2"), "tag", &v), "params of the first value only");

    tap_ok(sipev_cseq_parse(SLICE_LIT("123 SUBSCRIBE"), &n, &v) && n == 123 &&
               slice_eq(v, SLICE_LIT("SUBSCRIBE")),
           "cseq");
    tap_ok(sipev_cseq_parse(SLICE_LIT("0009\r\n  INVITE"), &n, &v) && n == 9 &&
               slice_eq(v, SLICE_LIT("INVITE")),
           "cseq with folded LWS and leading zeros");
    tap_ok(sipev_cseq_parse(SLICE_LIT("4294967295 X"), &n, &v) && n == UINT32_MAX, "cseq max");
    tap_ok(!sipev_cseq_parse(SLICE_LIT("4294967296 X"), &n, &v), "cseq overflow");
    tap_ok(!sipev_cseq_parse(SLICE_LIT("12"), &n, &v), "cseq without method");
    tap_ok(!sipev_cseq_parse(SLICE_LIT("-1 X"), &n, &v), "cseq negative");
    tap_ok(!sipev_cseq_parse(SLICE_LIT("1 X Y"), &n, &v), "cseq two methods");

    tap_ok(sipev_uri_of(SLICE_LIT("\"Bob\" <sip:b@x>;tag=1"), &u) && slice_eq(u, SLICE_LIT("sip:b@x")),
           "uri of name-addr");
    tap_ok(sipev_uri_of(SLICE_LIT("sip:b@x;tag=1"), &u) && slice_eq(u, SLICE_LIT("sip:b@x")),
           "uri of addr-spec");
    tap_ok(sipev_uri_of(SLICE_LIT("\"a <sip:no@x>\" <sip:yes@x>"), &u) &&
               slice_eq(u, SLICE_LIT("sip:yes@x")),
           "uri skips '<' inside quotes");
    tap_ok(!sipev_uri_of(SLICE_LIT("<sip:b@x"), &u), "uri unterminated <");
    tap_ok(!sipev_uri_of(SLICE_LIT("\"open <sip:b@x>"), &u), "uri unterminated quote");
    tap_ok(!sipev_uri_of(SLICE_LIT(""), &u), "uri of empty");

    tap_ok(slice_eq(sipev_value_token(SLICE_LIT(" srtp;id=5")), SLICE_LIT("srtp")), "value token");
    tap_ok(slice_eq(sipev_value_token(SLICE_LIT("active ;expires=60")), SLICE_LIT("active")),
           "value token before LWS");
}

/* Configured limits: each bound is exact (at the limit passes, one past fails
 * with a reason naming the limit), and limits outside floor..ceiling are refused. */
static void configured_limits(void)
{
    struct sipev_limits lim = sipev_default_limits;
    struct sipev_msg m;
    const char *why = NULL;
    size_t used = 0, n = sizeof(subscribe) - 1;
    size_t longest = 0;
    enum sr_err err;

    tap_ok(sipev_limits_check(&sipev_default_limits) == SR_OK, "default limits are valid");
    err = sipev_msg_parse_lim(guard_copy(subscribe, n), n, true, &lim, &m, &used, &why);
    tap_ok(err == SR_OK && used == n, "default limits: the SUBSCRIBE parses");

    /* message size: exactly the SUBSCRIBE's length passes, one byte less fails */
    lim.max_msg = n;
    err = sipev_msg_parse_lim(guard_copy(subscribe, n), n, true, &lim, &m, &used, &why);
    tap_ok(err == SR_OK, "max_msg = message length: SR_OK");
    lim.max_msg = n - 1;
    why = NULL;
    err = sipev_msg_parse_lim(guard_copy(subscribe, n), n, true, &lim, &m, &used, &why);
    tap_ok(err == SR_ELIMIT && why && strstr(why, "size limit"),
           "max_msg one byte short: SR_ELIMIT (%s)", why ? why : "-");
    lim = sipev_default_limits;

    /* header count: the SUBSCRIBE has 10 header fields */
    lim.max_headers = 10;
    err = sipev_msg_parse_lim(guard_copy(subscribe, n), n, true, &lim, &m, &used, &why);
    tap_ok(err == SR_OK && m.n_hdr == 10, "max_headers = 10: SR_OK");
    lim.max_headers = 9;
    why = NULL;
    err = sipev_msg_parse_lim(guard_copy(subscribe, n), n, true, &lim, &m, &used, &why);
    tap_ok(err == SR_ELIMIT && why && strstr(why, "header count"),
           "max_headers = 9: SR_ELIMIT (%s)", why ? why : "-");
    lim = sipev_default_limits;

    /* line length: the longest line (without CRLF) is the limit */
    for (const char *p = subscribe, *e; (e = strstr(p, "\r\n")) != NULL && e != p; p = e + 2)
        if ((size_t)(e - p) > longest)
            longest = (size_t)(e - p);
    lim.max_line = longest;
    err = sipev_msg_parse_lim(guard_copy(subscribe, n), n, true, &lim, &m, &used, &why);
    tap_ok(err == SR_OK, "max_line = longest line (%zu): SR_OK", longest);
    lim.max_line = longest - 1;
    why = NULL;
    err = sipev_msg_parse_lim(guard_copy(subscribe, n), n, true, &lim, &m, &used, &why);
    tap_ok(err == SR_ELIMIT && why && strstr(why, "line length"),
           "max_line one short: SR_ELIMIT (%s)", why ? why : "-");
    /* a prefix that cannot complete within the limit is refused before its end */
    lim.max_msg = 300;
    lim.max_line = sipev_default_limits.max_line;
    {
        char big[600];
        memset(big, 'a', sizeof(big));
        memcpy(big, "SUBSCRIBE sip:a@b SIP/2.0\r\nX: ", 31);
        err = sipev_msg_parse_lim(guard_copy(big, sizeof(big)), sizeof(big), true, &lim, &m,
                                  &used, &why);
        tap_ok(err == SR_ELIMIT, "600 bytes without a blank line, max_msg 300: SR_ELIMIT");
    }

    /* outside floor..ceiling: refused, never parsed */
    struct sipev_limits bad[] = {
        { SIPEV_MAX_MSG + 1, SIPEV_MAX_HEADERS, SIPEV_MAX_LINE },
        { SIPEV_MIN_MSG - 1, SIPEV_MAX_HEADERS, SIPEV_MAX_LINE },
        { SIPEV_MAX_MSG, SIPEV_MAX_HEADERS + 1, SIPEV_MAX_LINE },
        { SIPEV_MAX_MSG, SIPEV_MIN_HEADERS - 1, SIPEV_MAX_LINE },
        { SIPEV_MAX_MSG, SIPEV_MAX_HEADERS, SIPEV_MAX_LINE + 1 },
        { SIPEV_MAX_MSG, SIPEV_MAX_HEADERS, SIPEV_MIN_LINE - 1 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        err = sipev_msg_parse_lim(subscribe, n, true, &bad[i], &m, &used, &why);
        tap_ok(sipev_limits_check(&bad[i]) == SR_EINVAL && err == SR_EINVAL && why,
               "invalid limits #%zu refused", i);
    }
    tap_ok(sipev_limits_check(NULL) == SR_EINVAL, "NULL limits refused");
}

int main(void)
{
    valid_messages();
    every_prefix("SUBSCRIBE", subscribe, sizeof(subscribe) - 1);
    every_prefix("NOTIFY", notify, sizeof(notify) - 1);
    every_prefix("200", resp200, sizeof(resp200) - 1);
    every_prefix("489", resp489, sizeof(resp489) - 1);
    hostile();
    limits();
    configured_limits();
    helpers();
    return tap_done();
}
