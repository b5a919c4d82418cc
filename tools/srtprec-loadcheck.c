/** @file srtprec-loadcheck.c  Did the recorder archive exactly what srtprec-loadgen sent?
 *
 *   srtprec-loadcheck --cert=C --key=K --expect=RESULTS.tsv ARCHIVE...
 *
 * Reads every archive (stor_reader: each chunk authenticated, the trailer
 * read), and for each stream counts its packets and hashes its payloads in
 * file order (SHA-256), then compares with the generator's per-stream lines
 * (call_id, stream_id, ssrc, packets, sha256), matched by (call-id, SSRC).
 * Prints one summary line of key=value pairs; exit 0 only when every
 * expected stream is present with the same count and hash, nothing else was
 * archived (no stray or still-encrypted packets), and every archive was
 * sealed.  Archives of other calls (no expected stream) count as "foreign"
 * and are only reported.
 *
 * With --prefixes=PREFIXES.tsv (srtprec-loadgen --prefixes), an archive that
 * recovery sealed after a crash (a recovery marker, no trailer) passes when
 * each of its streams equals one prefix of the stream sent: the first n
 * packets, payload for payload; it counts as "recovered", not "unsealed".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "stor.h"
#include "util.h"
#include "version.h"

enum { LINE_MAX_LEN = 512, MAX_ARCH_STREAMS = 1024 };

struct expect {
    char call_id[STOR_STR];
    uint32_t ssrc;
    uint64_t packets;
    char sha[65];
    bool seen;
};

struct totals {
    uint64_t archives, foreign, unsealed, recovered, streams_ok, streams_bad, extra_streams;
    uint64_t expected_pkts, archived_pkts, encrypted_pkts, auth_fail, replay, malformed, overload;
};

static int expect_cmp(const void *a, const void *b)
{
    const struct expect *x = a, *y = b;
    int c = strcmp(x->call_id, y->call_id);

    return c ? c : (x->ssrc > y->ssrc) - (x->ssrc < y->ssrc);
}

static struct expect *expect_load(const char *path, size_t *n_out)
{
    FILE *f = fopen(path, "re");
    char line[LINE_MAX_LEN];
    struct expect *v = NULL;
    size_t n = 0, cap = 0;

    if (!f) {
        perror(path);
        return NULL;
    }
    while (fgets(line, sizeof(line), f)) {
        char call[STOR_STR], sid[16], sha[65];
        unsigned long ssrc;
        unsigned long long pk;

        if (strncmp(line, "call_id\t", 8) == 0)
            continue;
        if (sscanf(line, "%255s %15s %lx %llu %64s", call, sid, &ssrc, &pk, sha) != 5)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 256;
            struct expect *nv = realloc(v, nc * sizeof(*nv));
            if (!nv) {
                free(v);
                fclose(f);
                return NULL;
            }
            v = nv;
            cap = nc;
        }
        memset(&v[n], 0, sizeof(v[n]));
        snprintf(v[n].call_id, sizeof(v[n].call_id), "%s", call);
        v[n].ssrc = (uint32_t)ssrc;
        v[n].packets = pk;
        memcpy(v[n].sha, sha, sizeof(sha));
        n++;
    }
    fclose(f);
    if (n == 0) { /* no stream expected (every archive is foreign): not an error */
        free(v);
        v = calloc(1, sizeof(*v));
    } else {
        qsort(v, n, sizeof(*v), expect_cmp);
    }
    *n_out = n;
    return v;
}

/* A prefix line: (call, ssrc, packets) with its hash; nothing else read. */
static int prefix_cmp(const void *a, const void *b)
{
    const struct expect *x = a, *y = b;
    int c = expect_cmp(a, b);

    return c ? c : (x->packets > y->packets) - (x->packets < y->packets);
}

struct prefixes {
    struct expect *v;
    size_t n;
};

static bool prefix_match(const struct prefixes *pf, const char *call, uint32_t ssrc,
                         uint64_t packets, const char *sha)
{
    struct expect key, *e;

    if (!pf->n)
        return false;
    snprintf(key.call_id, sizeof(key.call_id), "%s", call);
    key.ssrc = ssrc;
    key.packets = packets;
    e = bsearch(&key, pf->v, pf->n, sizeof(*pf->v), prefix_cmp);
    return e && strcmp(e->sha, sha) == 0;
}

static struct expect *expect_find(struct expect *v, size_t n, const char *call, uint32_t ssrc)
{
    struct expect key;

    snprintf(key.call_id, sizeof(key.call_id), "%s", call);
    key.ssrc = ssrc;
    return n ? bsearch(&key, v, n, sizeof(*v), expect_cmp) : NULL;
}

static int check_archive(const char *path, const char *cert, const char *key, struct expect *v,
                         size_t n, const struct prefixes *pf, struct totals *t)
{
    EVP_MD_CTX *md[MAX_ARCH_STREAMS] = { 0 };
    uint64_t count[MAX_ARCH_STREAMS] = { 0 };
    struct stor_reader *r = NULL;
    const char *why = NULL;
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;
    int rc = 1;

    err = stor_reader_open(&r, path, cert, key, &why);
    if (err) {
        fprintf(stderr, "%s: %s (%s)\n", path, why ? why : "", sr_strerror(err));
        return 1;
    }
    t->archives++;
    while ((err = stor_reader_next(r, &idx, &p, &why)) == SR_OK) {
        if (idx >= MAX_ARCH_STREAMS) {
            fprintf(stderr, "%s: more than %d streams\n", path, MAX_ARCH_STREAMS);
            goto out;
        }
        if (!md[idx]) {
            md[idx] = EVP_MD_CTX_new();
            if (!md[idx] || EVP_DigestInit_ex(md[idx], EVP_sha256(), NULL) != 1)
                goto out;
        }
        if (p.flags & STOR_PKT_ENCRYPTED)
            t->encrypted_pkts++;
        if (EVP_DigestUpdate(md[idx], p.payload, p.payload_len) != 1)
            goto out;
        count[idx]++;
        t->archived_pkts++;
    }
    if (err != SR_ECLOSED) {
        fprintf(stderr, "%s: %s (%s)\n", path, why ? why : "", sr_strerror(err));
        goto out;
    }
    bool cut = pf->n && stor_reader_recovery(r); /* judged as a prefix of what was sent */
    if (cut) {
        t->recovered++;
    } else if (!stor_reader_counts(r)) {
        t->unsealed++;
    } else {
        const struct stor_counts *c = stor_reader_counts(r);
        t->auth_fail += c->auth_fail;
        t->replay += c->replay;
        t->malformed += c->malformed;
        t->overload += c->overload;
    }
    {
        const char *call = stor_reader_call(r)->call_id;
        bool any = false;

        for (size_t i = 0; i < stor_reader_n_streams(r) && i < MAX_ARCH_STREAMS; i++) {
            const struct stor_stream_info *si = stor_reader_stream(r, i);
            struct expect *e = expect_find(v, n, call, si->ssrc);
            uint8_t h[32];
            char hex[65] = "";

            if (md[i] && EVP_DigestFinal_ex(md[i], h, NULL) == 1)
                sr_hex_encode(h, 32, hex);
            if (!e) {
                t->extra_streams++;
                continue;
            }
            any = true;
            e->seen = true;
            if ((count[i] == e->packets && strcmp(hex, e->sha) == 0) ||
                (cut && prefix_match(pf, call, si->ssrc, count[i], hex))) {
                t->streams_ok++;
            } else {
                t->streams_bad++;
                fprintf(stderr, "%s: call %s ssrc %08" PRIx32 ": %" PRIu64 " packets archived, %"
                        PRIu64 " sent; hash %s\n", path, call, si->ssrc, count[i], e->packets,
                        strcmp(hex, e->sha) == 0 ? "equal" : "differs");
            }
        }
        if (!any)
            t->foreign++;
    }
    rc = 0;
out:
    for (size_t i = 0; i < MAX_ARCH_STREAMS; i++)
        EVP_MD_CTX_free(md[i]);
    stor_reader_close(r);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *exp = NULL, *pre = NULL;
    struct prefixes pf = { 0 };
    struct totals t = { 0 };
    struct expect *v;
    size_t n = 0, missing = 0;
    int i, bad = 0;

    static const char usage[] =
        "usage: srtprec-loadcheck --cert=C --key=K --expect=RESULTS.tsv [--prefixes=PREFIXES.tsv] "
        "ARCHIVE...\n";

    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            sr_version_print(stdout, "srtprec-loadcheck");
            return 0;
        }
        if (strncmp(argv[i], "--cert=", 7) == 0)
            cert = argv[i] + 7;
        else if (strncmp(argv[i], "--key=", 6) == 0)
            key = argv[i] + 6;
        else if (strncmp(argv[i], "--expect=", 9) == 0)
            exp = argv[i] + 9;
        else if (strncmp(argv[i], "--prefixes=", 11) == 0)
            pre = argv[i] + 11;
        else {
            fprintf(stderr, "srtprec-loadcheck: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!cert || !key || !exp) {
        fprintf(stderr, "srtprec-loadcheck: missing%s%s%s\n%s", cert ? "" : " --cert",
                key ? "" : " --key", exp ? "" : " --expect", usage);
        return 2;
    }
    v = expect_load(exp, &n);
    if (!v)
        return 2;
    if (pre) {
        if (!(pf.v = expect_load(pre, &pf.n))) {
            free(v);
            return 2;
        }
        qsort(pf.v, pf.n, sizeof(*pf.v), prefix_cmp);
    }
    for (; i < argc; i++)
        bad |= check_archive(argv[i], cert, key, v, n, &pf, &t);
    for (size_t k = 0; k < n; k++) {
        t.expected_pkts += v[k].packets;
        if (!v[k].seen) {
            missing++;
            if (missing <= 5)
                fprintf(stderr, "missing: call %s ssrc %08" PRIx32 "\n", v[k].call_id, v[k].ssrc);
        }
    }
    printf("archives=%" PRIu64 " foreign=%" PRIu64 " unsealed=%" PRIu64 " recovered=%" PRIu64
           " streams_expected=%zu"
           " streams_ok=%" PRIu64 " streams_bad=%" PRIu64 " streams_missing=%zu extra_streams=%"
           PRIu64 " packets_expected=%" PRIu64 " packets_archived=%" PRIu64 " encrypted=%" PRIu64
           " auth_fail=%" PRIu64 " replay=%" PRIu64 " malformed=%" PRIu64 " overload=%" PRIu64
           "\n",
           t.archives, t.foreign, t.unsealed, t.recovered, n, t.streams_ok, t.streams_bad, missing,
           t.extra_streams, t.expected_pkts, t.archived_pkts, t.encrypted_pkts, t.auth_fail,
           t.replay, t.malformed, t.overload);
    free(v);
    free(pf.v);
    if (bad || missing || t.streams_bad || t.extra_streams || t.encrypted_pkts || t.unsealed ||
        t.streams_ok != n)
        return 1;
    return 0;
}
