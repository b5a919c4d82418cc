/** @file bench_index.c  Index benchmarks through storage's interface (either backend).
 *
 *   bench_index --index=SPEC --writes=N [--procs=P]
 *       N recordings per process, each an archive open (state recording)
 *       then a seal (complete, with its hash): 2 N puts; prints puts/s.
 *   bench_index --index=SPEC --search=Q [--agents=A --days=D]
 *       Q one-day queries by party (a random agent, a random day, 100 rows
 *       at most, as GET /v1/recordings?party=&from=&to= asks the index) on
 *       the index tools/bench_index.sh filled; prints p50, p99 and max in ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stor.h"
#include "util.h"

#define BASE_US 1700000000000000ull
#define DAY_US 86400000000ull

static bool count_fn(const struct stor_record *rec, void *arg)
{
    (void)rec;
    (*(size_t *)arg)++;
    return true;
}

static int writes(const char *spec, unsigned n, unsigned proc)
{
    struct stor_index *ix = NULL;
    struct stor_record r;

    if (stor_index_open(&ix, spec) != SR_OK)
        return 1;
    for (unsigned i = 0; i < n; i++) {
        memset(&r, 0, sizeof(r));
        snprintf(r.id, sizeof(r.id), "b%03x%028x", proc, i);
        snprintf(r.call.call_id, sizeof(r.call.call_id), "bench-%u-%u@host", proc, i);
        snprintf(r.call.local_aor, sizeof(r.call.local_aor), "sip:agent%u@cc.example", i % 500);
        snprintf(r.call.remote_aor, sizeof(r.call.remote_aor), "sip:+%u@pstn.example", i);
        r.call.start_wall_us = sr_now_us();
        r.n_streams = 2;
        snprintf(r.path, sizeof(r.path), "/var/lib/srtprec/archive/%s.srec.partial", r.id);
        if (stor_index_put(ix, &r) != SR_OK)
            return 1;
        r.state = STOR_STATE_COMPLETE;
        r.end_wall_us = r.call.start_wall_us + 1;
        r.bytes = 4000000;
        r.packets = 30000;
        snprintf(r.sha256, sizeof(r.sha256), "%064x", i);
        snprintf(r.path, sizeof(r.path), "/var/lib/srtprec/archive/%s.srec", r.id);
        if (stor_index_put(ix, &r) != SR_OK)
            return 1;
    }
    stor_index_close(ix);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *spec = NULL;
    unsigned n_writes = 0, procs = 1, n_search = 0, agents = 500, days = 30;

    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--index=", 8))
            spec = argv[i] + 8;
        else if (!strncmp(argv[i], "--writes=", 9))
            n_writes = (unsigned)atoi(argv[i] + 9);
        else if (!strncmp(argv[i], "--procs=", 8))
            procs = (unsigned)atoi(argv[i] + 8);
        else if (!strncmp(argv[i], "--search=", 9))
            n_search = (unsigned)atoi(argv[i] + 9);
        else if (!strncmp(argv[i], "--agents=", 9))
            agents = (unsigned)atoi(argv[i] + 9);
        else if (!strncmp(argv[i], "--days=", 7))
            days = (unsigned)atoi(argv[i] + 7);
    }
    if (!spec || (!n_writes && !n_search) || !procs || procs > 64 || !agents || !days) {
        fprintf(stderr, "usage: bench_index --index=SPEC (--writes=N [--procs=P] | --search=Q)\n");
        return 2;
    }
    if (n_writes) {
        uint64_t t0 = sr_now_us();
        int bad = 0;
        for (unsigned p = 0; p < procs; p++) {
            pid_t pid = fork();
            if (pid == 0)
                _exit(writes(spec, n_writes, p));
        }
        for (unsigned p = 0; p < procs; p++) {
            int st = 0;
            if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                bad++;
        }
        if (bad) {
            fprintf(stderr, "bench_index: %d writers failed\n", bad);
            return 1;
        }
        printf("writes: %u procs x %u recordings (open + seal): %.0f puts/s\n", procs, n_writes,
               2.0 * procs * n_writes * 1e6 / (double)(sr_now_us() - t0));
        return 0;
    }
    {
        struct stor_index *ix = NULL;
        uint64_t *lat = calloc(n_search, sizeof(*lat));
        size_t rows = 0;
        char party[64];

        if (!lat || stor_index_open_mode(&ix, spec, STOR_INDEX_READ_ONLY) != SR_OK) {
            fprintf(stderr, "bench_index: cannot open the index\n");
            return 1;
        }
        srand(42);
        for (unsigned i = 0; i < n_search; i++) {
            unsigned day = (unsigned)rand() % days;
            struct stor_query q = { .from_wall_us = BASE_US + day * DAY_US,
                                    .to_wall_us = BASE_US + (day + 1) * DAY_US - 1,
                                    .party = party,
                                    .limit = 100 };
            uint64_t t0;
            snprintf(party, sizeof(party), "sip:agent%u@cc.example", (unsigned)rand() % agents);
            t0 = sr_now_us();
            if (stor_index_search(ix, &q, count_fn, &rows) != SR_OK) {
                fprintf(stderr, "bench_index: search failed\n");
                return 1;
            }
            lat[i] = sr_now_us() - t0;
        }
        qsort(lat, n_search, sizeof(*lat), cmp_u64);
        printf("search: %u one-day party queries, %.1f rows each: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
               n_search, (double)rows / n_search, lat[n_search / 2] / 1e3,
               lat[n_search * 99 / 100] / 1e3, lat[n_search - 1] / 1e3);
        stor_index_close(ix);
        free(lat);
    }
    return 0;
}
