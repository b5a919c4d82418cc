/** @file srtp_pcap_dec.c  Test helper: decrypt one sender's SRTP out of a
 *  capture file with libsrtp2's own API (its stock HMAC, none of the
 *  recorder's code), for comparison with what the recorder archived.
 *
 *   srtp_pcap_dec FILE.pcap SRC_IPV4:PORT BASE64_KEY OUT.raw [SUITE] [timeline]
 *
 * Every UDP datagram from SRC (Ethernet or raw IPv4 frames, unfragmented)
 * that is RTP (not RTCP) is unprotected with SUITE (AES_CM_128_HMAC_SHA1_80,
 * the default, AES_CM_128_HMAC_SHA1_32 or AEAD_AES_256_GCM) and master key||salt BASE64_KEY; the payloads of those that authenticate are
 * appended to OUT in capture order (libsrtp's replay check drops second
 * copies).  With "timeline", each payload goes where its RTP timestamp puts
 * it after the first one's, a gap (a hold) filled with mu-law silence
 * (0xff), as the recorder's WAV export places G.711 at 8 kHz.  Prints "<decrypted> <failed>"; exit 0 if at least one decrypted.
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <srtp2/srtp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slice.h"
#include "util.h"

static const uint8_t *udp_of(int dlt, const uint8_t *f, size_t len, size_t *ulen,
                             uint32_t *src, uint16_t *sport)
{
    size_t off = dlt == DLT_EN10MB ? 14 : 0, hl;

    if (dlt != DLT_EN10MB && dlt != DLT_RAW && dlt != 228)
        return NULL;
    if (len < off + 20 || (dlt == DLT_EN10MB && (f[12] != 0x08 || f[13] != 0x00)))
        return NULL;
    f += off;
    len -= off;
    hl = (size_t)(f[0] & 15) * 4;
    if ((f[0] >> 4) != 4 || f[9] != 17 || len < hl + 8)
        return NULL;
    memcpy(src, f + 12, 4);
    *sport = (uint16_t)(f[hl] << 8 | f[hl + 1]);
    *ulen = (size_t)(f[hl + 4] << 8 | f[hl + 5]);
    if (*ulen < 8 || hl + *ulen > len)
        return NULL;
    *ulen -= 8;
    return f + hl + 8;
}

int main(int argc, char **argv)
{
    char eb[PCAP_ERRBUF_SIZE], host[64];
    uint8_t key[64];
    size_t klen = 0;
    struct in_addr want;
    unsigned long port;
    const char *colon;
    srtp_policy_t pol;
    srtp_t s = NULL;
    pcap_t *p;
    FILE *out;
    struct pcap_pkthdr *h;
    const u_char *bytes;
    unsigned long ok = 0, bad = 0;
    bool tag32 = false, gcm = false, timeline = false, usage = argc < 5 || argc > 7;
    uint32_t first_ts = 0;
    uint64_t written = 0;

    for (int i = 5; i < argc && !usage; i++) {
        if (strcmp(argv[i], "timeline") == 0)
            timeline = true;
        else if (strcmp(argv[i], "AES_CM_128_HMAC_SHA1_32") == 0)
            tag32 = true;
        else if (strcmp(argv[i], "AEAD_AES_256_GCM") == 0)
            gcm = true;
        else if (strcmp(argv[i], "AES_CM_128_HMAC_SHA1_80") != 0)
            usage = true;
    }
    if (usage || !(colon = strrchr(argv[2], ':'))) {
        fprintf(stderr, "usage: srtp_pcap_dec FILE.pcap SRC_IPV4:PORT BASE64_KEY OUT.raw"
                        " [AES_CM_128_HMAC_SHA1_80|AES_CM_128_HMAC_SHA1_32|AEAD_AES_256_GCM]"
                        " [timeline]\n");
        return 2;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - argv[2]), argv[2]);
    port = strtoul(colon + 1, NULL, 10);
    if (inet_pton(AF_INET, host, &want) != 1 ||
        !sr_b64_decode(slice_cstr(argv[3]), key, sizeof(key), &klen) || klen != (gcm ? 44u : 30u)) {
        fprintf(stderr, "srtp_pcap_dec: bad address or key\n");
        return 2;
    }
    if (srtp_init() != srtp_err_status_ok)
        return 1;
    memset(&pol, 0, sizeof(pol));
    if (gcm) { /* RFC 7714: 32-byte key, 12-byte salt, 16-byte tag on both */
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtcp);
    } else {
        if (tag32) /* RFC 4568: the 32-bit tag is on SRTP only, SRTCP keeps 80 */
            srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
        else
            srtp_crypto_policy_set_rtp_default(&pol.rtp);
        srtp_crypto_policy_set_rtcp_default(&pol.rtcp);
    }
    pol.ssrc.type = ssrc_any_inbound;
    pol.key = key;
    pol.window_size = 128;
    if (srtp_create(&s, &pol) != srtp_err_status_ok)
        return 1;
    p = pcap_open_offline(argv[1], eb);
    out = fopen(argv[4], "wb");
    if (!p || !out) {
        fprintf(stderr, "srtp_pcap_dec: %s\n", p ? argv[4] : eb);
        return 1;
    }
    while (pcap_next_ex(p, &h, &bytes) == 1) {
        uint8_t buf[4096];
        size_t ulen;
        uint32_t src;
        uint16_t sport;
        int len;
        const uint8_t *u = udp_of(pcap_datalink(p), bytes, h->caplen, &ulen, &src, &sport);
        if (!u || src != want.s_addr || sport != port || ulen < 12 || ulen > sizeof(buf))
            continue;
        if (u[1] >= 192 && u[1] <= 223) /* RTCP (RFC 5761 ranges) */
            continue;
        memcpy(buf, u, ulen);
        len = (int)ulen;
        if (srtp_unprotect(s, buf, &len) != srtp_err_status_ok) {
            bad++;
            continue;
        }
        size_t hdr = 12 + (size_t)(buf[0] & 15) * 4;
        uint32_t ts = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
        if (timeline && ok == 0)
            first_ts = ts;
        /* 32-bit subtraction: a timestamp wrap is no gap. */
        for (uint64_t at = (uint32_t)(ts - first_ts); timeline && written < at; written++)
            if (fputc(0xff, out) == EOF)
                return 1;
        if ((size_t)len > hdr)
            written += (size_t)len - hdr;
        if ((size_t)len > hdr && fwrite(buf + hdr, 1, (size_t)len - hdr, out) != (size_t)len - hdr)
            return 1;
        ok++;
    }
    printf("%lu %lu\n", ok, bad);
    fclose(out);
    pcap_close(p);
    srtp_dealloc(s);
    srtp_shutdown();
    return ok ? 0 : 1;
}
