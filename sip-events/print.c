/** @file print.c  SIP request and response printer (RFC 3261 7, 8.1.1, 8.2.6).
 *
 * Every caller-supplied string is checked for CR and LF before it is
 * printed: a value that carries them would inject header fields.  On any
 * error, out is restored to its length before the call.
 */
#include <stdlib.h>
#include <string.h>

#include "sipev.h"
#include "sipev_priv.h"
#include "util.h"

static bool safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

static bool safe_opt(const char *s)
{
    return !s || safe(s);
}

static bool extras_ok(const struct sipev_extra_hdr *extra, size_t n_extra)
{
    if (n_extra && !extra)
        return false;
    for (size_t i = 0; i < n_extra; i++)
        if (!extra[i].name || !extra[i].value || !sipev_is_token(slice_cstr(extra[i].name)) ||
            !safe(extra[i].value))
            return false;
    return true;
}

/* A parsed header value printed with folding removed: the CRLF of a fold
 * goes, the SP/HTAB after it stays (RFC 3261 7.3.1: equivalent forms). */
static enum sr_err put_unfolded(struct buf *out, const char *name, struct slice v)
{
    enum sr_err err = buf_printf(out, "%s: ", name);
    size_t i = 0, run;

    while (!err && i < v.len) {
        for (run = i; run < v.len && v.p[run] != '\r' && v.p[run] != '\n'; run++)
            ;
        err = buf_append(out, v.p + i, run - i);
        i = run;
        while (i < v.len && (v.p[i] == '\r' || v.p[i] == '\n'))
            i++;
    }
    return err ? err : buf_append(out, "\r\n", 2);
}

static enum sr_err put_tail(struct buf *out, const struct sipev_extra_hdr *extra, size_t n_extra,
                            const char *content_type, const char *body, size_t body_len)
{
    enum sr_err err = SR_OK;

    for (size_t i = 0; !err && i < n_extra; i++)
        err = buf_printf(out, "%s: %s\r\n", extra[i].name, extra[i].value);
    if (!err && content_type)
        err = buf_printf(out, "Content-Type: %s\r\n", content_type);
    if (!err)
        err = buf_printf(out, "Content-Length: %zu\r\n\r\n", content_type ? body_len : 0);
    if (!err && content_type && body_len)
        err = buf_append(out, body, body_len);
    return err;
}

/* name-addr: the URI goes inside <> unless the caller already gave them. */
static const char *lt(const char *uri)
{
    return uri[0] == '<' ? "" : "<";
}

static const char *gt(const char *uri)
{
    return uri[0] == '<' ? "" : ">";
}

enum sr_err sipev_req_print(struct buf *out, const struct sipev_req *r)
{
    size_t start;
    enum sr_err err;

    if (!out || !r || !r->method || !r->ruri || !r->via_transport || !r->via_host ||
        !r->branch || !r->from_uri || !r->from_tag || !r->to_uri || !r->call_id)
        return SR_EINVAL;
    if (!sipev_is_token(slice_cstr(r->method)) || !safe(r->ruri) || strchr(r->ruri, ' ') ||
        !r->ruri[0] || !sipev_is_token(slice_cstr(r->via_transport)) || !safe(r->via_host) ||
        !safe(r->branch) || !safe(r->from_uri) || !safe(r->from_tag) || !safe(r->to_uri) ||
        !safe_opt(r->to_tag) || !safe(r->call_id) || !r->call_id[0] || !safe_opt(r->contact) ||
        !safe_opt(r->content_type) || !extras_ok(r->extra, r->n_extra) ||
        (r->body_len && !r->body && r->content_type))
        return SR_EINVAL;
    start = out->len;
    err = buf_printf(out,
                     "%s %s SIP/2.0\r\n"
                     "Via: SIP/2.0/%s %s;branch=%s%s\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: %s%s%s;tag=%s\r\n"
                     "To: %s%s%s%s%s\r\n"
                     "Call-ID: %s\r\n"
                     "CSeq: %u %s\r\n",
                     r->method, r->ruri, r->via_transport, r->via_host, r->branch,
                     r->via_alias ? ";alias" : "", lt(r->from_uri), r->from_uri, gt(r->from_uri),
                     r->from_tag, lt(r->to_uri), r->to_uri, gt(r->to_uri),
                     r->to_tag ? ";tag=" : "", r->to_tag ? r->to_tag : "", r->call_id,
                     (unsigned)r->cseq, r->method);
    if (!err && r->contact)
        err = buf_printf(out, "Contact: %s%s%s\r\n", lt(r->contact), r->contact, gt(r->contact));
    if (!err)
        err = put_tail(out, r->extra, r->n_extra, r->content_type, r->body, r->body_len);
    if (err)
        out->len = start;
    return err;
}

enum sr_err sipev_resp_print(struct buf *out, const struct sipev_msg *req, unsigned status,
                             const char *reason, const char *to_tag,
                             const struct sipev_extra_hdr *extra, size_t n_extra,
                             const char *content_type, const char *body, size_t body_len)
{
    const struct sipev_hdr *from, *to, *call_id, *cseq;
    struct slice tag;
    size_t start;
    enum sr_err err;

    if (!out || !req || req->status != 0 || status < 100 || status > 699 || !reason ||
        !safe(reason) || !safe_opt(to_tag) || !safe_opt(content_type) ||
        !extras_ok(extra, n_extra) || (body_len && !body && content_type))
        return SR_EINVAL;
    from = sipev_msg_hdr(req, SIPEV_HDR_FROM);
    to = sipev_msg_hdr(req, SIPEV_HDR_TO);
    call_id = sipev_msg_hdr(req, SIPEV_HDR_CALL_ID);
    cseq = sipev_msg_hdr(req, SIPEV_HDR_CSEQ);
    if (!from || !to || !call_id || !cseq || !sipev_msg_hdr(req, SIPEV_HDR_VIA))
        return SR_EINVAL;

    start = out->len;
    err = buf_printf(out, "SIP/2.0 %u %s\r\n", status, reason);
    /* RFC 3261 8.2.6.2: every Via, in order. */
    for (size_t i = 0; !err && i < req->n_hdr; i++)
        if (req->hdr[i].id == SIPEV_HDR_VIA)
            err = put_unfolded(out, "Via", req->hdr[i].value);
    if (!err)
        err = put_unfolded(out, "From", from->value);
    if (!err)
        err = put_unfolded(out, "To", to->value);
    /* The UAS adds a To tag unless the request had one; a 100 Trying is
     * not from the UAS core, so it carries none (RFC 3261 8.2.6.2). */
    if (!err && out->len >= 2 && status > 100 && to_tag && to_tag[0] &&
        !sipev_param(to->value, "tag", &tag)) {
        out->len -= 2;
        err = buf_printf(out, ";tag=%s\r\n", to_tag);
    }
    if (!err)
        err = put_unfolded(out, "Call-ID", call_id->value);
    if (!err)
        err = put_unfolded(out, "CSeq", cseq->value);
    if (!err)
        err = put_tail(out, extra, n_extra, content_type, body, body_len);
    if (err)
        out->len = start;
    return err;
}

void sipev_random_token(char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t rnd[32];
    size_t n = 0;

    if (!out || outlen == 0)
        return;
    while (n + 1 < outlen) {
        size_t chunk = (outlen - 1 - n + 1) / 2;
        if (chunk > sizeof(rnd))
            chunk = sizeof(rnd);
        /* Tags and branches must not be guessable (RFC 3261 19.3); a CSPRNG
         * that fails would also fail every key operation, so stop here. */
        if (sr_random(rnd, chunk) != SR_OK)
            abort();
        for (size_t i = 0; i < chunk * 2 && n + 1 < outlen; i++)
            out[n++] = hex[(rnd[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
    }
    out[n] = '\0';
    sr_wipe(rnd, sizeof(rnd));
}
