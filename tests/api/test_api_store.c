/** @file test_api_store.c  api/store.c against a fake S3 edge (objstore's
 *  transport hook): the export cache (fetch, hit, hash check, private
 *  files, the cap, least-recently-used eviction by mtime and its grace),
 *  ranged downloads, and the store unreachable.  The real store is
 *  tests/integration/test_fleet.sh's Swift. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "objstore_priv.h"
#include "store.h"
#include "tap.h"
#include "util.h"

enum { N_OBJ = 4, OBJ_SIZE = 3000 };

struct fake {
    char keys[N_OBJ][64];
    uint8_t data[N_OBJ][OBJ_SIZE];
    char sha[N_OBJ][65];
    bool down, lock;     /* lock: the bucket answers with an Object Lock configuration */
    unsigned gets, heads;
    char hold_key[64], hold_body[256]; /* the last PUT ?legal-hold */
};

static int find(const struct fake *f, const char *key)
{
    for (int i = 0; i < N_OBJ; i++)
        if (strcmp(f->keys[i], key) == 0)
            return i;
    return -1;
}

static enum objstore_err fake_transport(void *arg, const struct objstore_req *rq,
                                        struct objstore_resp *rs)
{
    struct fake *f = arg;
    int i = rq->key ? find(f, rq->key) : -1;

    if (f->down) {
        snprintf(rs->errtext, sizeof(rs->errtext), "connection refused (fake)");
        return OBJSTORE_ECONNECT;
    }
    if (!rq->key && rq->query && strcmp(rq->query, "object-lock=") == 0) {
        rs->http = 200;
        snprintf(rs->body, sizeof(rs->body), f->lock ?
                 "<?xml version='1.0'?><ObjectLockConfiguration><ObjectLockEnabled>Enabled"
                 "</ObjectLockEnabled></ObjectLockConfiguration>" :
                 "<?xml version='1.0'?><ListBucketResult><Name>bucket</Name></ListBucketResult>");
        rs->body_len = strlen(rs->body);
        return OBJSTORE_OK;
    }
    if (i >= 0 && strcmp(rq->method, "PUT") == 0 && rq->query &&
        strcmp(rq->query, "legal-hold=") == 0) {
        snprintf(f->hold_key, sizeof(f->hold_key), "%s", rq->key);
        snprintf(f->hold_body, sizeof(f->hold_body), "%.*s", (int)rq->body_len,
                 (const char *)rq->body);
        rs->http = 200;
        return OBJSTORE_OK;
    }
    if (i < 0) {
        rs->http = 404;
        snprintf(rs->body, sizeof(rs->body),
                 "<?xml version='1.0'?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>");
        rs->body_len = strlen(rs->body);
        return OBJSTORE_OK;
    }
    if (strcmp(rq->method, "HEAD") == 0) {
        f->heads++;
        rs->http = 200;
        rs->content_length = OBJ_SIZE;
        rs->have_length = true;
        snprintf(rs->meta_sha256, sizeof(rs->meta_sha256), "%s", f->sha[i]);
        return OBJSTORE_OK;
    }
    f->gets++;
    {
        uint64_t off = rq->range ? rq->range_off : 0;
        uint64_t len = rq->range && rq->range_len != UINT64_MAX ? rq->range_len : OBJ_SIZE - off;
        rs->http = rq->range ? 206 : 200;
        rs->content_length = len;
        rs->have_length = true;
        rs->range_total = OBJ_SIZE;
        if (rq->sink(f->data[i] + off, (size_t)len, rq->sink_arg))
            rs->delivered = len;
        else
            rs->sink_stopped = true;
    }
    return OBJSTORE_OK;
}

static void hook(struct objstore *os, void *arg)
{
    objstore_set_transport(os, fake_transport, arg);
}

static void row(struct stor_record *r, const struct fake *f, int i)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%032x", 0xa0 + i);
    snprintf(r->location, sizeof(r->location), "s3://bucket/%s", f->keys[i]);
    snprintf(r->sha256, sizeof(r->sha256), "%s", f->sha[i]);
    r->bytes = OBJ_SIZE;
    r->state = STOR_STATE_COMPLETE;
}

/* Make the cached file of r look last used `age` seconds ago. */
static void age(const char *dir, const struct stor_record *r, int secs)
{
    char p[4300];
    struct timespec ts[2];

    snprintf(p, sizeof(p), "%s/%s.srec", dir, r->id);
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= secs;
    ts[1] = ts[0];
    utimensat(AT_FDCWD, p, ts, 0);
}

static bool same_file(const char *path, const uint8_t *data, size_t n)
{
    uint8_t buf[OBJ_SIZE + 1];
    int fd = open(path, O_RDONLY);
    ssize_t got = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;

    if (fd >= 0)
        close(fd);
    return got == (ssize_t)n && memcmp(buf, data, n) == 0;
}

int main(void)
{
    static struct fake f;
    struct api_store_cfg cfg = { .cache_max_bytes = 2 * OBJ_SIZE + 100, .client_hook = hook,
                                 .hook_arg = &f };
    struct api_store *st = NULL;
    struct api_store_stats ss;
    struct stor_record r[N_OBJ], bad;
    char tmpl[] = "/tmp/srtprec-apistore.XXXXXX", cache[256], keyfile[256], path[4300],
         why[768];
    const char *dir = mkdtemp(tmpl);
    struct stat sb;
    FILE *kf;

    if (!dir)
        return 1;
    for (int i = 0; i < N_OBJ; i++) {
        snprintf(f.keys[i], sizeof(f.keys[i]), "site/%032x.srec", 0xa0 + i);
        for (int b = 0; b < OBJ_SIZE; b++)
            f.data[i][b] = (uint8_t)(b * 7 + i * 13);
        test_sha256_hex(f.data[i], OBJ_SIZE, f.sha[i]);
        row(&r[i], &f, i);
    }
    snprintf(keyfile, sizeof(keyfile), "%s/store.key", dir);
    kf = fopen(keyfile, "w");
    fputs("test:tester\ntesting\n", kf);
    fclose(kf);
    chmod(keyfile, 0600);
    snprintf(cache, sizeof(cache), "%s/cache", dir);
    snprintf(cfg.os.url, sizeof(cfg.os.url), "https://store.invalid");
    snprintf(cfg.os.bucket, sizeof(cfg.os.bucket), "bucket");
    snprintf(cfg.os.region, sizeof(cfg.os.region), "us-east-1");
    snprintf(cfg.os.access_key_file, sizeof(cfg.os.access_key_file), "%s", keyfile);
    cfg.os.part_size = OBJSTORE_PART_MIN;
    cfg.os.timeout_s = 5;
    cfg.os.retries = 0;
    cfg.os.backoff_min_ms = 10;
    cfg.os.backoff_max_ms = 10;
    cfg.cache_dir = cache;

    tap_ok(api_store_create(&st, &cfg, why, sizeof(why)) == SR_OK && stat(cache, &sb) == 0 &&
               (sb.st_mode & 0777) == 0700,
           "created; the cache directory is 0700 (%s)", st ? "" : why);
    if (!st)
        return tap_done();
    tap_ok(api_store_key(st, &r[0]) && strcmp(api_store_key(st, &r[0]), f.keys[0]) == 0,
           "the key of a row's location in this bucket");
    bad = r[0];
    snprintf(bad.location, sizeof(bad.location), "s3://other/%s", f.keys[0]);
    tap_ok(!api_store_key(st, &bad), "a location in another bucket is not ours");
    snprintf(bad.location, sizeof(bad.location), "s3://bucket/%s", f.keys[1]);
    tap_ok(!api_store_key(st, &bad), "a location naming another recording's object is refused");

    /* Fetch: a miss, then a hit without a GET. */
    tap_ok(api_store_fetch(st, &r[0], path, sizeof(path), why, sizeof(why)) == SR_OK &&
               same_file(path, f.data[0], OBJ_SIZE) && stat(path, &sb) == 0 &&
               (sb.st_mode & 0777) == 0600,
           "a miss fetches the archive bit for bit into a 0600 file");
    {
        unsigned gets = f.gets;
        tap_ok(api_store_fetch(st, &r[0], path, sizeof(path), why, sizeof(why)) == SR_OK &&
                   f.gets == gets,
               "a hit is served from the cache (no GET)");
    }
    /* A store copy that is not what the row records. */
    bad = r[1];
    bad.sha256[0] = bad.sha256[0] == '0' ? '1' : '0';
    tap_ok(api_store_fetch(st, &bad, path, sizeof(path), why, sizeof(why)) == SR_EAUTH &&
               access(path, F_OK) != 0,
           "a row hash the object does not have: SR_EAUTH, nothing cached (%s)", why);
    f.sha[1][0] = f.sha[1][0] == '0' ? '1' : '0'; /* the uploader's stored hash is wrong too */
    bad = r[1];
    bad.sha256[0] = '\0';
    tap_ok(api_store_fetch(st, &bad, path, sizeof(path), why, sizeof(why)) == SR_EAUTH,
           "no row hash: the object's bytes are checked against the uploader's stored one");
    f.sha[1][0] = r[1].sha256[0];

    /* The cap holds two: the third needs room, and r[0] was used just now. */
    tap_ok(api_store_fetch(st, &r[1], path, sizeof(path), why, sizeof(why)) == SR_OK,
           "a second archive fits under the cap");
    tap_ok(api_store_fetch(st, &r[2], path, sizeof(path), why, sizeof(why)) == SR_ENOSPC,
           "a third while both were used within the grace: SR_ENOSPC, the cap holds (%s)", why);
    age(cache, &r[0], API_STORE_CACHE_GRACE_S + 20);
    age(cache, &r[1], API_STORE_CACHE_GRACE_S + 10);
    tap_ok(api_store_fetch(st, &r[2], path, sizeof(path), why, sizeof(why)) == SR_OK &&
               same_file(path, f.data[2], OBJ_SIZE),
           "past the grace the third is fetched");
    snprintf(path, sizeof(path), "%s/%s.srec", cache, r[0].id);
    tap_ok(access(path, F_OK) != 0, "the least recently used (r0) was evicted");
    snprintf(path, sizeof(path), "%s/%s.srec", cache, r[1].id);
    tap_ok(access(path, F_OK) == 0, "the more recently used (r1) stays");
    api_store_stats(st, &ss);
    tap_ok(ss.cache_hits == 1 && ss.cache_misses == 6 && ss.cache_evictions == 1 &&
               ss.cache_full == 1 && ss.integrity == 2 && ss.cache_bytes == 2 * OBJ_SIZE,
           "counters: 1 hit, 6 misses, 1 eviction, 1 full, 2 integrity, %llu bytes cached",
           (unsigned long long)ss.cache_bytes);

    /* Ranged download. */
    {
        struct api_store_stream *s = NULL;
        uint64_t size = 0;
        char buf[OBJ_SIZE];
        ssize_t n;
        tap_ok(api_store_stream_open(st, &r[3], &s, &size, why, sizeof(why)) == SR_OK &&
                   size == OBJ_SIZE,
               "a stream opens after HEAD: size %llu", (unsigned long long)size);
        api_store_stream_range(s, 1000, 500);
        n = api_store_stream_read(s, 0, buf, sizeof(buf));
        tap_ok(n == 500 && memcmp(buf, f.data[3] + 1000, 500) == 0,
               "Range 1000-1499: the same 500 bytes from a ranged GET");
        n = api_store_stream_read(s, 400, buf, sizeof(buf));
        tap_ok(n == 100 && memcmp(buf, f.data[3] + 1400, 100) == 0,
               "a read within the buffer needs no GET");
        f.down = true;
        api_store_stream_range(s, 0, OBJ_SIZE);
        tap_ok(api_store_stream_read(s, 0, buf, sizeof(buf)) < 0,
               "the store gone mid-download: the read fails (the transfer is cut)");
        api_store_stream_free(s);
    }
    {
        struct api_store_stream *s = NULL;
        uint64_t size;
        tap_ok(api_store_stream_open(st, &r[3], &s, &size, why, sizeof(why)) == SR_EAGAIN && !s &&
                   strstr(why, "unreachable") && !strstr(why, "testing"),
               "the store unreachable: SR_EAGAIN with a reason, no secret (%s)", why);
        tap_ok(api_store_fetch(st, &r[3], path, sizeof(path), why, sizeof(why)) == SR_EAGAIN,
               "an export of an uncached archive: SR_EAGAIN");
        tap_ok(api_store_fetch(st, &r[1], path, sizeof(path), why, sizeof(why)) == SR_OK,
               "a cached one is still served");
        f.down = false;
        bad = r[3];
        snprintf(bad.id, sizeof(bad.id), "%032x", 0xff);
        snprintf(bad.location, sizeof(bad.location), "s3://bucket/site/%s.srec", bad.id);
        tap_ok(api_store_stream_open(st, &bad, &s, &size, why, sizeof(why)) == SR_ENOTFOUND,
               "an object the store lacks: SR_ENOTFOUND");
        api_store_stats(st, &ss);
        tap_ok(ss.unavailable == 3 && ss.not_found == 1, "counters: 3 unavailable, 1 not found");
    }
    tap_ok(!api_store_has_lock(st) &&
               api_store_legal_hold(st, &r[1], true, why, sizeof(why)) == SR_EUNSUPP &&
               !f.hold_key[0],
           "no Object Lock (a listing, as Swift answers): no store hold, SR_EUNSUPP");
    api_store_destroy(st);
    f.lock = true;
    tap_ok(api_store_create(&st, &cfg, why, sizeof(why)) == SR_OK && api_store_has_lock(st),
           "a bucket with Object Lock is probed as such");
    tap_ok(api_store_legal_hold(st, &r[1], true, why, sizeof(why)) == SR_OK &&
               strcmp(f.hold_key, f.keys[1]) == 0 && strstr(f.hold_body, "<Status>ON</Status>"),
           "a hold puts the object's legal hold ON");
    tap_ok(api_store_legal_hold(st, &r[1], false, why, sizeof(why)) == SR_OK &&
               strstr(f.hold_body, "<Status>OFF</Status>"),
           "clearing it puts OFF");
    f.down = true;
    api_store_stats(st, &ss);
    tap_ok(api_store_legal_hold(st, &r[1], true, why, sizeof(why)) == SR_EAGAIN &&
               (api_store_stats(st, &ss), ss.holds == 2 && ss.hold_failed == 1),
           "the store down: SR_EAGAIN, counted (2 ok, 1 failed)");
    f.down = false;
    api_store_destroy(st);
    {
        char cmd[4300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            tap_diag("could not remove %s", dir);
    }
    return tap_done();
}
