/** @file icm.c  AES counter mode (SRTP's AES-ICM) for libsrtp2 without a cipher re-init per
 *  packet.
 *
 * libsrtp's OpenSSL backend (crypto/cipher/aes_icm_ossl.c) sets each
 * packet's counter with EVP_EncryptInit_ex on an AES-CTR context, which in
 * OpenSSL 3 goes through the provider's init each time.  Here the key
 * schedule is set once (AES-ECB, no padding) and each call encrypts the
 * counter blocks it needs in one EVP_EncryptUpdate, then XORs: the same
 * keystream (RFC 3711 section 4.1.1; the 128-bit counter incremented
 * big-endian, as OpenSSL's CTR mode does); bench_srtp's unprotect went from
 * 0.47-0.50 to 0.40-0.43 µs per packet.  AES itself stays OpenSSL's (AES-NI).
 * libsrtp runs its own known-answer test cases for the three key sizes on
 * this type when srtp_replace_cipher_type installs it; rec_srtp_self_test
 * then runs the RFC 3711 vectors (AES-CM and the key derivation, which
 * uses this cipher too) through the whole path.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* libsrtp's own crypto-kernel header (the source tree's crypto/include). */
#include "cipher.h"

#include "rec_crypto.h"

enum { BLOCK = 16, SALT = 14, BATCH = 32 /* counter blocks per ECB call: 512 bytes */ };

struct rec_icm {
    srtp_cipher_t cipher; /* first: libsrtp sees one allocation */
    EVP_CIPHER_CTX *ecb;
    int key_size;         /* AES key bytes: 16, 24 or 32 */
    uint8_t offset[BLOCK]; /* salt, low 16 bits zero */
    uint64_t ctr_hi, ctr_lo; /* the next counter block, as two big-endian halves */
    uint8_t ks[BLOCK];     /* keystream of the last block, partly used */
    unsigned ks_left;      /* its unused bytes (at its end) */
};

/* libsrtp's test cases for its AES-ICM types (crypto/cipher/cipher_test_cases.c). */
extern const srtp_cipher_test_case_t srtp_aes_icm_128_test_case_0;
extern const srtp_cipher_test_case_t srtp_aes_icm_192_test_case_0;
extern const srtp_cipher_test_case_t srtp_aes_icm_256_test_case_0;

extern const srtp_cipher_type_t rec_icm_128, rec_icm_192, rec_icm_256;

/* Byte order by bswap (gcc and clang): written as byte loops these were
 * most of this file's time. */
static uint64_t be64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* Eight bytes at a time: the byte loop was most of this file's cost. */
static void xor_into(uint8_t *dst, const uint8_t *ks, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, dst + i, 8);
        memcpy(&b, ks + i, 8);
        a ^= b;
        memcpy(dst + i, &a, 8);
    }
    for (; i < n; i++)
        dst[i] ^= ks[i];
}

static srtp_err_status_t icm_alloc(srtp_cipher_t **c, int key_len, int tlen)
{
    struct rec_icm *k;
    const srtp_cipher_type_t *type;
    int algorithm, key_size;

    (void)tlen;
    switch (key_len) {
    case SRTP_AES_ICM_128_KEY_LEN_WSALT:
        type = &rec_icm_128, algorithm = SRTP_AES_ICM_128, key_size = SRTP_AES_128_KEY_LEN;
        break;
    case SRTP_AES_ICM_192_KEY_LEN_WSALT:
        type = &rec_icm_192, algorithm = SRTP_AES_ICM_192, key_size = SRTP_AES_192_KEY_LEN;
        break;
    case SRTP_AES_ICM_256_KEY_LEN_WSALT:
        type = &rec_icm_256, algorithm = SRTP_AES_ICM_256, key_size = SRTP_AES_256_KEY_LEN;
        break;
    default:
        return srtp_err_status_bad_param;
    }
    k = calloc(1, sizeof(*k));
    if (!k)
        return srtp_err_status_alloc_fail;
    k->ecb = EVP_CIPHER_CTX_new();
    if (!k->ecb) {
        free(k);
        return srtp_err_status_alloc_fail;
    }
    k->cipher.type = type;
    k->cipher.state = k;
    k->cipher.key_len = key_len;
    k->cipher.algorithm = algorithm;
    k->key_size = key_size;
    *c = &k->cipher;
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_dealloc(srtp_cipher_t *c)
{
    struct rec_icm *k = (struct rec_icm *)c; /* cipher is the first member */

    if (!c)
        return srtp_err_status_bad_param;
    EVP_CIPHER_CTX_free(k->ecb); /* cleanses its key schedule */
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_init(void *state, const uint8_t *key)
{
    struct rec_icm *k = state;
    const EVP_CIPHER *ecb = k->key_size == 32   ? EVP_aes_256_ecb()
                            : k->key_size == 24 ? EVP_aes_192_ecb()
                                                : EVP_aes_128_ecb();

    memset(k->offset, 0, sizeof(k->offset));
    memcpy(k->offset, key + k->key_size, SALT); /* the low 16 bits stay zero */
    k->ctr_hi = be64(k->offset);
    k->ctr_lo = be64(k->offset + 8);
    k->ks_left = 0;
    if (EVP_CIPHER_CTX_reset(k->ecb) != 1 || EVP_EncryptInit_ex(k->ecb, ecb, NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(k->ecb, 0) != 1)
        return srtp_err_status_init_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
    struct rec_icm *k = state;

    (void)dir;
    k->ctr_hi = be64(k->offset) ^ be64(iv);
    k->ctr_lo = be64(k->offset + 8) ^ be64(iv + 8);
    k->ks_left = 0;
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_encrypt(void *state, uint8_t *buf, unsigned int *len)
{
    struct rec_icm *k = state;
    uint8_t ctrs[BATCH * BLOCK], ks[BATCH * BLOCK];
    size_t n = *len, done = 0;
    srtp_err_status_t st = srtp_err_status_ok;

    /* What is left of the previous call's last block first. */
    while (k->ks_left && done < n)
        buf[done++] ^= k->ks[BLOCK - k->ks_left--];
    while (done < n) {
        size_t blocks = (n - done + BLOCK - 1) / BLOCK, bytes;
        int out = 0;
        if (blocks > BATCH)
            blocks = BATCH;
        /* The counter lives in registers: incremented as bytes in the state,
         * each block's 16-byte copy waited on the byte stores just before it. */
        uint64_t hi = k->ctr_hi, lo = k->ctr_lo;
        for (size_t b = 0; b < blocks; b++) {
            put_be64(ctrs + b * BLOCK, hi);
            put_be64(ctrs + b * BLOCK + 8, lo);
            hi += ++lo == 0; /* 128-bit big-endian increment */
        }
        k->ctr_hi = hi;
        k->ctr_lo = lo;
        if (EVP_EncryptUpdate(k->ecb, ks, &out, ctrs, (int)(blocks * BLOCK)) != 1 ||
            out != (int)(blocks * BLOCK)) {
            st = srtp_err_status_cipher_fail;
            break;
        }
        bytes = n - done < blocks * BLOCK ? n - done : blocks * BLOCK;
        xor_into(buf + done, ks, bytes);
        if (bytes % BLOCK) { /* keep the last block's rest for a next call */
            memcpy(k->ks, ks + bytes / BLOCK * BLOCK, BLOCK);
            k->ks_left = BLOCK - (unsigned)(bytes % BLOCK);
        }
        done += bytes;
    }
    /* ks is not wiped: a packet's keystream is its plaintext XOR its
     * ciphertext, both of which this process holds anyway, and wiping
     * 512 bytes per packet cost more than the AES. */
    return st;
}

#define ICM_TYPE(name, desc, tc, id)                                                               \
    const srtp_cipher_type_t name = {                                                              \
        icm_alloc, icm_dealloc, icm_init, NULL, icm_encrypt, icm_encrypt, icm_set_iv, NULL,      \
        desc,      &tc,         id,                                                                \
    }

ICM_TYPE(rec_icm_128, "AES-128 counter mode (srtprec: ECB keystream over OpenSSL)",
         srtp_aes_icm_128_test_case_0, SRTP_AES_ICM_128);
ICM_TYPE(rec_icm_192, "AES-192 counter mode (srtprec: ECB keystream over OpenSSL)",
         srtp_aes_icm_192_test_case_0, SRTP_AES_ICM_192);
ICM_TYPE(rec_icm_256, "AES-256 counter mode (srtprec: ECB keystream over OpenSSL)",
         srtp_aes_icm_256_test_case_0, SRTP_AES_ICM_256);

srtp_err_status_t rec_icm_install(void)
{
    srtp_err_status_t st;

    if ((st = srtp_replace_cipher_type(&rec_icm_128, SRTP_AES_ICM_128)) ||
        (st = srtp_replace_cipher_type(&rec_icm_192, SRTP_AES_ICM_192)))
        return st;
    return srtp_replace_cipher_type(&rec_icm_256, SRTP_AES_ICM_256);
}
