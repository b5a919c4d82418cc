/** @file mkarchive.c  Test helper: write one archive with two PCMU streams
 *  through storage's API and index it (plus a second index row pointing at
 *  the same file, for pagination).
 *
 *   mkarchive DIR INDEX.db RECIPIENT.crt PACKETS [chained] [opus=SRC.opus] [meta=DOC.xml]
 *
 * chained: as the recorder writes a call whose SRTCP report came before
 * its audio: a stream with one RTCP packet first, so the audio streams
 * start a second chain link after a tiny first one.
 * opus=SRC.opus: one Opus stream instead (48 kHz, send), its RTP payloads
 * the audio packets of SRC (an Ogg Opus file, from ffmpeg), at most PACKETS.
 * meta=DOC.xml: as the recorder writes a SIPREC call: DOC as a metadata
 * record, then a parties record naming sip:carol@example.net in alice's
 * place (her late metadata).
 *
 * Prints the first id, then the second, one per line. */
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include <ogg/ogg.h>

#include "slice.h"
#include "stor.h"

static int fail(const char *what, enum sr_err err)
{
    fprintf(stderr, "mkarchive: %s: %s\n", what, sr_strerror(err));
    return 1;
}

int main(int argc, char **argv)
{
    const char *recips[1];
    struct stor_writer_cfg wc = { 0 };
    struct stor_call_info call = { 0 };
    struct stor_counts counts = { 0 };
    struct stor_writer *w = NULL;
    struct stor_index *ix = NULL;
    static struct stor_record rec;
    char id[STOR_ID_HEX], path[4096];
    uint8_t payload[160];
    unsigned idx[2], rtcp_idx;
    bool chained = false;
    const char *opus_src = NULL, *meta_src = NULL;
    FILE *opus_f = NULL;
    ogg_sync_state oy;
    ogg_stream_state os;
    bool os_live = false;
    unsigned n_audio = 2;
    uint64_t n, start = 1767323045000000ull; /* 2026-01-02T03:04:05Z */
    struct stat st;
    enum sr_err err;

    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "chained") == 0)
            chained = true;
        else if (strncmp(argv[i], "opus=", 5) == 0)
            opus_src = argv[i] + 5;
        else if (strncmp(argv[i], "meta=", 5) == 0)
            meta_src = argv[i] + 5;
        else
            argc = 0;
    }
    if (argc < 5 || !slice_to_u64(slice_cstr(argv[4]), 100000, &n)) {
        fprintf(stderr,
                "usage: mkarchive DIR INDEX.db RECIPIENT.crt PACKETS [chained] [opus=SRC.opus] "
                "[meta=DOC.xml]\n");
        return 2;
    }
    if (opus_src) {
        if (!(opus_f = fopen(opus_src, "rb")))
            return fail(opus_src, SR_EIO);
        ogg_sync_init(&oy);
        n_audio = 1;
    }
    recips[0] = argv[3];
    wc.dir = argv[1];
    wc.recipients = recips;
    wc.n_recipients = 1;
    snprintf(call.call_id, sizeof(call.call_id), "e2e-call-1@example.net");
    snprintf(call.local_aor, sizeof(call.local_aor), "sip:alice@example.net");
    snprintf(call.remote_aor, sizeof(call.remote_aor), "sip:bob@example.net");
    snprintf(call.local_tag, sizeof(call.local_tag), "lt1");
    snprintf(call.remote_tag, sizeof(call.remote_tag), "rt1");
    snprintf(call.source, sizeof(call.source), "sip:keyagent@example.net");
    call.start_wall_us = start;

    err = stor_writer_open(&w, &wc, &call, id);
    if (err)
        return fail("writer open", err);
    if (chained) {
        /* An RTCP receiver report (RFC 3550 6.4.2, no report blocks). */
        static const uint8_t rr[8] = { 0x80, 201, 0, 1, 0, 0, 0x20, 0x01 };
        struct stor_stream_info si = { .ssrc = 0x2001, .payload_type = 0, .clock_rate = 8000,
                                       .direction = STOR_DIR_RECV };
        struct stor_pkt p = { .arrival_wall_us = start, .payload = rr, .payload_len = 8 };
        snprintf(si.codec, sizeof(si.codec), "rtcp");
        snprintf(si.label, sizeof(si.label), "s0/rtcp");
        if ((err = stor_writer_add_stream(w, &si, &rtcp_idx)) ||
            (err = stor_writer_packet(w, rtcp_idx, &p))) {
            stor_writer_abandon(w);
            return fail("rtcp stream", err);
        }
        counts.packets++;
    }
    for (unsigned s = 0; s < n_audio; s++) {
        struct stor_stream_info si = { 0 };
        si.ssrc = 0x1000 + s;
        si.payload_type = opus_src ? 111 : 0;
        snprintf(si.codec, sizeof(si.codec), opus_src ? "opus" : "PCMU");
        si.clock_rate = opus_src ? 48000 : 8000;
        si.direction = s == 0 ? STOR_DIR_SEND : STOR_DIR_RECV;
        snprintf(si.label, sizeof(si.label), "s%u", s);
        err = stor_writer_add_stream(w, &si, &idx[s]);
        if (err) {
            stor_writer_abandon(w);
            return fail("add stream", err);
        }
    }
    for (uint64_t i = 0; i < n && opus_f; ) {
        /* The source's audio packets (not OpusHead, OpusTags), one per RTP packet. */
        ogg_page og;
        ogg_packet op;
        char *buf = ogg_sync_buffer(&oy, 4096);
        size_t got = fread(buf, 1, 4096, opus_f);
        if (!got)
            break;
        ogg_sync_wrote(&oy, (long)got);
        while (i < n && ogg_sync_pageout(&oy, &og) == 1) {
            if (!os_live && ogg_stream_init(&os, ogg_page_serialno(&og)) == 0)
                os_live = true;
            ogg_stream_pagein(&os, &og);
            while (i < n && ogg_stream_packetout(&os, &op) == 1) {
                struct stor_pkt p = { .seq = (uint16_t)(1000 + i), .ext_seq = 1000 + i,
                                      .ext_ts = 960 * i, .arrival_wall_us = start + 20000 * i,
                                      .payload = op.packet, .payload_len = (size_t)op.bytes };
                if (op.packetno < 2 || op.bytes == 0)
                    continue;
                if ((err = stor_writer_packet(w, idx[0], &p))) {
                    stor_writer_abandon(w);
                    return fail("packet", err);
                }
                counts.packets++;
                i++;
            }
        }
    }
    if (opus_f) {
        if (os_live)
            ogg_stream_clear(&os);
        ogg_sync_clear(&oy);
        fclose(opus_f);
        n = 0; /* the PCMU loop below writes nothing */
    }
    for (uint64_t i = 0; i < n; i++) {
        for (unsigned s = 0; s < 2; s++) {
            struct stor_pkt p = { 0 };
            memset(payload, s == 0 ? 0x80 : 0x00, sizeof(payload)); /* loud-ish, both sides */
            p.seq = (uint16_t)(1000 + i);
            p.ext_seq = 1000 + i;
            p.ext_ts = 160 * i;
            p.arrival_wall_us = start + 20000 * i;
            p.payload = payload;
            p.payload_len = sizeof(payload);
            err = stor_writer_packet(w, idx[s], &p);
            if (err) {
                stor_writer_abandon(w);
                return fail("packet", err);
            }
        }
    }
    counts.packets += 2 * n;
    if (meta_src) {
        static uint8_t doc[65535];
        uint8_t pl[STOR_PARTIES_MAX];
        struct stor_stream_info ms = { .clock_rate = 1000000 }, ps = ms;
        FILE *f = fopen(meta_src, "rb");
        size_t len = f ? fread(doc, 1, sizeof(doc), f) : 0;
        unsigned mi, pi;
        if (f)
            fclose(f);
        snprintf(ms.codec, sizeof(ms.codec), STOR_METADATA_CODEC);
        snprintf(ms.label, sizeof(ms.label), STOR_METADATA_CODEC);
        snprintf(ps.codec, sizeof(ps.codec), STOR_PARTIES_CODEC);
        snprintf(ps.label, sizeof(ps.label), STOR_PARTIES_CODEC);
        struct stor_pkt mp = { .arrival_wall_us = start + 1000, .payload = doc, .payload_len = len };
        struct stor_pkt pp = { .arrival_wall_us = start + 2000, .payload = pl,
                               .payload_len = stor_parties_encode(pl, sizeof(pl),
                                                                  "sip:carol@example.net",
                                                                  "sip:bob@example.net") };
        if (!len || (err = stor_writer_add_stream(w, &ms, &mi)) ||
            (err = stor_writer_packet(w, mi, &mp)) || (err = stor_writer_add_stream(w, &ps, &pi)) ||
            (err = stor_writer_packet(w, pi, &pp))) {
            stor_writer_abandon(w);
            return fail("metadata records", len ? err : SR_EIO);
        }
        counts.packets += 2;
    }
    err = stor_writer_close(w, &counts, path, sizeof(path));
    if (err)
        return fail("writer close", err);
    if (stat(path, &st) != 0)
        return fail("stat archive", SR_EIO);

    err = stor_index_open(&ix, argv[2]);
    if (err)
        return fail("index open", err);
    memcpy(rec.id, id, sizeof(rec.id));
    rec.call = call;
    rec.state = STOR_STATE_COMPLETE;
    rec.end_wall_us = start + 20000 * (counts.packets / n_audio);
    rec.bytes = (uint64_t)st.st_size;
    rec.packets = counts.packets;
    rec.n_streams = (chained ? 1 : 0) + n_audio;
    snprintf(rec.path, sizeof(rec.path), "%s", path);
    err = stor_index_put(ix, &rec);
    if (!err) {
        /* a later call with a fixed id, same file: the listing then pages */
        snprintf(rec.id, sizeof(rec.id), "ffffffffffffffffffffffffffffffff");
        rec.call.start_wall_us = start + 60000000;
        snprintf(rec.call.call_id, sizeof(rec.call.call_id), "e2e-call-2@example.net");
        snprintf(rec.call.remote_aor, sizeof(rec.call.remote_aor), "sip:Agent2@cc.example");
        err = stor_index_put(ix, &rec);
    }
    stor_index_close(ix);
    if (err)
        return fail("index put", err);
    printf("%s\nffffffffffffffffffffffffffffffff\n", id);
    return 0;
}
