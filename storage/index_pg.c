/** @file index_pg.c  The recording index on PostgreSQL (libpq).
 *
 * For several recorders and APIs sharing one index.  Every write is one
 * statement, so the server's row locks make it atomic: put is an upsert
 * on the primary key (never a duplicate row, never a lost hold), set_hold
 * and delete touch one row by id.  Schema set-up and migrations run in one
 * transaction under an advisory lock, so processes starting together
 * migrate once.  Statements are prepared once per connection; a lost
 * connection is reset and the statement retried once, then the caller
 * sees SR_EAGAIN (the recorder queues the row and retries).
 *
 * Parameters travel as text and are cast in SQL; nothing from a caller is
 * pasted into SQL.  The conninfo is never logged (it may hold a password):
 * stor_index_pg_describe gives a loggable form.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "index_priv.h"
#include "log.h"
#include "util.h"

enum { BUSY_MS = 5000, NPARAM_MAX = 15 };

/* The lock migrations take: any constant the cluster's other users do not
 * share ("srtp" in ASCII). */
#define MIGRATE_LOCK "1936880752"

struct pg_index {
    struct stor_index base; /* first: the handle callers hold */
    PGconn *conn;
    unsigned busy_ms;
    bool read_only;
};

/* The backend started at the schema SQLite reached in version 3, so its
 * first step is version 3; later steps keep the two numbered alike.
 * Ids sort bytewise (COLLATE "C") as in SQLite, whatever the cluster's
 * locale: the (start_us, id) cursor depends on it.  The party indexes
 * carry start_us so a party's day is one range scan per side. */
static const struct stor_index_migration migrations[] = {
    { 3, "CREATE TABLE recordings ("
         " id text COLLATE \"C\" PRIMARY KEY, call_id text NOT NULL, local_aor text NOT NULL,"
         " remote_aor text NOT NULL, local_tag text NOT NULL, remote_tag text NOT NULL,"
         " source text NOT NULL, start_us bigint NOT NULL, end_us bigint NOT NULL,"
         " state integer NOT NULL, bytes bigint NOT NULL, packets bigint NOT NULL,"
         " n_streams integer NOT NULL, path text NOT NULL,"
         " hold boolean NOT NULL DEFAULT false, sha256 text NOT NULL DEFAULT '');"
         "CREATE INDEX rec_start ON recordings(start_us, id);"
         "CREATE INDEX rec_call ON recordings(call_id);"
         "CREATE INDEX rec_local ON recordings(local_aor, start_us);"
         "CREATE INDEX rec_remote ON recordings(remote_aor, start_us);" },
    /* The hold's record, and the parties normalised as stor_party_norm does
     * (scheme dropped, ASCII lower-cased: lower() under "C") for prefix and
     * substring search: B-tree for prefixes, pg_trgm GIN for substrings
     * (pg_trgm is a trusted extension: the database owner may create it). */
    { 4, "ALTER TABLE recordings ADD COLUMN hold_case text NOT NULL DEFAULT '',"
         " ADD COLUMN hold_reason text NOT NULL DEFAULT '',"
         " ADD COLUMN hold_by text NOT NULL DEFAULT '',"
         " ADD COLUMN hold_us bigint NOT NULL DEFAULT 0,"
         " ADD COLUMN local_norm text COLLATE \"C\" GENERATED ALWAYS AS"
         "  (lower(regexp_replace(local_aor, '^(sips?|tel):', '', 'i') COLLATE \"C\")) STORED,"
         " ADD COLUMN remote_norm text COLLATE \"C\" GENERATED ALWAYS AS"
         "  (lower(regexp_replace(remote_aor, '^(sips?|tel):', '', 'i') COLLATE \"C\")) STORED;"
         "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
         "CREATE INDEX rec_local_norm ON recordings(local_norm);"
         "CREATE INDEX rec_remote_norm ON recordings(remote_norm);"
         "CREATE INDEX rec_local_trgm ON recordings USING gin (local_norm gin_trgm_ops);"
         "CREATE INDEX rec_remote_trgm ON recordings USING gin (remote_norm gin_trgm_ops);" },
    /* Dual recording: which recorder wrote the row (docs/storage.md). */
    { 5, "ALTER TABLE recordings ADD COLUMN recorder text NOT NULL DEFAULT '';" },
    /* Every party of a call (index_sqlite.c, schema 6): one row per
     * (recording, AOR), the row's AORs added by a trigger on every insert
     * and AOR change and never taken away by one, the put's participants
     * added by put_party, deleted with the recording.  Searches go through
     * its indexes; the row's own norm columns lose theirs. */
    { 6, "CREATE TABLE parties (pid bigserial PRIMARY KEY,"
         " rec_id text COLLATE \"C\" NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,"
         " aor text NOT NULL,"
         " norm text COLLATE \"C\" GENERATED ALWAYS AS"
         "  (lower(regexp_replace(aor, '^(sips?|tel):', '', 'i') COLLATE \"C\")) STORED,"
         " name text NOT NULL DEFAULT '', role text NOT NULL DEFAULT '',"
         " UNIQUE (rec_id, aor));"
         "CREATE INDEX parties_aor ON parties(aor);"
         "CREATE INDEX parties_norm ON parties(norm);"
         "CREATE INDEX parties_trgm ON parties USING gin (norm gin_trgm_ops);"
         "CREATE OR REPLACE FUNCTION srtprec_row_parties() RETURNS trigger LANGUAGE plpgsql AS $f$"
         " BEGIN INSERT INTO parties(rec_id, aor, role)"
         "  SELECT NEW.id, a, r FROM (VALUES (NEW.local_aor, 'local'), (NEW.remote_aor, 'remote'))"
         "  AS v(a, r) WHERE a <> '' ON CONFLICT DO NOTHING; RETURN NULL; END $f$;"
         "CREATE TRIGGER row_parties AFTER INSERT OR UPDATE OF local_aor, remote_aor"
         " ON recordings FOR EACH ROW EXECUTE FUNCTION srtprec_row_parties();"
         "INSERT INTO parties(rec_id, aor, role)"
         " SELECT id, local_aor, 'local' FROM recordings WHERE local_aor <> '' UNION ALL"
         " SELECT id, remote_aor, 'remote' FROM recordings WHERE remote_aor <> ''"
         " ON CONFLICT DO NOTHING;"
         "DROP INDEX rec_local_norm, rec_remote_norm, rec_local_trgm, rec_remote_trgm;" },
    /* Where the archive is kept in the object store (docs/scale.md). */
    { 7, "ALTER TABLE recordings ADD COLUMN location text NOT NULL DEFAULT '';" },
    /* Parties carry their recording's start (index_sqlite.c, schema 8): an
     * exact party's day is one range of (aor, start_us). */
    { 8, "ALTER TABLE parties ADD COLUMN start_us bigint NOT NULL DEFAULT 0;"
         "UPDATE parties SET start_us = r.start_us FROM recordings r WHERE r.id = parties.rec_id;"
         "DROP INDEX parties_aor;"
         "CREATE INDEX parties_aor_start ON parties(aor, start_us);"
         "CREATE OR REPLACE FUNCTION srtprec_row_parties() RETURNS trigger LANGUAGE plpgsql AS $f$"
         " BEGIN INSERT INTO parties(rec_id, aor, role, start_us)"
         "  SELECT NEW.id, a, r, NEW.start_us FROM (VALUES (NEW.local_aor, 'local'),"
         "  (NEW.remote_aor, 'remote')) AS v(a, r) WHERE a <> '' ON CONFLICT DO NOTHING;"
         " UPDATE parties SET start_us = NEW.start_us WHERE rec_id = NEW.id"
         "  AND start_us <> NEW.start_us; RETURN NULL; END $f$;"
         "DROP TRIGGER row_parties ON recordings;"
         "CREATE TRIGGER row_parties AFTER INSERT OR UPDATE OF local_aor, remote_aor, start_us"
         " ON recordings FOR EACH ROW EXECUTE FUNCTION srtprec_row_parties();" },
};
enum { SCHEMA_VERSION = 8 };

static const char put_sql[] =
    "INSERT INTO recordings (" STOR_INDEX_PUT_COLS ")"
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8::bigint,$9::bigint,"
    "$10::integer,$11::bigint,$12::bigint,$13::integer,$14,$15,$16)"
    STOR_INDEX_UPSERT_SET;
static const char hold_sql[] = "UPDATE recordings SET hold = $2::boolean, hold_case = $3,"
                               " hold_reason = $4, hold_by = $5, hold_us = $6::bigint"
                               " WHERE id = $1"
                               " AND (NOT $2::boolean OR state <> " STOR_INDEX_DELETING ")";
static const char claim_sql[] = "UPDATE recordings SET state = " STOR_INDEX_DELETING
                                " WHERE id = $1" STOR_INDEX_CLAIM_WHERE;
static const char del_sql[] = "DELETE FROM recordings WHERE id = $1";
static const char loc_sql[] = "UPDATE recordings SET location = $2 WHERE id = $1";
static const char get_sql[] = "SELECT " STOR_INDEX_COLS " FROM recordings WHERE id = $1";
/* The session plans each search for its own parameters (plan_cache_mode,
 * set at connect), so the unused filters fold away.  A party filter is a
 * top-level IN of its own statement, not an "$3 IS NULL OR id IN (...)":
 * PostgreSQL pulls a sublink up into a semi-join before it folds constants,
 * so inside an OR it stayed a hashed filter over the day's rows (6,667 rows
 * read for 13 on 200,000: 1.8 ms p50 instead of 0.1).  The other party
 * parameter stays in each statement (as "IS NULL OR") so every statement
 * takes the same 8 parameters. */
#define PARTY_EXACT                                                                    \
    "id IN (SELECT rec_id FROM parties WHERE aor = $3::text"                           \
    "  AND ($1::bigint = 0 OR start_us >= $1::bigint)"                                 \
    "  AND ($2::bigint = 0 OR start_us <= $2::bigint))"
#define PARTY_LIKE "id IN (SELECT rec_id FROM parties WHERE norm LIKE $8::text)"
#define SEARCH_WHERE(exact, like)                                                      \
    " FROM recordings WHERE ($1::bigint = 0 OR start_us >= $1::bigint)"                \
    " AND ($2::bigint = 0 OR start_us <= $2::bigint)"                                  \
    " AND " exact " AND " like                                                         \
    " AND ($4::text IS NULL OR call_id = $4::text)"                                    \
    " AND ($7::integer IS NULL OR state = $7::integer)"                                \
    " AND ($5::text IS NULL OR (start_us, id) "
#define ANY_EXACT "($3::text IS NULL OR " PARTY_EXACT ")"
#define ANY_LIKE "($8::text IS NULL OR " PARTY_LIKE ")"
#define SEARCH_SQL(exact, like)                                                        \
    "SELECT " STOR_INDEX_COLS SEARCH_WHERE(exact, like)                                \
    "> (SELECT start_us, id FROM recordings WHERE id = $5::text))"                     \
    " ORDER BY start_us, id LIMIT $6::bigint"
#define SEARCH_DESC_SQL(exact, like)                                                   \
    "SELECT " STOR_INDEX_COLS SEARCH_WHERE(exact, like)                                \
    "< (SELECT start_us, id FROM recordings WHERE id = $5::text))"                     \
    " ORDER BY start_us DESC, id DESC LIMIT $6::bigint"
static const char search_sql[] = SEARCH_SQL(ANY_EXACT, ANY_LIKE);
static const char search_desc_sql[] = SEARCH_DESC_SQL(ANY_EXACT, ANY_LIKE);
static const char search_aor_sql[] = SEARCH_SQL(PARTY_EXACT, ANY_LIKE);
static const char search_aor_desc_sql[] = SEARCH_DESC_SQL(PARTY_EXACT, ANY_LIKE);
static const char search_like_sql[] = SEARCH_SQL(ANY_EXACT, PARTY_LIKE);
static const char search_like_desc_sql[] = SEARCH_DESC_SQL(ANY_EXACT, PARTY_LIKE);
/* A party the put names: added once; a later name replaces the name. */
static const char party_put_sql[] =
    "INSERT INTO parties(rec_id, aor, name, role, start_us) VALUES ($1, $2, $3, $4, $5::bigint)"
    " ON CONFLICT (rec_id, aor) DO UPDATE SET"
    " name = CASE WHEN excluded.name = '' THEN parties.name ELSE excluded.name END";
static const char party_get_sql[] =
    "SELECT aor, name, role FROM parties WHERE rec_id = $1 ORDER BY pid LIMIT $2::integer";
static const char stats_sql[] =
    "SELECT state, count(*), coalesce(sum(bytes), 0), count(*) FILTER (WHERE hold)"
    " FROM recordings GROUP BY state";

static const struct {
    const char *name, *sql;
} statements[] = {
    { "put", put_sql },         { "get", get_sql },   { "search", search_sql },
    { "search_desc", search_desc_sql }, { "search_aor", search_aor_sql },
    { "search_aor_desc", search_aor_desc_sql }, { "search_like", search_like_sql },
    { "search_like_desc", search_like_desc_sql }, { "hold", hold_sql }, { "del", del_sql }, { "loc", loc_sql },
    { "stats", stats_sql }, { "party_put", party_put_sql }, { "party_get", party_get_sql },
    { "claim", claim_sql },
};

static struct pg_index *pg(struct stor_index *ix)
{
    return (struct pg_index *)ix;
}

/* SQLSTATE classes: 08 connection, 40 rollback (serialization, deadlock),
 * 55P03 lock_not_available (lock_timeout), 57014 query_canceled,
 * 57P0x server shutting down: all worth a retry.  53100: disk full. */
static enum sr_err res_err(struct pg_index *ix, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    log_debug("index: %s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(ix->conn));
    if (PQstatus(ix->conn) != CONNECTION_OK || !state)
        return SR_EAGAIN;
    if (!strncmp(state, "08", 2) || !strncmp(state, "40", 2) || !strcmp(state, "55P03") ||
        !strcmp(state, "57014") || !strncmp(state, "57P0", 4))
        return SR_EAGAIN;
    if (!strcmp(state, "53100"))
        return SR_ENOSPC;
    if (!strcmp(state, "53200"))
        return SR_ENOMEM;
    return SR_EIO;
}

/* A command with no result rows (SET, BEGIN, DDL). */
static enum sr_err exec_cmd(struct pg_index *ix, const char *sql, const char *what)
{
    PGresult *res = PQexec(ix->conn, sql);
    enum sr_err err = PQresultStatus(res) == PGRES_COMMAND_OK ? SR_OK : res_err(ix, res, what);

    PQclear(res);
    return err;
}

/* A query whose rows are not needed (SELECT pg_advisory_xact_lock). */
static enum sr_err exec_rows(struct pg_index *ix, const char *sql, const char *what)
{
    PGresult *res = PQexec(ix->conn, sql);
    enum sr_err err = PQresultStatus(res) == PGRES_TUPLES_OK ? SR_OK : res_err(ix, res, what);

    PQclear(res);
    return err;
}

/* Session settings: after connect and each reset. */
static enum sr_err session_settings(struct pg_index *ix)
{
    char sql[96];
    enum sr_err err;

    snprintf(sql, sizeof(sql), "SET lock_timeout = %u", ix->busy_ms);
    if ((err = exec_cmd(ix, "SET plan_cache_mode = force_custom_plan", "session")) ||
        (err = exec_cmd(ix, sql, "session")) ||
        (ix->read_only &&
         (err = exec_cmd(ix, "SET default_transaction_read_only = on", "session"))))
        return err;
    return SR_OK;
}

/* The statements, once the schema is there: after open and each reset. */
static enum sr_err prepare_all(struct pg_index *ix)
{
    enum sr_err err;

    for (size_t i = 0; i < SR_ARRAY_LEN(statements); i++) {
        PGresult *res = PQprepare(ix->conn, statements[i].name, statements[i].sql, 0, NULL);
        err = PQresultStatus(res) == PGRES_COMMAND_OK ? SR_OK : res_err(ix, res, "prepare");
        PQclear(res);
        if (err)
            return err;
    }
    return SR_OK;
}

/* A prepared statement; a dropped connection is reset and the statement
 * tried once more.  NULL with *err set on failure. */
static PGresult *run(struct pg_index *ix, const char *name, int n, const char *const *vals,
                     ExecStatusType want, enum sr_err *err)
{
    for (int attempt = 0;; attempt++) {
        PGresult *res = PQexecPrepared(ix->conn, name, n, vals, NULL, NULL, 0);
        if (PQresultStatus(res) == want) {
            *err = SR_OK;
            return res;
        }
        *err = res_err(ix, res, name);
        PQclear(res);
        if (attempt || PQstatus(ix->conn) == CONNECTION_OK)
            return NULL;
        PQreset(ix->conn);
        if (PQstatus(ix->conn) != CONNECTION_OK || session_settings(ix) != SR_OK ||
            prepare_all(ix) != SR_OK)
            return NULL;
        log_notice("index: reconnected to PostgreSQL");
    }
}

static void pg_close(struct stor_index *base)
{
    struct pg_index *ix = pg(base);

    PQfinish(ix->conn);
    free(ix);
}

/* The stored version, 0 when there is none; *present false when there is
 * no schema_version table at all (not an index yet). */
static enum sr_err read_version(struct pg_index *ix, int *version, bool *present)
{
    PGresult *res;
    enum sr_err err = SR_OK;

    *version = 0;
    res = PQexec(ix->conn, "SELECT to_regclass('schema_version') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        err = res_err(ix, res, "schema");
        PQclear(res);
        return err;
    }
    *present = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!*present)
        return SR_OK;
    res = PQexec(ix->conn, "SELECT max(version) FROM schema_version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        err = res_err(ix, res, "schema");
    else
        *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return err;
}

/* In the caller's transaction, after the advisory lock. */
static enum sr_err migrate(struct pg_index *ix, enum stor_index_mode mode)
{
    char sql[96];
    enum sr_err err;
    bool present;
    int version;

    if ((err = read_version(ix, &version, &present)))
        return err;
    if (!present && mode == STOR_INDEX_EXISTING)
        return SR_ENOTFOUND;
    if (version > SCHEMA_VERSION) {
        log_debug("index: schema version %d, this build knows %d", version, SCHEMA_VERSION);
        return SR_EUNSUPP;
    }
    if (version == SCHEMA_VERSION)
        return SR_OK;
    if (!present && (err = exec_cmd(ix, "CREATE TABLE schema_version (version integer NOT NULL)",
                                    "schema")))
        return err;
    for (size_t i = 0; i < SR_ARRAY_LEN(migrations); i++) {
        if (migrations[i].version <= version)
            continue;
        if ((err = exec_cmd(ix, migrations[i].sql, "migrate")))
            return err;
        log_debug("index: schema migrated to version %d", migrations[i].version);
    }
    snprintf(sql, sizeof(sql), "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)",
             SCHEMA_VERSION);
    return exec_cmd(ix, sql, "schema version");
}

static const struct stor_index_ops pg_ops;

/* Server notices (an extension that exists already, …) go to the debug
 * log, not to the daemon's stderr as libpq's default would print them. */
static void notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("index: %s", message);
}

enum sr_err stor_index_pg_open(struct stor_index **out, const char *conninfo,
                               enum stor_index_mode mode)
{
    /* conninfo last: what it sets wins over these defaults.  A bounded
     * connect so a reset never stalls the recorder's archive thread long. */
    const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
    const char *const vals[] = { "5", "srtprec", conninfo, NULL };
    struct pg_index *ix;
    enum sr_err err;
    bool present;
    int version;
    char desc[256];

    ix = calloc(1, sizeof(*ix));
    if (!ix)
        return SR_ENOMEM;
    ix->base.ops = &pg_ops;
    ix->busy_ms = BUSY_MS;
    ix->read_only = mode == STOR_INDEX_READ_ONLY;
    ix->conn = PQconnectdbParams(keys, vals, 1);
    if (!ix->conn) {
        err = SR_ENOMEM;
        goto fail;
    }
    if (PQstatus(ix->conn) != CONNECTION_OK) {
        /* libpq's message names host and database, never the password. */
        log_error("index %s: %s", stor_index_describe(conninfo, desc, sizeof(desc)),
                  PQerrorMessage(ix->conn));
        err = SR_EAGAIN;
        goto fail;
    }
    PQsetNoticeProcessor(ix->conn, notice, NULL);
    if ((err = session_settings(ix)))
        goto fail;
    if (ix->read_only) {
        if ((err = read_version(ix, &version, &present)))
            goto fail;
        err = !present ? SR_ENOTFOUND : version != SCHEMA_VERSION ? SR_EUNSUPP : SR_OK;
        if (err)
            goto fail;
    } else {
        if ((err = exec_cmd(ix, "BEGIN", "begin")))
            goto fail;
        if ((err = exec_rows(ix, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")",
                             "schema lock"))) {
            exec_cmd(ix, "ROLLBACK", "rollback");
            goto fail;
        }
        err = migrate(ix, mode);
        if ((err = err ? err : exec_cmd(ix, "COMMIT", "commit"))) {
            exec_cmd(ix, "ROLLBACK", "rollback");
            goto fail;
        }
    }
    if ((err = prepare_all(ix)))
        goto fail;
    *out = &ix->base;
    return SR_OK;
fail:
    pg_close(&ix->base);
    return err;
}

static void u64_text(char *buf, size_t cap, uint64_t v)
{
    /* bigint is signed; times and sizes stay far below 2^63. */
    snprintf(buf, cap, "%" PRIu64, v > INT64_MAX ? (uint64_t)INT64_MAX : v);
}

static enum sr_err pg_put(struct stor_index *base, const struct stor_record *rec)
{
    struct pg_index *ix = pg(base);
    char start[24], end[24], state[16], bytes[24], packets[24], streams[16];
    const char *vals[16] = { rec->id,           rec->call.call_id,    rec->call.local_aor,
                             rec->call.remote_aor, rec->call.local_tag, rec->call.remote_tag,
                             rec->call.source,  start,                end,
                             state,             bytes,                packets,
                             streams,           rec->path,            rec->sha256,
                             rec->recorder };
    enum sr_err err;
    PGresult *res;

    u64_text(start, sizeof(start), rec->call.start_wall_us);
    u64_text(end, sizeof(end), rec->end_wall_us);
    snprintf(state, sizeof(state), "%d", (int)rec->state);
    u64_text(bytes, sizeof(bytes), rec->bytes);
    u64_text(packets, sizeof(packets), rec->packets);
    snprintf(streams, sizeof(streams), "%u", rec->n_streams);
    res = run(ix, "put", 16, vals, PGRES_COMMAND_OK, &err);
    PQclear(res);
    /* Parties only add: a put that fails half way is put again whole. */
    for (size_t i = 0; !err && i < rec->n_parties && i < STOR_MAX_PARTIES; i++) {
        const struct stor_party *p = &rec->parties[i];
        const char *pv[5] = { rec->id, p->aor, p->name, p->role[0] ? p->role : "participant",
                              start };
        if (!p->aor[0])
            continue;
        res = run(ix, "party_put", 5, pv, PGRES_COMMAND_OK, &err);
        PQclear(res);
    }
    return err;
}

static void col_str(const PGresult *res, int row, int col, char *dst, size_t cap)
{
    const char *s = PQgetvalue(res, row, col);
    size_t n = strnlen(s, cap - 1);

    /* Over-long values (another writer's) are cut, never overrun. */
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static uint64_t col_u64(const PGresult *res, int row, int col)
{
    long long v = strtoll(PQgetvalue(res, row, col), NULL, 10);
    return v < 0 ? 0 : (uint64_t)v;
}

static void row_to_record(const PGresult *res, int row, struct stor_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    col_str(res, row, 0, rec->id, sizeof(rec->id));
    col_str(res, row, 1, rec->call.call_id, sizeof(rec->call.call_id));
    col_str(res, row, 2, rec->call.local_aor, sizeof(rec->call.local_aor));
    col_str(res, row, 3, rec->call.remote_aor, sizeof(rec->call.remote_aor));
    col_str(res, row, 4, rec->call.local_tag, sizeof(rec->call.local_tag));
    col_str(res, row, 5, rec->call.remote_tag, sizeof(rec->call.remote_tag));
    col_str(res, row, 6, rec->call.source, sizeof(rec->call.source));
    rec->call.start_wall_us = col_u64(res, row, 7);
    rec->end_wall_us = col_u64(res, row, 8);
    rec->state = stor_index_state_from_int(strtoll(PQgetvalue(res, row, 9), NULL, 10));
    rec->bytes = col_u64(res, row, 10);
    rec->packets = col_u64(res, row, 11);
    rec->n_streams = (unsigned)col_u64(res, row, 12);
    col_str(res, row, 13, rec->path, sizeof(rec->path));
    col_str(res, row, 14, rec->sha256, sizeof(rec->sha256));
    rec->hold = PQgetvalue(res, row, 15)[0] == 't';
    col_str(res, row, 16, rec->hold_info.case_id, sizeof(rec->hold_info.case_id));
    col_str(res, row, 17, rec->hold_info.reason, sizeof(rec->hold_info.reason));
    col_str(res, row, 18, rec->hold_info.by, sizeof(rec->hold_info.by));
    rec->hold_info.at_wall_us = col_u64(res, row, 19);
    col_str(res, row, 20, rec->recorder, sizeof(rec->recorder));
    col_str(res, row, 21, rec->location, sizeof(rec->location));
}

static enum sr_err pg_get(struct stor_index *base, const char *id, struct stor_record *rec)
{
    enum sr_err err;
    PGresult *res = run(pg(base), "get", 1, &id, PGRES_TUPLES_OK, &err);

    char max[16];
    const char *pv[2] = { id, max };

    if (res && PQntuples(res) == 1)
        row_to_record(res, 0, rec);
    else if (res)
        err = SR_ENOTFOUND;
    PQclear(res);
    if (err)
        return err;
    snprintf(max, sizeof(max), "%d", (int)STOR_MAX_PARTIES);
    res = run(pg(base), "party_get", 2, pv, PGRES_TUPLES_OK, &err);
    for (int i = 0; res && i < PQntuples(res) && rec->n_parties < STOR_MAX_PARTIES; i++) {
        struct stor_party *p = &rec->parties[rec->n_parties++];
        col_str(res, i, 0, p->aor, sizeof(p->aor));
        col_str(res, i, 1, p->name, sizeof(p->name));
        col_str(res, i, 2, p->role, sizeof(p->role));
    }
    PQclear(res);
    return err;
}

/* The LIKE pattern of a normalised party: party% or %party%, LIKE's own
 * % _ and its escape \ escaped. */
static bool party_like(const char *party, bool prefix, char *out, size_t cap)
{
    size_t o = 0;

    if (!prefix)
        out[o++] = '%';
    for (; *party; party++) {
        bool special = *party == '%' || *party == '_' || *party == '\\';
        if (o + (special ? 2 : 1) + 2 > cap)
            return false;
        if (special)
            out[o++] = '\\';
        out[o++] = *party;
    }
    out[o++] = '%';
    out[o] = '\0';
    return true;
}

static enum sr_err pg_search(struct stor_index *base, const struct stor_query *q,
                             stor_record_fn *fn, void *arg)
{
    char from[24], to[24], limit[24], state[16], pat[2 * STOR_PARTY_NORM_MAX + 3];
    bool like = q->party && q->party_match != STOR_PARTY_EXACT;
    const char *vals[8] = { from, to, like ? NULL : q->party, q->call_id, q->after_id, limit,
                            q->by_state ? state : NULL, like ? pat : NULL };
    struct stor_record *rec;
    enum sr_err err;
    PGresult *res;

    if (like && !party_like(q->party, q->party_match == STOR_PARTY_PREFIX, pat, sizeof(pat)))
        return SR_EINVAL;

    u64_text(from, sizeof(from), q->from_wall_us);
    u64_text(to, sizeof(to), q->to_wall_us);
    snprintf(limit, sizeof(limit), "%zu", q->limit);
    snprintf(state, sizeof(state), "%d", (int)q->state);
    rec = malloc(sizeof(*rec)); /* ~5 KiB: keep it off small thread stacks */
    if (!rec)
        return SR_ENOMEM;
    res = run(pg(base),
              like       ? (q->newest_first ? "search_like_desc" : "search_like")
              : q->party ? (q->newest_first ? "search_aor_desc" : "search_aor")
                         : (q->newest_first ? "search_desc" : "search"),
              8, vals, PGRES_TUPLES_OK,
              &err);
    for (int i = 0; res && i < PQntuples(res); i++) {
        row_to_record(res, i, rec);
        if (!fn(rec, arg))
            break;
    }
    PQclear(res);
    free(rec);
    return err;
}

/* One row by id: SR_ENOTFOUND when no row changed. */
static enum sr_err change_one(struct pg_index *ix, const char *name, int n,
                              const char *const *vals)
{
    enum sr_err err;
    PGresult *res = run(ix, name, n, vals, PGRES_COMMAND_OK, &err);

    if (res && strcmp(PQcmdTuples(res), "0") == 0)
        err = SR_ENOTFOUND;
    PQclear(res);
    return err;
}

static enum sr_err pg_hold(struct stor_index *base, const char *id, const struct stor_hold *h)
{
    char at[24];
    const char *vals[6] = { id, h ? "true" : "false", h ? h->case_id : "", h ? h->reason : "",
                            h ? h->by : "", at };

    u64_text(at, sizeof(at), h ? h->at_wall_us : 0);
    return change_one(pg(base), "hold", 6, vals);
}

static enum sr_err pg_claim(struct stor_index *base, const char *id)
{
    return change_one(pg(base), "claim", 1, &id);
}

static enum sr_err pg_delete(struct stor_index *base, const char *id)
{
    return change_one(pg(base), "del", 1, &id);
}

static enum sr_err pg_set_location(struct stor_index *base, const char *id, const char *location)
{
    const char *vals[2] = { id, location };

    return change_one(pg(base), "loc", 2, vals);
}

static enum sr_err pg_stats(struct stor_index *base, struct stor_index_stats *st)
{
    enum sr_err err;
    PGresult *res = run(pg(base), "stats", 0, NULL, PGRES_TUPLES_OK, &err);

    for (int i = 0; res && i < PQntuples(res); i++) {
        long long state = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (state >= 0 && state < (long long)SR_ARRAY_LEN(st->recordings))
            st->recordings[state] = col_u64(res, i, 1);
        st->bytes += col_u64(res, i, 2);
        st->held += col_u64(res, i, 3);
    }
    PQclear(res);
    return err;
}

static void pg_set_busy_ms(struct stor_index *base, unsigned ms)
{
    struct pg_index *ix = pg(base);
    char sql[48];

    ix->busy_ms = ms;
    snprintf(sql, sizeof(sql), "SET lock_timeout = %u", ms);
    /* A dropped connection takes it at its reset (session_settings). */
    (void)exec_cmd(ix, sql, "lock timeout");
}

static enum sr_err pg_check_write(struct stor_index *base)
{
    struct pg_index *ix = pg(base);
    enum sr_err err;

    if (ix->read_only)
        return SR_EIO;
    if ((err = exec_cmd(ix, "BEGIN", "write check")))
        return err;
    /* A write proper: shows a missing privilege or a read-only standby;
     * rolled back, it leaves nothing. */
    err = exec_cmd(ix, "UPDATE schema_version SET version = version", "write check");
    exec_cmd(ix, "ROLLBACK", "write check");
    return err;
}

void stor_index_pg_describe(const char *conninfo, char *buf, size_t cap)
{
    static const char *const shown[] = { "host", "hostaddr", "port", "dbname", "user" };
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    size_t used;

    used = (size_t)snprintf(buf, cap, "postgresql");
    for (PQconninfoOption *o = opts; o && o->keyword && used < cap; o++) {
        for (size_t i = 0; i < SR_ARRAY_LEN(shown); i++)
            if (o->val && o->val[0] && !strcmp(o->keyword, shown[i]))
                used += (size_t)snprintf(buf + used, cap - used, " %s=%s", o->keyword, o->val);
    }
    if (!opts)
        snprintf(buf, cap, "postgresql (unparsable conninfo)");
    PQconninfoFree(opts);
}

static const struct stor_index_ops pg_ops = {
    .close = pg_close,
    .check_write = pg_check_write,
    .set_busy_ms = pg_set_busy_ms,
    .put = pg_put,
    .get = pg_get,
    .search = pg_search,
    .hold = pg_hold,
    .claim = pg_claim,
    .del = pg_delete,
    .set_location = pg_set_location,
    .stats = pg_stats,
};
