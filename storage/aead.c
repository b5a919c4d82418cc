/** @file aead.c  AES-256-GCM for chunks and the header tag.
 *
 * The data key is fresh per archive, so a nonce built from the chunk index
 * never repeats under one key; the header tag uses a nonce (all 0xff), and
 * a version 2 header's sealed call information another (all 0xfe), that no
 * chunk index can produce because indexes stay below 2^63.
 */
#include <string.h>

#include <openssl/evp.h>

#include "stor_priv.h"

enum { AAD_V1 = STOR_ID_LEN + 8 + 1 + STOR_HASH_LEN, AAD_LEN = AAD_V1 + STOR_PROGRESS_LEN,
       NONCE_LEN = 12 };

/* reuse: a context kept by the caller (re-initialised here, never freed),
 * or NULL for a temporary one. */
static enum sr_err gcm(EVP_CIPHER_CTX *reuse, bool enc, const uint8_t key[STOR_KEY_LEN],
                       const uint8_t nonce[NONCE_LEN], const uint8_t *aad, size_t aadlen,
                       const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[STOR_TAG_LEN])
{
    EVP_CIPHER_CTX *ctx;
    enum sr_err err = SR_ECRYPTO;
    uint8_t fin[32]; /* GCM's final step emits nothing; a real buffer keeps NULL out of it */
    int n = 0;

    if (len > INT32_MAX || aadlen > INT32_MAX)
        return SR_EINVAL;
    ctx = reuse ? reuse : EVP_CIPHER_CTX_new();
    if (!ctx)
        return SR_ENOMEM;
    /* A kept context set up for GCM already only needs key and nonce:
     * naming the cipher again makes OpenSSL rebuild (allocate) its state. */
    if (reuse && EVP_CIPHER_CTX_get0_cipher(ctx) != NULL &&
        EVP_CIPHER_CTX_is_encrypting(ctx) == (enc ? 1 : 0)) {
        if (EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) != 1)
            goto out;
    } else if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) != 1 ||
               EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
               EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, -1) != 1) {
        goto out;
    }
    if (aadlen && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
        goto out;
    if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
        goto out;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, STOR_TAG_LEN, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, fin, &n) != 1) {
        err = enc ? SR_ECRYPTO : SR_EAUTH;
        goto out;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, STOR_TAG_LEN, tag) != 1)
        goto out;
    err = SR_OK;
out:
    if (!reuse)
        EVP_CIPHER_CTX_free(ctx);
    return err;
}

/* Returns the AAD length: 57 bytes for a version-1 frame (flag 0 or 1),
 * 73 for one with a progress block, whose flag byte (3 or 4) stands where
 * v1 has 0 or 1, so that neither kind can pass for the other. */
static size_t chunk_params(const uint8_t id[STOR_ID_LEN], const uint8_t hh[STOR_HASH_LEN],
                           uint64_t index, bool final, const uint8_t *progress,
                           uint8_t nonce[NONCE_LEN], uint8_t aad[AAD_LEN])
{
    memset(nonce, 0, 4);
    stor_put64(nonce + 4, index);
    memcpy(aad, id, STOR_ID_LEN);
    stor_put64(aad + STOR_ID_LEN, index);
    if (progress)
        aad[STOR_ID_LEN + 8] = final ? STOR_FRAME_FINAL_P : STOR_FRAME_DATA_P;
    else
        aad[STOR_ID_LEN + 8] = final ? 1 : 0;
    memcpy(aad + STOR_ID_LEN + 9, hh, STOR_HASH_LEN);
    if (!progress)
        return AAD_V1;
    memcpy(aad + AAD_V1, progress, STOR_PROGRESS_LEN);
    return AAD_LEN;
}

enum sr_err stor_chunk_seal_inplace(EVP_CIPHER_CTX *ctx, const uint8_t key[STOR_KEY_LEN],
                                    const uint8_t id[STOR_ID_LEN],
                                    const uint8_t hh[STOR_HASH_LEN], uint64_t index, bool final,
                                    const uint8_t *progress, uint8_t *buf, size_t len,
                                    uint8_t tag[STOR_TAG_LEN])
{
    uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
    size_t alen;

    if (index >= (uint64_t)1 << 63)
        return SR_ELIMIT;
    alen = chunk_params(id, hh, index, final, progress, nonce, aad);
    return gcm(ctx, true, key, nonce, aad, alen, buf, len, buf, tag);
}

enum sr_err stor_chunk_open(const uint8_t key[STOR_KEY_LEN], const uint8_t id[STOR_ID_LEN],
                            const uint8_t hh[STOR_HASH_LEN], uint64_t index, bool final,
                            const uint8_t *progress, const uint8_t *ct, size_t ctlen,
                            uint8_t *out)
{
    uint8_t nonce[NONCE_LEN], aad[AAD_LEN], tag[STOR_TAG_LEN];
    size_t alen;

    if (ctlen < STOR_TAG_LEN || index >= (uint64_t)1 << 63)
        return SR_EINVAL;
    alen = chunk_params(id, hh, index, final, progress, nonce, aad);
    memcpy(tag, ct + ctlen - STOR_TAG_LEN, STOR_TAG_LEN);
    return gcm(NULL, false, key, nonce, aad, alen, ct, ctlen - STOR_TAG_LEN, out, tag);
}

enum sr_err stor_header_tag(const uint8_t key[STOR_KEY_LEN], const uint8_t *hdr, size_t len,
                            uint8_t tag[STOR_TAG_LEN])
{
    uint8_t nonce[NONCE_LEN];

    memset(nonce, 0xff, sizeof(nonce));
    return gcm(NULL, true, key, nonce, hdr, len, NULL, 0, NULL, tag);
}

enum sr_err stor_call_seal(const uint8_t key[STOR_KEY_LEN], const uint8_t *aad, size_t aadlen,
                           uint8_t *buf, size_t len, uint8_t tag[STOR_TAG_LEN])
{
    uint8_t nonce[NONCE_LEN];

    memset(nonce, 0xfe, sizeof(nonce));
    return gcm(NULL, true, key, nonce, aad, aadlen, buf, len, buf, tag);
}

enum sr_err stor_call_open(const uint8_t key[STOR_KEY_LEN], const uint8_t *aad, size_t aadlen,
                           const uint8_t *ct, size_t ctlen, uint8_t *out)
{
    uint8_t nonce[NONCE_LEN], tag[STOR_TAG_LEN];

    if (ctlen < STOR_TAG_LEN)
        return SR_EINVAL;
    memset(nonce, 0xfe, sizeof(nonce));
    memcpy(tag, ct + ctlen - STOR_TAG_LEN, STOR_TAG_LEN);
    return gcm(NULL, false, key, nonce, aad, aadlen, ct, ctlen - STOR_TAG_LEN, out, tag);
}
