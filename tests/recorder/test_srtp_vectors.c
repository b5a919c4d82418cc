/** @file test_srtp_vectors.c  SRTP known answers and round trips through
 *  the recorder's libsrtp wrapper (rec_srtp_*).
 *
 * libsrtp's cipher API (srtp_crypto_kernel_alloc_cipher) is not in its
 * public headers, so RFC 3711 B.2/B.3 and RFC 7714 section 16 are checked
 * against an independent implementation on OpenSSL EVP written here, and that
 * implementation is then tied to libsrtp: packets it builds from a master key
 * must equal libsrtp's reference packets and must decrypt through rec_srtp.
 *
 * Usage: test_srtp_vectors PATH/tests/vectors/srtp.txt
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rec.h"
#include "tap.h"
#include "util.h"
#include "vecfile.h"

static struct vecfile vf;

static const uint8_t *vec(const char *name, size_t *len)
{
    const uint8_t *p = vecfile_get(&vf, name, len);
    if (!p) {
        tap_diag("vector %s missing", name);
        exit(1);
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* An independent SRTP on OpenSSL (RFC 3711, RFC 6188, RFC 7714)             */
/* ------------------------------------------------------------------------ */

static void aes_ctr(const uint8_t *key, size_t klen, const uint8_t iv[16], const uint8_t *in,
                    uint8_t *out, size_t n)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;

    EVP_EncryptInit_ex(c, klen == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr(), NULL, key, iv);
    EVP_EncryptUpdate(c, out, &l, in, (int)n);
    EVP_CIPHER_CTX_free(c);
}

/* RFC 3711 4.3.1 with kdr = 0: x = (label << 48) XOR master_salt, keystream
 * of AES-CM(master_key) from IV x * 2^16.  RFC 7714 section 11: a 96-bit
 * master salt is used as the leading bytes of the 112-bit one. */
static void kdf(const uint8_t *mkey, size_t klen, const uint8_t *msalt, size_t slen,
                uint8_t label, uint8_t *out, size_t n)
{
    uint8_t iv[16] = { 0 }, zero[128] = { 0 };

    memcpy(iv, msalt, slen);
    iv[7] ^= label;
    aes_ctr(mkey, klen, iv, zero, out, n);
}

struct ref_keys {
    uint8_t ek[32], salt[14], ak[20];
    size_t klen, slen;
};

static void ref_derive(struct ref_keys *k, const uint8_t *master, size_t klen, size_t slen)
{
    k->klen = klen;
    k->slen = slen;
    kdf(master, klen, master + klen, slen, 0, k->ek, klen);
    kdf(master, klen, master + klen, slen, 1, k->ak, 20);
    kdf(master, klen, master + klen, slen, 2, k->salt, slen);
}

/* RFC 3711 4.1.1 and 4.2: AES-CM + HMAC-SHA1 over header||payload||ROC.
 * pkt holds a 12-byte header (no CSRC/extension) and payload; returns the
 * new length. */
static size_t ref_protect_cm(const struct ref_keys *k, uint8_t *pkt, size_t len, uint32_t roc,
                             size_t tag_len)
{
    uint8_t iv[16] = { 0 }, mac[20], auth[512 + 4];
    unsigned maclen = 0;

    memcpy(iv, k->salt, 14);
    for (int i = 0; i < 4; i++) {
        iv[4 + i] ^= pkt[8 + i];                      /* SSRC * 2^64 */
        iv[8 + i] ^= (uint8_t)(roc >> (24 - 8 * i)); /* index * 2^16 */
    }
    iv[12] ^= pkt[2];
    iv[13] ^= pkt[3];
    aes_ctr(k->ek, k->klen, iv, pkt + 12, pkt + 12, len - 12);
    memcpy(auth, pkt, len);
    for (int i = 0; i < 4; i++)
        auth[len + i] = (uint8_t)(roc >> (24 - 8 * i));
    HMAC(EVP_sha1(), k->ak, 20, auth, len + 4, mac, &maclen);
    memcpy(pkt + len, mac, tag_len);
    return len + tag_len;
}

/* RFC 7714 8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt, AAD = header. */
static size_t ref_protect_gcm(const uint8_t *key, size_t klen, const uint8_t salt[12],
                              uint8_t *pkt, size_t len, uint32_t roc)
{
    uint8_t iv[12] = { 0 };
    int l = 0;

    memcpy(iv + 2, pkt + 8, 4);
    for (int i = 0; i < 4; i++)
        iv[6 + i] = (uint8_t)(roc >> (24 - 8 * i));
    iv[10] = pkt[2];
    iv[11] = pkt[3];
    for (int i = 0; i < 12; i++)
        iv[i] ^= salt[i];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, klen == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm(), NULL, NULL, NULL);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
    EVP_EncryptInit_ex(c, NULL, NULL, key, iv);
    EVP_EncryptUpdate(c, NULL, &l, pkt, 12);
    EVP_EncryptUpdate(c, pkt + 12, &l, pkt + 12, (int)len - 12);
    EVP_EncryptFinal_ex(c, pkt + len, &l);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, pkt + len);
    EVP_CIPHER_CTX_free(c);
    return len + 16;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static void cfg_one(struct rec_srtp_cfg *cfg, enum rec_suite suite, const uint8_t *master,
                    size_t len, uint32_t ssrc, bool sender)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ssrc = ssrc;
    cfg->sender = sender;
    cfg->n_keys = 1;
    cfg->keys[0].suite = suite;
    memcpy(cfg->keys[0].master, master, len);
    cfg->keys[0].master_len = len;
}

static size_t rtp_build(uint8_t *b, uint32_t ssrc, uint16_t seq, uint8_t fill, size_t payload)
{
    uint32_t ts = (uint32_t)seq * 160u;

    b[0] = 0x80, b[1] = 0x00;
    b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24), b[5] = (uint8_t)(ts >> 16), b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16), b[10] = (uint8_t)(ssrc >> 8);
    b[11] = (uint8_t)ssrc;
    memset(b + 12, fill, payload);
    return 12 + payload;
}

static bool unprotect_eq(struct rec_srtp *rx, const uint8_t *cipher, size_t clen,
                         const uint8_t *plain, size_t plen, bool rtcp)
{
    uint8_t buf[512];
    size_t len = clen;
    enum sr_err err;

    memcpy(buf, cipher, clen);
    err = rtcp ? rec_srtp_unprotect_rtcp(rx, buf, &len) : rec_srtp_unprotect(rx, buf, &len);
    if (err)
        tap_diag("unprotect: %s", sr_strerror(err));
    return err == SR_OK && len == plen && memcmp(buf, plain, plen) == 0;
}

/* ------------------------------------------------------------------------ */
/* (a) RFC 3711 B.2 and B.3, and the reference implementation vs libsrtp     */
/* ------------------------------------------------------------------------ */

static void rfc3711_b2(void)
{
    static const struct { const char *name; size_t block; } blocks[] = {
        { "b2.ks_0000", 0 },      { "b2.ks_0001", 1 },      { "b2.ks_0002", 2 },
        { "b2.ks_feff", 0xfeff }, { "b2.ks_ff00", 0xff00 }, { "b2.ks_ff01", 0xff01 },
    };
    size_t n = 0xff02 * 16;
    uint8_t *zero = calloc(1, n), *ks = calloc(1, n);

    aes_ctr(vec("b2.key", NULL), 16, vec("b2.iv", NULL), zero, ks, n);
    for (size_t i = 0; i < SR_ARRAY_LEN(blocks); i++)
        tap_ok(memcmp(ks + 16 * blocks[i].block, vec(blocks[i].name, NULL), 16) == 0,
               "RFC 3711 B.2 keystream block %04zx", blocks[i].block);
    free(zero);
    free(ks);
}

static void rfc3711_b3(void)
{
    uint8_t master[30], out[94];
    size_t alen;
    const uint8_t *auth = vec("b3.auth_key", &alen);

    memcpy(master, vec("b3.master_key", NULL), 16);
    memcpy(master + 16, vec("b3.master_salt", NULL), 14);
    kdf(master, 16, master + 16, 14, 0, out, 16);
    tap_ok(memcmp(out, vec("b3.cipher_key", NULL), 16) == 0, "RFC 3711 B.3 cipher key");
    kdf(master, 16, master + 16, 14, 2, out, 14);
    tap_ok(memcmp(out, vec("b3.cipher_salt", NULL), 14) == 0, "RFC 3711 B.3 cipher salt");
    kdf(master, 16, master + 16, 14, 1, out, alen);
    tap_ok(alen == 94 && memcmp(out, auth, alen) == 0, "RFC 3711 B.3 auth key (94 bytes)");
}

/* The B.3 master key is libsrtp's test_key: our independent packet must be
 * libsrtp's reference packet byte for byte, for AES-128 and (RFC 6188)
 * AES-256. */
static void reference_matches_libsrtp(void)
{
    struct ref_keys k;
    uint8_t pkt[128];
    size_t plen, len;

    const uint8_t *plain = vec("ls.rtp_plain", &plen);
    ref_derive(&k, vec("ls.key_128", NULL), 16, 14);
    memcpy(pkt, plain, plen);
    len = ref_protect_cm(&k, pkt, plen, 0, 10);
    size_t clen;
    const uint8_t *c = vec("ls.srtp_128", &clen);
    tap_ok(len == clen && memcmp(pkt, c, clen) == 0,
           "independent RFC 3711 AES_CM_128_HMAC_SHA1_80 == libsrtp reference packet");

    ref_derive(&k, vec("ls.key_256", NULL), 32, 14);
    memcpy(pkt, plain, plen);
    len = ref_protect_cm(&k, pkt, plen, 0, 10);
    c = vec("ls.srtp_256", &clen);
    tap_ok(len == clen && memcmp(pkt, c, clen) == 0,
           "independent RFC 6188 AES_256_CM_HMAC_SHA1_80 == libsrtp reference packet");
}

/* Independent packets at ROC 5 (a call in progress) decrypt through rec_srtp. */
static void reference_decrypts_mid_call(void)
{
    static const struct { enum rec_suite s; size_t klen, tag; } cases[] = {
        { REC_SUITE_AES_CM_128_HMAC_SHA1_80, 16, 10 },
        { REC_SUITE_AES_CM_128_HMAC_SHA1_32, 16, 4 },
        { REC_SUITE_AES_256_CM_HMAC_SHA1_80, 32, 10 },
        { REC_SUITE_AES_256_CM_HMAC_SHA1_32, 32, 4 },
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(cases); i++) {
        uint8_t master[46], pkt[256], plain[256];
        struct rec_srtp_cfg cfg;
        struct rec_srtp *rx = NULL;
        struct ref_keys k;
        size_t len, plen;

        for (size_t j = 0; j < sizeof(master); j++)
            master[j] = (uint8_t)(0x11 * i + 7 * j);
        ref_derive(&k, master, cases[i].klen, 14);
        plen = rtp_build(plain, 0x5501a0b2, 1234, 0x42, 160);
        memcpy(pkt, plain, plen);
        len = ref_protect_cm(&k, pkt, plen, 5, cases[i].tag);

        cfg_one(&cfg, cases[i].s, master, cases[i].klen + 14, 0x5501a0b2, false);
        cfg.roc = 5;
        tap_ok(rec_srtp_create(&rx, &cfg) == SR_OK && unprotect_eq(rx, pkt, len, plain, plen, false),
               "%s: independent packet at ROC 5 decrypts", rec_suite_name(cases[i].s));
        rec_srtp_destroy(rx);
    }
}

/* ------------------------------------------------------------------------ */
/* (b) libsrtp's own known-answer packets through the wrapper                 */
/* ------------------------------------------------------------------------ */

static void libsrtp_kat(void)
{
    static const struct {
        enum rec_suite s;
        const char *key, *cipher, *plain;
        bool rtcp;
    } kat[] = {
        { REC_SUITE_AES_CM_128_HMAC_SHA1_80, "ls.key_128", "ls.srtp_128", "ls.rtp_plain", false },
        { REC_SUITE_AES_CM_128_HMAC_SHA1_80, "ls.key_128", "ls.srtcp_128", "ls.rtcp_plain", true },
        { REC_SUITE_AES_256_CM_HMAC_SHA1_80, "ls.key_256", "ls.srtp_256", "ls.rtp_plain", false },
        { REC_SUITE_AEAD_AES_128_GCM, "ls.key_gcm", "ls.srtp_gcm", "ls.rtp_plain", false },
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(kat); i++) {
        struct rec_srtp_cfg cfg;
        struct rec_srtp *rx = NULL;
        size_t klen, clen, plen;
        const uint8_t *key = vec(kat[i].key, &klen), *c = vec(kat[i].cipher, &clen),
                      *p = vec(kat[i].plain, &plen);

        cfg_one(&cfg, kat[i].s, key, klen, 0xcafebabe, false);
        tap_ok(rec_srtp_create(&rx, &cfg) == SR_OK && unprotect_eq(rx, c, clen, p, plen, kat[i].rtcp),
               "libsrtp srtp_driver %s: %s decrypts to the plaintext", kat[i].cipher,
               rec_suite_name(kat[i].s));
        rec_srtp_destroy(rx);
    }
    tap_ok(rec_srtp_self_test() == SR_OK, "rec_srtp_self_test");
}

/* ------------------------------------------------------------------------ */
/* (c) RFC 7714 section 16                                                    */
/* ------------------------------------------------------------------------ */

static void rfc7714(void)
{
    static const struct { const char *key, *out; size_t klen; enum rec_suite s; } v[] = {
        { "r7714.key_128", "r7714.srtp_128", 16, REC_SUITE_AEAD_AES_128_GCM },
        { "r7714.key_256", "r7714.srtp_256", 32, REC_SUITE_AEAD_AES_256_GCM },
    };
    size_t rlen, olen;
    const uint8_t *rtp = vec("r7714.rtp", &rlen);

    for (size_t i = 0; i < SR_ARRAY_LEN(v); i++) {
        uint8_t pkt[256], master[44], ek[32], salt[12];
        struct rec_srtp_cfg cfg;
        struct rec_srtp *rx = NULL;
        const uint8_t *want = vec(v[i].out, &olen);

        /* The vector itself, from its session key and salt. */
        memcpy(pkt, rtp, rlen);
        size_t len = ref_protect_gcm(vec(v[i].key, NULL), v[i].klen, vec("r7714.salt", NULL), pkt,
                                     rlen, 0);
        tap_ok(len == olen && memcmp(pkt, want, olen) == 0, "RFC 7714 16.%zu.1 %s packet", i + 1,
               rec_suite_name(v[i].s));

        /* libsrtp takes master keys: derive session keys (RFC 7714 11) from
         * one, build the same packet with them and decrypt it through us. */
        for (size_t j = 0; j < sizeof(master); j++)
            master[j] = (uint8_t)(0xa5 ^ (j * 13));
        kdf(master, v[i].klen, master + v[i].klen, 12, 0, ek, v[i].klen);
        kdf(master, v[i].klen, master + v[i].klen, 12, 2, salt, 12);
        memcpy(pkt, rtp, rlen);
        len = ref_protect_gcm(ek, v[i].klen, salt, pkt, rlen, 0);
        cfg_one(&cfg, v[i].s, master, v[i].klen + 12, 0x5501a0b2, false);
        tap_ok(rec_srtp_create(&rx, &cfg) == SR_OK && unprotect_eq(rx, pkt, len, rtp, rlen, false),
               "RFC 7714 packet construction from a master key decrypts through rec_srtp (%s)",
               rec_suite_name(v[i].s));
        rec_srtp_destroy(rx);
    }
}

/* ------------------------------------------------------------------------ */
/* (d) Round trips                                                           */
/* ------------------------------------------------------------------------ */

static const enum rec_suite all_suites[] = {
    REC_SUITE_AES_CM_128_HMAC_SHA1_80, REC_SUITE_AES_CM_128_HMAC_SHA1_32,
    REC_SUITE_AES_256_CM_HMAC_SHA1_80, REC_SUITE_AES_256_CM_HMAC_SHA1_32,
    REC_SUITE_AEAD_AES_128_GCM,        REC_SUITE_AEAD_AES_256_GCM,
};

static size_t master_for(enum rec_suite s, uint8_t *m, uint8_t seed)
{
    size_t k, salt;
    rec_suite_lengths(s, &k, &salt);
    for (size_t i = 0; i < k + salt; i++)
        m[i] = (uint8_t)(seed + 31 * i);
    return k + salt;
}

/* Sender at roc, seq0 for n packets; a receiver created with rx_roc/seq
 * decrypts each.  Returns packets that failed. */
static size_t stream_run(enum rec_suite s, uint32_t roc, uint16_t seq0, size_t n,
                         const struct rec_srtp_cfg *rxcfg_in, struct rec_srtp **rx_out)
{
    uint8_t master[46], pkt[256], plain[256];
    struct rec_srtp_cfg cfg;
    struct rec_srtp *tx = NULL, *rx = NULL;
    size_t mlen = master_for(s, master, 9), bad = 0;

    cfg_one(&cfg, s, master, mlen, 0xdeadbeef, true);
    cfg.roc = roc;
    if (rec_srtp_create(&tx, &cfg) != SR_OK)
        return n;
    cfg.sender = false;
    if (rxcfg_in) {
        cfg = *rxcfg_in;
        memcpy(cfg.keys[0].master, master, mlen);
    }
    if (rec_srtp_create(&rx, &cfg) != SR_OK) {
        rec_srtp_destroy(tx);
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        size_t plen = rtp_build(plain, 0xdeadbeef, (uint16_t)(seq0 + i), (uint8_t)i, 160), len;
        memcpy(pkt, plain, plen);
        len = plen;
        if (rec_srtp_protect(tx, pkt, &len, sizeof(pkt)) != SR_OK ||
            !unprotect_eq(rx, pkt, len, plain, plen, false))
            bad++;
    }
    rec_srtp_destroy(tx);
    if (rx_out)
        *rx_out = rx;
    else
        rec_srtp_destroy(rx);
    return bad;
}

static void round_trips(void)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(all_suites); i++) {
        enum rec_suite s = all_suites[i];
        uint8_t master[46], pkt[256], plain[256];
        struct rec_srtp_cfg cfg;
        struct rec_srtp *tx = NULL, *rx = NULL;
        size_t mlen = master_for(s, master, (uint8_t)i), len, plen;

        tap_ok(stream_run(s, 0, 100, 50, NULL, NULL) == 0, "%s: 50 RTP packets round trip",
               rec_suite_name(s));

        /* SRTCP */
        cfg_one(&cfg, s, master, mlen, 0x01020304, true);
        bool ok = rec_srtp_create(&tx, &cfg) == SR_OK;
        cfg.sender = false;
        ok = ok && rec_srtp_create(&rx, &cfg) == SR_OK;
        static const uint8_t rr[] = { 0x81, 0xc9, 0x00, 0x07, 0x01, 0x02, 0x03, 0x04,
                                      0x11, 0x11, 0x11, 0x11, 0x00, 0x00, 0x00, 0x01,
                                      0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x10,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
        for (int k = 0; ok && k < 3; k++) {
            memcpy(pkt, rr, sizeof(rr));
            len = sizeof(rr);
            ok = rec_srtp_protect_rtcp(tx, pkt, &len, sizeof(pkt)) == SR_OK &&
                 unprotect_eq(rx, pkt, len, rr, sizeof(rr), true);
        }
        tap_ok(ok, "%s: SRTCP round trip", rec_suite_name(s));

        /* replay and tamper */
        plen = rtp_build(plain, 0x01020304, 7, 0x55, 160);
        memcpy(pkt, plain, plen);
        len = plen;
        ok = rec_srtp_protect(tx, pkt, &len, sizeof(pkt)) == SR_OK;
        uint8_t copy[256];
        size_t clen = len;
        memcpy(copy, pkt, len);
        copy[30] ^= 0x01;
        tap_ok(rec_srtp_unprotect(rx, copy, &clen) == SR_EAUTH, "%s: tampered payload -> SR_EAUTH",
               rec_suite_name(s));
        memcpy(copy, pkt, len);
        clen = len;
        copy[len - 1] ^= 0x80;
        tap_ok(rec_srtp_unprotect(rx, copy, &clen) == SR_EAUTH, "%s: tampered tag -> SR_EAUTH",
               rec_suite_name(s));
        memcpy(copy, pkt, len);
        clen = len;
        tap_ok(ok && rec_srtp_unprotect(rx, copy, &clen) == SR_OK, "%s: original still decrypts",
               rec_suite_name(s));
        clen = len;
        memcpy(copy, pkt, len);
        tap_ok(rec_srtp_unprotect(rx, copy, &clen) == SR_EREPLAY, "%s: replay -> SR_EREPLAY",
               rec_suite_name(s));
        plen = rtp_build(plain, 0x0badf00d, 8, 0x55, 160);
        clen = plen + 16;
        tap_ok(rec_srtp_unprotect(rx, plain, &clen) == SR_ENOKEY,
               "%s: another SSRC -> SR_ENOKEY", rec_suite_name(s));
        rec_srtp_destroy(tx);
        rec_srtp_destroy(rx);
    }
}

static void roc_mid_call(void)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(all_suites); i++) {
        enum rec_suite s = all_suites[i];
        struct rec_srtp_cfg rxcfg;
        struct rec_srtp *rx = NULL;
        uint8_t master[46];
        uint32_t roc = 0;
        size_t mlen = master_for(s, master, 9);

        /* Joins at ROC 3, seq 65530; 20 packets cross the wrap into ROC 4. */
        cfg_one(&rxcfg, s, master, mlen, 0xdeadbeef, false);
        rxcfg.roc = 3;
        tap_ok(stream_run(s, 3, 65530, 20, &rxcfg, &rx) == 0,
               "%s: receiver at ROC 3 decrypts from the first packet across the wrap",
               rec_suite_name(s));
        tap_ok(rec_srtp_roc(rx, &roc) == SR_OK && roc == 4, "%s: ROC is 4 after the wrap (%u)",
               rec_suite_name(s), roc);
        rec_srtp_destroy(rx);

        /* Disclosure taken just after the wrap (ROC 4, SEQ 3), first packet
         * forwarded from just before it: guessed into ROC 3. */
        rxcfg.roc = 4;
        rxcfg.seq = 3;
        rxcfg.have_seq = true;
        tap_ok(stream_run(s, 3, 65533, 10, &rxcfg, NULL) == 0,
               "%s: disclosed ROC 4/SEQ 3, packets from ROC 3 before the wrap decrypt",
               rec_suite_name(s));

        rxcfg.roc = 2;
        rxcfg.have_seq = false;
        tap_ok(stream_run(s, 3, 100, 3, &rxcfg, NULL) == 3, "%s: wrong ROC fails all packets",
               rec_suite_name(s));
    }
    /* ROC 0, joining at seq 40000: libsrtp must not guess ROC -1. */
    struct rec_srtp_cfg rxcfg;
    uint8_t master[46];
    size_t mlen = master_for(REC_SUITE_AES_CM_128_HMAC_SHA1_80, master, 9);
    cfg_one(&rxcfg, REC_SUITE_AES_CM_128_HMAC_SHA1_80, master, mlen, 0xdeadbeef, false);
    tap_ok(stream_run(REC_SUITE_AES_CM_128_HMAC_SHA1_80, 0, 40000, 5, &rxcfg, NULL) == 0,
           "ROC 0 join at seq 40000");
}

static void mki(void)
{
    uint8_t a[46], b[46], pkt[256], plain[256];
    struct rec_srtp_cfg cfg;
    struct rec_srtp *txa = NULL, *txb = NULL, *rx = NULL, *rxa = NULL;
    enum rec_suite s = REC_SUITE_AES_CM_128_HMAC_SHA1_80;
    size_t mlen = master_for(s, a, 1), len, plen;
    master_for(s, b, 2);

    memset(&cfg, 0, sizeof(cfg));
    cfg.ssrc = 77;
    cfg.sender = true;
    cfg.n_keys = 1;
    cfg.keys[0] = (struct rec_srtp_key){ .suite = s, .master_len = mlen, .mki = 1, .mki_len = 2 };
    memcpy(cfg.keys[0].master, a, mlen);
    bool ok = rec_srtp_create(&txa, &cfg) == SR_OK;
    cfg.keys[0].mki = 0x0102;
    memcpy(cfg.keys[0].master, b, mlen);
    ok = ok && rec_srtp_create(&txb, &cfg) == SR_OK;
    cfg.sender = false;
    cfg.keys[0].mki = 1;
    memcpy(cfg.keys[0].master, a, mlen);
    ok = ok && rec_srtp_create(&rxa, &cfg) == SR_OK; /* key a only */
    cfg.n_keys = 2;
    cfg.keys[1] = cfg.keys[0];
    cfg.keys[1].mki = 0x0102;
    memcpy(cfg.keys[1].master, b, mlen);
    ok = ok && rec_srtp_create(&rx, &cfg) == SR_OK; /* a and b */
    tap_ok(ok, "MKI sessions created");

    plen = rtp_build(plain, 77, 10, 1, 160);
    memcpy(pkt, plain, plen);
    len = plen;
    tap_ok(rec_srtp_protect(txa, pkt, &len, sizeof(pkt)) == SR_OK && len == plen + 2 + 10,
           "MKI: trailer is 2-byte MKI + 10-byte tag");
    tap_ok(pkt[plen] == 0x00 && pkt[plen + 1] == 0x01, "MKI 1 on the wire, big-endian");
    tap_ok(unprotect_eq(rx, pkt, len, plain, plen, false), "two-key receiver takes MKI 1");

    plen = rtp_build(plain, 77, 11, 2, 160);
    memcpy(pkt, plain, plen);
    len = plen;
    ok = rec_srtp_protect(txb, pkt, &len, sizeof(pkt)) == SR_OK;
    uint8_t copy[256];
    size_t clen = len;
    memcpy(copy, pkt, len);
    tap_ok(ok && rec_srtp_unprotect(rxa, copy, &clen) == SR_ENOKEY,
           "MKI of a key not yet disclosed -> SR_ENOKEY");
    tap_ok(unprotect_eq(rx, pkt, len, plain, plen, false), "two-key receiver takes MKI 0x0102");

    /* Bad configurations. */
    struct rec_srtp *bad = NULL;
    cfg.keys[1].mki = 1;
    tap_ok(rec_srtp_create(&bad, &cfg) == SR_EINVAL, "duplicate MKI refused");
    cfg.keys[1].mki = 0x0102;
    cfg.keys[1].mki_len = 3;
    tap_ok(rec_srtp_create(&bad, &cfg) == SR_EINVAL, "MKI lengths differ: refused");
    cfg.keys[1].mki_len = 2;
    cfg.keys[0].mki_len = cfg.keys[1].mki_len = 0;
    tap_ok(rec_srtp_create(&bad, &cfg) == SR_EINVAL, "two keys without MKI refused");
    cfg.n_keys = 1;
    cfg.keys[0].master_len = 29;
    tap_ok(rec_srtp_create(&bad, &cfg) == SR_EINVAL, "wrong master length refused");
    cfg.keys[0].master_len = 30;
    cfg.keys[0].suite = (enum rec_suite)0;
    tap_ok(rec_srtp_create(&bad, &cfg) == SR_EINVAL, "unknown suite refused");
    cfg.keys[0].suite = s;
    cfg.keys[0].mki_len = 1;
    cfg.keys[0].mki = 256;
    tap_ok(rec_srtp_create(&bad, &cfg) == SR_EINVAL, "MKI value wider than its length refused");
    sr_wipe(&cfg, sizeof(cfg));
    rec_srtp_destroy(txa);
    rec_srtp_destroy(txb);
    rec_srtp_destroy(rx);
    rec_srtp_destroy(rxa);
}

static void trial(void)
{
    struct rec_srtp_cfg cands[3], cfg;
    struct rec_srtp *tx = NULL, *win = NULL;
    uint8_t pkt[256], plain[256], orig[256];
    size_t len, plen, which = 99;
    enum rec_suite s = REC_SUITE_AEAD_AES_128_GCM;

    for (int i = 0; i < 3; i++) {
        uint8_t m[46];
        size_t ml = master_for(s, m, (uint8_t)(40 + i));
        cfg_one(&cands[i], s, m, ml, 0 /* ignored */, false);
    }
    cfg = cands[2];
    cfg.ssrc = 0x4444;
    cfg.sender = true;
    bool ok = rec_srtp_create(&tx, &cfg) == SR_OK;
    plen = rtp_build(plain, 0x4444, 500, 3, 160);
    memcpy(pkt, plain, plen);
    len = plen;
    ok = ok && rec_srtp_protect(tx, pkt, &len, sizeof(pkt)) == SR_OK;
    memcpy(orig, pkt, len);
    size_t olen = len;

    tap_ok(ok && rec_srtp_trial(cands, 2, pkt, &len, false, &which, NULL) == SR_EAUTH &&
               len == olen && memcmp(pkt, orig, olen) == 0,
           "trial without the right key: SR_EAUTH, packet untouched (GCM)");
    tap_ok(rec_srtp_trial(cands, 3, pkt, &len, false, &which, &win) == SR_OK && which == 2 &&
               len == plen && memcmp(pkt, plain, plen) == 0,
           "trial finds candidate 2 and leaves the plaintext");
    tap_ok(win && rec_srtp_ssrc(win) == 0x4444, "winner session serves the packet's SSRC");
    memcpy(pkt, orig, olen);
    len = olen;
    tap_ok(win && rec_srtp_unprotect(win, pkt, &len) == SR_EREPLAY,
           "winner's window already holds the trial packet");
    plen = rtp_build(plain, 0x4444, 501, 4, 160);
    memcpy(pkt, plain, plen);
    len = plen;
    ok = rec_srtp_protect(tx, pkt, &len, sizeof(pkt)) == SR_OK;
    tap_ok(ok && win && unprotect_eq(win, pkt, len, plain, plen, false),
           "winner decrypts the next packet");
    tap_ok(rec_srtp_trial(cands, REC_SRTP_MAX_TRIAL + 1, pkt, &len, false, &which, NULL) ==
               SR_ELIMIT,
           "too many candidates: SR_ELIMIT");
    len = 5;
    tap_ok(rec_srtp_trial(cands, 3, pkt, &len, false, &which, NULL) == SR_EPARSE,
           "short packet: SR_EPARSE");
    rec_srtp_destroy(win);
    rec_srtp_destroy(tx);
    for (int i = 0; i < 3; i++)
        sr_wipe(&cands[i], sizeof(cands[i]));
}

static void hostile(void)
{
    struct rec_srtp_cfg cfg;
    struct rec_srtp *rx = NULL;
    uint8_t master[46], pkt[64] = { 0 };
    size_t len;

    cfg_one(&cfg, REC_SUITE_AES_CM_128_HMAC_SHA1_80, master,
            master_for(REC_SUITE_AES_CM_128_HMAC_SHA1_80, master, 3), 0, false);
    bool ok = rec_srtp_create(&rx, &cfg) == SR_OK;
    pkt[0] = 0x80;
    size_t wrong = 0;
    for (len = 0; len < 22; len++) { /* 12 header + 10 tag */
        size_t l = len;
        if (rec_srtp_unprotect(rx, pkt, &l) != SR_EPARSE)
            wrong++;
    }
    tap_ok(ok && wrong == 0, "packets shorter than header + tag: SR_EPARSE");
    pkt[0] = 0x8f; /* 15 CSRCs that are not there */
    len = 40;
    tap_ok(rec_srtp_unprotect(rx, pkt, &len) == SR_EPARSE, "CSRC overflow: SR_EPARSE");
    pkt[0] = 0x81;
    pkt[1] = 0xc8;
    len = 20;
    tap_ok(rec_srtp_unprotect_rtcp(rx, pkt, &len) == SR_EPARSE, "short SRTCP: SR_EPARSE");
    len = 70000;
    tap_ok(rec_srtp_unprotect(rx, pkt, &len) == SR_ELIMIT, "over 65535 bytes: SR_ELIMIT");
    rec_srtp_destroy(rx);
    rec_srtp_destroy(NULL);
}

int main(int argc, char **argv)
{
    enum rec_srtp_backend be;

    if (argc < 2 || !vecfile_load(&vf, argv[1])) {
        tap_diag("usage: %s tests/vectors/srtp.txt", argv[0]);
        tap_ok(false, "vector file loads");
        return tap_done();
    }
    enum sr_err err = rec_srtp_lib_init(false, &be);
    tap_ok(err == SR_OK, "rec_srtp_lib_init: %s", sr_strerror(err));
    tap_ok(be == REC_SRTP_BACKEND_OPENSSL, "backend detected: %s", rec_srtp_backend_name(be));
    if (err)
        return tap_done();

    rfc3711_b2();
    rfc3711_b3();
    reference_matches_libsrtp();
    reference_decrypts_mid_call();
    libsrtp_kat();
    rfc7714();
    round_trips();
    roc_mid_call();
    mki();
    trial();
    hostile();
    rec_srtp_lib_fini();
    return tap_done();
}
