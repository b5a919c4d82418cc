/** @file digest.h  Hex digests for tests that compare what a store holds
 *  with what was sent (SHA-256 of archives, MD5 of S3 ETags). */
#ifndef SR_TEST_DIGEST_H
#define SR_TEST_DIGEST_H

#include <stddef.h>

/** SHA-256 of p[0..n) as 64 lower-case hex digits and a NUL. */
void test_sha256_hex(const void *p, size_t n, char out[65]);
/** MD5 of p[0..n) as 32 lower-case hex digits and a NUL (an S3 ETag). */
void test_md5_hex(const void *p, size_t n, char out[33]);

#endif
