/** @file test_opus.c  Ogg Opus export (RFC 7845) checked by real peers: opusinfo and ffmpeg.
 *
 * ffmpeg encodes a tone to Ogg Opus; its packets become RTP payloads of an
 * archive stream with codec "opus"; stor_export_opus must give a file that
 * opusinfo accepts and that ffmpeg decodes to the same PCM as the original
 * (both declare libopus's pre-skip of 312 samples).
 */
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

int main(void)
{
    char dir[4096], crt[4096], key[4096], src[4096], cmd[16384], out[4096], pcm1[4096],
        pcm2[4096], path[4096], id[STOR_ID_HEX];
    const char *recips[] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 0, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_stream_info si = { 0x0badcafe, 111, "opus", 48000, STOR_DIR_SEND, "a" };
    struct stor_call_info call = { .call_id = "opus@x", .start_wall_us = 1700000000000000ull };
    struct stor_writer *w;
    ogg_sync_state oy;
    ogg_stream_state os;
    ogg_page og;
    ogg_packet op;
    unsigned char *f, *a, *b;
    size_t flen, alen, blen, n = 0, skip;
    unsigned idx;
    bool os_init = false;
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
               stor_writer_add_stream(w, &si, &idx) == SR_OK,
           "archive with an opus stream");
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
            struct stor_pkt p = { (uint16_t)n, n, n * 960, call.start_wall_us + n * 20000, 0,
                                  op.packet, (size_t)op.bytes };
            stor_writer_packet(w, idx, &p);
            n++;
        }
    }
    if (os_init)
        ogg_stream_clear(&os);
    ogg_sync_clear(&oy);
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
    free(a);
    free(b);
    free(f);
    testcert_rmdir(dir);
    return tap_done();
}
