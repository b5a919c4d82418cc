/** @file test_icm.c  The recorder's AES-ICM cipher types for libsrtp: installed in place of
 *  libsrtp's, RFC 3711 B.2 keystream, and agreement with OpenSSL's AES-CTR for every key
 *  size over random keys, IVs, lengths and splits into several calls. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cipher.h" /* libsrtp's crypto kernel (crypto/include) */

#include "rec_crypto.h"
#include "tap.h"

/* libsrtp's crypto_kernel.h needs its build's config.h; this one
 * declaration is all the test uses of it. */
srtp_err_status_t srtp_crypto_kernel_alloc_cipher(srtp_cipher_type_id_t id,
                                                  srtp_cipher_pointer_t *cp, int key_len,
                                                  int tag_len);

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* buf through the installed type: key (with salt), iv, in `parts` calls. */
static bool icm(srtp_cipher_type_id_t id, const uint8_t *key, int key_len, uint8_t iv[16],
                uint8_t *buf, unsigned len, unsigned parts, const char **desc)
{
    srtp_cipher_t *c = NULL;
    bool ok;
    unsigned done = 0;

    if (srtp_crypto_kernel_alloc_cipher(id, &c, key_len, 0) != srtp_err_status_ok)
        return false;
    if (desc)
        *desc = c->type->description;
    ok = c->type->init(c->state, key) == srtp_err_status_ok &&
         c->type->set_iv(c->state, iv, srtp_direction_encrypt) == srtp_err_status_ok;
    for (unsigned p = 0; ok && p < parts; p++) {
        unsigned n = p + 1 == parts ? len - done : (len / parts) + (p % 3);
        if (n > len - done)
            n = len - done;
        ok = c->type->encrypt(c->state, buf + done, &n) == srtp_err_status_ok;
        done += n;
    }
    c->type->dealloc(c);
    return ok && done == len;
}

/* The reference: OpenSSL's AES-CTR from (salt || 00 00) XOR iv. */
static bool ref_ctr(int key_size, const uint8_t *key, const uint8_t iv[16], uint8_t *buf,
                    unsigned len)
{
    const EVP_CIPHER *ctr = key_size == 32 ? EVP_aes_256_ctr() : key_size == 24
                                                                     ? EVP_aes_192_ctr()
                                                                     : EVP_aes_128_ctr();
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    uint8_t c0[16] = { 0 };
    int out = 0;
    bool ok;

    memcpy(c0, key + key_size, 14);
    for (int i = 0; i < 16; i++)
        c0[i] ^= iv[i];
    ok = x && EVP_EncryptInit_ex(x, ctr, NULL, key, c0) == 1 &&
         EVP_EncryptUpdate(x, buf, &out, buf, (int)len) == 1 && out == (int)len;
    EVP_CIPHER_CTX_free(x);
    return ok;
}

int main(void)
{
    static const struct {
        srtp_cipher_type_id_t id;
        int key_size;
    } types[] = { { SRTP_AES_ICM_128, 16 }, { SRTP_AES_ICM_192, 24 }, { SRTP_AES_ICM_256, 32 } };
    uint8_t key[46], iv[16] = { 0 }, buf[2048], want[2048];
    const char *desc = NULL;

    tap_ok(srtp_init() == srtp_err_status_ok && rec_icm_install() == srtp_err_status_ok,
           "libsrtp initialised; the replacements passed libsrtp's self-tests and are installed");

    /* RFC 3711 B.2: session key, salt, keystream segment for index 0. */
    {
        uint8_t ks[48], expect[48];
        unhex("2B7E151628AED2A6ABF7158809CF4F3C"
              "F0F1F2F3F4F5F6F7F8F9FAFBFCFD",
              key);
        unhex("E03EAD0935C95E80E166B16DD92B4EB4"
              "D23513162B02D0F72A43A2FE4A5F97AB"
              "41E95B3BB0A2E8DD477901E4FCA894C0",
              expect);
        memset(ks, 0, sizeof(ks));
        memset(iv, 0, sizeof(iv));
        tap_ok(icm(SRTP_AES_ICM_128, key, 30, iv, ks, sizeof(ks), 1, &desc) &&
                   memcmp(ks, expect, sizeof(ks)) == 0,
               "RFC 3711 B.2 keystream (blocks 0-2)");
        memset(ks, 0, sizeof(ks));
        tap_ok(icm(SRTP_AES_ICM_128, key, 30, iv, ks, sizeof(ks), 5, NULL) &&
                   memcmp(ks, expect, sizeof(ks)) == 0,
               "the same keystream in five uneven calls");
        tap_ok(desc && strstr(desc, "srtprec"), "SRTP_AES_ICM_128 is the recorder's (%s)",
               desc ? desc : "none");
    }
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        bool all = true;
        int klen = types[t].key_size + 14;
        for (int n = 0; n < 300 && all; n++) {
            unsigned len = (unsigned)(n * 53 % (int)sizeof(buf));
            unsigned parts = 1 + (unsigned)(n % 4);
            RAND_bytes(key, sizeof(key));
            RAND_bytes(iv, sizeof(iv));
            iv[14] = iv[15] = 0;      /* SRTP IVs: the low 16 bits count blocks */
            if (n % 50 == 7)
                iv[13] = iv[14] = 0xff; /* carries past the low 16 bits */
            RAND_bytes(buf, sizeof(buf));
            memcpy(want, buf, len);
            if (!icm(types[t].id, key, klen, iv, buf, len, parts, NULL) ||
                !ref_ctr(types[t].key_size, key, iv, want, len) || memcmp(buf, want, len)) {
                tap_diag("case %d: %u bytes in %u calls differ from OpenSSL's CTR", n, len, parts);
                all = false;
            }
        }
        tap_ok(all, "AES-%d-ICM agrees with OpenSSL's AES-CTR on 300 random cases",
               8 * types[t].key_size);
    }
    {
        srtp_cipher_t *c = NULL;
        tap_ok(srtp_crypto_kernel_alloc_cipher(SRTP_AES_ICM_128, &c, 31, 0) != srtp_err_status_ok,
               "a key length that is no AES-ICM one is refused");
    }
    srtp_shutdown();
    return tap_done();
}
