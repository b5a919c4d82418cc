/* Disclosure log (a chainlog of D2 records): append, sync, reopen, verify;
 * tampering detected; no key material written.  The chain itself is tested
 * in tests/common/test_chainlog.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chainlog.h"
#include "ka_priv.h"
#include "tap.h"

static char dir[] = "/tmp/ka_disclog_XXXXXX";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = calloc(1, 65536);

    *len = f ? fread(p, 1, 65535, f) : 0;
    if (f)
        fclose(f);
    return p;
}

static void spit(const char *path, const char *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(p, 1, len, f);
    fclose(f);
}

int main(void)
{
    struct ka_disclog *dl = NULL;
    struct chainlog_verdict v;
    char path[128], copy[160];
    size_t len;
    char *orig;

    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/disclosure.log", dir);
    snprintf(copy, sizeof(copy), "%s/tampered.log", dir);

    tap_ok(ka_disclog_open(&dl, path) == SR_OK, "open a new log");
    tap_ok(ka_disclog_append(dl, 1700000000000000ull, "sip:recorder@example.net", "sub-1", "call-1",
                             0, "a:0011223344556677,b:8899aabbccddeeff") == SR_OK, "append 1");
    tap_ok(ka_disclog_append(dl, 1700000000500000ull, "sip:rec\tor\n@x", "sub-1", "call-2", 1,
                             "a:0011223344556677") == SR_OK, "append 2 (tab and LF in a field)");
    tap_ok(ka_disclog_sync(dl) == SR_OK, "sync");
    ka_disclog_close(dl);
    dl = NULL;
    tap_ok(ka_disclog_verify(path, NULL, &v) == SR_OK && v.records == 2, "verifies with 2 records");
    tap_ok(ka_disclog_open(&dl, path) == SR_OK, "reopen");
    tap_ok(ka_disclog_append(dl, 1700000001000000ull, "sip:recorder@example.net", "sub-2",
                             "call-3", 0, NULL) == SR_OK, "append 3 after reopen");
    ka_disclog_close(dl);
    dl = NULL;
    tap_ok(ka_disclog_verify(path, NULL, &v) == SR_OK && v.records == 3,
           "chain continues across reopen");

    orig = slurp(path, &len);
    tap_ok(strncmp(orig, "D2\t1\t2023-11-14T22:13:20.000Z\tsubscriber=sip:recorder@example.net\t"
                         "subscription=sub-1\tcall-id=call-1\tversion=0\t"
                         "keys=a:0011223344556677,b:8899aabbccddeeff\t",
                   strlen("D2\t1\t2023-11-14T22:13:20.000Z\tsubscriber=sip:recorder@example.net\t"
                          "subscription=sub-1\tcall-id=call-1\tversion=0\t"
                          "keys=a:0011223344556677,b:8899aabbccddeeff\t")) == 0,
           "record layout as documented");
    tap_ok(strstr(orig, "subscriber=sip:rec%09or%0A@x") != NULL, "tab and LF escaped");

    orig[strstr(orig, "call-1") - orig + 5] = '9';
    spit(copy, orig, len);
    tap_ok(ka_disclog_verify(copy, NULL, &v) == SR_EAUTH && v.bad_line == 2,
           "edit detected at the next line");
    tap_ok(ka_disclog_open(&dl, copy) == SR_EAUTH && dl == NULL, "open refuses a broken chain");
    tap_ok(ka_disclog_verify("/nonexistent/x.log", NULL, &v) == SR_EIO, "missing file: SR_EIO");
    tap_ok(strstr(orig, "AAEC") == NULL, "no key material in the log");

    free(orig);
    unlink(path);
    unlink(copy);
    rmdir(dir);
    return tap_done();
}
