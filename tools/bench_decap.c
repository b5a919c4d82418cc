/** @file bench_decap.c  Cost of decapsulating one captured frame
 *  (recorder/decap.h), per encapsulation.
 *
 * Each scenario decapsulates the same G.711-sized frame (160-byte payload
 * plus 12 bytes of RTP header) N times on one struct decap; "ip4 2 frags"
 * feeds both fragments of a datagram (ids cycling, so every datagram
 * completes and is freed; rewriting the id and header checksum is in the
 * time): its cost is per fragment, a datagram costs two.
 * 7 runs each; min/median/max ns per frame of thread CPU time (the machine is
 * shared: the minimum is the cost, the spread the noise).
 *
 *   bench_decap [N]     (default N = 2,000,000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decap.h"
#include "pktbuild.h"

#define RUNS 7

static const uint8_t A4[4] = { 192, 0, 2, 1 }, B4[4] = { 198, 51, 100, 7 };
static const uint8_t A6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t B6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void rtp(struct pk *k)
{
    uint8_t pl[172];
    memset(pl, 0xd5, sizeof(pl));
    pl[0] = 0x80;
    pk_init(k, pl, sizeof(pl));
    pk_udp(k, 30000, 40000);
}

enum { PLAIN, VLAN, QINQ_SLL, IP6EXT, GRE_TEB, ERSPAN2, VXLAN, FRAG, NSCEN };
static const char *const names[NSCEN] = {
    "ethernet ipv4", "802.1q ipv4", "sll2 qinq ipv6", "ipv6 3 ext hdrs", "gre csum+key teb",
    "erspan ii", "vxlan", "ip4 2 frags",
};

static size_t build(int sc, struct pk *f)
{
    rtp(&f[0]);
    switch (sc) {
    case PLAIN:
        pk_ip4(&f[0], A4, B4, 17, 1, 0);
        pk_eth(&f[0], 0x0800);
        return 1;
    case VLAN:
        pk_ip4(&f[0], A4, B4, 17, 1, 0);
        pk_vlan(&f[0], 100, 0x0800);
        pk_eth(&f[0], 0x8100);
        return 1;
    case QINQ_SLL:
        pk_ip6(&f[0], A6, B6, 17);
        pk_vlan(&f[0], 20, 0x86DD);
        pk_vlan(&f[0], 10, 0x8100);
        pk_sll2(&f[0], 0x88A8);
        return 1;
    case IP6EXT:
        pk_ext6(&f[0], 17, 1);
        pk_ext6(&f[0], 60, 1);
        pk_ext6(&f[0], 43, 1);
        pk_ip6(&f[0], A6, B6, 0);
        pk_eth(&f[0], 0x86DD);
        return 1;
    case GRE_TEB:
        pk_ip4(&f[0], A4, B4, 17, 1, 0);
        pk_eth(&f[0], 0x0800);
        pk_gre(&f[0], 0xA000, 0x6558, 7, 0);
        pk_ip4(&f[0], B4, A4, 47, 2, 0);
        pk_eth(&f[0], 0x0800);
        return 1;
    case ERSPAN2:
        pk_ip4(&f[0], A4, B4, 17, 1, 0);
        pk_vlan(&f[0], 100, 0x0800);
        pk_eth(&f[0], 0x8100);
        pk_erspan2(&f[0], 5);
        pk_gre(&f[0], 0x1000, 0x88BE, 0, 1);
        pk_ip4(&f[0], B4, A4, 47, 2, 0);
        pk_eth(&f[0], 0x0800);
        return 1;
    case VXLAN:
        pk_ip4(&f[0], A4, B4, 17, 1, 0);
        pk_eth(&f[0], 0x0800);
        pk_vxlan(&f[0], 99);
        pk_udp(&f[0], 50000, 4789);
        pk_ip4(&f[0], B4, A4, 17, 2, 0);
        pk_eth(&f[0], 0x0800);
        return 1;
    default: { /* the 180-byte datagram as 96 + 84 bytes */
        struct pk dg = f[0];
        pk_init(&f[0], pk_data(&dg), 96);
        pk_ip4(&f[0], A4, B4, 17, 0, 0x2000);
        pk_eth(&f[0], 0x0800);
        pk_init(&f[1], pk_data(&dg) + 96, pk_len(&dg) - 96);
        pk_ip4(&f[1], A4, B4, 17, 0, 96 / 8);
        pk_eth(&f[1], 0x0800);
        return 2;
    }
    }
}

/* IPv4 id at bytes 18..19 of an Ethernet frame; its header checksum kept right. */
static void set_id(struct pk *k, unsigned id)
{
    uint8_t *ip = k->b + k->start + 14;
    pk_put16(ip + 4, id);
    pk_put16(ip + 10, 0);
    pk_put16(ip + 10, pk_csum(ip, 20));
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000000;
    struct pk *f = calloc(2, sizeof(*f));

    if (n <= 0 || !f)
        return 2;
    printf("%-20s %8s %8s %8s  (ns per frame, %d runs of %ld)\n", "scenario", "min", "median",
           "max", RUNS, n);
    for (int sc = 0; sc < NSCEN; sc++) {
        size_t nf = build(sc, f);
        int dlt = sc == QINQ_SLL ? DECAP_DLT_LINUX_SLL2 : DECAP_DLT_EN10MB;
        struct decap_cfg cfg = { 0 };
        struct decap *d;
        struct decap_udp u;
        struct decap_stats st;
        double t[RUNS];
        unsigned sink = 0;

        if (decap_create(&d, &cfg) != SR_OK)
            return 1;
        for (int r = 0; r < RUNS; r++) {
            double t0 = now_ns();
            for (long i = 0; i < n; i++) {
                const struct pk *k = &f[(size_t)i % nf];
                if (nf > 1 && i % 2 == 0) {
                    set_id(&f[0], (unsigned)(i / 2) & 0xffff);
                    set_id(&f[1], (unsigned)(i / 2) & 0xffff);
                }
                if (decap_frame(d, dlt, pk_data(k), pk_len(k), 0, &u) == DECAP_UDP)
                    sink += u.payload[u.len - 1];
            }
            t[r] = (now_ns() - t0) / (double)n;
        }
        decap_stats(d, &st);
        if (st.verdicts[DECAP_UDP] != (uint64_t)(RUNS * n) / nf) {
            fprintf(stderr, "bench_decap: %s: %llu datagrams of %ld frames\n", names[sc],
                    (unsigned long long)st.verdicts[DECAP_UDP], RUNS * n);
            return 1;
        }
        qsort(t, RUNS, sizeof(t[0]), cmp);
        printf("%-20s %8.1f %8.1f %8.1f\n", names[sc], t[0], t[RUNS / 2], t[RUNS - 1]);
        if (sink == 1) /* keep the payload reads */
            fputs("", stdout);
        decap_destroy(d);
    }
    free(f);
    return 0;
}
