/* Disclosure log: append, reopen, verify; edits, deletions and reorders detected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    fwrite(p, 1, len, f);
    fclose(f);
}

static size_t verify(const char *path, size_t *bad, enum sr_err *err)
{
    size_t records = 0;
    const char *why = "";

    *err = ka_disclog_verify(path, &records, bad, &why);
    if (*err)
        tap_diag("verify: line %zu: %s", *bad, why);
    return records;
}

/* Line starts (0-based offsets) of up to 8 lines. */
static size_t lines(const char *p, size_t len, size_t *start)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < 8; i++)
        if (i == 0 || p[i - 1] == '\n')
            start[n++] = i;
    return n;
}

int main(void)
{
    struct ka_disclog *dl = NULL;
    char path[128], copy[160];
    size_t len, bad, start[8], n;
    enum sr_err err;
    char *orig, *tmp;

    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/disclosure.log", dir);
    snprintf(copy, sizeof(copy), "%s/tampered.log", dir);

    tap_ok(ka_disclog_open(&dl, path) == SR_OK, "open a new log");
    tap_ok(ka_disclog_append(dl, 1700000000000000ull, "sip:recorder@example.net", "sub-1", "call-1",
                             0, "a:0011223344556677,b:8899aabbccddeeff") == SR_OK, "append 1");
    tap_ok(ka_disclog_append(dl, 1700000000500000ull, "sip:rec\tor\n@x", "sub-1", "call-2", 1,
                             "a:0011223344556677") == SR_OK, "append 2 (tab and LF in a field)");
    ka_disclog_close(dl);
    dl = NULL;
    tap_ok(verify(path, &bad, &err) == 2 && err == SR_OK, "verifies with 2 records");
    tap_ok(ka_disclog_open(&dl, path) == SR_OK, "reopen");
    tap_ok(ka_disclog_append(dl, 1700000001000000ull, "sip:recorder@example.net", "sub-2",
                             "call-3", 0, NULL) == SR_OK, "append 3 after reopen");
    ka_disclog_close(dl);
    dl = NULL;
    tap_ok(verify(path, &bad, &err) == 3 && err == SR_OK, "chain continues across reopen");

    orig = slurp(path, &len);
    n = lines(orig, len, start);
    tap_ok(n == 3, "three lines");
    tap_ok(strstr(orig, "sip:rec?or?@x") != NULL, "tab and LF neutralised");

    /* Edit: flip one byte of line 1's call-id. */
    tmp = malloc(len);
    memcpy(tmp, orig, len);
    tmp[(size_t)(strstr(tmp, "call-1") - tmp) + 5] = '9';
    spit(copy, tmp, len);
    verify(copy, &bad, &err);
    tap_ok(err == SR_EAUTH && bad == 2, "edit of line 1 detected at line 2");

    /* Deletion of line 2. */
    memcpy(tmp, orig, start[1]);
    memcpy(tmp + start[1], orig + start[2], len - start[2]);
    spit(copy, tmp, len - (start[2] - start[1]));
    verify(copy, &bad, &err);
    tap_ok(err == SR_EAUTH && bad == 2, "deletion detected");

    /* Reorder lines 2 and 3. */
    memcpy(tmp, orig, start[1]);
    memcpy(tmp + start[1], orig + start[2], len - start[2]);
    memcpy(tmp + start[1] + (len - start[2]), orig + start[1], start[2] - start[1]);
    spit(copy, tmp, len);
    verify(copy, &bad, &err);
    tap_ok(err == SR_EAUTH && bad == 2, "reorder detected");

    /* Truncated last line. */
    spit(copy, orig, len - 1);
    verify(copy, &bad, &err);
    tap_ok(err == SR_EAUTH && bad == 3, "truncated last line detected");

    /* A tampered log is not extended. */
    memcpy(tmp, orig, len);
    tmp[(size_t)(strstr(tmp, "call-1") - tmp) + 5] = '9';
    spit(copy, tmp, len);
    tap_ok(ka_disclog_open(&dl, copy) == SR_EAUTH && dl == NULL, "open refuses a broken chain");

    tap_ok(ka_disclog_verify("/nonexistent/x.log", NULL, NULL, NULL) == SR_EIO, "missing file: SR_EIO");
    tap_ok(strstr(orig, "AAEC") == NULL, "no key material in the log");

    free(tmp);
    free(orig);
    unlink(path);
    unlink(copy);
    rmdir(dir);
    return tap_done();
}
