/* Allow list parsing and matching. */
#include <string.h>

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
    return tap_done();
}
