/** @file buf.h  A growable byte buffer with a hard maximum (curl's dynbuf).
 *
 * Members are read-only to callers; change them only through these calls.
 */
#ifndef SR_BUF_H
#define SR_BUF_H

#include <stddef.h>

#include "err.h"

struct buf {
    char *p;    /**< owned; NULL until the first append */
    size_t len; /**< bytes in use */
    size_t cap; /**< bytes allocated */
    size_t max; /**< appends that would pass this fail with SR_ELIMIT */
};

void buf_init(struct buf *b, size_t max);
/** Frees the storage after wiping it (buffers may hold secrets); NULL-safe. */
void buf_fini(struct buf *b);
enum sr_err buf_append(struct buf *b, const void *data, size_t len);
enum sr_err buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Ensure room for n more bytes; returns a pointer to them (NULL on failure). */
char *buf_reserve(struct buf *b, size_t n, enum sr_err *err);
/** Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);

#endif
