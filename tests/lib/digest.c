/** @file digest.c  Hex digests for tests (digest.h). */
#include "digest.h"

#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>

static void digest_hex(const EVP_MD *md, const void *p, size_t n, char *out)
{
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;

    EVP_Digest(p, n, d, &dl, md, NULL);
    for (unsigned i = 0; i < dl; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    out[2 * dl] = '\0';
}

void test_sha256_hex(const void *p, size_t n, char out[65])
{
    digest_hex(EVP_sha256(), p, n, out);
}

void test_md5_hex(const void *p, size_t n, char out[33])
{
    digest_hex(EVP_md5(), p, n, out);
}
