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

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no timegm(), no TZ. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool take_digits(struct slice *cur, size_t n, unsigned *out)
{
    unsigned v = 0;

    if (cur->len < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = cur->p[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    slice_skip(cur, n);
    *out = v;
    return true;
}

static bool take_char(struct slice *cur, char a, char b)
{
    if (cur->len == 0 || (cur->p[0] != a && cur->p[0] != b))
        return false;
    slice_skip(cur, 1);
    return true;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

/* The zone of a date-time: Z, an offset, or (when allowed) nothing. */
static bool take_zone(struct slice *c, unsigned flags, int64_t *off)
{
    unsigned oh, om;
    int sign;

    *off = 0;
    if (take_char(c, 'Z', 'z'))
        return true;
    if (c->len == 0)
        return (flags & SR_WALL_ZONE_OPTIONAL) != 0;
    if ((flags & SR_WALL_UTC_ONLY) || (c->p[0] != '+' && c->p[0] != '-'))
        return false;
    sign = c->p[0] == '-' ? -1 : 1;
    slice_skip(c, 1);
    if (!(take_digits(c, 2, &oh) && take_char(c, ':', ':') && take_digits(c, 2, &om)) || oh > 23 ||
        om > 59)
        return false;
    *off = sign * (int64_t)(oh * 3600 + om * 60);
    return true;
}

bool sr_wall_parse(struct slice s, unsigned flags, uint64_t *wall_us)
{
    struct slice c = s;
    unsigned y, mo, d, h, mi, sec;
    uint64_t frac_us = 0, scale = 100000;
    int64_t t, off;

    if (!(take_digits(&c, 4, &y) && take_char(&c, '-', '-') && take_digits(&c, 2, &mo) &&
          take_char(&c, '-', '-') && take_digits(&c, 2, &d) && take_char(&c, 'T', 't') &&
          take_digits(&c, 2, &h) && take_char(&c, ':', ':') && take_digits(&c, 2, &mi) &&
          take_char(&c, ':', ':') && take_digits(&c, 2, &sec)))
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 59)
        return false;
    if (take_char(&c, '.', '.')) {
        size_t n = 0;

        while (c.len > 0 && c.p[0] >= '0' && c.p[0] <= '9') {
            if (n++ >= 9)
                return false; /* more precision than anyone means */
            frac_us += (uint64_t)(c.p[0] - '0') * scale;
            scale /= 10;
            slice_skip(&c, 1);
        }
        if (n == 0)
            return false;
    }
    if (!take_zone(&c, flags, &off) || c.len != 0)
        return false;
    t = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + sec) - off;
    if (t < 0)
        return false;
    *wall_us = (uint64_t)t * 1000000u + frac_us;
    return true;
}

bool sr_time_parse(struct slice s, enum sr_time_bound bound, uint64_t *wall_us)
{
    struct slice c = s;
    unsigned y, mo, d;
    uint64_t v;

    if (s.len == 0 || s.len > 40)
        return false;
    /* Epoch seconds: digits only, up to 9999-12-31T23:59:59Z. */
    if (slice_find(s, '-') < 0 && slice_find(s, ':') < 0) {
        if (!slice_to_u64(s, 253402300799ull, &v))
            return false;
        *wall_us = v * 1000000u;
        return true;
    }
    /* RFC 3339 full-date alone: the whole UTC day. */
    if (s.len == 10) {
        if (!(take_digits(&c, 4, &y) && take_char(&c, '-', '-') && take_digits(&c, 2, &mo) &&
              take_char(&c, '-', '-') && take_digits(&c, 2, &d)) ||
            y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
            return false;
        *wall_us = (uint64_t)days_from_civil(y, mo, d) * 86400u * 1000000u +
                   (bound == SR_TIME_LAST ? 86400ull * 1000000u - 1 : 0);
        return true;
    }
    return sr_wall_parse(s, 0, wall_us);
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
