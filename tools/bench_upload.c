/** @file bench_upload.c  Upload throughput through the recorder's uploader
 * (recorder/upload.c) to a real store: COUNT archives of SIZE bytes (random
 * bytes, each with its index row and SHA-256, a .sig beside it) are put in
 * a fresh spool and the uploader thread is timed from its start until the
 * store confirmed all of them and the index locates them.  What is timed is
 * the whole path: the spool scan, reading and hashing each file, SigV4,
 * TLS, single PUT or multipart, ETag checks, the index update and the
 * removal.  tools/bench_upload.sh runs it against a local Swift.
 *
 *   bench_upload URL CA KEYFILE BUCKET WORKDIR COUNT SIZE_BYTES
 *
 * BENCH_PART_MB sets the part size (default 8); an http:// URL is allowed
 * (lab-plain-http) to tell TLS's share apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "objstore.h"
#include "stor.h"
#include "upload.h"
#include "util.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char spool[2048], db[2100], path[2200], why[512];
    struct objstore_cfg sc = { 0 };
    struct stor_index *ix = NULL, *ix2 = NULL;
    struct stor_record *r = calloc(1, sizeof(*r));
    struct rd_upl *u = NULL;
    struct rd_upl_stats st;
    unsigned long count, size;
    uint8_t *buf;
    double t0, t1;

    if (argc != 8) {
        fprintf(stderr, "usage: %s URL CA KEYFILE BUCKET WORKDIR COUNT SIZE_BYTES\n", argv[0]);
        return 2;
    }
    count = strtoul(argv[6], NULL, 10);
    size = strtoul(argv[7], NULL, 10);
    buf = malloc(size ? size : 1);
    if (!r || !buf || !count)
        return 2;
    snprintf(spool, sizeof(spool), "%s/archive", argv[5]);
    snprintf(db, sizeof(db), "%s/index.sqlite", argv[5]);
    mkdir(spool, 0750);
    if (stor_index_open(&ix, db) != SR_OK)
        return 1;
    for (unsigned long i = 0; i < count; i++) {
        uint8_t d[32];
        unsigned dl = 0;
        FILE *f;
        RAND_bytes(buf, (int)size);
        memset(r, 0, sizeof(*r));
        snprintf(r->id, sizeof(r->id), "%032lx", 0xbe000000ul + i);
        snprintf(r->call.call_id, sizeof(r->call.call_id), "bench-%lu", i);
        r->state = STOR_STATE_COMPLETE;
        r->bytes = size;
        EVP_Digest(buf, size, d, &dl, EVP_sha256(), NULL);
        sr_hex_encode(d, sizeof(d), r->sha256);
        snprintf(path, sizeof(path), "%s/%s.srec", spool, r->id);
        snprintf(r->path, sizeof(r->path), "%s", path);
        if (!(f = fopen(path, "wb")) || fwrite(buf, 1, size, f) != size || fclose(f) != 0)
            return 1;
        snprintf(path, sizeof(path), "%s/%s.srec.sig", spool, r->id);
        if (!(f = fopen(path, "wb")) || fputs("bench signature\n", f) < 0 || fclose(f) != 0)
            return 1;
        if (stor_index_put(ix, r) != SR_OK)
            return 1;
    }
    snprintf(sc.url, sizeof(sc.url), "%s", argv[1]);
    snprintf(sc.ca, sizeof(sc.ca), "%s", argv[2]);
    snprintf(sc.access_key_file, sizeof(sc.access_key_file), "%s", argv[3]);
    snprintf(sc.bucket, sizeof(sc.bucket), "%s", argv[4]);
    snprintf(sc.region, sizeof(sc.region), "us-east-1");
    /* BENCH_PART_MB: another part size (a file below it takes one PUT). */
    sc.part_size = getenv("BENCH_PART_MB") ? strtoul(getenv("BENCH_PART_MB"), NULL, 10) << 20
                                           : OBJSTORE_PART_DEFAULT;
    /* An http:// URL (Swift without the stunnel front): what TLS costs. */
    sc.lab_plain_http = strncmp(argv[1], "http://", 7) == 0;
    sc.retries = 4;
    sc.backoff_min_ms = 200;
    sc.backoff_max_ms = 2000;
    sc.timeout_s = 30;
    if (stor_index_open(&ix2, db) != SR_OK)
        return 1;
    /* BENCH_THREADS: upload threads (default 1). */
    struct rd_upl_cfg uc = { .archive_dir = spool, .prefix = "bench/", .index_spec = db,
                             .threads = getenv("BENCH_THREADS")
                                            ? (unsigned)strtoul(getenv("BENCH_THREADS"), NULL, 10)
                                            : 1 };
    t0 = now_s();
    if (rd_upl_create(&u, &uc, &sc, ix2, NULL, NULL, true, why, sizeof(why)) != SR_OK) {
        fprintf(stderr, "uploader: %s\n", why);
        return 1;
    }
    for (int i = 0; i < 60000; i++) { /* at most 10 minutes */
        rd_upl_stats(u, &st);
        if (st.ok + st.failed >= count && st.pending == 0)
            break;
        usleep(10000);
    }
    t1 = now_s();
    rd_upl_stats(u, &st);
    rd_upl_destroy(u);
    printf("%lu archives of %.1f MB: %.2f s, %.1f MB/s, %.1f archives/s (ok %llu, failed %llu)\n",
           count, (double)size / 1048576.0, t1 - t0,
           (double)st.bytes / 1048576.0 / (t1 - t0), (double)st.ok / (t1 - t0),
           (unsigned long long)st.ok, (unsigned long long)st.failed);
    stor_index_close(ix);
    free(buf);
    free(r);
    return st.ok == count ? 0 : 1;
}
