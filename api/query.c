/** @file query.c  Request-target routing and query-string decoding.
 *
 * We parse the raw request-target ourselves (MHD hands it to the URI log
 * callback before unescaping), so every byte a client sends passes through
 * this one bounded, fuzzed parser: unknown or repeated parameters and
 * credentials in the URL are refused instead of silently ignored.
 */
#include <string.h>
#include <strings.h>

#include "api_priv.h"
#include "util.h"

#define PREFIX_RECORDINGS "/v1/recordings"
static const struct slice prefix_recordings = { PREFIX_RECORDINGS, sizeof(PREFIX_RECORDINGS) - 1 };

const char *api_route_name(enum api_route r)
{
    switch (r) {
    case API_ROUTE_NONE: return "none";
    case API_ROUTE_HEALTHZ: return "healthz";
    case API_ROUTE_METRICS: return "metrics";
    case API_ROUTE_LIST: return "list";
    case API_ROUTE_META: return "metadata";
    case API_ROUTE_ARCHIVE: return "archive";
    case API_ROUTE_EXPORT: return "export";
    case API_ROUTE_HOLD: return "legal_hold";
    case API_ROUTE_AUDIT: return "audit";
    case API_ROUTE_WEB: return "web";
    case API_ROUTE_EXPORT_OGG: return "export_ogg";
    case API_ROUTE_LIVEZ: return "livez";
    case API_ROUTE_EXPORT_OPUS: return "export_opus";
    case API_ROUTE_WAVEFORM: return "waveform";
    case API_ROUTE_ME: return "me";
    case API_ROUTE_ACCESS: return "access";
    case API_ROUTE_SIPREC_META: return "siprec_metadata";
    case API_ROUTE_COUNT: break;
    }
    return "none";
}

unsigned api_route_role(enum api_route r)
{
    switch (r) {
    case API_ROUTE_NONE:
    case API_ROUTE_WEB: /* the page holds no data; everything it shows needs a token */
    case API_ROUTE_HEALTHZ:
    case API_ROUTE_LIVEZ: return 0;
    case API_ROUTE_METRICS: /* any valid token: request counts are operational data */
        return API_ROLE_LISTER | API_ROLE_ARCHIVIST | API_ROLE_AUDITOR | API_ROLE_ADMIN |
               API_ROLE_LEGAL;
    case API_ROUTE_ME: /* any valid credential may learn what it may do */
        return API_ROLE_LISTER | API_ROLE_ARCHIVIST | API_ROLE_AUDITOR | API_ROLE_ADMIN |
               API_ROLE_LEGAL;
    case API_ROUTE_LIST:
    case API_ROUTE_META: return API_ROLE_LISTER;
    case API_ROUTE_ARCHIVE: return API_ROLE_ARCHIVIST;
    case API_ROUTE_EXPORT:
    case API_ROUTE_EXPORT_OGG:
    case API_ROUTE_EXPORT_OPUS:
    case API_ROUTE_WAVEFORM: return API_ROLE_AUDITOR; /* the waveform shows content too */
    case API_ROUTE_SIPREC_META: /* decrypted from the archive, like an export */
        return API_ROLE_AUDITOR;
    case API_ROUTE_ACCESS: /* who listened: the auditors' question */
        return API_ROLE_AUDITOR;
    case API_ROUTE_HOLD: return API_ROLE_LEGAL; /* or admin, which implies it */
    case API_ROUTE_AUDIT: return API_ROLE_ADMIN;
    case API_ROUTE_COUNT: break;
    }
    return API_ROLE_ADMIN;
}

bool api_id_valid(struct slice id)
{
    if (id.len != API_ID_HEX)
        return false;
    for (size_t i = 0; i < id.len; i++) {
        char c = id.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

void api_target_parse(struct slice target, struct api_target *t)
{
    struct slice rest;
    long q;

    memset(t, 0, sizeof(*t));
    t->route = API_ROUTE_NONE;
    q = slice_find(target, '?');
    if (q >= 0) {
        t->path = slice_of(target.p, (size_t)q);
        t->query = slice_of(target.p + q + 1, target.len - (size_t)q - 1);
    } else {
        t->path = target;
        t->query = slice_of(target.p + target.len, 0);
    }
    /* A fragment is never sent by conforming clients (RFC 9110 section 7.1);
     * a '#' anywhere simply fails to match a route or a parameter. */
    if (slice_eq(t->path, SLICE_LIT("/healthz"))) {
        t->route = API_ROUTE_HEALTHZ;
        return;
    }
    if (slice_eq(t->path, SLICE_LIT("/livez"))) {
        t->route = API_ROUTE_LIVEZ;
        return;
    }
    if (slice_eq(t->path, SLICE_LIT("/metrics"))) {
        t->route = API_ROUTE_METRICS;
        return;
    }
    if (slice_eq(t->path, SLICE_LIT("/v1/me"))) {
        t->route = API_ROUTE_ME;
        return;
    }
    if (slice_eq(t->path, SLICE_LIT("/v1/audit"))) {
        t->route = API_ROUTE_AUDIT;
        return;
    }
    if (slice_eq(t->path, SLICE_LIT("/"))) {
        t->route = API_ROUTE_WEB;
        t->file = slice_of(t->path.p + 1, 0);
        return;
    }
    if (t->path.len > 4 && memcmp(t->path.p, "/ui/", 4) == 0) {
        /* a single segment of [a-z0-9.-] not starting with '.': the embedded
         * file table decides whether it exists */
        struct slice f = slice_of(t->path.p + 4, t->path.len - 4);
        for (size_t i = 0; i < f.len; i++) {
            char c = f.p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  (c == '.' && i > 0)))
                return;
        }
        t->route = API_ROUTE_WEB;
        t->file = f;
        return;
    }
    if (t->path.len < prefix_recordings.len ||
        memcmp(t->path.p, prefix_recordings.p, prefix_recordings.len) != 0)
        return;
    rest = slice_of(t->path.p + prefix_recordings.len, t->path.len - prefix_recordings.len);
    if (rest.len == 0) {
        t->route = API_ROUTE_LIST;
        return;
    }
    if (rest.p[0] != '/')
        return;
    slice_skip(&rest, 1);
    t->id = slice_split(&rest, '/');
    if (t->id.len == 0)
        return; /* "/v1/recordings/" or "//": no id */
    if (rest.p == t->id.p + t->id.len) {
        /* slice_split consumed no '/': the id was the last segment */
        t->route = API_ROUTE_META;
        return;
    }
    if (slice_eq(rest, SLICE_LIT("archive")))
        t->route = API_ROUTE_ARCHIVE;
    else if (slice_eq(rest, SLICE_LIT("export.wav")))
        t->route = API_ROUTE_EXPORT;
    else if (slice_eq(rest, SLICE_LIT("export.ogg")))
        t->route = API_ROUTE_EXPORT_OGG;
    else if (slice_eq(rest, SLICE_LIT("export.opus")))
        t->route = API_ROUTE_EXPORT_OPUS;
    else if (slice_eq(rest, SLICE_LIT("waveform")))
        t->route = API_ROUTE_WAVEFORM;
    else if (slice_eq(rest, SLICE_LIT("legal-hold")))
        t->route = API_ROUTE_HOLD;
    else if (slice_eq(rest, SLICE_LIT("access")))
        t->route = API_ROUTE_ACCESS;
    else if (slice_eq(rest, SLICE_LIT("metadata")))
        t->route = API_ROUTE_SIPREC_META;
}

/* ------------------------------------------------------------------- query */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* application/x-www-form-urlencoded component into out (NUL-terminated).
 * false on a bad escape, a NUL or control byte, or overflow. */
static bool form_decode(struct slice in, char *out, size_t outlen, size_t *n)
{
    size_t o = 0;

    for (size_t i = 0; i < in.len; i++) {
        char c = in.p[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (in.len - i < 3)
                return false;
            hi = hex_digit(in.p[i + 1]);
            lo = hex_digit(in.p[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if ((unsigned char)c < 0x20 || c == 0x7f)
            return false;
        if (o + 1 >= outlen)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    *n = o;
    return true;
}

static void set_param_name(struct api_query_err *e, struct slice raw)
{
    size_t o = 0;

    for (size_t i = 0; i < raw.len && o < sizeof(e->param) - 1; i++) {
        unsigned char c = (unsigned char)raw.p[i];
        e->param[o++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    e->param[o] = '\0';
}

static enum sr_err query_fail(struct api_query_err *e, struct slice name, const char *why)
{
    set_param_name(e, name);
    e->why = why;
    return SR_EPARSE;
}

/* Names that carry credentials (RFC 6750 section 2.3 access_token, and the
 * usual variants): refused on every route so they never reach a log as
 * "unknown parameter" only. */
static bool is_credential_name(const char *name)
{
    static const char *const creds[] = { "access_token", "token", "bearer", "auth",
                                         "authorization", "api_key", "apikey", "key",
                                         "password", "secret" };

    for (size_t i = 0; i < SR_ARRAY_LEN(creds); i++)
        if (strcasecmp(name, creds[i]) == 0)
            return true;
    return false;
}

enum param_id {
    P_FROM, P_TO, P_PARTY, P_CALL_ID, P_AFTER, P_LIMIT, P_RECORDING, P_WHO, P_FORMAT, P_SORT,
    P_STREAM, P_LAYOUT, P_POINTS, P_PARTY_MATCH, P_CASE, P_REASON, P_COUNT
};

static const char *const param_names[P_COUNT] = {
    "from", "to", "party", "call_id", "after", "limit", "recording", "who", "format", "sort",
    "stream", "layout", "points", "party_match", "case", "reason",
};

/* Which route takes which parameter. */
static bool param_allowed(enum api_route route, int id)
{
    if (route == API_ROUTE_LIST)
        return id <= P_LIMIT || id == P_SORT || id == P_PARTY_MATCH;
    if (route == API_ROUTE_EXPORT)
        return id == P_STREAM || id == P_LAYOUT;
    if (route == API_ROUTE_EXPORT_OGG || route == API_ROUTE_EXPORT_OPUS)
        return id == P_STREAM;
    if (route == API_ROUTE_WAVEFORM)
        return id == P_POINTS;
    if (route == API_ROUTE_HOLD)
        return id == P_CASE || id == P_REASON;
    if (route == API_ROUTE_ACCESS)
        return id == P_AFTER || id == P_LIMIT;
    return route == API_ROUTE_AUDIT && id <= P_SORT && id != P_PARTY && id != P_CALL_ID &&
           id != P_SORT;
}

enum sr_err api_query_parse(struct slice query, enum api_route route, struct api_list_query *q,
                            struct api_query_err *e)
{
    struct slice cur = query;
    unsigned seen = 0, count = 0;

    memset(q, 0, sizeof(*q));
    memset(e, 0, sizeof(*e));
    q->limit = API_LIMIT_DEFAULT;
    q->points = API_WAVE_POINTS_DEFAULT;
    if (query.len > API_URI_MAX)
        return query_fail(e, SLICE_NULL, "query string too long");
    /* Credentials first, whatever else is wrong: the client must learn that
     * its token went into a URL (and into logs and proxies on the way). */
    for (struct slice pre = query; pre.len > 0;) {
        struct slice pair = slice_split(&pre, '&');
        struct slice rname = slice_split(&pair, '=');
        char name[API_PARAM_MAX];
        size_t nlen;
        if (form_decode(rname, name, sizeof(name), &nlen) && is_credential_name(name)) {
            e->token_in_url = true;
            return query_fail(e, rname, "credentials belong in the Authorization header");
        }
    }
    while (cur.len > 0) {
        struct slice pair = slice_split(&cur, '&'), rname, rval;
        char name[API_PARAM_MAX], val[API_PARAM_MAX];
        size_t nlen, vlen;
        bool has_eq = slice_find(pair, '=') >= 0;
        int id = -1;

        if (pair.len == 0)
            continue; /* "a=1&&b=2" and a trailing '&' are harmless */
        if (++count > API_PARAMS_MAX)
            return query_fail(e, SLICE_NULL, "too many parameters");
        rname = slice_split(&pair, '=');
        rval = pair;
        if (!form_decode(rname, name, sizeof(name), &nlen) || nlen == 0)
            return query_fail(e, rname, "malformed parameter name");
        for (int i = 0; i < P_COUNT; i++)
            if (strcmp(name, param_names[i]) == 0)
                id = i;
        if (id < 0 || !param_allowed(route, id))
            return query_fail(e, rname, "unknown parameter");
        if (seen & (1u << id))
            return query_fail(e, rname, "parameter given twice");
        seen |= 1u << id;
        if (!has_eq || !form_decode(rval, val, sizeof(val), &vlen) || vlen == 0)
            return query_fail(e, rname, "missing, empty, malformed or overlong value");
        switch ((enum param_id)id) {
        case P_FROM:
        case P_TO: {
            uint64_t t;
            if (!sr_time_parse(slice_of(val, vlen), id == P_FROM ? SR_TIME_FIRST : SR_TIME_LAST,
                               &t))
                return query_fail(e, rname,
                                  "not an RFC 3339 date-time, a date (YYYY-MM-DD) or epoch seconds");
            if (t == 0)
                t = 1; /* 0 means "open" to storage; the epoch itself is 1 us later */
            if (id == P_FROM)
                q->from_wall_us = t;
            else
                q->to_wall_us = t;
            break;
        }
        case P_PARTY: memcpy(q->party, val, vlen + 1); break;
        case P_CALL_ID: memcpy(q->call_id, val, vlen + 1); break;
        case P_AFTER:
            if (route == API_ROUTE_AUDIT || route == API_ROUTE_ACCESS) {
                if (!slice_to_u64(slice_of(val, vlen), INT64_MAX, &q->after_seq))
                    return query_fail(e, rname, "cursor must be a record number");
                break;
            }
            if (!api_id_valid(slice_of(val, vlen)))
                return query_fail(e, rname, "cursor must be 32 lower-case hex digits");
            memcpy(q->after, val, vlen + 1);
            break;
        case P_LIMIT: {
            uint64_t l;
            if (!slice_to_u64(slice_of(val, vlen), API_LIMIT_MAX, &l) || l < 1)
                return query_fail(e, rname, "limit must be 1..1000");
            q->limit = (size_t)l;
            break;
        }
        case P_RECORDING:
            if (!api_id_valid(slice_of(val, vlen)))
                return query_fail(e, rname, "recording must be 32 lower-case hex digits");
            memcpy(q->recording, val, vlen + 1);
            break;
        case P_WHO: memcpy(q->who, val, vlen + 1); break;
        case P_FORMAT:
            if (strcmp(val, "csv") != 0 && strcmp(val, "json") != 0)
                return query_fail(e, rname, "format must be json or csv");
            q->csv = strcmp(val, "csv") == 0;
            break;
        case P_SORT:
            if (strcmp(val, "start") != 0 && strcmp(val, "-start") != 0)
                return query_fail(e, rname, "sort must be start or -start");
            q->newest_first = val[0] == '-';
            break;
        case P_STREAM: {
            uint64_t n;
            if (!slice_to_u64(slice_of(val, vlen), 1023, &n))
                return query_fail(e, rname, "stream must be 0..1023");
            q->has_stream = true;
            q->stream = (unsigned)n;
            break;
        }
        case P_LAYOUT:
            if (strcmp(val, "stereo") != 0 && strcmp(val, "mixed") != 0)
                return query_fail(e, rname, "layout must be stereo or mixed");
            q->mixed = val[0] == 'm';
            break;
        case P_POINTS: {
            uint64_t n;
            if (!slice_to_u64(slice_of(val, vlen), API_WAVE_POINTS_MAX, &n) || n < 1)
                return query_fail(e, rname, "points must be 1..4000");
            q->points = (unsigned)n;
            break;
        }
        case P_PARTY_MATCH:
            if (strcmp(val, "exact") == 0)
                q->party_match = API_PARTY_EXACT;
            else if (strcmp(val, "prefix") == 0)
                q->party_match = API_PARTY_PREFIX;
            else if (strcmp(val, "substring") == 0)
                q->party_match = API_PARTY_SUBSTRING;
            else
                return query_fail(e, rname, "party_match must be exact, prefix or substring");
            break;
        case P_CASE:
            if (vlen >= sizeof(q->hold_case))
                return query_fail(e, rname, "case id longer than 127 bytes");
            memcpy(q->hold_case, val, vlen + 1);
            break;
        case P_REASON: memcpy(q->hold_reason, val, vlen + 1); break;
        case P_COUNT: break;
        }
    }
    if (q->has_stream && q->mixed)
        return query_fail(e, SLICE_LIT("layout"), "layout and stream exclude each other");
    if (q->from_wall_us && q->to_wall_us && q->from_wall_us > q->to_wall_us)
        return query_fail(e, SLICE_LIT("from"), "from is after to");
    return SR_OK;
}
