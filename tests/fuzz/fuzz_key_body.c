/** @file fuzz_key_body.c  sipev_keybody_parse; whatever parses must print and parse
 *  back to the same structure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sipev_keybody kb, again;
    const char *why = NULL;
    struct buf out;

    sipev_keybody_init(&kb);
    sipev_keybody_init(&again);
    if (sipev_keybody_parse((const char *)data, size, &kb, &why) == SR_OK) {
        buf_init(&out, 64u << 20);
        if (sipev_keybody_print(&out, &kb) == SR_OK) {
            if (sipev_keybody_parse(out.p, out.len, &again, &why) != SR_OK)
                abort();
            if (again.n_dialogs != kb.n_dialogs || again.version != kb.version ||
                again.full != kb.full || strcmp(again.entity, kb.entity) != 0)
                abort();
            for (size_t i = 0; i < kb.n_dialogs; i++)
                if (memcmp(&kb.dialogs[i], &again.dialogs[i], sizeof(kb.dialogs[i])) != 0)
                    abort();
        }
        buf_fini(&out);
    }
    sipev_keybody_fini(&kb);
    sipev_keybody_fini(&again);
    return 0;
}
