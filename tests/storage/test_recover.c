/** @file test_recover.c  Crash recovery, full disk, retention with legal hold, page checks. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chainlog.h"
#include "index_priv.h"
#include "stor.h"
#include "stor_priv.h"
#include "tap.h"
#include "testcert.h"

/* Paths here are a short temporary directory plus a file name. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static char dir[4096], crt[4096], key[4096];

struct ctr {
    uint64_t packets;
};

static void call_info(struct stor_call_info *c, const char *call_id, uint64_t start)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->call_id, sizeof(c->call_id), "%s", call_id);
    snprintf(c->local_aor, sizeof(c->local_aor), "sip:alice@example.net");
    snprintf(c->remote_aor, sizeof(c->remote_aor), "sip:bob@example.org");
    c->start_wall_us = start;
}

static enum sr_err put_pkts(struct stor_writer *w, unsigned idx, unsigned from, unsigned n,
                            uint64_t *accepted)
{
    uint8_t pay[160];
    enum sr_err err = SR_OK;

    for (unsigned i = from; i < from + n; i++) {
        struct stor_pkt p = { (uint16_t)i, i, (uint64_t)i * 160, 1700000000000000ull + i * 20000u,
                              0, pay, sizeof(pay) };
        memset(pay, (int)(i & 0xff), sizeof(pay));
        err = stor_writer_packet(w, idx, &p);
        if (err)
            return err;
        (*accepted)++;
    }
    return err;
}

static uint64_t count_packets(const char *path, enum sr_err *end)
{
    struct stor_reader *r;
    struct stor_pkt p;
    unsigned idx;
    uint64_t n = 0;

    *end = stor_reader_open(&r, path, crt, key, NULL);
    if (*end)
        return 0;
    while ((*end = stor_reader_next(r, &idx, &p, NULL)) == SR_OK)
        n++;
    stor_reader_close(r);
    return n;
}

static void recover_partial(struct stor_index *ix)
{
    const char *recips[] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 1024, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_stream_info si = { 0x1234, 0, "PCMU", 8000, STOR_DIR_SEND, "a", false };
    struct stor_call_info call;
    struct stor_record rec;
    struct stor_recover_stats st;
    struct stor_writer *w;
    char id[STOR_ID_HEX], partial[4096], final_path[4096], msg[256];
    uint64_t flushed = 0, extra = 0;
    unsigned idx;
    enum sr_err err;
    int fd;

    call_info(&call, "crash@x", 1700000000000000ull);
    tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK, "writer opens");
    stor_writer_add_stream(w, &si, &idx);
    put_pkts(w, idx, 0, 50, &flushed);
    tap_ok(stor_writer_flush(w) == SR_OK, "flush (fdatasync) succeeds");
    put_pkts(w, idx, 50, 3, &extra); /* buffered, never flushed: lost in the crash */
    stor_writer_abandon(w);           /* what kill -9 leaves */
    snprintf(partial, sizeof(partial), "%s/%s.srec.partial", dir, id);
    snprintf(final_path, sizeof(final_path), "%s/%s.srec", dir, id);
    /* A torn chunk: its frame and a few bytes of ciphertext. */
    fd = open(partial, O_WRONLY | O_APPEND | O_CLOEXEC);
    tap_ok(fd >= 0 && write(fd, "\0\0\x01\0\0abcdefgh", 13) == 13, "torn tail appended");
    close(fd);
    tap_ok(count_packets(partial, &err) == 0 || err == SR_EPARSE, "before recovery: truncated");

    /* A stale row: recording, in our directory, no file; and one elsewhere. */
    memset(&rec, 0, sizeof(rec));
    call_info(&rec.call, "stale@x", 1600000000000000ull);
    snprintf(rec.id, sizeof(rec.id), "%032x", 7);
    snprintf(rec.path, sizeof(rec.path), "%s/%s.srec", dir, rec.id);
    stor_index_put(ix, &rec);
    snprintf(rec.id, sizeof(rec.id), "%032x", 8);
    snprintf(rec.path, sizeof(rec.path), "/elsewhere/%s.srec", rec.id);
    stor_index_put(ix, &rec);
    /* A partial with no whole header. */
    snprintf(partial, sizeof(partial), "%s/%032x.srec.partial", dir, 9);
    testcert_spit(partial, "SRTPREC", 7);

    tap_ok(stor_recover(dir, ix, &st) == SR_OK, "recovery runs");
    tap_ok(st.recovered == 1 && st.damaged == 2, "one recovered, two damaged (%zu, %zu)",
           st.recovered, st.damaged);
    snprintf(partial, sizeof(partial), "%s/%s.srec.partial", dir, id);
    tap_ok(access(partial, F_OK) != 0 && access(final_path, F_OK) == 0, "renamed to .srec");
    tap_ok(count_packets(final_path, &err) == flushed && err == SR_ECLOSED,
           "every flushed packet reads back (%llu), the unflushed ones are gone",
           (unsigned long long)flushed);
    tap_ok(stor_verify_msg(final_path, crt, key, msg, sizeof(msg)) == SR_ESTATE &&
               strstr(msg, "recovered") && strstr(msg, "13 torn bytes"),
           "verify: %s", msg);
    /* No row was written at open: the clear header (format 2) gives only the
     * start time; the Call-ID and parties are sealed in it (a reader with
     * the key has them). */
    tap_ok(stor_index_get(ix, id, &rec) == SR_OK && rec.state == STOR_STATE_RECOVERED &&
               rec.call.call_id[0] == 0 && rec.call.local_aor[0] == 0 &&
               rec.call.start_wall_us == 1700000000000000ull,
           "index row created from the clear header: state recovered, start time, no Call-ID");
    {
        struct stor_reader *rd = NULL;
        tap_ok(stor_reader_open(&rd, final_path, crt, key, NULL) == SR_OK &&
                   strcmp(stor_reader_call(rd)->call_id, "crash@x") == 0,
               "the reader opens the sealed Call-ID with the key");
        stor_reader_close(rd);
    }
    snprintf(msg, sizeof(msg), "%032x", 7);
    tap_ok(stor_index_get(ix, msg, &rec) == SR_OK && rec.state == STOR_STATE_DAMAGED,
           "stale row without a file: damaged");
    snprintf(msg, sizeof(msg), "%032x", 8);
    tap_ok(stor_index_get(ix, msg, &rec) == SR_OK && rec.state == STOR_STATE_RECORDING,
           "another directory's row is left alone");
    snprintf(msg, sizeof(msg), "%s/%032x.srec.damaged", dir, 9);
    tap_ok(access(msg, F_OK) == 0, "headerless partial moved aside as .damaged");
    tap_ok(stor_recover(dir, ix, &st) == SR_OK && st.recovered == 0 && st.damaged == 0,
           "a second run finds nothing to do");

    /* The marker's claims are checked: move it one chunk earlier. */
    {
        size_t len;
        unsigned char *f = testcert_slurp(final_path, &len);
        char bad[4096];
        f[len - STOR_RECOVERY_LEN + 15] ^= 1; /* data_chunks */
        snprintf(bad, sizeof(bad), "%s/bad.srec", dir);
        testcert_spit(bad, f, len);
        tap_ok(stor_verify_msg(bad, crt, key, msg, sizeof(msg)) == SR_EPARSE &&
                   strstr(msg, "recovery marker does not match"),
               "a forged marker: %s", msg);
        unlink(bad);
        free(f);
    }
}

/* The recorder writes the row at open (Call-ID, parties): recovery, which
 * cannot read them from a format 2 header without a key, keeps the row's. */
static void recover_keeps_row(struct stor_index *ix)
{
    const char *recips[] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 1024, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_stream_info si = { 0x99, 0, "PCMU", 8000, STOR_DIR_SEND, "a", false };
    struct stor_record *rec = calloc(1, sizeof(*rec));
    struct stor_recover_stats st;
    struct stor_writer *w = NULL;
    uint64_t n = 0;
    unsigned idx;

    call_info(&rec->call, "opened@x", 1700000100000000ull);
    tap_ok(rec && stor_writer_open(&w, &cfg, &rec->call, rec->id) == SR_OK, "writer opens (2)");
    snprintf(rec->path, sizeof(rec->path), "%s/%s.srec", dir, rec->id);
    rec->state = STOR_STATE_RECORDING;
    tap_ok(stor_index_put(ix, rec) == SR_OK, "the row of the open, as the recorder writes it");
    stor_writer_add_stream(w, &si, &idx);
    put_pkts(w, idx, 0, 20, &n);
    stor_writer_flush(w);
    stor_writer_abandon(w);
    tap_ok(stor_recover(dir, ix, &st) == SR_OK && st.recovered == 1, "recovery runs (2)");
    tap_ok(stor_index_get(ix, rec->id, rec) == SR_OK && rec->state == STOR_STATE_RECOVERED &&
               strcmp(rec->call.call_id, "opened@x") == 0 &&
               strcmp(rec->call.local_aor, "sip:alice@example.net") == 0 && rec->n_parties == 2,
           "the recovered row keeps the Call-ID and parties of the open's row");
    free(rec);
}

/* Full disk: a small tmpfs (root only; skipped otherwise). */
static void full_disk(void)
{
    const char *recips[] = { crt };
    char mnt[4096], filler[4096], path[4096];
    struct stor_writer_cfg cfg = { mnt, recips, 1, 4096, 16384, STOR_SYNC_CLOSE, NULL };
    struct stor_stream_info si = { 0x1234, 0, "PCMU", 8000, STOR_DIR_SEND, "a", false };
    struct stor_call_info call;
    struct stor_writer *w;
    char id[STOR_ID_HEX];
    uint64_t accepted = 0;
    unsigned idx, i;
    enum sr_err err = SR_OK, ferr = SR_OK;
    static uint8_t zeros[8192];

    snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
    mkdir(mnt, 0700);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=128k") != 0) {
        for (int k = 0; k < 7; k++)
            tap_skip("cannot mount a tmpfs (not root?)");
        rmdir(mnt);
        return;
    }
    call_info(&call, "full@x", 1700000000000000ull);
    tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK, "writer opens on a small tmpfs");
    stor_writer_add_stream(w, &si, &idx);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    {
        int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        while (write(fd, zeros, sizeof(zeros)) > 0)
            ;
        close(fd);
    }
    for (i = 0; i < 2000 && !ferr; i += 25) {
        err = put_pkts(w, idx, i, 25, &accepted);
        if (err)
            break;
        ferr = stor_writer_flush(w);
    }
    tap_ok(ferr == SR_ENOSPC || err == SR_ENOSPC, "a full disk reports SR_ENOSPC (%s)",
           sr_strerror(ferr ? ferr : err));
    tap_ok(stor_writer_nospace(w), "the writer says the disk is full (alarm)");
    for (; i < 4000 && !err; i += 25)
        err = put_pkts(w, idx, i, 25, &accepted);
    tap_ok(err == SR_ENOSPC && stor_writer_nospace_drops(w) > 0,
           "once max_buffered waits, packets are refused and counted");
    unlink(filler); /* space returns */
    tap_ok(stor_writer_flush(w) == SR_OK && !stor_writer_nospace(w),
           "the next flush writes everything buffered");
    put_pkts(w, idx, 5000, 10, &accepted);
    tap_ok(stor_writer_close(w, NULL, path, sizeof(path)) == SR_OK, "the archive seals");
    tap_ok(count_packets(path, &err) == accepted && err == SR_ECLOSED,
           "every accepted packet is in the archive (%llu)", (unsigned long long)accepted);
    umount(mnt);
    rmdir(mnt);
}

static void retention(void)
{
    struct stor_index *ix;
    struct stor_record rec;
    struct stor_retention_cfg rc = { 0 };
    struct stor_retention_stats st;
    struct chainlog_verdict v;
    char db[4096], logp[4096];
    const uint64_t day = 86400ull * 1000000ull, now = 1800000000000000ull;

    snprintf(db, sizeof(db), "%s/ret.sqlite", dir);
    snprintf(logp, sizeof(logp), "%s/deletions.log", dir);
    tap_ok(stor_index_open(&ix, db) == SR_OK, "retention index opens");
    for (unsigned i = 0; i < 5; i++) {
        memset(&rec, 0, sizeof(rec));
        snprintf(rec.id, sizeof(rec.id), "%032x", i + 100);
        call_info(&rec.call, "ret@x", now - (10 - i) * day); /* 10..6 days old */
        rec.state = i == 4 ? STOR_STATE_RECORDING : STOR_STATE_COMPLETE;
        snprintf(rec.path, sizeof(rec.path), "%s/%s.srec", dir, rec.id);
        if (i != 1)
            testcert_spit(rec.path, "x", 1);
        stor_index_put(ix, &rec);
    }
    snprintf(rec.id, sizeof(rec.id), "%032x", 102);
    tap_ok(stor_index_set_hold(ix, rec.id, true) == SR_OK, "legal hold set");
    tap_ok(stor_index_set_hold(ix, "nope", true) == SR_ENOTFOUND, "hold on an unknown id");
    /* The recorder's end-of-call put must not clear the hold. */
    stor_index_get(ix, rec.id, &rec);
    rec.hold = false;
    stor_index_put(ix, &rec);
    tap_ok(stor_index_get(ix, rec.id, &rec) == SR_OK && rec.hold, "a put keeps the hold");

    /* A row whose path names a file elsewhere (index write access): the
     * file is not deleted, the row is kept and counted. */
    {
        char victim[4200];
        memset(&rec, 0, sizeof(rec));
        snprintf(rec.id, sizeof(rec.id), "%032x", 199);
        call_info(&rec.call, "ret@x", now - 20 * day);
        rec.state = STOR_STATE_COMPLETE;
        snprintf(victim, sizeof(victim), "%s/victim.conf", dir);
        testcert_spit(victim, "precious", 8);
        snprintf(rec.path, sizeof(rec.path), "%s", victim);
        stor_index_put(ix, &rec);
    }
    rc.before_wall_us = now;
    rc.log_path = logp;
    rc.archive_dir = NULL;
    tap_ok(stor_retention(ix, &rc, &st) == SR_EINVAL, "retention without archive_dir: SR_EINVAL");
    rc.archive_dir = dir;
    rc.dry_run = true;
    tap_ok(stor_retention(ix, &rc, &st) == SR_OK && st.deleted == 3 && st.held == 1 &&
               st.path_mismatch == 1 && access(logp, F_OK) != 0,
           "dry run: 3 would go, 1 held, 1 naming another file kept, nothing logged");
    rc.dry_run = false;
    tap_ok(stor_retention(ix, &rc, &st) == SR_OK && st.deleted == 3 && st.held == 1 &&
               st.missing_files == 1,
           "retention deletes 3 (one file already missing), keeps the held one");
    {
        char victim[4200];
        snprintf(victim, sizeof(victim), "%s/victim.conf", dir);
        snprintf(rec.id, sizeof(rec.id), "%032x", 199);
        tap_ok(st.path_mismatch == 1 && access(victim, F_OK) == 0 &&
                   stor_index_get(ix, rec.id, &rec) == SR_OK,
               "a row naming another file: that file stays, the row is kept and counted");
        unlink(victim);
    }
    snprintf(rec.path, sizeof(rec.path), "%s/%032x.srec", dir, 100);
    tap_ok(access(rec.path, F_OK) != 0, "the archive file is gone");
    snprintf(rec.id, sizeof(rec.id), "%032x", 102);
    tap_ok(stor_index_get(ix, rec.id, &rec) == SR_OK, "the held recording stays");
    snprintf(rec.id, sizeof(rec.id), "%032x", 104);
    tap_ok(stor_index_get(ix, rec.id, &rec) == SR_OK, "a recording in progress stays");
    tap_ok(chainlog_verify(logp, "DEL1", NULL, &v) == SR_OK && v.records == 3,
           "the deletion log is an intact chain of 3 records");
    stor_index_close(ix);
}

/* An index whose search, like an API on another connection, puts a legal
 * hold on one row right after the search has read it: the race between
 * retention's search and its unlink.  Everything else goes to the real
 * index. */
struct racing_index {
    struct stor_index base; /* first */
    struct stor_index *real;
    const char *victim;
    bool held;
};

static struct stor_index *racing_real(struct stor_index *ix)
{
    return ((struct racing_index *)ix)->real;
}
static void race_close(struct stor_index *ix) { (void)ix; }
static enum sr_err race_check_write(struct stor_index *ix) { return stor_index_check_write(racing_real(ix)); }
static void race_busy(struct stor_index *ix, unsigned ms) { stor_index_set_busy_ms(racing_real(ix), ms); }
static enum sr_err race_put(struct stor_index *ix, const struct stor_record *r) { return stor_index_put(racing_real(ix), r); }
static enum sr_err race_get(struct stor_index *ix, const char *id, struct stor_record *r)
{
    return stor_index_get(racing_real(ix), id, r);
}
static enum sr_err race_search(struct stor_index *ix, const struct stor_query *q, stor_record_fn *fn,
                               void *arg)
{
    struct racing_index *ri = (struct racing_index *)ix;
    enum sr_err err = stor_index_search(ri->real, q, fn, arg);

    if (!err && !ri->held) {
        static const struct stor_hold h = { .case_id = "RACE-1", .by = "api" };
        ri->held = stor_index_hold(ri->real, ri->victim, &h) == SR_OK;
    }
    return err;
}
static enum sr_err race_hold(struct stor_index *ix, const char *id, const struct stor_hold *h)
{
    return stor_index_hold(racing_real(ix), id, h);
}
static enum sr_err race_claim(struct stor_index *ix, const char *id)
{
    return stor_index_claim_delete(racing_real(ix), id);
}
static enum sr_err race_del(struct stor_index *ix, const char *id) { return stor_index_delete(racing_real(ix), id); }
static enum sr_err race_stats(struct stor_index *ix, struct stor_index_stats *st)
{
    return stor_index_stats(racing_real(ix), st);
}
static const struct stor_index_ops racing_ops = {
    .close = race_close, .check_write = race_check_write, .set_busy_ms = race_busy,
    .put = race_put,     .get = race_get,                 .search = race_search,
    .hold = race_hold,   .claim = race_claim,             .del = race_del,
    .stats = race_stats,
};

/* A hold set between retention's search and its deletion keeps the
 * recording (the claim fails): the known race, closed. */
static void retention_race(void)
{
    struct racing_index ri = { .base = { &racing_ops } };
    struct stor_retention_cfg rc = { 0 };
    struct stor_retention_stats st;
    struct stor_record rec;
    struct chainlog_verdict v;
    char db[4096], logp[4096], ids[2][STOR_ID_HEX], files[2][4200];
    const uint64_t day = 86400ull * 1000000ull, now = 1800000000000000ull;

    snprintf(db, sizeof(db), "%s/race.sqlite", dir);
    snprintf(logp, sizeof(logp), "%s/race-deletions.log", dir);
    tap_ok(stor_index_open(&ri.real, db) == SR_OK, "race: index opens");
    for (unsigned i = 0; i < 2; i++) {
        memset(&rec, 0, sizeof(rec));
        snprintf(rec.id, sizeof(rec.id), "%032x", i + 300);
        call_info(&rec.call, "race@x", now - (5 - i) * day);
        rec.state = STOR_STATE_COMPLETE;
        snprintf(rec.path, sizeof(rec.path), "%s/%s.srec", dir, rec.id);
        testcert_spit(rec.path, "x", 1);
        stor_index_put(ri.real, &rec);
        snprintf(ids[i], sizeof(ids[i]), "%s", rec.id);
        snprintf(files[i], sizeof(files[i]), "%s", rec.path);
    }
    ri.victim = ids[1];
    rc.before_wall_us = now;
    rc.log_path = logp;
    rc.archive_dir = dir;
    tap_ok(stor_retention(&ri.base, &rc, &st) == SR_OK && ri.held, "race: retention runs; the hold "
           "came after its search");
    tap_ok(st.deleted == 1 && st.held == 1 && st.claim_lost == 1,
           "race: one deleted, the one held in between kept and counted (claim_lost)");
    tap_ok(access(files[1], F_OK) == 0 && stor_index_get(ri.real, ids[1], &rec) == SR_OK && rec.hold &&
               rec.state == STOR_STATE_COMPLETE,
           "race: the held recording's file and row stay, held, state unchanged");
    tap_ok(access(files[0], F_OK) != 0 && stor_index_get(ri.real, ids[0], &rec) == SR_ENOTFOUND,
           "race: the other one is gone");
    tap_ok(chainlog_verify(logp, "DEL1", NULL, &v) == SR_OK && v.records == 1,
           "race: one deletion record, none for the held one");
    stor_index_close(ri.real);
}

/* A store at the edge: records what retention asked it to delete. */
struct fake_store {
    char deleted[8][STOR_LOCATION_MAX];
    size_t n;
    enum sr_err fail; /* answer this once, then succeed */
};

static enum sr_err fake_delete(void *arg, const char *location, char *why, size_t whylen)
{
    struct fake_store *fs = arg;

    if (fs->fail) {
        enum sr_err e = fs->fail;
        fs->fail = SR_OK;
        snprintf(why, whylen, "store unreachable (fake)");
        return e;
    }
    if (fs->n < 8)
        snprintf(fs->deleted[fs->n++], sizeof(fs->deleted[0]), "%s", location);
    return SR_OK;
}

/* Rows whose archive is in the object store: the store copy goes with the
 * row; a location naming another object is refused; without a deleter the
 * row is kept; a store that fails leaves the row claimed for the next run. */
static void retention_store(void)
{
    struct stor_index *ix;
    struct stor_retention_cfg rc = { 0 };
    struct stor_retention_stats st;
    struct stor_record rec;
    struct fake_store fs = { .n = 0 };
    char db[4096], logp[4096], ids[3][STOR_ID_HEX], loc[STOR_LOCATION_MAX];
    const uint64_t day = 86400ull * 1000000ull, now = 1800000000000000ull;

    snprintf(db, sizeof(db), "%s/store.sqlite", dir);
    snprintf(logp, sizeof(logp), "%s/store-deletions.log", dir);
    tap_ok(stor_index_open(&ix, db) == SR_OK, "store: index opens");
    for (unsigned i = 0; i < 3; i++) {
        memset(&rec, 0, sizeof(rec));
        snprintf(rec.id, sizeof(rec.id), "%032x", i + 400);
        call_info(&rec.call, "store@x", now - (5 - i) * day);
        rec.state = STOR_STATE_COMPLETE;
        snprintf(rec.path, sizeof(rec.path), "%s/%s.srec", dir, rec.id);
        if (i == 0)
            testcert_spit(rec.path, "x", 1); /* a local copy kept (keep-local) */
        stor_index_put(ix, &rec);
        snprintf(ids[i], sizeof(ids[i]), "%s", rec.id);
        /* Row 2 names row 0's object: an index write aiming a deletion. */
        snprintf(loc, sizeof(loc), "s3://srtprec/site-a/%s.srec", i == 2 ? ids[0] : rec.id);
        stor_index_set_location(ix, rec.id, loc);
    }
    rc.before_wall_us = now;
    rc.log_path = logp;
    rc.archive_dir = dir;
    rc.recorder = "rec-b"; /* the rows are another recorder's (""): passed over */
    tap_ok(stor_retention(ix, &rc, &st) == SR_OK && st.deleted == 0 && st.store_kept == 0 &&
               st.path_mismatch == 0 && st.held == 0,
           "store: --recorder passes other recorders' rows over without a word");
    rc.recorder = NULL;
    tap_ok(stor_retention(ix, &rc, &st) == SR_OK && st.deleted == 0 && st.store_kept == 2 &&
               st.path_mismatch == 1,
           "store: without a store deleter rows with a store copy are kept (2), the foreign "
           "location refused (1)");
    rc.store_delete = fake_delete;
    rc.store_arg = &fs;
    fs.fail = SR_EAGAIN;
    tap_ok(stor_retention(ix, &rc, &st) == SR_EAGAIN && fs.n == 0 &&
               stor_index_get(ix, ids[0], &rec) == SR_OK && rec.state == STOR_STATE_DELETING,
           "store: the store unreachable stops the run; the row stays claimed (deleting)");
    tap_ok(stor_retention(ix, &rc, &st) == SR_OK && st.deleted == 2 && st.store_deleted == 2 &&
               st.path_mismatch == 1 && fs.n == 2,
           "store: the next run deletes both store copies and their rows");
    snprintf(loc, sizeof(loc), "s3://srtprec/site-a/%s.srec", ids[0]);
    tap_ok(strcmp(fs.deleted[0], loc) == 0 && stor_index_get(ix, ids[0], &rec) == SR_ENOTFOUND &&
               access(rec.path, F_OK) != 0,
           "store: the object asked for is the row's own; the local copy and the row are gone");
    snprintf(rec.path, sizeof(rec.path), "%s/%s.srec", dir, ids[0]);
    tap_ok(access(rec.path, F_OK) != 0 && stor_index_get(ix, ids[2], &rec) == SR_OK,
           "store: the local copy is unlinked; the row naming another object stays");
    stor_index_close(ix);
}

/* A store copy S3 Object Lock still retains: the store refuses (SR_ESTATE,
 * "locked until DATE"); the row is kept as it was, counted in
 * store_locked, the deletion log says it was kept, and the run goes on to
 * the next row.  Once the lock has run out the next run deletes it. */
static void retention_locked(void)
{
    struct stor_index *ix;
    struct stor_retention_cfg rc = { 0 };
    struct stor_retention_stats st;
    struct stor_record rec;
    struct fake_store fs = { .fail = SR_ESTATE };
    char db[4096], logp[4096], ids[2][STOR_ID_HEX], loc[STOR_LOCATION_MAX], log[8192] = "";
    const uint64_t day = 86400ull * 1000000ull, now = 1800000000000000ull;
    FILE *fp;

    snprintf(db, sizeof(db), "%s/locked.sqlite", dir);
    snprintf(logp, sizeof(logp), "%s/locked-deletions.log", dir);
    tap_ok(stor_index_open(&ix, db) == SR_OK, "locked: index opens");
    for (unsigned i = 0; i < 2; i++) {
        memset(&rec, 0, sizeof(rec));
        snprintf(rec.id, sizeof(rec.id), "%032x", i + 500);
        call_info(&rec.call, "locked@x", now - (5 - i) * day);
        rec.state = STOR_STATE_COMPLETE;
        snprintf(rec.path, sizeof(rec.path), "%s/%s.srec", dir, rec.id);
        stor_index_put(ix, &rec);
        snprintf(ids[i], sizeof(ids[i]), "%s", rec.id);
        snprintf(loc, sizeof(loc), "s3://srtprec/%s.srec", rec.id);
        stor_index_set_location(ix, rec.id, loc);
    }
    rc.before_wall_us = now;
    rc.log_path = logp;
    rc.archive_dir = dir;
    rc.store_delete = fake_delete;
    rc.store_arg = &fs;
    tap_ok(stor_retention(ix, &rc, &st) == SR_OK && st.store_locked == 1 && st.deleted == 1 &&
               st.store_deleted == 1,
           "locked: the locked copy is kept and counted, the run goes on to delete the other");
    tap_ok(stor_index_get(ix, ids[0], &rec) == SR_OK && rec.state == STOR_STATE_COMPLETE &&
               strstr(rec.location, ids[0]) && stor_index_get(ix, ids[1], &rec) == SR_ENOTFOUND,
           "locked: its row is as it was (not left 'deleting'), location kept");
    if ((fp = fopen(logp, "r"))) {
        size_t n = fread(log, 1, sizeof(log) - 1, fp);
        log[n] = '\0';
        fclose(fp);
    }
    tap_ok(strstr(log, "object-lock") != NULL, "locked: the deletion log records it was kept");
    tap_ok(stor_retention(ix, &rc, &st) == SR_OK && st.store_locked == 0 && st.deleted == 1 &&
               stor_index_get(ix, ids[0], &rec) == SR_ENOTFOUND,
           "locked: once the lock has run out, the next run deletes it");
    stor_index_close(ix);
}

static bool to_buf(const void *data, size_t len, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, data, len) == SR_OK;
}

static void page_checks(void)
{
    const char *recips[] = { crt };
    struct stor_writer_cfg cfg = { dir, recips, 1, 0, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_stream_info si = { 0x1234, 0, "PCMU", 8000, STOR_DIR_SEND, "a", false };
    struct stor_call_info call;
    struct stor_writer *w;
    struct buf ogg;
    char id[STOR_ID_HEX], path[4096];
    uint64_t n = 0;
    size_t pk, off2;
    unsigned idx;
    uint8_t *c;

    call_info(&call, "pages@x", 1700000000000000ull);
    stor_writer_open(&w, &cfg, &call, id);
    stor_writer_add_stream(w, &si, &idx);
    put_pkts(w, idx, 0, 40, &n);
    stor_writer_add_stream(w, &si, &idx); /* a second chain link */
    put_pkts(w, idx, 40, 40, &n);
    stor_writer_close(w, NULL, path, sizeof(path));
    buf_init(&ogg, 1 << 24);
    tap_ok(stor_export_ogg(path, crt, key, to_buf, &ogg, NULL) == SR_OK, "Ogg exported");
    pk = 0;
    tap_ok(stor_ogg_read_mem((const uint8_t *)ogg.p, ogg.len, &pk) == SR_ECLOSED && pk == 80,
           "the exported Ogg reads from memory (80 packets; one link, though the archive chains)");
    if (getenv("STOR_SEED_OUT"))
        testcert_spit(getenv("STOR_SEED_OUT"), ogg.p, ogg.len);
    c = malloc(ogg.len);
    memcpy(c, ogg.p, ogg.len);
    c[ogg.len - 3] ^= 0x10; /* inside the last page: its CRC no longer matches */
    tap_ok(stor_ogg_read_mem(c, ogg.len, &pk) == SR_EPARSE, "a flipped bit fails the CRC check");
    memcpy(c, ogg.p, ogg.len);
    /* Drop the second page: the sequence numbers of the first serial skip. */
    off2 = 27 + c[26];
    for (unsigned i = 0; i < c[26]; i++)
        off2 += c[27 + i];
    tap_ok(stor_ogg_read_mem(c, off2, &pk) == SR_EPARSE, "a stream without its EOS is refused");
    tap_ok(stor_ogg_read_mem(c + off2, ogg.len - off2, &pk) == SR_EPARSE,
           "a page before its BOS is refused");
    tap_ok(stor_ogg_read_mem((const uint8_t *)"OggT", 4, &pk) == SR_EPARSE,
           "bytes without the capture pattern are refused");
    free(c);
    buf_fini(&ogg);
}

int main(void)
{
    struct stor_index *ix;
    char db[4096];

    if (!testcert_tmpdir(dir) || !testcert_make(dir, "aud", TESTCERT_EC, crt, key))
        return 1;
    snprintf(db, sizeof(db), "%s/index.sqlite", dir);
    tap_ok(stor_index_open(&ix, db) == SR_OK, "index opens");
    recover_partial(ix);
    recover_keeps_row(ix);
    stor_index_close(ix);
    full_disk();
    retention();
    retention_race();
    retention_store();
    retention_locked();
    page_checks();
    testcert_rmdir(dir);
    return tap_done();
}
