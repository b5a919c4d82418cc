/* Fuzz target: SIPREC request bodies (siprec/multipart.c).  The first line
 * of the input is the Content-Type value, the rest the body.  Every slice
 * handed out must lie inside the body, parts in order; a refusal must have
 * a text and a SIP status. */
#include <stdint.h>
#include <string.h>

#include "siprec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(struct slice s, struct slice body)
{
    return s.len == 0 || (s.p >= body.p && s.p + s.len <= body.p + body.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct siprec_body out;
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t ctlen = nl ? (size_t)(nl - p) : size;
    struct slice ct = slice_of(p, ctlen), body = slice_of(p + ctlen + (nl ? 1 : 0), size - ctlen - (nl ? 1 : 0));
    enum siprec_err e = siprec_body_parse(ct, body, &out);

    if (e != SIPREC_OK) {
        if (!siprec_strerror(e)[0] || siprec_err_status(e) < 400 || siprec_err_class(e) == SR_OK)
            __builtin_trap();
        if (out.sdp.p || out.meta.p || out.mp.n_part)
            __builtin_trap(); /* cleared on failure */
        return 0;
    }
    if (!inside(out.sdp, body) || !inside(out.meta, body) || out.mp.n_part > SIPREC_MP_MAX_PARTS)
        __builtin_trap();
    for (size_t i = 0; i < out.mp.n_part; i++) {
        const struct siprec_part *pt = &out.mp.part[i];

        if (!inside(pt->body, body) || !inside(pt->headers, body) || !inside(pt->content_type, body))
            __builtin_trap();
        if (i && pt->body.len && out.mp.part[i - 1].body.len &&
            pt->body.p < out.mp.part[i - 1].body.p + out.mp.part[i - 1].body.len)
            __builtin_trap(); /* parts never overlap */
    }
    if (out.mp.n_part && (strlen(out.mp.boundary) == 0 || strlen(out.mp.boundary) > SIPREC_MP_MAX_BOUNDARY))
        __builtin_trap();
    return 0;
}
