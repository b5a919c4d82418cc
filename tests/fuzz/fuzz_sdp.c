/* Fuzz target: SDP offer/answer text (keyagent/sdp.c).  The input is split
 * at the first "\n--\n" into a local and a remote SDP; both are parsed, and a
 * pair that parses goes through ka_sdp_disclose's dry run (no client), which
 * matches m= lines, crypto tags, codecs and addresses as a real one does. */
#include <stdint.h>
#include <string.h>

#include "ka.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ka_sdp a, b;
    const char *p = (const char *)data, *why = NULL;
    size_t split = size, rest = 0;
    enum sr_err ea, eb;

    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(p + i, "\n--\n", 4) == 0) {
            split = i;
            rest = i + 4;
            break;
        }
    ea = ka_sdp_parse(p, split, &a, &why);
    if (ea != SR_OK && (!why || !why[0]))
        __builtin_trap(); /* every refusal must carry a reason */
    if (ea == SR_OK) {
        for (size_t m = 0; m < a.n_media; m++)
            for (size_t c = 0; c < a.media[m].n_crypto; c++)
                if (a.media[m].crypto[c].n_keys == 0 || a.media[m].crypto[c].n_keys > KA_SDP_MAX_KEYS)
                    __builtin_trap();
    }
    if (rest) {
        eb = ka_sdp_parse(p + rest, size - rest, &b, &why);
        if (ea == SR_OK && eb == SR_OK) {
            size_t n = 0;
            if (ka_sdp_disclose(NULL, NULL, &a, &b, &n, &why) == SR_OK && (n == 0 || n % 2))
                __builtin_trap(); /* streams come in send/recv pairs */
        }
    }
    ka_sdp_wipe(&a);
    ka_sdp_wipe(&b);
    return 0;
}
