/** @file test_rtp_parse.c  RTP/RTCP header parsing, every input ending at a
 *  guard page. */
#include <string.h>

#include "guard.h"
#include "rec.h"
#include "tap.h"

#define W(s) ((s) ? (s) : "(none)")

/* V=2 P=1 X=1 CC=2, M=1 PT=0, seq 0x1234, ts 0xdecafbad, SSRC 0xcafebabe,
 * 2 CSRCs, extension 0xBEDE with 1 word, 4 payload bytes, 3 padding bytes. */
static const uint8_t full[] = {
    0xb2, 0x80, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, /* fixed */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,                         /* CSRC */
    0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00,                         /* ext */
    0x01, 0x02, 0x03, 0x04,                                                 /* payload */
    0x00, 0x00, 0x03,                                                       /* padding */
};

static enum sr_err parse(const void *p, size_t n, bool enc, struct rec_rtp *v, const char **why)
{
    return rec_rtp_parse((const uint8_t *)guard_copy(p, n), n, enc, v, why);
}

static void valid(void)
{
    struct rec_rtp v;
    const char *why = NULL;

    tap_ok(parse(full, sizeof(full), false, &v, &why) == SR_OK, "full packet parses");
    tap_ok(v.marker && v.pt == 0 && v.seq == 0x1234 && v.ts == 0xdecafbad && v.ssrc == 0xcafebabe,
           "fixed header fields");
    tap_ok(v.cc == 2 && v.csrc && v.csrc[3] == 1 && v.csrc[7] == 2, "CSRC list");
    tap_ok(v.has_ext && v.ext_profile == 0xbede && v.ext.len == 4 && (uint8_t)v.ext.p[1] == 0xaa,
           "extension");
    tap_ok(v.hdr_len == 28, "header length 28");
    tap_ok(v.pad_len == 3 && v.payload.len == 4 && (uint8_t)v.payload.p[3] == 4,
           "payload excludes padding");

    tap_ok(parse(full, sizeof(full), true, &v, &why) == SR_OK && v.pad_len == 0 &&
               v.payload.len == 7,
           "encrypted: padding not interpreted, payload runs to the end");

    static const uint8_t min[12] = { 0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9 };
    tap_ok(parse(min, sizeof(min), false, &v, &why) == SR_OK && v.payload.len == 0 &&
               v.pt == 96 && !v.marker && v.ssrc == 9,
           "12-byte packet with empty payload");

    uint8_t allpad[16];
    memcpy(allpad, min, 12);
    allpad[0] |= 0x20;
    allpad[12] = allpad[13] = allpad[14] = 0;
    allpad[15] = 4;
    tap_ok(parse(allpad, 16, false, &v, &why) == SR_OK && v.payload.len == 0 && v.pad_len == 4,
           "padding equal to the whole payload");
}

static void truncations(void)
{
    struct rec_rtp v;
    const char *why;
    size_t wrong = 0, nowhy = 0;

    /* Every prefix that cuts into the header fails; longer prefixes parse
     * as encrypted packets with a shorter payload. */
    for (size_t i = 0; i < sizeof(full); i++) {
        why = NULL;
        enum sr_err e = parse(full, i, true, &v, &why);
        if (i < 28 && (e != SR_EPARSE || !why))
            wrong++;
        if (i >= 28 && (e != SR_OK || v.payload.len != i - 28))
            wrong++;
        if (e != SR_OK && !why)
            nowhy++;
    }
    tap_ok(wrong == 0 && nowhy == 0, "all %zu prefixes: header cuts fail with a reason", sizeof(full));

    wrong = 0;
    for (size_t i = 0; i < sizeof(full); i++) {
        enum sr_err e = parse(full, i, false, &v, NULL);
        /* plain: the last byte of a prefix is read as the padding count */
        if (e == SR_OK && (v.payload.p + v.payload.len + v.pad_len !=
                           (const char *)guard_copy(full, i) + i))
            wrong++;
    }
    tap_ok(wrong == 0, "plain prefixes that parse account for every byte");
    tap_ok(rec_rtp_parse(NULL, 0, false, &v, &why) == SR_EINVAL, "NULL packet: SR_EINVAL");
}

static void hostile(void)
{
    struct rec_rtp v;
    const char *why = NULL;
    uint8_t p[sizeof(full)];

    for (unsigned ver = 0; ver < 4; ver++) {
        if (ver == 2)
            continue;
        memcpy(p, full, sizeof(p));
        p[0] = (uint8_t)((p[0] & 0x3f) | ver << 6);
        tap_ok(parse(p, sizeof(p), false, &v, &why) == SR_EPARSE && why &&
                   strstr(why, "version"),
               "version %u refused (%s)", ver, why ? why : "");
    }

    memcpy(p, full, sizeof(p));
    p[0] = 0xaf; /* CC = 15: 60 bytes of CSRC in a 35-byte packet */
    tap_ok(parse(p, sizeof(p), false, &v, &why) == SR_EPARSE && strstr(why, "CSRC"),
           "CSRC count past the end: %s", W(why));

    memcpy(p, full, sizeof(p));
    p[22] = 0xff, p[23] = 0xff; /* extension length 65535 words */
    tap_ok(parse(p, sizeof(p), true, &v, &why) == SR_EPARSE && strstr(why, "extension data"),
           "extension length past the end: %s", W(why));
    tap_ok(parse(p, 23, true, &v, &why) == SR_EPARSE && strstr(why, "extension header"),
           "extension header cut: %s", W(why));

    memcpy(p, full, sizeof(p));
    p[sizeof(p) - 1] = 0;
    tap_ok(parse(p, sizeof(p), false, &v, &why) == SR_EPARSE && strstr(why, "zero padding"),
           "zero padding: %s", W(why));
    p[sizeof(p) - 1] = 8; /* payload + padding is 7 bytes */
    tap_ok(parse(p, sizeof(p), false, &v, &why) == SR_EPARSE && strstr(why, "longer"),
           "padding longer than payload: %s", W(why));
    p[sizeof(p) - 1] = 255;
    tap_ok(parse(p, sizeof(p), false, &v, &why) == SR_EPARSE, "padding 255 refused");
    tap_ok(parse(p, sizeof(p), true, &v, &why) == SR_OK, "but fine as SRTP (padding is ciphertext)");
    tap_ok(parse(p, 28, false, &v, &why) == SR_EPARSE && strstr(why, "empty payload"),
           "padding bit on an empty payload: %s", W(why));
}

static void rtcp_demux(void)
{
    uint8_t p[2] = { 0x80, 0 };
    size_t wrong = 0;

    for (unsigned b = 0; b < 256; b++) {
        p[1] = (uint8_t)b;
        bool want = b >= 192 && b <= 223;
        if (rec_pkt_is_rtcp((const uint8_t *)guard_copy(p, 2), 2) != want)
            wrong++;
    }
    tap_ok(wrong == 0, "RFC 5761 demux: second byte 192..223 is RTCP, all others RTP");
    for (unsigned b = 200; b <= 204; b++) {
        p[1] = (uint8_t)b;
        tap_ok(rec_pkt_is_rtcp(p, 2), "type %u (SR..APP) is RTCP", b);
    }
    tap_ok(!rec_pkt_is_rtcp(p, 1) && !rec_pkt_is_rtcp(NULL, 0), "one byte is not enough");

    struct rec_rtp v;
    const char *why = NULL;
    uint8_t sr[12] = { 0x80, 0xc8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8 };
    tap_ok(parse(sr, sizeof(sr), true, &v, &why) == SR_EPARSE && strstr(why, "RTCP"),
           "rec_rtp_parse refuses an RTCP packet: %s", W(why));
}

static void rtcp(void)
{
    /* SR (0 reports, 28 bytes) + SDES (1 chunk CNAME "ab", 16 bytes) */
    static const uint8_t compound[] = {
        0x80, 0xc8, 0x00, 0x06, 0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1, 0, 0, 0, 2,
        0,    0,    0,    3,    0,    0,    0,    4,    0, 0, 0, 5,
        0x81, 0xca, 0x00, 0x03, 0xca, 0xfe, 0xba, 0xbe, 1, 2, 'a', 'b', 0, 0, 0, 0,
    };
    struct rec_rtcp v;
    const char *why = NULL;
    uint8_t p[64];

#define RTCP(buf, n, enc) rec_rtcp_parse((const uint8_t *)guard_copy(buf, n), n, enc, &v, &why)
    tap_ok(RTCP(compound, sizeof(compound), false) == SR_OK && v.n_parts == 2 && v.pt == 200 &&
               v.ssrc == 0xcafebabe && v.count == 0,
           "SR + SDES compound");
    size_t wrong = 0;
    for (size_t i = 0; i < sizeof(compound); i++) {
        enum sr_err e = RTCP(compound, i, false);
        if (i == 28 ? e != SR_OK : e != SR_EPARSE)
            wrong++;
    }
    tap_ok(wrong == 0, "every prefix but the SR alone fails");
    wrong = 0;
    for (size_t i = 0; i < sizeof(compound); i++)
        if ((RTCP(compound, i, true) == SR_OK) != (i >= 8))
            wrong++;
    tap_ok(wrong == 0, "encrypted: 8 bytes are enough, fewer are not");

    memcpy(p, compound, sizeof(compound));
    p[3] = 0x40;
    tap_ok(RTCP(p, sizeof(compound), false) == SR_EPARSE && strstr(why, "length"),
           "length past the end: %s", W(why));
    memcpy(p, compound, sizeof(compound));
    p[0] |= 0x20;
    tap_ok(RTCP(p, sizeof(compound), false) == SR_EPARSE && strstr(why, "not the last"),
           "padding on the first packet of a compound: %s", W(why));
    memcpy(p, compound, sizeof(compound));
    p[28] |= 0x20;
    p[sizeof(compound) - 1] = 4;
    tap_ok(RTCP(p, sizeof(compound), false) == SR_OK, "padding on the last packet");
    p[sizeof(compound) - 1] = 0;
    tap_ok(RTCP(p, sizeof(compound), false) == SR_EPARSE, "zero padding refused");
    p[sizeof(compound) - 1] = 13;
    tap_ok(RTCP(p, sizeof(compound), false) == SR_EPARSE, "padding beyond the packet refused");
    memcpy(p, compound, sizeof(compound));
    p[28] = 0x41;
    tap_ok(RTCP(p, sizeof(compound), false) == SR_EPARSE && strstr(why, "version"),
           "bad version inside the compound: %s", W(why));
    memcpy(p, compound, sizeof(compound));
    p[1] = 0x60;
    tap_ok(RTCP(p, sizeof(compound), true) == SR_EPARSE, "RTP payload type is not RTCP");

    uint8_t many[4 * (REC_RTCP_MAX_PARTS + 1)];
    for (size_t i = 0; i < sizeof(many); i += 4) {
        many[i] = 0x80, many[i + 1] = 201, many[i + 2] = 0, many[i + 3] = 0;
    }
    /* the first part needs an SSRC: make it an 8-byte RR */
    many[3] = 1;
    tap_ok(RTCP(many, sizeof(many), false) == SR_OK && v.n_parts == REC_RTCP_MAX_PARTS,
           "%d parts accepted", REC_RTCP_MAX_PARTS);
    many[3] = 0;
    tap_ok(RTCP(many, sizeof(many), false) == SR_ELIMIT, "%d parts: SR_ELIMIT (%s)",
           REC_RTCP_MAX_PARTS + 1, W(why));
#undef RTCP
}

int main(void)
{
    valid();
    truncations();
    hostile();
    rtcp_demux();
    rtcp();
    return tap_done();
}
