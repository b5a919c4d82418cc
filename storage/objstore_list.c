/** @file objstore_list.c  S3 ListObjectsV2 pages (objstore_list.h). */
#include "objstore_list.h"

#include <string.h>

#include "objstore_xml.h"
#include "slice.h"

/* S3's largest object (5 TiB). */
#define SIZE_MAX_OBJECT 5497558138880ull

enum field { F_NONE, F_KEY, F_SIZE, F_TRUNCATED, F_TOKEN };

struct ol_parse {
    struct objstore_xml_pass pass; /* first */
    struct objstore_list_page *out;
    unsigned depth;
    bool in_contents;       /* inside a depth-2 Contents */
    bool have_key, have_size, have_truncated;
    enum field field;       /* what the open element's text is */
    char text[OBJSTORE_LIST_TOKEN_MAX + 1];
    size_t text_len;
};

static void ol_fail(struct ol_parse *ps, enum sr_err err)
{
    objstore_xml_fail(&ps->pass, err);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct ol_parse *ps = ud;
    const char *n = objstore_xml_local(name);

    (void)atts;
    ps->field = F_NONE;
    ps->text_len = 0;
    if (++ps->depth > OBJSTORE_XML_DEPTH) {
        ol_fail(ps, SR_ELIMIT);
        return;
    }
    if (ps->depth == 1) {
        if (strcmp(n, "ListBucketResult") != 0)
            ol_fail(ps, SR_EPARSE);
        return;
    }
    if (ps->depth == 2) {
        if (strcmp(n, "Contents") == 0) {
            if (ps->out->n >= OBJSTORE_LIST_PAGE_MAX) {
                ol_fail(ps, SR_ELIMIT);
                return;
            }
            ps->in_contents = true;
            ps->have_key = ps->have_size = false;
        } else if (strcmp(n, "IsTruncated") == 0) {
            ps->field = F_TRUNCATED;
        } else if (strcmp(n, "NextContinuationToken") == 0) {
            ps->field = F_TOKEN;
        }
        return;
    }
    if (ps->depth == 3 && ps->in_contents) {
        if (strcmp(n, "Key") == 0)
            ps->field = F_KEY;
        else if (strcmp(n, "Size") == 0)
            ps->field = F_SIZE;
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct ol_parse *ps = ud;

    if (ps->field == F_NONE)
        return;
    if (ps->text_len + (size_t)len > OBJSTORE_LIST_TOKEN_MAX) {
        ol_fail(ps, SR_ELIMIT);
        return;
    }
    memcpy(ps->text + ps->text_len, s, (size_t)len);
    ps->text_len += (size_t)len;
}

static bool is(struct slice t, const char *word)
{
    return slice_eq(t, slice_of(word, strlen(word)));
}

static bool key_chars_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

/* One field's text, once: a second Key or Size in one Contents (or a
 * second flag) is a document we do not understand. */
static void take(struct ol_parse *ps, enum field f)
{
    struct objstore_list_page *o = ps->out;
    struct slice raw = slice_of(ps->text, ps->text_len), t = slice_trim(raw);
    uint64_t v;

    switch (f) {
    case F_KEY: /* a key is taken byte for byte: spaces may be part of it */
        if (ps->have_key || raw.len == 0 || raw.len > OBJSTORE_KEY_MAX) {
            ol_fail(ps, raw.len > OBJSTORE_KEY_MAX ? SR_ELIMIT : SR_EPARSE);
            return;
        }
        if (!key_chars_ok(raw.p, raw.len)) {
            ol_fail(ps, SR_EPARSE);
            return;
        }
        memcpy(o->entries[o->n].key, raw.p, raw.len);
        o->entries[o->n].key[raw.len] = '\0';
        ps->have_key = true;
        return;
    case F_SIZE:
        if (ps->have_size || !slice_to_u64(t, SIZE_MAX_OBJECT, &v)) {
            ol_fail(ps, SR_EPARSE);
            return;
        }
        o->entries[o->n].size = v;
        ps->have_size = true;
        return;
    case F_TRUNCATED:
        if (ps->have_truncated || !(is(t, "true") || is(t, "false"))) {
            ol_fail(ps, SR_EPARSE);
            return;
        }
        o->truncated = is(t, "true");
        ps->have_truncated = true;
        return;
    case F_TOKEN:
        if (o->next_token[0] || t.len == 0 || memchr(t.p, '\0', t.len)) {
            ol_fail(ps, SR_EPARSE);
            return;
        }
        memcpy(o->next_token, t.p, t.len); /* t.len <= OBJSTORE_LIST_TOKEN_MAX (on_text) */
        o->next_token[t.len] = '\0';
        return;
    case F_NONE:
        return;
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct ol_parse *ps = ud;
    enum field f = ps->field;

    (void)name;
    ps->field = F_NONE;
    if (f != F_NONE)
        take(ps, f);
    ps->text_len = 0;
    if (ps->depth == 2 && ps->in_contents) {
        ps->in_contents = false;
        if (!ps->have_key || !ps->have_size) {
            ol_fail(ps, SR_EPARSE);
            return;
        }
        ps->out->n++;
    }
    ps->depth--;
}

enum sr_err objstore_list_parse(const char *doc, size_t len, struct objstore_list_page *out)
{
    struct ol_parse ps = { .out = out };
    enum sr_err err;

    memset(out, 0, sizeof(*out));
    err = objstore_xml_run(&ps.pass, doc, len, on_start, on_end, on_text);
    if (err == SR_OK && (!ps.have_truncated || (out->truncated && !out->next_token[0])))
        err = SR_EPARSE;
    if (err != SR_OK)
        memset(out, 0, sizeof(*out));
    return err;
}
