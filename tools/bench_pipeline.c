/** @file bench_pipeline.c  The recorder's decrypt-and-archive pipeline in
 *  process, without sockets, beside the libsrtp2 unprotect rate alone,
 *  measured in the same run.
 *
 * For N = 1, 1,000 and 10,000 streams (AES_CM_128_HMAC_SHA1_80, 160-byte
 * G.711 payloads, packets interleaved across streams as a receiver sees
 * them), two passes over the same pre-protected packets, each with fresh
 * receive sessions:
 *   unprotect: copy + parse + lookup (rec_streams) + rec_srtp_unprotect;
 *   pipeline:  the same + plain RTP parse + extended seq/ts + stor_writer_packet
 *              into one archive per call (two streams per call, as the daemon
 *              does), archives flushed once per 50 packets per stream (the
 *              daemon's one-second flush) and sealed at the end.
 * The pipeline pass reports its cost with and without sealing.  Figures are
 * per packet, CPU time of this process.  Memory is the allocator's bytes in
 * use (mallinfo2: heap and mmapped blocks; OpenSSL and libsrtp allocate
 * through malloc), per stream: the receive sessions, the archives once open,
 * and the archives at their fullest (sampled just before each flush).
 *
 *   bench_pipeline --cert=RECIPIENT.crt --dir=SCRATCH [total_packets]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "rec.h"
#include "stor.h"
#include "util.h"

enum { PAYLOAD = 160, PKT_CAP = REC_RTP_HDR_MIN + PAYLOAD + REC_SRTP_TRAILER_MAX };

struct bench_pkt {
    uint8_t b[PKT_CAP];
    size_t len;
};

struct bench_stream {
    struct rec_srtp *rx;
    struct stor_writer *w; /* the call's writer (shared by its two streams) */
    unsigned idx;
    uint64_t ext_seq;
};

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void flow_for(struct rec_flow *f, size_t i, uint32_t ssrc)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(0x7f000001);
    sin.sin_port = htons((uint16_t)(20000 + 2 * (i % 10000)));
    rec_flow_set(f, (const struct sockaddr *)&sin, sizeof(sin), ssrc);
}

struct bench {
    size_t n, per;
    uint8_t (*keys)[30];
    struct bench_pkt *pk;
    struct bench_stream *st;
    struct rec_streams *tab;
    const char *cert, *dir;
    size_t mem_sessions, mem_open, mem_peak; /* bytes, all streams */
};

static size_t heap_inuse(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static int sessions_make(struct bench *b)
{
    struct rec_srtp_cfg cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.n_keys = 1;
    cfg.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
    cfg.keys[0].master_len = 30;
    for (size_t i = 0; i < b->n; i++) {
        struct rec_flow f;
        rec_srtp_destroy(b->st[i].rx);
        b->st[i].rx = NULL;
        memcpy(cfg.keys[0].master, b->keys[i], 30);
        cfg.ssrc = (uint32_t)(0x10000000u + i);
        cfg.seq = 999;
        cfg.have_seq = true;
        if (rec_srtp_create(&b->st[i].rx, &cfg) != SR_OK)
            return -1;
        flow_for(&f, i, cfg.ssrc);
        rec_streams_remove(b->tab, &f, NULL);
        if (rec_streams_insert(b->tab, &f, &b->st[i]) != SR_OK)
            return -1;
        b->st[i].ext_seq = 0;
    }
    sr_wipe(&cfg, sizeof(cfg));
    return 0;
}

static int prepare(struct bench *b)
{
    struct rec_srtp_cfg cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.n_keys = 1;
    cfg.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
    cfg.keys[0].master_len = 30;
    cfg.sender = true;
    for (size_t i = 0; i < b->n; i++) {
        struct rec_srtp *tx = NULL;
        uint32_t ssrc = (uint32_t)(0x10000000u + i);
        if (sr_random(b->keys[i], 30) != SR_OK)
            return -1;
        memcpy(cfg.keys[0].master, b->keys[i], 30);
        cfg.ssrc = ssrc;
        if (rec_srtp_create(&tx, &cfg) != SR_OK)
            return -1;
        for (size_t j = 0; j < b->per; j++) {
            struct bench_pkt *p = &b->pk[j * b->n + i];
            uint8_t *h = p->b;
            uint16_t seq = (uint16_t)(1000 + j);
            uint32_t ts = (uint32_t)(j * 160);
            h[0] = 0x80, h[1] = 0;
            h[2] = (uint8_t)(seq >> 8), h[3] = (uint8_t)seq;
            h[4] = (uint8_t)(ts >> 24), h[5] = (uint8_t)(ts >> 16);
            h[6] = (uint8_t)(ts >> 8), h[7] = (uint8_t)ts;
            h[8] = (uint8_t)(ssrc >> 24), h[9] = (uint8_t)(ssrc >> 16);
            h[10] = (uint8_t)(ssrc >> 8), h[11] = (uint8_t)ssrc;
            for (size_t k = 0; k < PAYLOAD; k++)
                h[12 + k] = (uint8_t)(k * 7 + j + i);
            p->len = 12 + PAYLOAD;
            if (rec_srtp_protect(tx, h, &p->len, sizeof(p->b)) != SR_OK) {
                rec_srtp_destroy(tx);
                return -1;
            }
        }
        rec_srtp_destroy(tx);
    }
    sr_wipe(&cfg, sizeof(cfg));
    return 0;
}

/* One pass; archive: write into stor writers.  Returns failures, or -1. */
static long pass(struct bench *b, bool archive, double *cpu_us, double *seal_us)
{
    size_t count = b->n * b->per;
    long bad = 0;
    uint8_t buf[PKT_CAP];
    double c0, c1, c2;
    size_t m0 = heap_inuse(), m1;
    bool first = !b->st[0].rx;

    if (sessions_make(b) != 0)
        return -1;
    m1 = heap_inuse();
    if (first)
        b->mem_sessions = m1 > m0 ? m1 - m0 : 0;
    if (archive)
        for (size_t i = 0; i < b->n; i += 2) {
            struct stor_writer_cfg wc = { 0 };
            struct stor_call_info ci = { 0 };
            char id[STOR_ID_HEX];
            const char *rcpt[1] = { b->cert };
            wc.dir = b->dir;
            wc.recipients = rcpt;
            wc.n_recipients = 1;
            /* chunk_size 0: the default, as the recorder opens its archives */
            snprintf(ci.call_id, sizeof(ci.call_id), "bench-%zu", i / 2);
            snprintf(ci.local_aor, sizeof(ci.local_aor), "sip:a@bench");
            snprintf(ci.remote_aor, sizeof(ci.remote_aor), "sip:b@bench");
            ci.start_wall_us = sr_wall_us();
            if (stor_writer_open(&b->st[i].w, &wc, &ci, id) != SR_OK)
                return -1;
            for (size_t k = i; k < i + 2 && k < b->n; k++) {
                struct stor_stream_info si = { 0 };
                b->st[k].w = b->st[i].w;
                si.ssrc = (uint32_t)(0x10000000u + k);
                snprintf(si.codec, sizeof(si.codec), "PCMU");
                si.clock_rate = 8000;
                si.direction = k == i ? STOR_DIR_SEND : STOR_DIR_RECV;
                if (stor_writer_add_stream(b->st[i].w, &si, &b->st[k].idx) != SR_OK)
                    return -1;
            }
        }
    if (archive) {
        size_t m2 = heap_inuse();
        b->mem_open = m2 > m1 ? m2 - m1 : 0;
        b->mem_peak = b->mem_open;
    }
    c0 = cpu_s();
    for (size_t k = 0; k < count; k++) {
        struct rec_rtp h;
        struct rec_flow f;
        size_t len = b->pk[k].len;
        struct bench_stream *s;

        memcpy(buf, b->pk[k].b, len);
        if (rec_rtp_parse(buf, len, true, &h, NULL) != SR_OK) {
            bad++;
            continue;
        }
        flow_for(&f, k % b->n, h.ssrc);
        s = rec_streams_lookup(b->tab, &f);
        if (!s || rec_srtp_unprotect(s->rx, buf, &len) != SR_OK) {
            bad++;
            continue;
        }
        if (archive) {
            struct stor_pkt sp;
            if (rec_rtp_parse(buf, len, false, &h, NULL) != SR_OK) {
                bad++;
                continue;
            }
            sp.seq = h.seq;
            sp.ext_seq = ++s->ext_seq;
            sp.ext_ts = h.ts;
            sp.arrival_wall_us = 0;
            sp.flags = 0;
            sp.payload = (const uint8_t *)h.payload.p;
            sp.payload_len = h.payload.len;
            if (stor_writer_packet(s->w, s->idx, &sp) != SR_OK)
                bad++;
            if ((k + 1) % (b->n * 50) == 0) { /* one second of media for every stream */
                size_t now = heap_inuse();
                if (now > m1 && now - m1 > b->mem_peak)
                    b->mem_peak = now - m1;
                for (size_t i = 0; i < b->n; i += 2)
                    if (stor_writer_flush(b->st[i].w) != SR_OK)
                        bad++;
            }
        }
    }
    c1 = cpu_s();
    if (archive)
        for (size_t i = 0; i < b->n; i += 2) {
            struct stor_counts cnt = { 0 };
            cnt.packets = b->per * 2;
            if (stor_writer_close(b->st[i].w, &cnt, NULL, 0) != SR_OK)
                bad++;
            b->st[i].w = NULL;
        }
    c2 = cpu_s();
    *cpu_us = (c1 - c0) * 1e6 / (double)count;
    *seal_us = (c2 - c0) * 1e6 / (double)count;
    return bad;
}

static int run(size_t n, size_t total, const char *cert, const char *dir)
{
    struct bench b = { 0 };
    double u_us = 0, p_us = 0, p_seal = 0, dummy;
    long bad_u, bad_p;
    int rc = 1;

    b.n = n;
    b.per = (total + n - 1) / n;
    if (b.per < 50)
        b.per = 50;
    b.cert = cert;
    b.dir = dir;
    b.keys = calloc(n, sizeof(*b.keys));
    b.pk = calloc(n * b.per, sizeof(*b.pk));
    b.st = calloc(n, sizeof(*b.st));
    if (!b.keys || !b.pk || !b.st || rec_streams_create(&b.tab, n) != SR_OK || prepare(&b) != 0)
        goto out;
    bad_u = pass(&b, false, &u_us, &dummy);
    bad_p = pass(&b, true, &p_us, &p_seal);
    printf("streams=%-6zu packets=%-8zu unprotect %.3f us/pkt (%.0f pkt/s)  pipeline %.3f us/pkt "
           "(%.0f pkt/s, %.0f %% of unprotect rate)  with sealing %.3f us/pkt  failures %ld/%ld\n",
           n, n * b.per, u_us, 1e6 / u_us, p_us, 1e6 / p_us, 100.0 * u_us / p_us, p_seal, bad_u,
           bad_p);
    printf("streams=%-6zu memory per stream: receive session %zu B, archive open %zu B, archive "
           "at its fullest (1 s of media) %zu B\n", n, b.mem_sessions / n, b.mem_open / n,
           b.mem_peak / n);
    rc = bad_u || bad_p ? 1 : 0;
out:
    if (b.st)
        for (size_t i = 0; i < n; i++)
            rec_srtp_destroy(b.st[i].rx);
    if (b.keys)
        sr_wipe(b.keys, n * sizeof(*b.keys));
    rec_streams_destroy(b.tab);
    free(b.keys);
    free(b.pk);
    free(b.st);
    return rc;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = { 1, 1000, 10000 };
    const char *cert = NULL, *dir = NULL;
    enum rec_srtp_backend backend;
    size_t total = 500000;
    struct rlimit rl;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        uint64_t v;
        if (strncmp(argv[i], "--cert=", 7) == 0)
            cert = argv[i] + 7;
        else if (strncmp(argv[i], "--dir=", 6) == 0)
            dir = argv[i] + 6;
        else if (slice_to_u64(slice_cstr(argv[i]), 100000000, &v) && v >= 10000)
            total = (size_t)v;
        else
            cert = NULL, i = argc;
    }
    if (!cert || !dir) {
        fprintf(stderr, "usage: %s --cert=RECIPIENT.crt --dir=SCRATCH [total_packets >= 10000]\n",
                argv[0]);
        return 2;
    }
    /* One open archive per call: 5,000 for 10,000 streams. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rec_srtp_lib_init(false, &backend) != SR_OK) {
        fprintf(stderr, "libsrtp init failed (backend %s)\n", rec_srtp_backend_name(backend));
        return 1;
    }
    printf("libsrtp backend: %s; AES_CM_128_HMAC_SHA1_80, %d-byte payload; CPU time per packet\n",
           rec_srtp_backend_name(backend), PAYLOAD);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        rc |= run(sizes[i], total, cert, dir);
    rec_srtp_lib_fini();
    return rc;
}
