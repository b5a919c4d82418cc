/** @file keybody.c  application/srtp-keys+xml: the body of an srtp NOTIFY.
 *
 * The format is specified in docs/protocol.md.  Parsing uses expat with
 * namespace processing; a document that declares a DOCTYPE or any entity is
 * refused before expat expands anything (billion laughs, external entities),
 * element depth, text and attribute lengths and every count are bounded, and
 * key material is wiped from every temporary that held it.
 */
#include <expat.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipev.h"
#include "util.h"
#include "xmlmem.h"

#define KB_NS "urn:srtprec:params:xml:ns:srtp-keys"
#define KB_NS_SEP '\x01'
#define KB_FORMAT 1 /* format-version this code reads and writes */

enum {
    KB_MAX_DOC = 16 * 1024 * 1024, /* bytes of XML */
    KB_MAX_DEPTH = 16,             /* our tree is 4 deep; foreign extensions get some room */
    KB_MAX_TEXT = SIPEV_STR - 1,   /* element text and attribute values */
};

/* ----------------------------------------------------------------- suites */

/* The table is srtpkey's; these keep sipev.h's API for its callers. */
const char *sipev_suite_name(enum sipev_suite s)
{
    return srtpkey_suite_ok((enum srtpkey_suite)s) ? srtpkey_suite_name((enum srtpkey_suite)s)
                                                   : NULL;
}

enum sipev_suite sipev_suite_parse(struct slice name)
{
    enum srtpkey_suite id;
    const char *why;

    return srtpkey_suite_parse(name, &id, &why) == SR_OK ? (enum sipev_suite)id : 0;
}

void sipev_suite_lengths(enum sipev_suite s, size_t *key_len, size_t *salt_len)
{
    const struct srtpkey_suite_info *si = srtpkey_suite((enum srtpkey_suite)s);
    bool ok = si && si->decrypts;

    if (key_len)
        *key_len = ok ? si->key_len : 0;
    if (salt_len)
        *salt_len = ok ? si->salt_len : 0;
}

/* ------------------------------------------------------------- containers */

void sipev_keybody_init(struct sipev_keybody *kb)
{
    memset(kb, 0, sizeof(*kb));
    kb->full = true;
}

void sipev_keybody_fini(struct sipev_keybody *kb)
{
    if (!kb)
        return;
    if (kb->dialogs) {
        sr_wipe(kb->dialogs, kb->cap_dialogs * sizeof(*kb->dialogs));
        free(kb->dialogs);
    }
    sipev_keybody_init(kb);
}

enum sr_err sipev_keybody_add_dialog(struct sipev_keybody *kb, struct sipev_dialog **out)
{
    if (kb->n_dialogs >= SIPEV_MAX_DIALOGS)
        return SR_ELIMIT;
    if (kb->n_dialogs == kb->cap_dialogs) {
        size_t cap = kb->cap_dialogs ? kb->cap_dialogs * 2 : 4;
        struct sipev_dialog *nd;
        if (cap > SIPEV_MAX_DIALOGS)
            cap = SIPEV_MAX_DIALOGS;
        /* Not realloc: the old block holds keys and must be wiped. */
        nd = calloc(cap, sizeof(*nd));
        if (!nd)
            return SR_ENOMEM;
        if (kb->n_dialogs)
            memcpy(nd, kb->dialogs, kb->n_dialogs * sizeof(*nd));
        if (kb->dialogs) {
            sr_wipe(kb->dialogs, kb->cap_dialogs * sizeof(*nd));
            free(kb->dialogs);
        }
        kb->dialogs = nd;
        kb->cap_dialogs = cap;
    }
    *out = &kb->dialogs[kb->n_dialogs++];
    memset(*out, 0, sizeof(**out));
    return SR_OK;
}

/* ------------------------------------------------------------------- time */

/* Howard Hinnant's civil_from_days: no gmtime(), no TZ. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void time_fmt(uint64_t us, char out[40])
{
    int64_t y;
    unsigned m, d;
    uint64_t secs = us / 1000000u, day_s = secs % 86400u;

    civil_from_days((int64_t)(secs / 86400u), &y, &m, &d);
    snprintf(out, 40, "%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ", (long long)y, m, d,
             (unsigned)(day_s / 3600), (unsigned)(day_s / 60 % 60), (unsigned)(day_s % 60),
             (unsigned)(us % 1000000u));
}

/* RFC 3339 date-time in UTC ("Z"), years 1970..9999 (common/util.h). */
static bool time_parse(struct slice s, uint64_t *us)
{
    return sr_wall_parse(s, SR_WALL_UTC_ONLY, us);
}

/* ------------------------------------------------------------ key strings */

/* One key-param (srtpkey.h: the one parser for every consumer). */
static enum sr_err key_parse(struct slice text, struct sipev_key *k, const char **why)
{
    struct srtpkey_key sk;
    enum sr_err err = srtpkey_param_parse(text, (enum srtpkey_suite)k->suite, &sk, why);

    if (err == SR_OK) {
        memcpy(k->master, sk.master, sk.master_len);
        k->master_len = sk.master_len;
        k->lifetime = sk.lifetime;
        k->mki = sk.mki;
        k->mki_len = sk.mki_len;
    }
    srtpkey_key_wipe(&sk);
    return err;
}

/* ---------------------------------------------------------------- parsing */

enum kb_elem {
    E_NONE = 0,
    E_ROOT,
    E_DIALOG,
    E_LOCAL,
    E_REMOTE,
    E_START,
    E_STREAM,
    E_SOURCE,
    E_DEST,
    E_KEY,
};

struct kb_parse {
    struct sr_xml_refusal dtd; /* first: xmlmem.h's DTD handlers find it here */
    XML_Parser xp;
    struct sipev_keybody *kb;
    enum sr_err err;
    const char *why;
    unsigned depth;
    unsigned skip_from;     /* >0: inside a foreign element opened at this depth */
    enum kb_elem stack[KB_MAX_DEPTH + 1];
    char text[KB_MAX_TEXT + 1];
    size_t text_len;
    unsigned seen;          /* bit per child element of the current dialog/stream */
    struct sipev_dialog *dlg;
    struct sipev_stream *st;
    struct srtpkey_set keyset; /* the current stream's keys: MKI rules (srtpkey.h) */
};

static void kb_fail(struct kb_parse *ps, enum sr_err err, const char *why)
{
    if (ps->err == SR_OK) {
        ps->err = err;
        ps->why = why;
    }
    XML_StopParser(ps->xp, XML_FALSE);
}

/* With namespace processing expat reports "uri\x01local"; no separator: no namespace. */
static enum kb_elem elem_of(const char *name, bool *foreign)
{
    const char *sep = strchr(name, KB_NS_SEP);
    static const struct {
        const char *name;
        enum kb_elem e;
    } names[] = { { "srtp-keys", E_ROOT }, { "dialog", E_DIALOG },  { "local", E_LOCAL },
                  { "remote", E_REMOTE },  { "start", E_START },    { "stream", E_STREAM },
                  { "source", E_SOURCE },  { "destination", E_DEST }, { "key", E_KEY } };

    *foreign = !sep || (size_t)(sep - name) != strlen(KB_NS) || memcmp(name, KB_NS, strlen(KB_NS));
    if (*foreign)
        return E_NONE;
    for (size_t i = 0; i < SR_ARRAY_LEN(names); i++)
        if (strcmp(sep + 1, names[i].name) == 0)
            return names[i].e;
    return E_NONE;
}

/* Attributes come unqualified (no namespace) in our vocabulary. */
static const char *attr(const char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    return NULL;
}

static bool attr_str(struct kb_parse *ps, const char **atts, const char *name, bool required,
                     char *dst, size_t dstlen)
{
    const char *v = attr(atts, name);

    if (!v) {
        if (required)
            kb_fail(ps, SR_EPARSE, "required attribute missing");
        dst[0] = '\0';
        return !required;
    }
    if (strlen(v) >= dstlen) {
        kb_fail(ps, SR_ELIMIT, "attribute value too long");
        return false;
    }
    memcpy(dst, v, strlen(v) + 1);
    return true;
}

static bool attr_u64(struct kb_parse *ps, const char **atts, const char *name, bool required,
                     uint64_t max, uint64_t *out)
{
    const char *v = attr(atts, name);

    if (!v) {
        if (required)
            kb_fail(ps, SR_EPARSE, "required numeric attribute missing");
        return !required;
    }
    if (!slice_to_u64(slice_cstr(v), max, out)) {
        kb_fail(ps, SR_EPARSE, "numeric attribute malformed or out of range");
        return false;
    }
    return true;
}

/* Returns the index of v in choices, or -1 (absent: dflt). */
static int attr_enum(struct kb_parse *ps, const char **atts, const char *name, int dflt,
                     const char *const *choices, size_t n)
{
    const char *v = attr(atts, name);

    if (!v) {
        if (dflt < 0)
            kb_fail(ps, SR_EPARSE, "required attribute missing");
        return dflt;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, choices[i]) == 0)
            return (int)i;
    kb_fail(ps, SR_EPARSE, "attribute has an unknown value");
    return -1;
}

static bool attrs_short(struct kb_parse *ps, const char **atts)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (strlen(atts[i + 1]) > KB_MAX_TEXT) {
            kb_fail(ps, SR_ELIMIT, "attribute value too long");
            return false;
        }
    return true;
}

static const char *const dialog_states[] = { "active", "ended" };
static const char *const stream_states[] = { "active", "paused", "ended" };
static const char *const directions[] = { "send", "recv" };
static const char *const doc_states[] = { "full", "partial" };
static const char *const known_values[] = { "true", "false" };

static void start_root(struct kb_parse *ps, const char **atts)
{
    uint64_t fmt = KB_FORMAT;
    int st;

    if (!attr_u64(ps, atts, "format-version", false, UINT32_MAX, &fmt))
        return;
    if (fmt != KB_FORMAT) {
        kb_fail(ps, SR_EUNSUPP, "unsupported format-version");
        return;
    }
    if (!attr_u64(ps, atts, "version", true, UINT64_MAX, &ps->kb->version))
        return;
    st = attr_enum(ps, atts, "state", -1, doc_states, 2);
    if (st < 0)
        return;
    ps->kb->full = st == 0;
    attr_str(ps, atts, "entity", true, ps->kb->entity, sizeof(ps->kb->entity));
}

static void start_dialog(struct kb_parse *ps, const char **atts)
{
    struct sipev_dialog *d;
    enum sr_err err = sipev_keybody_add_dialog(ps->kb, &d);
    int st;

    if (err) {
        kb_fail(ps, err, "too many dialogs");
        return;
    }
    ps->dlg = d;
    ps->seen = 0;
    if (!attr_str(ps, atts, "call-id", true, d->call_id, sizeof(d->call_id)) ||
        !attr_str(ps, atts, "local-tag", false, d->local_tag, sizeof(d->local_tag)) ||
        !attr_str(ps, atts, "remote-tag", false, d->remote_tag, sizeof(d->remote_tag)))
        return;
    if (d->call_id[0] == '\0') {
        kb_fail(ps, SR_EPARSE, "empty call-id");
        return;
    }
    st = attr_enum(ps, atts, "state", 0, dialog_states, 2);
    if (st >= 0)
        d->state = (enum sipev_dialog_state)st;
}

static bool ssrc_parse(const char *v, uint32_t *out)
{
    uint64_t n = 0;
    struct slice s = slice_cstr(v);

    if (s.len > 2 && s.p[0] == '0' && (s.p[1] == 'x' || s.p[1] == 'X')) {
        if (s.len > 10)
            return false;
        for (size_t i = 2; i < s.len; i++) {
            char c = s.p[i];
            unsigned dv = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                          : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                          : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                 : 16;
            if (dv == 16)
                return false;
            n = n * 16 + dv;
        }
    } else if (!slice_to_u64(s, UINT32_MAX, &n)) {
        return false;
    }
    *out = (uint32_t)n;
    return true;
}

static void start_stream(struct kb_parse *ps, const char **atts)
{
    struct sipev_dialog *d = ps->dlg;
    struct sipev_stream *s;
    uint64_t v;
    int e;
    const char *ssrc;

    if (d->n_streams >= SIPEV_MAX_STREAMS) {
        kb_fail(ps, SR_ELIMIT, "too many streams in a dialog");
        return;
    }
    s = &d->streams[d->n_streams++];
    ps->st = s;
    srtpkey_set_init(&ps->keyset);
    if (!attr_str(ps, atts, "id", true, s->id, sizeof(s->id)) ||
        !attr_str(ps, atts, "media", true, s->media, sizeof(s->media)) ||
        !attr_str(ps, atts, "codec", false, s->codec, sizeof(s->codec)))
        return;
    for (size_t i = 0; i + 1 < d->n_streams; i++)
        if (strcmp(d->streams[i].id, s->id) == 0) {
            kb_fail(ps, SR_EPARSE, "duplicate stream id in a dialog");
            return;
        }
    if ((e = attr_enum(ps, atts, "direction", -1, directions, 2)) < 0)
        return;
    s->direction = (enum sipev_direction)e;
    if ((e = attr_enum(ps, atts, "state", 0, stream_states, 3)) < 0)
        return;
    s->state = (enum sipev_stream_state)e;
    v = 0;
    if (!attr_u64(ps, atts, "payload-type", false, 127, &v))
        return;
    s->payload_type = (unsigned)v;
    v = 0;
    if (!attr_u64(ps, atts, "clock-rate", false, 1000000, &v))
        return;
    s->clock_rate = (unsigned)v;
    v = 0;
    if (!attr_u64(ps, atts, "roc", false, UINT32_MAX, &v))
        return;
    s->roc = (uint32_t)v;
    /* roc-known="false": the discloser does not know the ROC (whatever roc
     * says; the printer writes 0 so that a recorder older than the
     * attribute, which skips it, reads what disclosers sent before). */
    if ((e = attr_enum(ps, atts, "roc-known", 0, known_values, 2)) < 0)
        return;
    s->roc_unknown = e == 1;
    if (s->roc_unknown)
        s->roc = 0;
    v = 0;
    if (!attr_u64(ps, atts, "seq", false, UINT16_MAX, &v))
        return;
    s->seq = (uint16_t)v;
    ssrc = attr(atts, "ssrc");
    if (ssrc) {
        if (!ssrc_parse(ssrc, &s->ssrc)) {
            kb_fail(ps, SR_EPARSE, "malformed ssrc");
            return;
        }
        s->ssrc_known = true;
    }
}

static void start_key(struct kb_parse *ps, const char **atts)
{
    struct sipev_stream *s = ps->st;
    const char *suite = attr(atts, "suite"), *why = NULL;
    enum srtpkey_suite id;
    enum sr_err err;

    if (s->n_keys >= SIPEV_MAX_KEYS) {
        /* The set is full too: the same limit and reason as every consumer. */
        err = srtpkey_set_add(&ps->keyset, 0, 0, &why);
        kb_fail(ps, err ? err : SR_ELIMIT, why ? why : "too many keys in a stream");
        return;
    }
    if (!suite) {
        kb_fail(ps, SR_EPARSE, "key without suite");
        return;
    }
    err = srtpkey_suite_parse(slice_cstr(suite), &id, &why);
    if (err) {
        kb_fail(ps, err, why);
        return;
    }
    /* One stream is one libsrtp session, which has one policy (RFC 4568: one
     * a=crypto line, one suite). */
    if (s->n_keys && (enum srtpkey_suite)s->keys[0].suite != id) {
        kb_fail(ps, SR_EPARSE, "keys of one stream have different suites");
        return;
    }
    s->keys[s->n_keys].suite = (enum sipev_suite)id;
    s->n_keys++;
}

/* Which parent each element needs, and a bit to refuse duplicates of singletons. */
static bool placement_ok(struct kb_parse *ps, enum kb_elem e, enum kb_elem parent)
{
    static const struct {
        enum kb_elem e, parent;
        unsigned once_bit;
    } rules[] = {
        { E_ROOT, E_NONE, 0 },      { E_DIALOG, E_ROOT, 0 },    { E_LOCAL, E_DIALOG, 1 },
        { E_REMOTE, E_DIALOG, 2 },  { E_START, E_DIALOG, 4 },   { E_STREAM, E_DIALOG, 0 },
        { E_SOURCE, E_STREAM, 8 },  { E_DEST, E_STREAM, 16 },   { E_KEY, E_STREAM, 0 },
    };

    for (size_t i = 0; i < SR_ARRAY_LEN(rules); i++) {
        if (rules[i].e != e)
            continue;
        if (rules[i].parent != parent)
            return false;
        if (rules[i].once_bit) {
            if (ps->seen & rules[i].once_bit)
                return false;
            ps->seen |= rules[i].once_bit;
        }
        return true;
    }
    return false;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct kb_parse *ps = ud;
    enum kb_elem parent = ps->depth ? ps->stack[ps->depth] : E_NONE;
    enum kb_elem e;
    bool foreign;

    if (ps->err)
        return;
    if (ps->depth >= KB_MAX_DEPTH) {
        kb_fail(ps, SR_ELIMIT, "elements nested too deep");
        return;
    }
    ps->depth++;
    ps->stack[ps->depth] = E_NONE;
    ps->text_len = 0;
    if (ps->skip_from)
        return;
    if (!attrs_short(ps, atts))
        return;
    e = elem_of(name, &foreign);
    if (ps->depth == 1 && e != E_ROOT) {
        kb_fail(ps, foreign ? SR_EUNSUPP : SR_EPARSE,
                foreign ? "root element is not srtp-keys in namespace " KB_NS
                        : "root element is not srtp-keys");
        return;
    }
    if (foreign) {
        /* Extension elements in other namespaces are skipped (as RFC 4235 allows). */
        ps->skip_from = ps->depth;
        return;
    }
    if (e == E_NONE) {
        kb_fail(ps, SR_EPARSE, "unknown element in the srtp-keys namespace");
        return;
    }
    if (!placement_ok(ps, e, parent)) {
        kb_fail(ps, SR_EPARSE, "element misplaced or repeated");
        return;
    }
    ps->stack[ps->depth] = e;
    switch (e) {
    case E_ROOT: start_root(ps, atts); break;
    case E_DIALOG: start_dialog(ps, atts); break;
    case E_LOCAL:
        attr_str(ps, atts, "aor", true, ps->dlg->local_aor, sizeof(ps->dlg->local_aor));
        break;
    case E_REMOTE:
        attr_str(ps, atts, "aor", true, ps->dlg->remote_aor, sizeof(ps->dlg->remote_aor));
        break;
    case E_STREAM:
        ps->seen &= 7u; /* keep the dialog's local/remote/start bits */
        start_stream(ps, atts);
        break;
    case E_KEY: start_key(ps, atts); break;
    case E_START:
    case E_SOURCE:
    case E_DEST:
    case E_NONE: break;
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct kb_parse *ps = ud;
    enum kb_elem e = ps->stack[ps->depth];

    if (ps->err || ps->skip_from || len <= 0)
        return;
    if (e == E_START || e == E_SOURCE || e == E_DEST || e == E_KEY) {
        if ((size_t)len > KB_MAX_TEXT - ps->text_len) {
            kb_fail(ps, SR_ELIMIT, "element text too long");
            return;
        }
        memcpy(ps->text + ps->text_len, s, (size_t)len);
        ps->text_len += (size_t)len;
        return;
    }
    for (int i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            kb_fail(ps, SR_EPARSE, "text where only elements belong");
            return;
        }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct kb_parse *ps = ud;
    enum kb_elem e = ps->stack[ps->depth];
    struct slice text = slice_trim(slice_of(ps->text, ps->text_len));
    enum sr_err err;
    const char *why = NULL;

    (void)name;
    if (ps->err)
        return;
    if (ps->skip_from) {
        if (ps->skip_from == ps->depth)
            ps->skip_from = 0;
        ps->depth--;
        return;
    }
    switch (e) {
    case E_START:
        if (!time_parse(text, &ps->dlg->start_wall_us))
            kb_fail(ps, SR_EPARSE, "start is not an RFC 3339 UTC time");
        break;
    case E_SOURCE:
        if (!slice_copy_cstr(text, ps->st->src, sizeof(ps->st->src)))
            kb_fail(ps, SR_ELIMIT, "source too long");
        break;
    case E_DEST:
        if (!slice_copy_cstr(text, ps->st->dst, sizeof(ps->st->dst)))
            kb_fail(ps, SR_ELIMIT, "destination too long");
        break;
    case E_KEY: {
        struct sipev_key *k = &ps->st->keys[ps->st->n_keys - 1];
        err = key_parse(text, k, &why); /* start_key guaranteed n_keys >= 1 */
        if (!err)
            err = srtpkey_set_add(&ps->keyset, k->mki, k->mki_len, &why);
        if (err)
            kb_fail(ps, err, why);
        break;
    }
    case E_STREAM:
        if (ps->st->n_keys == 0 && ps->st->state != SIPEV_STREAM_ENDED)
            kb_fail(ps, SR_EPARSE, "stream without a key");
        ps->seen &= 7u;
        break;
    case E_DIALOG:
        if (!(ps->seen & 4))
            kb_fail(ps, SR_EPARSE, "dialog without start");
        break;
    case E_ROOT:
    case E_LOCAL:
    case E_REMOTE:
    case E_NONE: break;
    }
    sr_wipe(ps->text, sizeof(ps->text));
    ps->text_len = 0;
    ps->depth--;
}

/* Any DTD is refused (xmlmem.h): no internal subset, no entity can ever be defined. */
static void kb_refuse(void *ud, const char *why)
{
    kb_fail(ud, SR_EPARSE, why);
}

enum sr_err sipev_keybody_parse(const char *xml, size_t len, struct sipev_keybody *kb,
                                const char **why)
{
    static const XML_Char ns_sep[] = { KB_NS_SEP, 0 };
    struct kb_parse *ps;
    enum sr_err err;

    if (!kb || (!xml && len))
        return SR_EINVAL;
    sipev_keybody_fini(kb);
    if (len > KB_MAX_DOC) {
        if (why)
            *why = "document too large";
        return SR_ELIMIT;
    }
    ps = calloc(1, sizeof(*ps));
    if (!ps)
        return SR_ENOMEM;
    ps->kb = kb;
    ps->dtd.refuse = kb_refuse;
    /* The encoding argument overrides any declaration in the document. */
    ps->xp = XML_ParserCreate_MM("UTF-8", &sr_xml_wiped_mem, ns_sep);
    if (!ps->xp) {
        free(ps);
        return SR_ENOMEM;
    }
    XML_SetUserData(ps->xp, ps);
    XML_SetElementHandler(ps->xp, on_start, on_end);
    XML_SetCharacterDataHandler(ps->xp, on_text);
    sr_xml_refuse_dtd(ps->xp);

    if (XML_Parse(ps->xp, xml ? xml : "", (int)len, XML_TRUE) != XML_STATUS_OK && !ps->err) {
        ps->err = SR_EPARSE;
        ps->why = "XML not well-formed";
        enum XML_Error xe = XML_GetErrorCode(ps->xp);
        if (xe != XML_ERROR_NONE && XML_ErrorString(xe))
            ps->why = XML_ErrorString(xe);
    }
    err = ps->err;
    if (err) {
        if (why)
            *why = ps->why;
        sipev_keybody_fini(kb);
    }
    XML_ParserFree(ps->xp);
    sr_wipe(ps, sizeof(*ps));
    free(ps);
    return err;
}

/* --------------------------------------------------------------- printing */

/* XML-escape into out; control characters other than none are refused
 * because XML 1.0 cannot carry them. */
static enum sr_err put_esc(struct buf *out, const char *s)
{
    enum sr_err err = SR_OK;

    for (; *s && !err; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': err = buf_append(out, "&amp;", 5); break;
        case '<': err = buf_append(out, "&lt;", 4); break;
        case '>': err = buf_append(out, "&gt;", 4); break;
        case '"': err = buf_append(out, "&quot;", 6); break;
        case '\'': err = buf_append(out, "&apos;", 6); break;
        default:
            if (c < 0x20 || c == 0x7f)
                return SR_EINVAL;
            err = buf_append(out, s, 1);
        }
    }
    return err;
}

static enum sr_err put_attr(struct buf *out, const char *name, const char *v)
{
    enum sr_err err = buf_printf(out, " %s=\"", name);

    if (!err)
        err = put_esc(out, v);
    return err ? err : buf_append(out, "\"", 1);
}

static enum sr_err put_key(struct buf *out, const struct sipev_key *k)
{
    char text[SRTPKEY_PARAM_TEXT];
    struct srtpkey_key sk = { .master_len = k->master_len, .lifetime = k->lifetime,
                              .mki = k->mki, .mki_len = k->mki_len };
    enum sr_err err;
    size_t n = 0;

    if (k->master_len > sizeof(sk.master) || !sipev_suite_name(k->suite))
        return SR_EINVAL;
    memcpy(sk.master, k->master, k->master_len);
    err = srtpkey_param_print(&sk, (enum srtpkey_suite)k->suite, text, sizeof(text), &n);
    srtpkey_key_wipe(&sk);
    if (err)
        return SR_EINVAL;
    err = buf_printf(out, "      <key suite=\"%s\">", sipev_suite_name(k->suite));
    if (!err)
        err = buf_append(out, text, n);
    sr_wipe(text, sizeof(text));
    return err ? err : buf_append(out, "</key>\n", 7);
}

/* The parser's key-set rules (srtpkey_set_add, one suite), so that what is
 * printed parses back. */
static bool keys_ok(const struct sipev_stream *s)
{
    struct srtpkey_set set;
    const char *why;

    srtpkey_set_init(&set);
    for (size_t i = 0; i < s->n_keys; i++)
        if (s->keys[i].suite != s->keys[0].suite ||
            srtpkey_set_add(&set, s->keys[i].mki, s->keys[i].mki_len, &why) != SR_OK)
            return false;
    return true;
}

static enum sr_err put_stream(struct buf *out, const struct sipev_stream *s)
{
    enum sr_err err;
    char num[32];

    if (s->direction > SIPEV_DIR_RECV || s->state > SIPEV_STREAM_ENDED || s->payload_type > 127 ||
        s->n_keys > SIPEV_MAX_KEYS || !s->id[0] || !s->media[0] || s->plain ||
        (s->n_keys == 0 && s->state != SIPEV_STREAM_ENDED) || !keys_ok(s))
        return SR_EINVAL;
    err = buf_append(out, "    <stream", 11);
    if (!err)
        err = put_attr(out, "id", s->id);
    if (!err)
        err = put_attr(out, "direction", directions[s->direction]);
    if (!err)
        err = put_attr(out, "media", s->media);
    if (!err)
        err = put_attr(out, "state", stream_states[s->state]);
    if (!err && s->ssrc_known) {
        snprintf(num, sizeof(num), "0x%08x", (unsigned)s->ssrc);
        err = put_attr(out, "ssrc", num);
    }
    if (!err)
        err = buf_printf(out, " payload-type=\"%u\"", s->payload_type);
    if (!err && s->codec[0])
        err = put_attr(out, "codec", s->codec);
    if (!err)
        err = buf_printf(out, " clock-rate=\"%u\" roc=\"%u\"%s seq=\"%u\">\n", s->clock_rate,
                         s->roc_unknown ? 0u : (unsigned)s->roc,
                         s->roc_unknown ? " roc-known=\"false\"" : "", (unsigned)s->seq);
    if (!err && s->src[0]) {
        err = buf_append(out, "      <source>", 14);
        if (!err)
            err = put_esc(out, s->src);
        if (!err)
            err = buf_append(out, "</source>\n", 10);
    }
    if (!err && s->dst[0]) {
        err = buf_append(out, "      <destination>", 19);
        if (!err)
            err = put_esc(out, s->dst);
        if (!err)
            err = buf_append(out, "</destination>\n", 15);
    }
    for (size_t i = 0; !err && i < s->n_keys; i++)
        err = put_key(out, &s->keys[i]);
    return err ? err : buf_append(out, "    </stream>\n", 14);
}

static enum sr_err put_dialog(struct buf *out, const struct sipev_dialog *d)
{
    enum sr_err err;
    char when[40];

    if (d->state > SIPEV_DIALOG_ENDED || d->n_streams > SIPEV_MAX_STREAMS || !d->call_id[0])
        return SR_EINVAL;
    err = buf_append(out, "  <dialog", 9);
    if (!err)
        err = put_attr(out, "call-id", d->call_id);
    if (!err && d->local_tag[0])
        err = put_attr(out, "local-tag", d->local_tag);
    if (!err && d->remote_tag[0])
        err = put_attr(out, "remote-tag", d->remote_tag);
    if (!err)
        err = put_attr(out, "state", dialog_states[d->state]);
    if (!err)
        err = buf_append(out, ">\n", 2);
    if (!err && d->local_aor[0]) {
        err = buf_append(out, "    <local", 10);
        if (!err)
            err = put_attr(out, "aor", d->local_aor);
        if (!err)
            err = buf_append(out, "/>\n", 3);
    }
    if (!err && d->remote_aor[0]) {
        err = buf_append(out, "    <remote", 11);
        if (!err)
            err = put_attr(out, "aor", d->remote_aor);
        if (!err)
            err = buf_append(out, "/>\n", 3);
    }
    time_fmt(d->start_wall_us, when);
    if (!err)
        err = buf_printf(out, "    <start>%s</start>\n", when);
    for (size_t i = 0; !err && i < d->n_streams; i++)
        err = put_stream(out, &d->streams[i]);
    return err ? err : buf_append(out, "  </dialog>\n", 12);
}

enum sr_err sipev_keybody_print(struct buf *out, const struct sipev_keybody *kb)
{
    size_t start;
    enum sr_err err;

    if (!out || !kb || kb->n_dialogs > SIPEV_MAX_DIALOGS || (kb->n_dialogs && !kb->dialogs))
        return SR_EINVAL;
    start = out->len;
    err = buf_printf(out,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<srtp-keys xmlns=\"" KB_NS "\" format-version=\"%d\" version=\"%llu\" "
                     "state=\"%s\"",
                     KB_FORMAT, (unsigned long long)kb->version, kb->full ? "full" : "partial");
    if (!err)
        err = put_attr(out, "entity", kb->entity);
    if (!err)
        err = buf_append(out, ">\n", 2);
    for (size_t i = 0; !err && i < kb->n_dialogs; i++)
        err = put_dialog(out, &kb->dialogs[i]);
    if (!err)
        err = buf_append(out, "</srtp-keys>\n", 13);
    if (err) {
        sr_wipe(out->p + start, out->len - start);
        out->len = start;
    }
    return err;
}
