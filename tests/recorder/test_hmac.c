/** @file test_hmac.c  The recorder's HMAC-SHA1 auth type for libsrtp: installed in place of
 *  libsrtp's, RFC 2202 known answers, split updates and reuse, and agreement with
 *  OpenSSL's one-shot HMAC over random keys and messages. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth.h" /* libsrtp's crypto kernel (crypto/include) */

#include "rec_hmac.h"
#include "tap.h"

/* libsrtp's crypto_kernel.h needs its build's config.h; this one
 * declaration is all the test uses of it. */
srtp_err_status_t srtp_crypto_kernel_alloc_auth(srtp_auth_type_id_t id, srtp_auth_pointer_t *ap,
                                                int key_len, int tag_len);

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

/* The tag of data under key through the installed SRTP_HMAC_SHA1 type,
 * with data split at `split` (start, update, compute). */
static bool tag_of(const uint8_t *key, int klen, const uint8_t *data, int dlen, int split,
                   int tlen, uint8_t *tag, const char **desc)
{
    srtp_auth_t *a = NULL;
    bool ok;

    if (srtp_crypto_kernel_alloc_auth(SRTP_HMAC_SHA1, &a, klen, tlen) != srtp_err_status_ok)
        return false;
    if (desc)
        *desc = a->type->description;
    ok = a->type->init(a->state, key, klen) == srtp_err_status_ok &&
         a->type->start(a->state) == srtp_err_status_ok &&
         a->type->update(a->state, data, split) == srtp_err_status_ok &&
         a->type->compute(a->state, data + split, dlen - split, tlen, tag) ==
             srtp_err_status_ok;
    /* Reuse: start again, the same tag whole. */
    if (ok) {
        uint8_t again[20];
        ok = a->type->start(a->state) == srtp_err_status_ok &&
             a->type->compute(a->state, data, dlen, tlen, again) == srtp_err_status_ok &&
             memcmp(again, tag, (size_t)tlen) == 0;
    }
    a->type->dealloc(a);
    return ok;
}

struct kat {
    const char *key_hex; /* NULL: key_byte x key_len */
    uint8_t key_byte;
    int key_len;
    const char *data;    /* NULL: data_byte x data_len */
    uint8_t data_byte;
    int data_len;
    const char *digest;
};

/* RFC 2202 section 3, test cases 1-7. */
static const struct kat kats[] = {
    { NULL, 0x0b, 20, "Hi There", 0, 0, "b617318655057264e28bc0b6fb378c8ef146be00" },
    { "4a656665", 0, 0, "what do ya want for nothing?", 0, 0,
      "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
    { NULL, 0xaa, 20, NULL, 0xdd, 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3" },
    { "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0, NULL, 0xcd, 50,
      "4c9007f4026250c6bc8414f9bf50c86c2d7235da" },
    { NULL, 0x0c, 20, "Test With Truncation", 0, 0, "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04" },
    { NULL, 0xaa, 80, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
      "aa4ae5e15272d00e95705637ce8a3b55ed402112" },
    { NULL, 0xaa, 80, "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
      0, 0, "e8e99d0f45237d786d6bbaa7965c7808bbff1a91" },
};

int main(void)
{
    const char *desc = NULL;
    uint8_t key[128], data[512], tag[20], want[20];
    bool all = true;

    tap_ok(srtp_init() == srtp_err_status_ok && rec_hmac_install() == srtp_err_status_ok,
           "libsrtp initialised; the replacement passed libsrtp's self-test and is installed");
    for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
        const struct kat *k = &kats[i];
        int klen = k->key_hex ? (int)unhex(k->key_hex, key) : k->key_len;
        int dlen = k->data ? (int)strlen(k->data) : k->data_len;
        if (!k->key_hex)
            memset(key, k->key_byte, (size_t)klen);
        if (k->data)
            memcpy(data, k->data, (size_t)dlen);
        else
            memset(data, k->data_byte, (size_t)dlen);
        unhex(k->digest, want);
        tap_ok(tag_of(key, klen, data, dlen, dlen / 3, 20, tag, &desc) &&
                   memcmp(tag, want, 20) == 0,
               "RFC 2202 case %zu", i + 1);
        /* SRTP's HMAC-SHA1-80 and -32 tags are prefixes of the digest. */
        tap_ok(tag_of(key, klen, data, dlen, 0, 10, tag, NULL) && memcmp(tag, want, 10) == 0 &&
                   tag_of(key, klen, data, dlen, dlen, 4, tag, NULL) &&
                   memcmp(tag, want, 4) == 0,
               "RFC 2202 case %zu truncated to 80 and 32 bits", i + 1);
    }
    tap_ok(desc && strstr(desc, "srtprec"), "SRTP_HMAC_SHA1 is the recorder's (%s)",
           desc ? desc : "none");
    for (int n = 0; n < 200 && all; n++) {
        int klen = n % 101, dlen = (n * 37) % (int)sizeof(data);
        unsigned int olen = 0;
        RAND_bytes(key, sizeof(key));
        RAND_bytes(data, sizeof(data));
        if (!HMAC(EVP_sha1(), key, klen, data, (size_t)dlen, want, &olen) ||
            !tag_of(key, klen, data, dlen, dlen / 2, 20, tag, NULL) || memcmp(tag, want, 20)) {
            tap_diag("key %d bytes, data %d bytes: differs from OpenSSL's HMAC", klen, dlen);
            all = false;
        }
    }
    tap_ok(all, "agrees with OpenSSL's HMAC() on 200 random keys (0-100 bytes) and messages");
    {
        srtp_auth_t *a = NULL;
        tap_ok(srtp_crypto_kernel_alloc_auth(SRTP_HMAC_SHA1, &a, 20, 21) != srtp_err_status_ok,
               "a tag longer than SHA-1's 20 bytes is refused");
    }
    srtp_shutdown();
    return tap_done();
}
