/** @file held.c  Packets that arrived before their key.
 *
 * One pool per worker, bounded by a byte budget.  Memory is cut into pages
 * (REC_HELD_PAGE bytes, more when slot_size needs it); each stream's FIFO is
 * a chain of its own pages, and each page holds packed entries, a 16-byte
 * header then the packet rounded up to 8 bytes.  A 182-byte G.711 packet so
 * costs 200 bytes instead of a 2 KiB slot.  Pages belong to one queue at a
 * time, so a drain callback that pushes to another queue can never write
 * into the page of the packet in hand.
 *
 * Pages come from a free list; when it is empty and the pool is below its
 * budget, the next never-used page is taken from the current chunk (chunks
 * of REC_HELD_CHUNK_PAGES pages, malloc'd when the first page of one is
 * needed).  So memory grows with the high-water mark of what was held, never
 * beyond the budget, and never shrinks: after warm-up a push or pop touches
 * no allocator.  docs/held.md gives the measurements behind the chunk size.
 *
 * Caps: the byte budget and the packet cap (all streams), per_stream_max
 * (one stream cannot starve the others) and slot_size.  A packet that cannot
 * be held is refused with SR_ELIMIT and counted, so the caller can still
 * archive it encrypted: nothing is dropped silently.
 *
 * A page is wiped when it returns to the free list (the drain callback
 * decrypts in place, so it may hold plaintext) and every used page is wiped
 * at destroy.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "util.h"

#ifndef REC_HELD_CHUNK_PAGES
#define REC_HELD_CHUNK_PAGES 64 /* 256 KiB with 4 KiB pages; see docs/held.md */
#endif

enum {
    REC_HELD_MAX_SLOTS = 1 << 24,
    REC_HELD_MAX_PAGES = 1 << 24,
};
#define REC_HELD_NONE UINT32_MAX

struct held_page {
    uint32_t next; /**< next page of its queue, or of the free list */
    uint32_t fill; /**< bytes used, header included: entries end here */
};

struct held_entry {
    uint64_t ts_us;
    uint32_t flags;
    uint16_t len;
    uint16_t pad;
    /* then len bytes, padded to 8 */
};

static_assert(sizeof(struct held_page) == REC_HELD_PAGE_HDR, "page header size is in rec.h");
static_assert(sizeof(struct held_entry) == REC_HELD_ENTRY_HDR, "entry header size is in rec.h");
static_assert(sizeof(unsigned) <= sizeof(uint32_t), "flags are stored in 32 bits");

struct rec_held {
    uint8_t **chunks;       /**< owned; n_chunks entries, NULL until first needed */
    size_t n_chunks;
    size_t page_size;       /**< multiple of REC_HELD_PAGE */
    uint32_t max_pages;     /**< the budget, in pages */
    uint32_t fresh;         /**< pages [0, fresh) have been used at least once */
    uint32_t free_head;     /**< recycled pages */
    uint32_t pages_in_use;
    size_t slots, slot_size, per_stream_max;
    size_t in_use;          /**< packets held */
    size_t pkt_bytes;       /**< their lengths, summed */
    struct rec_held_stats st;
};

static uint8_t *page_at(const struct rec_held *h, uint32_t i)
{
    return h->chunks[i / REC_HELD_CHUNK_PAGES] + (size_t)(i % REC_HELD_CHUNK_PAGES) * h->page_size;
}

static struct held_page *page_hdr(const struct rec_held *h, uint32_t i)
{
    return (struct held_page *)(void *)page_at(h, i);
}

static struct held_entry *entry_at(const struct rec_held *h, uint32_t page, uint32_t off)
{
    return (struct held_entry *)(void *)(page_at(h, page) + off);
}

enum sr_err rec_held_create(struct rec_held **out, const struct rec_held_cfg *cfg)
{
    struct rec_held *h;
    size_t page_size, budget, pages;

    if (!out || !cfg || cfg->slots < 1 || cfg->slots > REC_HELD_MAX_SLOTS ||
        cfg->slot_size < 1 || cfg->slot_size > 65535 || cfg->per_stream_max < 1 ||
        cfg->per_stream_max > cfg->slots)
        return SR_EINVAL;
    /* The largest packet fits one page: entries never span pages, so the
     * callback always gets contiguous bytes. */
    page_size = REC_HELD_PAGE_HDR + REC_HELD_ENTRY_BYTES(cfg->slot_size);
    page_size = (page_size + REC_HELD_PAGE - 1) / REC_HELD_PAGE * REC_HELD_PAGE;
    if (cfg->bytes) {
        if (cfg->bytes < page_size)
            return SR_EINVAL;
        budget = cfg->bytes;
    } else {
        /* slots <= 2^24 and slot_size < 2^16: the product fits in 40 bits. */
        budget = cfg->slots * cfg->slot_size;
        if (budget < page_size)
            budget = page_size;
    }
    pages = budget / page_size;
    if (pages > REC_HELD_MAX_PAGES)
        return SR_EINVAL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return SR_ENOMEM;
    h->page_size = page_size;
    h->max_pages = (uint32_t)pages;
    h->n_chunks = (pages + REC_HELD_CHUNK_PAGES - 1) / REC_HELD_CHUNK_PAGES;
    h->chunks = calloc(h->n_chunks, sizeof(*h->chunks));
    if (!h->chunks) {
        free(h);
        return SR_ENOMEM;
    }
    h->free_head = REC_HELD_NONE;
    h->slots = cfg->slots;
    h->slot_size = cfg->slot_size;
    h->per_stream_max = cfg->per_stream_max;
    h->st.slots = cfg->slots;
    h->st.bytes = pages * page_size;
    h->st.page_size = page_size;
    *out = h;
    return SR_OK;
}

void rec_held_destroy(struct rec_held *h)
{
    if (!h)
        return;
    /* Pages never used hold nothing (and may not even be resident). */
    for (uint32_t i = 0; i < h->fresh; i++)
        sr_wipe(page_at(h, i), h->page_size);
    for (size_t c = 0; c < h->n_chunks; c++)
        free(h->chunks[c]);
    free(h->chunks);
    free(h);
}

/* A page for a queue, or REC_HELD_NONE when the budget is spent (or a chunk
 * cannot be allocated, counted apart). */
static uint32_t page_get(struct rec_held *h)
{
    uint32_t i = h->free_head;

    if (i != REC_HELD_NONE) {
        h->free_head = page_hdr(h, i)->next;
    } else {
        if (h->fresh >= h->max_pages)
            return REC_HELD_NONE;
        i = h->fresh;
        if (i % REC_HELD_CHUNK_PAGES == 0) {
            size_t c = i / REC_HELD_CHUNK_PAGES, n = h->max_pages - i;
            if (n > REC_HELD_CHUNK_PAGES)
                n = REC_HELD_CHUNK_PAGES;
            h->chunks[c] = malloc(n * h->page_size);
            if (!h->chunks[c]) {
                h->st.drop_nomem++;
                return REC_HELD_NONE;
            }
        }
        h->fresh++;
    }
    h->pages_in_use++;
    page_hdr(h, i)->next = REC_HELD_NONE;
    page_hdr(h, i)->fill = REC_HELD_PAGE_HDR;
    return i;
}

static void page_put(struct rec_held *h, uint32_t i)
{
    struct held_page *p = page_hdr(h, i);

    sr_wipe(page_at(h, i) + REC_HELD_PAGE_HDR, p->fill - REC_HELD_PAGE_HDR);
    p->fill = REC_HELD_PAGE_HDR;
    p->next = h->free_head;
    h->free_head = i;
    h->pages_in_use--;
}

static enum sr_err refuse(struct rec_held_q *q, uint64_t *counter)
{
    (*counter)++;
    q->dropped++;
    return SR_ELIMIT;
}

enum sr_err rec_held_push(struct rec_held *h, struct rec_held_q *q, const uint8_t *pkt,
                          size_t len, uint64_t ts_us, unsigned flags)
{
    struct held_entry *e;
    size_t need;
    uint32_t page, off;

    if (!h || !q || (!pkt && len))
        return SR_EINVAL;
    if (len > h->slot_size)
        return refuse(q, &h->st.drop_too_big);
    if (q->count >= h->per_stream_max)
        return refuse(q, &h->st.drop_stream_full);
    if (h->in_use >= h->slots)
        return refuse(q, &h->st.drop_pool_full);
    need = REC_HELD_ENTRY_BYTES(len);
    if (q->count > 0 && page_hdr(h, q->tail)->fill + need <= h->page_size) {
        page = q->tail;
    } else {
        /* Mid-page slack is left as is: entries never span pages. */
        page = page_get(h);
        if (page == REC_HELD_NONE)
            return refuse(q, &h->st.drop_pool_full);
        if (q->count == 0) {
            q->head = page;
            q->head_off = REC_HELD_PAGE_HDR;
        } else {
            page_hdr(h, q->tail)->next = page;
        }
        q->tail = page;
    }
    off = page_hdr(h, page)->fill;
    e = entry_at(h, page, off);
    e->ts_us = ts_us;
    e->flags = (uint32_t)flags;
    e->len = (uint16_t)len;
    e->pad = 0;
    if (len)
        memcpy(e + 1, pkt, len);
    page_hdr(h, page)->fill = off + (uint32_t)need;
    q->count++;
    h->in_use++;
    h->pkt_bytes += len;
    h->st.held++;
    return SR_OK;
}

/* Drop the head entry of q (already handed out or not wanted); its page goes
 * back to the free list once its last entry is gone. */
static void pop_head(struct rec_held *h, struct rec_held_q *q)
{
    const struct held_entry *e = entry_at(h, q->head, q->head_off);
    uint32_t page = q->head;

    q->head_off += (uint32_t)REC_HELD_ENTRY_BYTES(e->len);
    h->pkt_bytes -= e->len;
    q->count--;
    h->in_use--;
    if (q->count == 0) {
        page_put(h, page);
    } else if (q->head_off >= page_hdr(h, page)->fill) {
        q->head = page_hdr(h, page)->next;
        q->head_off = REC_HELD_PAGE_HDR;
        page_put(h, page);
    }
}

size_t rec_held_drain(struct rec_held *h, struct rec_held_q *q, rec_held_fn *fn, void *arg)
{
    size_t n = 0;

    if (!h || !q)
        return 0;
    while (q->count > 0) {
        struct held_entry *e = entry_at(h, q->head, q->head_off);
        if (fn)
            fn(arg, (uint8_t *)(e + 1), e->len, e->ts_us, e->flags);
        pop_head(h, q);
        n++;
    }
    return n;
}

enum sr_err rec_held_peek(struct rec_held *h, const struct rec_held_q *q, const uint8_t **pkt,
                          size_t *len, unsigned *flags)
{
    const struct held_entry *e;

    if (!h || !q || !pkt || !len || q->count == 0)
        return SR_ENOTFOUND;
    e = entry_at(h, q->head, q->head_off);
    *pkt = (const uint8_t *)(e + 1);
    *len = e->len;
    if (flags)
        *flags = e->flags;
    return SR_OK;
}

size_t rec_held_discard(struct rec_held *h, struct rec_held_q *q)
{
    size_t n;

    if (!h || !q)
        return 0;
    n = q->count;
    while (q->count > 0)
        pop_head(h, q);
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
    st->pkt_bytes = h->pkt_bytes;
    st->bytes_in_use = (size_t)h->pages_in_use * h->page_size;
    st->bytes_peak = (size_t)h->fresh * h->page_size;
}
