/** @file test_held.c  The held-packet pool: caps, byte budget, order, drop
 *  counting, page reuse, wiping, and a randomized model test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "tap.h"

struct seen {
    uint8_t first[64];
    size_t len[64];
    uint64_t ts[64];
    unsigned flags[64];
    size_t n;
    struct rec_held *h;      /* for the callback that pushes elsewhere */
    struct rec_held_q *other;
};

static void collect(void *arg, uint8_t *pkt, size_t len, uint64_t ts, unsigned flags)
{
    struct seen *s = arg;
    if (s->n < 64) {
        s->first[s->n] = len ? pkt[0] : 0xff;
        s->len[s->n] = len;
        s->ts[s->n] = ts;
        s->flags[s->n] = flags;
    }
    s->n++;
    if (s->other) {
        /* A push during drain must not overwrite the slot being handed out. */
        uint8_t junk[8];
        memset(junk, 0xee, sizeof(junk));
        rec_held_push(s->h, s->other, junk, sizeof(junk), 0, 0);
        if (len && pkt[0] == 0xee)
            s->first[s->n - 1] = 0xee;
    }
}

static void invalid(void)
{
    struct rec_held *h = NULL;
    struct rec_held_cfg c = { .slots = 4, .slot_size = 100, .per_stream_max = 5 };
    tap_ok(rec_held_create(&h, &c) == SR_EINVAL, "per-stream cap above pool refused");
    c = (struct rec_held_cfg){ .slots = 0, .slot_size = 100, .per_stream_max = 1 };
    tap_ok(rec_held_create(&h, &c) == SR_EINVAL, "zero slots refused");
    c = (struct rec_held_cfg){ .slots = 4, .slot_size = 70000, .per_stream_max = 1 };
    tap_ok(rec_held_create(&h, &c) == SR_EINVAL, "slot over 65535 refused");
    c = (struct rec_held_cfg){ .slots = 4, .slot_size = 100, .per_stream_max = 1, .bytes = 4095 };
    tap_ok(rec_held_create(&h, &c) == SR_EINVAL, "budget under one page refused");
    c = (struct rec_held_cfg){ .slots = 4, .slot_size = 100, .per_stream_max = 1,
                               .bytes = ((size_t)1 << 24) * 4096 + 4096 };
    tap_ok(rec_held_create(&h, &c) == SR_EINVAL, "budget over 2^24 pages refused");
    rec_held_destroy(NULL);
}

static void caps_and_order(void)
{
    struct rec_held *h = NULL;
    /* four pages: the packet cap (8) is what fills first here */
    struct rec_held_cfg c = { .slots = 8, .slot_size = 32, .per_stream_max = 5, .bytes = 4 * 4096 };
    struct rec_held_q a = REC_HELD_Q_INIT, b = REC_HELD_Q_INIT, d = REC_HELD_Q_INIT;
    struct rec_held_stats st;
    struct seen s;
    uint8_t pkt[40];

    tap_ok(rec_held_create(&h, &c) == SR_OK, "pool of 8 packets up to 32 bytes, 5 per stream, 4 pages");
    /* interleave a and b */
    size_t ok = 0;
    for (uint8_t i = 0; i < 6; i++) {
        pkt[0] = (uint8_t)(0xa0 + i);
        ok += rec_held_push(h, &a, pkt, 10 + i, 1000 + i, i) == SR_OK;
        if (i < 3) {
            pkt[0] = (uint8_t)(0xb0 + i);
            ok += rec_held_push(h, &b, pkt, 20, 2000 + i, 7) == SR_OK;
        }
    }
    tap_ok(ok == 8 && a.count == 5 && b.count == 3, "5 + 3 held");
    tap_ok(a.dropped == 1, "sixth packet on a: per-stream cap, counted");
    pkt[0] = 0xd0;
    tap_ok(rec_held_push(h, &d, pkt, 4, 0, 0) == SR_ELIMIT && d.dropped == 1,
           "pool full: SR_ELIMIT, counted on d");
    tap_ok(rec_held_push(h, &b, pkt, 33, 0, 0) == SR_ELIMIT && b.dropped == 1,
           "larger than a slot: SR_ELIMIT, counted");
    rec_held_stats(h, &st);
    tap_ok(st.in_use == 8 && st.slots == 8 && st.held == 8 && st.drop_stream_full == 1 &&
               st.drop_pool_full == 1 && st.drop_too_big == 1,
           "pool counters");

    memset(&s, 0, sizeof(s));
    tap_ok(rec_held_drain(h, &a, collect, &s) == 5 && s.n == 5, "drain a: 5");
    bool order = true;
    for (size_t i = 0; i < 5; i++)
        order = order && s.first[i] == 0xa0 + i && s.len[i] == 10 + i && s.ts[i] == 1000 + i &&
                s.flags[i] == i;
    tap_ok(order, "a drained in arrival order with its lengths, times and flags");
    tap_ok(a.count == 0 && a.dropped == 1, "a empty, its drop count kept");

    /* slots are reusable; b still intact */
    for (uint8_t i = 0; i < 5; i++) {
        pkt[0] = (uint8_t)(0xd0 + i);
        rec_held_push(h, &d, pkt, 1, 0, 0);
    }
    tap_ok(d.count == 5, "freed slots reused by d");
    memset(&s, 0, sizeof(s));
    rec_held_drain(h, &b, collect, &s);
    tap_ok(s.n == 3 && s.first[0] == 0xb0 && s.first[1] == 0xb1 && s.first[2] == 0xb2,
           "b intact and in order after a's slots were reused");

    /* drain d while the callback pushes into a */
    memset(&s, 0, sizeof(s));
    s.h = h;
    s.other = &a;
    rec_held_drain(h, &d, collect, &s);
    bool intact = s.n == 5;
    for (size_t i = 0; i < 5 && intact; i++)
        intact = s.first[i] == 0xd0 + i;
    tap_ok(intact, "pushes from the drain callback do not overwrite the packet in hand");
    tap_ok(a.count == 5 && a.dropped == 1, "and they landed in a (5)");
    tap_ok(rec_held_discard(h, &a) == 5 && a.count == 0, "discard a");
    rec_held_stats(h, &st);
    tap_ok(st.in_use == 0 && st.discarded == 5, "all slots free, discards counted");
    tap_ok(rec_held_drain(h, &a, collect, &s) == 0, "draining an empty queue is a no-op");
    tap_ok(rec_held_push(h, &a, NULL, 0, 0, 0) == SR_OK && a.count == 1,
           "zero-length packet held");
    rec_held_destroy(h); /* with a packet still held */
}

static void many_streams(void)
{
    enum { SLOTS = 1000, STREAMS = 300 };
    static struct rec_held_q q[STREAMS];
    struct rec_held *h = NULL;
    /* enough pages for every stream: the packet cap is what binds */
    struct rec_held_cfg c = { .slots = SLOTS, .slot_size = 200, .per_stream_max = 4,
                              .bytes = STREAMS * 4096 };
    struct rec_held_stats st;
    uint64_t dropped = 0, accepted = 0;
    uint8_t pkt[200] = { 0 };

    rec_held_create(&h, &c);
    for (int round = 0; round < 6; round++)
        for (int i = 0; i < STREAMS; i++)
            (*(rec_held_push(h, &q[i], pkt, sizeof(pkt), 0, 0) == SR_OK ? &accepted : &dropped))++;
    rec_held_stats(h, &st);
    uint64_t qdrop = 0;
    for (int i = 0; i < STREAMS; i++)
        qdrop += q[i].dropped;
    tap_ok(accepted == SLOTS && dropped == 6 * STREAMS - SLOTS, "global cap holds at %d", SLOTS);
    tap_ok(qdrop == dropped && st.drop_pool_full + st.drop_stream_full == dropped,
           "every refusal counted, per stream and per pool");
    rec_held_destroy(h);

    /* 100 pages: a stream holding anything holds a page, so 100 streams
     * (4 x 216 bytes each, one page) and no more. */
    memset(q, 0, sizeof(q));
    c.bytes = 100 * 4096 + 4095;
    accepted = dropped = 0;
    rec_held_create(&h, &c);
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < STREAMS; i++)
            (*(rec_held_push(h, &q[i], pkt, sizeof(pkt), 0, 0) == SR_OK ? &accepted : &dropped))++;
    rec_held_stats(h, &st);
    tap_ok(accepted == 400 && st.drop_pool_full == 4 * STREAMS - 400 && st.bytes == 100 * 4096 &&
               st.bytes_in_use == st.bytes && st.pkt_bytes == 400 * sizeof(pkt),
           "budget of 100 pages: 100 streams x 4 held, the rest refused as pool full");
    rec_held_destroy(h);
}

/* The byte pattern of packet `seed`, so a drain can tell every byte is its own. */
static void fill_pkt(uint8_t *p, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed * 2654435761u >> 24) ^ (uint8_t)(i * 131u);
}

static bool pkt_is(const uint8_t *p, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ((uint8_t)(seed * 2654435761u >> 24) ^ (uint8_t)(i * 131u)))
            return false;
    return true;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

static void budget_exact(void)
{
    /* slot_size 4072: one entry of 16 + 4072 fills a 4096-byte page exactly */
    struct rec_held_cfg c = { .slots = 100, .slot_size = 4072, .per_stream_max = 100,
                              .bytes = 2 * 4096 + 100 };
    struct rec_held_q a = REC_HELD_Q_INIT, b = REC_HELD_Q_INIT;
    struct rec_held *h = NULL;
    struct rec_held_stats st;
    static uint8_t pkt[4072];

    tap_ok(REC_HELD_ENTRY_BYTES(0) == 16 && REC_HELD_ENTRY_BYTES(1) == 24 &&
               REC_HELD_ENTRY_BYTES(182) == 200 && REC_HELD_ENTRY_BYTES(4072) == 4088,
           "entry sizes: 16-byte header, packet rounded up to 8");
    tap_ok(rec_held_create(&h, &c) == SR_OK, "budget of 2 pages + 100 bytes");
    rec_held_stats(h, &st);
    tap_ok(st.bytes == 8192 && st.page_size == 4096 && st.bytes_in_use == 0 && st.bytes_peak == 0,
           "budget rounded down to 2 pages; nothing in service yet");
    tap_ok(rec_held_push(h, &a, pkt, 4072, 1, 0) == SR_OK, "a: one packet fills page 1");
    tap_ok(rec_held_push(h, &b, pkt, 4000, 2, 0) == SR_OK, "b: 4000 bytes in page 2 (72 left)");
    rec_held_stats(h, &st);
    tap_ok(st.bytes_in_use == 8192 && st.bytes_in_use == st.bytes && st.pkt_bytes == 8072,
           "budget exactly reached");
    tap_ok(rec_held_push(h, &a, pkt, 0, 3, 0) == SR_ELIMIT && a.dropped == 1,
           "a: even an empty packet needs a third page: refused");
    tap_ok(rec_held_push(h, &b, pkt, 57, 4, 0) == SR_ELIMIT && b.dropped == 1,
           "b: 57 bytes (entry 80) do not fit the 72 left: refused");
    tap_ok(rec_held_push(h, &b, pkt, 56, 5, 0) == SR_OK, "b: 56 bytes (entry 72) fill the page exactly");
    tap_ok(rec_held_push(h, &b, pkt, 0, 6, 0) == SR_ELIMIT, "b: full page, no budget: refused");
    rec_held_stats(h, &st);
    tap_ok(st.drop_pool_full == 3 && st.drop_nomem == 0 && st.in_use == 3 && st.held == 3,
           "three refusals counted as pool full");
    tap_ok(rec_held_push(h, &a, pkt, 4073, 0, 0) == SR_ELIMIT && st.drop_too_big == 0,
           "over slot_size refused");
    rec_held_stats(h, &st);
    tap_ok(st.drop_too_big == 1 && st.drop_pool_full == 3, "as too big, not pool full");
    tap_ok(rec_held_discard(h, &b) == 2, "discard b");
    tap_ok(rec_held_push(h, &a, pkt, 0, 7, 0) == SR_OK, "b's page now goes to a");
    rec_held_stats(h, &st);
    tap_ok(st.bytes_in_use == 8192 && st.bytes_peak == 8192 && st.pkt_bytes == 4072 &&
               st.discarded == 2,
           "stats after discard and reuse");
    rec_held_destroy(h);
}

static void large_pages(void)
{
    struct rec_held_cfg c = { .slots = 10, .slot_size = 65535, .per_stream_max = 10 };
    struct rec_held_q a = REC_HELD_Q_INIT;
    struct rec_held *h = NULL;
    struct rec_held_stats st;
    const uint8_t *p;
    size_t len;
    static uint8_t pkt[65535];

    /* bytes 0: 10 x 65535 = 655,350 -> 9 pages of 69,632 (8 + 16 + 65,536 rounded up) */
    tap_ok(rec_held_create(&h, &c) == SR_OK, "slot_size 65535, budget from slots x slot_size");
    rec_held_stats(h, &st);
    tap_ok(st.page_size == 69632 && st.bytes == 9 * 69632, "page of 17 x 4 KiB, 9 pages");
    fill_pkt(pkt, sizeof(pkt), 99);
    tap_ok(rec_held_push(h, &a, pkt, sizeof(pkt), 0, 0) == SR_OK &&
               rec_held_peek(h, &a, &p, &len, NULL) == SR_OK && len == 65535 && pkt_is(p, len, 99),
           "a 65535-byte packet held whole");
    rec_held_destroy(h);
    c = (struct rec_held_cfg){ .slots = 1, .slot_size = 1, .per_stream_max = 1 };
    tap_ok(rec_held_create(&h, &c) == SR_OK, "bytes 0 with slots x slot_size under a page");
    rec_held_stats(h, &st);
    tap_ok(st.bytes == 4096, "gets one page");
    rec_held_destroy(h);
}

struct check {
    struct rec_held *h;
    const uint32_t *seed; /* expected packets, in order */
    const size_t *len;
    size_t n, bad;
    struct rec_held_q *other; /* push there from the callback */
    uint32_t other_seed;
    size_t other_len, pushed;
    uint8_t *last;            /* the packet in hand, for the wipe check */
    size_t last_len;
};

static void check_fn(void *arg, uint8_t *pkt, size_t len, uint64_t ts, unsigned flags)
{
    struct check *c = arg;
    static uint8_t big[2048];

    if (len != c->len[c->n] || ts != c->n || flags != c->n % 3 || !pkt_is(pkt, len, c->seed[c->n]))
        c->bad++;
    /* decrypt "in place": the pool must wipe what we leave here */
    memset(pkt, 0x5a, len);
    c->last = pkt;
    c->last_len = len;
    c->n++;
    if (c->other) {
        fill_pkt(big, c->other_len, c->other_seed + (uint32_t)c->pushed);
        if (rec_held_push(c->h, c->other, big, c->other_len, c->pushed, c->pushed % 3) == SR_OK)
            c->pushed++;
    }
}

static void mixed_sizes(void)
{
    enum { N = 2048 };
    struct rec_held_cfg c = { .slots = 3 * N, .slot_size = 2048, .per_stream_max = N,
                              .bytes = 8u << 20 };
    static struct rec_held_q q[3];
    static uint32_t seed[3][N];
    static size_t len[3][N];
    static uint8_t pkt[2048];
    struct rec_held *h = NULL;
    struct rec_held_stats st;
    size_t want = 0, bad = 0;

    memset(q, 0, sizeof(q));
    rec_held_create(&h, &c);
    /* every size 1..2048 on each of three interleaved streams */
    for (size_t i = 0; i < N; i++)
        for (size_t s = 0; s < 3; s++) {
            len[s][i] = s == 0 ? i + 1 : s == 1 ? N - i : (i * 7919) % N + 1;
            seed[s][i] = (uint32_t)(s * N + i);
            fill_pkt(pkt, len[s][i], seed[s][i]);
            bad += rec_held_push(h, &q[s], pkt, len[s][i], i, (unsigned)(i % 3)) != SR_OK;
            want += len[s][i];
        }
    rec_held_stats(h, &st);
    tap_ok(bad == 0 && st.in_use == 3 * N && st.pkt_bytes == want,
           "3 interleaved streams x 2048 packets of every size 1..2048 held");
    /* sizes spread evenly up to half a page leave the most slack: about 19 % */
    tap_ok(st.bytes_in_use < want + want / 4,
           "page memory %zu for %zu packet bytes (headers, padding, slack)", st.bytes_in_use, want);
    for (size_t s = 0; s < 3; s++) {
        struct check ck = { .h = h, .seed = seed[s], .len = len[s] };
        size_t n = rec_held_drain(h, &q[s], check_fn, &ck);
        tap_ok(n == N && ck.n == N && ck.bad == 0, "stream %zu drained in order, every byte right", s);
    }
    rec_held_stats(h, &st);
    tap_ok(st.in_use == 0 && st.pkt_bytes == 0 && st.bytes_in_use == 0, "all pages back");
    rec_held_destroy(h);
}

static void drain_pushes_elsewhere(void)
{
    enum { N = 600 };
    /* 20 pages: a (600 x 200 bytes = 30 pages) cannot fit beside b unless
     * b takes a's pages as the drain frees them */
    struct rec_held_cfg c = { .slots = 2 * N, .slot_size = 2048, .per_stream_max = N,
                              .bytes = 40 * 4096 };
    struct rec_held_q a = REC_HELD_Q_INIT, b = REC_HELD_Q_INIT;
    static uint32_t seed[N];
    static size_t len[N];
    uint8_t pkt[2048];
    struct rec_held *h = NULL;
    struct rec_held_stats st;

    rec_held_create(&h, &c);
    for (size_t i = 0; i < N; i++) {
        len[i] = 150 + i % 100;
        seed[i] = (uint32_t)(7000 + i);
        fill_pkt(pkt, len[i], seed[i]);
        rec_held_push(h, &a, pkt, len[i], i, (unsigned)(i % 3));
    }
    rec_held_stats(h, &st);
    tap_ok(a.count == N && st.bytes_in_use > 30 * 4096 && st.bytes_in_use < st.bytes,
           "a holds %zu of 40 pages", st.bytes_in_use / 4096);
    struct check ck = { .h = h, .seed = seed, .len = len, .other = &b, .other_seed = 90000,
                        .other_len = 2000 };
    tap_ok(rec_held_drain(h, &a, check_fn, &ck) == N && ck.bad == 0,
           "a drained intact while each callback pushed 2000 bytes to b");
    rec_held_stats(h, &st);
    /* 2 entries of 2016 bytes per page; a's last page is in hand until the
     * last callback returns, so b ends with 39 of the 40 */
    tap_ok(ck.pushed == b.count && ck.pushed + b.dropped == N && b.count == 78 &&
               st.bytes_in_use == st.bytes - 4096 && st.bytes_peak == st.bytes,
           "b got a's pages as they were freed (%zu held, %llu refused at the budget)", ck.pushed,
           (unsigned long long)b.dropped);
    static uint32_t bseed[N];
    static size_t blen[N];
    for (size_t i = 0; i < N; i++) {
        bseed[i] = 90000 + (uint32_t)i;
        blen[i] = 2000;
    }
    struct check cb = { .h = h, .seed = bseed, .len = blen };
    tap_ok(rec_held_drain(h, &b, check_fn, &cb) == 78 && cb.bad == 0, "b's 78 packets intact, in order");
    rec_held_destroy(h);
}

static void peek_and_wipe(void)
{
    struct rec_held_cfg c = { .slots = 64, .slot_size = 2048, .per_stream_max = 64,
                              .bytes = 16 * 4096 };
    struct rec_held_q a = REC_HELD_Q_INIT;
    struct rec_held *h = NULL;
    const uint8_t *p, *p2;
    size_t len, len2;
    unsigned fl = 0;
    uint8_t pkt[300];
    uint32_t seeds[40];
    size_t lens[40];

    rec_held_create(&h, &c);
    tap_ok(rec_held_peek(h, &a, &p, &len, &fl) == SR_ENOTFOUND, "peek on an empty queue");
    for (uint32_t i = 0; i < 40; i++) {
        seeds[i] = 500 + i;
        lens[i] = 100 + i;
        fill_pkt(pkt, lens[i], seeds[i]);
        rec_held_push(h, &a, pkt, lens[i], i, i % 3);
        if (i == 0)
            rec_held_peek(h, &a, &p, &len, &fl);
    }
    tap_ok(rec_held_peek(h, &a, &p2, &len2, &fl) == SR_OK && p2 == p && len2 == 100 && fl == 0 &&
               pkt_is(p, len, 500),
           "peek: the oldest, unmoved by 39 later pushes across pages");
    /* discard wipes: the page is still the pool's (on its free list), so
     * reading it here is sound; the contract would not let a caller do it */
    tap_ok(rec_held_discard(h, &a) == 40 && all_zero(p, len), "discard wiped the peeked packet");
    for (uint32_t i = 0; i < 40; i++) {
        fill_pkt(pkt, lens[i], seeds[i]);
        rec_held_push(h, &a, pkt, lens[i], i, i % 3);
    }
    struct check ck = { .h = h, .seed = seeds, .len = lens };
    tap_ok(rec_held_drain(h, &a, check_fn, &ck) == 40 && ck.bad == 0, "drain after reuse: intact");
    tap_ok(ck.last && all_zero(ck.last, ck.last_len), "drain wiped what the callback left in place");
    rec_held_destroy(h);
}

static void reuse_no_growth(void)
{
    enum { STREAMS = 50, PER = 100 };
    struct rec_held_cfg c = { .slots = 65536, .slot_size = 2048, .per_stream_max = 1500,
                              .bytes = 64u << 20 };
    static struct rec_held_q q[STREAMS];
    struct rec_held *h = NULL;
    struct rec_held_stats st;
    size_t peak = 0, bad = 0;
    uint8_t pkt[182] = { 0x80 };

    memset(q, 0, sizeof(q));
    rec_held_create(&h, &c);
    for (int round = 0; round < 200; round++) {
        /* streams start and end at different times: a rotating subset drains */
        for (int i = 0; i < PER; i++)
            for (int s = 0; s < STREAMS; s++)
                bad += rec_held_push(h, &q[s], pkt, sizeof(pkt), 0, 0) != SR_OK;
        for (int s = 0; s < STREAMS; s++)
            if ((s + round) % 3 == 0 || round % 2 == 1)
                rec_held_drain(h, &q[s], NULL, NULL);
            else
                rec_held_discard(h, &q[s]);
        rec_held_stats(h, &st);
        if (round == 0)
            peak = st.bytes_peak;
        bad += st.bytes_peak != peak || st.bytes_in_use != 0 || st.in_use != 0;
    }
    /* 100 x 200 bytes = 20,000: 5 pages of 20 entries each per stream */
    tap_ok(bad == 0 && peak == STREAMS * 5 * 4096,
           "200 rounds of 50 streams x 100 packets: peak %zu bytes after round 1, no growth", peak);
    rec_held_destroy(h);
}

/* ---- randomized model test: the pool against per-stream arrays ---- */

enum { M_STREAMS = 24, M_PER = 40, M_SLOT = 700, M_PAGES = 24, M_SLOTS = 200 };

struct m_ent {
    uint32_t seed;
    uint16_t len;
    uint32_t page; /* which page of its stream's chain (0, 1, ...) */
    unsigned flags;
    uint64_t ts;
};

struct m_stream {
    struct m_ent e[M_PER];
    size_t head, n;     /* live entries e[head .. head+n) */
    uint32_t tail_fill; /* bytes used in the chain's last page */
    uint32_t pages;     /* pages the stream holds */
    uint32_t page_id;   /* id of the chain's last page */
    struct rec_held_q q;
};

struct model {
    struct rec_held *h;
    struct m_stream s[M_STREAMS];
    size_t in_use, pkt_bytes, pages, peak;
    uint64_t drops[3]; /* too big, stream full, pool full */
    uint64_t rng, seq, ts;
    size_t fails;
    int draining;       /* stream being drained, or -1 */
};

static uint64_t rnd(struct model *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static void m_fail(struct model *m, const char *what)
{
    if (m->fails++ < 5)
        tap_diag("model: %s (op %llu)", what, (unsigned long long)m->seq);
}

static void m_push(struct model *m, int si)
{
    struct m_stream *s = &m->s[si];
    static uint8_t pkt[M_SLOT + 10];
    uint64_t r = rnd(m);
    size_t len = r % 8 == 0 ? (size_t)(r >> 8) % (M_SLOT + 10) : 150 + (size_t)(r >> 8) % 60;
    uint32_t seed = (uint32_t)(++m->ts * 7 + (uint64_t)si);
    unsigned flags = (unsigned)(r >> 40) & 3u;
    enum sr_err want = SR_OK, got;
    int reason = -1;
    size_t need = REC_HELD_ENTRY_BYTES(len);
    bool new_page = s->n == 0 || s->tail_fill + need > 4096;

    if (len > M_SLOT)
        reason = 0;
    else if (s->n >= M_PER)
        reason = 1;
    else if (m->in_use >= M_SLOTS || (new_page && m->pages >= M_PAGES))
        reason = 2;
    if (reason >= 0)
        want = SR_ELIMIT;
    fill_pkt(pkt, len, seed);
    got = rec_held_push(m->h, &s->q, pkt, len, m->ts, flags);
    if (got != want) {
        m_fail(m, "push result");
        return;
    }
    if (reason >= 0) {
        m->drops[reason]++;
        return;
    }
    if (s->head + s->n == M_PER) { /* compact the array */
        memmove(s->e, s->e + s->head, s->n * sizeof(s->e[0]));
        s->head = 0;
    }
    if (new_page) {
        s->pages++;
        s->page_id++;
        m->pages++;
        s->tail_fill = REC_HELD_PAGE_HDR;
        if (m->pages > m->peak)
            m->peak = m->pages;
    }
    s->tail_fill += (uint32_t)need;
    s->e[s->head + s->n] = (struct m_ent){ seed, (uint16_t)len, s->page_id, flags, m->ts };
    s->n++;
    m->in_use++;
    m->pkt_bytes += len;
}

/* Pop the model's head of stream si, freeing its page when it was the page's last. */
static void m_pop(struct model *m, int si)
{
    struct m_stream *s = &m->s[si];
    struct m_ent *e = &s->e[s->head];

    m->in_use--;
    m->pkt_bytes -= e->len;
    s->head++;
    s->n--;
    if (s->n == 0 || s->e[s->head].page != e->page) {
        s->pages--;
        m->pages--;
    }
    if (s->n == 0)
        s->head = 0;
}

static void m_fn(void *arg, uint8_t *pkt, size_t len, uint64_t ts, unsigned flags)
{
    struct model *m = arg;
    struct m_stream *s = &m->s[m->draining];
    struct m_ent *e = &s->e[s->head];

    if (s->n == 0 || len != e->len || ts != e->ts || flags != e->flags || !pkt_is(pkt, len, e->seed))
        m_fail(m, "drained packet differs");
    memset(pkt, 0xa5, len);
    /* sometimes push to another stream now: the packet in hand stays ours
     * and the model's page count must still predict the pool */
    if (rnd(m) % 4 == 0) {
        int other = (int)(rnd(m) % M_STREAMS);
        if (other != m->draining)
            m_push(m, other);
    }
    /* The pool pops this entry once fn returns; popping the model now keeps
     * the two in step for the next call's push. */
    m_pop(m, m->draining);
}

static void m_check_stats(struct model *m)
{
    struct rec_held_stats st;

    rec_held_stats(m->h, &st);
    if (st.in_use != m->in_use || st.pkt_bytes != m->pkt_bytes ||
        st.bytes_in_use != m->pages * 4096 || st.bytes_peak != m->peak * 4096 ||
        st.drop_too_big != m->drops[0] || st.drop_stream_full != m->drops[1] ||
        st.drop_pool_full != m->drops[2])
        m_fail(m, "stats differ");
}

static void model(uint64_t seed, size_t ops)
{
    static struct model m;
    struct rec_held_cfg c = { .slots = M_SLOTS, .slot_size = M_SLOT, .per_stream_max = M_PER,
                              .bytes = M_PAGES * 4096 };
    size_t drains = 0, peeks = 0, discards = 0, drained = 0;

    memset(&m, 0, sizeof(m));
    m.rng = seed;
    m.draining = -1;
    tap_ok(rec_held_create(&m.h, &c) == SR_OK, "model: pool of %d pages", M_PAGES);
    for (m.seq = 1; m.seq <= ops && m.fails == 0; m.seq++) {
        uint64_t r = rnd(&m);
        int si = (int)(r % M_STREAMS), op = (int)((r >> 16) % 100);
        /* phases of filling and of emptying, so both ends of every cap are hit */
        if ((m.seq / 5000) % 2 == 1 && op >= 60 && op < 80)
            op = 90 + op % 7;
        struct m_stream *s = &m.s[si];
        if (op < 80) {
            m_push(&m, si);
        } else if (op < 90) {
            const uint8_t *p;
            size_t len;
            unsigned fl;
            enum sr_err e = rec_held_peek(m.h, &s->q, &p, &len, &fl);
            peeks++;
            if (s->n == 0 ? e != SR_ENOTFOUND
                          : e != SR_OK || len != s->e[s->head].len || fl != s->e[s->head].flags ||
                                !pkt_is(p, len, s->e[s->head].seed))
                m_fail(&m, "peek");
        } else if (op < 97) {
            /* drain with the model popping in step: wrap fn */
            size_t n0 = s->n, n;
            m.draining = si;
            drains++;
            n = rec_held_drain(m.h, &s->q, m_fn, &m);
            m.draining = -1;
            drained += n;
            if (n != n0 || s->n != 0)
                m_fail(&m, "drain count");
        } else {
            size_t n0 = s->n;
            discards++;
            if (rec_held_discard(m.h, &s->q) != n0)
                m_fail(&m, "discard count");
            while (s->n)
                m_pop(&m, si);
        }
        if (s->q.count != s->n)
            m_fail(&m, "queue count");
        m_check_stats(&m);
    }
    tap_ok(m.fails == 0, "model: %zu ops (%zu drains of %zu packets, %zu peeks, %zu discards), "
           "%llu/%llu/%llu refused too big/stream full/pool full, peak %zu pages",
           ops, drains, drained, peeks, discards, (unsigned long long)m.drops[0],
           (unsigned long long)m.drops[1], (unsigned long long)m.drops[2], m.peak);
    tap_ok(m.drops[0] > 0 && m.drops[1] > 0 && m.drops[2] > 0 && m.peak == M_PAGES,
           "model: every refusal reason and the whole budget exercised");
    rec_held_destroy(m.h);
}

int main(void)
{
    invalid();
    caps_and_order();
    many_streams();
    budget_exact();
    large_pages();
    mixed_sizes();
    drain_pushes_elsewhere();
    peek_and_wipe();
    reuse_no_growth();
    model(20261203u, 300000);
    return tap_done();
}
