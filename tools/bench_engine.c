/** @file bench_engine.c  The recorder engine's cost per packet above
 *  libsrtp's unprotect, in process, in the same run.
 *
 * N streams (two per call, AES_CM_128_HMAC_SHA1_80, 160-byte G.711
 * payloads), every packet protected beforehand and fed interleaved across
 * streams, as a receiver sees them.  Two passes over copies of the same
 * packets, each with fresh sessions:
 *   unprotect: rec_streams lookup + rec_srtp_unprotect (the floor);
 *   engine:    rec_eng_packet with an archive that only counts (so the
 *              engine's own work: parse, demux, bind, unprotect, RTP parse,
 *              extended sequence and timestamp, the archive call).
 * CPU time of this process per packet, min of REPEAT runs.  A benchmark, not
 * a test: figures go to docs/benchmarks.md.  Under valgrind --tool=callgrind
 * the instruction counts are repeatable whatever the machine is doing.
 *
 *   bench_engine [streams [packets_per_stream [repeat [passes]]]]   (4000 50 3 3)
 *
 * passes: 1 the ROC known, 2 unknown (the keys' ROC searched at binding),
 * 3 both; under callgrind one pass alone gives its instruction count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "slice.h"
#include "sipev.h"
#include "stor.h"

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t bench_mono(void *arg)
{
    (void)arg;
    return 1000000000ull;
}

static uint64_t bench_wall(void *arg)
{
    (void)arg;
    return 1700000000000000ull;
}

static uint64_t written;

static enum sr_err n_open(void *arg, const char *source, const struct stor_call_info *ci,
                          bool unmatched, void **arch)
{
    (void)arg;
    (void)source;
    (void)ci;
    (void)unmatched;
    *arch = &written;
    return SR_OK;
}

static enum sr_err n_add(void *arg, void *arch, const struct stor_stream_info *si, unsigned *idx)
{
    (void)arg;
    (void)arch;
    (void)si;
    *idx = 0;
    return SR_OK;
}

static enum sr_err n_packet(void *arg, void *arch, unsigned idx, const struct stor_pkt *p,
                            enum rec_pkt_kind kind)
{
    (void)arg;
    (void)idx;
    (void)kind;
    *(uint64_t *)arch += p->payload_len;
    return SR_OK;
}

static void n_release(void *arg, void *arch, const struct stor_counts *c)
{
    (void)arg;
    (void)arch;
    (void)c;
}

static void n_retire(void *arg, void *arch)
{
    (void)arg;
    (void)arch;
}

static const struct rec_eng_archive_ops null_ops = { n_open, n_add, n_packet, n_release,
                                                     n_retire, NULL };

enum { PKT = 12 + 160 + 10, SLOT = 208 }; /* protect wants REC_SRTP_TRAILER_MAX of room */

static void key_of(size_t i, uint8_t out[30])
{
    for (size_t k = 0; k < 30; k++)
        out[k] = (uint8_t)(i * 131 + k * 7 + (i >> 8));
}

static struct rec_flow src_of(size_t i)
{
    struct rec_flow f;

    memset(&f, 0, sizeof(f));
    f.addr[10] = f.addr[11] = 0xff;
    f.addr[12] = 10;
    f.addr[13] = (uint8_t)(i >> 16);
    f.addr[14] = (uint8_t)(i >> 8);
    f.addr[15] = (uint8_t)i;
    f.port = 4000;
    return f;
}

/* packets[(p * n) + i]: packet p of stream i, protected. */
static uint8_t *make_packets(size_t n, size_t per)
{
    uint8_t *all = malloc(n * per * SLOT);

    if (!all)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        struct rec_srtp_cfg c = { 0 };
        struct rec_srtp *tx = NULL;
        c.ssrc = (uint32_t)(0x10000 + i);
        c.sender = true;
        c.n_keys = 1;
        c.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
        key_of(i, c.keys[0].master);
        c.keys[0].master_len = 30;
        if (rec_srtp_create(&tx, &c) != SR_OK)
            return NULL;
        for (size_t p = 0; p < per; p++) {
            uint8_t *b = all + (p * n + i) * SLOT;
            size_t len = 12 + 160;
            uint16_t seq = (uint16_t)(p + 1);
            uint32_t ts = (uint32_t)(p * 160);
            memset(b, 0, SLOT);
            b[0] = 0x80;
            b[2] = (uint8_t)(seq >> 8);
            b[3] = (uint8_t)seq;
            b[4] = (uint8_t)(ts >> 24);
            b[5] = (uint8_t)(ts >> 16);
            b[6] = (uint8_t)(ts >> 8);
            b[7] = (uint8_t)ts;
            b[8] = (uint8_t)(c.ssrc >> 24);
            b[9] = (uint8_t)(c.ssrc >> 16);
            b[10] = (uint8_t)(c.ssrc >> 8);
            b[11] = (uint8_t)c.ssrc;
            memset(b + 12, (int)(i + p), 160);
            if (rec_srtp_protect(tx, b, &len, SLOT) != SR_OK || len != PKT)
                fprintf(stderr, "protect failed (%zu bytes)\n", len);
        }
        rec_srtp_destroy(tx);
    }
    return all;
}

static double pass_unprotect(const uint8_t *all, size_t n, size_t per)
{
    struct rec_srtp **s = calloc(n, sizeof(*s));
    struct rec_streams *tab = NULL;
    uint8_t buf[SLOT];
    uint64_t t0, t1;

    rec_streams_create(&tab, 2 * n + 16);
    for (size_t i = 0; i < n; i++) {
        struct rec_srtp_cfg c = { 0 };
        struct rec_flow f = src_of(i);
        c.ssrc = (uint32_t)(0x10000 + i);
        c.n_keys = 1;
        c.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
        key_of(i, c.keys[0].master);
        c.keys[0].master_len = 30;
        rec_srtp_create(&s[i], &c);
        f.ssrc = c.ssrc;
        rec_streams_insert(tab, &f, s[i]);
    }
    t0 = cpu_ns();
    for (size_t k = 0; k < n * per; k++) {
        size_t len = PKT;
        struct rec_flow f = src_of(k % n);
        struct rec_srtp *ss;
        memcpy(buf, all + k * SLOT, PKT);
        f.ssrc = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
        ss = rec_streams_lookup(tab, &f);
        if (!ss || rec_srtp_unprotect(ss, buf, &len) != SR_OK)
            fprintf(stderr, "unprotect failed at %zu\n", k);
    }
    t1 = cpu_ns();
    for (size_t i = 0; i < n; i++)
        rec_srtp_destroy(s[i]);
    free(s);
    rec_streams_destroy(tab);
    return (double)(t1 - t0) / (double)(n * per);
}

/* roc_unknown: every key disclosed with its ROC unknown (the SDP helper at
 * call set-up), so each stream's first packet searches the window (0..4 for
 * a young call, ROC 0 tried last).  *bind_ns: CPU per stream of that first
 * packet, which binds it. */
static double pass_engine(const uint8_t *all, size_t n, size_t per, bool roc_unknown,
                          double *bind_ns)
{
    struct rec_eng_cfg cfg = { 0 };
    struct rec_eng *e = NULL;
    struct rec_eng_stats st;
    struct sipev_keybody kb;
    uint8_t buf[SLOT];
    uint64_t t0, t1;

    cfg.ops = &null_ops;
    cfg.clock = (struct rec_eng_clock){ bench_mono, bench_wall, NULL };
    cfg.key_wait_ms = 30000;
    cfg.call_linger_ms = 1000;
    cfg.max_streams = 2 * n + 16;
    cfg.max_held_packets = 1024;
    cfg.max_held_per_stream = 16;
    cfg.opens_per_source_per_s = 1000000; /* the clock stands still here */
    if (rec_eng_create(&e, &cfg) != SR_OK)
        return -1;
    rec_eng_set_authorised(e, true);
    sipev_keybody_init(&kb);
    for (size_t i = 0; i < n; i += 2) {
        struct sipev_dialog *d;
        sipev_keybody_add_dialog(&kb, &d);
        snprintf(d->call_id, sizeof(d->call_id), "bench-%zu", i);
        for (size_t j = i; j < i + 2 && j < n; j++) {
            struct sipev_stream *s = &d->streams[d->n_streams++];
            snprintf(s->id, sizeof(s->id), "s-%zu", j);
            snprintf(s->codec, sizeof(s->codec), "PCMU");
            s->clock_rate = 8000;
            s->ssrc_known = true;
            s->ssrc = (uint32_t)(0x10000 + j);
            s->n_keys = 1;
            s->keys[0].suite = SIPEV_SUITE_AES_CM_128_HMAC_SHA1_80;
            key_of(j, s->keys[0].master);
            s->keys[0].master_len = 30;
            s->roc_unknown = roc_unknown;
        }
    }
    rec_eng_keybody(e, "bench", &kb);
    sipev_keybody_fini(&kb);
    /* The first packet of each stream binds it (a trial): not per packet. */
    t0 = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        struct rec_eng_pkt p = { .data = buf, .len = PKT, .src = src_of(i), .now_us = 1 };
        memcpy(buf, all + i * SLOT, PKT);
        rec_eng_packet(e, &p);
    }
    *bind_ns = (double)(cpu_ns() - t0) / (double)n;
    t0 = cpu_ns();
    for (size_t k = n; k < n * per; k++) {
        struct rec_eng_pkt p = { .data = buf, .len = PKT, .src = src_of(k % n), .now_us = 1 };
        memcpy(buf, all + k * SLOT, PKT);
        rec_eng_packet(e, &p);
    }
    t1 = cpu_ns();
    rec_eng_stats(e, &st);
    if (st.recorded != n * per)
        fprintf(stderr, "engine recorded %llu of %zu\n", (unsigned long long)st.recorded, n * per);
    rec_eng_destroy(e, NULL);
    return (double)(t1 - t0) / (double)(n * per - n);
}

static uint64_t arg_or(int argc, char **argv, int i, uint64_t dflt, uint64_t max)
{
    uint64_t v;

    if (argc <= i)
        return dflt;
    if (!slice_to_u64(slice_cstr(argv[i]), max, &v)) {
        fprintf(stderr, "usage: bench_engine [streams [packets_per_stream [repeat [passes]]]]\n");
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    size_t n = (size_t)arg_or(argc, argv, 1, 4000, 1000000);
    size_t per = (size_t)arg_or(argc, argv, 2, 50, 100000);
    int repeat = (int)arg_or(argc, argv, 3, 3, 1000);
    unsigned passes = (unsigned)arg_or(argc, argv, 4, 3, 3);
    double best_u = 1e18, best_e = 1e18, best_x = 1e18, best_b = 1e18, best_bx = 1e18;
    uint8_t *all;

    if (n < 2 || per < 2 || rec_srtp_lib_init(false, NULL) != SR_OK)
        return 2;
    all = make_packets(n, per);
    if (!all)
        return 1;
    for (int r = 0; r < repeat; r++) {
        double b = 0, bx = 0, u = pass_unprotect(all, n, per);
        double e = passes & 1u ? pass_engine(all, n, per, false, &b) : 0;
        double x = passes & 2u ? pass_engine(all, n, per, true, &bx) : 0;
        best_u = u < best_u ? u : best_u;
        best_e = e < best_e ? e : best_e;
        best_x = x < best_x ? x : best_x;
        best_b = b < best_b ? b : best_b;
        best_bx = bx < best_bx ? bx : best_bx;
    }
    printf("streams %zu packets %zu: unprotect %.0f ns/pkt, engine %.0f ns/pkt (+%.0f ns above "
           "unprotect)\n", n, n * per, best_u, best_e, best_e - best_u);
    printf("ROC unknown: engine %.0f ns/pkt after binding; binding (first packet) %.0f ns per "
           "stream, %.0f with the ROC known\n", best_x, best_bx, best_b);
    free(all);
    rec_srtp_lib_fini();
    return 0;
}
