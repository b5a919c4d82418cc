/** @file admit.c  Connection admission: header deadlines and reserved slots.
 *
 * A flat table of slots, scanned linearly: slots is at most 10,000 and every
 * scan happens at accept or on the server's 200 ms sweep, far from the
 * per-request path.
 */
#include <stdlib.h>

#include "api_priv.h"

enum slot_state { SLOT_FREE = 0, SLOT_WAITING, SLOT_SERVING };

struct slot {
    enum slot_state state;
    bool trusted;
    bool doomed;       /* reported to the caller for closing; still open */
    uint64_t since_us; /* when the current wait for a request head began */
};

struct api_admit {
    struct api_admit_cfg cfg;
    struct slot *s;
    unsigned open, untrusted;
};

enum sr_err api_admit_create(struct api_admit **out, const struct api_admit_cfg *cfg)
{
    struct api_admit *a;

    if (!out || !cfg || cfg->slots == 0 || cfg->slots > 10000 || cfg->reserved >= cfg->slots)
        return SR_EINVAL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return SR_ENOMEM;
    a->cfg = *cfg;
    a->s = calloc(cfg->slots, sizeof(*a->s));
    if (!a->s) {
        free(a);
        return SR_ENOMEM;
    }
    *out = a;
    return SR_OK;
}

void api_admit_destroy(struct api_admit *a)
{
    if (!a)
        return;
    free(a->s);
    free(a);
}

static bool valid(const struct api_admit *a, int slot)
{
    return slot >= 0 && (unsigned)slot < a->cfg.slots && a->s[slot].state != SLOT_FREE;
}

int api_admit_open(struct api_admit *a, uint64_t now_us, int *evict)
{
    int slot = -1, victim = -1;

    *evict = -1;
    for (unsigned i = 0; i < a->cfg.slots; i++)
        if (a->s[i].state == SLOT_FREE) {
            slot = (int)i;
            break;
        }
    if (slot < 0)
        return -1;
    a->s[slot] = (struct slot){ .state = SLOT_WAITING, .since_us = now_us };
    a->open++;
    a->untrusted++;
    if (a->untrusted <= a->cfg.slots - a->cfg.reserved)
        return slot;
    /* Over the untrusted share: the oldest wait for a head goes, then the
     * oldest untrusted connection being served.  Doomed ones still count
     * until they close, so they are skipped, not evicted twice. */
    for (unsigned pass = 0; pass < 2 && victim < 0; pass++)
        for (unsigned i = 0; i < a->cfg.slots; i++) {
            const struct slot *x = &a->s[i];
            if ((int)i == slot || x->state == SLOT_FREE || x->trusted || x->doomed ||
                (pass == 0 && x->state != SLOT_WAITING))
                continue;
            if (victim < 0 || x->since_us < a->s[victim].since_us)
                victim = (int)i;
        }
    if (victim >= 0) {
        a->s[victim].doomed = true;
        *evict = victim;
    }
    return slot;
}

void api_admit_headers(struct api_admit *a, int slot)
{
    if (valid(a, slot))
        a->s[slot].state = SLOT_SERVING;
}

void api_admit_trust(struct api_admit *a, int slot)
{
    if (valid(a, slot) && !a->s[slot].trusted) {
        a->s[slot].trusted = true;
        a->untrusted--;
    }
}

void api_admit_idle(struct api_admit *a, int slot, uint64_t now_us)
{
    if (!valid(a, slot))
        return;
    a->s[slot].state = SLOT_WAITING;
    a->s[slot].since_us = now_us;
}

void api_admit_close(struct api_admit *a, int slot)
{
    if (!valid(a, slot))
        return;
    if (!a->s[slot].trusted)
        a->untrusted--;
    a->open--;
    a->s[slot] = (struct slot){ .state = SLOT_FREE };
}

size_t api_admit_expired(struct api_admit *a, uint64_t now_us, int *out, size_t max)
{
    size_t n = 0;

    for (unsigned i = 0; i < a->cfg.slots && n < max; i++) {
        struct slot *x = &a->s[i];
        if (x->state != SLOT_WAITING || x->trusted || x->doomed ||
            now_us - x->since_us < a->cfg.header_deadline_us || now_us < x->since_us)
            continue;
        x->doomed = true;
        out[n++] = (int)i;
    }
    return n;
}

void api_admit_counts(const struct api_admit *a, unsigned *open, unsigned *untrusted)
{
    *open = a->open;
    *untrusted = a->untrusted;
}
