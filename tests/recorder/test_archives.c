/** @file test_archives.c  The archive registry (recorder/archive.c) against a
 *  real writer and a real SQLite index: rows queued while another
 *  connection holds the write lock and written once it goes; end states;
 *  seals that meet a full disk (root: a tmpfs in a private mount namespace),
 *  retried, or given up with the loss counted.  The archive thread runs on a
 *  fake clock (rd_archives_set_clock): each back-off step (rows 200 ms
 *  doubling, seals 500 ms doubling) is checked one microsecond before and
 *  at its deadline, after rd_archives_settle. */
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include "daemon_priv.h"
#include "stor.h"
#include "tap.h"
#include "testcert.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static char dir[4096], crt[4096], key[4096], db[4096];

static _Atomic uint64_t fake_us = 1000000000ull;

static uint64_t fake_clock(void *arg)
{
    (void)arg;
    return atomic_load(&fake_us);
}

/* Move the fake clock by us and let the archive thread do what is due. */
static void advance(struct rd_archives *r, uint64_t us)
{
    atomic_fetch_add(&fake_us, us);
    rd_archives_settle(r);
}

static struct rd_archives_stats stats(struct rd_archives *r)
{
    struct rd_archives_stats st;

    rd_archives_stats(r, &st);
    return st;
}

static void cfg_init(struct rd_cfg *c, const char *archive_dir)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->archive_dir, sizeof(c->archive_dir), "%s", archive_dir);
    snprintf(c->archive_recipients, sizeof(c->archive_recipients), "%s", crt);
    c->max_streams = 64;
}

/* One call of two streams and n packets each, released with those counts. */
static void one_call(struct rd_archives *r, const char *call_id, unsigned n)
{
    struct stor_call_info ci = { 0 };
    struct stor_stream_info si = { 0x1000, 0, "PCMU", 8000, STOR_DIR_SEND, "a", false };
    struct stor_counts c = { 0 };
    struct rd_arch *a = NULL;
    uint8_t pay[160];
    unsigned idx[2];

    snprintf(ci.call_id, sizeof(ci.call_id), "%s", call_id);
    ci.start_wall_us = 1700000000000000ull;
    if (rd_arch_get(r, "sip:ka@x", &ci, false, &a) != SR_OK)
        return;
    for (int k = 0; k < 2; k++) {
        si.ssrc = 0x1000u + (unsigned)k;
        si.direction = k ? STOR_DIR_RECV : STOR_DIR_SEND;
        rd_arch_add_stream(a, &si, &idx[k]);
    }
    memset(pay, 0x55, sizeof(pay));
    for (unsigned i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            struct stor_pkt p = { (uint16_t)i, i, i * 160ull, 1700000000000000ull + i * 20000ull,
                                  0, pay, sizeof(pay) };
            if (rd_arch_packet(a, idx[k], &p, RD_PKT_RTP) == SR_OK)
                c.packets++;
        }
    rd_arch_release(r, a, &c);
}

static bool count(const struct stor_record *rec, void *arg)
{
    (void)rec;
    (*(size_t *)arg)++;
    return true;
}

static bool first(const struct stor_record *rec, void *arg)
{
    memcpy(arg, rec, sizeof(*rec));
    return false;
}

static size_t rows_in_state(struct stor_index *ix, enum stor_state st)
{
    struct stor_query q = { .by_state = true, .state = st, .limit = 1000 };
    size_t n = 0;

    stor_index_search(ix, &q, count, &n);
    return n;
}

static bool row_of(struct stor_index *ix, const char *call_id, struct stor_record *out)
{
    struct stor_query q = { .call_id = call_id, .limit = 1 };

    out->id[0] = '\0';
    return stor_index_search(ix, &q, first, out) == SR_OK && out->id[0];
}

static void locked_index(void)
{
    struct stor_index *ix = NULL, *look = NULL;
    struct rd_archives *r;
    struct rd_archives_stats st;
    struct stor_record rec;
    struct rd_cfg *cfg = calloc(1, sizeof(*cfg));
    sqlite3 *lock;
    bool seen;

    cfg_init(cfg, dir);
    tap_ok(stor_index_open(&ix, db) == SR_OK && stor_index_open(&look, db) == SR_OK,
           "index opens (the registry's connection and a reader)");
    tap_ok(rd_archives_create(&r, cfg, ix) == SR_OK, "registry created");
    rd_archives_set_clock(r, fake_clock, NULL);
    sqlite3_open(db, &lock);
    tap_ok(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
           "another connection holds the write lock");
    one_call(r, "locked-1@x", 50);
    rd_archives_settle(r);
    st = stats(r);
    tap_ok(st.index_queued_now == 1 && st.index_failures == 1 && st.index_queued == 1,
           "call 1: its start row fails (busy) and is queued; its end row replaces it "
           "(%llu waiting, %llu failures)", (unsigned long long)st.index_queued_now,
           (unsigned long long)st.index_failures);
    one_call(r, "locked-2@x", 30);
    rd_archives_settle(r);
    st = stats(r);
    tap_ok(st.index_queued_now == 2 && st.index_failures == 1,
           "call 2: queued behind it without a try of its own");
    seen = row_of(look, "locked-1@x", &rec);
    tap_ok(!seen && rd_archives_count(r, NULL, NULL) == 0,
           "both archives sealed, no row visible while the lock is held");
    advance(r, 199999);
    tap_ok(stats(r).index_failures == 1, "1 us before 200 ms: no retry");
    advance(r, 1);
    tap_ok(stats(r).index_failures == 2 && stats(r).index_queued_now == 2,
           "at 200 ms: retried, still locked");
    advance(r, 399999);
    tap_ok(stats(r).index_failures == 2, "next retry not before 400 ms more");
    advance(r, 1);
    tap_ok(stats(r).index_failures == 3, "at 400 ms: retried again");
    sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
    advance(r, 799999);
    tap_ok(stats(r).index_queued_now == 2, "the lock is gone, but the queue waits for 800 ms");
    advance(r, 1);
    st = stats(r);
    tap_ok(st.index_queued_now == 0 && st.index_retried == 2 && st.index_failures == 3,
           "at 800 ms the queue is written in one go (%llu retried)",
           (unsigned long long)st.index_retried);
    seen = row_of(look, "locked-1@x", &rec);
    tap_ok(seen && rec.state == STOR_STATE_COMPLETE && rec.packets == 100 && rec.n_streams == 2,
           "call 1: complete, 100 packets, 2 streams (the end row, not the start row)");
    seen = row_of(look, "locked-2@x", &rec);
    tap_ok(seen && rec.state == STOR_STATE_COMPLETE && rec.packets == 60, "call 2: complete, 60 packets");
    /* Cut by shutdown: released after main set stopping. */
    atomic_store(&cfg->stopping, true);
    one_call(r, "cut@x", 10);
    rd_archives_drain(r);
    seen = row_of(look, "cut@x", &rec);
    tap_ok(seen && rec.state == STOR_STATE_SHUTDOWN && rec.packets == 20,
           "released at shutdown: state shutdown, 20 packets");
    {
        size_t streams = 0;
        struct stor_reader *rd = NULL;
        struct stor_pkt p;
        unsigned idx;
        enum sr_err e = stor_reader_open(&rd, rec.path, crt, key, NULL);
        while (!e && (e = stor_reader_next(rd, &idx, &p, NULL)) == SR_OK)
            ;
        if (e == SR_ECLOSED)
            streams = stor_reader_n_streams(rd);
        tap_ok(e == SR_ECLOSED && stor_reader_end(rd) == STOR_END_SHUTDOWN && streams == 2,
               "its archive says cut by shutdown");
        if (rd)
            stor_reader_close(rd);
    }
    rd_archives_destroy(r);
    tap_ok(rows_in_state(look, STOR_STATE_RECORDING) == 0, "no row is left 'recording'");
    sqlite3_close(lock);
    stor_index_close(look);
    stor_index_close(ix);
    free(cfg);
}

static bool small_fs(const char *mnt)
{
    mkdir(mnt, 0700);
    return geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
           mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
           mount("tmpfs", mnt, "tmpfs", 0, "size=256k") == 0;
}

static void fill(const char *path)
{
    static uint8_t zeros[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    while (fd >= 0 && write(fd, zeros, sizeof(zeros)) > 0)
        ;
    if (fd >= 0)
        close(fd);
}

/* A call whose archive opens, takes n/2 packets that are flushed to the
 * disk, then the disk fills, n/2 more come (fewer than the writer's
 * max_buffered) and the call ends. */
static void call_then_full(struct rd_archives *r, const char *call_id, const char *filler,
                           unsigned n)
{
    struct stor_call_info ci = { 0 };
    struct stor_stream_info si = { 0x2000, 0, "PCMU", 8000, STOR_DIR_SEND, "a", false };
    struct stor_counts c = { 0 };
    struct rd_arch *a = NULL;
    uint8_t pay[160] = { 0 };
    unsigned idx;

    snprintf(ci.call_id, sizeof(ci.call_id), "%s", call_id);
    if (rd_arch_get(r, "sip:ka@x", &ci, false, &a) != SR_OK)
        return;
    rd_arch_add_stream(a, &si, &idx);
    rd_archives_settle(r); /* the archive thread opens it (file, header, row) */
    for (unsigned i = 0; i < n; i++) {
        struct stor_pkt p = { (uint16_t)i, i, i * 160ull, 1700000000000000ull + i * 20000ull, 0,
                              pay, sizeof(pay) };
        if (i == n / 2) { /* the first half reaches the disk, then it is full */
            rd_archives_flush(r);
            fill(filler);
        }
        c.packets += rd_arch_packet(a, idx, &p, RD_PKT_RTP) == SR_OK;
    }
    rd_arch_release(r, a, &c);
}

static void full_disk(void)
{
    char mnt[4096], filler[4096];
    struct stor_index *ix;
    struct rd_archives *r;
    struct rd_archives_stats st;
    struct stor_record rec;
    struct rd_cfg *cfg = calloc(1, sizeof(*cfg));
    uint64_t lost[RD_PKT_KINDS];

    snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    if (!small_fs(mnt)) {
        for (int k = 0; k < 10; k++)
            tap_skip("cannot mount a tmpfs in a private namespace (not root?)");
        free(cfg);
        return;
    }
    cfg_init(cfg, mnt);
    stor_index_open(&ix, db);
    tap_ok(rd_archives_create(&r, cfg, ix) == SR_OK, "registry on a 256 KiB tmpfs");
    rd_archives_set_clock(r, fake_clock, NULL);
    call_then_full(r, "full@x", filler, 200);
    rd_archives_settle(r);
    st = stats(r);
    tap_ok(st.seals_waiting == 1 && st.seal_retries == 0,
           "the seal fails on the full disk and waits to be retried");
    advance(r, 499999);
    tap_ok(stats(r).seal_retries == 0, "1 us before 500 ms: no retry");
    advance(r, 1);
    st = stats(r);
    tap_ok(st.seal_retries == 1 && st.seals_waiting == 1, "at 500 ms: retried, still full");
    unlink(filler); /* space returns */
    advance(r, 999999);
    tap_ok(stats(r).seals_waiting == 1, "the next try waits for its 1 s");
    advance(r, 1);
    st = stats(r);
    tap_ok(st.seals_waiting == 0 && st.seal_retries == 2 && st.seal_lost_packets == 0,
           "at 1 s the seal succeeds, nothing lost");
    tap_ok(row_of(ix, "full@x", &rec) && rec.state == STOR_STATE_COMPLETE && rec.packets == 200,
           "its row: complete, all 200 packets");
    unlink(rec.path);

    /* Still full at the drain: given up, counted. */
    call_then_full(r, "given-up@x", filler, 160);
    rd_archives_settle(r);
    tap_ok(stats(r).seals_waiting == 1, "another call on the full disk: its seal waits");
    rd_archives_drain(r);
    rd_archives_stats(r, &st);
    rd_archives_count(r, NULL, lost);
    tap_ok(st.seal_lost_packets >= 80 && lost[RD_PKT_RTP] == st.seal_lost_packets,
           "given up at the drain: %llu packets lost, counted for the metrics",
           (unsigned long long)st.seal_lost_packets);
    rd_archives_destroy(r);
    unlink(filler);
    {
        struct stor_recover_stats rs;
        stor_recover(mnt, ix, &rs);
    }
    memset(&rec, 0, sizeof(rec));
    tap_ok(row_of(ix, "given-up@x", &rec) && rec.state == STOR_STATE_RECOVERED &&
               rec.packets == 80 && rec.packets + st.seal_lost_packets == 160,
           "recovery keeps the rest: %llu + %llu lost = 160", (unsigned long long)rec.packets,
           (unsigned long long)st.seal_lost_packets);
    stor_index_close(ix);
    umount(mnt);
    rmdir(mnt);
    free(cfg);
}

/* Parties told after the archive opened (SIPREC metadata in a re-INVITE):
 * the header keeps the first ones, a parties record inside the archive
 * holds the new ones (once per change, whichever engine tells it), the
 * index row names them while recording and after the seal. */
/* A registry of its own under sub = dir/NAME (index dir/NAME.sqlite); false
 * (failed and reported) when it cannot be made. */
static bool registry_in(const char *name, char *sub, size_t sub_cap, struct rd_cfg *cfg,
                        struct stor_index **ix, struct rd_archives **r)
{
    char path[4200];

    snprintf(sub, sub_cap, "%s/%s", dir, name);
    snprintf(path, sizeof(path), "%s/%s.sqlite", dir, name);
    mkdir(sub, 0700);
    cfg_init(cfg, sub);
    stor_index_open(ix, path);
    if (*ix && rd_archives_create(r, cfg, *ix) == SR_OK)
        return true;
    tap_ok(false, "%s: registry", name);
    return false;
}

/* SIPREC metadata: a document told before the archive exists (the SRS
 * answers before a worker opens it) goes in first, one told while it opens
 * and one after follow, in order and verbatim; documents of a call that
 * never opens are bounded (the oldest dropped and counted). */
static void metadata_records(void)
{
    char mdir[4200];
    struct stor_index *ix = NULL;
    struct rd_archives *r = NULL;
    struct rd_cfg *cfg = calloc(1, sizeof(*cfg));
    struct stor_call_info ci = { 0 };
    struct stor_counts c = { 0 };
    struct rd_archives_stats st;
    struct stor_record rec;
    struct stor_reader *rd = NULL;
    struct rd_arch *a = NULL;
    static const char *docs[3] = { "<recording>A</recording>", "<recording>B2</recording>",
                                   "<recording>C33</recording>" };
    const char *peer = "sip:sbc@example.net";
    unsigned pidx, n = 0, same = 0;
    uint64_t last_us = 0;
    bool ordered = true;
    struct stor_pkt p;

    if (!registry_in("meta", mdir, sizeof(mdir), cfg, &ix, &r)) {
        free(cfg);
        return;
    }
    snprintf(ci.call_id, sizeof(ci.call_id), "meta@x");
    rd_archives_metadata(r, peer, "meta@x", (const uint8_t *)docs[0], strlen(docs[0]), 1000, NULL, 0);
    rd_arch_get(r, peer, &ci, false, &a);
    rd_archives_metadata(r, peer, "meta@x", (const uint8_t *)docs[1], strlen(docs[1]), 2000, NULL, 0);
    rd_archives_settle(r); /* open */
    rd_archives_metadata(r, peer, "meta@x", (const uint8_t *)docs[2], strlen(docs[2]), 3000, NULL, 0);
    for (unsigned i = 0; i < 65; i++)
        rd_archives_metadata(r, peer, "never@x", (const uint8_t *)"<x/>", 4, 4000 + i, NULL, 0);
    rd_archives_stats(r, &st);
    tap_ok(st.metadata_dropped == 1, "metadata: 65 documents of a call that never opens: the "
                                     "oldest is dropped and counted (%llu)",
           (unsigned long long)st.metadata_dropped);
    rd_arch_release(r, a, &c);
    rd_archives_destroy(r);
    if (row_of(ix, "meta@x", &rec) && stor_reader_open(&rd, rec.path, crt, key, NULL) == SR_OK) {
        while (stor_reader_next(rd, &pidx, &p, NULL) == SR_OK) {
            const struct stor_stream_info *s = stor_reader_stream(rd, pidx);
            if (!s || strcmp(s->codec, STOR_METADATA_CODEC) != 0)
                continue;
            if (n < 3 && p.payload_len == strlen(docs[n]) &&
                memcmp(p.payload, docs[n], p.payload_len) == 0)
                same++;
            ordered = ordered && p.arrival_wall_us > last_us;
            last_us = p.arrival_wall_us;
            n++;
        }
        tap_ok(n == 3 && same == 3 && ordered && last_us == 3000,
               "metadata: before, while and after the open: three records, verbatim, in order, "
               "stamped as told (%u, %u equal)", n, same);
        stor_reader_close(rd);
    } else {
        tap_ok(false, "metadata: the archive opens");
    }
    unlink(rec.path);
    stor_index_close(ix);
    free(cfg);
    rmdir(mdir);
}

static void late_parties(void)
{
    char ldir[4200];
    struct stor_index *ix = NULL;
    struct rd_archives *r = NULL;
    struct rd_cfg *cfg = calloc(1, sizeof(*cfg));
    struct stor_call_info ci = { 0 };
    struct stor_stream_info si = { 0x3000, 0, "PCMU", 8000, STOR_DIR_SEND, "a", false };
    struct stor_counts c = { 0 };
    struct stor_record rec;
    struct stor_query q = { .party = "sip:bob@pstn.example", .limit = 10 };
    struct stor_reader *rd = NULL;
    struct rd_arch *a = NULL;
    uint8_t pay[160] = { 0 };
    size_t n = 0, records = 0;
    unsigned idx, pidx;
    struct stor_pkt p;
    struct stor_call_info got = { 0 };

    if (!registry_in("late", ldir, sizeof(ldir), cfg, &ix, &r)) {
        free(cfg);
        return;
    }
    snprintf(ci.call_id, sizeof(ci.call_id), "late@x");
    snprintf(ci.local_aor, sizeof(ci.local_aor), "sip:sbc@example.net");
    rd_arch_get(r, "sip:sbc@example.net", &ci, false, &a);
    si.plain = true; /* a SIPREC RTP/AVP leg: the archive says so */
    rd_arch_add_stream(a, &si, &idx);
    rd_archives_settle(r); /* open: header and row with the From */
    rd_arch_parties(a, "sip:alice@callcentre.example", "sip:bob@pstn.example");
    rd_arch_parties(a, "sip:alice@callcentre.example", "sip:bob@pstn.example"); /* engine 2 */
    rd_archives_settle(r);
    stor_index_search(ix, &q, count, &n);
    tap_ok(row_of(ix, "late@x", &rec) && rec.state == STOR_STATE_RECORDING &&
               strcmp(rec.call.local_aor, "sip:alice@callcentre.example") == 0 && n == 1,
           "late parties: the row while recording names them; a search by party finds it");
    for (unsigned i = 0; i < 5; i++) {
        struct stor_pkt pk = { (uint16_t)i, i, i * 160ull, 1700000000000000ull + i * 20000ull, 0,
                               pay, sizeof(pay) };
        c.packets += rd_arch_packet(a, idx, &pk, RD_PKT_RTP) == SR_OK;
    }
    rd_arch_release(r, a, &c);
    rd_archives_destroy(r);
    tap_ok(row_of(ix, "late@x", &rec) && rec.state == STOR_STATE_COMPLETE &&
               strcmp(rec.call.remote_aor, "sip:bob@pstn.example") == 0,
           "late parties: the sealed row names them");
    if (stor_reader_open(&rd, rec.path, crt, key, NULL) == SR_OK) {
        while (stor_reader_next(rd, &pidx, &p, NULL) == SR_OK) {
            const struct stor_stream_info *s = stor_reader_stream(rd, pidx);
            if (s && strcmp(s->codec, STOR_PARTIES_CODEC) == 0 && ++records == 1 &&
                stor_parties_parse(p.payload, p.payload_len, &got) != SR_OK)
                got.local_aor[0] = '\0';
        }
        tap_ok(stor_reader_n_streams(rd) == 2 && stor_reader_stream(rd, 0)->plain &&
                   !stor_reader_stream(rd, 1)->plain,
               "a plain stream reads back plain (its tags packet), the parties stream does not");
        tap_ok(strcmp(stor_reader_call(rd)->local_aor, "sip:sbc@example.net") == 0 &&
                   records == 1 && strcmp(got.local_aor, "sip:alice@callcentre.example") == 0 &&
                   strcmp(got.remote_aor, "sip:bob@pstn.example") == 0,
               "late parties: the header keeps the From, one parties record holds the new ones");
        stor_reader_close(rd);
    } else {
        tap_ok(false, "late parties: the archive opens");
    }
    {
        uint8_t buf[STOR_PARTIES_MAX];
        size_t len = stor_parties_encode(buf, sizeof(buf), "sip:a@x", "");
        struct stor_call_info t;
        tap_ok(len == 11 && stor_parties_parse(buf, len, &t) == SR_OK && !t.remote_aor[0] &&
                   stor_parties_parse(buf, len - 1, &t) == SR_EPARSE &&
                   stor_parties_parse(buf, len + 1, &t) == SR_EPARSE,
               "parties record: round trip; truncated or trailing bytes refused");
    }
    unlink(rec.path);
    stor_index_close(ix);
    free(cfg);
    rmdir(ldir);
}

/* signing-key and seal-ledger: a sealed archive has its signature, its
 * index row the file's SHA-256, the ledger its seal; a loose key or a
 * broken ledger stops the registry from starting. */
static void signed_seal(void)
{
    char sdir[4200], sk[4200], pub[4200], sdb[4200], path[4300], msg[512];
    struct stor_index *ix = NULL;
    struct rd_archives *r = NULL;
    struct rd_cfg *cfg = calloc(1, sizeof(*cfg));
    struct stor_record rec;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    FILE *f;
    bool ok;

    snprintf(sdir, sizeof(sdir), "%s/signed", dir);
    snprintf(sk, sizeof(sk), "%s/sign.key", dir);
    snprintf(pub, sizeof(pub), "%s/sign.pub", dir);
    snprintf(sdb, sizeof(sdb), "%s/signed.sqlite", dir);
    mkdir(sdir, 0700);
    f = fopen(sk, "w");
    ok = f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1;
    if (f)
        fclose(f);
    f = fopen(pub, "w");
    ok = ok && f && PEM_write_PUBKEY(f, pk) == 1;
    if (f)
        fclose(f);
    EVP_PKEY_free(pk);
    tap_ok(ok && chmod(sk, 0644) == 0, "an Ed25519 signing key, mode 0644");
    cfg_init(cfg, sdir);
    snprintf(cfg->signing_key, sizeof(cfg->signing_key), "%s", sk);
    snprintf(cfg->seal_ledger, sizeof(cfg->seal_ledger), "%s.seals", sdb);
    tap_ok(stor_index_open(&ix, sdb) == SR_OK, "index");
    tap_ok(rd_archives_create(&r, cfg, ix) == SR_EAUTH && !r,
           "a signing key group and others may read: the registry does not start");
    chmod(sk, 0600);
    tap_ok(rd_archives_create(&r, cfg, ix) == SR_OK, "with the key 0600: started");
    if (r) {
        one_call(r, "signed@x", 30);
        rd_archives_destroy(r); /* seals what is open */
    }
    ok = row_of(ix, "signed@x", &rec);
    snprintf(path, sizeof(path), "%s.sig", rec.path);
    tap_ok(ok && rec.state == STOR_STATE_COMPLETE && strlen(rec.sha256) == 64 &&
               access(path, F_OK) == 0,
           "sealed: a signature beside the archive, the file's SHA-256 in its row");
    {
        struct stor_check_cfg cc = { pub, rec.id, rec.sha256, cfg->seal_ledger, NULL };
        tap_ok(ok && stor_archive_check(rec.path, &cc, msg, sizeof(msg)) == STOR_AUTHN_OK,
               "authentic by signature, index hash and seal ledger (%s)", msg);
    }
    /* A ledger whose chain is broken is evidence: the registry refuses to add to it. */
    f = fopen(cfg->seal_ledger, "a");
    if (f) {
        fputs("SEAL1\t9\tjunk\n", f);
        fclose(f);
    }
    r = NULL;
    tap_ok(rd_archives_create(&r, cfg, ix) == SR_EAUTH && !r,
           "a seal ledger with a broken chain: the registry does not start");
    stor_index_close(ix);
    free(cfg);
    unlink(path);     /* testcert_rmdir is one level deep */
    unlink(rec.path);
    rmdir(sdir);
}

int main(void)
{
    if (!testcert_tmpdir(dir) || !testcert_make(dir, "aud", TESTCERT_EC, crt, key))
        return 1;
    snprintf(db, sizeof(db), "%s/index.sqlite", dir);
    locked_index();
    full_disk();
    signed_seal();
    late_parties();
    metadata_records();
    testcert_rmdir(dir);
    return tap_done();
}
