/** @file bench_siprec_parse.c  CPU time per SIPREC INVITE body through the
 *  siprec parsers on one core: multipart split, SDP offer, RFC 7865
 *  metadata, merge into the session's model, SDP answer.
 *
 * Usage: bench_siprec_parse [iterations] [runs]   (default 20000, 7)
 * Prints min / median / max microseconds per body over the runs, and each
 * step's share from one extra run.  CPU time, not wall time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "siprec.h"

#define K "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define SDP                                                                                  \
    "v=0\r\no=- 1730000000 1 IN IP4 192.0.2.10\r\ns=rtpengine\r\nc=IN IP4 192.0.2.10\r\n"    \
    "t=0 0\r\na=sendonly\r\n"                                                               \
    "m=audio 30000 RTP/SAVP 0 8 101\r\na=label:1\r\na=rtpmap:0 PCMU/8000\r\n"               \
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ssrc:305419896 cname:a\r\n" \
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K "\r\n"                                   \
    "m=audio 30002 RTP/SAVP 0 8 101\r\na=label:2\r\na=rtpmap:0 PCMU/8000\r\n"               \
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ssrc:1122867 cname:b\r\n" \
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" K "\r\n"
#define META                                                                                 \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"                                          \
    "<recording xmlns='urn:ietf:params:xml:ns:recording:1'>\r\n"                              \
    "<datamode>complete</datamode>\r\n"                                                       \
    "<session session_id=\"hVpd7YQgRW2nD22h7q60JQ==\"><sipSessionID>ab30317f1a784dc48ff824d0" \
    "d3715d86;remote=47755a9de7794ba387653f2099600ef2</sipSessionID>"                        \
    "<start-time>2010-12-16T23:41:07Z</start-time></session>\r\n"                            \
    "<participant participant_id=\"srfBElmCRp2QB23b7Mpk0w==\"><nameID aor=\"sip:alice@atlanta.com\">" \
    "<name>Alice</name></nameID></participant>\r\n"                                          \
    "<participant participant_id=\"zSfPoSvdSDCmU3A3TRDxAw==\"><nameID aor=\"sip:bob@biloxy.com\">" \
    "<name>Bob</name></nameID></participant>\r\n"                                            \
    "<stream stream_id=\"UAAMm5GRQKSCMVvLyl4rFw==\" session_id=\"hVpd7YQgRW2nD22h7q60JQ==\">" \
    "<label>1</label></stream>\r\n"                                                          \
    "<stream stream_id=\"i1Pz3to5hGk8fuXl+PbwCw==\" session_id=\"hVpd7YQgRW2nD22h7q60JQ==\">" \
    "<label>2</label></stream>\r\n"                                                          \
    "<participantstreamassoc participant_id=\"srfBElmCRp2QB23b7Mpk0w==\">"                   \
    "<send>UAAMm5GRQKSCMVvLyl4rFw==</send><recv>i1Pz3to5hGk8fuXl+PbwCw==</recv>"             \
    "</participantstreamassoc>\r\n"                                                          \
    "<participantstreamassoc participant_id=\"zSfPoSvdSDCmU3A3TRDxAw==\">"                   \
    "<send>i1Pz3to5hGk8fuXl+PbwCw==</send><recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>"             \
    "</participantstreamassoc>\r\n"                                                          \
    "</recording>\r\n"

static const char ct[] = "multipart/mixed;boundary=\"OSS-unique-boundary-42\"";
static const char body[] = "--OSS-unique-boundary-42\r\nContent-Type: application/sdp\r\n\r\n" SDP
                           "\r\n--OSS-unique-boundary-42\r\nContent-Type: application/rs-metadata+xml\r\n"
                           "Content-Disposition: recording-session\r\n\r\n" META
                           "\r\n--OSS-unique-boundary-42--\r\n";

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ctx {
    struct siprec_body b;
    struct siprec_sdp sdp;
    struct siprec_md *doc, *model;
    struct buf out;
    struct siprec_answer_cfg cfg;
    double step[5];
};

static void die(const char *what, enum siprec_err e)
{
    fprintf(stderr, "bench_siprec_parse: %s: %s\n", what, siprec_strerror(e));
    exit(1);
}

/* One INVITE body, each step timed when timed is set. */
static void one(struct ctx *c, bool timed)
{
    double t[6];
    enum siprec_err e;

    t[0] = timed ? cpu_s() : 0;
    if ((e = siprec_body_parse(slice_cstr(ct), slice_of(body, sizeof(body) - 1), &c->b)))
        die("body", e);
    t[1] = timed ? cpu_s() : 0;
    if ((e = siprec_sdp_parse(c->b.sdp, &c->sdp, NULL)))
        die("sdp", e);
    t[2] = timed ? cpu_s() : 0;
    if ((e = siprec_md_parse(c->b.meta.p, c->b.meta.len, c->doc, NULL)))
        die("metadata", e);
    t[3] = timed ? cpu_s() : 0;
    if ((e = siprec_md_merge(c->model, c->doc, NULL)))
        die("merge", e);
    t[4] = timed ? cpu_s() : 0;
    buf_reset(&c->out);
    if ((e = siprec_sdp_answer_print(&c->sdp, &c->cfg, &c->out, NULL)))
        die("answer", e);
    t[5] = timed ? cpu_s() : 0;
    for (int i = 0; timed && i < 5; i++)
        c->step[i] += t[i + 1] - t[i];
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static struct ctx c;
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    static const char *const names[] = { "multipart", "SDP offer", "metadata", "merge", "answer" };
    double us[64], total = 0;

    if (iters == 0 || runs < 1 || runs > 64)
        return 2;
    c.doc = siprec_md_create();
    c.model = siprec_md_create();
    buf_init(&c.out, 8192);
    c.cfg = (struct siprec_answer_cfg){ .addr = "198.51.100.7", .sess_id = 1, .sess_version = 1,
                                        .port = { 40000, 40002 } };
    if (!c.doc || !c.model)
        return 1;
    for (int r = 0; r < runs; r++) {
        double t0 = cpu_s();
        for (unsigned long i = 0; i < iters; i++)
            one(&c, false);
        us[r] = (cpu_s() - t0) * 1e6 / (double)iters;
    }
    qsort(us, (size_t)runs, sizeof(us[0]), cmp);
    printf("SIPREC INVITE body (%zu bytes: 2 SRTP streams, 2 participants): %lu bodies x %d runs\n",
           sizeof(body) - 1, iters, runs);
    printf("us/body  min %.2f  median %.2f  max %.2f  (%.0f bodies/s at the median)\n", us[0],
           us[runs / 2], us[runs - 1], 1e6 / us[runs / 2]);
    for (unsigned long i = 0; i < iters; i++)
        one(&c, true);
    for (int i = 0; i < 5; i++)
        total += c.step[i];
    for (int i = 0; i < 5; i++)
        printf("  %-10s %5.1f%%\n", names[i], 100.0 * c.step[i] / total);
    siprec_sdp_wipe(&c.sdp);
    siprec_md_destroy(c.doc);
    siprec_md_destroy(c.model);
    buf_fini(&c.out);
    return 0;
}
