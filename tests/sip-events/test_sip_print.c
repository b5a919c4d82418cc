/** @file test_sip_print.c  Printer round trips through the parser. */
#include <string.h>

#include "sipev.h"
#include "tap.h"

static bool val_is(const struct sipev_msg *m, enum sipev_hdr_id id, const char *want)
{
    const struct sipev_hdr *h = sipev_msg_hdr(m, id);
    return h && slice_eq(h->value, slice_cstr(want));
}

static void request_round_trip(void)
{
    struct buf out;
    struct sipev_msg m;
    size_t used;
    const char *why = NULL;
    struct slice v;
    uint32_t cseq;
    static const char body[] = "<srtp-keys/>";
    const struct sipev_extra_hdr extra[] = { { "Event", "srtp" },
                                             { "Subscription-State", "active;expires=600" } };
    struct sipev_req r = {
        .method = "NOTIFY",
        .ruri = "sips:rec@192.0.2.1:5061;transport=tls",
        .via_transport = "TLS",
        .via_host = "198.51.100.7:5061",
        .branch = "z9hG4bKabc123",
        .via_alias = true,
        .from_uri = "sips:ka@pbx.example.net",
        .from_tag = "f1",
        .to_uri = "sips:rec@example.net",
        .to_tag = "t1",
        .call_id = "cid-1@example.net",
        .cseq = 4000000000u,
        .contact = "sips:ka@198.51.100.7:5061;transport=tls",
        .extra = extra,
        .n_extra = 2,
        .content_type = SIPEV_KEYBODY_TYPE,
        .body = body,
        .body_len = sizeof(body) - 1,
    };

    buf_init(&out, 65536);
    tap_ok(sipev_req_print(&out, &r) == SR_OK, "request prints");
    tap_ok(sipev_msg_parse(out.p, out.len, true, &m, &used, &why) == SR_OK && used == out.len,
           "printed request parses (%s)", why ? why : "");
    tap_ok(slice_eq(m.method, SLICE_LIT("NOTIFY")) &&
               slice_eq(m.ruri, slice_cstr(r.ruri)),
           "start line");
    tap_ok(val_is(&m, SIPEV_HDR_VIA, "SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bKabc123;alias"),
           "Via with alias");
    tap_ok(val_is(&m, SIPEV_HDR_MAX_FORWARDS, "70"), "Max-Forwards 70");
    tap_ok(sipev_param(sipev_msg_hdr(&m, SIPEV_HDR_FROM)->value, "tag", &v) &&
               slice_eq(v, SLICE_LIT("f1")),
           "From tag");
    tap_ok(sipev_param(sipev_msg_hdr(&m, SIPEV_HDR_TO)->value, "tag", &v) &&
               slice_eq(v, SLICE_LIT("t1")),
           "To tag");
    tap_ok(sipev_cseq_parse(sipev_msg_hdr(&m, SIPEV_HDR_CSEQ)->value, &cseq, &v) &&
               cseq == 4000000000u && slice_eq(v, SLICE_LIT("NOTIFY")),
           "CSeq");
    tap_ok(val_is(&m, SIPEV_HDR_CONTACT, "<sips:ka@198.51.100.7:5061;transport=tls>"), "Contact");
    tap_ok(val_is(&m, SIPEV_HDR_EVENT, "srtp") &&
               val_is(&m, SIPEV_HDR_SUBSCRIPTION_STATE, "active;expires=600"),
           "extra headers");
    tap_ok(val_is(&m, SIPEV_HDR_CONTENT_TYPE, SIPEV_KEYBODY_TYPE) &&
               slice_eq(m.body, SLICE_LIT("<srtp-keys/>")),
           "body and type");

    /* header injection is refused and leaves out untouched */
    size_t before = out.len;
    r.call_id = "x\r\nVia: evil";
    tap_ok(sipev_req_print(&out, &r) == SR_EINVAL && out.len == before, "CRLF in a value refused");
    r.call_id = "ok";
    const struct sipev_extra_hdr bad[] = { { "Bad Name", "v" } };
    r.extra = bad;
    r.n_extra = 1;
    tap_ok(sipev_req_print(&out, &r) == SR_EINVAL, "non-token header name refused");
    r.extra = NULL;
    r.n_extra = 0;
    r.ruri = "sip:a b";
    tap_ok(sipev_req_print(&out, &r) == SR_EINVAL, "SP in Request-URI refused");
    r.ruri = "sip:a@b";
    r.method = NULL;
    tap_ok(sipev_req_print(&out, &r) == SR_EINVAL, "missing method refused");

    /* no body, no to-tag: Content-Length 0 */
    struct sipev_req s = { .method = "SUBSCRIBE", .ruri = "sips:ka@pbx", .via_transport = "TLS",
                           .via_host = "h", .branch = "z9hG4bK1", .from_uri = "sips:r@x",
                           .from_tag = "a", .to_uri = "<sips:ka@pbx>", .call_id = "c", .cseq = 1 };
    buf_reset(&out);
    tap_ok(sipev_req_print(&out, &s) == SR_OK &&
               sipev_msg_parse(out.p, out.len, true, &m, &used, &why) == SR_OK && m.body.len == 0 &&
               val_is(&m, SIPEV_HDR_TO, "<sips:ka@pbx>") &&
               val_is(&m, SIPEV_HDR_CONTENT_LENGTH, "0"),
           "bodiless SUBSCRIBE round trip, <> not doubled");
    buf_fini(&out);
}

static void response_round_trip(void)
{
    static const char req[] =
        "SUBSCRIBE sips:ka@pbx.example.net SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK776;alias\r\n"
        "v: SIP/2.0/TLS 192.0.2.9\r\n"
        " ;branch=z9hG4bKfolded\r\n"
        "From: \"Rec\" <sips:rec@example.net>;tag=a1\r\n"
        "To: <sips:ka@pbx.example.net>\r\n"
        "Call-ID: 8f3c@192.0.2.1\r\n"
        "CSeq: 17 SUBSCRIBE\r\n"
        "Event: foo\r\n"
        "Content-Length: 0\r\n\r\n";
    struct sipev_msg m, r;
    size_t used;
    const char *why = NULL;
    struct buf out;
    struct slice v;
    const struct sipev_extra_hdr allow[] = { { "Allow-Events", SIPEV_EVENT_PACKAGE } };

    tap_ok(sipev_msg_parse(req, sizeof(req) - 1, true, &m, &used, &why) == SR_OK, "request parses");
    buf_init(&out, 65536);
    tap_ok(sipev_resp_print(&out, &m, 489, "Bad Event", "tt9", allow, 1, NULL, NULL, 0) == SR_OK,
           "489 prints");
    tap_ok(sipev_msg_parse(out.p, out.len, true, &r, &used, &why) == SR_OK && used == out.len,
           "489 parses (%s)", why ? why : "");
    tap_ok(r.status == 489 && slice_eq(r.reason, SLICE_LIT("Bad Event")), "status line");
    {
        unsigned vias = 0;
        for (size_t i = 0; i < r.n_hdr; i++)
            if (r.hdr[i].id == SIPEV_HDR_VIA)
                vias++;
        tap_ok(vias == 2, "both Vias copied");
        tap_ok(val_is(&r, SIPEV_HDR_VIA, "SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK776;alias"),
               "first Via first");
        const struct sipev_hdr *second = NULL;
        for (size_t i = 0; i < r.n_hdr; i++)
            if (r.hdr[i].id == SIPEV_HDR_VIA && &r.hdr[i] != sipev_msg_hdr(&r, SIPEV_HDR_VIA))
                second = &r.hdr[i];
        tap_ok(second && slice_eq(second->value, SLICE_LIT("SIP/2.0/TLS 192.0.2.9 ;branch=z9hG4bKfolded")),
               "folded Via copied unfolded");
    }
    tap_ok(val_is(&r, SIPEV_HDR_FROM, "\"Rec\" <sips:rec@example.net>;tag=a1"), "From copied");
    tap_ok(val_is(&r, SIPEV_HDR_TO, "<sips:ka@pbx.example.net>;tag=tt9"), "To copied, tag added");
    tap_ok(val_is(&r, SIPEV_HDR_CALL_ID, "8f3c@192.0.2.1"), "Call-ID copied");
    tap_ok(val_is(&r, SIPEV_HDR_CSEQ, "17 SUBSCRIBE"), "CSeq copied");
    tap_ok(val_is(&r, SIPEV_HDR_ALLOW_EVENTS, "srtp"), "extra header");
    tap_ok(sipev_msg_hdr(&r, SIPEV_HDR_EVENT) == NULL, "request-only headers not copied");

    /* request already has a to-tag: kept, not doubled */
    static const char req2[] = "NOTIFY sips:r@x SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK2\r\n"
                               "From: <sips:ka@p>;tag=b\r\nTo: <sips:r@x>;tag=a\r\n"
                               "Call-ID: c\r\nCSeq: 3 NOTIFY\r\nl: 0\r\n\r\n";
    tap_ok(sipev_msg_parse(req2, sizeof(req2) - 1, true, &m, &used, &why) == SR_OK, "NOTIFY parses");
    buf_reset(&out);
    tap_ok(sipev_resp_print(&out, &m, 200, "OK", "other", NULL, 0, "text/plain", "hi", 2) == SR_OK &&
               sipev_msg_parse(out.p, out.len, true, &r, &used, &why) == SR_OK,
           "200 with body round trip");
    tap_ok(val_is(&r, SIPEV_HDR_TO, "<sips:r@x>;tag=a"), "existing to-tag kept");
    tap_ok(slice_eq(r.body, SLICE_LIT("hi")) && val_is(&r, SIPEV_HDR_CONTENT_TYPE, "text/plain"),
           "response body");
    tap_ok(sipev_param(sipev_msg_hdr(&r, SIPEV_HDR_TO)->value, "tag", &v) &&
               slice_eq(v, SLICE_LIT("a")),
           "one tag");

    tap_ok(sipev_resp_print(&out, &m, 99, "x", NULL, NULL, 0, NULL, NULL, 0) == SR_EINVAL,
           "status 99 refused");
    tap_ok(sipev_resp_print(&out, &m, 200, "O\r\nK", NULL, NULL, 0, NULL, NULL, 0) == SR_EINVAL,
           "CRLF in reason refused");
    tap_ok(sipev_resp_print(&out, &r, 200, "OK", NULL, NULL, 0, NULL, NULL, 0) == SR_EINVAL,
           "response to a response refused");
    buf_fini(&out);
}

static void tokens(void)
{
    char a[33], b[33], tiny[2];
    bool hex = true;

    sipev_random_token(a, sizeof(a));
    sipev_random_token(b, sizeof(b));
    tap_ok(strlen(a) == 32 && strlen(b) == 32, "32-char tokens");
    for (size_t i = 0; i < 32; i++)
        hex = hex && ((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
    tap_ok(hex, "hex");
    tap_ok(strcmp(a, b) != 0, "two tokens differ");
    sipev_random_token(tiny, sizeof(tiny));
    tap_ok(strlen(tiny) == 1, "one-char token");
}

int main(void)
{
    request_round_trip();
    response_round_trip();
    tokens();
    return tap_done();
}
