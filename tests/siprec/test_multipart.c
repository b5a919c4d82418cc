/** @file test_multipart.c  siprec multipart split and body classifier: SBC
 *  boundary quoting, CRLF and bare LF, every error of the multipart layer. */
#include <stdio.h>
#include <string.h>

#include "siprec.h"
#include "tap.h"

#define SDP "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" \
            "m=audio 4000 RTP/AVP 0\r\na=label:1\r\n"
#define XML "<?xml version=\"1.0\"?>\r\n<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\">" \
            "<datamode>complete</datamode></recording>\r\n"

/* The RFC 7866 shape: SDP part and a metadata part with recording-session. */
static const char rfc_body[] =
    "--foobar\r\n"
    "Content-Type: application/sdp\r\n"
    "\r\n" SDP
    "\r\n--foobar\r\n"
    "Content-Type: application/rs-metadata+xml\r\n"
    "Content-Disposition: recording-session\r\n"
    "\r\n" XML
    "\r\n--foobar--\r\n";

static enum siprec_err body(const char *ct, const char *b, struct siprec_body *out)
{
    return siprec_body_parse(slice_cstr(ct), slice_cstr(b), out);
}

static void test_rfc_shape(void)
{
    static struct siprec_body out;
    enum siprec_err e = body("multipart/mixed;boundary=foobar", rfc_body, &out);

    tap_ok(e == SIPREC_OK, "RFC 7866 body: %s", siprec_strerror(e));
    tap_ok(out.mp.n_part == 2, "two parts");
    tap_ok(slice_eq(out.sdp, SLICE_LIT(SDP)), "SDP part exact, the CRLF before the delimiter excluded");
    tap_ok(slice_eq(out.meta, SLICE_LIT(XML)), "metadata part exact");
    tap_ok(out.meta_type == SIPREC_CT_RSMETA_XML, "rs-metadata+xml");
    tap_ok(slice_eq(out.mp.part[1].disposition, SLICE_LIT("recording-session")), "disposition type");
    tap_ok(out.mp.part[1].handling == SIPREC_HANDLING_REQUIRED, "handling defaults to required");
    tap_ok(out.mp.preamble.len == 0 && slice_eq(out.mp.epilogue, SLICE_LIT("")),
           "no preamble, empty epilogue");
    tap_ok(strcmp(out.mp.boundary, "foobar") == 0, "boundary");
}

/* Every way SBCs write the boundary parameter that the profile takes. */
static void test_boundary_quoting(void)
{
    static const struct {
        const char *ct, *want;
    } ok[] = {
        { "multipart/mixed;boundary=foobar", "foobar" },
        { "multipart/mixed; boundary=\"foobar\"", "foobar" },
        { "Multipart/Mixed; BOUNDARY = \"foobar\" ; charset=x", "foobar" },
        { "multipart/mixed;charset=utf-8;Boundary=foobar;", "foobar" },
        { "multipart/mixed; boundary=\"unique-boundary-1\"", "unique-boundary-1" },
        { "multipart/mixed;boundary=\"OSS-unique-boundary-42\"", "OSS-unique-boundary-42" },
        { "multipart/mixed;boundary=\"with space:and=/?()\"", "with space:and=/?()" },
        { "multipart/mixed;boundary=sbc:1=2/3?", "sbc:1=2/3?" }, /* unquoted tspecials */
        { "multipart/mixed;boundary=\"q\\\"x\"", NULL },         /* \" unescapes to '"': not a bchar */
        { "multipart/mixed;boundary=\"a\\bc\"", "abc" },         /* quoted-pair */
        { "multipart/mixed;boundary='abc'", "'abc'" },           /* single quotes are bchars */
        { "multipart/mixed; boundary=\t\"tab\"", "tab" },
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char b[SIPREC_MP_MAX_BOUNDARY + 1];
        enum siprec_err e = siprec_boundary(slice_cstr(ok[i].ct), b);

        if (ok[i].want)
            tap_ok(e == SIPREC_OK && strcmp(b, ok[i].want) == 0, "boundary of %s: '%s' (%s)",
                   ok[i].ct, b, siprec_strerror(e));
        else
            tap_ok(e == SIPREC_E_BOUNDARY_BAD && b[0] == '\0', "boundary of %s refused", ok[i].ct);
    }
}

static void test_boundary_errors(void)
{
    char b[SIPREC_MP_MAX_BOUNDARY + 1], long_ct[200];
    static const struct {
        const char *ct;
        enum siprec_err e;
    } bad[] = {
        { "multipart/mixed", SIPREC_E_BOUNDARY_MISSING },
        { "multipart/mixed;charset=x", SIPREC_E_BOUNDARY_MISSING },
        { "multipart/mixed;boundary=", SIPREC_E_BOUNDARY_BAD },
        { "multipart/mixed;boundary=\"\"", SIPREC_E_BOUNDARY_BAD },
        { "multipart/mixed;boundary=\"open", SIPREC_E_BOUNDARY_BAD },
        { "multipart/mixed;boundary=a;boundary=b", SIPREC_E_BOUNDARY_BAD },
        { "multipart/mixed;boundary=\"ends in space \"", SIPREC_E_BOUNDARY_BAD },
        { "multipart/mixed;boundary=a@b", SIPREC_E_BOUNDARY_BAD },
        { "multipart/mixed;boundary=\"a\"junk", SIPREC_E_BOUNDARY_BAD },
        { "multipart", SIPREC_E_CT_SYNTAX },
        { "multipart/", SIPREC_E_CT_SYNTAX },
        { "multi part/mixed;boundary=a", SIPREC_E_CT_SYNTAX },
        { "multipart/mixed;=x;boundary=a", SIPREC_E_BOUNDARY_BAD },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum siprec_err e = siprec_boundary(slice_cstr(bad[i].ct), b);
        tap_ok(e == bad[i].e, "%s: %s", bad[i].ct, siprec_strerror(e));
    }
    snprintf(long_ct, sizeof(long_ct), "multipart/mixed;boundary=%071d", 0);
    tap_ok(siprec_boundary(slice_cstr(long_ct), b) == SIPREC_E_BOUNDARY_BAD, "71-byte boundary refused");
    snprintf(long_ct, sizeof(long_ct), "multipart/mixed;boundary=%070d", 0);
    tap_ok(siprec_boundary(slice_cstr(long_ct), b) == SIPREC_OK && strlen(b) == 70, "70-byte boundary taken");
    tap_ok(siprec_boundary(SLICE_LIT("multipart/mixed;boundary=a"), NULL) == SIPREC_E_INVAL, "NULL out");
}

static void test_line_ends(void)
{
    static struct siprec_body out;
    static const char lf[] =
        "preamble text\n"
        "--b\n"
        "content-type: application/sdp\n"
        "\n"
        "v=0\n"
        "--b  \t\n" /* transport padding */
        "Content-Type:application/rs-metadata\n"
        "\n"
        "<x/>\n"
        "--b--\n"
        "epilogue";
    static const char mixed[] = "--b\r\nContent-Type: application/sdp\n\r\nv=0\n--b--";
    enum siprec_err e = body("multipart/mixed;boundary=b", lf, &out);

    tap_ok(e == SIPREC_OK, "bare LF body: %s", siprec_strerror(e));
    tap_ok(slice_eq(out.sdp, SLICE_LIT("v=0")) && slice_eq(out.meta, SLICE_LIT("<x/>")),
           "bare LF: parts exact, the LF before the delimiter excluded");
    tap_ok(out.meta_type == SIPREC_CT_RSMETA, "application/rs-metadata without +xml (RFC 7866)");
    tap_ok(slice_eq(out.mp.preamble, SLICE_LIT("preamble text")), "preamble kept apart");
    tap_ok(slice_eq(out.mp.epilogue, SLICE_LIT("epilogue")), "epilogue kept apart");
    e = body("multipart/mixed;boundary=b", mixed, &out);
    tap_ok(e == SIPREC_OK && slice_eq(out.sdp, SLICE_LIT("v=0")),
           "mixed CRLF/LF, close delimiter at the very end: %s", siprec_strerror(e));
}

/* Content that merely starts like a delimiter is content. */
static void test_lookalike(void)
{
    static struct siprec_body out;
    static const char b[] = "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--bx\r\n--b-\r\n x--b\r\n"
                            "--b--";
    enum siprec_err e = body("multipart/mixed;boundary=b", b, &out);

    tap_ok(e == SIPREC_OK && slice_eq(out.sdp, SLICE_LIT("v=0\r\n--bx\r\n--b-\r\n x--b")),
           "--bx, --b- and mid-line --b are content: %s", siprec_strerror(e));
}

static void test_part_headers(void)
{
    static struct siprec_body out;
    static const char b[] =
        "--b\r\n"
        "Content-Type: application/sdp\r\n"
        "Content-ID: <sdp@src>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Length: 3\r\n"
        "Content-Transfer-Encoding: 8BIT\r\n"
        "Content-Disposition: session;\r\n"
        "  HANDLING=Optional\r\n"
        "\r\n"
        "v=0\r\n"
        "--b\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Disposition: render;handling=optional\r\n"
        "\r\n"
        "ignored\r\n"
        "--b\r\n"
        "\r\n"
        "no headers: text/plain, required\r\n"
        "--b--\r\n";
    static struct siprec_multipart mp;
    enum siprec_err e = body("multipart/mixed;boundary=b", b, &out);

    tap_ok(e == SIPREC_E_PART_UNSUPPORTED, "a required part without Content-Type: %s", siprec_strerror(e));
    e = siprec_multipart_parse(SLICE_LIT("multipart/mixed;boundary=b"), slice_cstr(b), &mp);
    tap_ok(e == SIPREC_OK && mp.n_part == 3, "three parts split: %s", siprec_strerror(e));
    tap_ok(slice_eq(mp.part[0].content_id, SLICE_LIT("<sdp@src>")), "Content-ID");
    tap_ok(slice_eq(mp.part[0].disposition, SLICE_LIT("session")) &&
           mp.part[0].handling == SIPREC_HANDLING_OPTIONAL, "folded Content-Disposition, handling case-insensitive");
    tap_ok(mp.part[2].content_type.len == 0 && mp.part[2].headers.len == 0, "headerless part");
    tap_ok(slice_eq(mp.part[1].body, SLICE_LIT("ignored")), "text part body");
}

static void test_optional_other_part(void)
{
    static struct siprec_body out;
    static const char b[] = "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
                            "--b\r\nContent-Type: application/vnd.sbc+xml\r\n"
                            "Content-Disposition: signal;handling=optional\r\n\r\n<v/>\r\n--b--";
    enum siprec_err e = body("multipart/mixed;boundary=b", b, &out);

    tap_ok(e == SIPREC_OK && out.meta.len == 0 && out.meta_type == SIPREC_CT_OTHER,
           "an optional vendor part is ignored; no metadata is fine: %s", siprec_strerror(e));
}

static void test_single_part(void)
{
    static struct siprec_body out;
    enum siprec_err e;

    e = body("application/sdp", "v=0\r\n", &out);
    tap_ok(e == SIPREC_OK && slice_eq(out.sdp, SLICE_LIT("v=0\r\n")) && out.mp.n_part == 0,
           "application/sdp alone (re-INVITE)");
    e = body("Application/RS-Metadata+XML; charset=UTF-8", "<x/>", &out);
    tap_ok(e == SIPREC_OK && out.sdp.len == 0 && out.meta_type == SIPREC_CT_RSMETA_XML,
           "metadata alone (UPDATE)");
    e = body("", "", &out);
    tap_ok(e == SIPREC_OK && !out.sdp.p && !out.meta.p, "empty body");
    e = body("text/plain", "x", &out);
    tap_ok(e == SIPREC_E_CT_UNSUPPORTED && siprec_err_status(e) == 415, "text/plain: 415");
    e = body("multipart/alternative;boundary=b", "--b\r\n\r\nx\r\n--b--", &out);
    tap_ok(e == SIPREC_E_CT_UNSUPPORTED, "multipart/alternative refused");
    e = body("application", "x", &out);
    tap_ok(e == SIPREC_E_CT_SYNTAX, "Content-Type without subtype");
    e = body("", "v=0", &out);
    tap_ok(e == SIPREC_E_CT_SYNTAX, "a body without Content-Type");
    tap_ok(siprec_body_parse(SLICE_LIT("application/sdp"), SLICE_LIT("x"), NULL) == SIPREC_E_INVAL,
           "NULL out");
}

static void test_errors(void)
{
    static const struct {
        const char *body;
        enum siprec_err e;
        const char *what;
    } bad[] = {
        { "no delimiter at all", SIPREC_E_NO_DELIMITER, "no delimiter" },
        { "x--b\r\n", SIPREC_E_NO_DELIMITER, "delimiter not at a line start" },
        { "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n", SIPREC_E_NO_CLOSE, "truncated" },
        { "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b\r\n", SIPREC_E_NO_CLOSE,
          "ends at a delimiter" },
        { "--b\r\nContent-Type: application/sdp\r\nv=0\r\n--b--", SIPREC_E_PART_HEADER,
          "header section never ends" },
        { "--b\r\nContent-Type application/sdp\r\n\r\nv=0\r\n--b--", SIPREC_E_PART_HEADER,
          "header without colon" },
        { "--b\r\n : x\r\n\r\nv=0\r\n--b--", SIPREC_E_PART_HEADER, "continuation of nothing" },
        { "--b\r\nBad Name: x\r\n\r\nv=0\r\n--b--", SIPREC_E_PART_HEADER, "space in a header name" },
        { "--b\r\nContent-Type: application/sdp\r\ncontent-type: application/sdp\r\n\r\nv=0\r\n--b--",
          SIPREC_E_PART_HEADER_DUP, "Content-Type twice" },
        { "--b\r\nContent-Type: application/sdp\r\nContent-ID: a\r\nContent-ID: b\r\n\r\nv=0\r\n--b--",
          SIPREC_E_PART_HEADER_DUP, "Content-ID twice" },
        { "--b\r\nContent-Type: application/sdp\r\nContent-Disposition: session;handling=maybe\r\n\r\nv=0\r\n--b--",
          SIPREC_E_DISPOSITION_BAD, "handling=maybe" },
        { "--b\r\nContent-Type: application/sdp\r\nContent-Disposition: ;handling=optional\r\n\r\nv=0\r\n--b--",
          SIPREC_E_DISPOSITION_BAD, "no disposition type" },
        { "--b\r\nContent-Type: application/sdp\r\nContent-Disposition: session;handling=optional;handling=required\r\n\r\nv=0\r\n--b--",
          SIPREC_E_DISPOSITION_BAD, "handling twice" },
        { "--b\r\nContent-Type: application/sdp\r\nContent-Disposition: ses\"sion\r\n\r\nv=0\r\n--b--",
          SIPREC_E_DISPOSITION_BAD, "quote in the disposition type" },
        { "--b\r\nContent-Type: application/sdp\r\nContent-Transfer-Encoding: base64\r\n\r\ndj0w\r\n--b--",
          SIPREC_E_ENCODING, "base64 part" },
        { "--b\r\nContent-Type: image/png\r\n\r\nx\r\n--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--",
          SIPREC_E_PART_UNSUPPORTED, "required image part" },
        { "--b\r\nContent-Type: multipart/mixed;boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--",
          SIPREC_E_PART_UNSUPPORTED, "nested multipart" },
        { "--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<x/>\r\n--b--", SIPREC_E_SDP_MISSING,
          "metadata without SDP" },
        { "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--",
          SIPREC_E_SDP_TWICE, "two SDP parts" },
        { "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b\r\nContent-Type: application/rs-metadata\r\n\r\n<x/>\r\n"
          "--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<x/>\r\n--b--",
          SIPREC_E_META_TWICE, "two metadata parts" },
    };
    static struct siprec_body out;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum siprec_err e = body("multipart/mixed;boundary=b", bad[i].body, &out);
        tap_ok(e == bad[i].e, "%s: %s", bad[i].what, siprec_strerror(e));
        tap_ok(!out.sdp.p && !out.meta.p && out.mp.n_part == 0, "%s: out cleared", bad[i].what);
    }
}

static void test_limits(void)
{
    static char big[SIPREC_MP_MAX_BODY + 64];
    static struct siprec_body out;
    size_t n = 0;
    enum siprec_err e;

    /* SIPREC_MP_MAX_PARTS + 1 optional parts */
    for (int i = 0; i <= SIPREC_MP_MAX_PARTS; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n,
                              "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n");
    snprintf(big + n, sizeof(big) - n, "--b--");
    e = body("multipart/mixed;boundary=b", big, &out);
    tap_ok(e == SIPREC_E_BODY_LIMIT && siprec_err_status(e) == 413, "%d parts: %s",
           SIPREC_MP_MAX_PARTS + 1, siprec_strerror(e));

    n = (size_t)snprintf(big, sizeof(big), "--b\r\n");
    for (int i = 0; i <= SIPREC_MP_MAX_PART_HEADERS; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X-H%d: v\r\n", i);
    snprintf(big + n, sizeof(big) - n, "\r\nv=0\r\n--b--");
    e = body("multipart/mixed;boundary=b", big, &out);
    tap_ok(e == SIPREC_E_BODY_LIMIT, "%d part headers: %s", SIPREC_MP_MAX_PART_HEADERS + 1,
           siprec_strerror(e));

    n = (size_t)snprintf(big, sizeof(big), "--b\r\nX-Long: ");
    memset(big + n, 'a', SIPREC_MP_MAX_HEADER_LINE);
    n += SIPREC_MP_MAX_HEADER_LINE;
    snprintf(big + n, sizeof(big) - n, "\r\n\r\nv=0\r\n--b--");
    e = body("multipart/mixed;boundary=b", big, &out);
    tap_ok(e == SIPREC_E_BODY_LIMIT, "header line over %d bytes: %s", SIPREC_MP_MAX_HEADER_LINE,
           siprec_strerror(e));

    n = (size_t)snprintf(big, sizeof(big), "--b\r\nX-Folded: a\r\n");
    while (n < 40 + SIPREC_MP_MAX_HEADER_LINE)
        n += (size_t)snprintf(big + n, sizeof(big) - n, " aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    snprintf(big + n, sizeof(big) - n, "\r\nv=0\r\n--b--");
    e = body("multipart/mixed;boundary=b", big, &out);
    tap_ok(e == SIPREC_E_BODY_LIMIT, "folded header over %d bytes: %s", SIPREC_MP_MAX_HEADER_LINE,
           siprec_strerror(e));

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    e = body("multipart/mixed;boundary=b", big, &out);
    tap_ok(e == SIPREC_E_BODY_LIMIT, "body over %d bytes: %s", SIPREC_MP_MAX_BODY, siprec_strerror(e));
}

static void test_err_table(void)
{
    bool ok = true;

    for (int e = SIPREC_OK; e <= SIPREC_E_INVAL; e++) {
        const char *t = siprec_strerror((enum siprec_err)e);
        unsigned st = siprec_err_status((enum siprec_err)e);

        if (!t || !t[0] || strcmp(t, "unknown error") == 0 || st < 200 || st > 599 ||
            (e != SIPREC_OK) != (siprec_err_class((enum siprec_err)e) != SR_OK)) {
            tap_diag("error %d: text, status or class missing", e);
            ok = false;
        }
    }
    tap_ok(ok, "every error has a text, a SIP status and a class");
    tap_ok(strcmp(siprec_strerror((enum siprec_err)999), "unknown error") == 0 &&
           siprec_err_status((enum siprec_err)999) == 500, "outside the enum");
    tap_ok(siprec_err_status(SIPREC_E_SDP_DTLS) == 488 && siprec_err_class(SIPREC_E_SDP_DTLS) == SR_EUNSUPP,
           "DTLS-SRTP: 488, unsupported");
}

int main(void)
{
    test_rfc_shape();
    test_boundary_quoting();
    test_boundary_errors();
    test_line_ends();
    test_lookalike();
    test_part_headers();
    test_optional_other_part();
    test_single_part();
    test_errors();
    test_limits();
    test_err_table();
    return tap_done();
}
