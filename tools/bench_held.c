/** @file bench_held.c  Cost of holding packets until their key (recorder/held.c).
 *
 * For each scenario, S streams receive P packets of L bytes each,
 * interleaved as a worker sees them (one packet per stream in turn), all
 * held; then every stream is drained, oldest first, by a callback that
 * reads the packet (as a decrypt would).  Round 1 is cold (the pool takes
 * its pages from malloc and the kernel); rounds 2.. are warm (pages come
 * from the free list).  Reported: ns per push and per drained packet (CPU
 * time), the pool's page memory per packet held, and the process's resident
 * growth (statm) across the run.
 *
 *   bench_held        (no arguments; a fixed matrix, about 10 s)
 *
 * The budget of each scenario is exactly what it needs, so nothing is
 * refused; a refusal would be reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rec.h"

struct scenario {
    const char *name;
    size_t streams, per, len, rounds;
};

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident KiB: the second field of /proc/self/statm, in 4 KiB pages. */
static size_t rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    char line[128];
    size_t res = 0;
    const char *p;

    if (!f)
        return 0;
    if (fgets(line, sizeof(line), f) && (p = strchr(line, ' ')) != NULL)
        for (p++; *p >= '0' && *p <= '9'; p++)
            res = res * 10 + (size_t)(*p - '0');
    fclose(f);
    return res * 4;
}

static void touch(void *arg, uint8_t *pkt, size_t len, uint64_t ts, unsigned flags)
{
    unsigned *sum = arg;
    *sum += pkt[0] + pkt[len - 1];
}

static int run(const struct scenario *sc)
{
    struct rec_held_q *q = calloc(sc->streams, sizeof(*q));
    size_t per_page = (REC_HELD_PAGE - REC_HELD_PAGE_HDR) / REC_HELD_ENTRY_BYTES(sc->len);
    size_t pages = sc->streams * ((sc->per + per_page - 1) / per_page);
    struct rec_held_cfg c = { .slots = sc->streams * sc->per, .slot_size = 2048,
                              .per_stream_max = sc->per, .bytes = pages * REC_HELD_PAGE };
    struct rec_held *h = NULL;
    struct rec_held_stats st;
    uint8_t pkt[2048];
    unsigned sum = 0;
    double push_cold = 0, push_warm = 0, drain_cold = 0, drain_warm = 0, t;
    size_t rss0 = rss_kib(), refused = 0, in_use = 0;

    if (!q || rec_held_create(&h, &c) != SR_OK) {
        fprintf(stderr, "bench_held: cannot create the pool for %s\n", sc->name);
        free(q);
        return 1;
    }
    memset(pkt, 0x80, sizeof(pkt));
    for (size_t r = 0; r < sc->rounds; r++) {
        t = cpu_s();
        for (size_t i = 0; i < sc->per; i++)
            for (size_t s = 0; s < sc->streams; s++)
                refused += rec_held_push(h, &q[s], pkt, sc->len, i, 0) != SR_OK;
        t = cpu_s() - t;
        *(r == 0 ? &push_cold : &push_warm) += t;
        rec_held_stats(h, &st);
        in_use = st.bytes_in_use;
        t = cpu_s();
        for (size_t s = 0; s < sc->streams; s++)
            rec_held_drain(h, &q[s], touch, &sum);
        t = cpu_s() - t;
        *(r == 0 ? &drain_cold : &drain_warm) += t;
    }
    rec_held_stats(h, &st);
    double n = (double)(sc->streams * sc->per), warm = (double)(sc->rounds - 1) * n;
    printf("| %s | %zu x %zu x %zu B | %.1f | %.1f | %.1f | %.1f | %.1f | %zu | %zu | %zu |\n",
           sc->name, sc->streams, sc->per, sc->len, push_cold / n * 1e9, push_warm / warm * 1e9,
           drain_cold / n * 1e9, drain_warm / warm * 1e9, (double)in_use / n,
           st.bytes_peak >> 10, (rss_kib() - rss0), refused);
    rec_held_destroy(h);
    free(q);
    return sum == 1 && refused; /* keeps sum live; never both */
}

int main(void)
{
    static const struct scenario m[] = {
        { "one stream, 30 s late key", 1, 1500, 182, 200 },
        { "100 streams, 30 s late key", 100, 1500, 182, 5 },
        { "400 streams, 30 s late key", 400, 1500, 182, 3 },
        { "4,000 streams, 1 s key wait", 4000, 50, 182, 10 },
        { "4,000 streams, 1 s, G.722/Opus-size", 4000, 50, 1200, 5 },
    };
    int rc = 0;

    printf("| scenario | streams x packets x size | push cold ns | push warm ns | drain cold ns "
           "| drain warm ns | pool bytes/packet | pool peak KiB | RSS growth KiB | refused |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        rc |= run(&m[i]);
    return rc;
}
