/** @file rtp.c  RTP and RTCP header parsing over (ptr, len).
 *
 * rtpengine's rtp_payload() style: each step names its failure before it
 * checks, so the single exit reports why.  The check that guards a read sits
 * next to the read.
 */
#include <string.h>

#include "rec.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool rec_pkt_is_rtcp(const uint8_t *pkt, size_t len)
{
    /* RFC 5761 section 4: RTP payload types 64..95 are off limits when RTP and
     * RTCP share a port, so 192..223 in the second byte (M=1, PT 64..95) can
     * only be RTCP. */
    return pkt && len >= 2 && pkt[1] >= 192 && pkt[1] <= 223;
}

enum sr_err rec_rtp_parse(const uint8_t *pkt, size_t len, bool encrypted, struct rec_rtp *out,
                          const char **why)
{
    const char *err;
    size_t off, need;

    if (!pkt || !out) {
        if (why)
            *why = "null argument";
        return SR_EINVAL;
    }
    memset(out, 0, sizeof(*out));

    err = "short packet (fixed header)";
    if (len < REC_RTP_HDR_MIN)
        goto error;
    err = "unsupported RTP version";
    if ((pkt[0] >> 6) != 2)
        goto error;
    err = "payload type in the RTCP range (RFC 5761)";
    if (rec_pkt_is_rtcp(pkt, len))
        goto error;

    out->marker = (pkt[1] & 0x80) != 0;
    out->pt = pkt[1] & 0x7f;
    out->seq = rd16(pkt + 2);
    out->ts = rd32(pkt + 4);
    out->ssrc = rd32(pkt + 8);
    out->cc = pkt[0] & 0x0f;
    off = REC_RTP_HDR_MIN;

    err = "short packet (CSRC list)";
    need = (size_t)out->cc * 4;
    if (len - off < need)
        goto error;
    out->csrc = out->cc ? pkt + off : NULL;
    off += need;

    if (pkt[0] & 0x10) {
        err = "short packet (extension header)";
        if (len - off < 4)
            goto error;
        out->has_ext = true;
        out->ext_profile = rd16(pkt + off);
        need = (size_t)rd16(pkt + off + 2) * 4;
        off += 4;
        err = "short packet (extension data)";
        if (len - off < need)
            goto error;
        out->ext = slice_of((const char *)pkt + off, need);
        off += need;
    }
    out->hdr_len = off;

    size_t plen = len - off;
    /* In SRTP the padding count is the last byte of the encrypted payload and
     * an auth tag follows it (RFC 3711 3.1): it cannot be read before
     * decryption. */
    if ((pkt[0] & 0x20) && !encrypted) {
        err = "padding bit set on an empty payload";
        if (plen == 0)
            goto error;
        uint8_t pad = pkt[len - 1];
        err = "zero padding length";
        if (pad == 0)
            goto error;
        err = "padding longer than payload";
        if (pad > plen)
            goto error;
        out->pad_len = pad;
        plen -= pad;
    }
    out->payload = slice_of((const char *)pkt + off, plen);
    return SR_OK;

error:
    if (why)
        *why = err;
    return SR_EPARSE;
}

enum sr_err rec_rtcp_parse(const uint8_t *pkt, size_t len, bool encrypted, struct rec_rtcp *out,
                           const char **why)
{
    const char *err;
    enum sr_err ret = SR_EPARSE;
    size_t off = 0;

    if (!pkt || !out) {
        if (why)
            *why = "null argument";
        return SR_EINVAL;
    }
    memset(out, 0, sizeof(*out));

    err = "short packet (RTCP header)";
    if (len < REC_RTCP_HDR_MIN)
        goto error;
    err = "unsupported RTCP version";
    if ((pkt[0] >> 6) != 2)
        goto error;
    err = "not an RTCP packet type (RFC 5761)";
    if (!rec_pkt_is_rtcp(pkt, len))
        goto error;
    out->pt = pkt[1];
    out->count = pkt[0] & 0x1f;
    out->ssrc = rd32(pkt + 4);
    if (encrypted) {
        /* Everything after the first 8 bytes is ciphertext and the SRTCP
         * trailer (E flag, index, MKI, tag; RFC 3711 3.4). */
        out->n_parts = 1;
        return SR_OK;
    }

    while (off < len) {
        const uint8_t *p = pkt + off;
        size_t plen;

        err = "short packet (RTCP header in compound)";
        if (len - off < 4)
            goto error;
        err = "unsupported RTCP version in compound";
        if ((p[0] >> 6) != 2)
            goto error;
        err = "too many packets in compound RTCP";
        if (out->n_parts >= REC_RTCP_MAX_PARTS) {
            ret = SR_ELIMIT;
            goto error;
        }
        plen = ((size_t)rd16(p + 2) + 1) * 4;
        err = "RTCP length past the end of the datagram";
        if (plen > len - off)
            goto error;
        if (p[0] & 0x20) {
            /* RFC 3550 6.4.1: only the last packet of a compound may pad. */
            err = "padding on a packet that is not the last of the compound";
            if (plen != len - off)
                goto error;
            err = "zero padding length";
            if (p[plen - 1] == 0)
                goto error;
            err = "padding longer than the RTCP packet";
            if (p[plen - 1] > plen - 4)
                goto error;
        }
        out->n_parts++;
        off += plen;
    }
    return SR_OK;

error:
    if (why)
        *why = err;
    return ret;
}
