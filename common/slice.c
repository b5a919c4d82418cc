/** @file slice.c  Borrowed byte views. */
#include "slice.h"

#include <string.h>

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

struct slice slice_of(const char *p, size_t len)
{
    return (struct slice){ p, len };
}

struct slice slice_cstr(const char *s)
{
    return s ? (struct slice){ s, strlen(s) } : (struct slice){ "", 0 };
}

bool slice_eq(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool slice_eq_nocase(struct slice a, struct slice b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (lower(a.p[i]) != lower(b.p[i]))
            return false;
    return true;
}

bool slice_starts_nocase(struct slice s, struct slice prefix)
{
    return s.len >= prefix.len && slice_eq_nocase(slice_of(s.p, prefix.len), prefix);
}

bool slice_is_empty(struct slice s)
{
    return s.len == 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct slice slice_trim(struct slice s)
{
    while (s.len && is_ws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_ws(s.p[s.len - 1]))
        s.len--;
    return s;
}

long slice_find(struct slice s, char c)
{
    const char *hit = s.len ? memchr(s.p, c, s.len) : NULL;
    return hit ? (long)(hit - s.p) : -1;
}

bool slice_skip(struct slice *cur, size_t n)
{
    if (cur->len < n)
        return false;
    cur->p += n;
    cur->len -= n;
    return true;
}

struct slice slice_split(struct slice *cur, char sep)
{
    long i = slice_find(*cur, sep);
    struct slice head = *cur;

    if (i < 0) {
        cur->p += cur->len;
        cur->len = 0;
        return head;
    }
    head.len = (size_t)i;
    cur->p += i + 1;
    cur->len -= (size_t)i + 1;
    return head;
}

bool slice_to_u64(struct slice s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (s.len == 0 || s.len > 20)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d;
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        d = (unsigned)(s.p[i] - '0');
        if (d > max || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool slice_copy_cstr(struct slice s, char *dst, size_t dstlen)
{
    if (dstlen == 0)
        return false;
    if (s.len >= dstlen) {
        dst[0] = '\0';
        return false;
    }
    if (s.len)
        memcpy(dst, s.p, s.len);
    dst[s.len] = '\0';
    return true;
}
