/** @file fuzz_srtp_unprotect.c  SRTP/SRTCP unprotect with a fixed key on
 *  arbitrary packets.  Byte 0 picks the suite (low 3 bits), SRTCP (bit 3),
 *  a 1-byte MKI (bit 4), a ROC of 1 (bit 5) and trial authentication
 *  (bit 6); the rest is the packet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libsrtp 2.5 test/srtp_driver.c test_key, extended to 46 bytes. */
static const uint8_t fixed_key[46] = {
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39,
    0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6, 0xc1, 0x73,
    0xc3, 0x17, 0xf2, 0xda, 0xbe, 0x35, 0x77, 0x93, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised; /* libFuzzer calls us in one process, forever */
    struct rec_srtp_cfg cfg;
    struct rec_srtp *s = NULL;
    size_t klen, slen, len;
    uint8_t *p;

    if (!initialised) {
        if (rec_srtp_lib_init(false, NULL) != SR_OK)
            abort();
        initialised = 1;
    }
    if (size < 1)
        return 0;
    enum rec_suite suite = (enum rec_suite)(1 + (data[0] & 7) % 6);
    bool rtcp = data[0] & 8;
    rec_suite_lengths(suite, &klen, &slen);

    memset(&cfg, 0, sizeof(cfg));
    /* The session serves the packet's own SSRC, so the fuzzer reaches the
     * crypto instead of stopping at "wrong SSRC". */
    size_t at = 1 + (rtcp ? 4 : 8);
    if (size >= at + 4)
        cfg.ssrc = (uint32_t)data[at] << 24 | (uint32_t)data[at + 1] << 16 |
                   (uint32_t)data[at + 2] << 8 | data[at + 3];
    cfg.n_keys = 1;
    cfg.keys[0].suite = suite;
    cfg.keys[0].master_len = klen + slen;
    memcpy(cfg.keys[0].master, fixed_key, klen + slen);
    if (data[0] & 16) {
        cfg.keys[0].mki_len = 1;
        cfg.keys[0].mki = 0x5a;
    }
    cfg.roc = (data[0] & 32) ? 1 : 0;

    len = size - 1;
    p = malloc(len ? len : 1);
    if (!p)
        return 0;
    if (len)
        memcpy(p, data + 1, len);
    if (data[0] & 64) {
        size_t which;
        struct rec_srtp_cfg cands[2] = { cfg, cfg };
        cands[1].keys[0].master[0] ^= 1;
        if (rec_srtp_trial(cands, 2, p, &len, rtcp, &which, NULL) == SR_OK && len > size - 1)
            abort();
    } else if (rec_srtp_create(&s, &cfg) == SR_OK) {
        enum sr_err e = rtcp ? rec_srtp_unprotect_rtcp(s, p, &len) : rec_srtp_unprotect(s, p, &len);
        if (e == SR_OK && len > size - 1)
            abort();
        rec_srtp_destroy(s);
    }
    free(p);
    return 0;
}
