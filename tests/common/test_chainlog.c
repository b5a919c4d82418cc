/** @file test_chainlog.c  chainlog: append, reopen, verify; edit, deletion,
 *  insertion, reorder and truncation detected; escaping cannot forge lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chainlog.h"
#include "guard.h"
#include "tap.h"

static char dir[] = "/tmp/chainlog_XXXXXX";

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

static enum sr_err check(const char *path, const char *anchor, struct chainlog_verdict *v)
{
    enum sr_err err = chainlog_verify(path, "T1", anchor, v);
    if (err)
        tap_diag("verify: line %zu: %s", v->bad_line, v->why);
    return err;
}

/* Line starts (0-based offsets) of up to 8 lines. */
static size_t lines(const char *p, size_t len, size_t *start)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < 8; i++)
        if (i == 0 || p[i - 1] == '\n')
            start[n++] = i;
    start[n] = len;
    return n;
}

static enum sr_err add(struct chainlog *cl, uint64_t t, const char *who, const char *what)
{
    struct chainlog_field f[] = { { "who", who }, { "what", what } };
    return chainlog_append(cl, t, f, 2);
}

static void test_parse_and_decode(void)
{
    struct chainlog_record rec;
    const char *why = "";
    char out[32];
    size_t used = 0;
    static const char good[] = "T1\t1\t2026-11-25T10:00:00.123Z\ta=x%09y\tb="
                               "\t0000000000000000000000000000000000000000000000000000000000000000";
    const char *g = guard_copy(good, sizeof(good) - 1);

    tap_ok(chainlog_line_parse(slice_of(g, sizeof(good) - 1), &rec, &why) && rec.n_fields == 2,
           "parse a line at a guard page (%s)", why);
    tap_ok(chainlog_value_decode(rec.value[0], out, sizeof(out), &used) && used == 3 &&
               memcmp(out, "x\ty", 4) == 0,
           "decode %%09 to TAB");
    tap_ok(rec.value[1].len == 0, "empty value");
    tap_ok(!chainlog_value_decode(SLICE_LIT("%41"), out, sizeof(out), NULL),
           "escaped visible byte refused (one spelling per value)");
    tap_ok(!chainlog_value_decode(SLICE_LIT("ab%0"), out, sizeof(out), NULL), "short escape");
    tap_ok(!chainlog_value_decode(SLICE_LIT("%0a"), out, sizeof(out), NULL), "lower-case escape");
    tap_ok(!chainlog_value_decode(SLICE_LIT("abcdef"), out, 4, NULL), "output too small");
    tap_ok(!chainlog_line_parse(SLICE_LIT("T1\t1\t2026-11-25T10:00:00.123Z\tx"), &rec, &why),
           "missing prev refused");
    tap_ok(!chainlog_line_parse(SLICE_LIT("T1\t01\t2026-11-25T10:00:00.123Z\t"
                                          "0000000000000000000000000000000000000000000000000000000000000000"),
                                &rec, &why),
           "leading zero in seq refused");
    tap_ok(!chainlog_line_parse(SLICE_LIT("T1\t1\t2026-11-25T10:00:00.123Z\tA=1\t"
                                          "0000000000000000000000000000000000000000000000000000000000000000"),
                                &rec, &why),
           "upper-case field name refused");
}

int main(void)
{
    struct chainlog *cl = NULL, *cl2 = NULL;
    struct chainlog_cfg cfg = { 0 };
    struct chainlog_verdict v;
    char path[128], copy[160], anchor[CHAINLOG_HASH_HEX + 1];
    size_t len, start[9], n;
    char *orig, *tmp;
    char big[5000];

    test_parse_and_decode();
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    snprintf(copy, sizeof(copy), "%s/tampered.log", dir);
    cfg.path = path;
    cfg.tag = "T1";

    tap_ok(chainlog_open(&cl, &cfg, &v) == SR_OK && chainlog_records(cl) == 0, "open a new file");
    tap_ok(chainlog_open(&cl2, &cfg, &v) == SR_ESTATE && !cl2, "a second writer is refused");
    tap_ok(add(cl, 1700000000000000ull, "sip:recorder@example.net", "call-1") == SR_OK, "append 1");
    tap_ok(add(cl, 1700000000500000ull, "evil\tx=1\n", "%41 \xff") == SR_OK,
           "append 2 (TAB, LF, '%%', space, 0xff)");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    tap_ok(add(cl, 0, big, "x") == SR_ELIMIT, "over-long record refused");
    {
        struct chainlog_field bad = { "Bad Name", "x" };
        tap_ok(chainlog_append(cl, 0, &bad, 1) == SR_EINVAL, "bad field name refused");
    }
    snprintf(anchor, sizeof(anchor), "%s", chainlog_head(cl));
    chainlog_close(cl);
    cl = NULL;
    tap_ok(check(path, NULL, &v) == SR_OK && v.records == 2 && strcmp(v.head, anchor) == 0,
           "verifies: 2 records, head as reported");
    tap_ok(chainlog_open(&cl, &cfg, &v) == SR_OK && chainlog_records(cl) == 2, "reopen");
    tap_ok(add(cl, 1700000001000000ull, "sip:recorder@example.net", "call-3") == SR_OK,
           "append 3 after reopen");
    chainlog_close(cl);
    cl = NULL;
    tap_ok(check(path, anchor, &v) == SR_OK && v.records == 3,
           "chain continues across reopen and passes through the old head");
    tap_ok(chainlog_verify(path, "X9", NULL, &v) == SR_EAUTH && v.bad_line == 1,
           "another tag is refused");

    orig = slurp(path, &len);
    n = lines(orig, len, start);
    tap_ok(n == 3, "three lines");
    tap_ok(strstr(orig, "who=evil%09x=1%0A\twhat=%2541%20%FF\t") != NULL,
           "TAB, LF, '%%', space and 0xff escaped");
    tmp = malloc(len + 512);

    /* Edit: flip one byte of line 1. */
    memcpy(tmp, orig, len);
    tmp[(size_t)(strstr(tmp, "call-1") - tmp) + 5] = '9';
    spit(copy, tmp, len);
    tap_ok(check(copy, NULL, &v) == SR_EAUTH && v.bad_line == 2, "edit of line 1 found at line 2");

    /* Edit of the last line is only found against an anchor taken after it. */
    memcpy(tmp, orig, len);
    tmp[(size_t)(strstr(tmp, "call-3") - tmp) + 5] = '7';
    spit(copy, tmp, len);
    {
        char head3[CHAINLOG_HASH_HEX + 1];
        check(path, NULL, &v);
        snprintf(head3, sizeof(head3), "%s", v.head);
        tap_ok(check(copy, head3, &v) == SR_EAUTH && v.bad_line == 4,
               "edit of the last line found against the head");
    }

    /* Deletion of line 2. */
    memcpy(tmp, orig, start[1]);
    memcpy(tmp + start[1], orig + start[2], len - start[2]);
    spit(copy, tmp, len - (start[2] - start[1]));
    tap_ok(check(copy, NULL, &v) == SR_EAUTH && v.bad_line == 2, "deletion found");

    /* Insertion: line 1 duplicated after itself. */
    memcpy(tmp, orig, start[1]);
    memcpy(tmp + start[1], orig, len);
    spit(copy, tmp, len + start[1]);
    tap_ok(check(copy, NULL, &v) == SR_EAUTH && v.bad_line == 2, "insertion found");

    /* Reorder lines 2 and 3. */
    memcpy(tmp, orig, start[1]);
    memcpy(tmp + start[1], orig + start[2], len - start[2]);
    memcpy(tmp + start[1] + (len - start[2]), orig + start[1], start[2] - start[1]);
    spit(copy, tmp, len);
    tap_ok(check(copy, NULL, &v) == SR_EAUTH && v.bad_line == 2, "reorder found");

    /* Truncation mid-line. */
    spit(copy, orig, len - 1);
    tap_ok(check(copy, NULL, &v) == SR_EAUTH && v.bad_line == 3, "truncated last line found");
    cfg.path = copy;
    tap_ok(chainlog_open(&cl, &cfg, &v) == SR_EAUTH && !cl && v.bad_line == 3,
           "open refuses to extend a truncated file");

    /* Truncation by whole lines: a valid chain, caught by the anchor. */
    spit(copy, orig, start[2]);
    tap_ok(check(copy, NULL, &v) == SR_OK && v.records == 2, "whole-line truncation alone verifies");
    check(path, NULL, &v);
    snprintf(anchor, sizeof(anchor), "%s", v.head);
    tap_ok(check(copy, anchor, &v) == SR_EAUTH && v.bad_line == 3,
           "whole-line truncation found against the head");

    /* A forged line appended with a fresh, correct hash is still a valid
     * chain: what stops it is the anchor kept elsewhere; but a line
     * smuggled through a value cannot appear (escaping). */
    spit(copy, "", 0);
    tap_ok(check(copy, NULL, &v) == SR_OK && v.records == 0, "empty file verifies");
    spit(copy, "T1\t1\t2026\n", 10);
    tap_ok(check(copy, NULL, &v) == SR_EAUTH && v.bad_line == 1, "garbage refused");
    memset(big, 'b', sizeof(big));
    spit(copy, big, sizeof(big));
    tap_ok(check(copy, NULL, &v) == SR_EAUTH && v.bad_line == 1, "over-long line refused");
    spit(copy, "T1\0\t1\n", 6);
    tap_ok(check(copy, NULL, &v) == SR_EAUTH && v.bad_line == 1, "NUL byte refused");

    tap_ok(chainlog_verify("/nonexistent/x.log", NULL, NULL, &v) == SR_EIO, "missing file: SR_EIO");
    cfg.path = path;
    cfg.tag = "bad tag";
    tap_ok(chainlog_open(&cl, &cfg, NULL) == SR_EINVAL, "bad tag: SR_EINVAL");

    /* Batch sync mode. */
    cfg.tag = "T1";
    cfg.sync = CHAINLOG_SYNC_BATCH;
    tap_ok(chainlog_open(&cl, &cfg, &v) == SR_OK && add(cl, 0, "a", "b") == SR_OK &&
               chainlog_sync(cl) == SR_OK && chainlog_records(cl) == 4,
           "batch mode appends and syncs");
    chainlog_close(cl);
    tap_ok(check(path, NULL, &v) == SR_OK && v.records == 4, "batch-mode file verifies");

    free(tmp);
    free(orig);
    unlink(path);
    unlink(copy);
    rmdir(dir);
    return tap_done();
}
