/** @file testcert.c  Throwaway certificates via the OpenSSL API (no openssl CLI needed). */
#include "testcert.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

bool testcert_make(const char *dir, const char *name, enum testcert_kind kind, char *cert,
                   char *key)
{
    EVP_PKEY *pk = kind == TESTCERT_EC ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
    X509 *x = X509_new();
    X509_NAME *n;
    FILE *f;
    bool ok = false;

    if (!pk || !x)
        goto out;
    snprintf(cert, 4096, "%s/%s.crt", dir, name);
    snprintf(key, 4096, "%s/%s.key", dir, name);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
    X509_set_pubkey(x, pk);
    n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_version(x, 2);
    if (!X509_sign(x, pk, EVP_sha256()))
        goto out;
    if (!(f = fopen(cert, "w")))
        goto out;
    ok = PEM_write_X509(f, x) == 1;
    fclose(f);
    if (!ok || !(f = fopen(key, "w"))) {
        ok = false;
        goto out;
    }
    ok = PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1;
    fclose(f);
out:
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok;
}

bool testcert_tmpdir(char *out)
{
    const char *t = getenv("TMPDIR");

    snprintf(out, 4096, "%s/srtprec-stor-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(out) != NULL;
}

void testcert_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[8192];

    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

unsigned char *testcert_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        b = malloc((size_t)n + 1);
        if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
            free(b);
            b = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return b;
}

bool testcert_spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    bool ok;

    if (!f)
        return false;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}
