/** @file srtp_mkpkts.c  Test helper: N SRTP packets of one stream, made with
 *  libsrtp2's own API (AES_CM_128_HMAC_SHA1_80), for capture files.
 *
 *   srtp_mkpkts BASE64_KEY SSRC FIRST_SEQ N OUT.hex OUT.ul
 *
 * OUT.hex: one packet a line, hex (tests/recorder/gen_pcaps.py --payloads).
 * OUT.ul: the 160-byte PCMU payloads, in order, as sent (what a recording
 * of the stream must export).  Payload bytes avoid mu-law silence (0x7f,
 * 0xff), so an export that loses or shifts a packet cannot match.
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slice.h"
#include "util.h"

int main(int argc, char **argv)
{
    uint8_t key[64];
    size_t klen = 0;
    srtp_policy_t pol;
    srtp_t s = NULL;
    FILE *hex, *ul;
    unsigned long ssrc, seq, n;

    if (argc != 7) {
        fprintf(stderr, "usage: srtp_mkpkts BASE64_KEY SSRC FIRST_SEQ N OUT.hex OUT.ul\n");
        return 2;
    }
    ssrc = strtoul(argv[2], NULL, 0);
    seq = strtoul(argv[3], NULL, 0);
    n = strtoul(argv[4], NULL, 0);
    if (!sr_b64_decode(slice_cstr(argv[1]), key, sizeof(key), &klen) || klen != 30 || n == 0 ||
        n > 100000) {
        fprintf(stderr, "srtp_mkpkts: bad key or count\n");
        return 2;
    }
    if (srtp_init() != srtp_err_status_ok)
        return 1;
    memset(&pol, 0, sizeof(pol));
    srtp_crypto_policy_set_rtp_default(&pol.rtp);
    srtp_crypto_policy_set_rtcp_default(&pol.rtcp);
    pol.ssrc.type = ssrc_specific;
    pol.ssrc.value = (uint32_t)ssrc;
    pol.key = key;
    pol.window_size = 128;
    if (srtp_create(&s, &pol) != srtp_err_status_ok)
        return 1;
    hex = fopen(argv[5], "w");
    ul = fopen(argv[6], "wb");
    if (!hex || !ul)
        return 1;
    for (unsigned long i = 0; i < n; i++) {
        uint8_t p[12 + 160 + SRTP_MAX_TRAILER_LEN];
        uint16_t sq = (uint16_t)(seq + i);
        uint32_t ts = (uint32_t)(1000 + 160 * i);
        int len = 12 + 160;
        p[0] = 0x80;
        p[1] = 0;
        p[2] = (uint8_t)(sq >> 8);
        p[3] = (uint8_t)sq;
        p[4] = (uint8_t)(ts >> 24);
        p[5] = (uint8_t)(ts >> 16);
        p[6] = (uint8_t)(ts >> 8);
        p[7] = (uint8_t)ts;
        p[8] = (uint8_t)(ssrc >> 24);
        p[9] = (uint8_t)(ssrc >> 16);
        p[10] = (uint8_t)(ssrc >> 8);
        p[11] = (uint8_t)ssrc;
        for (size_t j = 0; j < 160; j++)
            p[12 + j] = (uint8_t)((i * 13 + j * 5) % 120 + 1);
        if (fwrite(p + 12, 1, 160, ul) != 160)
            return 1;
        if (srtp_protect(s, p, &len) != srtp_err_status_ok)
            return 1;
        for (int j = 0; j < len; j++)
            fprintf(hex, "%02x", p[j]);
        fputc('\n', hex);
    }
    if (fclose(hex) != 0 || fclose(ul) != 0)
        return 1;
    srtp_dealloc(s);
    srtp_shutdown();
    return 0;
}
