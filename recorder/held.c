/** @file held.c  Packets that arrived before their key.
 *
 * One pool per worker: fixed-size slots allocated at start, a free list, and
 * per-stream FIFO queues threaded through the slots by index.  Push and pop
 * are O(1) and never allocate.  Two caps apply: the pool size (all streams)
 * and per_stream_max (one stream cannot starve the others).  A packet that
 * cannot be held is refused with SR_ELIMIT and counted, so the caller can
 * still archive it encrypted: nothing is dropped silently.
 */
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "util.h"

enum { REC_HELD_MAX_SLOTS = 1 << 24 };
#define REC_HELD_NONE UINT32_MAX

struct rec_held_meta {
    uint64_t ts_us;
    uint32_t next;  /**< next slot in its queue or in the free list */
    uint16_t len;
    unsigned flags;
};

struct rec_held {
    uint8_t *data;              /**< owned; slots * slot_size bytes */
    struct rec_held_meta *meta; /**< owned; slots entries */
    size_t slots, slot_size, per_stream_max;
    uint32_t free_head;
    size_t in_use;
    struct rec_held_stats st;
};

enum sr_err rec_held_create(struct rec_held **out, const struct rec_held_cfg *cfg)
{
    struct rec_held *h;

    if (!out || !cfg || cfg->slots < 1 || cfg->slots > REC_HELD_MAX_SLOTS ||
        cfg->slot_size < 1 || cfg->slot_size > 65535 || cfg->per_stream_max < 1 ||
        cfg->per_stream_max > cfg->slots)
        return SR_EINVAL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return SR_ENOMEM;
    h->slots = cfg->slots;
    h->slot_size = cfg->slot_size;
    h->per_stream_max = cfg->per_stream_max;
    /* slots <= 2^24 and slot_size < 2^16: the product fits in 40 bits. */
    h->data = malloc(cfg->slots * cfg->slot_size);
    h->meta = calloc(cfg->slots, sizeof(*h->meta));
    if (!h->data || !h->meta) {
        rec_held_destroy(h);
        return SR_ENOMEM;
    }
    for (size_t i = 0; i < cfg->slots; i++)
        h->meta[i].next = i + 1 < cfg->slots ? (uint32_t)(i + 1) : REC_HELD_NONE;
    h->free_head = 0;
    h->st.slots = cfg->slots;
    *out = h;
    return SR_OK;
}

void rec_held_destroy(struct rec_held *h)
{
    if (!h)
        return;
    if (h->data)
        sr_wipe(h->data, h->slots * h->slot_size);
    free(h->data);
    free(h->meta);
    free(h);
}

static uint8_t *slot_data(const struct rec_held *h, uint32_t i)
{
    return h->data + (size_t)i * h->slot_size;
}

enum sr_err rec_held_push(struct rec_held *h, struct rec_held_q *q, const uint8_t *pkt,
                          size_t len, uint64_t ts_us, unsigned flags)
{
    uint32_t i;

    if (!h || !q || (!pkt && len))
        return SR_EINVAL;
    if (len > h->slot_size) {
        h->st.drop_too_big++;
        q->dropped++;
        return SR_ELIMIT;
    }
    if (q->count >= h->per_stream_max) {
        h->st.drop_stream_full++;
        q->dropped++;
        return SR_ELIMIT;
    }
    if (h->free_head == REC_HELD_NONE) {
        h->st.drop_pool_full++;
        q->dropped++;
        return SR_ELIMIT;
    }
    i = h->free_head;
    h->free_head = h->meta[i].next;
    if (len)
        memcpy(slot_data(h, i), pkt, len);
    h->meta[i].len = (uint16_t)len;
    h->meta[i].ts_us = ts_us;
    h->meta[i].flags = flags;
    h->meta[i].next = REC_HELD_NONE;
    if (q->count == 0)
        q->head = i;
    else
        h->meta[q->tail].next = i;
    q->tail = i;
    q->count++;
    h->in_use++;
    h->st.held++;
    return SR_OK;
}

/* Unlink the head of q; the slot stays out of the free list until
 * release(), so a callback may push elsewhere without overwriting it. */
static uint32_t unlink_head(struct rec_held *h, struct rec_held_q *q)
{
    uint32_t i = q->head;

    q->head = h->meta[i].next;
    q->count--;
    return i;
}

static void release(struct rec_held *h, uint32_t i)
{
    sr_wipe(slot_data(h, i), h->meta[i].len);
    h->meta[i].next = h->free_head;
    h->free_head = i;
    h->in_use--;
}

size_t rec_held_drain(struct rec_held *h, struct rec_held_q *q, rec_held_fn *fn, void *arg)
{
    size_t n = 0;

    if (!h || !q)
        return 0;
    while (q->count > 0) {
        uint32_t i = unlink_head(h, q);
        if (fn)
            fn(arg, slot_data(h, i), h->meta[i].len, h->meta[i].ts_us, h->meta[i].flags);
        release(h, i);
        n++;
    }
    return n;
}

enum sr_err rec_held_peek(struct rec_held *h, const struct rec_held_q *q, const uint8_t **pkt,
                          size_t *len, unsigned *flags)
{
    if (!h || !q || !pkt || !len || q->count == 0)
        return SR_ENOTFOUND;
    *pkt = slot_data(h, q->head);
    *len = h->meta[q->head].len;
    if (flags)
        *flags = h->meta[q->head].flags;
    return SR_OK;
}

size_t rec_held_discard(struct rec_held *h, struct rec_held_q *q)
{
    size_t n = 0;

    if (!h || !q)
        return 0;
    while (q->count > 0) {
        release(h, unlink_head(h, q));
        n++;
    }
    h->st.discarded += n;
    return n;
}

void rec_held_stats(const struct rec_held *h, struct rec_held_stats *st)
{
    if (!st)
        return;
    if (!h) {
        memset(st, 0, sizeof(*st));
        return;
    }
    *st = h->st;
    st->in_use = h->in_use;
}
