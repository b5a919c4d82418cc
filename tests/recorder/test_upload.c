/** @file test_upload.c  The recorder's uploader (recorder/upload.c) on an
 * injected clock, with a real SQLite index and spool directory and a fake
 * S3 at the HTTP edge (objstore_priv.h) that keeps objects in memory and
 * can be down, answer 503 or come back: the spool scan, back-off steps,
 * confirmation before removal, the index location, a file that no longer
 * matches its row, keep-local, resume after a "crash" (the uploader
 * destroyed with work pending), the queue bound and its rescan.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "objstore_priv.h"
#include "stor.h"
#include "tap.h"
#include "upload.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

enum { MAX_OBJ = 128 };

enum fake_mode { UP, DOWN, BUSY };

struct fake_s3 {
    pthread_mutex_t mu; /* the threaded test's workers share it */
    unsigned puts[64];  /* PUTs per archive number (threaded test) */
    enum fake_mode mode;
    bool locked;        /* the bucket has Object Lock (GET ?object-lock says so) */
    unsigned calls;
    struct {
        char key[256];
        char lock_mode[16], lock_until[40]; /* the PUT's Object Lock headers ("" none) */
        uint8_t *data;
        size_t len;
    } obj[MAX_OBJ];
    size_t n;
};

static uint64_t clock_us = 1000000000ull;
static uint64_t test_clock(void *arg)
{
    (void)arg;
    return clock_us;
}

static enum objstore_err fake_http_locked(struct fake_s3 *f, const struct objstore_req *rq,
                                          struct objstore_resp *rs);

static enum objstore_err fake_http(void *arg, const struct objstore_req *rq, struct objstore_resp *rs)
{
    struct fake_s3 *f = arg;
    enum objstore_err e;

    pthread_mutex_lock(&f->mu);
    e = fake_http_locked(f, rq, rs);
    pthread_mutex_unlock(&f->mu);
    return e;
}

static enum objstore_err fake_http_locked(struct fake_s3 *f, const struct objstore_req *rq,
                                          struct objstore_resp *rs)
{
    f->calls++;
    if (f->mode == DOWN) {
        snprintf(rs->errtext, sizeof(rs->errtext), "Connection refused");
        return OBJSTORE_ECONNECT;
    }
    if (f->mode == BUSY) {
        rs->http = 503;
        rs->body_len = (size_t)snprintf(rs->body, sizeof(rs->body),
                                        "<Error><Code>SlowDown</Code><Message>Please reduce your "
                                        "request rate.</Message></Error>");
        return OBJSTORE_OK;
    }
    if (strcmp(rq->method, "GET") == 0 && !rq->key && rq->query &&
        strcmp(rq->query, "object-lock=") == 0) {
        rs->http = f->locked ? 200 : 404;
        rs->body_len = (size_t)snprintf(
            rs->body, sizeof(rs->body), "%s",
            f->locked ? "<?xml version='1.0'?><ObjectLockConfiguration><ObjectLockEnabled>Enabled"
                        "</ObjectLockEnabled></ObjectLockConfiguration>"
                      : "<Error><Code>ObjectLockConfigurationNotFoundError</Code></Error>");
        return OBJSTORE_OK;
    }
    if (strcmp(rq->method, "PUT") != 0 || !rq->key || rq->query) {
        rs->http = 400;
        return OBJSTORE_OK;
    }
    size_t i;
    for (i = 0; i < f->n && strcmp(f->obj[i].key, rq->key) != 0; i++) {
    }
    if (i == f->n) {
        if (f->n == MAX_OBJ) {
            rs->http = 507;
            return OBJSTORE_OK;
        }
        f->n++;
    }
    snprintf(f->obj[i].key, sizeof(f->obj[i].key), "%s", rq->key);
    snprintf(f->obj[i].lock_mode, sizeof(f->obj[i].lock_mode), "%s",
             rq->lock_mode ? rq->lock_mode : "");
    snprintf(f->obj[i].lock_until, sizeof(f->obj[i].lock_until), "%s",
             rq->lock_until && rq->content_md5 ? rq->lock_until : "");
    {
        size_t kl = strlen(rq->key);
        unsigned num;
        if (kl > 5 && strcmp(rq->key + kl - 5, ".srec") == 0 &&
            sscanf(rq->key + kl - 10, "%5x", &num) == 1 && (num & 0xffu) < 64)
            f->puts[num & 0xffu]++;
    }
    free(f->obj[i].data);
    f->obj[i].data = malloc(rq->body_len + 1);
    memcpy(f->obj[i].data, rq->body, rq->body_len);
    f->obj[i].len = rq->body_len;
    test_md5_hex(rq->body, rq->body_len, rs->etag);
    rs->http = 200;
    return OBJSTORE_OK;
}

static const uint8_t *fake_get(const struct fake_s3 *f, const char *key, size_t *len)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->obj[i].key, key) == 0) {
            *len = f->obj[i].len;
            return f->obj[i].data;
        }
    return NULL;
}

static char dir[256], spool[300], db[300], keyfile[300];
static unsigned long retention_days; /* [store] retention-days of the next uploader() */

static void mkid(char id[STOR_ID_HEX], unsigned i)
{
    snprintf(id, STOR_ID_HEX, "%032x", 0xa0000u + i);
}

/* A sealed archive i of n bytes (and its .sig) with its index row. */
static void seal(struct stor_index *ix, unsigned i, size_t n, bool row)
{
    char id[STOR_ID_HEX], path[512];
    uint8_t *b = malloc(n);
    struct stor_record *r = calloc(1, sizeof(*r));
    FILE *fp;

    mkid(id, i);
    for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(k * 13 + i);
    snprintf(path, sizeof(path), "%s/%s.srec", spool, id);
    fp = fopen(path, "wb");
    fwrite(b, 1, n, fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/%s.srec.sig", spool, id);
    fp = fopen(path, "wb");
    fprintf(fp, "sig of %s\n", id);
    fclose(fp);
    if (row) {
        snprintf(r->id, sizeof(r->id), "%s", id);
        snprintf(r->call.call_id, sizeof(r->call.call_id), "call-%u", i);
        r->state = STOR_STATE_COMPLETE;
        r->bytes = n;
        test_sha256_hex(b, n, r->sha256);
        snprintf(r->path, sizeof(r->path), "%s/%s.srec", spool, id);
        stor_index_put(ix, r);
    }
    free(r);
    free(b);
}

static bool local_exists(unsigned i, const char *suffix)
{
    char id[STOR_ID_HEX], path[512];
    struct stat sb;

    mkid(id, i);
    snprintf(path, sizeof(path), "%s/%s.srec%s", spool, id, suffix);
    return stat(path, &sb) == 0;
}

static bool stored_bit_exact(const struct fake_s3 *f, unsigned i, size_t n)
{
    char id[STOR_ID_HEX], key[128];
    size_t len;
    const uint8_t *p;

    mkid(id, i);
    snprintf(key, sizeof(key), "site/%s.srec", id);
    p = fake_get(f, key, &len);
    if (!p || len != n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (p[k] != (uint8_t)(k * 13 + i))
            return false;
    snprintf(key, sizeof(key), "site/%s.srec.sig", id);
    return fake_get(f, key, &len) != NULL;
}

static bool located(struct stor_index *ix, unsigned i)
{
    char id[STOR_ID_HEX], want[128];
    struct stor_record *r = calloc(1, sizeof(*r));
    bool ok;

    mkid(id, i);
    snprintf(want, sizeof(want), "s3://bucket/site/%s.srec", id);
    ok = stor_index_get(ix, id, r) == SR_OK && strcmp(r->location, want) == 0;
    free(r);
    return ok;
}

static struct rd_upl *uploader(struct fake_s3 *f, bool keep_local, size_t max_queue)
{
    struct objstore_cfg sc = { .part_size = OBJSTORE_PART_MIN, .retries = 0, .backoff_min_ms = 1,
                               .backoff_max_ms = 1, .timeout_s = 5,
                               .retention_days = retention_days };
    struct rd_upl_cfg uc = { .archive_dir = spool, .prefix = "site/", .keep_local = keep_local,
                             .max_queue = max_queue, .retry_min_ms = 1000, .retry_max_ms = 8000 };
    struct stor_index *ix = NULL;
    struct rd_upl *u = NULL;
    char why[256];

    snprintf(sc.url, sizeof(sc.url), "https://store.invalid");
    snprintf(sc.bucket, sizeof(sc.bucket), "bucket");
    snprintf(sc.region, sizeof(sc.region), "us-east-1");
    snprintf(sc.access_key_file, sizeof(sc.access_key_file), "%s", keyfile);
    if (stor_index_open(&ix, db) != SR_OK ||
        rd_upl_create(&u, &uc, &sc, ix, test_clock, NULL, false, why, sizeof(why)) != SR_OK) {
        tap_diag("uploader: %s", why);
        return NULL;
    }
    objstore_set_transport(rd_upl_store(u, 0), fake_http, f);
    return u;
}

/* Steps until the queue is empty or a wait is due later (bounded). */
static uint64_t run_due(struct rd_upl *u)
{
    uint64_t due = 0;

    for (int i = 0; i < 100; i++) {
        due = rd_upl_step(u);
        if (!due || due > clock_us)
            break;
    }
    return due;
}

static void outage_then_recovery(struct stor_index *ix, struct fake_s3 *f)
{
    struct rd_upl_stats st;
    struct rd_upl *u;
    uint64_t due;
    unsigned calls;

    seal(ix, 1, 1000, true);
    seal(ix, 2, 200000, true);
    seal(ix, 3, 10, true);
    {
        char p[512];
        snprintf(p, sizeof(p), "%s/%032x.srec.partial", spool, 0xa0009u);
        fclose(fopen(p, "wb"));
    }
    u = uploader(f, false, 0);
    tap_ok(u && rd_upl_scan(u) == 3, "scan: the three sealed archives are pending (a .partial is not)");
    tap_ok(rd_upl_scan(u) == 0, "a second scan queues nothing twice");

    f->mode = DOWN;
    due = rd_upl_step(u);
    rd_upl_stats(u, &st);
    tap_ok(st.failed == 1 && st.pending == 3 && st.ok == 0, "store down: the try fails, all three wait");
    tap_ok(due >= clock_us + 500000 && due < clock_us + 1000000,
           "next try in [0.5, 1) s (%llu us)", (unsigned long long)(due - clock_us));
    calls = f->calls;
    tap_ok(rd_upl_step(u) == due && f->calls == calls, "before it is due, nothing is tried");
    clock_us = due;
    f->mode = BUSY;
    uint64_t due2 = rd_upl_step(u);
    rd_upl_stats(u, &st);
    tap_ok(st.failed == 2 && st.retried == 1 && due2 >= clock_us + 1000000 &&
               due2 < clock_us + 2000000,
           "503 SlowDown: failed again, counted as a retry, the wait doubles (%llu us)",
           (unsigned long long)(due2 - clock_us));
    tap_ok(local_exists(1, "") && local_exists(2, "") && local_exists(3, ""),
           "the spool keeps every archive while the store fails");
    clock_us += 120ull * 1000000u;
    rd_upl_stats(u, &st);
    tap_ok(st.oldest_us >= 120ull * 1000000u, "oldest pending: %llu s",
           (unsigned long long)(st.oldest_us / 1000000u));

    f->mode = UP;
    due = run_due(u);
    rd_upl_stats(u, &st);
    tap_ok(due == 0 && st.ok == 3 && st.pending == 0 && st.retried == 2,
           "store back: all three uploaded (ok %llu, retried %llu)", (unsigned long long)st.ok,
           (unsigned long long)st.retried);
    tap_ok(stored_bit_exact(f, 1, 1000) && stored_bit_exact(f, 2, 200000) &&
               stored_bit_exact(f, 3, 10),
           "the store holds each archive bit for bit, and its signature");
    tap_ok(located(ix, 1) && located(ix, 2) && located(ix, 3),
           "each index row has its location s3://bucket/site/<id>.srec");
    tap_ok(!local_exists(1, "") && !local_exists(1, ".sig") && !local_exists(2, "") &&
               !local_exists(3, ""),
           "and the local copies are gone");
    rd_upl_stats(u, &st);
    tap_ok(st.oldest_us == 0, "nothing pending: oldest 0");
    rd_upl_destroy(u);
}

static void bad_file_and_missing_row(struct stor_index *ix, struct fake_s3 *f)
{
    struct rd_upl_stats st;
    struct rd_upl *u;
    char path[512], id[STOR_ID_HEX];

    seal(ix, 4, 500, true);
    mkid(id, 4);
    snprintf(path, sizeof(path), "%s/%s.srec", spool, id);
    FILE *fp = fopen(path, "r+b");
    fputc('X', fp); /* no longer the sealed bytes */
    fclose(fp);
    u = uploader(f, false, 0);
    rd_upl_enqueue(u, id, "");
    run_due(u);
    rd_upl_stats(u, &st);
    tap_ok(st.failed == 1 && st.ok == 0 && st.pending == 0,
           "a file that does not match its index hash fails and leaves the queue");
    tap_ok(local_exists(4, "") && !located(ix, 4), "it stays in the spool, unlocated");
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s.srec.sig", spool, id);
    unlink(path);

    /* Sealed, but its row not written yet (the index was locked). */
    seal(ix, 5, 300, false);
    mkid(id, 5);
    rd_upl_enqueue(u, id, "");
    uint64_t due = run_due(u);
    rd_upl_stats(u, &st);
    tap_ok(st.pending == 1 && due > clock_us && local_exists(5, ""),
           "no index row yet: the location cannot be recorded, so the archive waits");
    seal(ix, 5, 300, true); /* the queued row goes in */
    clock_us = due;
    run_due(u);
    rd_upl_stats(u, &st);
    tap_ok(st.pending == 0 && st.ok == 1 && located(ix, 5) && !local_exists(5, ""),
           "once the row is there, the next try records it and removes the file");
    rd_upl_destroy(u);
}

static void keep_local_and_resume(struct stor_index *ix, struct fake_s3 *f)
{
    struct rd_upl_stats st;
    struct rd_upl *u;

    seal(ix, 6, 4000, true);
    seal(ix, 7, 4000, true);
    u = uploader(f, false, 0);
    f->mode = DOWN;
    rd_upl_scan(u);
    rd_upl_step(u);
    rd_upl_destroy(u); /* a crash with two pending: nothing but the spool says so */
    f->mode = UP;
    u = uploader(f, false, 0);
    tap_ok(rd_upl_scan(u) == 2, "after a restart the scan finds both again");
    run_due(u);
    rd_upl_stats(u, &st);
    tap_ok(st.ok == 2 && located(ix, 6) && located(ix, 7) && stored_bit_exact(f, 6, 4000),
           "and uploads them");
    rd_upl_destroy(u);

    /* Located before a crash, the removal not yet done: the scan removes. */
    seal(ix, 8, 100, true);
    {
        char id[STOR_ID_HEX];
        mkid(id, 8);
        stor_index_set_location(ix, id, "s3://bucket/site/x.srec");
    }
    u = uploader(f, false, 0);
    tap_ok(rd_upl_scan(u) == 0 && !local_exists(8, "") && !local_exists(8, ".sig"),
           "an archive the index already locates is removed, not uploaded again");
    rd_upl_destroy(u);

    seal(ix, 9, 100, true);
    u = uploader(f, true, 0);
    rd_upl_scan(u);
    run_due(u);
    tap_ok(located(ix, 9) && local_exists(9, "") && local_exists(9, ".sig"),
           "keep-local: uploaded and located, the local copy kept");
    tap_ok(rd_upl_scan(u) == 0, "and a kept, located archive is not pending again");
    rd_upl_destroy(u);
}

static void queue_bound(struct stor_index *ix, struct fake_s3 *f)
{
    struct rd_upl_stats st;
    struct rd_upl *u;
    char id[STOR_ID_HEX];

    u = uploader(f, false, 2);
    rd_upl_scan(u); /* nothing pending now (9 is kept and located) */
    for (unsigned i = 10; i < 13; i++) {
        seal(ix, i, 64, true);
        mkid(id, i);
        rd_upl_enqueue(u, id, "");
    }
    rd_upl_stats(u, &st);
    tap_ok(st.pending == 2 && st.spooled == 1, "queue bound 2: the third waits in the spool only");
    run_due(u);
    rd_upl_stats(u, &st);
    tap_ok(st.pending == 0 && located(ix, 10) && located(ix, 11) && located(ix, 12),
           "once the queue drained, a rescan found and uploaded it");
    rd_upl_destroy(u);
}

/* The object's Object Lock headers as the fake got them: mode, date. */
static bool lock_of(const struct fake_s3 *f, unsigned i, const char *suffix, const char *mode,
                    const char *until)
{
    char id[STOR_ID_HEX], key[128];

    mkid(id, i);
    snprintf(key, sizeof(key), "site/%s.srec%s", id, suffix);
    for (size_t k = 0; k < f->n; k++)
        if (strcmp(f->obj[k].key, key) == 0)
            return strcmp(f->obj[k].lock_mode, mode) == 0 &&
                   strcmp(f->obj[k].lock_until, until) == 0;
    return false;
}

/* Archive i's row starts 30 days before 1800000000 (2027-01-15T08:00:00Z). */
static void set_start(struct stor_index *ix, unsigned i, struct stor_record *r)
{
    char id[STOR_ID_HEX];

    mkid(id, i);
    stor_index_get(ix, id, r);
    r->call.start_wall_us = (1800000000ull - 30 * 86400ull) * 1000000ull + 999999u;
    stor_index_put(ix, r);
}

/* A bucket with Object Lock: both objects retained until the recording's
 * start + retention-days (governance by default); an archive without its
 * row waits; no lock, no headers; a re-probe (SIGHUP) sees a new lock. */
static void object_lock(struct stor_index *ix, struct fake_s3 *f)
{
    struct stor_record *r = calloc(1, sizeof(*r));
    struct rd_upl_stats st;
    struct rd_upl *u;
    char id[STOR_ID_HEX];

    retention_days = 30;
    f->locked = true;
    seal(ix, 50, 64, false); /* no row (yet) */
    u = uploader(f, false, 16);
    rd_upl_scan(u);
    run_due(u);
    rd_upl_stats(u, &st);
    tap_ok(st.pending == 1 && f->calls > 0 && !lock_of(f, 50, "", "", "") &&
               !lock_of(f, 50, "", "GOVERNANCE", "2027-01-15T08:00:00Z"),
           "Object Lock: an archive without its row (no start) is not uploaded yet");
    seal(ix, 50, 64, true);
    set_start(ix, 50, r);
    for (int i = 0; i < 4 && !located(ix, 50); i++) {
        clock_us += 10000000u;
        run_due(u);
    }
    tap_ok(located(ix, 50) && lock_of(f, 50, "", "GOVERNANCE", "2027-01-15T08:00:00Z") &&
               lock_of(f, 50, ".sig", "GOVERNANCE", "2027-01-15T08:00:00Z"),
           "Object Lock: .srec and .sig retained (governance, with Content-MD5) until start + "
           "30 days");
    rd_upl_destroy(u);

    f->locked = false;
    seal(ix, 52, 64, true);
    mkid(id, 52);
    u = uploader(f, false, 16);
    rd_upl_enqueue(u, id, "");
    run_due(u);
    tap_ok(located(ix, 52) && lock_of(f, 52, "", "", "") && lock_of(f, 52, ".sig", "", ""),
           "no Object Lock: no lock headers");
    f->locked = true; /* enabled meanwhile: the cached probe says none until a re-probe */
    seal(ix, 53, 64, true);
    set_start(ix, 53, r);
    mkid(id, 53);
    rd_upl_reprobe(u); /* SIGHUP */
    rd_upl_enqueue(u, id, "");
    run_due(u);
    tap_ok(located(ix, 53) && lock_of(f, 53, "", "GOVERNANCE", "2027-01-15T08:00:00Z"),
           "after a re-probe (SIGHUP) the new lock applies");
    rd_upl_destroy(u);
    f->locked = false;
    retention_days = 0;
    free(r);
}

/* Three threads on the real clock: every archive uploaded exactly once. */
static void threads(struct stor_index *ix, struct fake_s3 *f)
{
    struct objstore_cfg sc = { .part_size = OBJSTORE_PART_MIN, .retries = 0, .backoff_min_ms = 1,
                               .backoff_max_ms = 1, .timeout_s = 5 };
    struct rd_upl_cfg uc = { .archive_dir = spool, .prefix = "site/", .retry_min_ms = 10,
                             .retry_max_ms = 20, .threads = 3, .index_spec = db };
    struct stor_index *uix = NULL;
    struct rd_upl *u = NULL;
    struct rd_upl_stats st;
    char why[256];
    bool all = true;

    snprintf(sc.url, sizeof(sc.url), "https://store.invalid");
    snprintf(sc.bucket, sizeof(sc.bucket), "bucket");
    snprintf(sc.region, sizeof(sc.region), "us-east-1");
    snprintf(sc.access_key_file, sizeof(sc.access_key_file), "%s", keyfile);
    for (unsigned i = 20; i < 44; i++)
        seal(ix, i, 2000 + i, true);
    memset(f->puts, 0, sizeof(f->puts));
    if (stor_index_open(&uix, db) != SR_OK ||
        rd_upl_create(&u, &uc, &sc, uix, NULL, NULL, false, why, sizeof(why)) != SR_OK) {
        tap_ok(false, "threaded uploader: %s", why);
        return;
    }
    for (size_t i = 0; rd_upl_store(u, i); i++)
        objstore_set_transport(rd_upl_store(u, i), fake_http, f);
    tap_ok(rd_upl_store(u, 2) && !rd_upl_store(u, 3) && rd_upl_start(u) == SR_OK,
           "3 upload threads, each with its own store client");
    for (int i = 0; i < 1000; i++) { /* 10 s at most */
        rd_upl_stats(u, &st);
        if (st.ok >= 24)
            break;
        usleep(10000);
    }
    rd_upl_destroy(u);
    for (unsigned i = 20; i < 44; i++)
        all = all && f->puts[i] == 1 && located(ix, i) && !local_exists(i, "") &&
              stored_bit_exact(f, i, 2000 + i);
    tap_ok(st.ok == 24 && all, "24 archives, each uploaded once, located and bit-exact (ok %llu)",
           (unsigned long long)st.ok);
}

int main(void)
{
    struct stor_index *ix = NULL;
    static struct fake_s3 f = { .mu = PTHREAD_MUTEX_INITIALIZER, .mode = UP };
    FILE *kf;

    snprintf(dir, sizeof(dir), "/tmp/test_upload.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(spool, sizeof(spool), "%s/archive", dir);
    snprintf(db, sizeof(db), "%s/index.db", dir);
    snprintf(keyfile, sizeof(keyfile), "%s/store.key", dir);
    mkdir(spool, 0750);
    kf = fopen(keyfile, "w");
    fputs("AKID\nSECRET\n", kf);
    fclose(kf);
    chmod(keyfile, 0600);
    if (stor_index_open(&ix, db) != SR_OK)
        return 1;

    outage_then_recovery(ix, &f);
    bad_file_and_missing_row(ix, &f);
    keep_local_and_resume(ix, &f);
    queue_bound(ix, &f);
    object_lock(ix, &f);
    threads(ix, &f);

    stor_index_close(ix);
    for (size_t i = 0; i < f.n; i++)
        free(f.obj[i].data);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            tap_diag("cleanup of %s failed", dir);
    }
    return tap_done();
}
