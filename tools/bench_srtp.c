/** @file bench_srtp.c  Cost of the recorder's per-packet path against the
 *  number of live streams.
 *
 * For N = 1, 1,000 and 10,000 streams (one libsrtp session each, found
 * through rec_streams), pre-protect AES_CM_128_HMAC_SHA1_80 packets with a
 * 160-byte payload (20 ms of G.711), then time, per packet: copy into a
 * receive buffer, parse the header, look the stream up, srtp_unprotect.
 * Packets are interleaved across streams as a real worker sees them, so
 * cache misses on 10,000 key schedules are part of the figure.
 *
 *   bench_srtp [--any-backend] [total_packets_per_run]   (default 400000)
 *
 * --any-backend runs on a libsrtp built with NSS (or another backend), which
 * rec_srtp_lib_init otherwise refuses, to compare the two.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "rec.h"
#include "util.h"

enum { PAYLOAD = 160, PKT_CAP = REC_RTP_HDR_MIN + PAYLOAD + REC_SRTP_TRAILER_MAX };

struct bench_pkt {
    uint8_t b[PKT_CAP];
    size_t len;
};

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
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

static int run(size_t n_streams, size_t total)
{
    size_t per = (total + n_streams - 1) / n_streams;
    struct rec_srtp **rx = calloc(n_streams, sizeof(*rx));
    struct bench_pkt *pk = calloc(n_streams * per, sizeof(*pk));
    struct rec_streams *tab = NULL;
    struct rec_srtp_cfg cfg;
    int rc = 1;

    if (!rx || !pk || rec_streams_create(&tab, n_streams) != SR_OK)
        goto out;
    memset(&cfg, 0, sizeof(cfg));
    cfg.n_keys = 1;
    cfg.keys[0].suite = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
    cfg.keys[0].master_len = 30;

    for (size_t i = 0; i < n_streams; i++) {
        struct rec_srtp *tx = NULL;
        struct rec_flow f;
        uint32_t ssrc = (uint32_t)(0x10000000u + i);

        if (sr_random(cfg.keys[0].master, 30) != SR_OK)
            goto out;
        cfg.ssrc = ssrc;
        cfg.sender = true;
        if (rec_srtp_create(&tx, &cfg) != SR_OK)
            goto out;
        cfg.sender = false;
        if (rec_srtp_create(&rx[i], &cfg) != SR_OK) {
            rec_srtp_destroy(tx);
            goto out;
        }
        flow_for(&f, i, ssrc);
        if (rec_streams_insert(tab, &f, rx[i]) != SR_OK) {
            rec_srtp_destroy(tx);
            goto out;
        }
        for (size_t j = 0; j < per; j++) {
            struct bench_pkt *p = &pk[j * n_streams + i];
            uint8_t *b = p->b;
            uint16_t seq = (uint16_t)(1000 + j);
            uint32_t ts = (uint32_t)(j * 160);

            b[0] = 0x80, b[1] = 0;
            b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
            b[4] = (uint8_t)(ts >> 24), b[5] = (uint8_t)(ts >> 16);
            b[6] = (uint8_t)(ts >> 8), b[7] = (uint8_t)ts;
            b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16);
            b[10] = (uint8_t)(ssrc >> 8), b[11] = (uint8_t)ssrc;
            memset(b + 12, (int)(j & 0xff), PAYLOAD);
            p->len = 12 + PAYLOAD;
            if (rec_srtp_protect(tx, b, &p->len, sizeof(p->b)) != SR_OK) {
                rec_srtp_destroy(tx);
                goto out;
            }
        }
        rec_srtp_destroy(tx);
    }
    sr_wipe(&cfg, sizeof(cfg));

    size_t count = n_streams * per, bad = 0;
    uint8_t buf[PKT_CAP];
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t k = 0; k < count; k++) {
        struct rec_rtp h;
        struct rec_flow f;
        size_t len = pk[k].len;
        struct rec_srtp *s;

        memcpy(buf, pk[k].b, len);
        if (rec_rtp_parse(buf, len, true, &h, NULL) != SR_OK) {
            bad++;
            continue;
        }
        flow_for(&f, k % n_streams, h.ssrc);
        s = rec_streams_lookup(tab, &f);
        if (!s || rec_srtp_unprotect(s, buf, &len) != SR_OK)
            bad++;
    }
    double w1 = now_s(CLOCK_MONOTONIC), c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    printf("streams=%-6zu packets=%-8zu failures=%zu  wall %.3f us/packet  cpu %.3f us/packet\n",
           n_streams, count, bad, (w1 - w0) * 1e6 / (double)count,
           (c1 - c0) * 1e6 / (double)count);
    rc = bad ? 1 : 0;
out:
    if (rx)
        for (size_t i = 0; i < n_streams; i++)
            rec_srtp_destroy(rx[i]);
    rec_streams_destroy(tab);
    free(rx);
    free(pk);
    return rc;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = { 1, 1000, 10000 };
    enum rec_srtp_backend backend;
    size_t total = 400000;
    int rc = 0;

    bool any_backend = false;
    for (int i = 1; i < argc; i++) {
        uint64_t v;
        if (strcmp(argv[i], "--any-backend") == 0) {
            any_backend = true;
        } else if (slice_to_u64(slice_cstr(argv[i]), 100000000, &v) && v >= 10000) {
            total = (size_t)v;
        } else {
            fprintf(stderr, "usage: %s [--any-backend] [total_packets >= 10000]\n", argv[0]);
            return 2;
        }
    }
    if (rec_srtp_lib_init(any_backend, &backend) != SR_OK) {
        fprintf(stderr, "libsrtp init failed (backend %s)\n", rec_srtp_backend_name(backend));
        return 1;
    }
    printf("libsrtp backend: %s; AES_CM_128_HMAC_SHA1_80, %d-byte payload; "
           "copy + parse + lookup + unprotect\n",
           rec_srtp_backend_name(backend), PAYLOAD);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        rc |= run(sizes[i], total);
    rec_srtp_lib_fini();
    return rc;
}
