/** @file no_plaintext.c  Test helper: exit 1 if any run of 16 bytes of any
 *  plaintext file appears in the archive file, else 0.
 *
 *   no_plaintext ARCHIVE PLAINTEXT...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurp.h"

enum { RUN = 16 };

static uint64_t hash16(const unsigned char *p)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < RUN; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv)
{
    size_t alen = 0, slots, mask;
    unsigned char *arch;
    size_t *table;
    int found = 0;

    if (argc < 3)
        return fprintf(stderr, "usage: no_plaintext ARCHIVE PLAINTEXT...\n"), 2;
    arch = slurp(argv[1], &alen);
    if (!arch)
        return fprintf(stderr, "no_plaintext: cannot read %s\n", argv[1]), 2;
    /* Open-addressing set of every 16-byte window of the archive (offset + 1). */
    for (slots = 1024; slots < 4 * alen; slots *= 2)
        ;
    mask = slots - 1;
    table = calloc(slots, sizeof(*table));
    for (size_t i = 0; i + RUN <= alen; i++) {
        size_t h = (size_t)hash16(arch + i) & mask;
        while (table[h])
            h = (h + 1) & mask;
        table[h] = i + 1;
    }
    for (int a = 2; a < argc; a++) {
        size_t plen = 0;
        unsigned char *pt = slurp(argv[a], &plen);
        if (!pt) {
            fprintf(stderr, "no_plaintext: cannot read %s\n", argv[a]);
            found = 2;
            break;
        }
        for (size_t i = 0; i + RUN <= plen && !found; i++) {
            size_t h = (size_t)hash16(pt + i) & mask;
            for (; table[h]; h = (h + 1) & mask)
                if (memcmp(arch + table[h] - 1, pt + i, RUN) == 0) {
                    fprintf(stderr, "no_plaintext: bytes %zu..%zu of %s appear at offset %zu of %s\n",
                            i, i + RUN, argv[a], table[h] - 1, argv[1]);
                    found = 1;
                    break;
                }
        }
        free(pt);
    }
    free(table);
    free(arch);
    if (!found)
        printf("no_plaintext: no 16-byte run of %d plaintext file(s) in %s (%zu bytes)\n", argc - 2,
               argv[1], alen);
    return found;
}
