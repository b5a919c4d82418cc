/** @file multipart.c  RFC 2046 multipart split and the SRS's body classifier.
 *
 * The body comes from the network: one pass, every count bounded, slices
 * into the caller's buffer, no allocation.  Line ends may be CRLF or a bare
 * LF (SBCs differ and a recording must not be lost to either); the break
 * before a delimiter belongs to the delimiter, never to a part. */
#include <string.h>

#include "siprec_priv.h"

/* RFC 2046 5.1.1 bchars (space allowed, but not last). */
static bool bchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("'()+_,-./:=? ", c));
}

static bool boundary_ok(const char *b, size_t n)
{
    if (n == 0 || n > SIPREC_MP_MAX_BOUNDARY || b[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!bchar(b[i]))
            return false;
    return true;
}

enum siprec_err siprec_boundary(struct slice content_type, char *out)
{
    struct slice type, params, name, value;
    bool done, found = false;
    size_t n;

    if (!out)
        return SIPREC_E_INVAL;
    out[0] = '\0';
    if (!mime_type_split(content_type, &type, &params))
        return SIPREC_E_CT_SYNTAX;
    for (;;) {
        if (!mime_param_next(&params, &name, &value, &done))
            /* A broken quote inside the boundary is the boundary's fault. */
            return found ? SIPREC_E_CT_SYNTAX : SIPREC_E_BOUNDARY_BAD;
        if (done)
            break;
        if (!slice_eq_nocase(name, SLICE_LIT("boundary")))
            continue;
        if (found)
            return SIPREC_E_BOUNDARY_BAD; /* two boundaries: which one? */
        found = true;
        if (!mime_unquote(value, out, SIPREC_MP_MAX_BOUNDARY + 1, &n) || !boundary_ok(out, n)) {
            out[0] = '\0';
            return SIPREC_E_BOUNDARY_BAD;
        }
    }
    return found ? SIPREC_OK : SIPREC_E_BOUNDARY_MISSING;
}

struct delim {
    size_t brk;   /* where the part before it ends (start of the line break) */
    size_t end;   /* first byte after the delimiter line */
    bool close;
};

/* A delimiter line at i: "--" boundary ["--"] *LWSP (CRLF | LF | end). */
static bool delim_at(struct slice body, size_t i, const char *b, size_t blen, bool *close,
                     size_t *end)
{
    size_t j = i + 2 + blen;

    if (body.len - i < 2 + blen || memcmp(body.p + i, "--", 2) || memcmp(body.p + i + 2, b, blen))
        return false;
    *close = body.len - j >= 2 && body.p[j] == '-' && body.p[j + 1] == '-';
    if (*close)
        j += 2;
    while (j < body.len && (body.p[j] == ' ' || body.p[j] == '\t'))
        j++;
    if (j < body.len && body.p[j] == '\n')
        j++;
    else if (j + 1 < body.len && body.p[j] == '\r' && body.p[j + 1] == '\n')
        j += 2;
    else if (j != body.len)
        return false; /* "--boundaryX": content that merely starts like one */
    *end = j;
    return true;
}

/* The first delimiter at a line start at or after from. */
static bool delim_find(struct slice body, size_t from, const char *b, size_t blen,
                       struct delim *d)
{
    size_t i = from;

    while (i < body.len) {
        if ((i == 0 || body.p[i - 1] == '\n') && delim_at(body, i, b, blen, &d->close, &d->end)) {
            d->brk = i;
            if (i > from) {
                d->brk = i - 1;
                if (d->brk > from && body.p[d->brk - 1] == '\r')
                    d->brk--;
            }
            return true;
        }
        const char *nl = memchr(body.p + i, '\n', body.len - i);
        if (!nl)
            break;
        i = (size_t)(nl - body.p) + 1;
    }
    return false;
}

static enum siprec_err disposition_parse(struct slice v, struct siprec_part *part)
{
    struct slice params, name, value;
    long semi = slice_find(v, ';');
    bool done, seen = false;

    part->disposition = slice_trim(semi < 0 ? v : slice_of(v.p, (size_t)semi));
    if (part->disposition.len == 0)
        return SIPREC_E_DISPOSITION_BAD;
    for (size_t i = 0; i < part->disposition.len; i++)
        if (!mime_tchar(part->disposition.p[i]))
            return SIPREC_E_DISPOSITION_BAD;
    params = semi < 0 ? slice_of(v.p + v.len, 0) : slice_of(v.p + semi, v.len - (size_t)semi);
    for (;;) {
        if (!mime_param_next(&params, &name, &value, &done))
            return SIPREC_E_DISPOSITION_BAD;
        if (done)
            return SIPREC_OK;
        if (!slice_eq_nocase(name, SLICE_LIT("handling")))
            continue;
        if (seen)
            return SIPREC_E_DISPOSITION_BAD;
        seen = true;
        if (slice_eq_nocase(value, SLICE_LIT("required")))
            part->handling = SIPREC_HANDLING_REQUIRED;
        else if (slice_eq_nocase(value, SLICE_LIT("optional")))
            part->handling = SIPREC_HANDLING_OPTIONAL;
        else
            return SIPREC_E_DISPOSITION_BAD;
    }
}

static enum siprec_err field_parse(struct slice field, struct siprec_part *part, unsigned *seen)
{
    long colon = slice_find(field, ':');
    struct slice name, value;
    unsigned bit = 0;

    if (colon <= 0)
        return SIPREC_E_PART_HEADER;
    name = slice_trim(slice_of(field.p, (size_t)colon));
    value = slice_trim(slice_of(field.p + colon + 1, field.len - (size_t)colon - 1));
    if (name.len == 0)
        return SIPREC_E_PART_HEADER;
    for (size_t i = 0; i < name.len; i++)
        if (!mime_tchar(name.p[i]))
            return SIPREC_E_PART_HEADER;
    if (slice_eq_nocase(name, SLICE_LIT("Content-Type")) || slice_eq_nocase(name, SLICE_LIT("c")))
        bit = 1;
    else if (slice_eq_nocase(name, SLICE_LIT("Content-Disposition")))
        bit = 2;
    else if (slice_eq_nocase(name, SLICE_LIT("Content-ID")))
        bit = 4;
    else if (slice_eq_nocase(name, SLICE_LIT("Content-Transfer-Encoding")))
        bit = 8;
    else
        return SIPREC_OK; /* MIME-Version, Content-Length, vendor headers */
    if (*seen & bit)
        return SIPREC_E_PART_HEADER_DUP;
    *seen |= bit;
    switch (bit) {
    case 1:
        part->content_type = value;
        return SIPREC_OK;
    case 2:
        return disposition_parse(value, part);
    case 4:
        part->content_id = value;
        return SIPREC_OK;
    default:
        if (slice_eq_nocase(value, SLICE_LIT("7bit")) || slice_eq_nocase(value, SLICE_LIT("8bit")) ||
            slice_eq_nocase(value, SLICE_LIT("binary")))
            return SIPREC_OK;
        return SIPREC_E_ENCODING;
    }
}

/* Header section of one part, then its content.  A part that starts with a
 * line break has no headers. */
static enum siprec_err part_parse(struct slice raw, struct siprec_part *part)
{
    size_t i = 0, nfields = 0, fstart = 0;
    unsigned seen = 0;
    bool open = false;
    enum siprec_err err;

    memset(part, 0, sizeof(*part));
    part->handling = SIPREC_HANDLING_REQUIRED;
    for (;;) {
        const char *nl = i < raw.len ? memchr(raw.p + i, '\n', raw.len - i) : NULL;
        size_t lend, next;

        if (!nl)
            return SIPREC_E_PART_HEADER; /* no empty line ends the headers */
        next = (size_t)(nl - raw.p) + 1;
        lend = next - 1;
        if (lend > i && raw.p[lend - 1] == '\r')
            lend--;
        if (lend == i || raw.p[i] == ' ' || raw.p[i] == '\t') {
            if (lend != i && !open)
                return SIPREC_E_PART_HEADER; /* continuation of nothing */
            if (lend != i) {                 /* folded: the field goes on */
                if (lend - fstart > SIPREC_MP_MAX_HEADER_LINE)
                    return SIPREC_E_BODY_LIMIT;
                i = next;
                continue;
            }
        }
        if (open) { /* the field that started at fstart ends before line i */
            size_t fend = i;

            while (fend > fstart && (raw.p[fend - 1] == '\n' || raw.p[fend - 1] == '\r'))
                fend--;
            err = field_parse(slice_of(raw.p + fstart, fend - fstart), part, &seen);
            if (err)
                return err;
            open = false;
        }
        if (lend == i) { /* the empty line */
            part->headers = slice_of(raw.p, i);
            part->body = slice_of(raw.p + next, raw.len - next);
            return SIPREC_OK;
        }
        if (++nfields > SIPREC_MP_MAX_PART_HEADERS || lend - i > SIPREC_MP_MAX_HEADER_LINE)
            return SIPREC_E_BODY_LIMIT;
        fstart = i;
        open = true;
        i = next;
    }
}

enum siprec_err siprec_multipart_parse(struct slice content_type, struct slice body,
                                       struct siprec_multipart *out)
{
    struct delim d;
    size_t blen, pos;
    enum siprec_err err;

    if (!out || (!body.p && body.len))
        return SIPREC_E_INVAL;
    memset(out, 0, sizeof(*out));
    err = siprec_boundary(content_type, out->boundary);
    if (err)
        return err;
    if (body.len > SIPREC_MP_MAX_BODY)
        return SIPREC_E_BODY_LIMIT;
    blen = strlen(out->boundary);
    if (!delim_find(body, 0, out->boundary, blen, &d))
        return SIPREC_E_NO_DELIMITER;
    out->preamble = slice_of(body.p, d.brk);
    while (!d.close) {
        pos = d.end;
        if (!delim_find(body, pos, out->boundary, blen, &d))
            return SIPREC_E_NO_CLOSE;
        if (out->n_part == SIPREC_MP_MAX_PARTS)
            return SIPREC_E_BODY_LIMIT;
        err = part_parse(slice_of(body.p + pos, d.brk - pos), &out->part[out->n_part]);
        if (err)
            return err;
        out->n_part++;
    }
    out->epilogue = slice_of(body.p + d.end, body.len - d.end);
    return SIPREC_OK;
}

enum siprec_ctype siprec_ctype_of(struct slice content_type)
{
    struct slice type, params;

    if (!mime_type_split(content_type, &type, &params))
        return SIPREC_CT_OTHER;
    if (slice_eq_nocase(type, SLICE_LIT("multipart/mixed")))
        return SIPREC_CT_MULTIPART_MIXED;
    if (slice_eq_nocase(type, SLICE_LIT("application/sdp")))
        return SIPREC_CT_SDP;
    if (slice_eq_nocase(type, SLICE_LIT("application/rs-metadata+xml")))
        return SIPREC_CT_RSMETA_XML;
    if (slice_eq_nocase(type, SLICE_LIT("application/rs-metadata")))
        return SIPREC_CT_RSMETA;
    return SIPREC_CT_OTHER;
}

static enum siprec_err parts_classify(struct siprec_body *out)
{
    for (size_t i = 0; i < out->mp.n_part; i++) {
        const struct siprec_part *p = &out->mp.part[i];
        enum siprec_ctype t = siprec_ctype_of(p->content_type);

        switch (t) {
        case SIPREC_CT_SDP:
            if (out->sdp.p)
                return SIPREC_E_SDP_TWICE;
            out->sdp = p->body;
            break;
        case SIPREC_CT_RSMETA_XML:
        case SIPREC_CT_RSMETA:
            if (out->meta.p)
                return SIPREC_E_META_TWICE;
            out->meta = p->body;
            out->meta_type = t;
            break;
        case SIPREC_CT_MULTIPART_MIXED: /* nested multipart: not followed */
        case SIPREC_CT_OTHER:
            if (p->handling == SIPREC_HANDLING_REQUIRED)
                return SIPREC_E_PART_UNSUPPORTED;
            break;
        }
    }
    return out->sdp.p ? SIPREC_OK : SIPREC_E_SDP_MISSING;
}

enum siprec_err siprec_body_parse(struct slice content_type, struct slice body,
                                  struct siprec_body *out)
{
    struct slice type, params;
    enum siprec_err err;
    enum siprec_ctype t;

    if (!out || (!body.p && body.len) || (!content_type.p && content_type.len))
        return SIPREC_E_INVAL;
    memset(out, 0, sizeof(*out));
    if (slice_trim(content_type).len == 0 && body.len == 0)
        return SIPREC_OK;
    if (!mime_type_split(content_type, &type, &params))
        return SIPREC_E_CT_SYNTAX;
    t = siprec_ctype_of(content_type);
    switch (t) {
    case SIPREC_CT_MULTIPART_MIXED:
        err = siprec_multipart_parse(content_type, body, &out->mp);
        if (!err)
            err = parts_classify(out);
        break;
    case SIPREC_CT_SDP:
        out->sdp = body;
        err = SIPREC_OK;
        break;
    case SIPREC_CT_RSMETA_XML:
    case SIPREC_CT_RSMETA:
        out->meta = body;
        out->meta_type = t;
        err = SIPREC_OK;
        break;
    default:
        err = SIPREC_E_CT_UNSUPPORTED;
        break;
    }
    if (err)
        memset(out, 0, sizeof(*out));
    return err;
}
