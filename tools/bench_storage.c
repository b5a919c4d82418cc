/** @file bench_storage.c  Archive write throughput and WAV export time (issue 6, item 7).
 *
 * write:  CALLS two-party G.711 calls (two streams each, 160-byte payloads,
 *         20 ms packets) written concurrently through stor_writer_packet,
 *         packets interleaved across calls as the recorder sees them; every
 *         archive is flushed once per 50 packets per stream (the recorder's
 *         one-second flush) and sealed at the end.  Reported: CPU and wall
 *         time per packet (with the writer's default sync policy and with
 *         sync=flush), payload MB/s, and the concurrent G.711 streams one
 *         core sustains (50 packets/s each).
 * export: one one-hour two-party PCMU call written with the writer, then
 *         stor_export_wav into a sink that only counts bytes (the cost of
 *         storage's export itself) and into /dev/null through write(2).
 *
 *   bench_storage --cert=RECIPIENT.crt --key=RECIPIENT.key --dir=SCRATCH [calls]
 *
 * Figures go to docs/benchmarks.md; nothing here asserts on time.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "stor.h"
#include "util.h"

/* WARMUP_S media seconds before the clock starts: the first second grows
 * each writer's buffers to their working size (first-touch page faults),
 * a cost a call pays once, not per packet of a call lasting minutes. */
enum { PAYLOAD = 160, PPS = 50, WRITE_PKTS = 400000, WARMUP_S = 2, EXPORT_SECONDS = 3600 };

/* Kernel CPU time of the process so far: the part of writing spent in
 * write(2) and the page cache, told apart from our own code's. */
static double sys_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *opt(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

static void call_info(struct stor_call_info *ci, size_t i)
{
    memset(ci, 0, sizeof(*ci));
    snprintf(ci->call_id, sizeof(ci->call_id), "bench-%zu@example.net", i);
    snprintf(ci->local_aor, sizeof(ci->local_aor), "sip:a%zu@example.net", i);
    snprintf(ci->remote_aor, sizeof(ci->remote_aor), "sip:b%zu@example.net", i);
    snprintf(ci->source, sizeof(ci->source), "bench");
    ci->start_wall_us = 1764000000000000ull;
}

static void stream_info(struct stor_stream_info *si, unsigned k)
{
    memset(si, 0, sizeof(*si));
    si->ssrc = 0x1000 + k;
    si->payload_type = 0;
    snprintf(si->codec, sizeof(si->codec), "PCMU");
    si->clock_rate = 8000;
    si->direction = k ? STOR_DIR_RECV : STOR_DIR_SEND;
    snprintf(si->label, sizeof(si->label), "s%u", k);
}

struct wcall {
    struct stor_writer *w;
    unsigned idx[2];
};

/* Open calls, write SECONDS_WRITE media seconds to each, close.  Returns
 * false on any storage error. */
static bool bench_write(const char *cert, const char *dir, size_t calls, enum stor_sync sync,
                        const char *label)
{
    const char *recips[1] = { cert };
    struct stor_writer_cfg wc = { .dir = dir, .recipients = recips, .n_recipients = 1,
                                  .sync = sync };
    struct wcall *c = calloc(calls, sizeof(*c));
    uint8_t payload[PAYLOAD];
    double c0 = 0, w0 = 0, s0 = 0, c1, w1, s1, c2, w2;
    uint64_t pkts = 0, seconds = WRITE_PKTS / (calls * 2 * PPS);
    bool ok = false;

    if (!c)
        return false;
    /* About WRITE_PKTS packets per run, at least 4 media seconds (4 flushes). */
    seconds = seconds < 4 ? 4 : seconds > 3600 ? 3600 : seconds;
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(0x55 ^ i * 7);
    for (size_t i = 0; i < calls; i++) {
        struct stor_call_info ci;
        char id[STOR_ID_HEX];
        call_info(&ci, i);
        if (stor_writer_open(&c[i].w, &wc, &ci, id) != SR_OK)
            goto out;
        for (unsigned k = 0; k < 2; k++) {
            struct stor_stream_info si;
            stream_info(&si, k);
            if (stor_writer_add_stream(c[i].w, &si, &c[i].idx[k]) != SR_OK)
                goto out;
        }
    }
    for (uint64_t n = 0; n < (seconds + WARMUP_S) * PPS; n++) {
        if (n == WARMUP_S * PPS) {
            c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            w0 = clock_s(CLOCK_MONOTONIC);
            s0 = sys_s();
            pkts = 0;
        }
        for (size_t i = 0; i < calls; i++)
            for (unsigned k = 0; k < 2; k++) {
                struct stor_pkt p = {
                    .seq = (uint16_t)n,
                    .ext_seq = n,
                    .ext_ts = n * PAYLOAD,
                    .arrival_wall_us = 1764000000000000ull + n * 20000 + k * 300,
                    .payload = payload,
                    .payload_len = sizeof(payload),
                };
                if (stor_writer_packet(c[i].w, c[i].idx[k], &p) != SR_OK)
                    goto out;
                pkts++;
            }
        if ((n + 1) % PPS == 0)
            for (size_t i = 0; i < calls; i++)
                if (stor_writer_flush(c[i].w) != SR_OK)
                    goto out;
    }
    c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    w1 = clock_s(CLOCK_MONOTONIC);
    s1 = sys_s();
    for (size_t i = 0; i < calls; i++) {
        struct stor_counts cnt = { .packets = 2 * (seconds + WARMUP_S) * PPS };
        char path[4096];
        enum sr_err err = stor_writer_close(c[i].w, &cnt, path, sizeof(path));
        c[i].w = NULL;
        if (err != SR_OK)
            goto out;
        unlink(path); /* keep the scratch directory small */
    }
    c2 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    w2 = clock_s(CLOCK_MONOTONIC);
    {
        double cpu_us = (c1 - c0) * 1e6 / (double)pkts, wall_us = (w1 - w0) * 1e6 / (double)pkts;
        double cpu_all = (c2 - c0) * 1e6 / (double)pkts, wall_all = (w2 - w0) * 1e6 / (double)pkts;
        double mbs = (double)pkts * PAYLOAD / ((c1 - c0) * 1e6);
        (void)cpu_all;
        (void)wall_all;
        /* Close is a per-call cost (EOS pages, final chunk, fsync, rename):
         * shown per call, not spread over this run's few media seconds. */
        printf("write %-5s %6zu calls (%6zu streams): %6.3f us/pkt CPU (%5.3f kernel), "
               "%6.3f us/pkt wall; "
               "%6.1f MB/s payload (CPU); %7.0f G.711 streams/core; "
               "close %5.1f us CPU, %6.1f us wall per call\n",
               label, calls, 2 * calls, cpu_us, (s1 - s0) * 1e6 / (double)pkts, wall_us, mbs, 1e6 / cpu_us / PPS,
               (c2 - c1) * 1e6 / (double)calls, (w2 - w1) * 1e6 / (double)calls);
    }
    ok = true;
out:
    if (!ok)
        fprintf(stderr, "write bench failed\n");
    for (size_t i = 0; i < calls; i++)
        stor_writer_abandon(c[i].w);
    free(c);
    return ok;
}

static bool make_hour(const char *cert, const char *dir, char *path, size_t path_len)
{
    const char *recips[1] = { cert };
    struct stor_writer_cfg wc = { .dir = dir, .recipients = recips, .n_recipients = 1 };
    struct stor_writer *w;
    struct stor_call_info ci;
    struct stor_counts cnt = { 0 };
    uint8_t payload[PAYLOAD];
    unsigned idx[2];
    char id[STOR_ID_HEX];

    call_info(&ci, 0);
    if (stor_writer_open(&w, &wc, &ci, id) != SR_OK)
        return false;
    for (unsigned k = 0; k < 2; k++) {
        struct stor_stream_info si;
        stream_info(&si, k);
        if (stor_writer_add_stream(w, &si, &idx[k]) != SR_OK)
            goto fail;
    }
    for (uint64_t n = 0; n < (uint64_t)EXPORT_SECONDS * PPS; n++) {
        for (size_t i = 0; i < sizeof(payload); i++)
            payload[i] = (uint8_t)(n + i * 3);
        for (unsigned k = 0; k < 2; k++) {
            struct stor_pkt p = {
                .seq = (uint16_t)n,
                .ext_seq = n,
                .ext_ts = 1000 + n * PAYLOAD,
                .arrival_wall_us = 1764000000000000ull + n * 20000 + k * 700,
                .payload = payload,
                .payload_len = sizeof(payload),
            };
            if (stor_writer_packet(w, idx[k], &p) != SR_OK)
                goto fail;
        }
        if ((n + 1) % PPS == 0 && stor_writer_flush(w) != SR_OK)
            goto fail;
    }
    cnt.packets = 2ull * EXPORT_SECONDS * PPS;
    return stor_writer_close(w, &cnt, path, path_len) == SR_OK;
fail:
    stor_writer_abandon(w);
    return false;
}

static bool count_sink(const void *data, size_t len, void *arg)
{
    (void)data;
    *(uint64_t *)arg += len;
    return true;
}

static bool fd_sink(const void *data, size_t len, void *arg)
{
    return sr_write_all(*(int *)arg, data, len) == SR_OK;
}

static bool bench_export(const char *cert, const char *key, const char *dir)
{
    char path[4096];
    const char *why = NULL;
    uint64_t bytes = 0;
    double w0, c0, w1, c1;
    int fd;
    enum sr_err err;

    w0 = clock_s(CLOCK_MONOTONIC);
    if (!make_hour(cert, dir, path, sizeof(path))) {
        fprintf(stderr, "cannot write the one-hour archive\n");
        return false;
    }
    printf("export: one-hour two-party PCMU archive written in %.2f s\n",
           clock_s(CLOCK_MONOTONIC) - w0);
    /* Wait for writeback to finish so the reads below compete with nothing. */
    sync();
    for (int round = 0; round < 3; round++) {
        bytes = 0;
        w0 = clock_s(CLOCK_MONOTONIC);
        c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        err = stor_export_wav(path, cert, key, count_sink, &bytes, &why);
        c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        w1 = clock_s(CLOCK_MONOTONIC);
        if (err) {
            fprintf(stderr, "export failed: %s\n", why ? why : sr_strerror(err));
            return false;
        }
        printf("export wav (counting sink): %llu bytes in %.3f s wall, %.3f s CPU = %.0f MB/s\n",
               (unsigned long long)bytes, w1 - w0, c1 - c0, (double)bytes / (w1 - w0) / 1e6);
    }
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    w0 = clock_s(CLOCK_MONOTONIC);
    err = stor_export_wav(path, cert, key, fd_sink, &fd, &why);
    w1 = clock_s(CLOCK_MONOTONIC);
    close(fd);
    if (err)
        return false;
    printf("export wav (write to /dev/null): %.3f s wall\n", w1 - w0);
    w0 = clock_s(CLOCK_MONOTONIC);
    bytes = 0;
    err = stor_export_ogg(path, cert, key, count_sink, &bytes, &why);
    w1 = clock_s(CLOCK_MONOTONIC);
    if (err)
        return false;
    printf("export ogg (counting sink): %llu bytes in %.3f s wall\n", (unsigned long long)bytes,
           w1 - w0);
    unlink(path);
    return true;
}

/* One export kind, three times, on an archive given (an Opus call made by
 * tests/api's mkarchive opus=FILE): decoding, not the writer, is measured. */
static bool bench_decode_one(const char *kind, const char *path, const char *cert,
                             const char *key)
{
    for (int round = 0; round < 3; round++) {
        struct stor_waveform *wf = NULL;
        const char *why = NULL;
        uint64_t bytes = 0;
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w1, c1;
        enum sr_err err = strcmp(kind, "wav") == 0
                              ? stor_export_wav(path, cert, key, count_sink, &bytes, &why)
                          : strcmp(kind, "opus") == 0
                              ? stor_export_opus(path, cert, key, STOR_STREAM_FIRST_OPUS,
                                                 count_sink, &bytes, &why)
                              : stor_waveform(path, cert, key, 800, &wf, &why);
        c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        w1 = clock_s(CLOCK_MONOTONIC);
        if (wf)
            bytes = wf->frames;
        stor_waveform_free(wf);
        if (err) {
            fprintf(stderr, "%s failed: %s\n", kind, why ? why : sr_strerror(err));
            return false;
        }
        printf("decode %s: %llu %s in %.3f s wall, %.3f s CPU\n", kind, (unsigned long long)bytes,
               strcmp(kind, "waveform") == 0 ? "frames" : "bytes", w1 - w0, c1 - c0);
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *cert = opt(argc, argv, "--cert"), *key = opt(argc, argv, "--key");
    const char *dir = opt(argc, argv, "--dir"), *only = opt(argc, argv, "--only");
    const char *sync = opt(argc, argv, "--sync"), *archive = opt(argc, argv, "--archive");
    size_t calls_list[3] = { 1, 500, 5000 };
    size_t n_calls = 3;

    if (!cert || !key || !dir) {
        fprintf(stderr, "usage: bench_storage --cert=C.crt --key=C.key --dir=SCRATCH "
                        "[--only=write|export] [--sync=close|flush|none] [calls]\n"
                        "       bench_storage --cert=C.crt --key=C.key --dir=SCRATCH "
                        "--archive=OPUS.srec   (WAV, waveform, Ogg Opus)\n");
        return 2;
    }
    if (archive)
        return bench_decode_one("wav", archive, cert, key) &&
                       bench_decode_one("waveform", archive, cert, key) &&
                       bench_decode_one("opus", archive, cert, key)
                   ? 0
                   : 1;
    if (argc > 1 && argv[argc - 1][0] != '-') {
        calls_list[0] = (size_t)strtoul(argv[argc - 1], NULL, 10); /* bench CLI: a count */
        n_calls = 1;
    }
    if (!only || strcmp(only, "write") == 0)
        for (size_t i = 0; i < n_calls; i++)
            if (((!sync || strcmp(sync, "close") == 0) &&
                 !bench_write(cert, dir, calls_list[i], STOR_SYNC_CLOSE, "close")) ||
                ((!sync || strcmp(sync, "flush") == 0) &&
                 !bench_write(cert, dir, calls_list[i], STOR_SYNC_FLUSH, "flush")) ||
                (sync && strcmp(sync, "none") == 0 &&
                 !bench_write(cert, dir, calls_list[i], STOR_SYNC_NONE, "none")))
                return 1;
    if (!only || strcmp(only, "export") == 0)
        if (!bench_export(cert, key, dir))
            return 1;
    return 0;
}
