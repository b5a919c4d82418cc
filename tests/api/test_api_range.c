/** @file test_api_range.c  Range and entity-tag headers, with hostile inputs. */
#include <stdio.h>
#include <string.h>

#include "api_priv.h"
#include "guard.h"
#include "tap.h"

static enum api_range range(const char *h, uint64_t size, uint64_t *first, uint64_t *len)
{
    size_t n = strlen(h);

    *first = *len = 12345; /* untouched unless PARTIAL */
    return api_range_parse(slice_of(guard_copy(h, n), n), size, first, len);
}

static void ranges(void)
{
    static const struct {
        const char *h;
        uint64_t size;
        enum api_range want;
        uint64_t first, len;
    } cases[] = {
        { "bytes=0-0", 100, API_RANGE_PARTIAL, 0, 1 },
        { "bytes=0-99", 100, API_RANGE_PARTIAL, 0, 100 },
        { "bytes=0-1000", 100, API_RANGE_PARTIAL, 0, 100 }, /* clamped to the end */
        { "bytes=10-", 100, API_RANGE_PARTIAL, 10, 90 },
        { "bytes=99-", 100, API_RANGE_PARTIAL, 99, 1 },
        { "bytes=-10", 100, API_RANGE_PARTIAL, 90, 10 },
        { "bytes=-1000", 100, API_RANGE_PARTIAL, 0, 100 },
        { "BYTES=5-9", 100, API_RANGE_PARTIAL, 5, 5 },
        { " bytes= 5-9 ", 100, API_RANGE_PARTIAL, 5, 5 },
        { "bytes=0-18446744073709551615", 100, API_RANGE_PARTIAL, 0, 100 },
        { "bytes=100-", 100, API_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=100-200", 100, API_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=18446744073709551615-", 100, API_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=-0", 100, API_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=0-", 0, API_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=-5", 0, API_RANGE_UNSATISFIABLE, 0, 0 },
        /* ignored: send the whole file */
        { "", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=-", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=9-5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=0-1,5-6", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=0-1,", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=a-b", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=+1-5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=1-+5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=0x1-5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=1 -5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=--5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=1-2-3", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=18446744073709551616-", 100, API_RANGE_IGNORE, 0, 0 }, /* 2^64 */
        { "bytes=-18446744073709551616", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=000000000000000000000000001-", 100, API_RANGE_IGNORE, 0, 0 },
        { "items=0-5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes 0-5", 100, API_RANGE_IGNORE, 0, 0 },
        { "byte=0-5", 100, API_RANGE_IGNORE, 0, 0 },
        { "bytes=\xff-5", 100, API_RANGE_IGNORE, 0, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t first, len;
        enum api_range r = range(cases[i].h, cases[i].size, &first, &len);
        bool good = r == cases[i].want;
        if (good && r == API_RANGE_PARTIAL)
            good = first == cases[i].first && len == cases[i].len;
        if (good && r != API_RANGE_PARTIAL)
            good = first == 12345 && len == 12345;
        tap_ok(good, "Range '%s' of %llu bytes -> %d (got %d)", cases[i].h,
               (unsigned long long)cases[i].size, (int)cases[i].want, (int)r);
    }
    {
        char big[API_RANGE_MAX + 2];
        uint64_t first, len;
        memset(big, ' ', sizeof(big) - 1);
        memcpy(big, "bytes=0-1", 9);
        big[sizeof(big) - 1] = '\0';
        tap_ok(range(big, 100, &first, &len) == API_RANGE_IGNORE,
               "a Range value over %d bytes is ignored", API_RANGE_MAX);
    }
    {
        /* every prefix of a valid header stays within bounds and never panics */
        const char *h = "bytes=10-20";
        size_t bad = 0;
        for (size_t i = 0; i <= strlen(h); i++) {
            uint64_t first = 0, len = 0;
            enum api_range r = api_range_parse(slice_of(guard_copy(h, i), i), 100, &first, &len);
            if (r == API_RANGE_PARTIAL && (len == 0 || first + len > 100))
                bad++;
        }
        tap_ok(bad == 0, "every prefix of a Range header parses within bounds");
    }
}

static bool etag(const char *h, bool strong)
{
    size_t n = strlen(h);
    return api_etag_list_match(slice_of(guard_copy(h, n), n), SLICE_LIT("\"abc-10\""), strong);
}

static void etags(void)
{
    tap_ok(etag("\"abc-10\"", false), "If-None-Match exact");
    tap_ok(etag("W/\"abc-10\"", false), "If-None-Match weak comparison accepts W/");
    tap_ok(etag("\"x\", \"abc-10\"", false), "If-None-Match list");
    tap_ok(etag("\"x\",\t\"abc-10\" ", false), "If-None-Match list with tabs");
    tap_ok(etag("*", false), "If-None-Match: * matches");
    tap_ok(!etag("\"abc-11\"", false), "other tag does not match");
    tap_ok(!etag("abc-10", false), "unquoted tag does not match");
    tap_ok(!etag("\"abc-10", false), "unterminated tag does not match");
    tap_ok(!etag("\"x\" \"abc-10\"", false), "missing comma: malformed, no match");
    tap_ok(!etag("\"a b\", \"abc-10\"", false), "space inside a tag: malformed, no match");
    tap_ok(!etag("", false), "empty value matches nothing");
    tap_ok(!etag(",,,,", false), "commas only match nothing");
    tap_ok(etag("\"abc-10\"", true), "If-Range strong exact");
    tap_ok(!etag("W/\"abc-10\"", true), "If-Range refuses a weak tag");
    tap_ok(!etag("*", true), "If-Range refuses *");
    {
        char many[(API_ETAGS_MAX + 1) * 5 + 16];
        size_t n = 0;
        for (int i = 0; i < API_ETAGS_MAX + 1; i++)
            n += (size_t)snprintf(many + n, sizeof(many) - n, "\"x\",");
        snprintf(many + n, sizeof(many) - n, "\"abc-10\"");
        tap_ok(!etag(many, false), "more than %d tags: no match", API_ETAGS_MAX);
    }
}

int main(void)
{
    ranges();
    etags();
    return tap_done();
}
