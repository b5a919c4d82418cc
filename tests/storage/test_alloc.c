/** @file test_alloc.c  The writer's packet and flush path allocates nothing.
 *
 * The recorder calls stor_writer_packet for every packet of every call and
 * stor_writer_flush once a second per call: an allocation there costs a
 * malloc per packet at 10,000 streams (docs/benchmarks.md).  This test
 * counts malloc/calloc/realloc calls from everything in the process (the
 * storage library, libogg, OpenSSL) by interposing glibc's allocator while
 * a two-stream call runs in steady state, across flushes and across chunks
 * sealed because they were full.  Under AddressSanitizer the allocator
 * belongs to the sanitizer, so the count is skipped there.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stor.h"
#include "tap.h"
#include "testcert.h"

#if defined(__SANITIZE_ADDRESS__)
#define COUNTING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNTING 0
#endif
#endif
#ifndef COUNTING
#define COUNTING 1
#endif

static unsigned long n_alloc;
static bool counting;

#if COUNTING
/* glibc's own entry points: the definitions below replace malloc for the
 * whole process (libogg and OpenSSL included) and forward to them. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t a, size_t b);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
    n_alloc += counting;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    n_alloc += counting;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    n_alloc += counting;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
#endif

int main(void)
{
    char dir[4096], crt[4096], key[4096], id[STOR_ID_HEX];
    const char *recips[1] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 16384, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_call_info call = { .call_id = "alloc" };
    struct stor_stream_info si[2] = {
        { 0x100, 0, "PCMU", 8000, STOR_DIR_SEND, "s", false },
        { 0x200, 0, "PCMU", 8000, STOR_DIR_RECV, "r", false },
    };
    struct stor_writer *w;
    unsigned idx[2];
    uint8_t pay[160];
    enum sr_err err = SR_OK;
    unsigned flushes = 0;

    if (!tap_ok(testcert_tmpdir(dir) && testcert_make(dir, "aud", TESTCERT_EC, crt, key),
                "temp dir and certificate"))
        return tap_done();
    if (!tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK &&
                    stor_writer_add_stream(w, &si[0], &idx[0]) == SR_OK &&
                    stor_writer_add_stream(w, &si[1], &idx[1]) == SR_OK,
                "writer"))
        goto done;
    memset(pay, 0x55, sizeof(pay));
    /* 40 media seconds; counting starts after the first two (the first
     * flush and the first full chunk happen before). */
    for (unsigned n = 0; n < 2000 && !err; n++) {
        if (n == 100)
            counting = true;
        for (unsigned k = 0; k < 2 && !err; k++) {
            struct stor_pkt p = { (uint16_t)n, n, 1000 + n * 160ull,
                                  1700000000000000ull + n * 20000ull + k * 500, 0, pay,
                                  sizeof(pay) };
            err = stor_writer_packet(w, idx[k], &p);
        }
        if (!err && n % 50 == 49) {
            err = stor_writer_flush(w);
            flushes++;
        }
    }
    counting = false;
    tap_ok(err == SR_OK, "4,000 packets and %u flushes accepted", flushes);
    if (COUNTING)
        tap_ok(n_alloc == 0, "no allocation in steady state (%lu)", n_alloc);
    else
        tap_skip("allocation count: the sanitizer owns malloc");
    tap_ok(stor_writer_close(w, NULL, NULL, 0) == SR_OK, "sealed");
done:
    testcert_rmdir(dir);
    return tap_done();
}
