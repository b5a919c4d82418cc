/** @file test_sip_torture.c  RFC 4475 and RFC 5118 torture messages, per their manifests.
 *
 * Usage: test_sip_torture <dir>   (tests/vectors/sip-torture)
 * Each message is parsed as a datagram (require_length false), the way the
 * RFCs present them, and also as a stream; every proper prefix is fed too,
 * under a guard page, so nothing reads past its input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "sipev.h"
#include "tap.h"

enum want { W_OK, W_REJECT, W_EAGAIN };

/* Our decisions where the manifest leaves a choice, or where the parser
 * rejects earlier than "a layer above" (docs/protocol.md, torture section). */
static const struct {
    const char *file;
    enum want want;
    const char *why;
} decisions[] = {
    { "quotbal.dat", W_REJECT, "unterminated quoted string in To: rejected" },
    { "ltgtruri.dat", W_REJECT, "<> around Request-URI: rejected" },
    { "lwsruri.dat", W_REJECT, "LWS in Request-URI: rejected" },
    { "lwsstart.dat", W_REJECT, "extra SP in request line: rejected" },
    { "trws.dat", W_REJECT, "trailing SP in request line: rejected" },
    { "escruri.dat", W_OK, "escaped headers in Request-URI: accepted verbatim, never applied" },
    { "baddate.dat", W_OK, "bad Date: accepted, Date is never interpreted" },
    { "regbadct.dat", W_OK, "Contact without <>: accepted, Contact is not validated by the parser" },
    { "badaspec.dat", W_REJECT, "whitespace inside <URI> in To: rejected" },
    { "baddn.dat", W_EAGAIN, "no blank line: incomplete; with one, the display name is accepted" },
    { "insuf.dat", W_REJECT, "missing To/From/Call-ID: rejected by the parser already" },
    { "multi01.dat", W_REJECT, "repeated single-value headers: rejected by the parser already" },
    { "mcl01.dat", W_REJECT, "two Content-Length: a framing error, rejected by the parser" },
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    char *data = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)n + 1);
        if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
            free(data);
            data = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return data;
}

static bool prefixes_safe(const char *data, size_t len)
{
    struct sipev_msg m;
    size_t used;
    const char *why;

    for (size_t i = 0; i < len; i++) {
        enum sr_err a = sipev_msg_parse(guard_copy(data, i), i, true, &m, &used, &why);
        enum sr_err b = sipev_msg_parse(guard_copy(data, i), i, false, &m, &used, &why);
        if (a == SR_OK && used > i)
            return false;
        if (b == SR_OK && used > i)
            return false;
    }
    return true;
}

static void check(const char *dir, const char *file, const char *cls, const char *expect)
{
    char path[8192 + 256];
    size_t len = 0, used = 0;
    char *data;
    struct sipev_msg m;
    const char *why = NULL;
    enum sr_err err;
    enum want want;
    const char *note = NULL;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    data = read_file(path, &len);
    if (!tap_ok(data != NULL, "%s: readable", file))
        return;
    err = sipev_msg_parse(guard_copy(data, len), len, false, &m, &used, &why);

    if (strcmp(cls, "valid") == 0 || strcmp(cls, "semantic") == 0)
        want = W_OK;
    else if (strcmp(cls, "unreferenced") == 0)
        want = err == SR_OK ? W_OK : W_REJECT; /* no expectation: just no crash */
    else
        want = W_REJECT;
    for (size_t i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++)
        if (strcmp(decisions[i].file, file) == 0) {
            want = decisions[i].want;
            note = decisions[i].why;
        }

    switch (want) {
    case W_OK:
        tap_ok(err == SR_OK, "%s [%s] parses (%s%s)", file, cls, sr_strerror(err),
               why ? why : "");
        break;
    case W_REJECT:
        tap_ok((err == SR_EPARSE || err == SR_ELIMIT) && why, "%s [%s] rejected: %s", file, cls,
               why ? why : sr_strerror(err));
        break;
    case W_EAGAIN:
        tap_ok(err == SR_EAGAIN, "%s [%s] incomplete (%s)", file, cls, sr_strerror(err));
        break;
    }
    if (note)
        tap_diag("%s: decision: %s", file, note);
    if (strncmp(cls, "semantic", 8) == 0 && err == SR_OK)
        tap_diag("%s: semantic, left to the layer above: %s", file, expect);
    /* Specific expectations from the manifest's prose. */
    if (strcmp(file, "dblreq.dat") == 0) {
        tap_ok(err == SR_OK && used < len && m.body.len == 0,
               "dblreq: REGISTER only, trailing INVITE left over (%zu of %zu)", used, len);
        size_t used2 = 0;
        err = sipev_msg_parse(data + used, len - used, false, &m, &used2, &why);
        tap_ok(err == SR_OK && slice_eq(m.method, SLICE_LIT("INVITE")),
               "dblreq: on a stream the rest is a second message");
    } else if (strcmp(file, "clerr.dat") == 0) {
        err = sipev_msg_parse(guard_copy(data, len), len, true, &m, &used, &why);
        tap_ok(err == SR_EAGAIN, "clerr: on a stream it is incomplete (%s)", sr_strerror(err));
    } else if (strcmp(file, "baddn.dat") == 0) {
        char *fixed = malloc(len + 2);
        memcpy(fixed, data, len);
        memcpy(fixed + len, "\r\n", 2);
        err = sipev_msg_parse(guard_copy(fixed, len + 2), len + 2, true, &m, &used, &why);
        tap_ok(err == SR_OK, "baddn + blank line: accepted (%s)", why ? why : "");
        free(fixed);
    } else if (strcmp(file, "esc02.dat") == 0 && err == SR_OK) {
        tap_ok(slice_eq(m.method, SLICE_LIT("RE%47IST%45R")), "esc02: method not unescaped");
    } else if (strcmp(file, "intmeth.dat") == 0 && err == SR_OK) {
        tap_ok(m.method.len == 43, "intmeth: unusual method token");
    } else if (strcmp(file, "wsinv.dat") == 0 && err == SR_OK) {
        uint32_t n;
        struct slice meth;
        tap_ok(sipev_cseq_parse(sipev_msg_hdr(&m, SIPEV_HDR_CSEQ)->value, &n, &meth) && n == 9 &&
                   slice_eq(meth, SLICE_LIT("INVITE")),
               "wsinv: folded CSeq 0009 INVITE");
        tap_ok(m.body.len == 150, "wsinv: body of Content-Length 150");
    } else if (strcmp(file, "mpart01.dat") == 0 && err == SR_OK) {
        tap_ok(memchr(m.body.p, '\0', m.body.len) != NULL, "mpart01: binary body kept intact");
    } else if (strcmp(file, "unreason.dat") == 0 && err == SR_OK) {
        tap_ok(m.status == 200 && m.reason.len > 0, "unreason: reason phrase kept");
    } else if (strcmp(file, "noreason.dat") == 0 && err == SR_OK) {
        tap_ok(m.status == 100 && m.reason.len == 0, "noreason: empty reason");
    } else if (strcmp(file, "inv2543.dat") == 0) {
        err = sipev_msg_parse(guard_copy(data, len), len, true, &m, &used, &why);
        tap_ok(err == SR_EPARSE, "inv2543: without Content-Length refused on a stream (%s)",
               why ? why : "");
    }
    /* last: guard_copy invalidates the slices in m */
    tap_ok(prefixes_safe(data, len), "%s: every prefix, both modes, stays in bounds", file);
    free(data);
}

static void run_manifest(const char *dir, const char *manifest, const char *subdir)
{
    char path[4096 + 64], line[2048], msgdir[4096 + 64];
    FILE *f;
    unsigned rows = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, manifest);
    snprintf(msgdir, sizeof(msgdir), "%s/%s", dir, subdir);
    f = fopen(path, "re");
    if (!tap_ok(f != NULL, "%s readable", manifest))
        return;
    while (fgets(line, sizeof(line), f)) {
        char *fields[5] = { 0 };
        char *p = line;
        size_t n = 0;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        while (n < 5) {
            fields[n++] = p;
            p = strchr(p, '\t');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (n < 5)
            continue;
        check(msgdir, fields[0], fields[3], fields[4]);
        rows++;
    }
    fclose(f);
    tap_ok(rows > 0, "%s: %u rows", manifest, rows);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strlen(argv[1]) > 4000) {
        fprintf(stderr, "usage: %s <sip-torture dir>\n", argv[0]);
        return 2;
    }
    run_manifest(argv[1], "manifest.tsv", "messages");
    run_manifest(argv[1], "manifest-rfc5118.tsv", "rfc5118");
    return tap_done();
}
