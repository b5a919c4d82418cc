/** @file vecfile.h  Load "name = hex" known-answer vectors (tests/vectors/NAME.txt).
 *
 * Lines starting with whitespace continue the previous value; '#' starts a
 * comment line.  Test-only: aborts the test (exit 1) on a malformed file. */
#ifndef REC_TEST_VECFILE_H
#define REC_TEST_VECFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { VEC_MAX = 64, VEC_NAME = 32, VEC_BYTES = 256 };

struct vec {
    char name[VEC_NAME];
    uint8_t b[VEC_BYTES];
    size_t len;
};

struct vecfile {
    struct vec v[VEC_MAX];
    size_t n;
};

/** false if the file cannot be read or parsed. */
bool vecfile_load(struct vecfile *vf, const char *path);
/** The vector's bytes (and *len), or NULL when absent. */
const uint8_t *vecfile_get(const struct vecfile *vf, const char *name, size_t *len);

#endif
