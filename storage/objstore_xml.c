/** @file objstore_xml.c  S3 XML answers (objstore_xml.h). */
#include "objstore_xml.h"

#include <stdbool.h>
#include <string.h>

#include "slice.h"
#include "util.h"

enum { TEXT_MAX = 1024 };

struct ox_parse {
    struct objstore_xml_pass pass; /* first */
    struct objstore_xml *out;
    unsigned depth;
    char *field;      /* the field the open element's text goes to; NULL: none */
    size_t field_cap;
    bool field_cut;   /* message: cut to fit rather than refused */
    bool is_num;      /* days/years */
    unsigned num_mul;
    char text[TEXT_MAX + 1];
    size_t text_len;
};

void objstore_xml_fail(struct objstore_xml_pass *p, enum sr_err err)
{
    if (p->err == SR_OK)
        p->err = err;
    XML_StopParser(p->xp, XML_FALSE);
}

static void XMLCALL pass_refuse(void *ud, const char *why)
{
    (void)why;
    objstore_xml_fail(ud, SR_EPARSE);
}

const char *objstore_xml_local(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

enum sr_err objstore_xml_run(struct objstore_xml_pass *p, const char *doc, size_t len,
                             XML_StartElementHandler start, XML_EndElementHandler end,
                             XML_CharacterDataHandler text)
{
    p->dtd.refuse = pass_refuse;
    p->err = SR_OK;
    if (len > OBJSTORE_XML_MAX)
        return SR_ELIMIT;
    p->xp = XML_ParserCreate_MM(NULL, &sr_xml_wiped_mem, NULL);
    if (!p->xp)
        return SR_ENOMEM;
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, start, end);
    XML_SetCharacterDataHandler(p->xp, text);
    sr_xml_refuse_dtd(p->xp);
    if (XML_Parse(p->xp, doc, (int)len, XML_TRUE) != XML_STATUS_OK && p->err == SR_OK)
        p->err = XML_GetErrorCode(p->xp) == XML_ERROR_NO_MEMORY ? SR_ENOMEM : SR_EPARSE;
    XML_ParserFree(p->xp);
    p->xp = NULL;
    return p->err;
}

static void ox_fail(struct ox_parse *ps, enum sr_err err)
{
    objstore_xml_fail(&ps->pass, err);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct ox_parse *ps = ud;
    struct objstore_xml *o = ps->out;
    const char *n = objstore_xml_local(name);
    static const struct {
        const char *name;
        size_t off, cap;
        bool cut;
    } fields[] = {
        { "Code", offsetof(struct objstore_xml, code), sizeof(o->code), false },
        { "Message", offsetof(struct objstore_xml, message), sizeof(o->message), true },
        { "RequestId", offsetof(struct objstore_xml, request_id), sizeof(o->request_id), false },
        { "UploadId", offsetof(struct objstore_xml, upload_id), sizeof(o->upload_id), false },
        { "ETag", offsetof(struct objstore_xml, etag), sizeof(o->etag), false },
        { "ObjectLockEnabled", offsetof(struct objstore_xml, lock_enabled), sizeof(o->lock_enabled), false },
        { "Mode", offsetof(struct objstore_xml, mode), sizeof(o->mode), false },
    };

    (void)atts;
    if (++ps->depth > OBJSTORE_XML_DEPTH) {
        ox_fail(ps, SR_ELIMIT);
        return;
    }
    ps->field = NULL;
    ps->is_num = false;
    ps->text_len = 0;
    if (ps->depth == 1) {
        if (strlen(n) >= sizeof(o->root)) {
            ox_fail(ps, SR_ELIMIT);
            return;
        }
        memcpy(o->root, n, strlen(n) + 1);
        return;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(fields); i++) {
        if (strcmp(n, fields[i].name) != 0)
            continue;
        char *f = (char *)o + fields[i].off;
        if (f[0])
            return; /* the first occurrence counts */
        ps->field = f;
        ps->field_cap = fields[i].cap;
        ps->field_cut = fields[i].cut;
        return;
    }
    if (o->days == 0 && (strcmp(n, "Days") == 0 || strcmp(n, "Years") == 0)) {
        ps->is_num = true;
        ps->num_mul = n[0] == 'Y' ? 365 : 1;
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct ox_parse *ps = ud;

    if (!ps->field && !ps->is_num)
        return;
    if (ps->text_len + (size_t)len > TEXT_MAX) {
        if (ps->field && ps->field_cut) {
            len = (int)(TEXT_MAX - ps->text_len);
        } else {
            ox_fail(ps, SR_ELIMIT);
            return;
        }
    }
    memcpy(ps->text + ps->text_len, s, (size_t)len);
    ps->text_len += (size_t)len;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct ox_parse *ps = ud;
    struct slice t = slice_trim(slice_of(ps->text, ps->text_len));

    (void)name;
    ps->depth--;
    if (ps->field) {
        /* ETags come quoted ("&quot;abc&quot;" in Swift's XML). */
        if (ps->field == ps->out->etag && t.len >= 2 && t.p[0] == '"' && t.p[t.len - 1] == '"') {
            t.p++;
            t.len -= 2;
        }
        if (t.len >= ps->field_cap) {
            if (!ps->field_cut) {
                ox_fail(ps, SR_ELIMIT);
                return;
            }
            t.len = ps->field_cap - 1;
        }
        if (memchr(t.p, '\0', t.len)) {
            ox_fail(ps, SR_EPARSE);
            return;
        }
        memcpy(ps->field, t.p, t.len);
        ps->field[t.len] = '\0';
    } else if (ps->is_num) {
        uint64_t v;
        if (!slice_to_u64(t, 36500, &v)) {
            ox_fail(ps, SR_EPARSE);
            return;
        }
        ps->out->days = (unsigned)v * ps->num_mul;
    }
    ps->field = NULL;
    ps->is_num = false;
    ps->text_len = 0;
}

enum sr_err objstore_xml_parse(const char *doc, size_t len, struct objstore_xml *out)
{
    struct ox_parse ps = { .out = out };
    enum sr_err err;

    memset(out, 0, sizeof(*out));
    err = objstore_xml_run(&ps.pass, doc, len, on_start, on_end, on_text);
    if (err == SR_OK && !out->root[0])
        err = SR_EPARSE;
    if (err != SR_OK)
        memset(out, 0, sizeof(*out));
    return err;
}
