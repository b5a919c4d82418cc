/** @file filter.c  Subscriber filters: which calls a subscriber may receive.
 *
 * A lawful-intercept subscriber is allowed only its targets' calls.  Filters
 * come from two places, and both must match (ka_callstore_fill): the allow
 * list entry (the operator's decision) and, optionally, the SUBSCRIBE body
 * (the subscriber's own narrowing).  So a body narrows and never widens.
 */
#include <string.h>

#include "authz.h"

enum sr_err ka_filter_add(struct ka_filter *f, enum ka_filter_kind kind, struct slice value)
{
    if (!f || kind < KA_FILTER_AOR || kind > KA_FILTER_CALL_ID)
        return SR_EINVAL;
    if (value.len == 0)
        return SR_EPARSE;
    for (size_t i = 0; i < value.len; i++)
        if ((unsigned char)value.p[i] <= 0x20 || (unsigned char)value.p[i] >= 0x7f)
            return SR_EPARSE;
    if (value.len >= SIPEV_STR || f->n == KA_FILTER_MAX_ITEMS ||
        value.len + 1 > sizeof(f->pool) - f->used)
        return SR_ELIMIT;
    memcpy(f->pool + f->used, value.p, value.len);
    f->pool[f->used + value.len] = '\0';
    f->item[f->n].kind = kind;
    f->item[f->n].off = (uint16_t)f->used;
    f->item[f->n].len = (uint16_t)value.len;
    f->used += value.len + 1;
    f->n++;
    return SR_OK;
}

enum sr_err ka_filter_parse_body(struct ka_filter *f, struct slice body, const char **why)
{
    const char *dummy;
    enum sr_err err;
    size_t lines = 0;

    if (!why)
        why = &dummy;
    if (!f)
        return SR_EINVAL;
    memset(f, 0, sizeof(*f));
    if (body.len > KA_FILTER_BODY_MAX) {
        *why = "filter body too large";
        return SR_ELIMIT;
    }
    while (body.len) {
        struct slice line = slice_split(&body, '\n'), word, value;

        if (++lines > KA_FILTER_BODY_MAX) /* cannot happen: each line takes a byte */
            break;
        if (line.len && line.p[line.len - 1] == '\r')
            line.len--;
        if (line.len == 0 || line.p[0] == '#')
            continue;
        word = slice_split(&line, ' ');
        value = line;
        if (slice_eq(word, SLICE_LIT("aor")))
            err = ka_filter_add(f, KA_FILTER_AOR, value);
        else if (slice_eq(word, SLICE_LIT("domain")))
            err = ka_filter_add(f, KA_FILTER_DOMAIN, value);
        else if (slice_eq(word, SLICE_LIT("call-id")))
            err = ka_filter_add(f, KA_FILTER_CALL_ID, value);
        else {
            *why = "unknown filter keyword (expected aor, domain or call-id)";
            err = SR_EPARSE;
            goto fail;
        }
        if (err) {
            *why = err == SR_ELIMIT ? "too many or too long filter items"
                                    : "filter value empty or with spaces or control bytes";
            goto fail;
        }
    }
    return SR_OK;
fail:
    memset(f, 0, sizeof(*f));
    return err;
}

/* The host of a SIP AOR: after '@' (or after the scheme), up to ';', '>', ':'
 * (port) or the end. */
static struct slice aor_host(const char *aor)
{
    struct slice s = slice_cstr(aor);
    long at = slice_find(s, '@');

    if (at >= 0) {
        slice_skip(&s, (size_t)at + 1);
    } else {
        long colon = slice_find(s, ':');
        if (colon >= 0)
            slice_skip(&s, (size_t)colon + 1);
    }
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == ';' || s.p[i] == '>' || s.p[i] == ':' || s.p[i] == '?')
            return slice_of(s.p, i);
    return s;
}

bool ka_filter_match(const struct ka_filter *f, const struct sipev_dialog *d)
{
    if (!f || f->n == 0)
        return true;
    for (size_t i = 0; i < f->n; i++) {
        const char *v = f->pool + f->item[i].off;
        switch (f->item[i].kind) {
        case KA_FILTER_AOR:
            if ((d->local_aor[0] && ka_identity_eq(v, d->local_aor)) ||
                (d->remote_aor[0] && ka_identity_eq(v, d->remote_aor)))
                return true;
            break;
        case KA_FILTER_DOMAIN:
            if ((d->local_aor[0] && slice_eq_nocase(aor_host(d->local_aor), slice_cstr(v))) ||
                (d->remote_aor[0] && slice_eq_nocase(aor_host(d->remote_aor), slice_cstr(v))))
                return true;
            break;
        case KA_FILTER_CALL_ID:
            if (strcmp(v, d->call_id) == 0)
                return true;
            break;
        }
    }
    return false;
}
