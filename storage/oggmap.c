/** @file oggmap.c  The RTP-in-Ogg mapping: three header packets per logical stream and one
 *  Ogg packet per RTP packet.  Layouts: docs/archive-format.md, "Ogg mapping".
 *
 * Three headers because liboggz (oggz-validate) assumes three header
 * packets for a mapping it does not know, and checks the page layout
 * around them; the third is a small tags packet kept for later use.
 */
#include <string.h>

#include <isa-l/crc.h>

#include "stor_priv.h"

#define ID_MAGIC "SRECRTP\0"
#define INFO_MAGIC "SRECINF\0"
#define TAGS_MAGIC "SRECTAG\0"
#define VENDOR "srtprec"
#define VENDOR_PLAIN "srtprec plain-rtp" /* a plain RTP stream: never authenticated */

enum { MAP_VERSION = 1 };

void stor_ogg_id_encode(uint8_t out[STOR_OGG_ID_LEN], unsigned idx, bool cont)
{
    memcpy(out, ID_MAGIC, 8);
    out[8] = MAP_VERSION;
    out[9] = cont ? STOR_OGG_CONT : 0;
    stor_put16(out + 10, (uint16_t)idx);
}

enum sr_err stor_ogg_id_parse(const uint8_t *p, size_t len, unsigned *idx, bool *cont)
{
    if (len != STOR_OGG_ID_LEN || memcmp(p, ID_MAGIC, 8) != 0)
        return SR_EPARSE;
    if (p[8] != MAP_VERSION)
        return SR_EUNSUPP;
    if (p[9] & ~STOR_OGG_CONT)
        return SR_EPARSE;
    *cont = p[9] & STOR_OGG_CONT;
    *idx = stor_get16(p + 10);
    return SR_OK;
}

size_t stor_ogg_info_encode(uint8_t out[STOR_OGG_INFO_MAX], const struct stor_stream_info *si)
{
    size_t clen = strnlen(si->codec, sizeof(si->codec) - 1);
    size_t llen = strnlen(si->label, sizeof(si->label) - 1);
    uint8_t *p = out;

    memcpy(p, INFO_MAGIC, 8);
    stor_put32(p + 8, si->ssrc);
    p[12] = (uint8_t)si->payload_type;
    p[13] = (uint8_t)si->direction;
    stor_put32(p + 14, si->clock_rate);
    p += 18;
    *p++ = (uint8_t)clen;
    memcpy(p, si->codec, clen);
    p += clen;
    *p++ = (uint8_t)llen;
    memcpy(p, si->label, llen);
    p += llen;
    return (size_t)(p - out);
}

enum sr_err stor_ogg_info_parse(const uint8_t *p, size_t len, struct stor_stream_info *si)
{
    const uint8_t *end = p + len;
    size_t n;

    memset(si, 0, sizeof(*si));
    if (len < 19 || memcmp(p, INFO_MAGIC, 8) != 0)
        return SR_EPARSE;
    si->ssrc = stor_get32(p + 8);
    si->payload_type = p[12];
    if (p[12] > 127 || p[13] > STOR_DIR_RECV)
        return SR_EPARSE;
    si->direction = p[13] == STOR_DIR_SEND ? STOR_DIR_SEND : STOR_DIR_RECV;
    si->clock_rate = stor_get32(p + 14);
    p += 18;
    n = *p++;
    if (n >= sizeof(si->codec) || (size_t)(end - p) < n + 1 || memchr(p, 0, n))
        return SR_EPARSE;
    memcpy(si->codec, p, n);
    p += n;
    n = *p++;
    if (n >= sizeof(si->label) || (size_t)(end - p) != n || memchr(p, 0, n))
        return SR_EPARSE;
    memcpy(si->label, p, n);
    return SR_OK;
}

size_t stor_ogg_tags_encode(uint8_t out[STOR_OGG_TAGS_MAX], const struct stor_stream_info *si)
{
    const char *v = si && si->plain ? VENDOR_PLAIN : VENDOR;
    size_t n = strlen(v);

    memcpy(out, TAGS_MAGIC, 8);
    stor_put16(out + 8, (uint16_t)n);
    memcpy(out + 10, v, n);
    return 10 + n;
}

enum sr_err stor_ogg_tags_parse(const uint8_t *p, size_t len, struct stor_stream_info *si)
{
    /* The vendor string is informational: any writer's is accepted; ours
     * says whether the stream is plain RTP. */
    if (len < 10 || memcmp(p, TAGS_MAGIC, 8) != 0 || stor_get16(p + 8) != len - 10)
        return SR_EPARSE;
    si->plain = len - 10 == sizeof(VENDOR_PLAIN) - 1 &&
                memcmp(p + 10, VENDOR_PLAIN, sizeof(VENDOR_PLAIN) - 1) == 0;
    return SR_OK;
}

void stor_ogg_pkt_encode(uint8_t out[STOR_PKT_HDR_LEN], const struct stor_pkt *p)
{
    out[0] = (uint8_t)p->flags;
    stor_put16(out + 1, p->seq);
    stor_put64(out + 3, p->ext_seq);
    stor_put64(out + 11, p->ext_ts);
    stor_put64(out + 19, p->arrival_wall_us);
}

enum sr_err stor_ogg_pkt_parse(const uint8_t *buf, size_t len, struct stor_pkt *p)
{
    if (len < STOR_PKT_HDR_LEN || len - STOR_PKT_HDR_LEN > STOR_MAX_PAYLOAD)
        return SR_EPARSE;
    if (buf[0] & ~(STOR_PKT_MARKER | STOR_PKT_ENCRYPTED))
        return SR_EPARSE;
    p->flags = buf[0];
    p->seq = stor_get16(buf + 1);
    p->ext_seq = stor_get64(buf + 3);
    p->ext_ts = stor_get64(buf + 11);
    p->arrival_wall_us = stor_get64(buf + 19);
    p->payload = buf + STOR_PKT_HDR_LEN;
    p->payload_len = len - STOR_PKT_HDR_LEN;
    return SR_OK;
}

bool stor_stream_info_equal(const struct stor_stream_info *a, const struct stor_stream_info *b)
{
    return a->ssrc == b->ssrc && a->payload_type == b->payload_type &&
           a->clock_rate == b->clock_rate && a->direction == b->direction &&
           strcmp(a->codec, b->codec) == 0 && strcmp(a->label, b->label) == 0;
}

#if SRTPREC_ISAL_BY4
/* Exported by libisal on x86-64 but not declared in its headers: the
 * 128-bit PCLMULQDQ version.  The dispatcher picks the AVX-512 one
 * (crc32_ieee_by16_10) on CPUs that have it, and that made the whole
 * recorder slower, 0.2 µs per packet in bench_pipeline at 1,000 streams and
 * more in bench_capacity (512-bit instructions once per page move the core
 * between frequency licences; docs/benchmarks.md).  by4 runs at well over
 * 10 GB/s, far beyond what a page needs. */
uint32_t crc32_ieee_by4(uint32_t init_crc, const unsigned char *buf, uint64_t len);
#define CRC32_IEEE crc32_ieee_by4
#else
#define CRC32_IEEE crc32_ieee
#endif

uint32_t stor_ogg_crc(uint32_t crc, const uint8_t *p, size_t len)
{
    /* ISA-L's crc32_ieee is the same non-reflected CRC with the register
     * inverted on entry and exit; Ogg inverts neither. */
    return ~CRC32_IEEE(~crc, p, len);
}
