/** @file test_export.c  WAV export of a known two-direction call: G.711 decoding against
 *  ITU-T G.711 reference values, alignment by first arrival, gaps as silence. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stor.h"
#include "tap.h"
#include "testcert.h"

enum { FRAMES = 2880 };

/* G.711 expansion written from the segment tables (a different formulation
 * from the library's, on purpose): magnitudes in 14-bit (mu) / 13-bit (A)
 * units scaled to 16 bits. */
static int16_t ref_ulaw(uint8_t b)
{
    int exp, mant, mag;

    b = (uint8_t)~b;
    exp = (b >> 4) & 7;
    mant = b & 15;
    mag = ((2 * mant + 33) << exp) - 33;
    return (int16_t)((b & 0x80) ? -4 * mag : 4 * mag);
}

static int16_t ref_alaw(uint8_t b)
{
    int exp, mant, mag;

    b ^= 0x55;
    exp = (b >> 4) & 7;
    mant = b & 15;
    mag = exp == 0 ? 2 * mant + 1 : (2 * mant + 33) << (exp - 1);
    return (int16_t)((b & 0x80) ? 8 * mag : -8 * mag);
}

struct sink {
    uint8_t *p;
    size_t len, cap, calls;
    size_t small; /* calls with fewer than 4096 bytes */
};

static bool sink_fn(const void *data, size_t len, void *arg)
{
    struct sink *s = arg;
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->p = realloc(s->p, s->cap);
        if (!s->p)
            return false;
    }
    memcpy(s->p + s->len, data, len);
    s->len += len;
    s->calls++;
    if (len < 4096)
        s->small++;
    return true;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int16_t sample(const struct sink *s, size_t frame, unsigned ch)
{
    const uint8_t *p = s->p + 44 + frame * 4 + ch * 2;
    return (int16_t)(uint16_t)(p[0] | p[1] << 8);
}

/* A 90 s two-party call: longer than the reorder window, so the window
 * slides many times.  Recv packet 1000 comes 3 s late in file order (within
 * the window) and must still land in place; every sink write but the
 * header and the last is large (no per-sample writes). */
static void long_call(const char *dir, const char *crt, const char *key)
{
    enum { SECS = 90, PKTS = SECS * 50, LATE = 1000, LAG = 150 };
    const char *recips[1] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 0, 0, STOR_SYNC_NONE, NULL };
    struct stor_call_info call = { .call_id = "export-long" };
    struct stor_stream_info si[2] = {
        { 0x100, 0, "PCMU", 8000, STOR_DIR_SEND, "s", false },
        { 0x200, 0, "PCMU", 8000, STOR_DIR_RECV, "r", false },
    };
    const uint64_t t0 = 1700000000000000ull;
    char path[8192], id[STOR_ID_HEX];
    struct stor_writer *w;
    struct sink out = { 0 };
    const char *why = NULL;
    unsigned idx[2];
    uint8_t pay[160];
    size_t bad = 0;
    enum sr_err err;

    if (!tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK &&
                    stor_writer_add_stream(w, &si[0], &idx[0]) == SR_OK &&
                    stor_writer_add_stream(w, &si[1], &idx[1]) == SR_OK,
                "long call: writer"))
        return;
    for (unsigned i = 0; i < PKTS; i++) {
        for (unsigned k = 0; k < 2; k++) {
            for (unsigned pass = 0; pass < 2; pass++) {
                unsigned n = pass ? LATE : i;
                struct stor_pkt p;
                if ((k == 1 && i == LATE && !pass) || (pass && (k != 1 || i != LATE + LAG)))
                    continue; /* recv packet LATE is held back until LATE + LAG */
                for (unsigned b = 0; b < 160; b++)
                    pay[b] = (uint8_t)(n * 7 + b + k * 101);
                p = (struct stor_pkt){ (uint16_t)n, n, 1000 + (uint64_t)n * 160,
                                       t0 + (uint64_t)n * 20000 + k * 1000, 0, pay, 160 };
                stor_writer_packet(w, idx[k], &p);
            }
        }
        if (i % 50 == 49)
            stor_writer_flush(w);
    }
    if (!tap_ok(stor_writer_close(w, NULL, path, sizeof(path)) == SR_OK, "long call: sealed"))
        return;
    err = stor_export_wav(path, crt, key, sink_fn, &out, &why);
    tap_ok(err == SR_OK && out.len == 44 + (size_t)PKTS * 160 * 4,
           "long call: exported %zu bytes (%s)", out.len, why ? why : "ok");
    if (out.len == 44 + (size_t)PKTS * 160 * 4)
        for (size_t f = 0; f < (size_t)PKTS * 160; f++)
            for (unsigned k = 0; k < 2; k++)
                if (sample(&out, f, k) != ref_ulaw((uint8_t)((f / 160) * 7 + f % 160 + k * 101)))
                    bad++;
    tap_ok(bad == 0, "long call: every sample in place, the late packet too (%zu differ)", bad);
    tap_ok(out.small <= 2, "long call: %zu sink writes, %zu of them under 4 KiB", out.calls,
           out.small);
    free(out.p);
    unlink(path);
}

/* A call with G.711 one way and Opus the other: 48 kHz, each G.711 sample
 * six times, in place; the Opus side (TOC-only packets: RFC 6716 lets a
 * decoder treat them as lost, so libopus conceals) no longer than its
 * packets less the pre-skip. */
static void mixed_codecs(const char *dir, const char *crt, const char *key)
{
    const char *recips[1] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 0, 0, STOR_SYNC_NONE, NULL };
    struct stor_call_info call = { .call_id = "export-mixed-codecs" };
    struct stor_stream_info si[2] = {
        { 0x100, 0, "PCMU", 8000, STOR_DIR_SEND, "s", false },
        { 0x200, 111, "opus", 48000, STOR_DIR_RECV, "o", false },
    };
    const uint64_t t0 = 1700000000000000ull;
    static const uint8_t toc[1] = { 0xf8 }; /* CELT fullband 20 ms, mono, one frame */
    char path[8192], id[STOR_ID_HEX];
    struct stor_writer *w;
    struct sink out = { 0 };
    const char *why = NULL;
    unsigned idx[2];
    uint8_t pay[10][160];
    size_t bad = 0;

    if (!tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK &&
                    stor_writer_add_stream(w, &si[0], &idx[0]) == SR_OK &&
                    stor_writer_add_stream(w, &si[1], &idx[1]) == SR_OK,
                "G.711 and Opus: writer"))
        return;
    for (unsigned i = 0; i < 10; i++) {
        struct stor_pkt p;
        for (unsigned k = 0; k < 160; k++)
            pay[i][k] = (uint8_t)(i * 29 + k * 11 + 5);
        p = (struct stor_pkt){ (uint16_t)i, i, 500 + i * 160, t0 + i * 20000, 0, pay[i], 160 };
        stor_writer_packet(w, idx[0], &p);
        p = (struct stor_pkt){ (uint16_t)i, i, 9000 + i * 960, t0 + i * 20000, 0, toc, 1 };
        stor_writer_packet(w, idx[1], &p);
    }
    tap_ok(stor_writer_close(w, NULL, path, sizeof(path)) == SR_OK, "G.711 and Opus: sealed");
    enum sr_err err = stor_export_wav(path, crt, key, sink_fn, &out, &why);
    tap_ok(err == SR_OK && out.len == 44 + 9600 * 4 && le32(out.p + 24) == 48000,
           "G.711 and Opus: 48 kHz, 9600 frames (%zu bytes, %s)", out.len, why ? why : "ok");
    for (size_t f = 0; out.len == 44 + 9600 * 4 && f < 9600; f++)
        bad += sample(&out, f, 0) != ref_ulaw(pay[f / 960][f / 6 % 160]);
    tap_ok(out.len == 44 + 9600 * 4 && bad == 0,
           "G.711 and Opus: every G.711 sample six times, in place (%zu differ)", bad);
    free(out.p);
}

int main(void)
{
    char dir[4096], crt[4096], key[4096], path[8192], id[STOR_ID_HEX];
    const char *recips[1] = { crt };
    struct stor_call_info call = { .call_id = "export-test" };
    struct stor_stream_info si[4] = {
        { 0x100, 0, "PCMU", 8000, STOR_DIR_SEND, "s", false },
        { 0x200, 8, "PCMA", 8000, STOR_DIR_RECV, "r", false },
        { 0x300, 0, "PCMU", 8000, STOR_DIR_RECV, "r2", false },
        { 0x400, 111, "opus", 48000, STOR_DIR_SEND, "o", false },
    };
    static int16_t want[FRAMES][2];
    struct stor_writer *w;
    unsigned idx[4];
    uint8_t pay[200];
    const uint64_t t0 = 1700000000000000ull;
    struct sink out = { 0 };
    const char *why = NULL;
    enum sr_err err;
    size_t bad = 0;

    if (!tap_ok(testcert_tmpdir(dir) && testcert_make(dir, "aud", TESTCERT_EC, crt, key),
                "temp dir and certificate"))
        return tap_done();
    struct stor_writer_cfg cfg = { dir, recips, 1, 1000, 0, STOR_SYNC_CLOSE, NULL };
    if (!tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK, "writer"))
        return tap_done();
    stor_writer_add_stream(w, &si[0], &idx[0]);
    stor_writer_add_stream(w, &si[1], &idx[1]);
    stor_writer_add_stream(w, &si[3], &idx[3]);

    /* Send (PCMU): ts base 1000, packets 0..9 with 5 lost and 6/7 swapped.
     * Recv (PCMA): arrives 7 ms later (rounds to the same 20 ms boundary),
     * packet 3 kept encrypted.  The Opus stream's packets were never keyed (kept
     * encrypted): nothing to decode, so the export stays at 8 kHz. */
    for (unsigned i = 0; i < 10; i++) {
        unsigned s0 = i == 6 ? 7 : i == 7 ? 6 : i;
        struct stor_pkt p = { 0 };
        for (unsigned k = 0; k < 160; k++)
            pay[k] = (uint8_t)(s0 * 31 + k * 7 + 3);
        if (s0 == 0)
            memcpy(pay, "\x00\x80\xff\x7f", 4);
        p = (struct stor_pkt){ (uint16_t)s0, s0, 1000 + s0 * 160, t0 + s0 * 20000, 0, pay, 160 };
        if (s0 != 5) {
            stor_writer_packet(w, idx[0], &p);
            for (unsigned k = 0; k < 160; k++)
                want[s0 * 160 + k][0] = ref_ulaw(pay[k]);
        }
        for (unsigned k = 0; k < 160; k++)
            pay[k] = (uint8_t)(i * 13 + k * 5 + 1);
        if (i == 0)
            memcpy(pay, "\xd5\x55\xaa\x2a", 4);
        p = (struct stor_pkt){ (uint16_t)i, i, 50000 + i * 160, t0 + 7000 + i * 20000,
                               i == 3 ? STOR_PKT_ENCRYPTED : 0, pay, 160 };
        stor_writer_packet(w, idx[1], &p);
        if (i != 3)
            for (unsigned k = 0; k < 160; k++)
                want[i * 160 + k][1] = ref_alaw(pay[k]);
        p = (struct stor_pkt){ (uint16_t)i, i, i * 960, t0 + i * 20000, STOR_PKT_ENCRYPTED, pay, 80 };
        stor_writer_packet(w, idx[3], &p);
    }
    stor_writer_flush(w);
    /* A later recv stream (new SSRC) 295 ms in: 2360 samples, rounded to 2400. */
    stor_writer_add_stream(w, &si[2], &idx[2]);
    for (unsigned j = 0; j < 3; j++) {
        struct stor_pkt p;
        for (unsigned k = 0; k < 160; k++)
            pay[k] = (uint8_t)(j * 17 + k * 3 + 9);
        p = (struct stor_pkt){ (uint16_t)j, j, 777 + j * 160, t0 + 295000 + j * 20000, 0, pay, 160 };
        stor_writer_packet(w, idx[2], &p);
        for (unsigned k = 0; k < 160; k++)
            want[2400 + j * 160 + k][1] = ref_ulaw(pay[k]);
    }
    tap_ok(stor_writer_close(w, NULL, path, sizeof(path)) == SR_OK, "archive sealed");

    tap_ok(ref_ulaw(0x00) == -32124 && ref_ulaw(0x80) == 32124 && ref_ulaw(0xff) == 0 &&
               ref_alaw(0xd5) == 8 && ref_alaw(0x2a) == -32256,
           "reference expansion agrees with G.711 end points");

    err = stor_export_wav(path, crt, key, sink_fn, &out, &why);
    tap_ok(err == SR_OK, "export (%s)", why ? why : "ok");
    if (!tap_ok(out.len == 44 + FRAMES * 4, "length %zu = header + %d stereo frames", out.len, FRAMES))
        goto done;
    tap_ok(memcmp(out.p, "RIFF", 4) == 0 && le32(out.p + 4) == 36 + FRAMES * 4 &&
               memcmp(out.p + 8, "WAVEfmt ", 8) == 0 && le32(out.p + 16) == 16 &&
               out.p[20] == 1 && out.p[22] == 2 && le32(out.p + 24) == 8000 &&
               le32(out.p + 28) == 32000 && out.p[32] == 4 && out.p[34] == 16 &&
               memcmp(out.p + 36, "data", 4) == 0 && le32(out.p + 40) == FRAMES * 4,
           "RIFF header: PCM, 2 channels, 8 kHz, 16 bit, sizes");
    tap_ok(sample(&out, 0, 0) == -32124 && sample(&out, 1, 0) == 32124 &&
               sample(&out, 2, 0) == 0 && sample(&out, 3, 0) == 0,
           "mu-law 0x00 0x80 0xff 0x7f -> -32124 32124 0 0 (ITU-T G.711 +-8031 x 4)");
    tap_ok(sample(&out, 0, 1) == 8 && sample(&out, 1, 1) == -8 && sample(&out, 2, 1) == 32256 &&
               sample(&out, 3, 1) == -32256,
           "A-law 0xd5 0x55 0xaa 0x2a -> 8 -8 32256 -32256 (ITU-T G.711 +-1, +-4032 x 8)");
    for (size_t f = 0; f < FRAMES; f++)
        for (unsigned ch = 0; ch < 2; ch++)
            if (sample(&out, f, ch) != want[f][ch])
                bad++;
    tap_ok(bad == 0, "every sample equals the expected decode (%zu differ)", bad);
    {
        size_t nz = 0;
        for (size_t f = 800; f < 960; f++)
            nz += sample(&out, f, 0) != 0;
        for (size_t f = 480; f < 640; f++)
            nz += sample(&out, f, 1) != 0;
        for (size_t f = 1600; f < 2400; f++)
            nz += sample(&out, f, 0) != 0 || sample(&out, f, 1) != 0;
        tap_ok(nz == 0, "lost packet, encrypted packet and the pause are silence");
    }
    tap_ok(sample(&out, 2400, 1) == ref_ulaw(9) && sample(&out, 2399, 1) == 0,
           "later stream starts exactly at its rounded 20 ms boundary");
    {
        /* Mixed: one channel, the sum of both, clipped. */
        struct sink mixed = { 0 };
        size_t mbad = 0;
        tap_ok(stor_export_wav_mixed(path, crt, key, sink_fn, &mixed, &why) == SR_OK &&
                   mixed.len == 44 + FRAMES * 2 && mixed.p[22] == 1,
               "mixed export: mono, %d frames", FRAMES);
        for (size_t f = 0; mixed.len == 44 + FRAMES * 2 && f < FRAMES; f++) {
            int v = want[f][0] + want[f][1];
            v = v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v;
            mbad += (int16_t)(uint16_t)(mixed.p[44 + 2 * f] | mixed.p[45 + 2 * f] << 8) != v;
        }
        tap_ok(mixed.len == 44 + FRAMES * 2 && mbad == 0, "mixed: every sample the clipped sum (%zu differ)",
               mbad);
        free(mixed.p);
    }
    {
        /* Waveform: 7 buckets (2880 / 7 is not whole), per stream the
         * largest |sample| of its own decode; the Opus stream (never keyed)
         * has nothing and is left out. */
        static const struct { unsigned idx, ch; size_t lo, hi; } ws[3] = {
            { 0, 0, 0, 1600 }, { 1, 1, 0, 1600 }, { 3, 1, 2400, FRAMES }
        };
        struct stor_waveform *wf = NULL;
        size_t wbad = 0;
        err = stor_waveform(path, crt, key, 7, &wf, &why);
        tap_ok(err == SR_OK && wf->rate == 8000 && wf->frames == FRAMES && wf->n_streams == 3,
               "waveform: 8 kHz, %d frames, the 3 streams with audio", FRAMES);
        for (unsigned i = 0; wf && wf->n_streams == 3 && i < 3; i++) {
            wbad += wf->streams[i].index != ws[i].idx;
            for (unsigned b = 0; b < 7; b++) {
                int m = 0;
                for (size_t f = b * FRAMES / 7; f < (b + 1) * FRAMES / 7; f++)
                    if (f >= ws[i].lo && f < ws[i].hi && abs(want[f][ws[i].ch]) > m)
                        m = abs(want[f][ws[i].ch]);
                wbad += fabsf(wf->streams[i].peaks[b] - (float)(m > 32767 ? 32767 : m) / 32767.0f) > 1e-6f;
            }
        }
        tap_ok(wbad == 0, "waveform: every bucket's peak as decoded (%zu wrong)", wbad);
        stor_waveform_free(wf);
    }

    {
        struct sink o2 = { 0 };
        err = stor_export_wav(path, crt, "/nonexistent", sink_fn, &o2, &why);
        tap_ok(err != SR_OK && o2.len == 0 && why, "no key: error before any output (%s)", why);
        free(o2.p);
    }
    long_call(dir, crt, key);
    mixed_codecs(dir, crt, key);
done:
    free(out.p);
    testcert_rmdir(dir);
    return tap_done();
}
