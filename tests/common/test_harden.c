/** @file test_harden.c  harden: core dumps off (and the debug switch), umask
 *  027, key pools (zeroed, wiped on free, MADV_DONTDUMP and mlock'ed pages as
 *  /proc/self/smaps reports them), and log lines that escape control bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harden.h"
#include "log.h"
#include "tap.h"
#include "util.h"

/* In a child (the settings are process-wide and one-way): 0 when all hold. */
static int child_harden(bool debug)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        struct sr_harden_state st;
        struct rlimit rl;
        mode_t old;
        int bad = 0;

        if (debug)
            setenv(SR_DEBUG_DUMPABLE_ENV, "1", 1);
        else
            unsetenv(SR_DEBUG_DUMPABLE_ENV);
        umask(0);
        sr_harden_process(&st);
        old = umask(0);
        if (old != 027)
            bad |= 1;
        if (getrlimit(RLIMIT_CORE, &rl) != 0)
            bad |= 2;
        if (debug) {
            if (!st.dumpable_kept || prctl(PR_GET_DUMPABLE) != 1)
                bad |= 4;
        } else {
            if (st.dumpable_kept || !st.undumpable || !st.core_limit_zero ||
                prctl(PR_GET_DUMPABLE) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
                bad |= 8;
        }
        _exit(bad);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static unsigned long long hex_at(const char *s)
{
    unsigned long long v = 0;

    for (;; s++) {
        int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v * 16 + (unsigned)d;
    }
}

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif
#ifndef ASAN_BUILD
#define ASAN_BUILD 0
#endif

/* The VmFlags line of the smaps entry that holds addr. */
static bool smaps_flags(const void *addr, char *out, size_t outlen)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool in = false, found = false;
    unsigned long long a = (unsigned long long)(uintptr_t)addr;

    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long lo = 0, hi = 0;
        char *dash = strchr(line, '-');
        if (dash && line[0] != 'V' && strchr(line, ' ') > dash) {
            lo = hex_at(line);
            hi = hex_at(dash + 1);
            in = a >= lo && a < hi;
            continue;
        }
        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            line[strcspn(line, "\n")] = '\0'; /* the message is one TAP line */
            snprintf(out, outlen, "%s", line + 8);
            found = true;
            break;
        }
    }
    fclose(f);
    return found;
}

static void test_pool(void)
{
    struct sr_secpool *p = NULL;
    struct sr_secpool_stats st;
    unsigned char *objs[200];
    char flags[512] = "";
    bool zero = true, wiped = true;

    tap_ok(sr_secpool_create(&p, 0, "t") == SR_EINVAL, "a zero object size is refused");
    tap_ok(sr_secpool_create(&p, 1000, "test keys") == SR_OK, "pool created");
    for (size_t i = 0; i < SR_ARRAY_LEN(objs); i++) {
        objs[i] = sr_secpool_alloc(p);
        if (!objs[i])
            break;
        for (size_t j = 0; j < 1000; j++)
            zero &= objs[i][j] == 0;
        memset(objs[i], 0xA5, 1000);
    }
    tap_ok(objs[199] != NULL && zero, "200 objects of 1000 bytes, each zeroed");
    sr_secpool_stats(p, &st);
    tap_ok(st.live == 200 && st.slabs == (200 + 64 - 1) / 64 && st.slab_bytes == 65536,
           "live %zu, slabs %zu of %zu bytes (64 objects each)", st.live, st.slabs, st.slab_bytes);
    tap_ok(smaps_flags(objs[0], flags, sizeof(flags)) && strstr(flags, " dd"),
           "slab pages are MADV_DONTDUMP (VmFlags:%.60s)", flags);
    if (ASAN_BUILD)
        tap_skip("AddressSanitizer makes mlock a no-op (its interceptor returns 0)");
    else if (st.slabs_unlocked == 0)
        tap_ok(strstr(flags, " lo") != NULL, "slab pages are locked (mlock)");
    else
        tap_skip("mlock refused under this RLIMIT_MEMLOCK (warned once)");
    sr_secpool_free(p, objs[7]);
    for (size_t j = sizeof(void *); j < 1000; j++)
        wiped &= objs[7][j] == 0;
    tap_ok(wiped, "a freed object is wiped (past its free-list link)");
    tap_ok(sr_secpool_alloc(p) == objs[7], "and reused first");
    for (size_t i = 0; i < SR_ARRAY_LEN(objs); i++)
        sr_secpool_free(p, objs[i]);
    sr_secpool_stats(p, &st);
    tap_ok(st.live == 0, "all freed");
    sr_secpool_free(p, NULL);
    sr_secpool_destroy(p);
    sr_secpool_destroy(NULL);
}

static void test_log_escape(void)
{
    char path[] = "/tmp/test_harden_log_XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    char got[2048] = "";
    FILE *f;
    size_t n;

    if (fd < 0 || saved < 0) {
        tap_ok(false, "temporary log file");
        return;
    }
    fflush(stderr);
    dup2(fd, 2);
    log_setup(LOG_LVL_INFO, "t", 1);
    log_info("call %s codec %s", "a\nb\r\x1b[31mc\\d", "PC\x7fMU\t");
    log_info("%s", "utf-8 \xc3\xa9 kept");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    f = fdopen(fd, "r");
    rewind(f);
    n = fread(got, 1, sizeof(got) - 1, f);
    got[n] = 0;
    fclose(f);
    unlink(path);
    if (!tap_ok(strcmp(got, "<6>t info [srtprec] call a\\x0ab\\x0d\\x1b[31mc\\x5cd codec PC\\x7fMU\\x09\n"
                       "<6>t info [srtprec] utf-8 \xc3\xa9 kept\n") == 0,
           "control bytes, DEL and backslash escaped as \\xNN, one line per message"))
        tap_diag("got: %s", got);
}

static void test_log_long(void)
{
    char path[] = "/tmp/test_harden_log_XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    char big[3000], got[4096] = "";
    FILE *f;
    size_t n, lines = 0;

    memset(big, '\n', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    fflush(stderr);
    dup2(fd, 2);
    log_info("%s", big);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    f = fdopen(fd, "r");
    rewind(f);
    n = fread(got, 1, sizeof(got) - 1, f);
    got[n] = 0;
    fclose(f);
    unlink(path);
    for (size_t i = 0; i < n; i++)
        lines += got[i] == '\n';
    tap_ok(lines == 1 && n <= 1024 && got[n - 1] == '\n' && strstr(got, "\\x0a\\x0a") &&
               (n - 1 - (size_t)(strstr(got, "] ") + 2 - got)) % 4 == 0,
           "a message of 3,000 newlines is one line of whole escapes, within 1024 bytes (%zu)", n);
}

int main(void)
{
    tap_ok(child_harden(false) == 0, "default: RLIMIT_CORE 0/0, not dumpable, umask 027");
    tap_ok(child_harden(true) == 0, SR_DEBUG_DUMPABLE_ENV "=1: dumpable kept, umask 027");
    test_pool();
    test_log_escape();
    test_log_long();
    return tap_done();
}
