/** @file index_priv.h  What an index backend provides (SQLite, PostgreSQL).
 *
 * stor_index_* in index.c checks arguments, then calls the backend through
 * this table; a backend's handle embeds struct stor_index first.  Callers
 * never see which backend they have (stor.h is the whole contract).
 */
#ifndef SR_INDEX_PRIV_H
#define SR_INDEX_PRIV_H

#include "stor.h"

/* A search returns at most this many rows whatever the caller asks. */
enum { STOR_INDEX_MAX_LIMIT = 10000, STOR_INDEX_DEFAULT_LIMIT = 100 };

struct stor_index_ops {
    void (*close)(struct stor_index *ix);
    enum sr_err (*check_write)(struct stor_index *ix);
    void (*set_busy_ms)(struct stor_index *ix, unsigned ms);
    enum sr_err (*put)(struct stor_index *ix, const struct stor_record *rec);
    enum sr_err (*get)(struct stor_index *ix, const char *id, struct stor_record *rec);
    /* q->limit is already clamped to [1, STOR_INDEX_MAX_LIMIT].  With
     * q->party_match PREFIX or SUBSTRING, q->party is already normalised by
     * stor_party_norm (scheme dropped, lower-cased, not empty): the backend
     * matches it against its AORs normalised the same way. */
    enum sr_err (*search)(struct stor_index *ix, const struct stor_query *q, stor_record_fn *fn,
                          void *arg);
    /* h NULL clears the hold and its record. */
    /* Both: SR_ENOTFOUND when no row changed (index.c tells a missing row
     * from one whose state or hold refused the change). */
    enum sr_err (*hold)(struct stor_index *ix, const char *id, const struct stor_hold *h);
    enum sr_err (*claim)(struct stor_index *ix, const char *id);
    enum sr_err (*del)(struct stor_index *ix, const char *id);
    enum sr_err (*set_location)(struct stor_index *ix, const char *id, const char *location);
    enum sr_err (*stats)(struct stor_index *ix, struct stor_index_stats *st);
};

struct stor_index {
    const struct stor_index_ops *ops;
};

/** One step of a schema: applied in a transaction when the stored version
 *  is below .version; the tables are versioned in schema_version. */
struct stor_index_migration {
    int version;
    const char *sql;
};

enum { STOR_PARTY_NORM_MAX = STOR_STR };
/** A party for prefix/substring search: without a leading sip:/sips:/tel:
 *  scheme (any case), ASCII lower-cased.  false if nothing is left or it
 *  does not fit cap.  Backends normalise their AORs the same way. */
bool stor_party_norm(const char *party, char *out, size_t cap);

/* SQL both backends speak.  The upsert leaves hold alone: the recorder's
 * end-of-call update must never clear a hold an administrator set during
 * the call; and a row written without a hash (recovery, a retry) keeps the
 * seal's, one without a recorder identity (recovery from the header) the
 * recorder's. */
#define STOR_INDEX_BASE_COLS                                                                  \
    "id, call_id, local_aor, remote_aor, local_tag, remote_tag, source, start_us, end_us, " \
    "state, bytes, packets, n_streams, path, sha256"
/* recorder (schema 5) is the 16th put parameter and the 21st selected
 * column: the columns before it keep their numbers. */
#define STOR_INDEX_PUT_COLS STOR_INDEX_BASE_COLS ", recorder"
/* location (schema 7) is the 22nd selected column; put never writes it
 * (stor_index_set_location does), so a rewritten row keeps its upload. */
#define STOR_INDEX_COLS                                                                       \
    STOR_INDEX_BASE_COLS ", hold, hold_case, hold_reason, hold_by, hold_us, recorder, location"
#define STOR_INDEX_UPSERT_SET                                                                  \
    " ON CONFLICT (id) DO UPDATE SET call_id=excluded.call_id, local_aor=excluded.local_aor," \
    " remote_aor=excluded.remote_aor, local_tag=excluded.local_tag,"                          \
    " remote_tag=excluded.remote_tag, source=excluded.source, start_us=excluded.start_us,"    \
    " end_us=excluded.end_us, state=excluded.state, bytes=excluded.bytes,"                    \
    " packets=excluded.packets, n_streams=excluded.n_streams, path=excluded.path,"            \
    " sha256=CASE WHEN excluded.sha256 = '' THEN recordings.sha256 ELSE excluded.sha256 END,"  \
    " recorder=CASE WHEN excluded.recorder = '' THEN recordings.recorder"                     \
    " ELSE excluded.recorder END"

/* The conditions of a claim and of setting a hold, in both dialects'
 * common SQL (state numbers are enum stor_state's). */
#define STOR_INDEX_CLAIM_WHERE " AND NOT hold AND state <> 0"
#define STOR_INDEX_DELETING "5"
_Static_assert(STOR_STATE_DELETING == 5 && STOR_STATE_RECORDING == 0, "the SQL's state numbers");

/** Clamp a stored integer state to enum stor_state (unknown: damaged). */
enum stor_state stor_index_state_from_int(long long v);

enum sr_err stor_index_sqlite_open(struct stor_index **out, const char *path,
                                   enum stor_index_mode mode);
enum sr_err stor_index_pg_open(struct stor_index **out, const char *conninfo,
                               enum stor_index_mode mode);
/** conninfo with any password (URI or key=value) left out, for logs. */
void stor_index_pg_describe(const char *conninfo, char *buf, size_t cap);

#endif
