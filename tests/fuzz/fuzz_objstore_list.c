/** @file fuzz_objstore_list.c  ListObjectsV2 pages (objstore_list.h) on
 *  arbitrary bytes: never crashes; on success every key is terminated,
 *  non-empty and within OBJSTORE_KEY_MAX, n within the page, a truncated
 *  page has a token; a failure leaves the page zeroed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct objstore_list_page pg; /* 41 KiB: not on the stack */
    static const struct objstore_list_page zero;
    enum sr_err err = objstore_list_parse((const char *)data, size, &pg);

    if (err != SR_OK) {
        if (memcmp(&pg, &zero, sizeof(pg)) != 0)
            __builtin_trap();
        return 0;
    }
    if (pg.n > OBJSTORE_LIST_PAGE_MAX || (pg.truncated && !pg.next_token[0]) ||
        !memchr(pg.next_token, 0, sizeof(pg.next_token)))
        __builtin_trap();
    for (size_t i = 0; i < pg.n; i++) {
        const char *k = pg.entries[i].key;
        const char *z = memchr(k, 0, sizeof(pg.entries[i].key));
        if (!z || z == k)
            __builtin_trap();
    }
    return 0;
}
