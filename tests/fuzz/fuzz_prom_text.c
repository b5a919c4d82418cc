/* Fuzz target: common/prom.h.  The input is read as a daemon's metrics file
 * (prom_text_value: what /healthz and `srtprec_<daemon>_up` rest on) and,
 * NUL-terminated, written as a label value, which must come out as one
 * sample line whose value unescapes to the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "srtprec_recorder_up", "srtprec_recorder_ready", "x" };
    char *value = malloc(size + 1);
    struct buf b;
    struct prom p;
    uint64_t v;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (prom_text_value((const char *)data, size, names[i], &v) && v > 9999999999999999999u)
            __builtin_trap();
    if (!value)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';
    buf_init(&b, 4 * size + 64);
    prom_init(&p, &b);
    prom_sample1(&p, "m", "l", value, 1);
    if (prom_end(&p) == SR_OK) {
        const char *s = b.p + 5, *end = b.p + b.len - 5; /* m{l=" ... "} 1\n */
        size_t j = 0;
        if (b.len < 10 || memcmp(b.p, "m{l=\"", 5) != 0 || memcmp(end, "\"} 1\n", 5) != 0 ||
            memchr(b.p, '\n', b.len - 1))
            __builtin_trap();
        for (; s < end; s++, j++) { /* unescape and compare with the input up to its NUL */
            char c = *s;
            if (c == '\\') {
                s++;
                c = *s == 'n' ? '\n' : *s;
            }
            unsigned char u = (unsigned char)value[j];
            char want = (u < 0x20 && u != '\n') || u == 0x7f ? '?' : (char)u;
            if (c != want)
                __builtin_trap();
        }
        if (value[j] != '\0')
            __builtin_trap();
    }
    buf_fini(&b);
    free(value);
    return 0;
}
