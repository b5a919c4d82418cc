/** @file calltab.c  Calls by (peer, Call-ID), for key bodies that name them.
 *
 * A full state lists every call a keyagent has, and every worker applies
 * every body: with a linear list of calls that was a strcmp per call per
 * dialog, 4 million for a full state of 2,000 calls (perf: strcmp, the key
 * body loop and the archive registry's search led the recorder's profile
 * while calls were being disclosed).  Chained buckets, their count fixed at
 * create (a power of two at least the expected number of calls), SipHash-2-4
 * under a random per-table key: peers choose Call-IDs.
 */
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "util.h"

struct ct_node {
    const char *peer, *call_id; /* the user's fields: they live as long as the entry */
    uint64_t h;
    void *user;
    struct ct_node *next;
};

struct rec_calltab {
    struct ct_node **b;
    size_t mask, count;
    uint64_t k0, k1;
};

enum { CT_MAX_BUCKETS = 1u << 22, CT_KEY_MAX = 1024 };

/* Defined in streams.c (exposed there for its unit test). */
uint64_t rec_siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len);

static uint64_t ct_hash(const struct rec_calltab *t, const char *peer, const char *call_id)
{
    uint8_t k[CT_KEY_MAX];
    size_t pl = strnlen(peer, CT_KEY_MAX / 2 - 1), cl = strnlen(call_id, CT_KEY_MAX / 2);

    /* A longer key hashes by its prefix: equality is still strcmp's. */
    memcpy(k, peer, pl);
    k[pl] = 0;
    memcpy(k + pl + 1, call_id, cl);
    return rec_siphash24(t->k0, t->k1, k, pl + 1 + cl);
}

enum sr_err rec_calltab_create(struct rec_calltab **out, size_t expected)
{
    struct rec_calltab *t;
    uint64_t key[2];
    size_t n = 16;

    if (!out)
        return SR_EINVAL;
    while (n < expected && n < CT_MAX_BUCKETS)
        n *= 2;
    t = calloc(1, sizeof(*t));
    if (!t)
        return SR_ENOMEM;
    t->b = calloc(n, sizeof(*t->b));
    if (!t->b) {
        free(t);
        return SR_ENOMEM;
    }
    if (sr_random(key, sizeof(key)) != SR_OK) {
        free(t->b);
        free(t);
        return SR_ECRYPTO;
    }
    t->k0 = key[0];
    t->k1 = key[1];
    t->mask = n - 1;
    *out = t;
    return SR_OK;
}

void rec_calltab_destroy(struct rec_calltab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i <= t->mask; i++)
        while (t->b[i]) {
            struct ct_node *n = t->b[i];
            t->b[i] = n->next;
            free(n);
        }
    free(t->b);
    free(t);
}

static struct ct_node **ct_slot(const struct rec_calltab *t, const char *peer,
                                const char *call_id, uint64_t h)
{
    struct ct_node **pp = &t->b[h & t->mask];

    while (*pp && !((*pp)->h == h && strcmp((*pp)->call_id, call_id) == 0 &&
                    strcmp((*pp)->peer, peer) == 0))
        pp = &(*pp)->next;
    return pp;
}

enum sr_err rec_calltab_insert(struct rec_calltab *t, const char *peer, const char *call_id,
                               void *user)
{
    struct ct_node **pp, *n;
    uint64_t h;

    if (!t || !peer || !call_id || !user)
        return SR_EINVAL;
    h = ct_hash(t, peer, call_id);
    pp = ct_slot(t, peer, call_id, h);
    if (*pp)
        return SR_ESTATE;
    n = malloc(sizeof(*n));
    if (!n)
        return SR_ENOMEM;
    *n = (struct ct_node){ peer, call_id, h, user, NULL };
    *pp = n;
    t->count++;
    return SR_OK;
}

void *rec_calltab_find(const struct rec_calltab *t, const char *peer, const char *call_id)
{
    struct ct_node **pp;

    if (!t || !peer || !call_id)
        return NULL;
    pp = ct_slot(t, peer, call_id, ct_hash(t, peer, call_id));
    return *pp ? (*pp)->user : NULL;
}

enum sr_err rec_calltab_remove(struct rec_calltab *t, const char *peer, const char *call_id)
{
    struct ct_node **pp, *n;

    if (!t || !peer || !call_id)
        return SR_EINVAL;
    pp = ct_slot(t, peer, call_id, ct_hash(t, peer, call_id));
    if (!*pp)
        return SR_ENOTFOUND;
    n = *pp;
    *pp = n->next;
    free(n);
    t->count--;
    return SR_OK;
}

size_t rec_calltab_count(const struct rec_calltab *t)
{
    return t ? t->count : 0;
}
