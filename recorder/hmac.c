/** @file hmac.c  HMAC-SHA1 for libsrtp2 without an allocation per packet.
 *
 * libsrtp's OpenSSL backend (crypto/hash/hmac_ossl.c) re-initialises an
 * EVP_MAC_CTX for every packet; OpenSSL 3.0 implements that as a duplicate
 * of the keyed digest context, i.e. a malloc and a free, twice (inner and
 * outer hash), plus provider dispatch over several cold allocations per
 * stream.  Here the keyed inner and outer SHA-1 states are computed once
 * per key and copied by value per packet (RFC 2104: H(K^opad || H(K^ipad ||
 * m))): bench_srtp's whole unprotect went from 0.65-0.68 to 0.47-0.50 µs
 * per packet (docs/benchmarks.md).  The SHA-1 itself stays
 * OpenSSL's (SHA extensions); only the HMAC construction is ours, and
 * libsrtp runs its known-answer self-test on it when it is installed with
 * srtp_replace_auth_type (the RFC 2202 cases below), as does
 * rec_srtp_self_test (RFC 3711 vectors) through the whole SRTP path.
 *
 * OpenSSL 3 marks SHA1_Init/Update/Final deprecated in favour of EVP,
 * whose per-use context duplication is what this file avoids.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

/* libsrtp's own crypto-kernel header (the source tree's crypto/include). */
#include "auth.h"

#include "rec_hmac.h"

enum { BLOCK = 64 };

struct rec_hmac {
    srtp_auth_t auth; /* first: libsrtp sees one allocation */
    SHA_CTX inner;    /* SHA-1 after K ^ ipad */
    SHA_CTX outer;    /* SHA-1 after K ^ opad */
    SHA_CTX work;     /* the packet being authenticated */
};

extern const srtp_auth_type_t rec_hmac_sha1;

static srtp_err_status_t hmac_alloc(srtp_auth_t **a, int key_len, int out_len)
{
    struct rec_hmac *h;

    if (out_len < 0 || out_len > SHA_DIGEST_LENGTH || key_len < 0)
        return srtp_err_status_bad_param;
    h = calloc(1, sizeof(*h));
    if (!h)
        return srtp_err_status_alloc_fail;
    h->auth.type = &rec_hmac_sha1;
    h->auth.state = h;
    h->auth.out_len = out_len;
    h->auth.key_len = key_len;
    h->auth.prefix_len = 0;
    *a = &h->auth;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_dealloc(srtp_auth_t *a)
{
    struct rec_hmac *h = (struct rec_hmac *)a; /* auth is the first member */

    OPENSSL_cleanse(h, sizeof(*h)); /* keyed states */
    free(h);
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_init(void *state, const uint8_t *key, int key_len)
{
    struct rec_hmac *h = state;
    uint8_t k[BLOCK] = { 0 }, pad[BLOCK];
    srtp_err_status_t st = srtp_err_status_auth_fail;

    if (key_len < 0 || (key_len > 0 && !key))
        return srtp_err_status_bad_param;
    if (key_len > BLOCK) { /* RFC 2104: a longer key is hashed first */
        if (!SHA1(key, (size_t)key_len, k))
            goto out;
    } else if (key_len > 0) {
        memcpy(k, key, (size_t)key_len);
    }
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    if (!SHA1_Init(&h->inner) || !SHA1_Update(&h->inner, pad, BLOCK))
        goto out;
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    if (!SHA1_Init(&h->outer) || !SHA1_Update(&h->outer, pad, BLOCK))
        goto out;
    h->work = h->inner;
    st = srtp_err_status_ok;
out:
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    return st;
}

static srtp_err_status_t hmac_start(void *state)
{
    struct rec_hmac *h = state;

    h->work = h->inner;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_update(void *state, const uint8_t *msg, int len)
{
    struct rec_hmac *h = state;

    if (len < 0)
        return srtp_err_status_bad_param;
    return SHA1_Update(&h->work, msg, (size_t)len) ? srtp_err_status_ok
                                                   : srtp_err_status_auth_fail;
}

static srtp_err_status_t hmac_compute(void *state, const uint8_t *msg, int len, int tag_len,
                                      uint8_t *result)
{
    struct rec_hmac *h = state;
    uint8_t d[SHA_DIGEST_LENGTH];
    srtp_err_status_t st = srtp_err_status_auth_fail;

    if (len < 0 || tag_len < 0 || tag_len > SHA_DIGEST_LENGTH)
        return srtp_err_status_bad_param;
    if (!SHA1_Update(&h->work, msg, (size_t)len) || !SHA1_Final(d, &h->work))
        goto out;
    h->work = h->outer;
    if (!SHA1_Update(&h->work, d, sizeof(d)) || !SHA1_Final(d, &h->work))
        goto out;
    memcpy(result, d, (size_t)tag_len);
    st = srtp_err_status_ok;
out:
    OPENSSL_cleanse(d, sizeof(d));
    return st;
}

/* RFC 2202 section 3, test cases 1 and 6 (a key longer than a block). */
static const uint8_t tc1_key[20] = { 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                                     0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b };
static const uint8_t tc1_data[] = "Hi There";
static const uint8_t tc1_tag[20] = { 0xb6, 0x17, 0x31, 0x86, 0x55, 0x05, 0x72, 0x64, 0xe2, 0x8b,
                                     0xc0, 0xb6, 0xfb, 0x37, 0x8c, 0x8e, 0xf1, 0x46, 0xbe, 0x00 };
static const uint8_t tc6_key[80] = { /* 80 bytes of 0xaa */
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
};
static const uint8_t tc6_data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
static const uint8_t tc6_tag[20] = { 0xaa, 0x4a, 0xe5, 0xe1, 0x52, 0x72, 0xd0, 0x0e, 0x95, 0x70,
                                     0x56, 0x37, 0xce, 0x8a, 0x3b, 0x55, 0xed, 0x40, 0x21, 0x12 };

static const srtp_auth_test_case_t tc6 = {
    (int)sizeof(tc6_key), tc6_key, (int)sizeof(tc6_data) - 1, tc6_data, 20, tc6_tag, NULL,
};
static const srtp_auth_test_case_t tc1 = {
    (int)sizeof(tc1_key), tc1_key, (int)sizeof(tc1_data) - 1, tc1_data, 20, tc1_tag, &tc6,
};

const srtp_auth_type_t rec_hmac_sha1 = {
    hmac_alloc, hmac_dealloc, hmac_init, hmac_compute, hmac_update, hmac_start,
    "hmac sha-1 (srtprec: precomputed pads over OpenSSL SHA-1)", &tc1, SRTP_HMAC_SHA1,
};

srtp_err_status_t rec_hmac_install(void)
{
    return srtp_replace_auth_type(&rec_hmac_sha1, SRTP_HMAC_SHA1);
}
