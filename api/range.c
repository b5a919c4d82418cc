/** @file range.c  HTTP Range (RFC 9110 section 14) and entity-tag checks for downloads.
 *
 * Only one byte range is served.  Several ranges, other units and syntax
 * errors make the Range header "ignored" (section 14.2: a server MAY ignore
 * it and send 200 with the whole file), which is safer than multipart bodies
 * and what curl and browsers cope with.  Every number is bounded by the file
 * size or by UINT64_MAX via slice_to_u64, so no overflow is reachable.
 */
#include <string.h>

#include "api_priv.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static struct slice trim_ows(struct slice s)
{
    while (s.len && is_ows(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_ows(s.p[s.len - 1]))
        s.len--;
    return s;
}

static bool all_digits(struct slice s)
{
    if (s.len == 0 || s.len > 20) /* 20 digits hold UINT64_MAX; longer is hostile */
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return true;
}

enum api_range api_range_parse(struct slice h, uint64_t size, uint64_t *first, uint64_t *len)
{
    struct slice unit = SLICE_LIT("bytes="), spec, a, b;
    uint64_t x, y;
    long dash;

    if (h.len > API_RANGE_MAX)
        return API_RANGE_IGNORE;
    h = trim_ows(h);
    /* section 14.1: the range unit is case-insensitive */
    if (!slice_starts_nocase(h, unit))
        return API_RANGE_IGNORE;
    spec = trim_ows(slice_of(h.p + unit.len, h.len - unit.len));
    if (slice_find(spec, ',') >= 0)
        return API_RANGE_IGNORE; /* several ranges: whole file */
    dash = slice_find(spec, '-');
    if (dash < 0)
        return API_RANGE_IGNORE;
    a = slice_of(spec.p, (size_t)dash);
    b = slice_of(spec.p + dash + 1, spec.len - (size_t)dash - 1);

    if (a.len == 0) { /* suffix-range "-N": the last N bytes */
        if (!all_digits(b) || !slice_to_u64(b, UINT64_MAX, &y))
            return API_RANGE_IGNORE;
        if (y == 0 || size == 0)
            return API_RANGE_UNSATISFIABLE; /* section 14.1.1: no bytes selected */
        if (y > size)
            y = size;
        *first = size - y;
        *len = y;
        return API_RANGE_PARTIAL;
    }
    if (!all_digits(a) || !slice_to_u64(a, UINT64_MAX, &x))
        return API_RANGE_IGNORE;
    if (b.len == 0) {
        y = UINT64_MAX; /* "N-": to the end */
    } else {
        if (!all_digits(b) || !slice_to_u64(b, UINT64_MAX, &y))
            return API_RANGE_IGNORE;
        if (y < x)
            return API_RANGE_IGNORE; /* section 14.1.1: invalid, not unsatisfiable */
    }
    if (x >= size)
        return API_RANGE_UNSATISFIABLE;
    if (y >= size)
        y = size - 1;
    *first = x;
    *len = y - x + 1;
    return API_RANGE_PARTIAL;
}

/* One entity-tag at the front of *cur (section 8.8.3): [W/] DQUOTE etagc* DQUOTE.
 * On success *opaque is the quoted string including its quotes. */
static bool take_etag(struct slice *cur, struct slice *opaque, bool *weak)
{
    struct slice s = *cur;
    size_t i;

    *weak = false;
    if (s.len >= 2 && s.p[0] == 'W' && s.p[1] == '/') {
        *weak = true;
        s.p += 2;
        s.len -= 2;
    }
    if (s.len < 2 || s.p[0] != '"')
        return false;
    for (i = 1; i < s.len && s.p[i] != '"'; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x21 || c == 0x7f) /* etagc = %x21 / %x23-7E / obs-text */
            return false;
    }
    if (i == s.len)
        return false;
    *opaque = slice_of(s.p, i + 1);
    cur->p = s.p + i + 1;
    cur->len = s.len - i - 1;
    return true;
}

bool api_etag_list_match(struct slice h, struct slice etag, bool strong)
{
    struct slice cur = trim_ows(h), tag;
    bool weak;
    size_t n = 0;

    if (h.len > API_RANGE_MAX)
        return false;
    if (slice_eq(cur, SLICE_LIT("*")))
        return !strong; /* If-None-Match: * matches any current representation */
    while (cur.len) {
        if (++n > API_ETAGS_MAX)
            return false;
        if (!take_etag(&cur, &tag, &weak))
            return false; /* malformed: treat the condition as not met */
        if (slice_eq(tag, etag) && !(strong && weak))
            return true;
        cur = trim_ows(cur);
        if (cur.len == 0)
            break;
        if (cur.p[0] != ',')
            return false;
        cur = trim_ows(slice_of(cur.p + 1, cur.len - 1));
    }
    return false;
}
