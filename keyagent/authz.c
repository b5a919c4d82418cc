/** @file authz.c  Which subscriber identities may receive keys.
 *
 * Identities come from verified certificate SANs (sipev_conn_peer), so the
 * list is matched exactly; only the parts of a URI that RFC 3261 19.1.4
 * compares case-insensitively (scheme, host) are folded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz.h"

/* "identity;aor=...;domain=...;call-id=..."; item.p points into list, so
 * an error's column is where in the list it is. */
static enum sr_err entry_parse(struct ka_authz *az, const char *list, struct slice item,
                               const char **why, size_t *col)
{
    struct slice id = slice_split(&item, ';');
    bool more = item.p > id.p + id.len; /* slice_split passed a ';' */
    struct ka_filter *f = &az->filter[az->n];

    *col = (size_t)(id.p - list);
    if (id.len == 0)
        return (*why = "empty identity in allow entry"), SR_EPARSE;
    if (!slice_copy_cstr(id, az->ids[az->n], sizeof(az->ids[0])))
        return (*why = "allow entry too long"), SR_ELIMIT;
    for (size_t i = 0; i < az->n; i++)
        if (ka_identity_eq(az->ids[i], az->ids[az->n]))
            return (*why = "duplicate identity in allow list (give each identity once, its "
                           "filters together)"),
                   SR_EPARSE;
    memset(f, 0, sizeof(*f));
    /* Every ';' promises a filter: "sip:li@x;" (a template whose target was
     * left empty) must not become an entry without filters, which would be
     * every call's keys. */
    while (more) {
        struct slice p = slice_split(&item, ';'), name;
        enum ka_filter_kind kind;
        enum sr_err err;
        bool has_eq;

        more = item.p > p.p + p.len;
        *col = (size_t)(p.p - list);
        if (p.len == 0 && !more)
            return (*col = (size_t)(p.p - list) - 1), /* at the ';' */
                   (*why = "trailing ';' in allow entry (an empty filter)"), SR_EPARSE;
        if (p.len == 0)
            return (*why = "empty filter in allow entry (';;')"), SR_EPARSE;
        name = slice_split(&p, '=');
        has_eq = p.p > name.p + name.len;
        if (slice_eq(name, SLICE_LIT("aor")))
            kind = KA_FILTER_AOR;
        else if (slice_eq(name, SLICE_LIT("domain")))
            kind = KA_FILTER_DOMAIN;
        else if (slice_eq(name, SLICE_LIT("call-id")))
            kind = KA_FILTER_CALL_ID;
        else
            return (*why = "unknown parameter in allow entry (expected aor=, domain=, call-id=)"),
                   SR_EPARSE;
        if (!has_eq)
            return (*why = "filter without '=' in allow entry"), SR_EPARSE;
        err = ka_filter_add(f, kind, p);
        if (err)
            return (*why = err == SR_ELIMIT ? "too many or too long filters in allow entry"
                                            : "empty filter value in allow entry"),
                   err;
    }
    return SR_OK;
}

static enum sr_err parse_list(struct ka_authz *az, const char *list, const char **why,
                              size_t *col)
{
    struct slice cur = slice_cstr(list);
    const char *dummy;
    size_t dcol;

    if (!why)
        why = &dummy;
    if (!col)
        col = &dcol;
    *col = 0;
    memset(az, 0, sizeof(*az));
    if (slice_is_empty(slice_trim(cur)))
        return SR_OK;
    for (;;) {
        long comma = slice_find(cur, ',');
        const char *item_at = cur.p;
        struct slice item = slice_trim(slice_split(&cur, ','));
        enum sr_err err;

        *col = (size_t)((item.len ? item.p : item_at) - list);
        if (item.len == 0)
            return (*why = comma < 0 ? "trailing ',' in allow list" : "empty entry in allow list"),
                   SR_EPARSE;
        for (size_t i = 0; i < item.len; i++)
            if ((unsigned char)item.p[i] <= 0x20 || (unsigned char)item.p[i] >= 0x7f)
                return (*col = (size_t)(item.p + i - list)),
                       (*why = "space or control character in allow entry"), SR_EPARSE;
        if (az->n == KA_AUTHZ_MAX)
            return (*why = "too many allow entries"), SR_ELIMIT;
        err = entry_parse(az, list, item, why, col);
        if (err)
            return err;
        az->n++;
        if (comma < 0)
            break;
    }
    return SR_OK;
}

enum sr_err ka_authz_parse_at(struct ka_authz *az, const char *list, const char **why,
                              size_t *col)
{
    enum sr_err err = parse_list(az, list, why, col);

    if (err && az)
        memset(az, 0, sizeof(*az)); /* never half a list */
    return err;
}

enum sr_err ka_authz_parse(struct ka_authz *az, const char *list, const char **why)
{
    return ka_authz_parse_at(az, list, why, NULL);
}

bool ka_identity_eq(const char *a, const char *b)
{
    return sipev_identity_eq(a, b);
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

static struct slice trim_ws(struct slice s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t'))
        slice_skip(&s, 1);
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' || s.p[s.len - 1] == '\r' ||
                     s.p[s.len - 1] == '\n'))
        s.len--;
    return s;
}

/* The file is read again only to point at an error: conf.c (inih) keeps no
 * positions.  Same rules as inih: "[section]", "key = value" or "key: value". */
bool ka_conf_locate(const char *path, const char *section, const char *key, const char *value,
                    unsigned *line, unsigned *col)
{
    FILE *f;
    char *ln = NULL;
    size_t cap = 0;
    unsigned no = 0;
    bool in_section = false, found = false;

    if (!path || !section || !key || !value || !line || !col || !(f = fopen(path, "re")))
        return false;
    while (getline(&ln, &cap, f) > 0) {
        struct slice l = trim_ws(slice_cstr(ln)), k;
        long eq;

        no++;
        if (l.len && l.p[0] == '[') {
            long close = slice_find(l, ']');
            in_section = close > 0 && slice_eq(slice_of(l.p + 1, (size_t)close - 1),
                                               slice_cstr(section));
            continue;
        }
        if (!in_section || l.len == 0 || l.p[0] == ';' || l.p[0] == '#')
            continue;
        eq = slice_find(l, '=');
        if (eq < 0)
            eq = slice_find(l, ':');
        if (eq < 0)
            continue;
        k = trim_ws(slice_of(l.p, (size_t)eq));
        if (!slice_eq(k, slice_cstr(key)))
            continue;
        struct slice v = trim_ws(slice_of(l.p + eq + 1, l.len - (size_t)eq - 1));
        /* The last assignment wins, as in conf_load. */
        found = v.len >= strlen(value) && memcmp(v.p, value, strlen(value)) == 0;
        if (found) {
            *line = no;
            *col = (unsigned)(v.p - ln) + 1;
        }
    }
    free(ln);
    fclose(f);
    return found;
}
