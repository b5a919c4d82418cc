/** @file test_index_conc.c  Many processes writing one index at once.
 *
 * P writer processes open the same index together (a fresh one: the schema
 * is set up once), each puts its own rows and upserts the same shared rows
 * again and again; writer 0 sets a legal hold on the shared rows and
 * writer 1 seals them with a hash while the others keep writing rows
 * without one.  Afterwards: every row exactly once, the last state each
 * writer wrote, no hold and no hash lost.  SQLite by default, PostgreSQL
 * with SRTPREC_TEST_INDEX (tests/lib/pg_run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stor.h"
#include "tap.h"
#include "testcert.h"

enum { P = 6, OWN = 150, SHARED = 10, ROUNDS = 15 };

static void mkrec(struct stor_record *r, unsigned writer, unsigned i, bool shared)
{
    memset(r, 0, sizeof(*r));
    if (shared)
        snprintf(r->id, sizeof(r->id), "5%031x", i);
    else
        snprintf(r->id, sizeof(r->id), "%02x%030x", writer, i);
    snprintf(r->call.call_id, sizeof(r->call.call_id), "c%u-%u", writer, i);
    snprintf(r->call.local_aor, sizeof(r->call.local_aor), "sip:w%u@cc.example", writer);
    snprintf(r->call.remote_aor, sizeof(r->call.remote_aor), "sip:%u@example.org", i);
    snprintf(r->call.source, sizeof(r->call.source), "ka%u", writer);
    r->call.start_wall_us = 1700000000000000ull + i * 1000000ull;
    r->state = STOR_STATE_RECORDING;
    r->packets = writer;
    r->n_streams = 2;
    snprintf(r->path, sizeof(r->path), "/a/%s.srec", r->id);
}

/* Retried on SR_EAGAIN as the recorder does (bounded). */
static bool put(struct stor_index *ix, const struct stor_record *r)
{
    for (int i = 0; i < 100; i++) {
        enum sr_err err = stor_index_put(ix, r);
        if (err != SR_EAGAIN)
            return err == SR_OK;
        usleep(10000);
    }
    return false;
}

static int writer(const char *spec, unsigned w)
{
    struct stor_index *ix = NULL;
    struct stor_record r;
    bool ok = true;

    for (int i = 0; i < 50 && stor_index_open(&ix, spec) == SR_EAGAIN; i++)
        usleep(20000);
    if (!ix)
        return 2;
    for (unsigned round = 0; round < ROUNDS && ok; round++) {
        for (unsigned i = round * (OWN / ROUNDS); i < (round + 1) * (OWN / ROUNDS) && ok; i++) {
            mkrec(&r, w, i, false);
            ok = put(ix, &r);
            r.state = STOR_STATE_COMPLETE;
            r.bytes = 1000 + i;
            ok = ok && put(ix, &r);
        }
        for (unsigned i = 0; i < SHARED && ok; i++) {
            mkrec(&r, w, i, true);
            if (w == 1 && round == ROUNDS / 2)
                snprintf(r.sha256, sizeof(r.sha256), "%064x", i + 1);
            ok = put(ix, &r);
            if (w == 0 && round == 0)
                ok = ok && stor_index_set_hold(ix, r.id, true) == SR_OK;
        }
    }
    stor_index_close(ix);
    return ok ? 0 : 1;
}

struct tally {
    size_t rows, own_complete, shared, held, hashed;
    char last[STOR_ID_HEX];
    bool ordered;
};

static bool count_fn(const struct stor_record *rec, void *arg)
{
    struct tally *t = arg;

    t->rows++;
    t->ordered = t->ordered && strcmp(rec->id, t->last) != 0;
    snprintf(t->last, sizeof(t->last), "%s", rec->id);
    if (rec->id[0] == '5') {
        t->shared++;
        t->held += rec->hold;
        t->hashed += rec->sha256[0] != 0;
    } else {
        t->own_complete += rec->state == STOR_STATE_COMPLETE && rec->bytes >= 1000;
    }
    return true;
}

int main(void)
{
    const char *pg = getenv("SRTPREC_TEST_INDEX");
    char dir[4096], spec[8192];
    struct stor_index *ix = NULL;
    struct stor_index_stats st;
    struct stor_query q;
    struct tally t = { .ordered = true };
    pid_t pids[P];
    int bad = 0;

    if (!tap_ok(testcert_tmpdir(dir), "temp dir"))
        return tap_done();
    if (pg && pg[0])
        snprintf(spec, sizeof(spec), "%s", pg);
    else
        snprintf(spec, sizeof(spec), "%s/index.db", dir);
    for (unsigned w = 0; w < P; w++) {
        pids[w] = fork();
        if (pids[w] == 0)
            _exit(writer(spec, w));
    }
    for (unsigned w = 0; w < P; w++) {
        int status = 0;
        if (pids[w] < 0 || waitpid(pids[w], &status, 0) != pids[w] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad++;
    }
    tap_ok(bad == 0, "%d writers opened the new index together and wrote without error", P);
    tap_ok(stor_index_open(&ix, spec) == SR_OK, "index opens");
    memset(&q, 0, sizeof(q));
    q.limit = 10000;
    tap_ok(ix && stor_index_search(ix, &q, count_fn, &t) == SR_OK, "search all");
    tap_ok(t.rows == P * OWN + SHARED, "every row once: %zu (want %d)", t.rows, P * OWN + SHARED);
    tap_ok(t.own_complete == P * OWN, "every own row in its last state: %zu", t.own_complete);
    tap_ok(t.shared == SHARED && t.ordered, "shared rows not duplicated: %zu", t.shared);
    tap_ok(t.held == SHARED, "no hold lost to a concurrent upsert: %zu of %d", t.held, SHARED);
    tap_ok(t.hashed == SHARED, "no hash lost to a later row without one: %zu", t.hashed);
    tap_ok(ix && stor_index_stats(ix, &st) == SR_OK && st.held == SHARED &&
               st.recordings[STOR_STATE_COMPLETE] == P * OWN,
           "stats agree");
    stor_index_close(ix);
    testcert_rmdir(dir);
    return tap_done();
}
