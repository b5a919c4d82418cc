/** @file authz.c  Which subscriber identities may receive keys.
 *
 * Identities come from verified certificate SANs (sipev_conn_peer), so the
 * list is matched exactly; only the parts of a URI that RFC 3261 19.1.4
 * compares case-insensitively (scheme, host) are folded.
 */
#include <string.h>
#include <strings.h>

#include "ka_priv.h"

/* "identity;aor=...;domain=...;call-id=..." */
static enum sr_err entry_parse(struct ka_authz *az, struct slice item, const char **why)
{
    struct slice id = slice_split(&item, ';');
    struct ka_filter *f = &az->filter[az->n];

    if (id.len == 0)
        return (*why = "empty identity in allow entry"), SR_EPARSE;
    if (!slice_copy_cstr(id, az->ids[az->n], sizeof(az->ids[0])))
        return (*why = "allow entry too long"), SR_ELIMIT;
    memset(f, 0, sizeof(*f));
    while (item.len) {
        struct slice p = slice_split(&item, ';'), name = slice_split(&p, '=');
        enum ka_filter_kind kind;
        enum sr_err err;

        if (slice_eq(name, SLICE_LIT("aor")))
            kind = KA_FILTER_AOR;
        else if (slice_eq(name, SLICE_LIT("domain")))
            kind = KA_FILTER_DOMAIN;
        else if (slice_eq(name, SLICE_LIT("call-id")))
            kind = KA_FILTER_CALL_ID;
        else
            return (*why = "unknown filter in allow entry (expected aor=, domain=, call-id=)"),
                   SR_EPARSE;
        err = ka_filter_add(f, kind, p);
        if (err)
            return (*why = err == SR_ELIMIT ? "too many or too long filters in allow entry"
                                            : "empty filter value in allow entry"),
                   err;
    }
    return SR_OK;
}

enum sr_err ka_authz_parse(struct ka_authz *az, const char *list, const char **why)
{
    struct slice cur = slice_cstr(list);
    const char *dummy;

    if (!why)
        why = &dummy;
    memset(az, 0, sizeof(*az));
    if (slice_is_empty(slice_trim(cur)))
        return SR_OK;
    for (;;) {
        long comma = slice_find(cur, ',');
        struct slice item = slice_trim(slice_split(&cur, ','));
        enum sr_err err;

        if (item.len == 0)
            return (*why = "empty entry in allow list"), SR_EPARSE;
        for (size_t i = 0; i < item.len; i++)
            if ((unsigned char)item.p[i] <= 0x20 || (unsigned char)item.p[i] >= 0x7f)
                return (*why = "space or control character in allow entry"), SR_EPARSE;
        if (az->n == KA_AUTHZ_MAX)
            return (*why = "too many allow entries"), SR_ELIMIT;
        err = entry_parse(az, item, why);
        if (err)
            return err;
        az->n++;
        if (comma < 0)
            break;
    }
    return SR_OK;
}

/* Split "sip:user@host;params" into scheme, user part and the rest (host and
 * beyond).  A DNS-name identity is all "rest". */
static void uri_parts(const char *s, struct slice *scheme, struct slice *user, struct slice *rest)
{
    const char *colon = strchr(s, ':');
    const char *at;

    *scheme = SLICE_NULL;
    *user = SLICE_NULL;
    if (colon && (strncasecmp(s, "sip:", 4) == 0 || strncasecmp(s, "sips:", 5) == 0)) {
        *scheme = slice_of(s, (size_t)(colon - s));
        s = colon + 1;
        at = strchr(s, '@');
        if (at) {
            *user = slice_of(s, (size_t)(at - s));
            s = at + 1;
        }
    }
    *rest = slice_cstr(s);
}

bool ka_identity_eq(const char *a, const char *b)
{
    struct slice sa, ua, ra, sb, ub, rb;

    uri_parts(a, &sa, &ua, &ra);
    uri_parts(b, &sb, &ub, &rb);
    return slice_eq_nocase(sa, sb) && slice_eq(ua, ub) && slice_eq_nocase(ra, rb);
}

const struct ka_filter *ka_authz_lookup(const struct ka_authz *az, const char *identity)
{
    if (!az || !identity || !identity[0])
        return NULL;
    for (size_t i = 0; i < az->n; i++)
        if (ka_identity_eq(az->ids[i], identity))
            return &az->filter[i];
    return NULL;
}

bool ka_authz_allows(const struct ka_authz *az, const char *identity)
{
    return ka_authz_lookup(az, identity) != NULL;
}
