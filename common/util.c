/** @file util.c  Time, encodings and secret handling. */
#include "util.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sr_now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

uint64_t sr_wall_us(void)
{
    return clock_us(CLOCK_REALTIME);
}

void sr_wall_fmt(uint64_t wall_us, char *out, size_t outlen)
{
    time_t t = (time_t)(wall_us / 1000000u);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_us / 1000u % 1000u));
}

size_t sr_b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
    size_t need = 4 * ((len + 2) / 3) + 1;

    if (outlen < need || len > INT32_MAX / 2)
        return 0;
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Hand-rolled rather than EVP_DecodeBlock: that one accepts whitespace and
 * does not report padding, and a key body must be exact. */
bool sr_b64_decode(struct slice in, uint8_t *out, size_t outcap, size_t *outlen)
{
    size_t n = 0;

    if (in.len % 4 != 0)
        return false;
    for (size_t i = 0; i < in.len; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t j = 0; j < 4; j++) {
            char c = in.p[i + j];
            if (c == '=' && i + 4 == in.len && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad)
                return false; /* data after padding */
            v[j] = b64_val(c);
            if (v[j] < 0)
                return false;
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        size_t take = 3 - pad;
        if (n + take > outcap)
            return false;
        out[n++] = (uint8_t)(w >> 16);
        if (take > 1)
            out[n++] = (uint8_t)(w >> 8);
        if (take > 2)
            out[n++] = (uint8_t)w;
    }
    *outlen = n;
    return true;
}

void sr_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool sr_hex_decode(struct slice in, uint8_t *out, size_t outlen)
{
    if (in.len != 2 * outlen)
        return false;
    for (size_t i = 0; i < outlen; i++) {
        int hi = hex_val(in.p[2 * i]), lo = hex_val(in.p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

enum sr_err sr_random(void *out, size_t len)
{
    if (len > INT32_MAX)
        return SR_EINVAL;
    return RAND_bytes(out, (int)len) == 1 ? SR_OK : SR_ECRYPTO;
}

void sr_wipe(void *p, size_t len)
{
    if (p && len)
        OPENSSL_cleanse(p, len);
}

bool sr_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

void sr_key_id(const uint8_t *key, size_t len, char out[17])
{
    uint8_t md[SHA256_DIGEST_LENGTH];

    SHA256(key, len, md);
    sr_hex_encode(md, 8, out);
    sr_wipe(md, sizeof(md));
}

enum sr_err sr_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sr_err_from_errno(errno);
        }
        p += w;
        len -= (size_t)w;
    }
    return SR_OK;
}
