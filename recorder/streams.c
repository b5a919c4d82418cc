/** @file streams.c  Stream table keyed by (source address, port, SSRC).
 *
 * Open addressing with linear probing and backward-shift deletion (Knuth
 * 6.4 Algorithm R): no tombstones, so a long-running worker whose streams
 * come and go keeps short probe chains.  The slot array is sized once, to a
 * power of two at least twice the capacity, so the load factor stays <= 0.5.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "util.h"

struct rec_streams_slot {
    struct rec_flow flow;
    void *user; /**< NULL: slot empty */
};

struct rec_streams {
    struct rec_streams_slot *slot; /**< owned; mask + 1 entries */
    size_t mask;
    size_t count, capacity;
    uint64_t k0, k1; /**< SipHash key */
};

enum { REC_STREAMS_MAX_CAPACITY = 1u << 24 };

/* ------------------------------------------------------------------------ */
/* SipHash-2-4 (Aumasson and Bernstein, 2012), for the fixed-size flow key.   */
/* ------------------------------------------------------------------------ */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t rd64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL64(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL64(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL64(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL64(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL64(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL64(v[2], 32);
}

/* Exposed (not in rec.h) so the unit test can check the reference vector. */
uint64_t rec_siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len);

uint64_t rec_siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v[4] = { k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                      k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL };
    uint64_t b = (uint64_t)len << 56, m;
    size_t i, tail = len & 7;

    for (i = 0; i + 8 <= len; i += 8) {
        m = rd64le(in + i);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    for (size_t j = 0; j < tail; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v[3] ^= b;
    sip_round(v);
    sip_round(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int r = 0; r < 4; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ------------------------------------------------------------------------ */
/* Flows                                                                     */
/* ------------------------------------------------------------------------ */

enum sr_err rec_flow_set(struct rec_flow *f, const struct sockaddr *sa, socklen_t salen,
                         uint32_t ssrc)
{
    if (!f || !sa)
        return SR_EINVAL;
    memset(f, 0, sizeof(*f));
    f->ssrc = ssrc;
    if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        f->addr[10] = 0xff;
        f->addr[11] = 0xff;
        memcpy(f->addr + 12, &in->sin_addr, 4);
        f->port = ntohs(in->sin_port);
        return SR_OK;
    }
    if (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(f->addr, &in6->sin6_addr, 16);
        f->port = ntohs(in6->sin6_port);
        return SR_OK;
    }
    return SR_EINVAL;
}

bool rec_flow_eq(const struct rec_flow *a, const struct rec_flow *b)
{
    return a->ssrc == b->ssrc && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

static size_t flow_hash(const struct rec_streams *t, const struct rec_flow *f)
{
    uint8_t k[22];

    /* Serialise rather than hash the struct: padding bytes are not ours. */
    memcpy(k, f->addr, 16);
    k[16] = (uint8_t)(f->port >> 8);
    k[17] = (uint8_t)f->port;
    k[18] = (uint8_t)(f->ssrc >> 24);
    k[19] = (uint8_t)(f->ssrc >> 16);
    k[20] = (uint8_t)(f->ssrc >> 8);
    k[21] = (uint8_t)f->ssrc;
    return (size_t)rec_siphash24(t->k0, t->k1, k, sizeof(k));
}

/* ------------------------------------------------------------------------ */
/* Table                                                                     */
/* ------------------------------------------------------------------------ */

enum sr_err rec_streams_create(struct rec_streams **out, size_t capacity)
{
    struct rec_streams *t;
    uint64_t key[2];
    size_t n = 2;
    enum sr_err err;

    if (!out || capacity < 1 || capacity > REC_STREAMS_MAX_CAPACITY)
        return SR_EINVAL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return SR_ENOMEM;
    while (n < capacity * 2)
        n <<= 1;
    t->slot = calloc(n, sizeof(*t->slot));
    if (!t->slot) {
        err = SR_ENOMEM;
        goto fail;
    }
    t->mask = n - 1;
    t->capacity = capacity;
    if (sr_random(key, sizeof(key)) != SR_OK) {
        err = SR_ECRYPTO;
        goto fail;
    }
    t->k0 = key[0];
    t->k1 = key[1];
    *out = t;
    return SR_OK;
fail:
    rec_streams_destroy(t);
    return err;
}

void rec_streams_destroy(struct rec_streams *t)
{
    if (!t)
        return;
    free(t->slot);
    free(t);
}

/* Index of f's slot, or of the empty slot that ends its probe chain. */
static size_t probe(const struct rec_streams *t, const struct rec_flow *f)
{
    size_t i = flow_hash(t, f) & t->mask;

    /* Terminates: at most half the slots are in use. */
    while (t->slot[i].user && !rec_flow_eq(&t->slot[i].flow, f))
        i = (i + 1) & t->mask;
    return i;
}

enum sr_err rec_streams_insert(struct rec_streams *t, const struct rec_flow *f, void *user)
{
    size_t i;

    if (!t || !f || !user)
        return SR_EINVAL;
    i = probe(t, f);
    if (t->slot[i].user)
        return SR_ESTATE;
    if (t->count >= t->capacity)
        return SR_ELIMIT;
    t->slot[i].flow = *f;
    t->slot[i].user = user;
    t->count++;
    return SR_OK;
}

void *rec_streams_lookup(const struct rec_streams *t, const struct rec_flow *f)
{
    if (!t || !f)
        return NULL;
    return t->slot[probe(t, f)].user;
}

enum sr_err rec_streams_remove(struct rec_streams *t, const struct rec_flow *f, void **user)
{
    size_t i, j;

    if (!t || !f)
        return SR_EINVAL;
    i = probe(t, f);
    if (!t->slot[i].user)
        return SR_ENOTFOUND;
    if (user)
        *user = t->slot[i].user;
    t->count--;

    /* Backward shift: pull later members of the chain into the hole unless
     * their home slot lies cyclically in (i, j], where they already are
     * reachable. */
    for (j = (i + 1) & t->mask; t->slot[j].user; j = (j + 1) & t->mask) {
        size_t home = flow_hash(t, &t->slot[j].flow) & t->mask;
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        t->slot[i] = t->slot[j];
        i = j;
    }
    memset(&t->slot[i], 0, sizeof(t->slot[i]));
    return SR_OK;
}

size_t rec_streams_count(const struct rec_streams *t)
{
    return t ? t->count : 0;
}

size_t rec_streams_capacity(const struct rec_streams *t)
{
    return t ? t->capacity : 0;
}

void rec_streams_foreach(const struct rec_streams *t, rec_streams_visit_fn *fn, void *arg)
{
    if (!t || !fn)
        return;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slot[i].user)
            fn(&t->slot[i].flow, t->slot[i].user, arg);
}
