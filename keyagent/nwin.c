/** @file nwin.c  The NOTIFY window of one subscription: one sipev_txn per
 *  outstanding NOTIFY, matched by CSeq.
 *
 * A pure state machine (no clock, no sockets) so that every path is unit
 * tested by passing times.  RFC 6665 lets a notifier have several NOTIFYs of
 * one subscription outstanding; the window bounds how many new bodies may be
 * started while earlier ones wait for their final response, so a subscriber
 * that stops answering cannot make the keyagent buffer without limit.
 */
#include <stdlib.h>
#include <string.h>

#include "ka_priv.h"

void ka_nwin_init(struct ka_nwin *w)
{
    memset(w, 0, sizeof(*w));
}

void ka_nwin_fini(struct ka_nwin *w)
{
    if (!w)
        return;
    free(w->slot);
    memset(w, 0, sizeof(*w));
}

bool ka_nwin_may_send(const struct ka_nwin *w)
{
    return w->n < KA_NOTIFY_WINDOW;
}

enum sr_err ka_nwin_start(struct ka_nwin *w, uint32_t cseq, uint64_t now_us)
{
    if (w->n == KA_NWIN_SLOTS_MAX)
        return SR_ELIMIT;
    if (w->n == w->cap) {
        /* Grows only when one body is split over more NOTIFYs than the window. */
        size_t cap = w->cap ? w->cap * 2 : KA_NOTIFY_WINDOW;
        struct ka_nwin_slot *p;

        if (cap > KA_NWIN_SLOTS_MAX)
            cap = KA_NWIN_SLOTS_MAX;
        p = realloc(w->slot, cap * sizeof(*p));
        if (!p)
            return SR_ENOMEM;
        w->slot = p;
        w->cap = cap;
    }
    w->slot[w->n].cseq = cseq;
    /* Stream transports only (TLS, lab TCP): no Timer E, Timer F = 64*T1. */
    sipev_txn_client_start(&w->slot[w->n].txn, true, NULL, now_us);
    w->n++;
    return SR_OK;
}

static void slot_remove(struct ka_nwin *w, size_t i)
{
    /* Keep CSeq order: slot[0] stays the oldest, whose Timer F fires first. */
    memmove(&w->slot[i], &w->slot[i + 1], (w->n - i - 1) * sizeof(w->slot[0]));
    w->n--;
}

enum ka_nwin_verdict ka_nwin_response(struct ka_nwin *w, uint32_t cseq, unsigned status,
                                      uint64_t now_us)
{
    for (size_t i = 0; i < w->n; i++) {
        unsigned act;

        if (w->slot[i].cseq != cseq)
            continue;
        act = sipev_txn_client_on_response(&w->slot[i].txn, status, now_us);
        if (!(act & SIPEV_TXN_DELIVER) || status < 200)
            return KA_NWIN_PENDING;
        slot_remove(w, i);
        return status < 300 ? KA_NWIN_OK : KA_NWIN_FAILED;
    }
    /* Not one of ours (or already answered): a stray or duplicate response. */
    return KA_NWIN_IGNORED;
}

bool ka_nwin_tick(struct ka_nwin *w, uint64_t now_us)
{
    bool timeout = false;

    for (size_t i = 0; i < w->n;) {
        unsigned act = sipev_txn_tick(&w->slot[i].txn, now_us);

        if (act & SIPEV_TXN_TIMEOUT)
            timeout = true;
        if (act & SIPEV_TXN_DONE) {
            slot_remove(w, i);
            continue;
        }
        i++;
    }
    return timeout;
}

uint64_t ka_nwin_next_us(const struct ka_nwin *w)
{
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; i < w->n; i++) {
        uint64_t t = sipev_txn_next_us(&w->slot[i].txn);
        if (t < next)
            next = t;
    }
    return next;
}

size_t ka_nwin_outstanding(const struct ka_nwin *w)
{
    return w->n;
}
