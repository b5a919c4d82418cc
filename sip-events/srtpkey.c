/** @file srtpkey.c  The suite table and the RFC 4568 key-params parser/printer (srtpkey.h). */
#include <stdio.h>
#include <string.h>

#include "srtpkey.h"
#include "util.h"

/* ----------------------------------------------------------------- suites */

/* Lengths: RFC 4568 6.2 (AES_CM_128, F8), RFC 6188 (AES_192/256_CM), RFC 7714
 * 12 (GCM: 12-byte salt, 16-byte tag on both).  RFC 4568 6.2.1: the _32 suites
 * put a 32-bit tag on SRTP only; SRTCP keeps 80 bits.  NULL_HMAC_* are not
 * IANA-registered but sent by some SBCs (rtpengine offers them): named here so
 * that a refusal says so rather than "unknown". */
static const struct srtpkey_suite_info suites[] = {
    { SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80, "AES_CM_128_HMAC_SHA1_80", 16, 14, 10, 10, true, NULL,
      "RFC 4568" },
    { SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_32, "AES_CM_128_HMAC_SHA1_32", 16, 14, 4, 10, true, NULL,
      "RFC 4568" },
    { SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_80, "AES_256_CM_HMAC_SHA1_80", 32, 14, 10, 10, true, NULL,
      "RFC 6188" },
    { SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_32, "AES_256_CM_HMAC_SHA1_32", 32, 14, 4, 10, true, NULL,
      "RFC 6188" },
    { SRTPKEY_SUITE_AEAD_AES_128_GCM, "AEAD_AES_128_GCM", 16, 12, 16, 16, true, NULL, "RFC 7714" },
    { SRTPKEY_SUITE_AEAD_AES_256_GCM, "AEAD_AES_256_GCM", 32, 12, 16, 16, true, NULL, "RFC 7714" },
    { SRTPKEY_SUITE_AES_192_CM_HMAC_SHA1_80, "AES_192_CM_HMAC_SHA1_80", 24, 14, 10, 10, false,
      "AES_192 suites are refused: libsrtp 2.5 derives their session keys wrongly", "RFC 6188" },
    { SRTPKEY_SUITE_AES_192_CM_HMAC_SHA1_32, "AES_192_CM_HMAC_SHA1_32", 24, 14, 4, 10, false,
      "AES_192 suites are refused: libsrtp 2.5 derives their session keys wrongly", "RFC 6188" },
    { SRTPKEY_SUITE_F8_128_HMAC_SHA1_80, "F8_128_HMAC_SHA1_80", 16, 14, 10, 10, false,
      "F8_128_HMAC_SHA1_80 is refused: libsrtp 2.5 has no AES-f8", "RFC 4568" },
    { SRTPKEY_SUITE_NULL_HMAC_SHA1_80, "NULL_HMAC_SHA1_80", 16, 14, 10, 10, false,
      "NULL_HMAC suites are refused: media without encryption is not recorded as SRTP", "-" },
    { SRTPKEY_SUITE_NULL_HMAC_SHA1_32, "NULL_HMAC_SHA1_32", 16, 14, 4, 10, false,
      "NULL_HMAC suites are refused: media without encryption is not recorded as SRTP", "-" },
};

const struct srtpkey_suite_info *srtpkey_suite(enum srtpkey_suite id)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(suites); i++)
        if (suites[i].id == id)
            return &suites[i];
    return NULL;
}

const struct srtpkey_suite_info *srtpkey_suite_find(struct slice name)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(suites); i++)
        if (slice_eq(name, slice_cstr(suites[i].name)))
            return &suites[i];
    return NULL;
}

enum sr_err srtpkey_suite_parse(struct slice name, enum srtpkey_suite *out, const char **why)
{
    const struct srtpkey_suite_info *s = srtpkey_suite_find(name);

    if (!s)
        return (*why = "unknown crypto suite"), SR_EUNSUPP;
    if (!s->decrypts)
        return (*why = s->refused), SR_EUNSUPP;
    *out = s->id;
    return SR_OK;
}

const char *srtpkey_suite_name(enum srtpkey_suite id)
{
    const struct srtpkey_suite_info *s = srtpkey_suite(id);

    return s ? s->name : NULL;
}

bool srtpkey_suite_ok(enum srtpkey_suite id)
{
    const struct srtpkey_suite_info *s = srtpkey_suite(id);

    return s && s->decrypts;
}

/* ------------------------------------------------------------- key-params */

void srtpkey_key_wipe(struct srtpkey_key *k)
{
    if (k)
        sr_wipe(k, sizeof(*k));
}

static bool all_digits(struct slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return true;
}

/* Decimal with at most max_digits digits (leading zeros count: the grammar
 * allows them, the digit bound keeps the value in 64 bits). */
static bool dec(struct slice s, size_t max_digits, uint64_t *out)
{
    uint64_t v = 0;

    if (!all_digits(s) || s.len > max_digits)
        return false;
    for (size_t i = 0; i < s.len; i++)
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    *out = v;
    return true;
}

/* lifetime = ["2^"] 1*(DIGIT) */
static enum sr_err lifetime_parse(struct slice f, uint64_t *out, const char **why)
{
    uint64_t v;

    if (f.len >= 2 && f.p[0] == '2' && f.p[1] == '^') {
        if (!dec(slice_of(f.p + 2, f.len - 2), 2, &v))
            return (*why = "malformed lifetime (want 2^n or decimal)"), SR_EPARSE;
        if (v > SRTPKEY_LIFETIME_LOG2)
            return (*why = "lifetime 2^n with n over 48"), SR_EPARSE;
        *out = (uint64_t)1 << v;
        return SR_OK;
    }
    if (!all_digits(f))
        return (*why = "malformed lifetime (want 2^n or decimal)"), SR_EPARSE;
    if (!dec(f, 15, &v) || v > (uint64_t)1 << SRTPKEY_LIFETIME_LOG2)
        return (*why = "lifetime over 2^48 packets"), SR_EPARSE;
    if (v == 0)
        return (*why = "lifetime 0"), SR_EPARSE;
    *out = v;
    return SR_OK;
}

/* mki = mki-value ":" mki-length; mki-length = 1*3DIGIT, 1..128 */
static enum sr_err mki_parse(struct slice f, long colon, struct srtpkey_key *k, const char **why)
{
    struct slice val = slice_of(f.p, (size_t)colon);
    struct slice len = slice_of(f.p + colon + 1, f.len - (size_t)colon - 1);
    uint64_t l = 0, v;

    if (!all_digits(val) || !all_digits(len) || len.len > 3 || !dec(len, 3, &l))
        return (*why = "malformed MKI (want <decimal value>:<length in bytes>)"), SR_EPARSE;
    if (l == 0 || l > SRTPKEY_MKI_RFC_MAX)
        return (*why = "MKI length not 1..128 bytes"), SR_EPARSE;
    if (l > SRTPKEY_MKI_MAX)
        return (*why = "MKI longer than 4 bytes (srtprec takes 1..4)"), SR_EUNSUPP;
    while (val.len > 1 && val.p[0] == '0')
        slice_skip(&val, 1);
    if (!dec(val, 10, &v) || (l < 8 && v >> (8 * l)))
        return (*why = "MKI value does not fit its length"), SR_EPARSE;
    k->mki = (uint32_t)v;
    k->mki_len = (unsigned)l;
    return SR_OK;
}

static enum sr_err param_parse(struct slice t, const struct srtpkey_suite_info *s,
                               struct srtpkey_key *k, const char **why)
{
    struct slice b64;
    long bar, colon;
    bool have_lifetime = false;
    enum sr_err err;

    if (!slice_starts_nocase(t, SLICE_LIT("inline:"))) {
        /* key-method-ext = 1*(ALPHA / DIGIT / "_"): well-formed, not ours. */
        colon = slice_find(t, ':');
        for (long i = 0; i < colon; i++) {
            char c = t.p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_')) {
                colon = -1;
                break;
            }
        }
        if (colon > 0)
            return (*why = "key method is not inline: (RFC 4568 defines no other)"), SR_EUNSUPP;
        return (*why = "key-param is not inline:<key||salt>"), SR_EPARSE;
    }
    slice_skip(&t, 7);
    bar = slice_find(t, '|');
    b64 = bar < 0 ? t : slice_of(t.p, (size_t)bar);
    if (b64.len == 0)
        return (*why = "empty key||salt"), SR_EPARSE;
    {
        /* RFC 4568 says base64 (RFC 3548, padded); rtpengine 10.5 and others
         * leave the padding off where key||salt is not a multiple of 3
         * bytes (AEAD_AES_256_GCM's 44).  The suite fixes the length, so
         * the padding carries nothing: it is restored, never guessed
         * (one '=' or two, nothing else is accepted). */
        char padded[96];
        size_t rem = b64.len % 4;
        if (rem >= 2 && b64.len + 4 - rem <= sizeof(padded) && slice_find(b64, '=') < 0) {
            memcpy(padded, b64.p, b64.len);
            memset(padded + b64.len, '=', 4 - rem);
            b64 = slice_of(padded, b64.len + 4 - rem);
        }
        if (!sr_b64_decode(b64, k->master, sizeof(k->master), &k->master_len))
            return (*why = "key||salt is not valid base64"), SR_EPARSE;
    }
    if (k->master_len != s->key_len + s->salt_len)
        return (*why = "key||salt length does not match the suite"), SR_EPARSE;
    while (bar >= 0) {
        struct slice f;
        slice_skip(&t, (size_t)bar + 1);
        bar = slice_find(t, '|');
        f = bar < 0 ? t : slice_of(t.p, (size_t)bar);
        if (f.len == 0)
            return (*why = "empty key-param field (\"||\" or a trailing \"|\")"), SR_EPARSE;
        colon = slice_find(f, ':');
        if (colon >= 0) {
            if (k->mki_len)
                return (*why = "more than one MKI"), SR_EPARSE;
            err = mki_parse(f, colon, k, why);
        } else if (have_lifetime || k->mki_len) {
            return (*why = "lifetime repeated or after the MKI"), SR_EPARSE;
        } else {
            err = lifetime_parse(f, &k->lifetime, why);
            have_lifetime = true;
        }
        if (err)
            return err;
    }
    return SR_OK;
}

enum sr_err srtpkey_param_parse(struct slice text, enum srtpkey_suite suite,
                                struct srtpkey_key *out, const char **why)
{
    const struct srtpkey_suite_info *s = srtpkey_suite(suite);
    enum sr_err err;

    if (!out || !why)
        return SR_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!s || !s->decrypts)
        return (*why = s ? s->refused : "unknown crypto suite"), SR_EUNSUPP;
    err = param_parse(text, s, out, why);
    if (err)
        srtpkey_key_wipe(out);
    return err;
}

void srtpkey_set_init(struct srtpkey_set *set)
{
    memset(set, 0, sizeof(*set));
}

enum sr_err srtpkey_set_add(struct srtpkey_set *set, uint32_t mki, unsigned mki_len,
                            const char **why)
{
    if (set->n == SRTPKEY_MAX_KEYS)
        return (*why = "more than 4 keys for one stream"), SR_ELIMIT;
    if (set->n > 0) {
        if (mki_len == 0 || set->mki_len == 0)
            return (*why = "several keys need an MKI each"), SR_EPARSE;
        if (mki_len != set->mki_len)
            return (*why = "the MKIs of one stream differ in length"), SR_EPARSE;
        for (size_t i = 0; i < set->n; i++)
            if (set->mki[i] == mki)
                return (*why = "two keys of one stream have the same MKI"), SR_EPARSE;
    }
    set->mki_len = mki_len;
    set->mki[set->n++] = mki;
    return SR_OK;
}

enum sr_err srtpkey_params_parse(struct slice text, enum srtpkey_suite suite,
                                 struct srtpkey_key *keys, size_t cap, size_t *n,
                                 const char **why)
{
    struct srtpkey_set set;
    enum sr_err err = SR_OK;
    size_t got = 0;
    long semi;

    if (!keys || !n || !why)
        return SR_EINVAL;
    *n = 0;
    srtpkey_set_init(&set);
    do {
        semi = slice_find(text, ';');
        struct slice kp = semi < 0 ? text : slice_of(text.p, (size_t)semi);
        if (kp.len == 0) {
            *why = "empty key-param (\";;\" or a trailing \";\")";
            err = SR_EPARSE;
            break;
        }
        if (got == cap) {
            *why = "more than 4 keys for one stream";
            err = SR_ELIMIT;
            break;
        }
        err = srtpkey_param_parse(kp, suite, &keys[got], why);
        if (!err)
            err = srtpkey_set_add(&set, keys[got].mki, keys[got].mki_len, why);
        if (err)
            break;
        got++;
        if (semi >= 0)
            slice_skip(&text, (size_t)semi + 1);
    } while (semi >= 0);
    if (err) {
        for (size_t i = 0; i < cap; i++)
            srtpkey_key_wipe(&keys[i]);
        return err;
    }
    *n = got;
    return SR_OK;
}

enum sr_err srtpkey_param_print(const struct srtpkey_key *k, enum srtpkey_suite suite, char *out,
                                size_t cap, size_t *len)
{
    const struct srtpkey_suite_info *s = srtpkey_suite(suite);
    char b64[4 * ((SRTPKEY_MAX_MASTER + 2) / 3) + 1];
    size_t n;
    int w;

    if (!k || !out || cap == 0)
        return SR_EINVAL;
    out[0] = '\0';
    if (!s || !s->decrypts || k->master_len != s->key_len + s->salt_len ||
        k->mki_len > SRTPKEY_MKI_MAX || (k->mki_len && k->mki_len < 4 && k->mki >> (8 * k->mki_len)) ||
        k->lifetime > (uint64_t)1 << SRTPKEY_LIFETIME_LOG2)
        return SR_EINVAL;
    if (!sr_b64_encode(k->master, k->master_len, b64, sizeof(b64)))
        return SR_EINVAL;
    w = snprintf(out, cap, "inline:%s", b64);
    sr_wipe(b64, sizeof(b64));
    n = w < 0 ? cap : (size_t)w;
    if (n < cap && k->lifetime) {
        if (k->lifetime > 1 && (k->lifetime & (k->lifetime - 1)) == 0) {
            unsigned e = 0;
            while (((uint64_t)1 << e) != k->lifetime)
                e++;
            w = snprintf(out + n, cap - n, "|2^%u", e);
        } else {
            w = snprintf(out + n, cap - n, "|%llu", (unsigned long long)k->lifetime);
        }
        n = w < 0 ? cap : n + (size_t)w;
    }
    if (n < cap && k->mki_len) {
        w = snprintf(out + n, cap - n, "|%lu:%u", (unsigned long)k->mki, k->mki_len);
        n = w < 0 ? cap : n + (size_t)w;
    }
    if (n >= cap) {
        sr_wipe(out, cap);
        out[0] = '\0';
        return SR_ELIMIT;
    }
    if (len)
        *len = n;
    return SR_OK;
}
