/** @file txn.c  RFC 3261 non-INVITE client (17.1.2) and server (17.2.2)
 *  transactions as a clock-free state machine.
 *
 * The owner's loop already has a monotonic clock and a poll timeout; taking
 * now_us as an argument keeps this file free of both, so every timer path is
 * unit-tested by passing times instead of sleeping.
 */
#include <stdint.h>

#include "sipev.h"

const struct sipev_txn_timers sipev_txn_rfc_timers = {
    .t1_us = 500000,
    .t2_us = 4000000,
    .t4_us = 5000000,
};

static void txn_init(struct sipev_txn *t, bool client, bool reliable,
                     const struct sipev_txn_timers *timers)
{
    t->client = client;
    t->reliable = reliable;
    t->state = SIPEV_TXN_TRYING;
    t->t = timers ? *timers : sipev_txn_rfc_timers;
    t->e_at = t->e_interval = t->f_at = t->end_at = 0;
    t->last_status = 0;
}

void sipev_txn_client_start(struct sipev_txn *t, bool reliable, const struct sipev_txn_timers *timers,
                            uint64_t now_us)
{
    txn_init(t, true, reliable, timers);
    t->f_at = now_us + 64 * t->t.t1_us; /* Timer F runs on every transport */
    if (!reliable) {
        t->e_interval = t->t.t1_us;
        t->e_at = now_us + t->e_interval;
    }
}

/* Completed with Timer K (client) or J (server); zero on reliable transports,
 * where Completed lasts no time at all. */
static unsigned complete(struct sipev_txn *t, uint64_t wait_us, uint64_t now_us)
{
    t->e_at = 0;
    t->f_at = 0;
    if (t->reliable || wait_us == 0) {
        t->state = SIPEV_TXN_TERMINATED;
        return SIPEV_TXN_DONE;
    }
    t->state = SIPEV_TXN_COMPLETED;
    t->end_at = now_us + wait_us;
    return SIPEV_TXN_NONE;
}

unsigned sipev_txn_client_on_response(struct sipev_txn *t, unsigned status, uint64_t now_us)
{
    if (!t->client || status < 100 || status > 699)
        return SIPEV_TXN_NONE;
    switch (t->state) {
    case SIPEV_TXN_TRYING:
    case SIPEV_TXN_PROCEEDING:
        if (status < 200) {
            t->state = SIPEV_TXN_PROCEEDING;
            return SIPEV_TXN_DELIVER;
        }
        return SIPEV_TXN_DELIVER | complete(t, t->t.t4_us, now_us);
    case SIPEV_TXN_COMPLETED:  /* retransmitted final response: absorbed */
    case SIPEV_TXN_TERMINATED: return SIPEV_TXN_NONE;
    }
    return SIPEV_TXN_NONE;
}

void sipev_txn_server_start(struct sipev_txn *t, bool reliable, const struct sipev_txn_timers *timers,
                            uint64_t now_us)
{
    (void)now_us; /* no timer runs in Trying */
    txn_init(t, false, reliable, timers);
}

unsigned sipev_txn_server_on_request(struct sipev_txn *t, uint64_t now_us)
{
    (void)now_us;
    if (t->client)
        return SIPEV_TXN_NONE;
    switch (t->state) {
    case SIPEV_TXN_PROCEEDING:
    case SIPEV_TXN_COMPLETED: return SIPEV_TXN_SEND;
    case SIPEV_TXN_TRYING:
    case SIPEV_TXN_TERMINATED: return SIPEV_TXN_NONE;
    }
    return SIPEV_TXN_NONE;
}

unsigned sipev_txn_server_respond(struct sipev_txn *t, unsigned status, uint64_t now_us)
{
    if (t->client || status < 100 || status > 699 ||
        (t->state != SIPEV_TXN_TRYING && t->state != SIPEV_TXN_PROCEEDING))
        return SIPEV_TXN_NONE;
    t->last_status = status;
    if (status < 200) {
        t->state = SIPEV_TXN_PROCEEDING;
        return SIPEV_TXN_SEND;
    }
    return SIPEV_TXN_SEND | complete(t, 64 * t->t.t1_us, now_us);
}

unsigned sipev_txn_tick(struct sipev_txn *t, uint64_t now_us)
{
    unsigned act = SIPEV_TXN_NONE;

    switch (t->state) {
    case SIPEV_TXN_TRYING:
    case SIPEV_TXN_PROCEEDING:
        if (!t->client)
            return SIPEV_TXN_NONE;
        if (t->f_at && now_us >= t->f_at) {
            t->state = SIPEV_TXN_TERMINATED;
            t->e_at = t->f_at = 0;
            return SIPEV_TXN_TIMEOUT | SIPEV_TXN_DONE;
        }
        if (t->e_at && now_us >= t->e_at) {
            /* Trying doubles up to T2; Proceeding retransmits every T2. */
            if (t->state == SIPEV_TXN_PROCEEDING)
                t->e_interval = t->t.t2_us;
            else
                t->e_interval = t->e_interval * 2 < t->t.t2_us ? t->e_interval * 2 : t->t.t2_us;
            t->e_at = now_us + t->e_interval;
            act |= SIPEV_TXN_SEND;
        }
        return act;
    case SIPEV_TXN_COMPLETED:
        if (now_us >= t->end_at) {
            t->state = SIPEV_TXN_TERMINATED;
            t->end_at = 0;
            return SIPEV_TXN_DONE;
        }
        return SIPEV_TXN_NONE;
    case SIPEV_TXN_TERMINATED: return SIPEV_TXN_NONE;
    }
    return SIPEV_TXN_NONE;
}

uint64_t sipev_txn_next_us(const struct sipev_txn *t)
{
    uint64_t next = UINT64_MAX;

    switch (t->state) {
    case SIPEV_TXN_TRYING:
    case SIPEV_TXN_PROCEEDING:
        if (t->f_at && t->f_at < next)
            next = t->f_at;
        if (t->e_at && t->e_at < next)
            next = t->e_at;
        return next;
    case SIPEV_TXN_COMPLETED: return t->end_at;
    case SIPEV_TXN_TERMINATED: return UINT64_MAX;
    }
    return next;
}

unsigned sipev_txn_transport_error(struct sipev_txn *t)
{
    bool waiting = t->client && (t->state == SIPEV_TXN_TRYING || t->state == SIPEV_TXN_PROCEEDING);

    if (t->state == SIPEV_TXN_TERMINATED)
        return SIPEV_TXN_NONE;
    t->state = SIPEV_TXN_TERMINATED;
    t->e_at = t->f_at = t->end_at = 0;
    return waiting ? SIPEV_TXN_TIMEOUT | SIPEV_TXN_DONE : SIPEV_TXN_DONE;
}
