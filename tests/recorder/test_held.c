/** @file test_held.c  The held-packet pool: caps, order, drop counting. */
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
    struct rec_held_cfg c = { 4, 100, 5 };
    tap_ok(rec_held_create(&h, &c) == SR_EINVAL, "per-stream cap above pool refused");
    c = (struct rec_held_cfg){ 0, 100, 1 };
    tap_ok(rec_held_create(&h, &c) == SR_EINVAL, "zero slots refused");
    c = (struct rec_held_cfg){ 4, 70000, 1 };
    tap_ok(rec_held_create(&h, &c) == SR_EINVAL, "slot over 65535 refused");
    rec_held_destroy(NULL);
}

static void caps_and_order(void)
{
    struct rec_held *h = NULL;
    struct rec_held_cfg c = { 8, 32, 5 };
    struct rec_held_q a = REC_HELD_Q_INIT, b = REC_HELD_Q_INIT, d = REC_HELD_Q_INIT;
    struct rec_held_stats st;
    struct seen s;
    uint8_t pkt[40];

    tap_ok(rec_held_create(&h, &c) == SR_OK, "pool of 8 x 32 bytes, 5 per stream");
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
    struct rec_held_cfg c = { SLOTS, 200, 4 };
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
}

int main(void)
{
    invalid();
    caps_and_order();
    many_streams();
    return tap_done();
}
