/** @file slice.h  Borrowed byte views and bounded cursor helpers.
 *
 * A slice never owns its bytes; whoever hands one out states how long they
 * stay valid.  Cursor helpers advance *cur only on success, so calls chain
 * with &&, and never read past p + len.
 */
#ifndef SR_SLICE_H
#define SR_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct slice {
    const char *p;
    size_t len;
};
#define SLICE_LIT(s) ((struct slice){ (s), sizeof(s) - 1 })
#define SLICE_NULL ((struct slice){ NULL, 0 })
/** printf helper: printf("%.*s", SLICE_FMT(s)) */
#define SLICE_FMT(s) (int)(s).len, (s).p

struct slice slice_of(const char *p, size_t len);
struct slice slice_cstr(const char *s); /**< NULL gives an empty slice */

bool slice_eq(struct slice a, struct slice b);
bool slice_eq_nocase(struct slice a, struct slice b);          /**< ASCII case rules */
bool slice_starts_nocase(struct slice s, struct slice prefix); /**< ASCII case rules */
bool slice_is_empty(struct slice s);

/** Strip leading and trailing SP, HTAB, CR and LF. */
struct slice slice_trim(struct slice s);

/** Index of the first c in s, or -1. */
long slice_find(struct slice s, char c);

/** Advance by n; false (and no change) if fewer than n bytes remain. */
bool slice_skip(struct slice *cur, size_t n);

/** Take bytes up to (not including) the first sep; consume sep too.  If sep is
 *  absent, take everything.  Always succeeds. */
struct slice slice_split(struct slice *cur, char sep);

/** Decimal digits only, no sign, value <= max; false on anything else. */
bool slice_to_u64(struct slice s, uint64_t max, uint64_t *out);

/** Copy into a NUL-terminated buffer; false if it does not fit (dst then ""). */
bool slice_copy_cstr(struct slice s, char *dst, size_t dstlen);

#endif
