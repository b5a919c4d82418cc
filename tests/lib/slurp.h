/** @file slurp.h  Read a whole (small) file into memory for test helpers. */
#ifndef SR_SLURP_H
#define SR_SLURP_H

#include <stddef.h>

/** A malloc'd copy of the file (one spare byte after it), or NULL.  The caller frees it. */
unsigned char *slurp(const char *path, size_t *len);

#endif
