/** @file testcert.h  Throwaway recipient certificates for storage tests. */
#ifndef TESTCERT_H
#define TESTCERT_H

#include <stdbool.h>
#include <stddef.h>

enum testcert_kind { TESTCERT_EC, TESTCERT_RSA };

/** Write <dir>/<name>.crt and <dir>/<name>.key (PEM, self-signed, CN=name);
 *  the paths go to cert/key (each >= 4096). */
bool testcert_make(const char *dir, const char *name, enum testcert_kind kind, char *cert,
                   char *key);

/** A fresh temporary directory under TMPDIR or /tmp; out >= 4096. */
bool testcert_tmpdir(char *out);
/** Remove a directory tree made by testcert_tmpdir (files one level deep). */
void testcert_rmdir(const char *dir);

/** Whole file into a malloc'd buffer. */
unsigned char *testcert_slurp(const char *path, size_t *len);
bool testcert_spit(const char *path, const void *data, size_t len);

#endif
