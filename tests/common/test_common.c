/** @file test_common.c  slice, base64, hex, buf, conf and time parsing: hostile inputs included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "guard.h"
#include "slice.h"
#include "tap.h"
#include "util.h"

static void test_slice(void)
{
    struct slice cur = SLICE_LIT("a;b;;c"), t;
    uint64_t v;

    t = slice_split(&cur, ';');
    tap_ok(slice_eq(t, SLICE_LIT("a")), "split first");
    t = slice_split(&cur, ';');
    t = slice_split(&cur, ';');
    tap_ok(t.len == 0, "split empty field");
    t = slice_split(&cur, ';');
    tap_ok(slice_eq(t, SLICE_LIT("c")) && cur.len == 0, "split last");
    tap_ok(slice_eq_nocase(SLICE_LIT("Event"), SLICE_LIT("eVENT")), "eq_nocase");
    tap_ok(!slice_eq_nocase(SLICE_LIT("Event"), SLICE_LIT("Even")), "eq_nocase length");
    tap_ok(slice_eq(slice_trim(SLICE_LIT(" \t x y\r\n")), SLICE_LIT("x y")), "trim");
    tap_ok(slice_to_u64(SLICE_LIT("18446744073709551615"), UINT64_MAX, &v) && v == UINT64_MAX,
           "u64 max");
    tap_ok(!slice_to_u64(SLICE_LIT("18446744073709551616"), UINT64_MAX, &v), "u64 overflow");
    tap_ok(!slice_to_u64(SLICE_LIT("-1"), 100, &v), "u64 sign refused");
    tap_ok(!slice_to_u64(SLICE_LIT("101"), 100, &v), "u64 over max");
    tap_ok(!slice_to_u64(SLICE_LIT(""), 100, &v), "u64 empty");
    tap_ok(!slice_to_u64(SLICE_LIT("9"), 4, &v), "u64 single digit over a small max");
    const char *g = guard_copy("12x", 2);
    tap_ok(slice_to_u64(slice_of(g, 2), 100, &v) && v == 12, "u64 at guard page");
}

static void test_b64(void)
{
    uint8_t in[30], out[64];
    char enc[64];
    size_t n = 0;

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 1);
    tap_ok(sr_b64_encode(in, sizeof(in), enc, sizeof(enc)) == 40, "encode 30 bytes");
    tap_ok(sr_b64_decode(slice_cstr(enc), out, sizeof(out), &n) && n == 30 &&
               memcmp(in, out, 30) == 0,
           "decode round trip");
    tap_ok(sr_b64_decode(SLICE_LIT("YQ=="), out, sizeof(out), &n) && n == 1 && out[0] == 'a',
           "padding");
    tap_ok(!sr_b64_decode(SLICE_LIT("YQ="), out, sizeof(out), &n), "bad length");
    tap_ok(!sr_b64_decode(SLICE_LIT("Y=Q="), out, sizeof(out), &n), "data after padding");
    tap_ok(!sr_b64_decode(SLICE_LIT("YQ==YQ=="), out, sizeof(out), &n), "padding mid-string");
    tap_ok(!sr_b64_decode(SLICE_LIT("YQ =") , out, sizeof(out), &n), "whitespace refused");
    tap_ok(!sr_b64_decode(SLICE_LIT("AAAAAAAA"), out, 5, &n), "output overflow refused");
    tap_ok(!sr_b64_encode(in, sizeof(in), enc, 40), "encode needs room for NUL");
}

static void test_hex(void)
{
    uint8_t b[3] = { 0x00, 0xab, 0xff }, o[3];
    char h[7];

    sr_hex_encode(b, 3, h);
    tap_ok(strcmp(h, "00abff") == 0, "hex encode");
    tap_ok(sr_hex_decode(SLICE_LIT("00ABff"), o, 3) && memcmp(o, b, 3) == 0, "hex decode");
    tap_ok(!sr_hex_decode(SLICE_LIT("00abf"), o, 3), "hex odd length");
    tap_ok(!sr_hex_decode(SLICE_LIT("00abfg"), o, 3), "hex bad digit");
}

static void test_buf(void)
{
    struct buf b;

    buf_init(&b, 10);
    tap_ok(buf_append(&b, "12345", 5) == SR_OK, "append");
    tap_ok(buf_printf(&b, "%d", 6789) == SR_OK && b.len == 9, "printf");
    tap_ok(buf_append(&b, "ab", 2) == SR_ELIMIT && b.len == 9, "limit keeps content");
    buf_consume(&b, 4);
    tap_ok(b.len == 5 && memcmp(b.p, "56789", 5) == 0, "consume");
    buf_fini(&b);
    tap_ok(b.p == NULL && b.len == 0, "fini");
}

struct tcfg {
    char name[CONF_STR_MAX];
    unsigned long port;
    bool lab;
};

static const struct conf_item items[] = {
    { "name", CONF_STR, offsetof(struct tcfg, name), "x", 0, 0, "a name" },
    { "port", CONF_UINT, offsetof(struct tcfg, port), "5061", 1, 65535, "a port" },
    { "lab", CONF_BOOL, offsetof(struct tcfg, lab), "no", 0, 0, "lab mode" },
};

static enum sr_err load(const char *ini, int argc, char **argv, struct tcfg *c, char *why)
{
    char path[] = "/tmp/srtprec-conf-XXXXXX";
    int fd = mkstemp(path), help;
    enum sr_err err;
    char arg0[] = "prog", cfgarg[64];
    char *args[8] = { arg0, cfgarg };

    if (fd < 0)
        return SR_EIO;
    if (write(fd, ini, strlen(ini)) != (ssize_t)strlen(ini))
        return SR_EIO;
    close(fd);
    snprintf(cfgarg, sizeof(cfgarg), "--config=%s", path);
    for (int i = 0; i < argc && i < 6; i++)
        args[2 + i] = argv[i];
    err = conf_load(items, 3, c, "t", 2 + argc, args, &help, why, 256);
    unlink(path);
    return err;
}

static void test_conf(void)
{
    struct tcfg c;
    char why[256];
    char over[] = "--port=6000", bad[] = "--nope=1", badv[] = "--port=70000";

    tap_ok(load("[t]\nname = rec\nlab = yes\n[api]\nzzz=1\n", 0, NULL, &c, why) == SR_OK &&
               strcmp(c.name, "rec") == 0 && c.port == 5061 && c.lab,
           "file values, defaults, another daemon's section ignored");
    tap_ok(load("[t]\nname = rec\n; note\n\n[recoder]\nzzz=1\n", 0, NULL, &c, why) == SR_EINVAL &&
               strstr(why, ":5: unknown section [recoder]"),
           "misspelt section refused with its line: %s", why);
    tap_ok(load("[t]\nport=1\n", 1, (char *[]){ over }, &c, why) == SR_OK && c.port == 6000,
           "command line overrides file");
    tap_ok(load("[t]\nbogus = 1\n", 0, NULL, &c, why) == SR_EINVAL && strstr(why, "bogus"),
           "unknown key named: %s", why);
    tap_ok(load("[t]\nport = 0x10\n", 0, NULL, &c, why) == SR_EINVAL, "bad number: %s", why);
    tap_ok(load("[t]\nlab = maybe\n", 0, NULL, &c, why) == SR_EINVAL, "bad bool: %s", why);
    tap_ok(load("[t]\n", 1, (char *[]){ bad }, &c, why) == SR_EINVAL, "unknown option: %s", why);
    tap_ok(load("[t]\n", 1, (char *[]){ badv }, &c, why) == SR_EINVAL, "out of range: %s", why);
    tap_ok(load("[t\nname\n", 0, NULL, &c, why) == SR_EPARSE, "syntax error: %s", why);
}

/* sr_wall_parse: the flags are what differs between its callers (API
 * queries, key bodies: UTC only, SIPREC metadata: zone optional). */
static void test_wall_parse(void)
{
    static const struct {
        const char *s;
        unsigned flags;
        bool ok;
        uint64_t us;
    } cases[] = {
        { "2010-12-16T23:41:07Z", 0, true, 1292542867000000ull },
        { "2010-12-16t23:41:07z", SR_WALL_UTC_ONLY, true, 1292542867000000ull },
        { "2010-12-16T23:41:07.5Z", SR_WALL_UTC_ONLY, true, 1292542867500000ull },
        { "2010-12-16T23:41:07.123456789Z", SR_WALL_UTC_ONLY, true, 1292542867123456ull },
        { "2010-12-16T23:41:07.1234567890Z", 0, false, 0 },
        { "2010-12-16T23:41:07+01:00", 0, true, 1292539267000000ull },
        { "2010-12-16T23:41:07-00:30", 0, true, 1292544667000000ull },
        { "2010-12-16T23:41:07+01:00", SR_WALL_UTC_ONLY, false, 0 },
        { "2010-12-16T23:41:07", 0, false, 0 },
        { "2010-12-16T23:41:07", SR_WALL_ZONE_OPTIONAL, true, 1292542867000000ull },
        { "2010-12-16T23:41:07+01:00", SR_WALL_ZONE_OPTIONAL, true, 1292539267000000ull },
        { "2010-12-16T23:41:60Z", 0, false, 0 },
        { "2010-12-16T23:41:07.Z", 0, false, 0 },
        { "2011-02-29T00:00:00Z", 0, false, 0 },
        { "2012-02-29T00:00:00Z", 0, true, 1330473600000000ull },
        { "1970-01-01T00:00:00+00:01", 0, false, 0 },
        { "1969-12-31T23:59:59Z", SR_WALL_ZONE_OPTIONAL, false, 0 },
        { "2010-12-16T23:41:07Zx", 0, false, 0 },
        { "2010-12-16 23:41:07Z", 0, false, 0 },
        { "", SR_WALL_ZONE_OPTIONAL, false, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t us = 0;
        bool ok = sr_wall_parse(slice_cstr(cases[i].s), cases[i].flags, &us);

        tap_ok(ok == cases[i].ok && (!ok || us == cases[i].us), "sr_wall_parse '%s' flags %u: %s %llu",
               cases[i].s, cases[i].flags, ok ? "taken" : "refused", (unsigned long long)us);
    }
}

static void test_time_parse(void)
{
    static const struct {
        const char *s;
        unsigned long long us;
    } good[] = {
        { "0", 0 },
        { "1767323045", 1767323045000000ull },
        { "1970-01-01T00:00:00Z", 0 },
        { "2026-01-02T03:04:05Z", 1767323045000000ull },
        { "2026-01-02t03:04:05z", 1767323045000000ull },
        { "2026-01-02T04:04:05+01:00", 1767323045000000ull },
        { "2026-01-02T02:34:05-00:30", 1767323045000000ull },
        { "2026-01-02T03:04:05.5Z", 1767323045500000ull },
        { "2026-01-02T03:04:05.123456789Z", 1767323045123456ull },
        { "2024-02-29T00:00:00Z", 1709164800000000ull },
        { "2000-02-29T00:00:00Z", 951782400000000ull },
        { "9999-12-31T23:59:59Z", 253402300799000000ull },
    };
    static const char *const bad[] = {
        "", "-1", "+5", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-01-01 00:00:00Z", "2026-1-01T00:00:00Z", "2026-01-01T00:00Z",
        "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+01:60", "2026-01-01T00:00:00Zjunk",
        "1970-01-01T00:00:00+00:01", "12:00", "1.5", "0x10",
        "2026-01-01T00:00:00.123456789012345678901234567890Z", "2026-12-02T", "2026-12-02Z",
        "2026-12-0", "2026-12-02 ", "1764669600000000", "2026-02-29", "1969-12-31",
    };
    static const struct {
        const char *s;
        unsigned long long first, last;
    } dates[] = {
        { "2026-12-02", 1796169600000000ull, 1796255999999999ull },
        { "1970-01-01", 0, 86399999999ull },
        { "2024-02-29", 1709164800000000ull, 1709251199999999ull },
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t us = 1;
        size_t n = strlen(good[i].s);
        bool ok = sr_time_parse(slice_of(guard_copy(good[i].s, n), n), SR_TIME_LAST, &us);
        tap_ok(ok && us == good[i].us, "time '%s' = %llu (got %llu)", good[i].s, good[i].us,
               (unsigned long long)us);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t us;
        size_t n = strlen(bad[i]);
        tap_ok(!sr_time_parse(slice_of(guard_copy(bad[i], n), n), SR_TIME_FIRST, &us),
               "time '%s' refused", bad[i]);
    }
    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        uint64_t a = 1, b = 1;
        size_t n = strlen(dates[i].s);
        bool ok = sr_time_parse(slice_of(guard_copy(dates[i].s, n), n), SR_TIME_FIRST, &a) &&
                  sr_time_parse(slice_of(guard_copy(dates[i].s, n), n), SR_TIME_LAST, &b);
        tap_ok(ok && a == dates[i].first && b == dates[i].last,
               "date '%s' = [%llu, %llu] (got [%llu, %llu])", dates[i].s, dates[i].first,
               dates[i].last, (unsigned long long)a, (unsigned long long)b);
    }
}

int main(void)
{
    test_wall_parse();
    test_slice();
    test_b64();
    test_hex();
    test_buf();
    test_conf();
    test_time_parse();
    tap_ok(strcmp(sr_strerror(SR_EAUTH), "authentication failed") == 0, "strerror");
    return tap_done();
}
