/** @file test_objstore_swift.c  objstore.h against a real OpenStack Swift
 * (s3api behind stunnel, started by test_objstore_swift.sh): bucket, single
 * and multipart PUT checked bit for bit by GET, ranged GET, HEAD, DELETE,
 * the Object Lock probe (Swift has none), and the refusals: a foreign CA
 * (TLS), a wrong secret (403), a key file readable by others.
 *
 *   test_objstore_swift URL CA KEYFILE FOREIGN_CA WORKDIR
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "objstore.h"
#include "tap.h"

struct sink {
    uint8_t *buf;
    size_t len, cap;
};

static bool collect(const void *p, size_t n, void *arg)
{
    struct sink *k = arg;

    if (k->len + n > k->cap)
        return false;
    memcpy(k->buf + k->len, p, n);
    k->len += n;
    return true;
}

static void cfg_for(struct objstore_cfg *c, const char *url, const char *ca, const char *keyfile)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "%s", url);
    snprintf(c->bucket, sizeof(c->bucket), "srtprec-test");
    snprintf(c->region, sizeof(c->region), "us-east-1");
    snprintf(c->ca, sizeof(c->ca), "%s", ca);
    snprintf(c->access_key_file, sizeof(c->access_key_file), "%s", keyfile);
    c->part_size = OBJSTORE_PART_MIN;
    c->retries = 2;
    c->backoff_min_ms = 50;
    c->backoff_max_ms = 200;
    c->timeout_s = 20;
}

static bool write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(p, 1, n, f) == n;

    if (f)
        ok = fclose(f) == 0 && ok;
    return ok;
}

int main(int argc, char **argv)
{
    struct objstore_cfg cfg;
    struct objstore *s = NULL, *bad = NULL;
    struct objstore_status st;
    struct objstore_info info;
    struct objstore_lock lock;
    char why[256], txt[512], path[4096], hash[65], badkey[4096];
    size_t big_n = 12u << 20; /* three parts of 5 MiB: 5 + 5 + 2 */
    uint8_t *big = malloc(big_n);
    struct sink k = { malloc(big_n), 0, big_n };
    uint64_t total;
    enum objstore_err e;

    if (argc != 6 || !big || !k.buf) {
        fprintf(stderr, "usage: %s URL CA KEYFILE FOREIGN_CA WORKDIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < big_n; i++)
        big[i] = (uint8_t)(i * 2654435761u >> 13);

    cfg_for(&cfg, argv[1], argv[2], argv[3]);
    e = objstore_create(&s, &cfg, NULL, why, sizeof(why));
    if (!tap_ok(e == OBJSTORE_OK, "create: %s %s", objstore_strerror(e), why))
        return tap_done();
    e = objstore_bucket_create(s, &st);
    tap_ok(e == OBJSTORE_OK, "bucket created: %s", objstore_status_text(&st, txt, sizeof(txt)));
    e = objstore_bucket_create(s, &st);
    tap_ok(e == OBJSTORE_OK, "bucket created again is fine: %s",
           objstore_status_text(&st, txt, sizeof(txt)));

    e = objstore_put_mem(s, "small/one.bin", big, 100000, &info, &st);
    tap_ok(e == OBJSTORE_OK, "single PUT of 100 KB: %s", objstore_status_text(&st, txt, sizeof(txt)));
    e = objstore_head(s, "small/one.bin", &info, &st);
    test_sha256_hex(big, 100000, hash);
    tap_ok(e == OBJSTORE_OK && info.size == 100000 && strcmp(info.sha256, hash) == 0 &&
               strlen(info.etag) == 32 && info.mtime > 0,
           "HEAD: size %llu, x-amz-meta-sha256 kept, ETag %s", (unsigned long long)info.size,
           info.etag);
    k.len = 0;
    e = objstore_get(s, "small/one.bin", 1000, 500, collect, &k, &total, &st);
    tap_ok(e == OBJSTORE_OK && k.len == 500 && memcmp(k.buf, big + 1000, 500) == 0 && total == 100000,
           "ranged GET bytes 1000-1499 (206, total %llu)", (unsigned long long)total);
    k.len = 0;
    e = objstore_get(s, "small/one.bin", 200000, 10, collect, &k, NULL, &st);
    tap_ok(e == OBJSTORE_ERANGE, "a range past the end is ERANGE: %s",
           objstore_status_text(&st, txt, sizeof(txt)));

    snprintf(path, sizeof(path), "%s/big.bin", argv[5]);
    write_file(path, big, big_n);
    test_sha256_hex(big, big_n, hash);
    e = objstore_put_file(s, "big/three-parts.bin", path, hash, &info, &st);
    tap_ok(e == OBJSTORE_OK && strstr(info.etag, "-3") != NULL,
           "multipart PUT of 12 MiB in 3 parts: ETag %s, %s", info.etag,
           objstore_status_text(&st, txt, sizeof(txt)));
    k.len = 0;
    e = objstore_get(s, "big/three-parts.bin", 0, UINT64_MAX, collect, &k, &total, &st);
    tap_ok(e == OBJSTORE_OK && k.len == big_n && memcmp(k.buf, big, big_n) == 0 && total == big_n,
           "GET of the multipart object is bit-exact");
    e = objstore_head(s, "big/three-parts.bin", &info, &st);
    tap_ok(e == OBJSTORE_OK && info.size == big_n && strcmp(info.sha256, hash) == 0,
           "HEAD of the multipart object: size and sha256 metadata");
    k.len = 0;
    e = objstore_get(s, "big/three-parts.bin", (5u << 20) - 10, 20, collect, &k, NULL, &st);
    tap_ok(e == OBJSTORE_OK && k.len == 20 && memcmp(k.buf, big + (5u << 20) - 10, 20) == 0,
           "ranged GET across a part boundary");

    snprintf(path, sizeof(path), "%s/small.bin", argv[5]);
    write_file(path, big, 4096);
    e = objstore_put_file(s, "small/file.bin", path, hash, &info, &st);
    tap_ok(e == OBJSTORE_EINTEGRITY, "a file whose SHA-256 is not the expected one is refused: %s",
           objstore_strerror(e));
    tap_ok(objstore_head(s, "small/file.bin", &info, &st) == OBJSTORE_ENOTFOUND,
           "and nothing of it is in the store");
    test_sha256_hex(big, 4096, hash);
    e = objstore_put_file(s, "small/file.bin", path, hash, &info, &st);
    tap_ok(e == OBJSTORE_OK && info.size == 4096 && strcmp(info.sha256, hash) == 0,
           "single-PUT file upload with its expected SHA-256");

    e = objstore_delete(s, "small/file.bin", &st);
    tap_ok(e == OBJSTORE_OK && st.http == 204, "DELETE answers 204");
    tap_ok(objstore_head(s, "small/file.bin", &info, &st) == OBJSTORE_ENOTFOUND && st.http == 404,
           "HEAD after DELETE is ENOTFOUND");
    tap_ok(objstore_delete(s, "small/file.bin", &st) == OBJSTORE_OK, "DELETE of a missing object is OK");
    k.len = 0;
    e = objstore_get(s, "no/such", 0, UINT64_MAX, collect, &k, NULL, &st);
    tap_ok(e == OBJSTORE_ENOTFOUND && strcmp(st.code, "NoSuchKey") == 0,
           "GET of a missing key: ENOTFOUND with the store's code (%s)", st.code);

    e = objstore_lock_probe(s, &lock, &st);
    tap_ok(e == OBJSTORE_OK && !lock.enabled, "Object Lock probe: Swift has none (%s)",
           objstore_status_text(&st, txt, sizeof(txt)));

    {
        char loc[1200];
        objstore_location(s, "a/b.srec", loc, sizeof(loc));
        tap_ok(strcmp(loc, "s3://srtprec-test/a/b.srec") == 0 &&
                   strcmp(objstore_location_key(s, loc), "a/b.srec") == 0 &&
                   objstore_location_key(s, "s3://other/a/b.srec") == NULL,
               "locations round-trip");
    }
    objstore_destroy(s);

    /* Refusals. */
    cfg_for(&cfg, argv[1], argv[4], argv[3]);
    e = objstore_create(&bad, &cfg, NULL, why, sizeof(why));
    if (e == OBJSTORE_OK) {
        e = objstore_head(bad, "small/one.bin", &info, &st);
        tap_ok(e == OBJSTORE_ETLS && st.attempts == 1, "foreign CA: ETLS, not retried (%s)",
               objstore_status_text(&st, txt, sizeof(txt)));
        objstore_destroy(bad);
        bad = NULL;
    } else {
        tap_ok(false, "create with the foreign CA");
    }
    snprintf(badkey, sizeof(badkey), "%s/bad.key", argv[5]);
    {
        int fd = open(badkey, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        tap_ok(fd >= 0 && write(fd, "test:tester\nwrong\n", 18) == 18 && close(fd) == 0, "bad key file");
    }
    cfg_for(&cfg, argv[1], argv[2], badkey);
    e = objstore_create(&bad, &cfg, NULL, why, sizeof(why));
    if (e == OBJSTORE_OK) {
        e = objstore_head(bad, "small/one.bin", &info, &st);
        tap_ok(e == OBJSTORE_EAUTH && st.attempts == 1 && st.http == 403,
               "wrong secret: EAUTH (%s)", objstore_status_text(&st, txt, sizeof(txt)));
        tap_ok(strstr(txt, "wrong") == NULL, "the secret is in no message");
        objstore_destroy(bad);
        bad = NULL;
    }
    chmod(badkey, 0640);
    e = objstore_create(&bad, &cfg, NULL, why, sizeof(why));
    tap_ok(e == OBJSTORE_EINVAL && strstr(why, "0600"), "key file mode 0640 refused: %s", why);
    objstore_destroy(bad);
    cfg_for(&cfg, "http://127.0.0.1:1", argv[2], argv[3]);
    e = objstore_create(&bad, &cfg, NULL, why, sizeof(why));
    tap_ok(e == OBJSTORE_EINVAL, "http:// refused without lab-plain-http: %s", why);

    free(big);
    free(k.buf);
    return tap_done();
}
