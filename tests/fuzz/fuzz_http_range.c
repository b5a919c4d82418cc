/** @file fuzz_http_range.c  The download's Range and entity-tag header parsers.
 *  The first 8 bytes choose the representation size; the rest is the header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t rsize = 0, first = 0, len = 0;
    char *copy;
    struct slice h;

    if (size < 8 || size > 4 * API_RANGE_MAX)
        return 0;
    for (int i = 0; i < 8; i++)
        rsize = rsize << 8 | data[i];
    if (data[0] & 0x80)
        rsize &= 0xffff; /* half the inputs use small sizes so ranges are satisfiable */
    /* An exact-size heap copy so ASan sees any read past the end. */
    copy = malloc(size - 8 ? size - 8 : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 8, size - 8);
    h = slice_of(copy, size - 8);
    if (api_range_parse(h, rsize, &first, &len) == API_RANGE_PARTIAL &&
        (len == 0 || first >= rsize || len > rsize - first))
        abort(); /* the handler sends [first, first+len) of the file */
    (void)api_etag_list_match(h, SLICE_LIT("\"0123456789abcdef0123456789abcdef-100\""), false);
    (void)api_etag_list_match(h, SLICE_LIT("\"x\""), true);
    free(copy);
    return 0;
}
