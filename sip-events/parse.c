/** @file parse.c  Zero-copy, one-pass SIP message parser (RFC 3261 section 7 and 25).
 *
 * picohttpparser's habits: never read past buf + len, never allocate, keep
 * no state between calls (a caller re-parses from the start when more bytes
 * arrive), and decide "incomplete" before "malformed" only where the missing
 * bytes could still make the input valid.  A header line is looked at only
 * once its CRLF and the byte after it are present, because that byte decides
 * whether the line is folded (RFC 3261 7.3.1).
 */
#include <string.h>

#include "sipev.h"
#include "sipev_priv.h"

/* RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
static const unsigned char token_tab[256] = {
    ['!'] = 1, ['%'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1, ['b'] = 1,
    ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['~'] = 1,
};

bool sipev_is_token_char(char c)
{
    return token_tab[(unsigned char)c] != 0;
}

bool sipev_is_token(struct slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!token_tab[(unsigned char)s.p[i]])
            return false;
    return true;
}

static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* name is a token, lit is lower case: "| 0x20" folds only letters among token chars. */
static bool name_is(const char *name, const char *lit, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((char)(name[i] | 0x20) != lit[i])
            return false;
    return true;
}

#define NAME_IS(lit) (len == sizeof(lit) - 1 && name_is(name, lit, sizeof(lit) - 1))

enum sipev_hdr_id sipev_hdr_lookup(const char *name, size_t len)
{
    if (len == 1) {
        switch (name[0] | 0x20) {
        case 'v': return SIPEV_HDR_VIA;
        case 'f': return SIPEV_HDR_FROM;
        case 't': return SIPEV_HDR_TO;
        case 'i': return SIPEV_HDR_CALL_ID;
        case 'm': return SIPEV_HDR_CONTACT;
        case 'o': return SIPEV_HDR_EVENT;
        case 'u': return SIPEV_HDR_ALLOW_EVENTS;
        case 'c': return SIPEV_HDR_CONTENT_TYPE;
        case 'l': return SIPEV_HDR_CONTENT_LENGTH;
        case 'k': return SIPEV_HDR_SUPPORTED;
        default: return SIPEV_HDR_OTHER;
        }
    }
    switch (name[0] | 0x20) {
    case 'a':
        if (NAME_IS("accept"))
            return SIPEV_HDR_ACCEPT;
        if (NAME_IS("allow-events"))
            return SIPEV_HDR_ALLOW_EVENTS;
        break;
    case 'c':
        if (NAME_IS("cseq"))
            return SIPEV_HDR_CSEQ;
        if (NAME_IS("call-id"))
            return SIPEV_HDR_CALL_ID;
        if (NAME_IS("contact"))
            return SIPEV_HDR_CONTACT;
        if (NAME_IS("content-length"))
            return SIPEV_HDR_CONTENT_LENGTH;
        if (NAME_IS("content-type"))
            return SIPEV_HDR_CONTENT_TYPE;
        break;
    case 'e':
        if (NAME_IS("event"))
            return SIPEV_HDR_EVENT;
        if (NAME_IS("expires"))
            return SIPEV_HDR_EXPIRES;
        break;
    case 'f':
        if (NAME_IS("from"))
            return SIPEV_HDR_FROM;
        break;
    case 'm':
        if (NAME_IS("max-forwards"))
            return SIPEV_HDR_MAX_FORWARDS;
        if (NAME_IS("min-expires"))
            return SIPEV_HDR_MIN_EXPIRES;
        break;
    case 'r':
        if (NAME_IS("route"))
            return SIPEV_HDR_ROUTE;
        if (NAME_IS("record-route"))
            return SIPEV_HDR_RECORD_ROUTE;
        if (NAME_IS("require"))
            return SIPEV_HDR_REQUIRE;
        break;
    case 's':
        if (NAME_IS("subscription-state"))
            return SIPEV_HDR_SUBSCRIPTION_STATE;
        if (NAME_IS("supported"))
            return SIPEV_HDR_SUPPORTED;
        break;
    case 't':
        if (NAME_IS("to"))
            return SIPEV_HDR_TO;
        break;
    case 'v':
        if (NAME_IS("via"))
            return SIPEV_HDR_VIA;
        break;
    default: break;
    }
    return SIPEV_HDR_OTHER;
}

/* ---------------------------------------------------------------- helpers */

static struct slice trim_lws(struct slice s)
{
    while (s.len && is_lws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_lws(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* Skip a quoted-string starting at s[i] == '"'; returns the index after the
 * closing quote or s.len + 1 when unterminated (RFC 3261 25.1 quoted-pair). */
static size_t skip_quoted(struct slice s, size_t i)
{
    for (i++; i < s.len; i++) {
        if (s.p[i] == '\\') {
            i++;
            continue;
        }
        if (s.p[i] == '"')
            return i + 1;
    }
    return s.len + 1;
}

bool sipev_cseq_parse(struct slice value, uint32_t *num, struct slice *method)
{
    struct slice v = trim_lws(value);
    size_t i = 0;
    uint64_t n = 0;

    while (i < v.len && is_digit(v.p[i])) {
        n = n * 10 + (uint64_t)(v.p[i] - '0');
        if (n > UINT32_MAX) /* RFC 3261 8.1.1.5: < 2^31 when chosen, <= 2^32-1 on the wire */
            return false;
        i++;
    }
    if (i == 0 || i == v.len || !is_lws(v.p[i]))
        return false;
    while (i < v.len && is_lws(v.p[i]))
        i++;
    if (!sipev_is_token(slice_of(v.p + i, v.len - i)))
        return false;
    if (num)
        *num = (uint32_t)n;
    if (method)
        *method = slice_of(v.p + i, v.len - i);
    return true;
}

bool sipev_uri_of(struct slice value, struct slice *uri)
{
    struct slice v = trim_lws(value);
    size_t i = 0;

    while (i < v.len) {
        char c = v.p[i];
        if (c == '"') {
            i = skip_quoted(v, i);
            continue;
        }
        if (c == '<') {
            long close = slice_find(slice_of(v.p + i + 1, v.len - i - 1), '>');
            if (close < 0)
                return false;
            *uri = trim_lws(slice_of(v.p + i + 1, (size_t)close));
            return uri->len > 0;
        }
        if (c == ';' || c == ',')
            break; /* addr-spec form: parameters belong to the header */
        i++;
    }
    if (i > v.len)
        return false; /* unterminated quoted string */
    /* No <>: the whole leading run is the addr-spec (RFC 3261 20.10). */
    *uri = trim_lws(slice_of(v.p, i));
    if (uri->len == 0 || memchr(uri->p, '"', uri->len))
        return false;
    return true;
}

struct slice sipev_value_token(struct slice value)
{
    struct slice v = trim_lws(value);
    size_t i = 0;

    while (i < v.len && v.p[i] != ';' && v.p[i] != ',' && !is_lws(v.p[i]))
        i++;
    return slice_of(v.p, i);
}

bool sipev_param(struct slice value, const char *name, struct slice *out)
{
    struct slice want = slice_cstr(name);
    struct slice v = value;
    size_t i = 0;

    while (i < v.len) {
        char c = v.p[i];
        if (c == '"') {
            i = skip_quoted(v, i);
            continue;
        }
        if (c == '<') {
            long close = slice_find(slice_of(v.p + i, v.len - i), '>');
            if (close < 0)
                return false;
            i += (size_t)close + 1;
            continue;
        }
        if (c == ',')
            return false; /* parameters of the first value only */
        if (c != ';') {
            i++;
            continue;
        }
        /* generic-param = token [ EQUAL gen-value ] */
        size_t ns = ++i, ne, vs, ve;
        while (ns < v.len && is_lws(v.p[ns]))
            ns++;
        ne = ns;
        while (ne < v.len && sipev_is_token_char(v.p[ne]))
            ne++;
        i = ne;
        while (i < v.len && is_lws(v.p[i]))
            i++;
        vs = ve = i;
        if (i < v.len && v.p[i] == '=') {
            vs = i + 1;
            while (vs < v.len && is_lws(v.p[vs]))
                vs++;
            if (vs < v.len && v.p[vs] == '"') {
                ve = skip_quoted(v, vs);
                if (ve > v.len)
                    return false;
            } else {
                ve = vs;
                while (ve < v.len && v.p[ve] != ';' && v.p[ve] != ',' && !is_lws(v.p[ve]))
                    ve++;
            }
            i = ve;
        }
        if (slice_eq_nocase(slice_of(v.p + ns, ne - ns), want)) {
            *out = slice_of(v.p + vs, ve - vs);
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------ header validators */

/* One via-parm: "SIP / 2.0 / transport LWS sent-by *(; via-params)". */
static const char *via_parm_check(struct slice part)
{
    long semi = slice_find(part, ';');
    struct slice head = trim_lws(semi < 0 ? part : slice_of(part.p, (size_t)semi));
    size_t slashes = 0, k, t;

    if (head.len == 0)
        return "empty Via value";
    for (k = 0; k < head.len; k++)
        slashes += head.p[k] == '/';
    if (slashes < 2)
        return "Via lacks SIP/2.0/transport";
    k = head.len;
    while (k > 0 && head.p[k - 1] != '/')
        k--;
    struct slice after = trim_lws(slice_of(head.p + k, head.len - k));
    for (t = 0; t < after.len && sipev_is_token_char(after.p[t]); t++)
        ;
    if (t == 0 || trim_lws(slice_of(after.p + t, after.len - t)).len == 0)
        return "Via lacks transport or sent-by";
    if (semi < 0)
        return NULL;
    struct slice params = slice_of(part.p + semi + 1, part.len - (size_t)semi - 1);
    for (;;) {
        long next = slice_find(params, ';');
        struct slice param = next < 0 ? params : slice_of(params.p, (size_t)next);
        long eq = slice_find(param, '=');
        struct slice pname = trim_lws(eq < 0 ? param : slice_of(param.p, (size_t)eq));
        if (!sipev_is_token(pname))
            return "empty or malformed Via parameter";
        if (next < 0)
            return NULL;
        params = slice_of(params.p + next + 1, params.len - (size_t)next - 1);
    }
}

/* Via: comma-separated via-parms.  Empty values or empty parameters
 * (RFC 4475 3.1.2.1, badinv01) are syntax errors a parser can see. */
static const char *via_check(struct slice value)
{
    struct slice rest = value;

    for (;;) {
        size_t i = 0;
        const char *r;

        while (i < rest.len && rest.p[i] != ',') {
            if (rest.p[i] == '"') {
                i = skip_quoted(rest, i);
                if (i > rest.len)
                    return "unterminated quoted string in Via";
                continue;
            }
            i++;
        }
        r = via_parm_check(slice_of(rest.p, i));
        if (r || i >= rest.len)
            return r;
        rest = slice_of(rest.p + i + 1, rest.len - i - 1);
    }
}

/* From / To: name-addr or addr-spec.  Checks what breaks framing of the value:
 * quotes must balance (RFC 4475 3.1.2.6), "<" needs ">", and the URI inside
 * <> has no whitespace (RFC 4475 3.1.2.14: we take the strict reading). */
static const char *nameaddr_check(struct slice value)
{
    struct slice v = trim_lws(value);
    size_t i = 0;

    if (v.len == 0)
        return "empty From/To";
    while (i < v.len) {
        char c = v.p[i];
        if (c == '"') {
            i = skip_quoted(v, i);
            if (i > v.len)
                return "unterminated quoted string in From/To";
            continue;
        }
        if (c == '<') {
            size_t j = i + 1;
            while (j < v.len && v.p[j] != '>') {
                if (is_lws(v.p[j]))
                    return "whitespace inside <URI> in From/To";
                j++;
            }
            if (j == v.len)
                return "unterminated <URI> in From/To";
            if (j == i + 1)
                return "empty <URI> in From/To";
            return NULL;
        }
        if (c == ';')
            return NULL; /* addr-spec then header parameters */
        if (c == '>')
            return "'>' without '<' in From/To";
        i++;
    }
    return NULL;
}

/* Request-URI: no whitespace or CTL, a scheme ("<sip:...>" is RFC 4475
 * 3.1.2.7), and for sip/sips a host that is a name, IPv4 or [IPv6]
 * reference followed by an optional numeric port (RFC 5118 4.2). */
static const char *ruri_check(struct slice u)
{
    size_t i = 0;

    for (size_t k = 0; k < u.len; k++)
        if ((unsigned char)u.p[k] <= 0x20 || u.p[k] == 0x7f)
            return "control character in Request-URI";
    if (u.len == 0 || !is_alpha(u.p[0]))
        return "Request-URI lacks a scheme";
    while (i < u.len && (is_alpha(u.p[i]) || is_digit(u.p[i]) || u.p[i] == '+' ||
                         u.p[i] == '-' || u.p[i] == '.'))
        i++;
    if (i == u.len || u.p[i] != ':')
        return "Request-URI lacks a scheme";
    struct slice scheme = slice_of(u.p, i);
    if (!slice_eq_nocase(scheme, SLICE_LIT("sip")) && !slice_eq_nocase(scheme, SLICE_LIT("sips")))
        return NULL; /* other schemes are for the UAS to refuse (416) */
    struct slice rest = slice_of(u.p + i + 1, u.len - i - 1);
    long at = slice_find(rest, '@');
    if (at >= 0)
        rest = slice_of(rest.p + at + 1, rest.len - (size_t)at - 1);
    i = 0;
    if (rest.len && rest.p[0] == '[') {
        long close = slice_find(rest, ']');
        if (close < 2)
            return "unterminated IPv6 reference in Request-URI";
        for (long k = 1; k < close; k++) {
            char c = rest.p[k];
            if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                  c == '.'))
                return "bad IPv6 reference in Request-URI";
        }
        i = (size_t)close + 1;
    } else {
        while (i < rest.len && (is_alpha(rest.p[i]) || is_digit(rest.p[i]) || rest.p[i] == '-' ||
                                rest.p[i] == '.' || rest.p[i] == '_'))
            i++;
        if (i == 0)
            return "Request-URI lacks a host";
    }
    if (i < rest.len && rest.p[i] == ':') {
        size_t d = ++i;
        while (i < rest.len && is_digit(rest.p[i]))
            i++;
        if (i == d || i - d > 5)
            return "bad port in Request-URI (IPv6 address without []?)";
    }
    if (i < rest.len && rest.p[i] != ';' && rest.p[i] != '?')
        return "bad host in Request-URI";
    return NULL;
}

/* ------------------------------------------------------------------ parse */

/* First CR or LF in [p, end), or end.  Two memchr passes beat a byte loop:
 * libc scans a word or a vector at a time. */
static const char *scan_eol(const char *p, const char *end)
{
    const char *cr = memchr(p, '\r', (size_t)(end - p));
    const char *lf = memchr(p, '\n', (size_t)((cr ? cr : end) - p));

    return lf ? lf : cr ? cr : end;
}

struct seen {
    const struct sipev_hdr *cseq;
    unsigned via, from, to, call_id, cseq_n, max_fwd, clen;
    uint64_t content_length;
};

#define FAIL(code, reason)                                                                        \
    do {                                                                                          \
        err = (code);                                                                             \
        reason_out = (reason);                                                                    \
        goto out;                                                                                 \
    } while (0)

/* Checks one stored header with a known id; SR_OK or the error with *reason. */
static enum sr_err hdr_check(const struct sipev_hdr *h, struct seen *s, size_t max_msg,
                             const char **reason)
{
    switch (h->id) {
    case SIPEV_HDR_VIA:
        s->via++;
        *reason = via_check(h->value);
        return *reason ? SR_EPARSE : SR_OK;
    case SIPEV_HDR_FROM:
    case SIPEV_HDR_TO:
        if ((h->id == SIPEV_HDR_FROM ? s->from++ : s->to++) > 0) {
            *reason = h->id == SIPEV_HDR_FROM ? "repeated From" : "repeated To";
            return SR_EPARSE;
        }
        *reason = nameaddr_check(h->value);
        return *reason ? SR_EPARSE : SR_OK;
    case SIPEV_HDR_CALL_ID:
        if (s->call_id++ > 0) {
            *reason = "repeated Call-ID";
            return SR_EPARSE;
        }
        if (h->value.len == 0) {
            *reason = "empty Call-ID";
            return SR_EPARSE;
        }
        return SR_OK;
    case SIPEV_HDR_CSEQ:
        if (s->cseq_n++ > 0) {
            *reason = "repeated CSeq";
            return SR_EPARSE;
        }
        if (!sipev_cseq_parse(h->value, NULL, NULL)) {
            *reason = "malformed CSeq (number over 2^32-1 or no method)";
            return SR_EPARSE;
        }
        s->cseq = h;
        return SR_OK;
    case SIPEV_HDR_MAX_FORWARDS: {
        uint64_t mf;
        if (s->max_fwd++ > 0) {
            *reason = "repeated Max-Forwards";
            return SR_EPARSE;
        }
        if (!slice_to_u64(h->value, UINT32_MAX, &mf)) {
            *reason = "malformed Max-Forwards";
            return SR_EPARSE;
        }
        return SR_OK;
    }
    case SIPEV_HDR_CONTENT_LENGTH:
        if (s->clen++ > 0) {
            *reason = "repeated Content-Length"; /* RFC 4475 3.3.9: body extent unknown */
            return SR_EPARSE;
        }
        bool digits = h->value.len > 0;
        for (size_t i = 0; digits && i < h->value.len; i++)
            digits = is_digit(h->value.p[i]);
        if (!digits) { /* "-1" included (RFC 4475 3.1.2.3) */
            *reason = "Content-Length is not a decimal number";
            return SR_EPARSE;
        }
        /* all digits: failure can only mean too large */
        if (!slice_to_u64(h->value, max_msg, &s->content_length)) {
            *reason = "Content-Length over the message size limit";
            return SR_ELIMIT;
        }
        return SR_OK;
    default: return SR_OK;
    }
}

const struct sipev_limits sipev_default_limits = {
    .max_msg = SIPEV_MAX_MSG,
    .max_headers = SIPEV_MAX_HEADERS,
    .max_line = SIPEV_MAX_LINE,
};

enum sr_err sipev_limits_check(const struct sipev_limits *lim)
{
    if (!lim || lim->max_msg < SIPEV_MIN_MSG || lim->max_msg > SIPEV_MAX_MSG ||
        lim->max_headers < SIPEV_MIN_HEADERS || lim->max_headers > SIPEV_MAX_HEADERS ||
        lim->max_line < SIPEV_MIN_LINE || lim->max_line > SIPEV_MAX_LINE)
        return SR_EINVAL;
    return SR_OK;
}

static enum sr_err msg_parse(const char *buf, size_t len, bool require_length,
                             const struct sipev_limits *lim, struct sipev_msg *msg, size_t *used,
                             const char **why);

enum sr_err sipev_msg_parse(const char *buf, size_t len, bool require_length,
                            struct sipev_msg *msg, size_t *used, const char **why)
{
    return msg_parse(buf, len, require_length, &sipev_default_limits, msg, used, why);
}

enum sr_err sipev_msg_parse_lim(const char *buf, size_t len, bool require_length,
                                const struct sipev_limits *lim, struct sipev_msg *msg,
                                size_t *used, const char **why)
{
    /* Checked on every call: a count above SIPEV_MAX_HEADERS would overrun msg->hdr. */
    if (sipev_limits_check(lim) != SR_OK) {
        if (why)
            *why = "invalid parser limits";
        return SR_EINVAL;
    }
    return msg_parse(buf, len, require_length, lim, msg, used, why);
}

static enum sr_err msg_parse(const char *buf, size_t len, bool require_length,
                             const struct sipev_limits *lim, struct sipev_msg *msg, size_t *used,
                             const char **why)
{
    const char *reason_out = NULL;
    enum sr_err err = SR_OK;
    struct seen seen = { 0 };
    const size_t max_msg = lim->max_msg, max_line = lim->max_line, max_hdr = lim->max_headers;
    bool truncated = len > max_msg;
    const char *p = buf, *end = buf + (truncated ? max_msg : len);
    const char *line, *hdr_end;

    msg->method = msg->ruri = msg->reason = msg->body = (struct slice){ buf, 0 };
    msg->status = 0;
    msg->n_hdr = 0;
    if (used)
        *used = 0;

    /* RFC 3261 7.5: CRLFs before the start-line are ignored on streams. */
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;

    /* ---- start line */
    line = p;
    p = scan_eol(p, end);
    if ((size_t)(p - line) > max_line)
        FAIL(SR_ELIMIT, "start line over the line length limit");
    if (p == end)
        goto incomplete;
    if (*p == '\n')
        FAIL(SR_EPARSE, "bare LF in start line");
    if (p + 1 == end)
        goto incomplete;
    if (p[1] != '\n')
        FAIL(SR_EPARSE, "bare CR in start line");
    {
        struct slice sl = slice_of(line, (size_t)(p - line));
        p += 2;
        if (sl.len == 0)
            FAIL(SR_EPARSE, "empty start line");
        if (sl.len >= 4 && memcmp(sl.p, "SIP/", 4) == 0) {
            /* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase */
            if (sl.len < 11 || memcmp(sl.p, "SIP/2.0 ", 8) != 0)
                FAIL(SR_EPARSE, sl.len >= 8 && sl.p[7] == ' ' ? "unsupported SIP version"
                                                                : "malformed status line");
            if (!is_digit(sl.p[8]) || !is_digit(sl.p[9]) || !is_digit(sl.p[10]) ||
                (sl.len > 11 && sl.p[11] != ' '))
                FAIL(SR_EPARSE, "status code is not three digits");
            msg->status = (unsigned)((sl.p[8] - '0') * 100 + (sl.p[9] - '0') * 10 + (sl.p[10] - '0'));
            if (msg->status < 100 || msg->status > 699)
                FAIL(SR_EPARSE, "status code outside 100..699");
            msg->reason = sl.len > 12 ? slice_of(sl.p + 12, sl.len - 12) : slice_of(sl.p + sl.len, 0);
        } else {
            /* Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP each. */
            size_t i = 0, u;
            while (i < sl.len && token_tab[(unsigned char)sl.p[i]])
                i++;
            if (i == 0 || i == sl.len || sl.p[i] != ' ')
                FAIL(SR_EPARSE, "method is not a token followed by SP");
            msg->method = slice_of(sl.p, i);
            u = ++i;
            while (i < sl.len && sl.p[i] != ' ')
                i++;
            msg->ruri = slice_of(sl.p + u, i - u);
            if (i == sl.len)
                FAIL(SR_EPARSE, "request line lacks SIP version");
            if (msg->ruri.len == 0)
                FAIL(SR_EPARSE, "empty Request-URI (extra SP in request line)");
            struct slice ver = slice_of(sl.p + i + 1, sl.len - i - 1);
            if (!slice_eq(ver, SLICE_LIT("SIP/2.0"))) {
                if (ver.len > 7 && memcmp(ver.p, "SIP/2.0", 7) == 0)
                    FAIL(SR_EPARSE, "trailing characters after SIP version");
                if (ver.len >= 4 && memcmp(ver.p, "SIP/", 4) == 0 && memchr(ver.p, ' ', ver.len) == NULL)
                    FAIL(SR_EPARSE, "unsupported SIP version");
                FAIL(SR_EPARSE, "whitespace inside Request-URI or bad SIP version");
            }
            const char *rr = ruri_check(msg->ruri);
            if (rr)
                FAIL(SR_EPARSE, rr);
        }
    }

    /* ---- header fields */
    for (;;) {
        const char *name, *vstart;
        size_t nlen;

        if (p == end)
            goto incomplete;
        if (*p == '\r') {
            if (p + 1 == end)
                goto incomplete;
            if (p[1] != '\n')
                FAIL(SR_EPARSE, "bare CR in header section");
            p += 2;
            break;
        }
        if (*p == '\n')
            FAIL(SR_EPARSE, "bare LF in header section");
        if (*p == ' ' || *p == '\t')
            FAIL(SR_EPARSE, "continuation line without a header");
        line = name = p;
        while (p < end && token_tab[(unsigned char)*p])
            p++;
        nlen = (size_t)(p - name);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end) {
            if ((size_t)(p - line) > max_line)
                FAIL(SR_ELIMIT, "header line over the line length limit");
            goto incomplete;
        }
        if (nlen == 0)
            FAIL(SR_EPARSE, "header name is not a token");
        if (*p != ':')
            FAIL(SR_EPARSE, "header name not followed by ':'");
        vstart = ++p;
        for (;;) {
            p = scan_eol(p, end);
            if ((size_t)(p - line) > max_line)
                FAIL(SR_ELIMIT, "header line over the line length limit");
            if (p == end)
                goto incomplete;
            if (*p == '\n')
                FAIL(SR_EPARSE, "bare LF in header value");
            if (p + 1 == end)
                goto incomplete;
            if (p[1] != '\n')
                FAIL(SR_EPARSE, "bare CR in header value");
            if (p + 2 == end)
                goto incomplete; /* the next byte decides folding */
            if (p[2] != ' ' && p[2] != '\t')
                break;
            p += 3; /* RFC 3261 7.3.1: folded; the CRLF stays inside the value */
        }
        if (msg->n_hdr == max_hdr)
            FAIL(SR_ELIMIT, "more header fields than the header count limit");
        struct sipev_hdr *h = &msg->hdr[msg->n_hdr++];
        h->id = sipev_hdr_lookup(name, nlen);
        h->name = slice_of(name, nlen);
        h->value = trim_lws(slice_of(vstart, (size_t)(p - vstart)));
        if (h->value.len == 0)
            h->value.p = vstart;
        p += 2;
        if (h->id != SIPEV_HDR_OTHER) {
            err = hdr_check(h, &seen, max_msg, &reason_out);
            if (err)
                goto out;
        }
    }
    hdr_end = p;

    /* ---- mandatory fields (RFC 3261 8.1.1; 20: at most one of each) */
    if (!seen.via)
        FAIL(SR_EPARSE, "missing Via");
    if (!seen.from)
        FAIL(SR_EPARSE, "missing From");
    if (!seen.to)
        FAIL(SR_EPARSE, "missing To");
    if (!seen.call_id)
        FAIL(SR_EPARSE, "missing Call-ID");
    if (!seen.cseq_n)
        FAIL(SR_EPARSE, "missing CSeq");
    if (msg->status == 0) {
        struct slice cm;
        sipev_cseq_parse(seen.cseq->value, NULL, &cm);
        if (!slice_eq(cm, msg->method))
            FAIL(SR_EPARSE, "CSeq method does not match the request method");
    }

    /* ---- body */
    if (seen.clen) {
        size_t total = (size_t)(hdr_end - buf) + (size_t)seen.content_length;
        if (total > max_msg)
            FAIL(SR_ELIMIT, "message over the message size limit");
        if (total > len) {
            if (!require_length)
                FAIL(SR_EPARSE, "Content-Length larger than the datagram");
            if (used)
                *used = total;
            return SR_EAGAIN;
        }
        msg->body = slice_of(hdr_end, (size_t)seen.content_length);
        if (used)
            *used = total;
        return SR_OK;
    }
    if (require_length)
        FAIL(SR_EPARSE, "missing Content-Length on a stream transport");
    if (truncated)
        FAIL(SR_ELIMIT, "message over the message size limit");
    msg->body = slice_of(hdr_end, (size_t)(buf + len - hdr_end));
    if (used)
        *used = len;
    return SR_OK;

incomplete:
    if (truncated)
        FAIL(SR_ELIMIT, "header section over the message size limit");
    return SR_EAGAIN;
out:
    if (why)
        *why = reason_out;
    return err;
}

const struct sipev_hdr *sipev_msg_hdr(const struct sipev_msg *msg, enum sipev_hdr_id id)
{
    for (size_t i = 0; i < msg->n_hdr; i++)
        if (msg->hdr[i].id == id)
            return &msg->hdr[i];
    return NULL;
}
