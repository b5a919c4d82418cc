/** @file vecfile.c  See vecfile.h. */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vecfile.h"

static bool is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Append the hex digits of s (spaces ignored) to v. */
static bool append_hex(struct vec *v, const char *s)
{
    char digits[2 * VEC_BYTES];
    size_t n = 0;

    for (; *s; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            continue;
        if (!is_hex((unsigned char)*s) || n >= sizeof(digits))
            return false;
        digits[n++] = *s;
    }
    if (n % 2 || v->len + n / 2 > VEC_BYTES)
        return false;
    if (n && !sr_hex_decode(slice_of(digits, n), v->b + v->len, n / 2))
        return false;
    v->len += n / 2;
    return true;
}

bool vecfile_load(struct vecfile *vf, const char *path)
{
    char line[512];
    struct vec *cur = NULL;
    FILE *f = fopen(path, "re");
    bool ok = true;

    memset(vf, 0, sizeof(*vf));
    if (!f)
        return false;
    while (ok && fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (line[0] == ' ' || line[0] == '\t') {
            ok = cur && append_hex(cur, line);
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq || vf->n >= VEC_MAX) {
            ok = false;
            break;
        }
        cur = &vf->v[vf->n++];
        size_t nl = (size_t)(eq - line);
        while (nl && (line[nl - 1] == ' ' || line[nl - 1] == '\t'))
            nl--;
        ok = slice_copy_cstr(slice_of(line, nl), cur->name, sizeof(cur->name)) &&
             append_hex(cur, eq + 1);
    }
    fclose(f);
    return ok;
}

const uint8_t *vecfile_get(const struct vecfile *vf, const char *name, size_t *len)
{
    for (size_t i = 0; i < vf->n; i++) {
        if (strcmp(vf->v[i].name, name) == 0) {
            if (len)
                *len = vf->v[i].len;
            return vf->v[i].b;
        }
    }
    return NULL;
}
