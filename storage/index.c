/** @file index.c  The recording index: one contract, two backends.
 *
 * The index spec picks the backend: a PostgreSQL connection string (a
 * postgresql:// or postgres:// URI, or a libpq key=value conninfo) selects
 * index_pg.c, anything else is the path of an SQLite file (index_sqlite.c).
 * Arguments are checked here once, so each backend only does its job.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "index_priv.h"

bool stor_index_is_file(const char *spec)
{
    const char *p = spec;

    if (!spec)
        return false;
    if (!strncmp(spec, "postgresql://", 13) || !strncmp(spec, "postgres://", 11))
        return false;
    /* key=value conninfo: a keyword (letters, '_') then '='.  A path
     * starts with '/' or '.', or has a '/' or '.' before any '='. */
    while (*p == ' ')
        p++;
    if (!isalpha((unsigned char)*p))
        return true;
    while (isalpha((unsigned char)*p) || *p == '_')
        p++;
    while (*p == ' ')
        p++;
    return *p != '=';
}

const char *stor_index_describe(const char *spec, char *buf, size_t cap)
{
    if (!buf || !cap)
        return "";
    if (!spec)
        snprintf(buf, cap, "(none)");
    else if (stor_index_is_file(spec))
        snprintf(buf, cap, "%s", spec);
    else
        stor_index_pg_describe(spec, buf, cap);
    return buf;
}

enum sr_err stor_index_open(struct stor_index **out, const char *spec)
{
    return stor_index_open_mode(out, spec, STOR_INDEX_CREATE);
}

enum sr_err stor_index_open_mode(struct stor_index **out, const char *spec,
                                 enum stor_index_mode mode)
{
    if (!out || !spec || !spec[0])
        return SR_EINVAL;
    *out = NULL;
    return stor_index_is_file(spec) ? stor_index_sqlite_open(out, spec, mode)
                                    : stor_index_pg_open(out, spec, mode);
}

void stor_index_close(struct stor_index *ix)
{
    if (ix)
        ix->ops->close(ix);
}

enum sr_err stor_index_check_write(struct stor_index *ix)
{
    return ix ? ix->ops->check_write(ix) : SR_EINVAL;
}

void stor_index_set_busy_ms(struct stor_index *ix, unsigned ms)
{
    if (ix)
        ix->ops->set_busy_ms(ix, ms > 600000 ? 600000 : ms);
}

enum sr_err stor_index_put(struct stor_index *ix, const struct stor_record *rec)
{
    if (!ix || !rec || !rec->id[0])
        return SR_EINVAL;
    return ix->ops->put(ix, rec);
}

enum sr_err stor_index_get(struct stor_index *ix, const char *id, struct stor_record *rec)
{
    if (!ix || !id || !rec)
        return SR_EINVAL;
    return ix->ops->get(ix, id, rec);
}

enum sr_err stor_index_search(struct stor_index *ix, const struct stor_query *q,
                              stor_record_fn *fn, void *arg)
{
    struct stor_query clamped;
    char norm[STOR_PARTY_NORM_MAX];

    if (!ix || !q || !fn)
        return SR_EINVAL;
    clamped = *q;
    if (q->party && q->party_match != STOR_PARTY_EXACT) {
        if (!stor_party_norm(q->party, norm, sizeof(norm)))
            return SR_EINVAL;
        clamped.party = norm;
    }
    if (!clamped.limit)
        clamped.limit = STOR_INDEX_DEFAULT_LIMIT;
    if (clamped.limit > STOR_INDEX_MAX_LIMIT)
        clamped.limit = STOR_INDEX_MAX_LIMIT;
    return ix->ops->search(ix, &clamped, fn, arg);
}

enum sr_err stor_index_set_hold(struct stor_index *ix, const char *id, bool hold)
{
    static const struct stor_hold unnamed; /* the CLI's hold: no case, no reason */

    return stor_index_hold(ix, id, hold ? &unnamed : NULL);
}

/* A conditional update changed nothing: no row, or its state refused. */
static enum sr_err refused_or_missing(struct stor_index *ix, const char *id)
{
    struct stor_record *rec = malloc(sizeof(*rec));
    enum sr_err err;

    if (!rec)
        return SR_ENOMEM;
    err = ix->ops->get(ix, id, rec);
    free(rec);
    return err == SR_OK ? SR_ESTATE : err;
}

enum sr_err stor_index_hold(struct stor_index *ix, const char *id, const struct stor_hold *h)
{
    enum sr_err err;

    if (!ix || !id)
        return SR_EINVAL;
    err = ix->ops->hold(ix, id, h);
    return err == SR_ENOTFOUND ? refused_or_missing(ix, id) : err;
}

enum sr_err stor_index_claim_delete(struct stor_index *ix, const char *id)
{
    enum sr_err err;

    if (!ix || !id)
        return SR_EINVAL;
    err = ix->ops->claim(ix, id);
    return err == SR_ENOTFOUND ? refused_or_missing(ix, id) : err;
}

bool stor_party_norm(const char *party, char *out, size_t cap)
{
    size_t n = 0;

    if (strncasecmp(party, "sips:", 5) == 0)
        party += 5;
    else if (strncasecmp(party, "sip:", 4) == 0 || strncasecmp(party, "tel:", 4) == 0)
        party += 4;
    for (; *party; party++) {
        char c = *party;
        if (n + 1 >= cap)
            return false;
        out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return n > 0;
}

enum sr_err stor_index_delete(struct stor_index *ix, const char *id)
{
    if (!ix || !id)
        return SR_EINVAL;
    return ix->ops->del(ix, id);
}

enum sr_err stor_index_set_location(struct stor_index *ix, const char *id, const char *location)
{
    if (!ix || !id || !location)
        return SR_EINVAL;
    if (strlen(location) >= STOR_LOCATION_MAX)
        return SR_ELIMIT;
    return ix->ops->set_location(ix, id, location);
}

enum sr_err stor_index_stats(struct stor_index *ix, struct stor_index_stats *st)
{
    if (!ix || !st)
        return SR_EINVAL;
    memset(st, 0, sizeof(*st));
    return ix->ops->stats(ix, st);
}

enum stor_state stor_index_state_from_int(long long v)
{
    switch (v) {
    case STOR_STATE_RECORDING: return STOR_STATE_RECORDING;
    case STOR_STATE_COMPLETE: return STOR_STATE_COMPLETE;
    case STOR_STATE_RECOVERED: return STOR_STATE_RECOVERED;
    case STOR_STATE_SHUTDOWN: return STOR_STATE_SHUTDOWN;
    case STOR_STATE_DELETING: return STOR_STATE_DELETING;
    default: return STOR_STATE_DAMAGED;
    }
}

bool stor_copy_of(const struct stor_record *a, const struct stor_record *b)
{
    /* A row still recording has no end yet: it spans to now.  An end
     * before the start (a copy recovered from a crash before its first
     * data, ended at its last flush) spans the start alone. */
    uint64_t a_end = a->end_wall_us ? a->end_wall_us : UINT64_MAX;
    uint64_t b_end = b->end_wall_us ? b->end_wall_us : UINT64_MAX;

    if (a_end < a->call.start_wall_us)
        a_end = a->call.start_wall_us;
    if (b_end < b->call.start_wall_us)
        b_end = b->call.start_wall_us;

    return a->recorder[0] && b->recorder[0] && strcmp(a->recorder, b->recorder) != 0 &&
           strcmp(a->call.call_id, b->call.call_id) == 0 &&
           a->call.start_wall_us <= b_end && b->call.start_wall_us <= a_end;
}

/* Higher is better to serve. */
static int copy_rank(enum stor_state s)
{
    switch (s) {
    case STOR_STATE_COMPLETE: return 4;
    case STOR_STATE_SHUTDOWN: return 3;
    case STOR_STATE_RECOVERED: return 2;
    case STOR_STATE_RECORDING: return 1;
    default: return 0;
    }
}

bool stor_copy_better(const struct stor_record *a, const struct stor_record *b)
{
    if (copy_rank(a->state) != copy_rank(b->state))
        return copy_rank(b->state) > copy_rank(a->state);
    if (a->packets != b->packets)
        return b->packets > a->packets;
    return b->bytes > a->bytes;
}

const char *stor_state_name(enum stor_state s)
{
    switch (s) {
    case STOR_STATE_RECORDING: return "recording";
    case STOR_STATE_COMPLETE: return "complete";
    case STOR_STATE_DAMAGED: return "damaged";
    case STOR_STATE_RECOVERED: return "recovered";
    case STOR_STATE_SHUTDOWN: return "shutdown";
    case STOR_STATE_DELETING: return "deleting";
    case STOR_STATE_COUNT: break;
    }
    return "unknown";
}
