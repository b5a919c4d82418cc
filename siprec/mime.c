/** @file mime.c  The RFC 2045 header-value grammar the body parsers need:
 *  type/subtype, ";"-separated parameters, quoted-strings. */
#include <string.h>

#include "siprec_priv.h"

bool mime_tchar(char c)
{
    unsigned char u = (unsigned char)c;

    /* token: any CHAR except SPACE, CTLs and tspecials (RFC 2045 5.1) */
    return u > 0x20 && u < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

static bool all_tchar(struct slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!mime_tchar(s.p[i]))
            return false;
    return true;
}

bool mime_type_split(struct slice value, struct slice *type, struct slice *params)
{
    long semi = slice_find(value, ';');
    struct slice t = semi < 0 ? value : slice_of(value.p, (size_t)semi);
    long slash;

    t = slice_trim(t);
    slash = slice_find(t, '/');
    if (slash < 0 || !all_tchar(slice_of(t.p, (size_t)slash)) ||
        !all_tchar(slice_of(t.p + slash + 1, t.len - (size_t)slash - 1)))
        return false;
    *type = t;
    *params = semi < 0 ? slice_of(value.p + value.len, 0)
                       : slice_of(value.p + semi, value.len - (size_t)semi);
    return true;
}

/* Length of the quoted-string at the front of s (quotes included), 0 if
 * it never closes. */
static size_t quoted_len(struct slice s)
{
    for (size_t i = 1; i < s.len; i++) {
        if (s.p[i] == '\\')
            i++;
        else if (s.p[i] == '"')
            return i + 1;
    }
    return 0;
}

bool mime_param_next(struct slice *params, struct slice *name, struct slice *value, bool *done)
{
    struct slice cur = *params;
    long eq;
    size_t i;

    *done = false;
    cur = slice_trim(cur);
    /* Empty parameters (";;", a trailing ";") are tolerated. */
    while (cur.len && cur.p[0] == ';') {
        slice_skip(&cur, 1);
        cur = slice_trim(cur);
    }
    if (cur.len == 0) {
        *params = cur;
        *done = true;
        return true;
    }
    for (i = 0; i < cur.len && cur.p[i] != ';' && cur.p[i] != '='; i++)
        ;
    *name = slice_trim(slice_of(cur.p, i));
    if (!all_tchar(*name))
        return false;
    if (i == cur.len || cur.p[i] == ';') {
        *value = slice_of(cur.p + i, 0);
        slice_skip(&cur, i);
        *params = cur;
        return true;
    }
    eq = (long)i;
    cur = slice_trim(slice_of(cur.p + eq + 1, cur.len - (size_t)eq - 1));
    if (cur.len && cur.p[0] == '"') {
        size_t q = quoted_len(cur);
        struct slice rest;

        if (q == 0)
            return false;
        *value = slice_of(cur.p, q);
        rest = slice_trim(slice_of(cur.p + q, cur.len - q));
        if (rest.len && rest.p[0] != ';')
            return false;
        *params = rest;
        return true;
    }
    for (i = 0; i < cur.len && cur.p[i] != ';'; i++)
        if (cur.p[i] == '"')
            return false;
    *value = slice_trim(slice_of(cur.p, i));
    slice_skip(&cur, i);
    *params = cur;
    return true;
}

bool mime_unquote(struct slice value, char *out, size_t cap, size_t *len)
{
    size_t n = 0;

    if (cap == 0)
        return false;
    if (value.len >= 2 && value.p[0] == '"') {
        for (size_t i = 1; i + 1 < value.len; i++) {
            char c = value.p[i];

            if (c == '\\')
                c = value.p[++i];
            if (n + 1 >= cap) {
                out[0] = '\0';
                return false;
            }
            out[n++] = c;
        }
    } else {
        if (value.len >= cap) {
            out[0] = '\0';
            return false;
        }
        memcpy(out, value.p, value.len);
        n = value.len;
    }
    out[n] = '\0';
    if (len)
        *len = n;
    return true;
}
