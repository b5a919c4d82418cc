/* Allow list parsing and matching. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ka_priv.h"
#include "tap.h"

int main(void)
{
    static struct ka_authz az;
    char big[4096];
    const char *why;
    size_t n = 0;

    tap_ok(ka_authz_parse(&az, "sip:recorder@example.net, sips:rec2@Example.NET ,dns.example",
                          &why) == SR_OK && az.n == 3, "three entries");
    tap_ok(ka_authz_allows(&az, "sip:recorder@example.net"), "exact match");
    tap_ok(ka_authz_allows(&az, "SIP:recorder@EXAMPLE.net"), "scheme and host fold case");
    tap_ok(!ka_authz_allows(&az, "sip:Recorder@example.net"), "user part is case-sensitive");
    tap_ok(!ka_authz_allows(&az, "sips:recorder@example.net"), "sip: and sips: differ");
    tap_ok(ka_authz_allows(&az, "sips:rec2@example.net"), "second entry");
    tap_ok(ka_authz_allows(&az, "DNS.example"), "DNS identity folds case");
    tap_ok(!ka_authz_allows(&az, "sip:intruder@example.net"), "others refused");
    tap_ok(!ka_authz_allows(&az, ""), "empty identity refused");
    tap_ok(!ka_authz_allows(&az, "sip:recorder@example.net.evil"), "no suffix games");
    tap_ok(!ka_authz_allows(&az, "sip:recorder@example.ne"), "no prefix games");

    tap_ok(ka_authz_parse(&az, "", &why) == SR_OK && az.n == 0 && !ka_authz_allows(&az, "sip:a@b"),
           "empty list allows nobody");
    tap_ok(ka_authz_parse(&az, "sip:a@b,,sip:c@d", &why) == SR_EPARSE, "empty entry refused");
    tap_ok(ka_authz_parse(&az, "sip:a@b,", &why) == SR_EPARSE, "trailing comma refused");
    tap_ok(ka_authz_parse(&az, "sip:a b@c", &why) == SR_EPARSE, "inner space refused");
    tap_ok(ka_authz_parse(&az, "sip:a\x01@c", &why) == SR_EPARSE, "control byte refused");
    for (int i = 0; i < KA_AUTHZ_MAX + 1; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "%ssip:%d@x", i ? "," : "", i);
    tap_ok(ka_authz_parse(&az, big, &why) == SR_ELIMIT, "more than KA_AUTHZ_MAX refused");
    memset(big, 'a', SIPEV_STR + 1);
    big[SIPEV_STR + 1] = '\0';
    tap_ok(ka_authz_parse(&az, big, &why) == SR_ELIMIT, "over-long entry refused");
    tap_ok(ka_authz_parse(&az, "sip:rec@x, sip:li@agency.example;aor=sip:t@pstn.example;domain=d.example",
                          &why) == SR_OK && az.n == 2, "entry with filters");
    tap_ok(ka_authz_lookup(&az, "sip:rec@x") && ka_authz_lookup(&az, "sip:rec@x")->n == 0,
           "plain entry: empty filter");
    tap_ok(ka_authz_lookup(&az, "sip:li@agency.example") &&
               ka_authz_lookup(&az, "sip:li@agency.example")->n == 2,
           "filtered entry: two items; identity ends at ';'");
    tap_ok(ka_authz_parse(&az, "sip:li@a;user=bob", &why) == SR_EPARSE, "unknown filter refused");
    tap_ok(ka_authz_parse(&az, "sip:li@a;aor=", &why) == SR_EPARSE, "empty filter value refused");
    tap_ok(ka_authz_parse(&az, ";aor=sip:a@b", &why) == SR_EPARSE, "empty identity refused");

    /* Strict parsing: each fault refused, with where it starts. */
    static const struct {
        const char *list;
        size_t col;
        const char *what;
    } bad[] = {
        { "sip:li@agency.example;", 21, "trailing ';' (template with an empty target)" },
        { "sip:rec@x, sip:li@agency.example;", 32, "trailing ';' in a later entry" },
        { "sip:li@a;;aor=sip:t@b", 9, "empty filter between ';;'" },
        { "sip:li@a;aor=sip:t@b;", 20, "trailing ';' after a filter" },
        { "sip:rec@x,", 10, "trailing ','" },
        { "sip:rec@x, sip:li@a, SIP:rec@X", 21, "duplicate identity (scheme and host folded)" },
        { "sip:li@a;aor=sip:t@b, sip:li@a;domain=c", 22, "duplicate identity with other filters" },
        { "sip:li@a;target=sip:t@b", 9, "unknown parameter" },
        { "sip:li@a;aor", 9, "filter without '='" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t col = 999;
        enum sr_err err;
        az.n = 7;
        err = ka_authz_parse_at(&az, bad[i].list, &why, &col);
        tap_ok(err == SR_EPARSE && az.n == 0 && col == bad[i].col,
               "refused at column %zu (got %zu): %s: %s", bad[i].col, col, bad[i].what, why);
    }
    tap_ok(ka_authz_parse_at(&az, "sip:li@a;aor=sip:t@b;domain=c.example", &why, NULL) == SR_OK &&
               az.n == 1 && az.filter[0].n == 2,
           "two filters, no trailing separator: accepted");
    tap_ok(ka_authz_parse(&az, "sip:li@a;", &why) == SR_EPARSE,
           "ka_authz_parse is as strict");

    /* The error's file position: the value's line and column. */
    char path[] = "/tmp/test_ka_authz_XXXXXX";
    int fd = mkstemp(path);
    unsigned line = 0, col = 0;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f) {
        fputs("[recorder]\nallow = nope\n\n[keyagent]\n; a comment\n"
              "max-connections = 4\n  allow =  sip:rec@x, sip:li@a;\n[api]\nallow = x\n", f);
        fclose(f);
    }
    tap_ok(f && ka_conf_locate(path, "keyagent", "allow", "sip:rec@x, sip:li@a;", &line, &col) &&
               line == 7 && col == 12,
           "value located in its section: line 7 column 12 (got %u:%u)", line, col);
    tap_ok(!ka_conf_locate(path, "keyagent", "allow", "sip:other@y", &line, &col),
           "a value the file does not hold (from --allow) is not located");
    unlink(path);
    return tap_done();
}
