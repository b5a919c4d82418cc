/** @file ipfrag.c  Bounded fragment reassembly (ipfrag.h). */
#include "ipfrag.h"

#include <stdlib.h>
#include <string.h>

#define NIL ((size_t)-1)

struct frag {
    uint32_t off, len;
};

struct dgram {
    struct ipfrag_key key;
    uint64_t first_us;
    uint8_t *buf;
    size_t cap;         /**< bytes of buf, charged to the budget */
    size_t have;        /**< bytes received (fragments never overlap) */
    uint32_t total;     /**< known once the final fragment came */
    bool have_last, have_first;
    uint8_t nh;         /**< the first fragment's next header */
    size_t nfrags;
    struct frag *frags; /**< max_frags entries of the create-time array */
    size_t prev, next;  /**< age list, or the free list (next only) */
};

struct done {
    uint8_t *buf;
    size_t cap;
};

struct ipfrag {
    struct ipfrag_cfg cfg;
    struct dgram *slots;
    struct frag *frag_mem;
    struct done *done;
    size_t ndone;
    size_t head, tail, free_head; /**< oldest, newest, free */
    size_t bytes;
    struct ipfrag_stats st;
};

enum sr_err ipfrag_create(struct ipfrag **out, const struct ipfrag_cfg *cfg)
{
    struct ipfrag *f;

    if (!out || !cfg || !cfg->max_datagrams || !cfg->max_frags || !cfg->max_done ||
        cfg->max_frags > SIZE_MAX / sizeof(struct frag) / cfg->max_datagrams)
        return SR_EINVAL;
    f = calloc(1, sizeof(*f));
    if (!f)
        return SR_ENOMEM;
    f->cfg = *cfg;
    f->slots = calloc(cfg->max_datagrams, sizeof(*f->slots));
    f->frag_mem = calloc(cfg->max_datagrams * cfg->max_frags, sizeof(*f->frag_mem));
    f->done = calloc(cfg->max_done, sizeof(*f->done));
    if (!f->slots || !f->frag_mem || !f->done) {
        ipfrag_destroy(f);
        return SR_ENOMEM;
    }
    for (size_t i = 0; i < cfg->max_datagrams; i++) {
        f->slots[i].frags = f->frag_mem + i * cfg->max_frags;
        f->slots[i].next = i + 1 < cfg->max_datagrams ? i + 1 : NIL;
    }
    f->free_head = 0;
    f->head = f->tail = NIL;
    *out = f;
    return SR_OK;
}

void ipfrag_destroy(struct ipfrag *f)
{
    if (!f)
        return;
    ipfrag_release_done(f);
    if (f->slots) {
        for (size_t i = f->head; i != NIL; i = f->slots[i].next)
            free(f->slots[i].buf);
    }
    free(f->slots);
    free(f->frag_mem);
    free(f->done);
    free(f);
}

void ipfrag_release_done(struct ipfrag *f)
{
    for (size_t i = 0; i < f->ndone; i++) {
        f->bytes -= f->done[i].cap;
        free(f->done[i].buf);
    }
    f->ndone = 0;
}

static void unlink_slot(struct ipfrag *f, size_t i)
{
    struct dgram *g = &f->slots[i];

    if (g->prev != NIL)
        f->slots[g->prev].next = g->next;
    else
        f->head = g->next;
    if (g->next != NIL)
        f->slots[g->next].prev = g->prev;
    else
        f->tail = g->prev;
    g->next = f->free_head;
    f->free_head = i;
    f->st.datagrams--;
}

/** Free a datagram that will not complete. */
static void drop(struct ipfrag *f, size_t i)
{
    struct dgram *g = &f->slots[i];

    f->bytes -= g->cap;
    free(g->buf);
    g->buf = NULL;
    g->cap = 0;
    unlink_slot(f, i);
}

uint64_t ipfrag_expire(struct ipfrag *f, uint64_t now_us)
{
    while (f->head != NIL) {
        uint64_t due = f->slots[f->head].first_us + f->cfg.timeout_us;
        if (due > now_us)
            return due;
        drop(f, f->head);
        f->st.expired++;
    }
    return UINT64_MAX;
}

static size_t find(const struct ipfrag *f, const struct ipfrag_key *k)
{
    for (size_t i = f->head; i != NIL; i = f->slots[i].next) {
        const struct ipfrag_key *s = &f->slots[i].key;
        if (s->id == k->id && s->v6 == k->v6 && s->proto == k->proto &&
            !memcmp(s->src, k->src, 16) && !memcmp(s->dst, k->dst, 16))
            return i;
    }
    return NIL;
}

static size_t take_slot(struct ipfrag *f, const struct ipfrag_key *k, uint64_t now_us)
{
    size_t i = f->free_head;
    struct dgram *g;

    if (i == NIL)
        return NIL;
    g = &f->slots[i];
    f->free_head = g->next;
    *g = (struct dgram){ .key = *k, .first_us = now_us, .frags = g->frags,
                         .prev = f->tail, .next = NIL };
    if (f->tail != NIL)
        f->slots[f->tail].next = i;
    else
        f->head = i;
    f->tail = i;
    f->st.datagrams++;
    return i;
}

/** Checks that need no slot: a fragment refused here touches nothing. */
static enum decap_verdict check_alone(const struct ipfrag *f, const struct ipfrag_in *in)
{
    size_t end = (size_t)in->off + in->len;

    if (in->len == 0 || (in->more && in->len % 8))
        return DECAP_BAD_FRAG;
    if (end > f->cfg.max_size)
        return DECAP_FRAG_TOO_BIG;
    return DECAP_UDP;
}

/** Checks against the datagram's fragments so far. */
static enum decap_verdict check_with(const struct dgram *g, const struct ipfrag_in *in)
{
    uint32_t end = in->off + (uint32_t)in->len;

    if (g->have_last && (end > g->total || (!in->more && end != g->total)))
        return DECAP_BAD_FRAG;
    for (size_t j = 0; j < g->nfrags; j++) {
        const struct frag *fr = &g->frags[j];
        if (in->off < fr->off + fr->len && fr->off < end) {
            if (fr->off == in->off && fr->len == in->len &&
                !memcmp(g->buf + fr->off, in->data, in->len))
                return DECAP_FRAG_DUP;
            return DECAP_FRAG_OVERLAP;
        }
        if (!in->more && fr->off + fr->len > end)
            return DECAP_BAD_FRAG;
    }
    return DECAP_UDP;
}

/** Make room for bytes up to end: the whole datagram at once when its
 *  length is known, else doubling up to max_size, within the budget. */
static bool reserve(struct ipfrag *f, struct dgram *g, size_t end, size_t want_total)
{
    size_t cap = want_total ? want_total : g->cap * 2;
    uint8_t *nb;

    if (end <= g->cap)
        return true;
    if (cap < end)
        cap = end;
    if (cap > f->cfg.max_size)
        cap = f->cfg.max_size;
    if (f->bytes + (cap - g->cap) > f->cfg.max_bytes) {
        cap = end;
        if (f->bytes + (cap - g->cap) > f->cfg.max_bytes)
            return false;
    }
    nb = realloc(g->buf, cap);
    if (!nb)
        return false;
    f->bytes += cap - g->cap;
    g->buf = nb;
    g->cap = cap;
    return true;
}

enum decap_verdict ipfrag_add(struct ipfrag *f, const struct ipfrag_key *k,
                              const struct ipfrag_in *in, uint64_t now_us,
                              const uint8_t **out, size_t *outlen, uint8_t *nh)
{
    enum decap_verdict v;
    size_t i, end = (size_t)in->off + in->len;
    struct dgram *g;

    ipfrag_expire(f, now_us);
    v = check_alone(f, in);
    if (v != DECAP_UDP)
        return v;
    i = find(f, k);
    if (i == NIL && (i = take_slot(f, k, now_us)) == NIL)
        return DECAP_FRAG_BUDGET;
    g = &f->slots[i];
    v = check_with(g, in);
    if (v == DECAP_FRAG_OVERLAP) {
        drop(f, i);
        f->st.dropped++;
    }
    if (v != DECAP_UDP)
        return v;
    if (g->nfrags == f->cfg.max_frags || f->ndone == f->cfg.max_done ||
        !reserve(f, g, end, in->more ? (g->have_last ? g->total : 0) : end)) {
        drop(f, i);
        f->st.dropped++;
        return DECAP_FRAG_BUDGET;
    }
    memcpy(g->buf + in->off, in->data, in->len);
    g->frags[g->nfrags++] = (struct frag){ in->off, (uint32_t)in->len };
    g->have += in->len;
    if (!in->more) {
        g->have_last = true;
        g->total = (uint32_t)end;
    }
    if (in->off == 0) {
        g->have_first = true;
        g->nh = in->nh;
    }
    if (!g->have_last || g->have != g->total)
        return DECAP_NEED_MORE;
    /* Complete: the buffer outlives the slot until the next release. */
    f->done[f->ndone++] = (struct done){ g->buf, g->cap };
    *out = g->buf;
    *outlen = g->total;
    *nh = g->nh;
    g->buf = NULL;
    g->cap = 0;
    unlink_slot(f, i);
    f->st.reassembled++;
    return DECAP_UDP;
}

void ipfrag_stats(const struct ipfrag *f, struct ipfrag_stats *out)
{
    *out = f->st;
    out->bytes = f->bytes;
}
