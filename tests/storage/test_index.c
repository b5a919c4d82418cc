/** @file test_index.c  The index: put/get, search filters, cursor paging, reopen, migrations.
 *
 * SQLite by default; with SRTPREC_TEST_INDEX set to a PostgreSQL conninfo
 * (tests/lib/pg_run.sh does it) the same checks run on that backend, with
 * its own migration checks in place of SQLite's file ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "stor.h"
#include "tap.h"
#include "testcert.h"

static void mkrec(struct stor_record *r, unsigned i)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%032x", 0xabc000u + i);
    snprintf(r->call.call_id, sizeof(r->call.call_id), "call-%u@host", i % 5);
    snprintf(r->call.local_aor, sizeof(r->call.local_aor), "sip:agent%u@cc.example", i % 3);
    snprintf(r->call.remote_aor, sizeof(r->call.remote_aor), "sip:cust%u@example.org", i);
    snprintf(r->call.local_tag, sizeof(r->call.local_tag), "lt%u", i);
    snprintf(r->call.remote_tag, sizeof(r->call.remote_tag), "rt%u", i);
    snprintf(r->call.source, sizeof(r->call.source), "ka%u", i % 2);
    /* Pairs share a start time so the (start, id) order matters. */
    r->call.start_wall_us = 1700000000000000ull + (i / 2) * 1000000ull;
    r->state = i % 3 == 0 ? STOR_STATE_RECORDING : STOR_STATE_COMPLETE;
    r->end_wall_us = r->state == STOR_STATE_COMPLETE ? r->call.start_wall_us + 60000000 : 0;
    r->bytes = 1000u + i;
    r->packets = 50u * i;
    r->n_streams = 2;
    snprintf(r->path, sizeof(r->path), "/var/lib/srtprec/%s.srec", r->id);
}

struct collect {
    char ids[64][STOR_ID_HEX];
    size_t n, stop_after;
};

static bool collect_fn(const struct stor_record *rec, void *arg)
{
    struct collect *c = arg;
    if (c->n < 64)
        snprintf(c->ids[c->n], STOR_ID_HEX, "%s", rec->id);
    c->n++;
    return !c->stop_after || c->n < c->stop_after;
}

static size_t search(struct stor_index *ix, const struct stor_query *q, struct collect *c)
{
    memset(c, 0, sizeof(*c));
    if (stor_index_search(ix, q, collect_fn, c) != SR_OK)
        return (size_t)-1;
    return c->n;
}

/* An index as schema 1 or 2 wrote it (before the sha256 column), with one
 * row: opening it migrates in place and keeps the row. */
static void test_migration(const char *dir, int version)
{
    static const char v2[] =
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "CREATE TABLE recordings ("
        " id TEXT PRIMARY KEY, call_id TEXT NOT NULL, local_aor TEXT NOT NULL,"
        " remote_aor TEXT NOT NULL, local_tag TEXT NOT NULL, remote_tag TEXT NOT NULL,"
        " source TEXT NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
        " state INTEGER NOT NULL, bytes INTEGER NOT NULL, packets INTEGER NOT NULL,"
        " n_streams INTEGER NOT NULL, path TEXT NOT NULL%s);"
        "INSERT INTO recordings VALUES ('%032x','c','sip:a@x','sip:b@y','t1','t2','ka',"
        " 1700000000000000, 1700000060000000, 1, 1234, 50, 2, '/a/b.srec'%s);"
        "INSERT INTO schema_version VALUES (%d);";
    char db[8192], sql[2048];
    struct stor_index *ix = NULL;
    struct stor_record r, got;
    sqlite3 *s = NULL;
    int v = 0;

    snprintf(db, sizeof(db), "%s/v%d.db", dir, version);
    snprintf(sql, sizeof(sql), v2, version >= 2 ? ", hold INTEGER NOT NULL DEFAULT 0" : "",
             0x77u, version >= 2 ? ", 1" : "", version);
    tap_ok(sqlite3_open(db, &s) == SQLITE_OK && sqlite3_exec(s, sql, NULL, NULL, NULL) == SQLITE_OK,
           "a schema %d index with one row", version);
    sqlite3_close(s);
    tap_ok(stor_index_open(&ix, db) == SR_OK, "schema %d: opened (migrated)", version);
    snprintf(r.id, sizeof(r.id), "%032x", 0x77u);
    tap_ok(ix && stor_index_get(ix, r.id, &got) == SR_OK && got.sha256[0] == 0 &&
               got.bytes == 1234 && got.hold == (version >= 2),
           "schema %d: the old row reads back, sha256 empty, hold kept", version);
    got.sha256[0] = 0;
    snprintf(got.sha256, sizeof(got.sha256), "%064x", 5u);
    tap_ok(ix && stor_index_put(ix, &got) == SR_OK && stor_index_get(ix, r.id, &r) == SR_OK &&
               strcmp(r.sha256, got.sha256) == 0,
           "schema %d: a hash is stored after migration", version);
    {
        struct stor_query pq = { .party = "B@Y", .party_match = STOR_PARTY_SUBSTRING };
        struct collect pc;
        tap_ok(ix && search(ix, &pq, &pc) == 1, "schema %d: the old row's parties are searchable",
               version);
    }
    r.sha256[0] = 0;
    r.packets = 51;
    tap_ok(ix && stor_index_put(ix, &r) == SR_OK && stor_index_get(ix, r.id, &got) == SR_OK &&
               strcmp(got.sha256, r.sha256) != 0 && got.sha256[0] && got.packets == 51,
           "a later row without a hash keeps the sealed one's");
    stor_index_close(ix);
    tap_ok(sqlite3_open(db, &s) == SQLITE_OK &&
               sqlite3_exec(s, "SELECT version FROM schema_version", NULL, NULL, NULL) == SQLITE_OK,
           "schema_version readable");
    {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s, "SELECT version FROM schema_version", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(s);
    tap_ok(v == 8, "schema %d migrated to version 8 (got %d)", version, v);
}

static size_t found_by(struct stor_index *ix, const char *party, enum stor_party_match m,
                       const char *id)
{
    struct stor_query q = { .party = party, .party_match = m };
    struct collect c;
    size_t n = search(ix, &q, &c);

    return n == 1 && strcmp(c.ids[0], id) == 0 ? 1 : n == (size_t)-1 ? (size_t)-1 : 0;
}

static const struct stor_party *party_of(const struct stor_record *r, const char *aor)
{
    for (size_t i = 0; i < r->n_parties; i++)
        if (strcmp(r->parties[i].aor, aor) == 0)
            return &r->parties[i];
    return NULL;
}

/* A call whose parties change three times (a transfer, late SIPREC
 * metadata naming a third participant, another transfer): every party it
 * ever had stays findable, exactly, by prefix and by substring, and goes
 * with the row. */
static void test_parties(struct stor_index *ix)
{
    static const char *const all[] = { "sip:alice@cc.example", "sip:bob@example.org",
                                       "sips:carol@example.org", "tel:+15550100",
                                       "sip:erin@sbc.example", "sip:frank@example.net" };
    struct stor_record r, got;
    const struct stor_party *p;
    bool ok = true;

    mkrec(&r, 900);
    snprintf(r.call.call_id, sizeof(r.call.call_id), "parties-call@host");
    snprintf(r.call.local_aor, sizeof(r.call.local_aor), "%s", all[0]);
    snprintf(r.call.remote_aor, sizeof(r.call.remote_aor), "%s", all[1]);
    tap_ok(stor_index_put(ix, &r) == SR_OK, "parties: the call opens (alice, bob)");
    snprintf(r.call.remote_aor, sizeof(r.call.remote_aor), "%s", all[2]);
    tap_ok(stor_index_put(ix, &r) == SR_OK, "parties: change 1, transfer to carol");
    snprintf(r.call.remote_aor, sizeof(r.call.remote_aor), "%s", all[3]);
    r.n_parties = 2;
    snprintf(r.parties[0].aor, sizeof(r.parties[0].aor), "%s", all[4]);
    snprintf(r.parties[0].name, sizeof(r.parties[0].name), "Erin Example");
    snprintf(r.parties[1].aor, sizeof(r.parties[1].aor), "%s", all[0]);
    snprintf(r.parties[1].name, sizeof(r.parties[1].name), "Alice Agent");
    tap_ok(stor_index_put(ix, &r) == SR_OK,
           "parties: change 2, metadata names a tel: party and erin beside them");
    r.n_parties = 0;
    snprintf(r.call.local_aor, sizeof(r.call.local_aor), "%s", all[5]);
    r.state = STOR_STATE_COMPLETE;
    tap_ok(stor_index_put(ix, &r) == SR_OK, "parties: change 3, frank takes alice's place");

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        ok &= found_by(ix, all[i], STOR_PARTY_EXACT, r.id) == 1;
    tap_ok(ok, "parties: each of the 6 found by its exact AOR");
    tap_ok(found_by(ix, "bob", STOR_PARTY_PREFIX, r.id) == 1 &&
               found_by(ix, "CAROL@", STOR_PARTY_PREFIX, r.id) == 1 &&
               found_by(ix, "+1555", STOR_PARTY_PREFIX, r.id) == 1 &&
               found_by(ix, "erin", STOR_PARTY_PREFIX, r.id) == 1,
           "parties: by prefix (bob, carol, the tel: number, erin)");
    tap_ok(found_by(ix, "rin@sbc", STOR_PARTY_SUBSTRING, r.id) == 1 &&
               found_by(ix, "ank@example.n", STOR_PARTY_SUBSTRING, r.id) == 1 &&
               found_by(ix, "lice@cc", STOR_PARTY_SUBSTRING, r.id) == 1,
           "parties: by substring (erin, frank, alice)");
    tap_ok(stor_index_get(ix, r.id, &got) == SR_OK && got.n_parties == 6 &&
               strcmp(got.call.local_aor, all[5]) == 0 &&
               strcmp(got.call.remote_aor, all[3]) == 0,
           "parties: get lists all 6 (got %zu), the row names the latest two", got.n_parties);
    tap_ok((p = party_of(&got, all[4])) && !strcmp(p->role, "participant") &&
               !strcmp(p->name, "Erin Example"),
           "parties: erin is a participant with her name");
    tap_ok((p = party_of(&got, all[0])) && !strcmp(p->role, "local") &&
               !strcmp(p->name, "Alice Agent"),
           "parties: alice keeps her role, takes the name metadata gave");
    tap_ok((p = party_of(&got, all[1])) && !strcmp(p->role, "remote") &&
               strcmp(got.parties[0].aor, all[0]) == 0,
           "parties: in the order first seen");
    tap_ok(stor_index_put(ix, &r) == SR_OK && stor_index_get(ix, r.id, &got) == SR_OK &&
               got.n_parties == 6,
           "parties: the same put again adds nothing");
    {
        /* An exact party's day is a range of (aor, start_us): the range
         * applies to every party, and follows a start that changes. */
        uint64_t day = 86400000000ull, s0 = r.call.start_wall_us;
        struct stor_query q = { .party = all[4], .from_wall_us = s0 - 1, .to_wall_us = s0 + 1 };
        struct collect c;
        tap_ok(search(ix, &q, &c) == 1, "parties: erin's day finds the call");
        q.from_wall_us = s0 + day;
        q.to_wall_us = s0 + 2 * day;
        tap_ok(search(ix, &q, &c) == 0, "parties: the next day does not");
        r.call.start_wall_us = s0 + day + 5;
        tap_ok(stor_index_put(ix, &r) == SR_OK && search(ix, &q, &c) == 1,
               "parties: a start moved to the next day moves erin's (and bob's) with it");
        q.party = all[1];
        tap_ok(search(ix, &q, &c) == 1, "parties: bob too");
        r.call.start_wall_us = s0;
        stor_index_put(ix, &r);
    }
    tap_ok(stor_index_delete(ix, r.id) == SR_OK &&
               found_by(ix, "erin", STOR_PARTY_PREFIX, r.id) == 0 &&
               found_by(ix, all[1], STOR_PARTY_EXACT, r.id) == 0,
           "parties: deleting the row takes its parties");
    tap_ok(stor_index_put(ix, &r) == SR_OK && stor_index_get(ix, r.id, &got) == SR_OK &&
               got.n_parties == 2 && found_by(ix, "bob", STOR_PARTY_PREFIX, r.id) == 0,
           "parties: a row put again after deletion starts over");
    stor_index_delete(ix, r.id);
}

/* Dual recording: two recorders' rows of one call (docs/storage.md). */
static void test_copies(struct stor_index *ix)
{
    struct stor_record a, b, got;
    struct stor_query q = { .call_id = "dual@host" };
    struct collect c;

    mkrec(&a, 90);
    mkrec(&b, 91);
    snprintf(a.call.call_id, sizeof(a.call.call_id), "dual@host");
    b.call = a.call;
    snprintf(a.recorder, sizeof(a.recorder), "rec-a");
    snprintf(b.recorder, sizeof(b.recorder), "rec-b");
    a.state = STOR_STATE_COMPLETE;
    a.end_wall_us = a.call.start_wall_us + 60000000;
    b.state = STOR_STATE_RECORDING;
    b.end_wall_us = 0;
    b.packets = a.packets + 100; /* more packets, but not sealed whole */
    tap_ok(stor_index_put(ix, &a) == SR_OK && stor_index_put(ix, &b) == SR_OK &&
               stor_index_get(ix, b.id, &got) == SR_OK && strcmp(got.recorder, "rec-b") == 0,
           "copies: each row keeps its recorder");
    got.recorder[0] = 0;
    got.state = STOR_STATE_RECOVERED;
    tap_ok(stor_index_put(ix, &got) == SR_OK && stor_index_get(ix, b.id, &got) == SR_OK &&
               strcmp(got.recorder, "rec-b") == 0 && got.state == STOR_STATE_RECOVERED,
           "copies: a later row without a recorder (recovery) keeps the stored one");
    tap_ok(search(ix, &q, &c) == 2, "copies: both found by Call-ID (got %zu)", c.n);
    tap_ok(stor_copy_of(&a, &got) && stor_copy_of(&got, &a) && !stor_copy_of(&a, &a),
           "copies: linked by Call-ID across recorders, not to themselves");
    tap_ok(stor_copy_better(&got, &a) && !stor_copy_better(&a, &got),
           "copies: the complete one is better than a recovered one with more packets");
    got.state = STOR_STATE_COMPLETE;
    tap_ok(stor_copy_better(&a, &got) && !stor_copy_better(&got, &a),
           "copies: of two complete ones, more packets wins");
    b = got;
    b.recorder[0] = 0;
    tap_ok(!stor_copy_of(&a, &b), "copies: a row without a recorder links to nothing");
    b = got;
    b.end_wall_us = b.call.start_wall_us - 1000; /* recovered before its first data */
    tap_ok(stor_copy_of(&a, &b) && stor_copy_of(&b, &a),
           "copies: a copy ended before its start still links (it spans its start)");
    b.call.start_wall_us = a.end_wall_us + 1;
    b.end_wall_us = b.call.start_wall_us + 1000;
    tap_ok(!stor_copy_of(&a, &b), "copies: the same Call-ID later (not overlapping) is another call");
    tap_ok(stor_index_delete(ix, a.id) == SR_OK && stor_index_delete(ix, got.id) == SR_OK,
           "copies: deleted");
}

/* SQL straight to the PostgreSQL database, behind the index's back. */
static bool pg_exec(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

    PQclear(r);
    PQfinish(c);
    return ok;
}

/* PostgreSQL: a schema newer than the build is refused, not touched; the
 * read-only mode checks the version without writing; the password never
 * reaches a log line. */
static void test_pg_schema(const char *conninfo)
{
    struct stor_index *ix = NULL;
    char desc[512], with_pw[1024];

    tap_ok(pg_exec(conninfo, "UPDATE schema_version SET version = 99"), "pg: schema set to 99");
    tap_ok(stor_index_open(&ix, conninfo) == SR_EUNSUPP && !ix, "pg: a newer schema: SR_EUNSUPP");
    tap_ok(pg_exec(conninfo, "UPDATE schema_version SET version = 8"), "pg: schema back to 8");
    tap_ok(stor_index_open_mode(&ix, conninfo, STOR_INDEX_READ_ONLY) == SR_OK, "pg: read-only opens");
    tap_ok(ix && stor_index_check_write(ix) == SR_EIO, "pg: read-only is not writable");
    stor_index_close(ix);
    ix = NULL;
    tap_ok(pg_exec(conninfo, "DROP TABLE schema_version; DROP TABLE parties; DROP TABLE recordings"), "pg: dropped");
    tap_ok(stor_index_open_mode(&ix, conninfo, STOR_INDEX_EXISTING) == SR_ENOTFOUND && !ix,
           "pg: EXISTING on an empty database: SR_ENOTFOUND, nothing created");
    tap_ok(stor_index_open(&ix, conninfo) == SR_OK && stor_index_check_write(ix) == SR_OK,
           "pg: CREATE builds the schema again");
    stor_index_close(ix);
    snprintf(with_pw, sizeof(with_pw), "%s password=s3cr3t-pw", conninfo);
    stor_index_describe(with_pw, desc, sizeof(desc));
    tap_ok(!strstr(desc, "s3cr3t") && strstr(desc, "dbname="), "pg: describe drops the password: %s",
           desc);
    stor_index_describe("postgresql://u:s3cr3t@db.example/idx", desc, sizeof(desc));
    tap_ok(!strstr(desc, "s3cr3t") && strstr(desc, "db.example"), "pg: and from a URI: %s", desc);
    tap_ok(!stor_index_is_file("postgresql://x/y") && !stor_index_is_file("host=/tmp dbname=x") &&
               stor_index_is_file("/var/lib/srtprec/index.sqlite") && stor_index_is_file("index.db"),
           "specs: URI and conninfo are PostgreSQL, paths are SQLite");
}

int main(void)
{
    const char *pg = getenv("SRTPREC_TEST_INDEX");
    char dir[4096], db[8192];
    struct stor_index *ix = NULL;
    struct stor_record rec, got;
    struct collect c;
    struct stor_query q;
    enum { N = 20 };
    bool ok = true;

    if (!tap_ok(testcert_tmpdir(dir), "temp dir"))
        return tap_done();
    if (pg && pg[0])
        snprintf(db, sizeof(db), "%s", pg);
    else
        snprintf(db, sizeof(db), "%s/index.db", dir);
    tap_ok(stor_index_open(&ix, db) == SR_OK, "open creates the index");
    /* Insert out of order: the index must sort. */
    for (unsigned i = 0; i < N; i++) {
        mkrec(&rec, (i * 7) % N);
        ok = ok && stor_index_put(ix, &rec) == SR_OK;
    }
    tap_ok(ok, "put %d records", N);
    {
        /* i % 3 == 0 are recording (7 of 20), the rest complete; bytes 1000 + i. */
        struct stor_index_stats st;
        tap_ok(stor_index_stats(ix, &st) == SR_OK && st.recordings[STOR_STATE_RECORDING] == 7 &&
                   st.recordings[STOR_STATE_COMPLETE] == 13 &&
                   st.recordings[STOR_STATE_DAMAGED] == 0 && st.bytes == 20000u + 190u &&
                   st.held == 0,
               "stats count recordings by state and sum their bytes");
    }

    mkrec(&rec, 4);
    tap_ok(stor_index_get(ix, rec.id, &got) == SR_OK && got.n_parties == 2 &&
               !strcmp(got.parties[0].aor, rec.call.local_aor) &&
               !strcmp(got.parties[0].role, "local") &&
               !strcmp(got.parties[1].aor, rec.call.remote_aor) &&
               !strcmp(got.parties[1].role, "remote"),
           "get lists the row's two parties");
    memset(got.parties, 0, sizeof(got.parties));
    got.n_parties = 0;
    tap_ok(memcmp(&rec, &got, sizeof(rec)) == 0, "get returns the record field for field");
    tap_ok(stor_index_get(ix, "nope", &got) == SR_ENOTFOUND, "unknown id: SR_ENOTFOUND");

    rec.state = STOR_STATE_DAMAGED;
    rec.bytes = 99;
    tap_ok(stor_index_put(ix, &rec) == SR_OK && stor_index_get(ix, rec.id, &got) == SR_OK &&
               got.state == STOR_STATE_DAMAGED && got.bytes == 99,
           "put replaces by id");

    memset(&q, 0, sizeof(q));
    tap_ok(search(ix, &q, &c) == N, "open query returns all %d", N);
    ok = true;
    for (unsigned i = 0; i < N && c.n == N; i++) {
        mkrec(&rec, i);
        ok = ok && strcmp(c.ids[i], rec.id) == 0;
    }
    tap_ok(ok, "ordered by (start, id)");

    q.from_wall_us = 1700000000000000ull + 3 * 1000000ull;
    q.to_wall_us = 1700000000000000ull + 5 * 1000000ull;
    tap_ok(search(ix, &q, &c) == 6, "time range [3 s, 5 s] gives 6 (got %zu)", c.n);

    memset(&q, 0, sizeof(q));
    q.party = "sip:agent1@cc.example";
    tap_ok(search(ix, &q, &c) == 7, "party as local AOR: 7 (got %zu)", c.n);
    q.party = "sip:cust13@example.org";
    tap_ok(search(ix, &q, &c) == 1, "party as remote AOR: 1");
    q.party = "sip:agent1@cc.example' OR '1'='1";
    tap_ok(search(ix, &q, &c) == 0, "SQL in a filter is only a value");

    memset(&q, 0, sizeof(q));
    q.call_id = "call-2@host";
    tap_ok(search(ix, &q, &c) == 4, "call-id: 4 (got %zu)", c.n);

    /* Prefix and substring through the trigram table. */
    memset(&q, 0, sizeof(q));
    q.party_match = STOR_PARTY_PREFIX;
    q.party = "agent1";
    tap_ok(search(ix, &q, &c) == 7, "prefix 'agent1' (scheme dropped): 7 (got %zu)", c.n);
    q.party = "SIP:Agent1@";
    tap_ok(search(ix, &q, &c) == 7, "prefix with scheme, other case: 7 (got %zu)", c.n);
    q.party = "cc.example";
    tap_ok(search(ix, &q, &c) == 0, "a substring is no prefix (got %zu)", c.n);
    q.party_match = STOR_PARTY_SUBSTRING;
    tap_ok(search(ix, &q, &c) == N, "substring 'cc.example': all %d (got %zu)", N, c.n);
    q.party = "ust13@";
    tap_ok(search(ix, &q, &c) == 1 && strcmp(c.ids[0], "00000000000000000000000000abc00d") == 0,
           "substring 'ust13@': the one call (got %zu)", c.n);
    q.party = "cust1";
    q.newest_first = true;
    q.limit = 3;
    tap_ok(search(ix, &q, &c) == 3 && strcmp(c.ids[0], "00000000000000000000000000abc013") == 0 &&
               strcmp(c.ids[2], "00000000000000000000000000abc011") == 0,
           "substring, newest first, limit 3: 19, 18, 17");
    q.party = "t1'*";
    q.newest_first = false;
    q.limit = 0;
    tap_ok(search(ix, &q, &c) == 0, "GLOB and SQL characters in a party are literal");
    q.party = "";
    tap_ok(stor_index_search(ix, &q, collect_fn, &c) == SR_EINVAL, "empty pattern: SR_EINVAL");
    /* The parties follow updates (triggers): a new AOR is added, the old
     * one stays (a call is found by everyone it ever had, schema 6). */
    mkrec(&rec, 13);
    snprintf(rec.call.remote_aor, sizeof(rec.call.remote_aor), "sips:Moved99@example.org");
    q.party = "moved99";
    tap_ok(stor_index_put(ix, &rec) == SR_OK && search(ix, &q, &c) == 1,
           "a changed AOR is found by its new name");
    q.party = "ust13@";
    tap_ok(search(ix, &q, &c) == 1, "and still by its old one");
    mkrec(&rec, 13);
    tap_ok(stor_index_put(ix, &rec) == SR_OK && search(ix, &q, &c) == 1, "changed back");

    /* The legal hold's record. */
    {
        struct stor_hold h = { .case_id = "CASE-7", .reason = "litigation", .by = "lee",
                               .at_wall_us = 1700000123000000ull };
        mkrec(&rec, 5);
        tap_ok(stor_index_hold(ix, rec.id, &h) == SR_OK && stor_index_get(ix, rec.id, &got) == SR_OK &&
                   got.hold && strcmp(got.hold_info.case_id, "CASE-7") == 0 &&
                   strcmp(got.hold_info.reason, "litigation") == 0 &&
                   strcmp(got.hold_info.by, "lee") == 0 &&
                   got.hold_info.at_wall_us == h.at_wall_us,
               "a hold keeps case, reason, who and when");
        tap_ok(stor_index_put(ix, &rec) == SR_OK && stor_index_get(ix, rec.id, &got) == SR_OK &&
                   got.hold && strcmp(got.hold_info.case_id, "CASE-7") == 0,
               "the recorder's put keeps the hold record");
        tap_ok(stor_index_hold(ix, rec.id, NULL) == SR_OK && stor_index_get(ix, rec.id, &got) == SR_OK &&
                   !got.hold && !got.hold_info.case_id[0] && got.hold_info.at_wall_us == 0,
               "clearing the hold clears its record");
        tap_ok(stor_index_hold(ix, "nope", &h) == SR_ENOTFOUND, "hold on an unknown id");

        /* Retention's claim and the hold are ordered by the index. */
        tap_ok(stor_index_hold(ix, rec.id, &h) == SR_OK &&
                   stor_index_claim_delete(ix, rec.id) == SR_ESTATE &&
                   stor_index_get(ix, rec.id, &got) == SR_OK && got.state == STOR_STATE_COMPLETE,
               "a held row cannot be claimed for deletion (SR_ESTATE, state unchanged)");
        tap_ok(stor_index_hold(ix, rec.id, NULL) == SR_OK &&
                   stor_index_claim_delete(ix, rec.id) == SR_OK &&
                   stor_index_get(ix, rec.id, &got) == SR_OK && got.state == STOR_STATE_DELETING &&
                   strcmp(stor_state_name(got.state), "deleting") == 0,
               "an unheld sealed row is claimed: state deleting");
        tap_ok(stor_index_hold(ix, rec.id, &h) == SR_ESTATE && stor_index_get(ix, rec.id, &got) == SR_OK &&
                   !got.hold,
               "a hold on a claimed row is refused (SR_ESTATE), not silently lost");
        tap_ok(stor_index_claim_delete(ix, rec.id) == SR_OK && stor_index_hold(ix, rec.id, NULL) == SR_OK,
               "a claimed row is claimed again (a crashed run resumes); clearing no hold is fine");
        tap_ok(stor_index_put(ix, &rec) == SR_OK && stor_index_get(ix, rec.id, &got) == SR_OK &&
                   got.state == STOR_STATE_COMPLETE && stor_index_hold(ix, rec.id, &h) == SR_OK &&
                   stor_index_hold(ix, rec.id, NULL) == SR_OK,
               "the claim given back by a put: the row can be held again");
        mkrec(&rec, 6);
        tap_ok(rec.state == STOR_STATE_RECORDING && stor_index_claim_delete(ix, rec.id) == SR_ESTATE &&
                   stor_index_claim_delete(ix, "nope") == SR_ENOTFOUND,
               "a row still recording is not claimed; an unknown id is SR_ENOTFOUND");
    }

    /* The object store's location: set by the uploader, kept by put. */
    {
        mkrec(&rec, 6);
        tap_ok(stor_index_get(ix, rec.id, &got) == SR_OK && got.location[0] == '\0',
               "a new row has no store location");
        tap_ok(stor_index_set_location(ix, rec.id, "s3://srtprec/a/b.srec") == SR_OK &&
                   stor_index_get(ix, rec.id, &got) == SR_OK &&
                   strcmp(got.location, "s3://srtprec/a/b.srec") == 0,
               "set_location stores s3://bucket/key");
        tap_ok(stor_index_put(ix, &rec) == SR_OK && stor_index_get(ix, rec.id, &got) == SR_OK &&
                   strcmp(got.location, "s3://srtprec/a/b.srec") == 0,
               "the recorder's put keeps the location");
        tap_ok(stor_index_set_location(ix, "nope", "s3://x/y") == SR_ENOTFOUND,
               "set_location on an unknown id");
    }

    /* Cursor pagination: pages of 3 cover everything once, in order. */
    {
        char all[N][STOR_ID_HEX], after[STOR_ID_HEX] = "";
        size_t n = 0, pages = 0;
        memset(&q, 0, sizeof(q));
        q.limit = 3;
        for (;;) {
            q.after_id = after[0] ? after : NULL;
            if (search(ix, &q, &c) == 0 || c.n == (size_t)-1 || pages++ > N)
                break;
            for (size_t i = 0; i < c.n && n < N; i++)
                snprintf(all[n++], STOR_ID_HEX, "%s", c.ids[i]);
            snprintf(after, sizeof(after), "%s", c.ids[c.n - 1]);
        }
        ok = n == N;
        for (unsigned i = 0; ok && i < N; i++) {
            mkrec(&rec, i);
            ok = strcmp(all[i], rec.id) == 0;
        }
        tap_ok(ok && pages == 7, "cursor pages of 3: %zu records in %zu pages", n, pages);
    }
    /* Newest first: pages of 3 cover everything once, in reverse order. */
    {
        char all[N][STOR_ID_HEX], after[STOR_ID_HEX] = "";
        size_t n = 0, pages = 0;
        memset(&q, 0, sizeof(q));
        q.limit = 3;
        q.newest_first = true;
        for (;;) {
            q.after_id = after[0] ? after : NULL;
            if (search(ix, &q, &c) == 0 || c.n == (size_t)-1 || pages++ > N)
                break;
            for (size_t i = 0; i < c.n && n < N; i++)
                snprintf(all[n++], STOR_ID_HEX, "%s", c.ids[i]);
            snprintf(after, sizeof(after), "%s", c.ids[c.n - 1]);
        }
        ok = n == N;
        for (unsigned i = 0; ok && i < N; i++) {
            mkrec(&rec, N - 1 - i);
            ok = strcmp(all[i], rec.id) == 0;
        }
        tap_ok(ok && pages == 7, "newest first, cursor pages of 3: %zu records in %zu pages, reversed",
               n, pages);
    }
    memset(&q, 0, sizeof(q));
    q.after_id = "unknown";
    tap_ok(search(ix, &q, &c) == 0, "unknown cursor gives nothing");
    memset(&q, 0, sizeof(q));
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    tap_ok(stor_index_search(ix, &q, collect_fn, &c) == SR_OK && c.n == 2, "callback stops the search");

    /* A second handle (the API process) sees the recorder's writes. */
    {
        struct stor_index *ix2 = NULL;
        tap_ok(stor_index_open(&ix2, db) == SR_OK, "second handle opens concurrently");
        mkrec(&rec, 40);
        tap_ok(stor_index_put(ix, &rec) == SR_OK && ix2 &&
                   stor_index_get(ix2, rec.id, &got) == SR_OK,
               "write on one handle is visible on the other");
        stor_index_close(ix2);
    }
    stor_index_close(ix);
    ix = NULL;
    tap_ok(stor_index_open(&ix, db) == SR_OK, "reopen");
    memset(&q, 0, sizeof(q));
    tap_ok(search(ix, &q, &c) == N + 1, "records survive reopen");
    test_copies(ix);
    test_parties(ix);
    stor_index_close(ix);
    stor_index_close(NULL);

    if (pg && pg[0]) {
        test_pg_schema(pg);
        testcert_rmdir(dir);
        return tap_done();
    }
    {
        char junk[8192];
        snprintf(junk, sizeof(junk), "%s/junk.db", dir);
        testcert_spit(junk, "this is not a database, not at all, really not", 47);
        ix = NULL;
        tap_ok(stor_index_open(&ix, junk) != SR_OK && !ix, "a non-database file is refused");
    }
    test_migration(dir, 1);
    test_migration(dir, 2);
    testcert_rmdir(dir);
    return tap_done();
}
