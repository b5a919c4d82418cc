/** @file fuzz_parties.c  The archive's parties record (stor_parties_parse,
 *  docs/archive-format.md "Parties records") on arbitrary bytes: what parses
 *  encodes back to exactly the input, NUL-free and within STOR_STR. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stor_call_info ci;
    uint8_t back[STOR_PARTIES_MAX];
    size_t n;

    if (stor_parties_parse(data, size, &ci) != SR_OK)
        return 0;
    n = stor_parties_encode(back, sizeof(back), ci.local_aor, ci.remote_aor);
    if (n != size || memcmp(back, data, size) != 0)
        __builtin_trap();
    return 0;
}
