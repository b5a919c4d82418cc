/** @file index_sqlite.c  The recording index on SQLite in WAL mode (the default).
 *
 * The recorder writes and the API process reads the same file; WAL lets the
 * reader go on while a writer commits, and the busy timeout absorbs the
 * short exclusive moments (checkpoints).  Everything goes through prepared
 * statements; nothing from a caller is ever pasted into SQL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "index_priv.h"
#include "log.h"
#include "util.h"

enum { BUSY_MS = 5000 };

struct sqlite_index {
    struct stor_index base; /* first: the handle callers hold */
    sqlite3 *db;
    sqlite3_stmt *put, *get, *search, *search_desc, *search_party, *search_party_desc, *hold,
        *search_aor, *search_aor_desc, *del, *party_put, *party_get, *claim, *loc;
};

/* Party search (prefix and substring), schema 4 and 5: party_ix was an
 * FTS5 trigram table of each row's two AORs under rowid 2 * rowid (+1 for
 * the remote AOR), kept by triggers.  Schema 6 replaces it (below). */
#define PARTY_NORM(x)                                                                          \
    "lower(CASE WHEN lower(substr(" x ",1,5)) = 'sips:' THEN substr(" x ",6)"                  \
    " WHEN lower(substr(" x ",1,4)) IN ('sip:','tel:') THEN substr(" x ",5) ELSE " x " END)"
#define PARTY_ROWS_INSERT                                                                      \
    " INSERT INTO party_ix(rowid, party) VALUES (new.rowid * 2, " PARTY_NORM("new.local_aor")  \
    "), (new.rowid * 2 + 1, " PARTY_NORM("new.remote_aor") ");"
#define PARTY_ROWS_DELETE " DELETE FROM party_ix WHERE rowid IN (old.rowid * 2, old.rowid * 2 + 1);"

/* Schema 6: every party a call ever had.  parties holds one row per (recording,
 * AOR): the row's local and remote AORs, added by triggers on every insert and
 * AOR change and never taken away by one (a transfer or late metadata adds
 * to them), plus the participants a put names (rec->parties); deleting the
 * recording deletes them.  party_ix is the FTS5 trigram index of their
 * normalised AORs (stor_party_norm) under rowid = parties.pid, kept in step
 * by triggers on parties, so a GLOB with 3 or more literal characters is
 * answered from it.  Case-sensitive trigrams on lower-cased text: FTS5
 * uses its index for GLOB only then. */
/* NOT EXISTS, not OR IGNORE: inside a trigger fired by put's upsert the
 * outer statement's conflict policy (abort) overrides the trigger's. */
#define ROW_PARTY(who, role)                                                                   \
    " INSERT INTO parties(rec_id, aor, norm, role) SELECT new.id, new." who ", "               \
    PARTY_NORM("new." who) ", '" role "' WHERE new." who " <> '' AND NOT EXISTS"              \
    " (SELECT 1 FROM parties WHERE rec_id = new.id AND aor = new." who ");"
#define ROW_PARTIES ROW_PARTY("local_aor", "local") ROW_PARTY("remote_aor", "remote")
/* Schema 8: parties carry their recording's start_us, so an exact party's
 * day is one range of parties_aor_start, not every call the party ever
 * had (a one-day query went from 0.7 to 6.4 ms p50 on 200,000 rows with
 * schema 6; docs/benchmarks.md).  A start that changes follows. */
#define ROW_PARTY8(who, role)                                                                  \
    " INSERT INTO parties(rec_id, aor, norm, role, start_us) SELECT new.id, new." who ", "     \
    PARTY_NORM("new." who) ", '" role "', new.start_us WHERE new." who " <> '' AND NOT EXISTS" \
    " (SELECT 1 FROM parties WHERE rec_id = new.id AND aor = new." who ");"
#define ROW_PARTIES8 ROW_PARTY8("local_aor", "local") ROW_PARTY8("remote_aor", "remote")

/* Each step runs inside the opener's BEGIN IMMEDIATE with the version
 * update, all or nothing.  Version 2 added the legal hold column, version 3
 * the sealed file's SHA-256 (older rows read sha256 ""). */
static const struct stor_index_migration migrations[] = {
    { 1, "CREATE TABLE recordings ("
         " id TEXT PRIMARY KEY, call_id TEXT NOT NULL, local_aor TEXT NOT NULL,"
         " remote_aor TEXT NOT NULL, local_tag TEXT NOT NULL, remote_tag TEXT NOT NULL,"
         " source TEXT NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
         " state INTEGER NOT NULL, bytes INTEGER NOT NULL, packets INTEGER NOT NULL,"
         " n_streams INTEGER NOT NULL, path TEXT NOT NULL);"
         "CREATE INDEX rec_start ON recordings(start_us, id);"
         "CREATE INDEX rec_call ON recordings(call_id);"
         "CREATE INDEX rec_local ON recordings(local_aor);"
         "CREATE INDEX rec_remote ON recordings(remote_aor);" },
    { 2, "ALTER TABLE recordings ADD COLUMN hold INTEGER NOT NULL DEFAULT 0;" },
    { 3, "ALTER TABLE recordings ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';" },
    /* The hold's record, and the party search table filled from the rows. */
    { 4, "ALTER TABLE recordings ADD COLUMN hold_case TEXT NOT NULL DEFAULT '';"
         "ALTER TABLE recordings ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';"
         "ALTER TABLE recordings ADD COLUMN hold_by TEXT NOT NULL DEFAULT '';"
         "ALTER TABLE recordings ADD COLUMN hold_us INTEGER NOT NULL DEFAULT 0;"
         "CREATE VIRTUAL TABLE party_ix USING fts5(party, tokenize='trigram case_sensitive 1');"
         "CREATE TRIGGER party_ins AFTER INSERT ON recordings BEGIN" PARTY_ROWS_INSERT " END;"
         "CREATE TRIGGER party_upd AFTER UPDATE OF local_aor, remote_aor ON recordings"
         " WHEN old.local_aor IS NOT new.local_aor OR old.remote_aor IS NOT new.remote_aor"
         " BEGIN" PARTY_ROWS_DELETE PARTY_ROWS_INSERT " END;"
         "CREATE TRIGGER party_del AFTER DELETE ON recordings BEGIN" PARTY_ROWS_DELETE " END;"
         "INSERT INTO party_ix(rowid, party) SELECT rowid * 2, " PARTY_NORM("local_aor")
         " FROM recordings UNION ALL SELECT rowid * 2 + 1, " PARTY_NORM("remote_aor")
         " FROM recordings;" },
    /* Dual recording: which recorder wrote the row (its recorder-id), and
     * the copies of a call found by Call-ID (docs/storage.md). */
    { 5, "ALTER TABLE recordings ADD COLUMN recorder TEXT NOT NULL DEFAULT '';" },
    /* Every party of a call, not only its row's two (see ROW_PARTIES). */
    { 6, "DROP TRIGGER party_ins; DROP TRIGGER party_upd; DROP TRIGGER party_del;"
         "DROP TABLE party_ix;"
         "CREATE TABLE parties (pid INTEGER PRIMARY KEY, rec_id TEXT NOT NULL,"
         " aor TEXT NOT NULL, norm TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',"
         " role TEXT NOT NULL DEFAULT '', UNIQUE (rec_id, aor));"
         "CREATE INDEX parties_aor ON parties(aor);"
         "CREATE VIRTUAL TABLE party_ix USING fts5(party, tokenize='trigram case_sensitive 1');"
         "CREATE TRIGGER party_ix_ins AFTER INSERT ON parties BEGIN"
         " INSERT INTO party_ix(rowid, party) VALUES (new.pid, new.norm); END;"
         "CREATE TRIGGER party_ix_del AFTER DELETE ON parties BEGIN"
         " DELETE FROM party_ix WHERE rowid = old.pid; END;"
         "CREATE TRIGGER parties_ins AFTER INSERT ON recordings BEGIN" ROW_PARTIES " END;"
         "CREATE TRIGGER parties_upd AFTER UPDATE OF local_aor, remote_aor ON recordings"
         " BEGIN" ROW_PARTIES " END;"
         "CREATE TRIGGER parties_del AFTER DELETE ON recordings BEGIN"
         " DELETE FROM parties WHERE rec_id = old.id; END;"
         "INSERT OR IGNORE INTO parties(rec_id, aor, norm, role)"
         " SELECT id, local_aor, " PARTY_NORM("local_aor") ", 'local' FROM recordings"
         " WHERE local_aor <> '' UNION ALL SELECT id, remote_aor, " PARTY_NORM("remote_aor")
         ", 'remote' FROM recordings WHERE remote_aor <> '';" },
    /* Where the archive is kept in the object store ("s3://bucket/key"),
     * set once its upload is confirmed (docs/scale.md, "The archive store"). */
    { 7, "ALTER TABLE recordings ADD COLUMN location TEXT NOT NULL DEFAULT '';" },
    { 8, "ALTER TABLE parties ADD COLUMN start_us INTEGER NOT NULL DEFAULT 0;"
         "UPDATE parties SET start_us ="
         " (SELECT start_us FROM recordings WHERE recordings.id = parties.rec_id);"
         "DROP INDEX parties_aor;"
         "CREATE INDEX parties_aor_start ON parties(aor, start_us);"
         "DROP TRIGGER parties_ins; DROP TRIGGER parties_upd;"
         "CREATE TRIGGER parties_ins AFTER INSERT ON recordings BEGIN" ROW_PARTIES8 " END;"
         "CREATE TRIGGER parties_upd AFTER UPDATE OF local_aor, remote_aor, start_us ON recordings"
         " BEGIN" ROW_PARTIES8
         " UPDATE parties SET start_us = new.start_us WHERE rec_id = new.id"
         " AND start_us <> new.start_us; END;" },
};
enum { SCHEMA_VERSION = 8 };

static const char put_sql[] =
    "INSERT INTO recordings (" STOR_INDEX_PUT_COLS ")"
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)"
    STOR_INDEX_UPSERT_SET;
static const char hold_sql[] = "UPDATE recordings SET hold = ?2, hold_case = ?3,"
                               " hold_reason = ?4, hold_by = ?5, hold_us = ?6 WHERE id = ?1"
                               " AND (?2 = 0 OR state <> " STOR_INDEX_DELETING ")";
static const char claim_sql[] = "UPDATE recordings SET state = " STOR_INDEX_DELETING
                                " WHERE id = ?1" STOR_INDEX_CLAIM_WHERE;
static const char del_sql[] = "DELETE FROM recordings WHERE id = ?1";
static const char loc_sql[] = "UPDATE recordings SET location = ?2 WHERE id = ?1";
/* A party the put names: added once; a later name replaces the name. */
static const char party_put_sql[] =
    "INSERT INTO parties(rec_id, aor, norm, name, role, start_us) VALUES (?1, ?2, "
    PARTY_NORM("?2") ", ?3, ?4, ?5) ON CONFLICT (rec_id, aor) DO UPDATE SET"
    " name = CASE WHEN excluded.name = '' THEN name ELSE excluded.name END";
static const char party_get_sql[] =
    "SELECT aor, name, role FROM parties WHERE rec_id = ?1 ORDER BY pid LIMIT ?2";
static const char get_sql[] = "SELECT " STOR_INDEX_COLS " FROM recordings WHERE id = ?1";
/* Cursor: rows after (start_us, id) of the after_id row, in (start_us, id) order.
 * An unknown after_id yields nothing rather than restarting from the top.
 * cmp is the cursor's comparison: > oldest first, < newest first (the order
 * reversed with it). */
/* The range is always bound (an open end as 0 or INT64_MAX): "?1 = 0 OR"
 * would keep SQLite from a range scan of rec_start, and a one-day query on
 * 1,000,000 rows then scanned them all (docs/benchmarks.md, "Index"). */
#define SEARCH_FILTERS(cmp)                                                                    \
    " start_us >= ?1 AND start_us <= ?2"                                                       \
    " AND (?3 IS NULL OR id IN (SELECT rec_id FROM parties WHERE aor = ?3))"                   \
    " AND (?4 IS NULL OR call_id = ?4)"                                                        \
    " AND (?5 IS NULL OR (start_us, id) " cmp                                                  \
    " (SELECT start_us, id FROM recordings WHERE id = ?5))"                                    \
    " AND (?7 IS NULL OR state = ?7)"
#define ORDER_ASC " ORDER BY start_us, id LIMIT ?6"
#define ORDER_DESC " ORDER BY start_us DESC, id DESC LIMIT ?6"
/* A party pattern (?8) drives the query from party_ix: the matching
 * parties first, then their recordings by primary key, then the other
 * filters and the sort on those rows only. */
#define PARTY_ROWS                                                                             \
    " id IN (SELECT rec_id FROM parties WHERE pid IN"                                          \
    " (SELECT rowid FROM party_ix WHERE party GLOB ?8)) AND"
/* An exact party drives the query from parties_aor the same way: that
 * party's rows, not the time range's, are filtered and sorted. */
#define AOR_ROWS                                                                               \
    " id IN (SELECT rec_id FROM parties WHERE aor = ?3 AND start_us >= ?1 AND start_us <= ?2) AND"
static const char search_sql[] =
    "SELECT " STOR_INDEX_COLS " FROM recordings WHERE" SEARCH_FILTERS(">") ORDER_ASC;
static const char search_desc_sql[] =
    "SELECT " STOR_INDEX_COLS " FROM recordings WHERE" SEARCH_FILTERS("<") ORDER_DESC;
static const char search_aor_sql[] =
    "SELECT " STOR_INDEX_COLS " FROM recordings WHERE" AOR_ROWS SEARCH_FILTERS(">") ORDER_ASC;
static const char search_aor_desc_sql[] =
    "SELECT " STOR_INDEX_COLS " FROM recordings WHERE" AOR_ROWS SEARCH_FILTERS("<") ORDER_DESC;
static const char search_party_sql[] =
    "SELECT " STOR_INDEX_COLS " FROM recordings WHERE" PARTY_ROWS SEARCH_FILTERS(">") ORDER_ASC;
static const char search_party_desc_sql[] =
    "SELECT " STOR_INDEX_COLS " FROM recordings WHERE" PARTY_ROWS SEARCH_FILTERS("<") ORDER_DESC;

static enum sr_err db_err(sqlite3 *db, const char *what)
{
    int rc = sqlite3_errcode(db);

    log_debug("index: %s: %s", what, sqlite3_errmsg(db));
    if (rc == SQLITE_NOMEM)
        return SR_ENOMEM;
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
        return SR_EPARSE;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return SR_EAGAIN; /* locked past the busy timeout: worth a retry */
    return SR_EIO;
}

static struct sqlite_index *sq(struct stor_index *ix)
{
    return (struct sqlite_index *)ix;
}

static void sq_close(struct stor_index *base)
{
    struct sqlite_index *ix = sq(base);

    sqlite3_finalize(ix->put);
    sqlite3_finalize(ix->get);
    sqlite3_finalize(ix->search);
    sqlite3_finalize(ix->search_desc);
    sqlite3_finalize(ix->search_party);
    sqlite3_finalize(ix->search_party_desc);
    sqlite3_finalize(ix->search_aor);
    sqlite3_finalize(ix->search_aor_desc);
    sqlite3_finalize(ix->hold);
    sqlite3_finalize(ix->del);
    sqlite3_finalize(ix->loc);
    sqlite3_finalize(ix->party_put);
    sqlite3_finalize(ix->party_get);
    sqlite3_finalize(ix->claim);
    sqlite3_close(ix->db);
    free(ix);
}

/* The stored version: 0 when schema_version has no row yet (a new file). */
static enum sr_err read_version(struct sqlite_index *ix, int *version)
{
    sqlite3_stmt *st;
    enum sr_err err = SR_OK;
    int rc;

    *version = 0;
    if (sqlite3_prepare_v2(ix->db, "SELECT version FROM schema_version", -1, &st, NULL))
        return db_err(ix->db, "schema");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    else if (rc != SQLITE_DONE)
        err = db_err(ix->db, "schema");
    sqlite3_finalize(st);
    return err;
}

/* Inside the caller's BEGIN IMMEDIATE: every step from the stored version
 * up, and the new version, or nothing. */
static enum sr_err migrate(struct sqlite_index *ix)
{
    char sql[64];
    enum sr_err err;
    int version;

    if (sqlite3_exec(ix->db,
                     "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                     NULL, NULL, NULL))
        return db_err(ix->db, "schema");
    if ((err = read_version(ix, &version)))
        return err;
    if (version > SCHEMA_VERSION) {
        log_debug("index: schema version %d, this build knows %d", version, SCHEMA_VERSION);
        return SR_EUNSUPP;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(migrations); i++) {
        if (migrations[i].version <= version)
            continue;
        if (sqlite3_exec(ix->db, migrations[i].sql, NULL, NULL, NULL))
            return db_err(ix->db, "migrate");
        log_debug("index: schema migrated to version %d", migrations[i].version);
    }
    if (version == SCHEMA_VERSION)
        return SR_OK;
    snprintf(sql, sizeof(sql), "%s schema_version %s (%d)",
             version ? "UPDATE" : "INSERT INTO", version ? "SET version =" : "VALUES",
             SCHEMA_VERSION);
    if (sqlite3_exec(ix->db, sql, NULL, NULL, NULL))
        return db_err(ix->db, "schema version");
    return SR_OK;
}

static const struct stor_index_ops sqlite_ops;

static enum sr_err index_open_once(struct stor_index **out, const char *db_path,
                                   enum stor_index_mode mode, bool *fresh)
{
    struct sqlite_index *ix;
    enum sr_err err;
    struct stat sb;
    bool existed;
    int flags = SQLITE_OPEN_NOMUTEX, version;

    existed = stat(db_path, &sb) == 0;
    *fresh = !existed || sb.st_size == 0;
    if (!existed && mode != STOR_INDEX_CREATE)
        return errno == ENOENT ? SR_ENOTFOUND : SR_EIO;
    flags |= mode == STOR_INDEX_READ_ONLY ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (mode == STOR_INDEX_CREATE)
        flags |= SQLITE_OPEN_CREATE;
    ix = calloc(1, sizeof(*ix));
    if (!ix)
        return SR_ENOMEM;
    ix->base.ops = &sqlite_ops;
    /* SQLite opens its files with O_CLOEXEC itself (unix VFS, since 3.8). */
    if (sqlite3_open_v2(db_path, &ix->db, flags, NULL) != SQLITE_OK) {
        err = ix->db ? db_err(ix->db, "open") : SR_ENOMEM;
        goto fail;
    }
    sqlite3_busy_timeout(ix->db, BUSY_MS);
    if (mode == STOR_INDEX_READ_ONLY) {
        /* No schema to create or migrate: only the version is checked. */
        if ((err = read_version(ix, &version)))
            goto fail;
        if (version != SCHEMA_VERSION) {
            err = version ? SR_EUNSUPP : SR_EPARSE;
            goto fail;
        }
        goto prepare;
    }
    if (sqlite3_exec(ix->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     NULL) ||
        sqlite3_exec(ix->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) {
        err = db_err(ix->db, "setup");
        goto fail;
    }
    if ((err = migrate(ix))) {
        sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
        goto fail;
    }
    if (sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL)) {
        err = db_err(ix->db, "commit");
        goto fail;
    }
    /* The index names every call and party: a new one is 0640 or tighter
     * whatever the caller's umask (the daemons set 027; the CLI may not).
     * Its -wal and -shm files copy the database's mode. */
    if (!existed && stat(db_path, &sb) == 0 && (sb.st_mode & 0137))
        (void)chmod(db_path, sb.st_mode & 0640);
prepare:
    if (sqlite3_prepare_v2(ix->db, put_sql, -1, &ix->put, NULL) ||
        sqlite3_prepare_v2(ix->db, get_sql, -1, &ix->get, NULL) ||
        sqlite3_prepare_v2(ix->db, search_sql, -1, &ix->search, NULL) ||
        sqlite3_prepare_v2(ix->db, search_desc_sql, -1, &ix->search_desc, NULL) ||
        sqlite3_prepare_v2(ix->db, search_party_sql, -1, &ix->search_party, NULL) ||
        sqlite3_prepare_v2(ix->db, search_party_desc_sql, -1, &ix->search_party_desc, NULL) ||
        sqlite3_prepare_v2(ix->db, search_aor_sql, -1, &ix->search_aor, NULL) ||
        sqlite3_prepare_v2(ix->db, search_aor_desc_sql, -1, &ix->search_aor_desc, NULL) ||
        sqlite3_prepare_v2(ix->db, hold_sql, -1, &ix->hold, NULL) ||
        sqlite3_prepare_v2(ix->db, del_sql, -1, &ix->del, NULL) ||
        sqlite3_prepare_v2(ix->db, loc_sql, -1, &ix->loc, NULL) ||
        sqlite3_prepare_v2(ix->db, party_put_sql, -1, &ix->party_put, NULL) ||
        sqlite3_prepare_v2(ix->db, party_get_sql, -1, &ix->party_get, NULL) ||
        sqlite3_prepare_v2(ix->db, claim_sql, -1, &ix->claim, NULL)) {
        err = db_err(ix->db, "prepare");
        goto fail;
    }
    *out = &ix->base;
    return SR_OK;
fail:
    sq_close(&ix->base);
    return err;
}

enum sr_err stor_index_sqlite_open(struct stor_index **out, const char *db_path,
                                   enum stor_index_mode mode)
{
    enum sr_err err;
    bool fresh;

    /* Two daemons starting together (recorder and API) may both open an
     * index that does not exist yet; the one that loses the race can read
     * the file before its first page is written and see "not a database".
     * Only for a file that was empty or absent: a real corrupt index fails
     * at once.  Bounded: 20 tries, 50 ms apart. */
    for (int i = 0;; i++) {
        err = index_open_once(out, db_path, mode, &fresh);
        if (!err || !fresh || (err != SR_EPARSE && err != SR_EAGAIN) || i == 19)
            return err;
        nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000000L }, NULL);
    }
}

static int64_t u64_col(uint64_t v)
{
    /* SQLite integers are signed; times and sizes stay far below 2^63. */
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static enum sr_err sq_put(struct stor_index *base, const struct stor_record *rec)
{
    struct sqlite_index *ix = sq(base);
    sqlite3_stmt *st = ix->put;
    enum sr_err err = SR_OK;
    const char *strs[] = { rec->id,
                           rec->call.call_id,
                           rec->call.local_aor,
                           rec->call.remote_aor,
                           rec->call.local_tag,
                           rec->call.remote_tag,
                           rec->call.source };

    for (int i = 0; i < 7; i++)
        sqlite3_bind_text(st, i + 1, strs[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, u64_col(rec->call.start_wall_us));
    sqlite3_bind_int64(st, 9, u64_col(rec->end_wall_us));
    sqlite3_bind_int(st, 10, (int)rec->state);
    sqlite3_bind_int64(st, 11, u64_col(rec->bytes));
    sqlite3_bind_int64(st, 12, u64_col(rec->packets));
    sqlite3_bind_int64(st, 13, rec->n_streams);
    sqlite3_bind_text(st, 14, rec->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 15, rec->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, rec->recorder, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        err = db_err(ix->db, "put");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    /* Parties only add: a put that fails half way is put again whole
     * (the recorder retries), and adds nothing twice. */
    for (size_t i = 0; !err && i < rec->n_parties && i < STOR_MAX_PARTIES; i++) {
        const struct stor_party *p = &rec->parties[i];
        if (!p->aor[0])
            continue;
        st = ix->party_put;
        sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->aor, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, p->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->role[0] ? p->role : "participant", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, u64_col(rec->call.start_wall_us));
        if (sqlite3_step(st) != SQLITE_DONE)
            err = db_err(ix->db, "put party");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    return err;
}

static void col_str(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = s ? strnlen((const char *)s, cap - 1) : 0;

    /* Over-long values (another writer's) are cut, never overrun. */
    if (n)
        memcpy(dst, s, n);
    dst[n] = '\0';
}

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
    int64_t v = sqlite3_column_int64(st, col);
    return v < 0 ? 0 : (uint64_t)v;
}

static void row_to_record(sqlite3_stmt *st, struct stor_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    col_str(st, 0, rec->id, sizeof(rec->id));
    col_str(st, 1, rec->call.call_id, sizeof(rec->call.call_id));
    col_str(st, 2, rec->call.local_aor, sizeof(rec->call.local_aor));
    col_str(st, 3, rec->call.remote_aor, sizeof(rec->call.remote_aor));
    col_str(st, 4, rec->call.local_tag, sizeof(rec->call.local_tag));
    col_str(st, 5, rec->call.remote_tag, sizeof(rec->call.remote_tag));
    col_str(st, 6, rec->call.source, sizeof(rec->call.source));
    rec->call.start_wall_us = col_u64(st, 7);
    rec->end_wall_us = col_u64(st, 8);
    rec->state = stor_index_state_from_int(sqlite3_column_int(st, 9));
    rec->bytes = col_u64(st, 10);
    rec->packets = col_u64(st, 11);
    rec->n_streams = (unsigned)col_u64(st, 12);
    col_str(st, 13, rec->path, sizeof(rec->path));
    col_str(st, 14, rec->sha256, sizeof(rec->sha256));
    rec->hold = sqlite3_column_int(st, 15) != 0;
    col_str(st, 16, rec->hold_info.case_id, sizeof(rec->hold_info.case_id));
    col_str(st, 17, rec->hold_info.reason, sizeof(rec->hold_info.reason));
    col_str(st, 18, rec->hold_info.by, sizeof(rec->hold_info.by));
    rec->hold_info.at_wall_us = col_u64(st, 19);
    col_str(st, 20, rec->recorder, sizeof(rec->recorder));
    col_str(st, 21, rec->location, sizeof(rec->location));
}

static enum sr_err sq_get(struct stor_index *base, const char *id, struct stor_record *rec)
{
    struct sqlite_index *ix = sq(base);
    sqlite3_stmt *st = ix->get;
    enum sr_err err;
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_to_record(st, rec);
        err = SR_OK;
    } else if (rc == SQLITE_DONE) {
        err = SR_ENOTFOUND;
    } else {
        err = db_err(ix->db, "get");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (err)
        return err;
    st = ix->party_get;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, STOR_MAX_PARTIES);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && rec->n_parties < STOR_MAX_PARTIES) {
        struct stor_party *p = &rec->parties[rec->n_parties++];
        col_str(st, 0, p->aor, sizeof(p->aor));
        col_str(st, 1, p->name, sizeof(p->name));
        col_str(st, 2, p->role, sizeof(p->role));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = db_err(ix->db, "get parties");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
}

/* The GLOB pattern of a normalised party: party* or *party*, GLOB's own
 * * ? [ quoted as one-character classes (GLOB has no escape character). */
static bool party_glob(const char *party, bool prefix, char *out, size_t cap)
{
    size_t o = 0;

    if (!prefix)
        out[o++] = '*';
    for (; *party; party++) {
        bool special = *party == '*' || *party == '?' || *party == '[';
        if (o + (special ? 3 : 1) + 2 > cap)
            return false;
        if (special)
            out[o++] = '[';
        out[o++] = *party;
        if (special)
            out[o++] = ']';
    }
    out[o++] = '*';
    out[o] = '\0';
    return true;
}

static enum sr_err sq_search(struct stor_index *base, const struct stor_query *q,
                             stor_record_fn *fn, void *arg)
{
    struct sqlite_index *ix = sq(base);
    struct stor_record *rec;
    sqlite3_stmt *st;
    enum sr_err err = SR_OK;
    char pat[3 * STOR_PARTY_NORM_MAX + 3];
    int rc;

    if (q->party && q->party_match != STOR_PARTY_EXACT) {
        if (!party_glob(q->party, q->party_match == STOR_PARTY_PREFIX, pat, sizeof(pat)))
            return SR_EINVAL;
        st = q->newest_first ? ix->search_party_desc : ix->search_party;
        sqlite3_bind_text(st, 8, pat, -1, SQLITE_STATIC);
    } else if (q->party) {
        st = q->newest_first ? ix->search_aor_desc : ix->search_aor;
        sqlite3_bind_text(st, 3, q->party, -1, SQLITE_STATIC);
    } else {
        st = q->newest_first ? ix->search_desc : ix->search;
    }
    rec = malloc(sizeof(*rec)); /* ~5 KiB: keep it off small thread stacks */
    if (!rec) {
        sqlite3_clear_bindings(st);
        return SR_ENOMEM;
    }
    sqlite3_bind_int64(st, 1, u64_col(q->from_wall_us));
    sqlite3_bind_int64(st, 2, q->to_wall_us ? u64_col(q->to_wall_us) : INT64_MAX);
    if (q->call_id)
        sqlite3_bind_text(st, 4, q->call_id, -1, SQLITE_STATIC);
    if (q->after_id)
        sqlite3_bind_text(st, 5, q->after_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)q->limit);
    if (q->by_state)
        sqlite3_bind_int(st, 7, (int)q->state);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        row_to_record(st, rec);
        if (!fn(rec, arg))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = db_err(ix->db, "search");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(rec);
    return err;
}

static enum sr_err change_one(struct sqlite_index *ix, sqlite3_stmt *st, const char *what)
{
    enum sr_err err = SR_OK;

    if (sqlite3_step(st) != SQLITE_DONE)
        err = db_err(ix->db, what);
    else if (sqlite3_changes(ix->db) == 0)
        err = SR_ENOTFOUND;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
}

static enum sr_err sq_hold(struct stor_index *base, const char *id, const struct stor_hold *h)
{
    struct sqlite_index *ix = sq(base);

    sqlite3_bind_text(ix->hold, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(ix->hold, 2, h ? 1 : 0);
    sqlite3_bind_text(ix->hold, 3, h ? h->case_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(ix->hold, 4, h ? h->reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(ix->hold, 5, h ? h->by : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(ix->hold, 6, h ? u64_col(h->at_wall_us) : 0);
    return change_one(ix, ix->hold, "hold");
}

static enum sr_err sq_claim(struct stor_index *base, const char *id)
{
    struct sqlite_index *ix = sq(base);

    sqlite3_bind_text(ix->claim, 1, id, -1, SQLITE_STATIC);
    return change_one(ix, ix->claim, "claim");
}

static enum sr_err sq_delete(struct stor_index *base, const char *id)
{
    struct sqlite_index *ix = sq(base);

    sqlite3_bind_text(ix->del, 1, id, -1, SQLITE_STATIC);
    return change_one(ix, ix->del, "delete");
}

static enum sr_err sq_set_location(struct stor_index *base, const char *id, const char *location)
{
    struct sqlite_index *ix = sq(base);

    sqlite3_bind_text(ix->loc, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ix->loc, 2, location, -1, SQLITE_STATIC);
    return change_one(ix, ix->loc, "location");
}

static enum sr_err sq_stats(struct stor_index *base, struct stor_index_stats *st)
{
    static const char sql[] = "SELECT state, COUNT(*), COALESCE(SUM(bytes), 0),"
                              " COALESCE(SUM(hold), 0) FROM recordings GROUP BY state";
    struct sqlite_index *ix = sq(base);
    sqlite3_stmt *stmt = NULL;
    enum sr_err err = SR_OK;
    int rc;

    /* Prepared per call: monitoring scrapes are rare next to lookups. */
    if (sqlite3_prepare_v2(ix->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return SR_EIO;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        sqlite3_int64 state = sqlite3_column_int64(stmt, 0);
        if (state >= 0 && state < (sqlite3_int64)SR_ARRAY_LEN(st->recordings))
            st->recordings[state] = (uint64_t)sqlite3_column_int64(stmt, 1);
        st->bytes += (uint64_t)sqlite3_column_int64(stmt, 2);
        st->held += (uint64_t)sqlite3_column_int64(stmt, 3);
    }
    if (rc != SQLITE_DONE)
        err = SR_EIO;
    sqlite3_finalize(stmt);
    return err;
}

static void sq_set_busy_ms(struct stor_index *base, unsigned ms)
{
    sqlite3_busy_timeout(sq(base)->db, (int)ms);
}

static enum sr_err sq_check_write(struct stor_index *base)
{
    struct sqlite_index *ix = sq(base);
    enum sr_err err;

    if (sqlite3_db_readonly(ix->db, "main") != 0)
        return SR_EIO;
    if (sqlite3_exec(ix->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(ix->db, "write check");
    /* A write proper: only writing shows a directory where the journal
     * cannot be created; rolled back, it leaves nothing. */
    err = sqlite3_exec(ix->db, "UPDATE schema_version SET version = version", NULL, NULL, NULL)
              ? db_err(ix->db, "write check")
              : SR_OK;
    sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

static const struct stor_index_ops sqlite_ops = {
    .close = sq_close,
    .check_write = sq_check_write,
    .set_busy_ms = sq_set_busy_ms,
    .put = sq_put,
    .get = sq_get,
    .search = sq_search,
    .hold = sq_hold,
    .claim = sq_claim,
    .del = sq_delete,
    .set_location = sq_set_location,
    .stats = sq_stats,
};
