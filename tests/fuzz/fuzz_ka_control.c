/* Fuzz target: control-socket lines, parsed and applied to a callstore in
 * order (one line per "\n"), then filled into a key body as a NOTIFY would. */
#include <stdint.h>
#include <string.h>

#include "ka_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice cur = slice_of((const char *)data, size);
    struct ka_callstore *cs = NULL;
    struct ka_cmd cmd;
    unsigned lines = 0;

    if (ka_callstore_create(&cs, 4) != SR_OK)
        return 0;
    while (cur.len && lines++ < 64) {
        struct slice line = slice_split(&cur, '\n');
        const char *why = NULL;

        if (ka_cmd_parse(line, &cmd, &why) == SR_OK) {
            ka_callstore_apply(cs, &cmd, 0, &why);
        } else if (!why || !why[0]) {
            __builtin_trap(); /* every refusal must carry a reason */
        }
        ka_cmd_wipe(&cmd);
        if ((lines & 7) == 0) {
            struct sipev_keybody kb;
            sipev_keybody_init(&kb);
            ka_callstore_fill(cs, &kb, false, NULL, NULL);
            sipev_keybody_fini(&kb);
            ka_callstore_settle(cs);
        }
    }
    ka_callstore_destroy(cs);
    return 0;
}
