/** @file guard.h  Copies that end flush against a PROT_NONE page (picohttpparser),
 *  so any read past the end of a parser's input faults at once. */
#ifndef SR_GUARD_H
#define SR_GUARD_H

#include <stddef.h>

/** Returns a pointer to len bytes equal to data, ending at an inaccessible
 *  page.  Valid until the next guard_copy() call in the same process. */
const char *guard_copy(const void *data, size_t len);

#endif
