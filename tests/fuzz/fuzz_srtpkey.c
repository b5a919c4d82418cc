/* Fuzz target: RFC 4568 key-params (sip-events/srtpkey.c).  The first byte
 * picks the suite (any enum value, refused and out-of-range ones included);
 * the rest is key-params text, "k[;k...]" as in a=crypto.  Checked: every
 * refusal has a reason and leaves no key behind; what parses prints, and the
 * printed text parses back to the same keys (parse(print(x)) == x); one
 * key-param alone parses as srtpkey_param_parse says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srtpkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct srtpkey_key keys[SRTPKEY_MAX_KEYS], one, back;
    const char *why = NULL;
    enum srtpkey_suite suite;
    size_t n = 0;
    struct slice text;
    enum sr_err err;

    if (size < 1)
        return 0;
    suite = (enum srtpkey_suite)(data[0] % 13);
    text = slice_of((const char *)data + 1, size - 1);
    err = srtpkey_params_parse(text, suite, keys, SRTPKEY_MAX_KEYS, &n, &why);
    if (err != SR_OK) {
        static const struct srtpkey_key zero;
        if (!why || !why[0] || n != 0)
            abort();
        for (size_t i = 0; i < SRTPKEY_MAX_KEYS; i++)
            if (memcmp(&keys[i], &zero, sizeof(zero)) != 0)
                abort(); /* refused keys are wiped */
        return 0;
    }
    if (n < 1 || n > SRTPKEY_MAX_KEYS || !srtpkey_suite_ok(suite))
        abort();
    for (size_t i = 0; i < n; i++) {
        char out[SRTPKEY_PARAM_TEXT];
        size_t len = 0;
        if (srtpkey_param_print(&keys[i], suite, out, sizeof(out), &len) != SR_OK)
            abort();
        if (srtpkey_param_parse(slice_of(out, len), suite, &back, &why) != SR_OK ||
            memcmp(&back, &keys[i], sizeof(back)) != 0)
            abort();
    }
    if (n == 1 && (srtpkey_param_parse(text, suite, &one, &why) != SR_OK ||
                   memcmp(&one, &keys[0], sizeof(one)) != 0))
        abort();
    srtpkey_key_wipe(&one);
    srtpkey_key_wipe(&back);
    for (size_t i = 0; i < n; i++)
        srtpkey_key_wipe(&keys[i]);
    return 0;
}
