/** @file wrap.c  The data key wrapped to each recipient as CMS EnvelopedData (RFC 5652).
 *
 * One EnvelopedData per recipient block, DER, content = the 32-byte data key,
 * so `openssl cms -decrypt -inform DER -recip cert.pem -inkey key.pem`
 * recovers the key from a block on its own.  RSA recipients get
 * KeyTransRecipientInfo with RSAES-OAEP (SHA-256, MGF1-SHA-256; RFC 8017):
 * PKCS#1 v1.5, CMS_encrypt's default, is open to padding-oracle attacks
 * wherever a decryptor's failures can be told apart.  EC recipients get
 * KeyAgreeRecipientInfo (ephemeral-static ECDH, X9.63 KDF with SHA-256,
 * AES key wrap).  Unwrapping takes any of them, so archives written with
 * PKCS#1 v1.5 before OAEP stay readable.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "stor_priv.h"
#include "util.h"

enum sr_err stor_cert_load(const char *file, X509 **out)
{
    BIO *b = BIO_new_file(file, "r");

    *out = NULL;
    if (!b)
        return SR_EIO;
    *out = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    return *out ? SR_OK : SR_EPARSE;
}

struct stor_recipients {
    X509 *cert[STOR_MAX_RECIPIENTS];
    size_t n;
};

enum sr_err stor_recipients_load(struct stor_recipients **out, const char *const *files,
                                 size_t n, const char **why)
{
    struct stor_recipients *r;
    const char *dummy;
    enum sr_err err;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (!out || !files || n == 0) {
        *why = "no recipient certificate";
        return SR_EINVAL;
    }
    if (n > STOR_MAX_RECIPIENTS) {
        *why = "too many recipient certificates";
        return SR_ELIMIT;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return SR_ENOMEM;
    for (; r->n < n; r->n++)
        if ((err = stor_cert_load(files[r->n], &r->cert[r->n]))) {
            *why = err == SR_EIO ? "cannot open certificate file" : "certificate is not PEM X.509";
            stor_recipients_free(r);
            return err;
        }
    *out = r;
    return SR_OK;
}

void stor_recipients_free(struct stor_recipients *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        X509_free(r->cert[i]);
    free(r);
}

size_t stor_recipients_count(const struct stor_recipients *r)
{
    return r ? r->n : 0;
}

X509 *stor_recipients_get(const struct stor_recipients *r, size_t i)
{
    return r && i < r->n ? r->cert[i] : NULL;
}

enum sr_err stor_creds_load(const char *cert_file, const char *key_file, X509 **cert,
                            EVP_PKEY **pkey, const char **why)
{
    enum sr_err err;
    BIO *b;

    *pkey = NULL;
    if ((err = stor_cert_load(cert_file, cert))) {
        *why = err == SR_EIO ? "cannot open certificate file" : "certificate is not PEM X.509";
        return err;
    }
    b = BIO_new_file(key_file, "r");
    if (!b) {
        *why = "cannot open private key file";
        err = SR_EIO;
        goto fail;
    }
    *pkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!*pkey) {
        *why = "private key is not PEM (or is passphrase-protected)";
        err = SR_EPARSE;
        goto fail;
    }
    if (X509_check_private_key(*cert, *pkey) != 1) {
        *why = "private key does not match the certificate";
        err = SR_EAUTH;
        goto fail;
    }
    ERR_clear_error();
    return SR_OK;
fail:
    ERR_clear_error();
    EVP_PKEY_free(*pkey);
    X509_free(*cert);
    *pkey = NULL;
    *cert = NULL;
    return err;
}

/* RSA: OAEP with SHA-256 for both the hash and MGF1, set on the
 * recipient's own key context before CMS_final encrypts to it. */
static bool set_oaep(CMS_RecipientInfo *ri)
{
    EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);

    return pctx && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
}

/* EC: the X9.63 KDF with SHA-256 instead of OpenSSL's SHA-1 default
 * (dhSinglePass-stdDH-sha256kdf-scheme, RFC 5753). */
static bool set_ecdh_sha256(CMS_RecipientInfo *ri)
{
    EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);

    return pctx && EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0;
}

enum sr_err stor_key_wrap(X509 *cert, const uint8_t key[STOR_KEY_LEN], struct buf *der)
{
    const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_KEY_PARAM;
    CMS_ContentInfo *cms = NULL;
    CMS_RecipientInfo *ri;
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    BIO *in = NULL;
    unsigned char *out = NULL;
    enum sr_err err = SR_ECRYPTO;
    int n;

    if (!pub)
        goto done;
    in = BIO_new_mem_buf(key, STOR_KEY_LEN);
    if (!in)
        goto done;
    /* Partial, so that the recipient can be added with CMS_KEY_PARAM: its
     * key context is then ours to configure before anything is encrypted. */
    cms = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(), flags);
    if (!cms)
        goto done;
    ri = CMS_add1_recipient_cert(cms, cert, CMS_KEY_PARAM);
    if (!ri)
        goto done;
    if (EVP_PKEY_is_a(pub, "RSA") && !set_oaep(ri))
        goto done;
    if (EVP_PKEY_is_a(pub, "EC") && !set_ecdh_sha256(ri))
        goto done;
    if (CMS_final(cms, in, NULL, CMS_BINARY) != 1)
        goto done;
    n = i2d_CMS_ContentInfo(cms, &out);
    if (n <= 0)
        goto done;
    err = buf_append(der, out, (size_t)n);
done:
    OPENSSL_free(out);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    ERR_clear_error();
    return err;
}

/* Whether cert names one of the block's recipients (by issuer and serial or
 * subject key id), decided before any private-key operation. */
static bool is_recipient(CMS_ContentInfo *cms, X509 *cert)
{
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);

    for (int i = 0; ris && i < sk_CMS_RecipientInfo_num(ris); i++) {
        CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
        STACK_OF(CMS_RecipientEncryptedKey) *reks;
        switch (CMS_RecipientInfo_type(ri)) {
        case CMS_RECIPINFO_TRANS:
            if (CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
                return true;
            break;
        case CMS_RECIPINFO_AGREE:
            reks = CMS_RecipientInfo_kari_get0_reks(ri);
            for (int j = 0; reks && j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
                if (CMS_RecipientEncryptedKey_cert_cmp(
                        sk_CMS_RecipientEncryptedKey_value(reks, j), cert) == 0)
                    return true;
            break;
        default:
            break;
        }
    }
    return false;
}

enum sr_err stor_key_unwrap(X509 *cert, EVP_PKEY *pkey, const uint8_t *der, size_t len,
                            uint8_t key[STOR_KEY_LEN])
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms;
    BIO *out = NULL;
    enum sr_err err = SR_ECRYPTO;
    uint8_t tmp[STOR_KEY_LEN + 1];
    int n;

    if (len > STOR_MAX_RECIP_DER)
        return SR_EPARSE;
    ERR_clear_error();
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    if (!cms || p != der + len || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
        err = SR_EPARSE;
        goto done;
    }
    if (!is_recipient(cms, cert)) {
        err = SR_ENOTFOUND;
        goto done;
    }
    out = BIO_new(BIO_s_secmem());
    if (!out)
        goto done;
    /* With the certificate given, OpenSSL decrypts only the matching
     * RecipientInfo, and reports a failure instead of a random key. */
    if (CMS_decrypt(cms, pkey, cert, NULL, out, CMS_BINARY) != 1)
        goto done;
    n = BIO_read(out, tmp, sizeof(tmp));
    if (n != STOR_KEY_LEN) {
        err = SR_EPARSE;
        goto done;
    }
    memcpy(key, tmp, STOR_KEY_LEN);
    err = SR_OK;
done:
    sr_wipe(tmp, sizeof(tmp));
    BIO_free(out);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    return err;
}
