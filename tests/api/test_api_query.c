/** @file test_api_query.c  Route matching, query strings and times, with hostile inputs. */
#include <stdio.h>
#include <string.h>

#include "api_priv.h"
#include "guard.h"
#include "tap.h"

#define ID "0123456789abcdef0123456789abcdef"

static struct api_target target(const char *s)
{
    struct api_target t;
    size_t n = strlen(s);

    api_target_parse(slice_of(guard_copy(s, n), n), &t);
    return t;
}

static void routes(void)
{
    static const struct {
        const char *target;
        enum api_route route;
    } cases[] = {
        { "/healthz", API_ROUTE_HEALTHZ },
        { "/healthz?x=1", API_ROUTE_HEALTHZ },
        { "/metrics", API_ROUTE_METRICS },
        { "/v1/recordings", API_ROUTE_LIST },
        { "/v1/recordings?limit=5", API_ROUTE_LIST },
        { "/v1/recordings/" ID, API_ROUTE_META },
        { "/v1/recordings/" ID "/archive", API_ROUTE_ARCHIVE },
        { "/v1/recordings/" ID "/export.wav", API_ROUTE_EXPORT },
        { "/v1/recordings/" ID "/export.wav?x", API_ROUTE_EXPORT },
        { "/v1/recordings/" ID "/export.ogg", API_ROUTE_EXPORT_OGG },
        { "/v1/recordings/" ID "/export.ogg/", API_ROUTE_NONE },
        { "/v1/recordings/" ID "/export.opus", API_ROUTE_EXPORT_OPUS },
        { "/v1/recordings/" ID "/waveform", API_ROUTE_WAVEFORM },
        { "/v1/recordings/" ID "/waveform/", API_ROUTE_NONE },
        { "/v1/recordings/nothex", API_ROUTE_META }, /* id checked after auth: 400 */
        { "", API_ROUTE_NONE },
        { "/", API_ROUTE_WEB },
        { "/ui/app.js", API_ROUTE_WEB },
        { "/ui/", API_ROUTE_NONE },
        { "/ui/.env", API_ROUTE_NONE },
        { "/ui/../api.key", API_ROUTE_NONE },
        { "/ui/a/b.js", API_ROUTE_NONE },
        { "/ui/%2e%2e", API_ROUTE_NONE },
        { "/ui/App.js", API_ROUTE_NONE },
        { "/v1/audit", API_ROUTE_AUDIT },
        { "/v1/audit/", API_ROUTE_NONE },
        { "/v1/recordings/" ID "/legal-hold", API_ROUTE_HOLD },
        { "/v1/recordings/" ID "/legal-hold/", API_ROUTE_NONE },
        { "/v1/recordings/" ID "/access", API_ROUTE_ACCESS },
        { "/v1/recordings/" ID "/access/", API_ROUTE_NONE },
        { "/v1/me", API_ROUTE_ME },
        { "/v1/me/", API_ROUTE_NONE },
        { "/healthz/", API_ROUTE_NONE },
        { "/HEALTHZ", API_ROUTE_NONE },
        { "/v1/recordings/", API_ROUTE_NONE },
        { "/v1/recordings//archive", API_ROUTE_NONE },
        { "/v1/recordingsX", API_ROUTE_NONE },
        { "/v1/recordings/" ID "/", API_ROUTE_NONE },
        { "/v1/recordings/" ID "/archive/", API_ROUTE_NONE },
        { "/v1/recordings/" ID "/export.wav/x", API_ROUTE_NONE },
        { "/v1/recordings/" ID "/../archive", API_ROUTE_NONE },
        { "/v1/recordings/" ID "/%61rchive", API_ROUTE_NONE },
        { "/v2/recordings", API_ROUTE_NONE },
        { "v1/recordings", API_ROUTE_NONE },
        { "*", API_ROUTE_NONE },
        { "http://host/healthz", API_ROUTE_NONE },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct api_target t = target(cases[i].target);
        tap_ok(t.route == cases[i].route, "route of '%s' is %s (got %s)", cases[i].target,
               api_route_name(cases[i].route), api_route_name(t.route));
    }
    {
        struct api_target t = target("/v1/recordings/" ID "/archive?a=b");
        tap_ok(slice_eq(t.id, SLICE_LIT(ID)) && slice_eq(t.query, SLICE_LIT("a=b")),
               "id and query slices");
    }
    tap_ok(api_id_valid(SLICE_LIT(ID)), "valid id");
    tap_ok(!api_id_valid(SLICE_LIT("0123456789ABCDEF0123456789abcdef")), "upper-case id");
    tap_ok(!api_id_valid(SLICE_LIT("0123456789abcdef0123456789abcde")), "31 digits");
    tap_ok(!api_id_valid(SLICE_LIT(ID "0")), "33 digits");
    tap_ok(!api_id_valid(SLICE_LIT("0123456789abcdef0123456789abcdeg")), "non-hex");
    tap_ok(api_route_role(API_ROUTE_HEALTHZ) == 0, "healthz needs no token");
    tap_ok(api_route_role(API_ROUTE_LIST) == API_ROLE_LISTER, "list needs lister");
    tap_ok(api_route_role(API_ROUTE_META) == API_ROLE_LISTER, "metadata needs lister");
    tap_ok(api_route_role(API_ROUTE_ARCHIVE) == API_ROLE_ARCHIVIST, "archive needs archivist");
    tap_ok(api_route_role(API_ROUTE_EXPORT) == API_ROLE_AUDITOR, "export needs auditor");
    tap_ok(api_route_role(API_ROUTE_EXPORT_OGG) == API_ROLE_AUDITOR, "export.ogg needs auditor");
    tap_ok(api_route_role(API_ROUTE_EXPORT_OPUS) == API_ROLE_AUDITOR &&
               api_route_role(API_ROUTE_WAVEFORM) == API_ROLE_AUDITOR,
           "export.opus and the waveform (it shows content) need auditor");
    tap_ok(api_route_role(API_ROUTE_ACCESS) == API_ROLE_AUDITOR, "access history needs auditor");
    tap_ok(api_route_role(API_ROUTE_HOLD) == API_ROLE_LEGAL &&
               api_roles_allow(API_ROLE_ADMIN, API_ROLE_LEGAL) &&
               !api_roles_allow(API_ROLE_LISTER | API_ROLE_AUDITOR, API_ROLE_LEGAL),
           "legal hold needs legal-hold, which admin implies");
    tap_ok((api_route_role(API_ROUTE_ME) & API_ROLE_LEGAL) &&
               (api_route_role(API_ROUTE_ME) & API_ROLE_LISTER),
           "/v1/me: any role is enough");
}

static enum sr_err q(const char *s, enum api_route r, struct api_list_query *lq,
                     struct api_query_err *e)
{
    size_t n = strlen(s);
    return api_query_parse(slice_of(guard_copy(s, n), n), r, lq, e);
}

static void queries(void)
{
    struct api_list_query lq;
    struct api_query_err e;

    tap_ok(q("", API_ROUTE_LIST, &lq, &e) == SR_OK && lq.limit == API_LIMIT_DEFAULT &&
               lq.from_wall_us == 0 && !lq.party[0],
           "empty query: defaults");
    tap_ok(q("from=2026-01-02T03:04:05Z&to=1767323045&party=sip%3Aalice%40example.net"
             "&call_id=a+b&after=" ID "&limit=1000",
             API_ROUTE_LIST, &lq, &e) == SR_OK,
           "all parameters");
    tap_ok(lq.from_wall_us == 1767323045000000ull && lq.to_wall_us == 1767323045000000ull,
           "from (RFC 3339) equals to (epoch)");
    tap_ok(strcmp(lq.party, "sip:alice@example.net") == 0, "party percent-decoded");
    tap_ok(strcmp(lq.call_id, "a b") == 0, "'+' is a space");
    tap_ok(strcmp(lq.after, ID) == 0 && lq.limit == 1000, "cursor and limit");
    tap_ok(q("limit=1&&", API_ROUTE_LIST, &lq, &e) == SR_OK && lq.limit == 1,
           "empty pairs ignored");
    tap_ok(q("after=42&limit=7", API_ROUTE_AUDIT, &lq, &e) == SR_OK && lq.after_seq == 42 &&
               lq.limit == 7,
           "audit: a numeric cursor and a limit");
    tap_ok(q("after=" ID, API_ROUTE_AUDIT, &lq, &e) == SR_EPARSE && strcmp(e.param, "after") == 0,
           "audit: an id is not a cursor");
    tap_ok(q("after=9223372036854775808", API_ROUTE_AUDIT, &lq, &e) == SR_EPARSE,
           "audit: a cursor past INT64_MAX is refused");
    tap_ok(q("recording=" ID "&who=sip%3Aa%40b&from=2026-12-02&to=2026-12-02&format=csv",
             API_ROUTE_AUDIT, &lq, &e) == SR_OK && strcmp(lq.recording, ID) == 0 &&
               strcmp(lq.who, "sip:a@b") == 0 && lq.csv && lq.from_wall_us == 1796169600000000ull &&
               lq.to_wall_us == 1796255999999999ull,
           "audit filters: recording, who, a bare-date range (the whole day), format=csv");
    tap_ok(q("format=json", API_ROUTE_AUDIT, &lq, &e) == SR_OK && !lq.csv, "format=json");
    tap_ok(q("format=xml", API_ROUTE_AUDIT, &lq, &e) == SR_EPARSE && strcmp(e.param, "format") == 0,
           "format=xml refused, named");
    tap_ok(q("recording=xyz", API_ROUTE_AUDIT, &lq, &e) == SR_EPARSE &&
               strcmp(e.param, "recording") == 0,
           "recording must be an id");
    tap_ok(q("sort=-start", API_ROUTE_LIST, &lq, &e) == SR_OK && lq.newest_first, "sort=-start");
    tap_ok(q("sort=start", API_ROUTE_LIST, &lq, &e) == SR_OK && !lq.newest_first, "sort=start");
    tap_ok(q("sort=party", API_ROUTE_LIST, &lq, &e) == SR_EPARSE && strcmp(e.param, "sort") == 0,
           "sort=party refused, named");
    tap_ok(q("sort=start", API_ROUTE_AUDIT, &lq, &e) == SR_EPARSE, "the audit has no sort");
    tap_ok(q("", API_ROUTE_WAVEFORM, &lq, &e) == SR_OK && lq.points == API_WAVE_POINTS_DEFAULT,
           "waveform: points default %d", API_WAVE_POINTS_DEFAULT);
    tap_ok(q("points=4000", API_ROUTE_WAVEFORM, &lq, &e) == SR_OK && lq.points == 4000 &&
               q("points=4001", API_ROUTE_WAVEFORM, &lq, &e) == SR_EPARSE &&
               q("points=0", API_ROUTE_WAVEFORM, &lq, &e) == SR_EPARSE &&
               strcmp(e.param, "points") == 0,
           "waveform: points 1..4000, else refused, named");
    tap_ok(q("stream=3", API_ROUTE_EXPORT_OPUS, &lq, &e) == SR_OK && lq.has_stream && lq.stream == 3 &&
               q("stream=1024", API_ROUTE_EXPORT, &lq, &e) == SR_EPARSE &&
               q("stream=1", API_ROUTE_EXPORT_OGG, &lq, &e) == SR_OK && lq.stream == 1,
           "exports: stream=0..1023");
    tap_ok(q("layout=mixed", API_ROUTE_EXPORT, &lq, &e) == SR_OK && lq.mixed &&
               q("layout=stereo", API_ROUTE_EXPORT, &lq, &e) == SR_OK && !lq.mixed &&
               q("layout=mono", API_ROUTE_EXPORT, &lq, &e) == SR_EPARSE &&
               q("layout=mixed&stream=0", API_ROUTE_EXPORT, &lq, &e) == SR_EPARSE &&
               q("layout=mixed", API_ROUTE_EXPORT_OPUS, &lq, &e) == SR_EPARSE &&
               q("points=5", API_ROUTE_EXPORT, &lq, &e) == SR_EPARSE,
           "export.wav: layout=stereo|mixed, not with stream; only its own parameters per route");
    tap_ok(q("who=x", API_ROUTE_LIST, &lq, &e) == SR_EPARSE && strcmp(e.param, "who") == 0,
           "who is the audit's, not the listing's");
    tap_ok(q("party=x", API_ROUTE_AUDIT, &lq, &e) == SR_EPARSE && strcmp(e.param, "party") == 0,
           "audit: listing filters are unknown parameters");
    tap_ok(q("after=1", API_ROUTE_HOLD, &lq, &e) == SR_EPARSE, "legal-hold takes no cursor");
    tap_ok(q("case=CASE-7&reason=litigation+hold", API_ROUTE_HOLD, &lq, &e) == SR_OK &&
               strcmp(lq.hold_case, "CASE-7") == 0 && strcmp(lq.hold_reason, "litigation hold") == 0,
           "legal-hold: case and reason");
    {
        char big[160];
        memset(big, 'c', sizeof(big));
        memcpy(big, "case=", 5);
        big[sizeof(big) - 1] = '\0';
        tap_ok(q(big, API_ROUTE_HOLD, &lq, &e) == SR_EPARSE && strcmp(e.param, "case") == 0,
               "a case id over 127 bytes is refused");
    }
    tap_ok(q("party=x&party_match=substring", API_ROUTE_LIST, &lq, &e) == SR_OK &&
               lq.party_match == API_PARTY_SUBSTRING, "party_match=substring");
    tap_ok(q("party_match=prefix", API_ROUTE_LIST, &lq, &e) == SR_OK &&
               lq.party_match == API_PARTY_PREFIX, "party_match=prefix");
    tap_ok(q("party_match=glob", API_ROUTE_LIST, &lq, &e) == SR_EPARSE &&
               strcmp(e.param, "party_match") == 0, "party_match=glob refused, named");
    tap_ok(q("party_match=exact", API_ROUTE_AUDIT, &lq, &e) == SR_EPARSE,
           "party_match is the listing's");
    tap_ok(q("after=7&limit=5", API_ROUTE_ACCESS, &lq, &e) == SR_OK && lq.after_seq == 7 &&
               lq.limit == 5, "access history: after (a seq) and limit");
    tap_ok(q("who=x", API_ROUTE_ACCESS, &lq, &e) == SR_EPARSE, "access history: no other filter");
    tap_ok(q("x=1", API_ROUTE_ME, &lq, &e) == SR_EPARSE, "/v1/me takes no parameters");
    tap_ok(q("access_token=x", API_ROUTE_WEB, &lq, &e) == SR_EPARSE && e.token_in_url,
           "a token in the page's URL is refused too");

    static const struct {
        const char *query;
        enum api_route route;
        const char *param;
        bool token;
    } bad[] = {
        { "limit=0", API_ROUTE_LIST, "limit", false },
        { "limit=1001", API_ROUTE_LIST, "limit", false },
        { "limit=-1", API_ROUTE_LIST, "limit", false },
        { "limit=1e3", API_ROUTE_LIST, "limit", false },
        { "limit=99999999999999999999999", API_ROUTE_LIST, "limit", false },
        { "limit=", API_ROUTE_LIST, "limit", false },
        { "limit", API_ROUTE_LIST, "limit", false },
        { "limit=5&limit=6", API_ROUTE_LIST, "limit", false },
        { "from=yesterday", API_ROUTE_LIST, "from", false },
        { "from=2026-02-30T00:00:00Z", API_ROUTE_LIST, "from", false },
        { "from=2026-01-01T00:00:00", API_ROUTE_LIST, "from", false },
        { "from=2026-01-01T24:00:00Z", API_ROUTE_LIST, "from", false },
        { "from=2026-01-01T00:00:60Z", API_ROUTE_LIST, "from", false },
        { "from=1969-12-31T23:59:59Z", API_ROUTE_LIST, "from", false },
        { "from=2026-01-01T00:00:00.Z", API_ROUTE_LIST, "from", false },
        { "from=2026-01-01T00:00:00.1234567890Z", API_ROUTE_LIST, "from", false },
        { "from=2026-01-01T00:00:00+2:00", API_ROUTE_LIST, "from", false },
        { "from=253402300800", API_ROUTE_LIST, "from", false },
        { "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", API_ROUTE_LIST, "from", false },
        { "after=" ID "0", API_ROUTE_LIST, "after", false },
        { "after=0123456789ABCDEF0123456789ABCDEF", API_ROUTE_LIST, "after", false },
        { "party=%", API_ROUTE_LIST, "party", false },
        { "party=%4", API_ROUTE_LIST, "party", false },
        { "party=%zz", API_ROUTE_LIST, "party", false },
        { "party=%00", API_ROUTE_LIST, "party", false },
        { "party=a%0Ab", API_ROUTE_LIST, "party", false },
        { "call_id=", API_ROUTE_LIST, "call_id", false },
        { "sort=asc", API_ROUTE_LIST, "sort", false },
        { "LIMIT=5", API_ROUTE_LIST, "LIMIT", false },
        { "=5", API_ROUTE_LIST, "", false },
        { "limit=5", API_ROUTE_META, "limit", false },
        { "x", API_ROUTE_HEALTHZ, "x", false },
        { "access_token=abc", API_ROUTE_LIST, "access_token", true },
        { "limit=5&token=abc", API_ROUTE_EXPORT, "token", true },
        { "Access_Token=abc", API_ROUTE_HEALTHZ, "Access_Token", true },
        { "access%5Ftoken=abc", API_ROUTE_LIST, "access%5Ftoken", true },
        { "a%22b%5C=1", API_ROUTE_LIST, "a%22b%5C", false },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&e, 0x55, sizeof(e));
        enum sr_err err = q(bad[i].query, bad[i].route, &lq, &e);
        tap_ok(err == SR_EPARSE && e.why && strcmp(e.param, bad[i].param) == 0 &&
                   e.token_in_url == bad[i].token,
               "refused '%s' naming '%s' (got '%s': %s)", bad[i].query, bad[i].param,
               err == SR_EPARSE ? e.param : "", err == SR_EPARSE && e.why ? e.why : "accepted");
    }
    {
        /* party value one byte under and at the bound */
        char buf[API_PARAM_MAX + 16];
        memcpy(buf, "party=", 6);
        memset(buf + 6, 'p', API_PARAM_MAX - 1);
        buf[6 + API_PARAM_MAX - 1] = '\0';
        tap_ok(q(buf, API_ROUTE_LIST, &lq, &e) == SR_OK && strlen(lq.party) == API_PARAM_MAX - 1,
               "party of %d bytes fits", API_PARAM_MAX - 1);
        buf[6 + API_PARAM_MAX - 1] = 'p';
        buf[6 + API_PARAM_MAX] = '\0';
        tap_ok(q(buf, API_ROUTE_LIST, &lq, &e) == SR_EPARSE, "party of %d bytes refused",
               API_PARAM_MAX);
    }
    {
        char buf[512];
        size_t off = 0;
        for (int i = 0; i <= API_PARAMS_MAX; i++, off += 8)
            memcpy(buf + off, "limit=1&", 8);
        buf[off] = '\0';
        tap_ok(q(buf, API_ROUTE_LIST, &lq, &e) == SR_EPARSE, "too many parameters");
    }
    {
        /* non-printable name bytes never reach the error body raw */
        tap_ok(q("%ff%01=1", API_ROUTE_LIST, &lq, &e) == SR_EPARSE, "control byte in name");
        tap_ok(q("\xff\x01=1", API_ROUTE_LIST, &lq, &e) == SR_EPARSE && strcmp(e.param, "??") == 0,
               "raw high bytes masked in the error: '%s'", e.param);
    }
}

/* Every prefix of a hostile target must be handled without reading past it. */
static void prefixes(void)
{
    static const char t[] = "/v1/recordings/" ID "/export.wav?from=2026-01-02T03:04:05.5%2B01:00"
                            "&party=%41&limit=10&after=" ID;
    struct api_list_query lq;
    struct api_query_err e;

    for (size_t i = 0; i <= sizeof(t) - 1; i++) {
        struct api_target at;
        api_target_parse(slice_of(guard_copy(t, i), i), &at);
        (void)api_query_parse(at.query, API_ROUTE_LIST, &lq, &e);
    }
    tap_ok(true, "all %zu prefixes parsed within bounds", sizeof(t));
}

int main(void)
{
    routes();
    queries();
    prefixes();
    return tap_done();
}
