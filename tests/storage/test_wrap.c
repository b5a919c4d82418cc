/** @file test_wrap.c  Data-key wrapping: RSA-OAEP and ECDH recipients, PKCS#1 v1.5 blocks
 *  of older archives, and the openssl CLI on both sides. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "stor_priv.h"
#include "tap.h"
#include "testcert.h"

static int run(const char *const argv[])
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static bool have_openssl(void)
{
    const char *const argv[] = { "sh", "-c", "command -v openssl", NULL };
    return run(argv) == 0;
}

/* The key-transport algorithm of the block's only RecipientInfo (NID), or
 * NID_undef; *type gets CMS_RECIPINFO_*. */
static int recip_alg(const struct buf *der, int *type)
{
    const unsigned char *p = (const unsigned char *)der->p;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der->len);
    STACK_OF(CMS_RecipientInfo) *ris = cms ? CMS_get0_RecipientInfos(cms) : NULL;
    int nid = NID_undef;

    *type = -1;
    if (ris && sk_CMS_RecipientInfo_num(ris) == 1) {
        CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, 0);
        X509_ALGOR *alg = NULL;
        *type = CMS_RecipientInfo_type(ri);
        if (*type == CMS_RECIPINFO_TRANS &&
            CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg) == 1 && alg)
            nid = OBJ_obj2nid(alg->algorithm);
        if (*type == CMS_RECIPINFO_AGREE &&
            CMS_RecipientInfo_kari_get0_alg(ri, &alg, NULL) == 1 && alg)
            nid = OBJ_obj2nid(alg->algorithm);
    }
    CMS_ContentInfo_free(cms);
    return nid;
}

/* A block as CMS_encrypt writes it by default: RSA PKCS#1 v1.5 (what every
 * archive before OAEP holds). */
static bool wrap_v15(X509 *cert, const uint8_t key[STOR_KEY_LEN], struct buf *der)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    BIO *in = BIO_new_mem_buf(key, STOR_KEY_LEN);
    CMS_ContentInfo *cms = NULL;
    unsigned char *out = NULL;
    bool ok = false;
    int n;

    if (certs && in && sk_X509_push(certs, cert) &&
        (cms = CMS_encrypt(certs, in, EVP_aes_256_cbc(), CMS_BINARY)) &&
        (n = i2d_CMS_ContentInfo(cms, &out)) > 0)
        ok = buf_append(der, out, (size_t)n) == SR_OK;
    OPENSSL_free(out);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    sk_X509_free(certs);
    return ok;
}

struct who {
    char crt[4096], key[4096];
    X509 *x;
    EVP_PKEY *pk;
};

static bool load(struct who *w, const char *dir, const char *name, enum testcert_kind kind)
{
    const char *why;
    return testcert_make(dir, name, kind, w->crt, w->key) &&
           stor_creds_load(w->crt, w->key, &w->x, &w->pk, &why) == SR_OK;
}

static void cli_decrypt(const char *dir, const struct who *w, const struct buf *der,
                        const uint8_t key[STOR_KEY_LEN], const char *what)
{
    char blk[8192], out[8192];
    unsigned char *k;
    size_t klen = 0;

    snprintf(blk, sizeof(blk), "%s/blk.der", dir);
    snprintf(out, sizeof(out), "%s/blk.key", dir);
    testcert_spit(blk, (const unsigned char *)der->p, der->len);
    const char *const argv[] = { "openssl", "cms", "-decrypt", "-inform", "DER", "-in", blk,
                                 "-recip", w->crt, "-inkey", w->key, "-binary", "-out", out,
                                 NULL };
    k = run(argv) == 0 ? testcert_slurp(out, &klen) : NULL;
    tap_ok(k && klen == STOR_KEY_LEN && memcmp(k, key, STOR_KEY_LEN) == 0,
           "openssl cms -decrypt recovers the data key (%s)", what);
    free(k);
    unlink(blk);
    unlink(out);
}

/* openssl cms -encrypt with OAEP (another implementation's block) unwraps here. */
static void cli_encrypt_oaep(const char *dir, const struct who *w)
{
    char in[8192], blk[8192];
    uint8_t key[STOR_KEY_LEN], got[STOR_KEY_LEN];
    unsigned char *d;
    size_t len = 0;

    snprintf(in, sizeof(in), "%s/plain.key", dir);
    snprintf(blk, sizeof(blk), "%s/cli.der", dir);
    RAND_bytes(key, sizeof(key));
    testcert_spit(in, key, sizeof(key));
    const char *const argv[] = { "openssl", "cms", "-encrypt", "-binary", "-aes256", "-in", in,
                                 "-outform", "DER", "-out", blk, "-recip", w->crt, "-keyopt",
                                 "rsa_padding_mode:oaep", NULL };
    d = run(argv) == 0 ? testcert_slurp(blk, &len) : NULL;
    tap_ok(d && stor_key_unwrap(w->x, w->pk, d, len, got) == SR_OK &&
               memcmp(got, key, sizeof(key)) == 0,
           "a block from openssl cms -encrypt -keyopt rsa_padding_mode:oaep unwraps");
    free(d);
    unlink(in);
    unlink(blk);
}

int main(void)
{
    char dir[4096];
    struct who rsa = { 0 }, ec = { 0 }, other = { 0 };
    uint8_t key[STOR_KEY_LEN], got[STOR_KEY_LEN];
    struct buf der;
    int type, nid;

    buf_init(&der, STOR_MAX_RECIP_DER);

    if (!tap_ok(testcert_tmpdir(dir), "temp dir"))
        return tap_done();
    if (!tap_ok(load(&rsa, dir, "rsa", TESTCERT_RSA) && load(&ec, dir, "ec", TESTCERT_EC) &&
                    load(&other, dir, "other", TESTCERT_RSA),
                "throwaway RSA and EC credentials"))
        return tap_done();
    RAND_bytes(key, sizeof(key));

    /* RSA: OAEP. */
    tap_ok(stor_key_wrap(rsa.x, key, &der) == SR_OK, "wrap to an RSA recipient");
    nid = recip_alg(&der, &type);
    tap_ok(type == CMS_RECIPINFO_TRANS && nid == NID_rsaesOaep,
           "RSA recipient: KeyTransRecipientInfo with rsaesOaep (got %s)", OBJ_nid2sn(nid));
    memset(got, 0, sizeof(got));
    tap_ok(stor_key_unwrap(rsa.x, rsa.pk, (const uint8_t *)der.p, der.len, got) == SR_OK &&
               memcmp(got, key, sizeof(key)) == 0,
           "OAEP block unwraps to the data key");
    tap_ok(stor_key_unwrap(other.x, other.pk, (const uint8_t *)der.p, der.len, got) == SR_ENOTFOUND,
           "another RSA key is not a recipient");
    if (have_openssl()) {
        cli_decrypt(dir, &rsa, &der, key, "RSA-OAEP");
    } else {
        tap_skip("openssl CLI not installed");
    }
    buf_fini(&der);
    buf_init(&der, STOR_MAX_RECIP_DER);

    /* EC: ECDH key agreement. */
    tap_ok(stor_key_wrap(ec.x, key, &der) == SR_OK, "wrap to an EC recipient");
    nid = recip_alg(&der, &type);
    tap_ok(type == CMS_RECIPINFO_AGREE && nid == NID_dhSinglePass_stdDH_sha256kdf_scheme,
           "EC recipient: KeyAgreeRecipientInfo (%s)", OBJ_nid2sn(nid));
    tap_ok(stor_key_unwrap(ec.x, ec.pk, (const uint8_t *)der.p, der.len, got) == SR_OK &&
               memcmp(got, key, sizeof(key)) == 0,
           "ECDH block unwraps to the data key");
    if (have_openssl()) {
        cli_decrypt(dir, &ec, &der, key, "EC");
    } else {
        tap_skip("openssl CLI not installed");
    }
    buf_fini(&der);
    buf_init(&der, STOR_MAX_RECIP_DER);

    /* PKCS#1 v1.5, as older archives hold it: still unwraps. */
    tap_ok(wrap_v15(rsa.x, key, &der), "a PKCS#1 v1.5 block (CMS_encrypt's default)");
    nid = recip_alg(&der, &type);
    tap_ok(type == CMS_RECIPINFO_TRANS && nid == NID_rsaEncryption, "it is rsaEncryption");
    memset(got, 0, sizeof(got));
    tap_ok(stor_key_unwrap(rsa.x, rsa.pk, (const uint8_t *)der.p, der.len, got) == SR_OK &&
               memcmp(got, key, sizeof(key)) == 0,
           "a PKCS#1 v1.5 block still unwraps");
    buf_fini(&der);
    buf_init(&der, STOR_MAX_RECIP_DER);

    if (have_openssl()) {
        cli_encrypt_oaep(dir, &rsa);
    } else {
        tap_skip("openssl CLI not installed");
    }

    X509_free(rsa.x);
    EVP_PKEY_free(rsa.pk);
    X509_free(ec.x);
    EVP_PKEY_free(ec.pk);
    X509_free(other.x);
    EVP_PKEY_free(other.pk);
    testcert_rmdir(dir);
    return tap_done();
}
