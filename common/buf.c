/** @file buf.c  Bounded growable buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void buf_init(struct buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void buf_fini(struct buf *b)
{
    if (!b)
        return;
    sr_wipe(b->p, b->cap);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *buf_reserve(struct buf *b, size_t n, enum sr_err *err)
{
    size_t need, cap;
    char *np;

    *err = SR_OK;
    if (n > b->max || b->len > b->max - n) {
        *err = SR_ELIMIT;
        return NULL;
    }
    need = b->len + n;
    if (need <= b->cap)
        return b->p + b->len;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    /* Not realloc: the old block may hold secrets and must be wiped. */
    np = malloc(cap);
    if (!np) {
        *err = SR_ENOMEM;
        return NULL;
    }
    if (b->len)
        memcpy(np, b->p, b->len);
    sr_wipe(b->p, b->cap);
    free(b->p);
    b->p = np;
    b->cap = cap;
    return b->p + b->len;
}

enum sr_err buf_append(struct buf *b, const void *data, size_t len)
{
    enum sr_err err;
    char *dst;

    if (len == 0)
        return SR_OK;
    dst = buf_reserve(b, len, &err);
    if (!dst)
        return err;
    memcpy(dst, data, len);
    b->len += len;
    return SR_OK;
}

enum sr_err buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *dst;
    enum sr_err err;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SR_EINVAL;
    dst = buf_reserve(b, (size_t)n + 1, &err);
    if (!dst)
        return err;
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SR_OK;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}
