/** @file tap.c  TAP output; the counters are the test binary's own state. */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>

static struct {
    unsigned run, failed;
} tap;

bool tap_ok(bool cond, const char *fmt, ...)
{
    va_list ap;

    tap.run++;
    if (!cond)
        tap.failed++;
    printf("%s %u - ", cond ? "ok" : "not ok", tap.run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

void tap_diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

void tap_skip(const char *why)
{
    tap.run++;
    printf("ok %u # SKIP %s\n", tap.run, why);
}

int tap_done(void)
{
    printf("1..%u\n", tap.run);
    if (tap.failed)
        printf("# %u of %u failed\n", tap.failed, tap.run);
    return tap.failed ? 1 : 0;
}
