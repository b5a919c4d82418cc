/** @file test_opus.c  Ogg Opus export (RFC 7845) checked by real peers: opusinfo and ffmpeg.
 *
 * ffmpeg encodes a tone to Ogg Opus; its packets become RTP payloads of an
 * archive stream with codec "opus"; stor_export_opus must give a file that
 * opusinfo accepts and that ffmpeg decodes to the same PCM as the original
 * (both declare libopus's pre-skip of 312 samples).  The WAV export of the
 * same stream (libopus) must equal ffmpeg's decoding of export.opus within
 * a small tolerance; a second stream, the same packets with 100 ms lost,
 * must stay aligned with the first in the stereo WAV (PLC, then the same
 * tone in phase); the waveform must show the tone's level in every bucket.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ogg/ogg.h>

#include "stor.h"
#include "tap.h"
#include "testcert.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static bool to_file(const void *data, size_t len, void *arg)
{
    return fwrite(data, 1, len, arg) == len;
}

static int16_t s16(const unsigned char *p)
{
    return (int16_t)(uint16_t)(p[0] | p[1] << 8);
}

static unsigned le(const unsigned char *p, unsigned n)
{
    unsigned v = 0;
    while (n--)
        v = v << 8 | p[n];
    return v;
}

/* Export a WAV of path to file (stream < 0: stereo) and read it back:
 * rate and channels from its header, samples after the 44 bytes. */
static unsigned char *wav_of(const char *path, const char *crt, const char *key, int stream,
                             const char *file, unsigned *rate, unsigned *chans, size_t *frames)
{
    FILE *fo = fopen(file, "we");
    unsigned char *w;
    size_t len;
    enum sr_err err;

    if (!fo)
        return NULL;
    err = stream < 0 ? stor_export_wav(path, crt, key, to_file, fo, NULL)
                     : stor_export_wav_stream(path, crt, key, (unsigned)stream, to_file, fo, NULL);
    fclose(fo);
    if (err || !(w = testcert_slurp(file, &len)))
        return NULL;
    if (len < 44 || memcmp(w, "RIFF", 4) || le(w + 40, 4) != len - 44) {
        free(w);
        return NULL;
    }
    *chans = le(w + 22, 2);
    *rate = le(w + 24, 4);
    *frames = (len - 44) / 2 / *chans;
    return w;
}

/* Normalised correlation of channels ca of a and cb of b over frames [from, to). */
static double corr(const unsigned char *a, unsigned na, unsigned ca, const unsigned char *b,
                   unsigned nb, unsigned cb, size_t from, size_t to)
{
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = from; i < to; i++) {
        double x = s16(a + 2 * (i * na + ca)), y = s16(b + 2 * (i * nb + cb));
        xy += x * y;
        xx += x * x;
        yy += y * y;
    }
    return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
}

/* The audio packets of an Ogg Opus file in memory as RTP payloads, 20 ms
 * apart, of stream ia, and of stream ib except packets [lose, lose_end). */
static size_t archive_ogg(struct stor_writer *w, const unsigned char *f, size_t flen, uint64_t t0,
                          unsigned ia, unsigned ib, size_t lose, size_t lose_end)
{
    ogg_sync_state oy;
    ogg_stream_state os;
    ogg_page og;
    ogg_packet op;
    bool os_init = false;
    size_t n = 0;

    ogg_sync_init(&oy);
    memcpy(ogg_sync_buffer(&oy, (long)flen), f, flen);
    ogg_sync_wrote(&oy, (long)flen);
    while (ogg_sync_pageout(&oy, &og) == 1) {
        if (!os_init) {
            ogg_stream_init(&os, ogg_page_serialno(&og));
            os_init = true;
        }
        ogg_stream_pagein(&os, &og);
        while (ogg_stream_packetout(&os, &op) == 1) {
            if (op.packetno < 2 || op.bytes == 0)
                continue; /* OpusHead, OpusTags */
            struct stor_pkt p = { (uint16_t)n, n, n * 960, t0 + n * 20000, 0, op.packet,
                                  (size_t)op.bytes };
            stor_writer_packet(w, ia, &p);
            if (n < lose || n >= lose_end)
                stor_writer_packet(w, ib, &p);
            n++;
        }
    }
    if (os_init)
        ogg_stream_clear(&os);
    ogg_sync_clear(&oy);
    return n;
}

/* In-band FEC: a voice-mode encoding with FEC on, one packet lost on the
 * second stream; the lost 20 ms must come back from the next packet's LBRR
 * data, close to the stream that lost nothing (PLC alone guesses). */
static void fec_check(const char *dir, const char *crt, const char *key)
{
    char src[4096], cmd[8192], path[4096], wavf[4096], id[STOR_ID_HEX];
    const char *recips[] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 0, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_stream_info sa = { 0x1001, 111, "opus", 48000, STOR_DIR_SEND, "a", false };
    struct stor_stream_info sb = { 0x1002, 111, "opus", 48000, STOR_DIR_RECV, "b", false };
    struct stor_call_info call = { .call_id = "fec@x", .start_wall_us = 1700000000000000ull };
    struct stor_writer *w;
    unsigned char *f, *st;
    size_t flen, frames = 0;
    unsigned ia, ib, rate = 0, chans = 0;
    double c;

    snprintf(src, sizeof(src), "%s/fec.opus", dir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -loglevel error -f lavfi -i "
             "'aevalsrc=0.5*sin(2*PI*(300+200*sin(2*PI*2*t))*t)+0.05*random(0):s=16000:d=2' "
             "-ac 1 -c:a libopus -application voip -b:a 24k -fec 1 -packet_loss 30 "
             "-frame_duration 20 -y %s", src);
    if (!tap_ok(system(cmd) == 0 && (f = testcert_slurp(src, &flen)) != NULL,
                "FEC: ffmpeg encodes voice with in-band FEC"))
        return;
    if (!tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK &&
                    stor_writer_add_stream(w, &sa, &ia) == SR_OK &&
                    stor_writer_add_stream(w, &sb, &ib) == SR_OK,
                "FEC: archive")) {
        free(f);
        return;
    }
    archive_ogg(w, f, flen, call.start_wall_us, ia, ib, 50, 51);
    free(f);
    stor_writer_close(w, NULL, path, sizeof(path));
    snprintf(wavf, sizeof(wavf), "%s/fec.wav", dir);
    st = wav_of(path, crt, key, -1, wavf, &rate, &chans, &frames);
    c = st && frames >= 52 * 960 ? corr(st + 44, 2, 0, st + 44, 2, 1, 50 * 960 - 312, 51 * 960 - 312)
                                 : 0.0;
    tap_ok(c > 0.9, "FEC: the lost packet recovered from the next one's FEC (corr %.3f)", c);
    free(st);
}

int main(void)
{
    char dir[4096], crt[4096], key[4096], src[4096], cmd[16384], out[4096], pcm1[4096],
        pcm2[4096], path[4096], wavf[4096], id[STOR_ID_HEX];
    const char *recips[] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 0, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_stream_info si = { 0x0badcafe, 111, "opus", 48000, STOR_DIR_SEND, "a", false };
    struct stor_stream_info si2 = { 0x0badcaff, 111, "opus", 48000, STOR_DIR_RECV, "b", false };
    struct stor_waveform *wf = NULL;
    unsigned char *wv = NULL, *st = NULL;
    unsigned rate = 0, chans = 0, srate = 0, schans = 0, idx2 = 0;
    size_t frames = 0, sframes = 0, worst = 0;
    struct stor_call_info call = { .call_id = "opus@x", .start_wall_us = 1700000000000000ull };
    struct stor_writer *w;
    unsigned char *f, *a, *b;
    size_t flen, alen, blen, n = 0, skip;
    unsigned idx = 0;
    FILE *fo;

    if (system("command -v ffmpeg >/dev/null && command -v opusinfo >/dev/null") != 0) {
        tap_skip("ffmpeg or opusinfo missing");
        return tap_done();
    }
    if (!testcert_tmpdir(dir) || !testcert_make(dir, "aud", TESTCERT_EC, crt, key))
        return 1;
    snprintf(src, sizeof(src), "%s/src.opus", dir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -loglevel error -f lavfi -i sine=frequency=440:duration=2 -ac 1 -c:a libopus "
             "-b:a 32k -frame_duration 20 %s", src);
    tap_ok(system(cmd) == 0, "ffmpeg encodes a 2 s tone to Ogg Opus");
    f = testcert_slurp(src, &flen);
    tap_ok(f != NULL, "source read");
    tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK &&
               stor_writer_add_stream(w, &si, &idx) == SR_OK &&
               stor_writer_add_stream(w, &si2, &idx2) == SR_OK,
           "archive with two opus streams");
    n = archive_ogg(w, f, flen, call.start_wall_us, idx, idx2, 40, 45); /* 100 ms lost on the second */
    tap_ok(n >= 99, "%zu Opus packets recorded", n);
    tap_ok(stor_writer_close(w, NULL, path, sizeof(path)) == SR_OK, "archive sealed");
    snprintf(out, sizeof(out), "%s/export.opus", dir);
    fo = fopen(out, "we");
    tap_ok(stor_export_opus(path, crt, key, idx, to_file, fo, NULL) == SR_OK, "Opus export");
    fclose(fo);
    tap_ok(stor_export_opus(path, crt, key, 5, to_file, stdout, NULL) == SR_ENOTFOUND,
           "no such stream: SR_ENOTFOUND");
    snprintf(cmd, sizeof(cmd), "opusinfo %s >%s/opusinfo.txt 2>&1 || { sed 's/^/# /' %s/opusinfo.txt; false; }", out, dir, dir);
    tap_ok(system(cmd) == 0, "opusinfo accepts the export");
    snprintf(pcm1, sizeof(pcm1), "%s/a.pcm", dir);
    snprintf(pcm2, sizeof(pcm2), "%s/b.pcm", dir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -loglevel error -i %s -f s16le -ac 1 -ar 48000 %s && "
             "ffmpeg -loglevel error -i %s -f s16le -ac 1 -ar 48000 %s", src, pcm1, out, pcm2);
    tap_ok(system(cmd) == 0, "ffmpeg decodes both");
    a = testcert_slurp(pcm1, &alen);
    b = testcert_slurp(pcm2, &blen);
    skip = 0; /* both skip libopus's 312 samples */
    tap_ok(a && b && blen >= alen && memcmp(a, b + skip, alen - skip) == 0,
           "the export decodes to the same samples (%zu vs %zu bytes)", alen, blen);

    /* WAV of the one stream: libopus at 48 kHz, pre-skip dropped, so it is
     * export.opus as ffmpeg decodes it through libopus, sample for sample.
     * ffmpeg's own decoder is not bit-exact with libopus (it differs by a
     * few hundred LSB in its first 0.35 s here, then by a few): it must
     * still correlate. */
    snprintf(wavf, sizeof(wavf), "%s/one.wav", dir);
    wv = wav_of(path, crt, key, (int)idx, wavf, &rate, &chans, &frames);
    tap_ok(wv && rate == 48000 && chans == 1, "WAV of the Opus stream: mono, 48 kHz (%u Hz, %u ch)",
           rate, chans);
    tap_ok(wv && b && frames == blen / 2, "as long as ffmpeg's decoding of export.opus (%zu vs %zu)",
           frames, blen / 2);
    tap_ok(wv && b && corr(wv + 44, 1, 0, b, 1, 0, 0, frames) > 0.995,
           "ffmpeg's own decoder: the same audio (corr %.5f)",
           wv && b ? corr(wv + 44, 1, 0, b, 1, 0, 0, frames) : 0.0);
    snprintf(cmd, sizeof(cmd), "ffmpeg -loglevel error -c:a libopus -i %s -f s16le -ac 1 -ar 48000 -y %s",
             out, pcm1);
    free(b);
    b = system(cmd) == 0 ? testcert_slurp(pcm1, &blen) : NULL;
    for (size_t i = 0; wv && b && i < frames && i < blen / 2; i++) {
        int d = abs(s16(wv + 44 + 2 * i) - s16(b + 2 * i));
        if ((size_t)d > worst)
            worst = (size_t)d;
    }
    tap_ok(wv && b && frames == blen / 2 && worst == 0,
           "ffmpeg through libopus: the same samples (%zu frames, worst difference %zu)", blen / 2,
           worst);
    /* Stereo: left the whole stream, right with packets 40..44 lost. */
    snprintf(wavf, sizeof(wavf), "%s/two.wav", dir);
    st = wav_of(path, crt, key, -1, wavf, &srate, &schans, &sframes);
    tap_ok(st && srate == 48000 && schans == 2 && sframes == frames,
           "stereo WAV: 48 kHz, as long as the stream (%zu frames)", sframes);
    tap_ok(st && corr(st + 44, 2, 0, wv + 44, 1, 0, 0, sframes) > 0.9999,
           "left channel is the one-stream WAV");
    tap_ok(st && corr(st + 44, 2, 0, st + 44, 2, 1, 0, 38 * 960) > 0.999,
           "before the loss both channels agree");
    tap_ok(st && corr(st + 44, 2, 0, st + 44, 2, 1, 55 * 960, sframes) > 0.99,
           "after 100 ms lost the right channel is still aligned (corr %.4f)",
           st ? corr(st + 44, 2, 0, st + 44, 2, 1, 55 * 960, sframes) : 0.0);
    tap_ok(st && corr(st + 44, 2, 0, st + 44, 2, 1, 41 * 960, 44 * 960) > 0.3,
           "the loss is concealed, not silent (corr %.3f)",
           st ? corr(st + 44, 2, 0, st + 44, 2, 1, 41 * 960, 44 * 960) : 0.0);
    /* The waveform: lavfi's sine is 1/8 of full scale. */
    tap_ok(stor_waveform(path, crt, key, 50, &wf, NULL) == SR_OK && wf->n_streams == 2 &&
               wf->rate == 8000 && wf->points == 50,
           "waveform of both streams at 8 kHz");
    if (wf) {
        bool level = wf->frames * 6 >= frames - 6 && wf->frames * 6 <= frames + 6;
        for (unsigned i = 1; i < 49; i++)
            level &= wf->streams[0].peaks[i] > 0.10f && wf->streams[0].peaks[i] < 0.15f;
        tap_ok(level, "every bucket holds the tone's peak (0.125), %llu frames",
               (unsigned long long)wf->frames);
        tap_ok(wf->streams[0].index == idx && wf->streams[1].index == idx2, "streams numbered");
    }
    stor_waveform_free(wf);
    tap_ok(stor_waveform(path, crt, key, STOR_WAVE_POINTS_MAX + 1, &wf, NULL) == SR_EINVAL &&
               !wf, "points above the bound refused");
    fec_check(dir, crt, key);
    free(wv);
    free(st);
    free(a);
    free(b);
    free(f);
    if (!getenv("KEEP"))
        testcert_rmdir(dir);
    else
        tap_diag("kept %s", dir);
    return tap_done();
}
