/** @file paths.c  Archive paths from configuration, log-safe text.
 *
 * The index is written by the recorder but may be written by anyone who can
 * reach its file: a path read from it would let that person make the API
 * serve any file the API user can read.  So the API derives the path from
 * its own archive-dir and the id, and only compares the index's copy.
 */
#include <stdio.h>
#include <string.h>

#include "api_priv.h"

char *api_log_escape(const char *s, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool plain = ch >= 0x20 && ch < 0x7f && ch != '\\';
        size_t need = plain ? 1 : 4;

        if (o + need >= outlen)
            break; /* cut at a whole escape, never half of one */
        if (plain) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return out;
}

bool api_archive_path(const char *dir, struct slice id, char *out, size_t outlen)
{
    size_t dl = strlen(dir);
    int n;

    if (!api_id_valid(id))
        return false;
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    n = snprintf(out, outlen, "%.*s/%.*s.srec", (int)dl, dir, (int)id.len, id.p);
    return n > 0 && (size_t)n < outlen;
}
