/** @file rsmeta.c  RFC 7865 recording metadata (application/rs-metadata+xml)
 *  into the bounded model of siprec.h.
 *
 * expat with namespace processing and the wiping memory suite (names and
 * AORs are personal data), any DTD or entity declaration refused before
 * expat expands anything, depth, text, ids, counts and kept extension bytes
 * bounded.  Elements of other namespaces are extensions: kept byte for byte
 * where RFC 7865 allows them (recording, group, session, participant,
 * stream), skipped elsewhere. */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siprec_priv.h"
#include "util.h"
#include "xmlmem.h"

#define NS_SEP '\x01'
#define MD_MAX_TEXT 512

enum md_elem {
    E_NONE = 0, /* foreign, or tolerated and ignored */
    E_RECORDING,
    E_DATAMODE,
    E_GROUP,
    E_SESSION,
    E_PARTICIPANT,
    E_STREAM,
    E_SRASSOC,   /* sessionrecordingassoc */
    E_PSASSOC,   /* participantsessionassoc */
    E_PSTREAM,   /* participantstreamassoc */
    E_ASSOC_TIME,
    E_DISASSOC_TIME,
    E_SIPSID,
    E_GROUP_REF,
    E_START_TIME,
    E_STOP_TIME,
    E_NAMEID,
    E_NAME,
    E_SEND,
    E_RECV,
    E_LABEL,
    E_IGNORED,   /* in the namespace, seen from SBCs or RFC drafts, not kept */
    E_COUNT
};

static const char *const elem_names[E_COUNT] = {
    [E_RECORDING] = "recording",
    [E_DATAMODE] = "datamode",
    [E_GROUP] = "group",
    [E_SESSION] = "session",
    [E_PARTICIPANT] = "participant",
    [E_STREAM] = "stream",
    [E_SRASSOC] = "sessionrecordingassoc",
    [E_PSASSOC] = "participantsessionassoc",
    [E_PSTREAM] = "participantstreamassoc",
    [E_ASSOC_TIME] = "associate-time",
    [E_DISASSOC_TIME] = "disassociate-time",
    [E_SIPSID] = "sipSessionID",
    [E_GROUP_REF] = "group-ref",
    [E_START_TIME] = "start-time",
    [E_STOP_TIME] = "stop-time",
    [E_NAMEID] = "nameID",
    [E_NAME] = "name",
    [E_SEND] = "send",
    [E_RECV] = "recv",
    [E_LABEL] = "label",
};

/* Which children each element takes (bit per enum md_elem), and which of
 * them may repeat. */
#define B(e) (1u << (e))
static const struct {
    unsigned allowed, repeat;
} children[E_COUNT] = {
    [E_RECORDING] = { B(E_DATAMODE) | B(E_GROUP) | B(E_SESSION) | B(E_PARTICIPANT) | B(E_STREAM) |
                          B(E_SRASSOC) | B(E_PSASSOC) | B(E_PSTREAM),
                      B(E_GROUP) | B(E_SESSION) | B(E_PARTICIPANT) | B(E_STREAM) | B(E_SRASSOC) |
                          B(E_PSASSOC) | B(E_PSTREAM) },
    [E_GROUP] = { B(E_ASSOC_TIME) | B(E_DISASSOC_TIME), 0 },
    [E_SESSION] = { B(E_SIPSID) | B(E_GROUP_REF) | B(E_START_TIME) | B(E_STOP_TIME) |
                        B(E_ASSOC_TIME) | B(E_DISASSOC_TIME),
                    B(E_SIPSID) | B(E_GROUP_REF) },
    [E_PARTICIPANT] = { B(E_NAMEID) | B(E_SEND) | B(E_RECV) | B(E_ASSOC_TIME) | B(E_DISASSOC_TIME),
                        B(E_NAMEID) | B(E_SEND) | B(E_RECV) },
    [E_STREAM] = { B(E_LABEL) | B(E_ASSOC_TIME) | B(E_DISASSOC_TIME), 0 },
    [E_SRASSOC] = { B(E_ASSOC_TIME) | B(E_DISASSOC_TIME), 0 },
    [E_PSASSOC] = { B(E_ASSOC_TIME) | B(E_DISASSOC_TIME), 0 },
    [E_PSTREAM] = { B(E_SEND) | B(E_RECV) | B(E_ASSOC_TIME) | B(E_DISASSOC_TIME),
                    B(E_SEND) | B(E_RECV) },
    [E_NAMEID] = { B(E_NAME), B(E_NAME) },
};

/* Text-only elements. */
static bool texty(enum md_elem e)
{
    return e == E_DATAMODE || (e >= E_ASSOC_TIME && e <= E_STOP_TIME) || e == E_NAME ||
           e == E_SEND || e == E_RECV || e == E_LABEL;
}

struct frame {
    enum md_elem e;
    unsigned seen;
};

struct md_parse {
    struct sr_xml_refusal dtd; /* first: xmlmem.h's DTD handlers find it here */
    XML_Parser xp;
    const char *doc;
    size_t doc_len;
    struct siprec_md *md;
    enum siprec_err err;
    const char *why;
    unsigned depth;
    unsigned skip_from;       /* >0: inside an element opened at this depth that is skipped */
    unsigned ext_from;        /* >0: the skipped element is an extension being kept */
    size_t ext_start, ext_start_len;
    enum siprec_md_owner ext_owner;
    const char *ext_owner_id;
    struct frame stack[SIPREC_MD_MAX_DEPTH + 1];
    char text[MD_MAX_TEXT + 1];
    size_t text_len;
    bool datamode_seen;
    struct siprec_md_group *grp;
    struct siprec_md_session *ses;
    struct siprec_md_participant *par;
    struct siprec_md_nameid *nid;
    bool nid_named;
    struct siprec_md_stream *str;
    struct siprec_md_pstream *pst;
    struct siprec_md_assoc *asc;
};

static void md_fail(struct md_parse *ps, enum siprec_err err, const char *why)
{
    if (ps->err == SIPREC_OK) {
        ps->err = err;
        ps->why = why;
    }
    XML_StopParser(ps->xp, XML_FALSE);
}

/* ------------------------------------------------------------ values */

/* xs:dateTime (common/util.h): Z, an offset, or no zone, read as UTC (SBCs
 * that omit it run on UTC in practice, and the archive keeps the value). */
static bool time_parse(struct slice s, int64_t *us)
{
    uint64_t u;

    if (!sr_wall_parse(s, SR_WALL_ZONE_OPTIONAL, &u) || u > INT64_MAX)
        return false;
    *us = (int64_t)u;
    return true;
}

static bool copy_id(struct md_parse *ps, struct slice v, char *dst, size_t cap)
{
    v = slice_trim(v);
    if (v.len == 0) {
        md_fail(ps, SIPREC_E_MD_ATTR, "empty id");
        return false;
    }
    if (!slice_copy_cstr(v, dst, cap)) {
        md_fail(ps, SIPREC_E_MD_LIMIT, "id or value too long");
        return false;
    }
    return true;
}

/* Runs of whitespace become one space (sipSessionID is often folded). */
static bool copy_collapsed(struct slice v, char *dst, size_t cap)
{
    size_t n = 0;
    bool ws = false;

    v = slice_trim(v);
    for (size_t i = 0; i < v.len; i++) {
        char c = v.p[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ws = true;
            continue;
        }
        if (n + (ws ? 2 : 1) >= cap) {
            dst[0] = '\0';
            return false;
        }
        if (ws)
            dst[n++] = ' ';
        ws = false;
        dst[n++] = c;
    }
    dst[n] = '\0';
    return true;
}

static const char *attr(const XML_Char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    return NULL;
}

/* ------------------------------------------------------------ entries */

#define FIND_OR_ADD(ps, arr, n, max, keyfield, key, what)                                 \
    do {                                                                                  \
        for (size_t i_ = 0; i_ < (n); i_++)                                               \
            if (strcmp((arr)[i_].keyfield, (key)) == 0)                                   \
                return &(arr)[i_];                                                        \
        if ((n) == (max)) {                                                               \
            md_fail((ps), SIPREC_E_MD_LIMIT, "too many " what);                           \
            return NULL;                                                                  \
        }                                                                                 \
        memset(&(arr)[n], 0, sizeof((arr)[n]));                                           \
        return &(arr)[(n)++];                                                             \
    } while (0)

static void times_init(int64_t *a, int64_t *d)
{
    *a = SIPREC_MD_TIME_NONE;
    *d = SIPREC_MD_TIME_NONE;
}

static struct siprec_md_group *group_get(struct md_parse *ps, const char *id)
{
    struct siprec_md *md = ps->md;
    FIND_OR_ADD(ps, md->group, md->n_group, SIPREC_MD_MAX_GROUPS, id, id, "groups");
}
static struct siprec_md_session *session_get(struct md_parse *ps, const char *id)
{
    struct siprec_md *md = ps->md;
    FIND_OR_ADD(ps, md->session, md->n_session, SIPREC_MD_MAX_SESSIONS, id, id, "sessions");
}
static struct siprec_md_participant *participant_get(struct md_parse *ps, const char *id)
{
    struct siprec_md *md = ps->md;
    FIND_OR_ADD(ps, md->participant, md->n_participant, SIPREC_MD_MAX_PARTICIPANTS, id, id,
                "participants");
}
static struct siprec_md_stream *stream_get(struct md_parse *ps, const char *id)
{
    struct siprec_md *md = ps->md;
    FIND_OR_ADD(ps, md->stream, md->n_stream, SIPREC_MD_MAX_STREAMS, id, id, "streams");
}
static struct siprec_md_pstream *pstream_get(struct md_parse *ps, const char *id)
{
    struct siprec_md *md = ps->md;
    FIND_OR_ADD(ps, md->pstream, md->n_pstream, SIPREC_MD_MAX_PARTICIPANTS, participant_id, id,
                "participantstreamassoc");
}

static struct siprec_md_assoc *assoc_get(struct md_parse *ps, struct siprec_md_assoc *arr,
                                         size_t *n, const char *pid, const char *sid)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(arr[i].participant_id, pid) == 0 && strcmp(arr[i].session_id, sid) == 0)
            return &arr[i];
    if (*n == SIPREC_MD_MAX_ASSOC) {
        md_fail(ps, SIPREC_E_MD_LIMIT, "too many associations");
        return NULL;
    }
    memset(&arr[*n], 0, sizeof(arr[*n]));
    times_init(&arr[*n].associate, &arr[*n].disassociate);
    return &arr[(*n)++];
}

/* A required id attribute into buf; false (failed) if absent or bad. */
static bool id_attr(struct md_parse *ps, const XML_Char **atts, const char *name, char *buf)
{
    const char *v = attr(atts, name);

    if (!v) {
        md_fail(ps, SIPREC_E_MD_ATTR, name);
        return false;
    }
    return copy_id(ps, slice_cstr(v), buf, SIPREC_MD_ID);
}

static void start_known(struct md_parse *ps, enum md_elem e, const XML_Char **atts)
{
    char id[SIPREC_MD_ID], id2[SIPREC_MD_ID];
    const char *lang;

    switch (e) {
    case E_GROUP:
        if (id_attr(ps, atts, "group_id", id) && (ps->grp = group_get(ps, id))) {
            if (!ps->grp->id[0]) {
                memcpy(ps->grp->id, id, sizeof(id));
                times_init(&ps->grp->associate, &ps->grp->disassociate);
            }
        }
        break;
    case E_SESSION:
        if (id_attr(ps, atts, "session_id", id) && (ps->ses = session_get(ps, id))) {
            if (!ps->ses->id[0]) {
                memcpy(ps->ses->id, id, sizeof(id));
                times_init(&ps->ses->start, &ps->ses->stop);
            }
        }
        break;
    case E_PARTICIPANT:
        if (id_attr(ps, atts, "participant_id", id) && (ps->par = participant_get(ps, id)))
            memcpy(ps->par->id, id, sizeof(id));
        break;
    case E_STREAM:
        if (id_attr(ps, atts, "stream_id", id) && id_attr(ps, atts, "session_id", id2) &&
            (ps->str = stream_get(ps, id))) {
            memcpy(ps->str->id, id, sizeof(id));
            memcpy(ps->str->session_id, id2, sizeof(id2));
        }
        break;
    case E_PSTREAM:
        if (id_attr(ps, atts, "participant_id", id) && (ps->pst = pstream_get(ps, id))) {
            if (!ps->pst->participant_id[0]) {
                memcpy(ps->pst->participant_id, id, sizeof(id));
                times_init(&ps->pst->associate, &ps->pst->disassociate);
            }
        }
        break;
    case E_SRASSOC:
        if (id_attr(ps, atts, "session_id", id))
            ps->asc = assoc_get(ps, ps->md->srecording, &ps->md->n_srecording, "", id);
        if (ps->asc)
            memcpy(ps->asc->session_id, id, sizeof(id));
        break;
    case E_PSASSOC:
        if (id_attr(ps, atts, "participant_id", id) && id_attr(ps, atts, "session_id", id2))
            ps->asc = assoc_get(ps, ps->md->psession, &ps->md->n_psession, id, id2);
        if (ps->asc) {
            memcpy(ps->asc->participant_id, id, sizeof(id));
            memcpy(ps->asc->session_id, id2, sizeof(id2));
        }
        break;
    case E_NAMEID:
        if (ps->par->n_nameid == SIPREC_MD_MAX_NAMEID) {
            md_fail(ps, SIPREC_E_MD_LIMIT, "too many nameID in one participant");
            break;
        }
        ps->nid = &ps->par->nameid[ps->par->n_nameid++];
        memset(ps->nid, 0, sizeof(*ps->nid));
        ps->nid_named = false;
        /* RFC 7865 makes aor optional in the schema: a name alone is kept. */
        if (attr(atts, "aor") && !slice_copy_cstr(slice_trim(slice_cstr(attr(atts, "aor"))),
                                                  ps->nid->aor, sizeof(ps->nid->aor)))
            md_fail(ps, SIPREC_E_MD_LIMIT, "nameID aor too long");
        break;
    case E_NAME:
        lang = attr(atts, "http://www.w3.org/XML/1998/namespace\x01lang");
        if (!ps->nid_named && lang && !slice_copy_cstr(slice_cstr(lang), ps->nid->lang, sizeof(ps->nid->lang)))
            md_fail(ps, SIPREC_E_MD_LIMIT, "xml:lang too long");
        break;
    default:
        break;
    }
}

static enum md_elem elem_of(const char *name, bool *in_ns)
{
    const char *sep = strchr(name, NS_SEP);
    static const char *const ignored[] = { "content-type", "reason" };

    *in_ns = sep && (size_t)(sep - name) == strlen(SIPREC_MD_NS) &&
             memcmp(name, SIPREC_MD_NS, strlen(SIPREC_MD_NS)) == 0;
    if (!*in_ns)
        return E_NONE;
    for (int e = 1; e < E_IGNORED; e++)
        if (strcmp(sep + 1, elem_names[e]) == 0)
            return (enum md_elem)e;
    for (size_t i = 0; i < SR_ARRAY_LEN(ignored); i++)
        if (strcmp(sep + 1, ignored[i]) == 0)
            return E_IGNORED;
    return E_NONE;
}

static bool ext_owner(struct md_parse *ps, enum md_elem parent)
{
    switch (parent) {
    case E_RECORDING: ps->ext_owner = SIPREC_MD_OWN_RECORDING; ps->ext_owner_id = ""; return true;
    case E_GROUP: ps->ext_owner = SIPREC_MD_OWN_GROUP; ps->ext_owner_id = ps->grp->id; return true;
    case E_SESSION: ps->ext_owner = SIPREC_MD_OWN_SESSION; ps->ext_owner_id = ps->ses->id; return true;
    case E_PARTICIPANT:
        ps->ext_owner = SIPREC_MD_OWN_PARTICIPANT;
        ps->ext_owner_id = ps->par->id;
        return true;
    case E_STREAM: ps->ext_owner = SIPREC_MD_OWN_STREAM; ps->ext_owner_id = ps->str->id; return true;
    default: return false;
    }
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct md_parse *ps = ud;
    struct frame *parent = &ps->stack[ps->depth];
    enum md_elem e;
    bool in_ns;

    if (ps->err)
        return;
    if (ps->depth >= SIPREC_MD_MAX_DEPTH) {
        md_fail(ps, SIPREC_E_MD_LIMIT, "elements nested too deep");
        return;
    }
    ps->depth++;
    ps->stack[ps->depth] = (struct frame){ E_NONE, 0 };
    ps->text_len = 0;
    if (ps->skip_from)
        return;
    e = elem_of(name, &in_ns);
    if (ps->depth == 1) {
        if (e != E_RECORDING)
            md_fail(ps, SIPREC_E_MD_ROOT, "root element is not recording in " SIPREC_MD_NS);
        ps->stack[1].e = E_RECORDING;
        return;
    }
    if (!in_ns || e == E_IGNORED) {
        ps->skip_from = ps->depth;
        if (!in_ns && ext_owner(ps, parent->e)) {
            ps->ext_from = ps->depth;
            ps->ext_start = (size_t)XML_GetCurrentByteIndex(ps->xp);
            ps->ext_start_len = (size_t)XML_GetCurrentByteCount(ps->xp);
        }
        if (e == E_IGNORED && !(parent->e == E_SESSION || parent->e == E_STREAM))
            md_fail(ps, SIPREC_E_MD_ELEMENT, "element misplaced");
        return;
    }
    if (e == E_NONE) {
        md_fail(ps, SIPREC_E_MD_ELEMENT, "unknown element in the recording namespace");
        return;
    }
    if (!(children[parent->e].allowed & B(e))) {
        md_fail(ps, SIPREC_E_MD_ELEMENT, "element misplaced");
        return;
    }
    if ((parent->seen & B(e)) && !(children[parent->e].repeat & B(e))) {
        md_fail(ps, SIPREC_E_MD_ELEMENT, "element repeated");
        return;
    }
    parent->seen |= B(e);
    ps->stack[ps->depth].e = e;
    start_known(ps, e, atts);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct md_parse *ps = ud;
    enum md_elem e = ps->stack[ps->depth].e;

    if (ps->err || ps->skip_from || len <= 0)
        return;
    if (texty(e)) {
        if ((size_t)len > MD_MAX_TEXT - ps->text_len) {
            md_fail(ps, SIPREC_E_MD_LIMIT, "element text too long");
            return;
        }
        memcpy(ps->text + ps->text_len, s, (size_t)len);
        ps->text_len += (size_t)len;
        return;
    }
    for (int i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            md_fail(ps, SIPREC_E_MD_VALUE, "text where only elements belong");
            return;
        }
}

static void ext_keep(struct md_parse *ps)
{
    struct siprec_md *md = ps->md;
    size_t end = (size_t)XML_GetCurrentByteIndex(ps->xp) + (size_t)XML_GetCurrentByteCount(ps->xp);
    struct siprec_md_ext *x;

    if (end < ps->ext_start + ps->ext_start_len)
        end = ps->ext_start + ps->ext_start_len; /* <x/>: one tag is both events */
    if (end > ps->doc_len || end <= ps->ext_start) {
        md_fail(ps, SIPREC_E_MD_XML, "extension element offsets");
        return;
    }
    if (md->n_ext == SIPREC_MD_MAX_EXT_N || end - ps->ext_start > SIPREC_MD_MAX_EXT - md->ext_len) {
        md_fail(ps, SIPREC_E_MD_LIMIT, "extension data over its bound");
        return;
    }
    x = &md->ext_index[md->n_ext++];
    x->owner = ps->ext_owner;
    snprintf(x->owner_id, sizeof(x->owner_id), "%s", ps->ext_owner_id);
    x->off = md->ext_len;
    x->len = end - ps->ext_start;
    memcpy(md->ext + md->ext_len, ps->doc + ps->ext_start, x->len);
    md->ext_len += x->len;
}

static bool ref_add(struct md_parse *ps, char (*list)[SIPREC_MD_ID], size_t *n, struct slice v)
{
    char id[SIPREC_MD_ID];

    if (!copy_id(ps, v, id, sizeof(id)))
        return false;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], id) == 0)
            return true;
    if (*n == SIPREC_MD_MAX_PSTREAM) {
        md_fail(ps, SIPREC_E_MD_LIMIT, "too many send or recv streams for one participant");
        return false;
    }
    memcpy(list[(*n)++], id, sizeof(id));
    return true;
}

static int64_t *time_slot(struct md_parse *ps, enum md_elem e, enum md_elem parent)
{
    bool assoc = e == E_ASSOC_TIME;

    switch (parent) {
    case E_GROUP: return assoc ? &ps->grp->associate : &ps->grp->disassociate;
    case E_SRASSOC:
    case E_PSASSOC: return assoc ? &ps->asc->associate : &ps->asc->disassociate;
    case E_PSTREAM: return assoc ? &ps->pst->associate : &ps->pst->disassociate;
    case E_SESSION:
        if (e == E_START_TIME)
            return &ps->ses->start;
        if (e == E_STOP_TIME)
            return &ps->ses->stop;
        return NULL; /* associate-time in a session: tolerated, not kept */
    default: return NULL;
    }
}

/* Participant-level send/recv (RFC 7865 drafts, some SBCs) land in the
 * participant's participantstreamassoc. */
static struct siprec_md_pstream *pstream_of_participant(struct md_parse *ps)
{
    struct siprec_md_pstream *p = pstream_get(ps, ps->par->id);

    if (p && !p->participant_id[0]) {
        memcpy(p->participant_id, ps->par->id, sizeof(p->participant_id));
        times_init(&p->associate, &p->disassociate);
    }
    return p;
}

static void end_text(struct md_parse *ps, enum md_elem e, enum md_elem parent, struct slice text)
{
    struct siprec_md_pstream *p;
    int64_t *slot, t;

    switch (e) {
    case E_DATAMODE:
        if (slice_eq(text, SLICE_LIT("complete")))
            ps->md->mode = SIPREC_MD_COMPLETE;
        else if (slice_eq(text, SLICE_LIT("partial")))
            ps->md->mode = SIPREC_MD_PARTIAL;
        else
            md_fail(ps, SIPREC_E_MD_VALUE, "datamode is not complete or partial");
        break;
    case E_ASSOC_TIME:
    case E_DISASSOC_TIME:
    case E_START_TIME:
    case E_STOP_TIME:
        if (!time_parse(text, &t)) {
            md_fail(ps, SIPREC_E_MD_VALUE, "time is not an xs:dateTime after 1970");
            break;
        }
        slot = time_slot(ps, e, parent);
        if (slot)
            *slot = t;
        break;
    case E_SIPSID:
        if (ps->ses->n_sip_session_id == SIPREC_MD_MAX_SIPSID) {
            md_fail(ps, SIPREC_E_MD_LIMIT, "too many sipSessionID");
            break;
        }
        if (!copy_collapsed(text, ps->ses->sip_session_id[ps->ses->n_sip_session_id++],
                            SIPREC_MD_SIPSID))
            md_fail(ps, SIPREC_E_MD_LIMIT, "sipSessionID too long");
        break;
    case E_GROUP_REF: /* group-ref* in RFC 7865's schema: the first is kept */
        if (!ps->ses->group_ref[0])
            copy_id(ps, text, ps->ses->group_ref, sizeof(ps->ses->group_ref));
        break;
    case E_NAME:
        if (!ps->nid_named && !slice_copy_cstr(text, ps->nid->name, sizeof(ps->nid->name)))
            md_fail(ps, SIPREC_E_MD_LIMIT, "name too long");
        ps->nid_named = true;
        break;
    case E_LABEL:
        if (!slice_copy_cstr(text, ps->str->label, sizeof(ps->str->label)))
            md_fail(ps, SIPREC_E_MD_LIMIT, "label too long");
        break;
    case E_SEND:
    case E_RECV:
        p = parent == E_PSTREAM ? ps->pst : pstream_of_participant(ps);
        if (p && e == E_SEND)
            ref_add(ps, p->send, &p->n_send, text);
        else if (p)
            ref_add(ps, p->recv, &p->n_recv, text);
        break;
    default: break;
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct md_parse *ps = ud;
    enum md_elem e = ps->stack[ps->depth].e;
    enum md_elem parent = ps->depth > 1 ? ps->stack[ps->depth - 1].e : E_NONE;

    (void)name;
    if (ps->err)
        return;
    if (ps->skip_from) {
        if (ps->skip_from == ps->depth) {
            if (ps->ext_from == ps->depth)
                ext_keep(ps);
            ps->skip_from = ps->ext_from = 0;
        }
        ps->depth--;
        return;
    }
    if (texty(e))
        end_text(ps, e, parent, slice_trim(slice_of(ps->text, ps->text_len)));
    if (e == E_NAMEID && !ps->nid->aor[0] && !ps->nid->name[0])
        md_fail(ps, SIPREC_E_MD_ATTR, "nameID without aor or name");
    sr_wipe(ps->text, sizeof(ps->text));
    ps->text_len = 0;
    ps->depth--;
}

/* Any DTD is refused (xmlmem.h). */
static void md_refuse(void *ud, const char *why)
{
    md_fail(ud, SIPREC_E_MD_DTD, why);
}

struct siprec_md *siprec_md_create(void)
{
    return calloc(1, sizeof(struct siprec_md));
}

void siprec_md_clear(struct siprec_md *md)
{
    if (md)
        sr_wipe(md, sizeof(*md));
}

void siprec_md_destroy(struct siprec_md *md)
{
    if (!md)
        return;
    siprec_md_clear(md);
    free(md);
}

enum siprec_err siprec_md_parse(const char *xml, size_t len, struct siprec_md *out,
                                const char **detail)
{
    static const XML_Char ns_sep[] = { NS_SEP, 0 };
    struct md_parse *ps;
    enum siprec_err err;
    const char *dummy;

    if (!detail)
        detail = &dummy;
    *detail = siprec_strerror(SIPREC_E_INVAL);
    if (!out || (!xml && len))
        return SIPREC_E_INVAL;
    siprec_md_clear(out);
    if (len > SIPREC_MD_MAX_DOC) {
        *detail = "document larger than 64 KiB";
        return SIPREC_E_MD_LIMIT;
    }
    ps = calloc(1, sizeof(*ps));
    if (!ps) {
        *detail = siprec_strerror(SIPREC_E_NOMEM);
        return SIPREC_E_NOMEM;
    }
    ps->md = out;
    ps->dtd.refuse = md_refuse;
    ps->doc = xml ? xml : "";
    ps->doc_len = len;
    /* The encoding argument overrides any declaration in the document. */
    ps->xp = XML_ParserCreate_MM("UTF-8", &sr_xml_wiped_mem, ns_sep);
    if (!ps->xp) {
        free(ps);
        *detail = siprec_strerror(SIPREC_E_NOMEM);
        return SIPREC_E_NOMEM;
    }
    XML_SetUserData(ps->xp, ps);
    XML_SetElementHandler(ps->xp, on_start, on_end);
    XML_SetCharacterDataHandler(ps->xp, on_text);
    sr_xml_refuse_dtd(ps->xp);
    if (XML_Parse(ps->xp, ps->doc, (int)len, XML_TRUE) != XML_STATUS_OK && !ps->err) {
        enum XML_Error xe = XML_GetErrorCode(ps->xp);

        ps->err = SIPREC_E_MD_XML;
        ps->why = xe != XML_ERROR_NONE && XML_ErrorString(xe) ? XML_ErrorString(xe)
                                                              : "XML not well-formed";
    }
    err = ps->err;
    *detail = err ? (ps->why ? ps->why : siprec_strerror(err)) : siprec_strerror(SIPREC_OK);
    if (err)
        siprec_md_clear(out);
    XML_ParserFree(ps->xp);
    sr_wipe(ps, sizeof(*ps));
    free(ps);
    return err;
}
