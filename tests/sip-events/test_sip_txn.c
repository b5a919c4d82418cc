/* RFC 3261 non-INVITE transactions (txn.c): every timer path driven by
 * explicit times, so nothing here sleeps. */
#include <stdint.h>

#include "sipev.h"
#include "tap.h"
#include "util.h"

enum { MS = 1000, T1 = 500 * MS, T2 = 4000 * MS, T4 = 5000 * MS };

/* Client over UDP: Timer E doubles from T1 to T2 in Trying; Timer F at 64*T1. */
static void client_udp_timeout(void)
{
    struct sipev_txn t;
    const uint64_t t0 = 1000000;
    uint64_t expect[] = { 500, 1500, 3500, 7500, 11500, 15500 }; /* ms after t0 */
    unsigned sends = 0, act;
    bool order_ok = true;

    sipev_txn_client_start(&t, false, NULL, t0);
    tap_ok(t.state == SIPEV_TXN_TRYING && sipev_txn_next_us(&t) == t0 + T1,
           "UDP client: Trying, first deadline is Timer E = T1");
    tap_ok(sipev_txn_tick(&t, t0 + T1 - 1) == SIPEV_TXN_NONE, "nothing before Timer E");
    for (size_t i = 0; i < SR_ARRAY_LEN(expect); i++) {
        uint64_t at = sipev_txn_next_us(&t);
        order_ok = order_ok && at == t0 + expect[i] * MS;
        if (sipev_txn_tick(&t, at) == SIPEV_TXN_SEND)
            sends++;
    }
    tap_ok(order_ok && sends == 6, "Timer E: retransmits at 0.5, 1.5, 3.5, 7.5, 11.5, 15.5 s");
    /* run to Timer F */
    act = SIPEV_TXN_NONE;
    for (int guard = 0; guard < 100 && !(act & SIPEV_TXN_DONE); guard++) {
        uint64_t at = sipev_txn_next_us(&t);
        act = sipev_txn_tick(&t, at);
        if (act & SIPEV_TXN_SEND)
            sends++;
        if (act & SIPEV_TXN_TIMEOUT)
            tap_ok(at == t0 + 64 * (uint64_t)T1, "Timer F fires at 64*T1 = 32 s");
    }
    tap_ok(act == (SIPEV_TXN_TIMEOUT | SIPEV_TXN_DONE) && t.state == SIPEV_TXN_TERMINATED,
           "Timer F: TIMEOUT and Terminated");
    tap_ok(sends == 10, "10 retransmissions in 32 s (every T2 after the ramp), got %u", sends);
    tap_ok(sipev_txn_next_us(&t) == UINT64_MAX && sipev_txn_tick(&t, UINT64_MAX - 1) == 0,
           "Terminated: no more timers");
    tap_ok(sipev_txn_client_on_response(&t, 200, t0) == SIPEV_TXN_NONE,
           "a response after Terminated is not delivered");
}

/* Client over UDP: 1xx -> Proceeding (E every T2), 2xx -> Completed, Timer K = T4. */
static void client_udp_answered(void)
{
    struct sipev_txn t;
    uint64_t now = 0;

    sipev_txn_client_start(&t, false, NULL, now);
    tap_ok(sipev_txn_client_on_response(&t, 100, now + 10) == SIPEV_TXN_DELIVER &&
               t.state == SIPEV_TXN_PROCEEDING, "1xx: delivered, Proceeding");
    tap_ok(sipev_txn_tick(&t, T1) == SIPEV_TXN_SEND && sipev_txn_next_us(&t) == T1 + T2,
           "Proceeding: Timer E restarts at T2");
    tap_ok(sipev_txn_client_on_response(&t, 180, T1 + 1) == SIPEV_TXN_DELIVER, "second 1xx delivered");
    tap_ok(sipev_txn_client_on_response(&t, 202, 2 * T1) == SIPEV_TXN_DELIVER &&
               t.state == SIPEV_TXN_COMPLETED, "2xx: delivered, Completed");
    tap_ok(sipev_txn_next_us(&t) == 2 * T1 + T4, "Timer K = T4 over UDP");
    tap_ok(sipev_txn_client_on_response(&t, 202, 2 * T1 + 5) == SIPEV_TXN_NONE,
           "retransmitted final response absorbed in Completed");
    tap_ok(sipev_txn_tick(&t, 2 * T1 + T4 - 1) == SIPEV_TXN_NONE, "no retransmission in Completed");
    tap_ok(sipev_txn_tick(&t, 2 * T1 + T4) == SIPEV_TXN_DONE, "Timer K: Terminated");
    tap_ok(sipev_txn_client_on_response(&t, 99, 0) == SIPEV_TXN_NONE &&
               sipev_txn_client_on_response(&t, 700, 0) == SIPEV_TXN_NONE, "bad status ignored");
}

/* Client over TLS/TCP: only Timer F; a final response terminates at once (K = 0). */
static void client_reliable(void)
{
    struct sipev_txn t;
    struct sipev_txn_timers fast = { .t1_us = 10 * MS, .t2_us = 40 * MS, .t4_us = 50 * MS };

    sipev_txn_client_start(&t, true, NULL, 0);
    tap_ok(sipev_txn_next_us(&t) == 64 * (uint64_t)T1, "reliable: only Timer F runs (32 s)");
    tap_ok(sipev_txn_tick(&t, 64 * (uint64_t)T1 - 1) == SIPEV_TXN_NONE, "no retransmission on TLS");
    tap_ok(sipev_txn_client_on_response(&t, 423, 1) == (SIPEV_TXN_DELIVER | SIPEV_TXN_DONE) &&
               t.state == SIPEV_TXN_TERMINATED, "final response: delivered and Terminated (K = 0)");

    sipev_txn_client_start(&t, true, &fast, 100);
    tap_ok(sipev_txn_next_us(&t) == 100 + 640 * MS, "configured T1 10 ms: Timer F at 640 ms");
    tap_ok(sipev_txn_tick(&t, 100 + 640 * MS) == (SIPEV_TXN_TIMEOUT | SIPEV_TXN_DONE),
           "Timer F over TLS: TIMEOUT");

    sipev_txn_client_start(&t, true, NULL, 0);
    tap_ok(sipev_txn_transport_error(&t) == (SIPEV_TXN_TIMEOUT | SIPEV_TXN_DONE),
           "transport error while waiting: the TU is told");
    tap_ok(sipev_txn_transport_error(&t) == SIPEV_TXN_NONE, "second transport error: nothing");
}

/* Server: Trying absorbs retransmissions; Proceeding/Completed resend the
 * last response; Timer J = 64*T1 over UDP, 0 over TLS. */
static void server(void)
{
    struct sipev_txn t;

    sipev_txn_server_start(&t, false, NULL, 0);
    tap_ok(t.state == SIPEV_TXN_TRYING && sipev_txn_next_us(&t) == UINT64_MAX,
           "UDP server: Trying, no timer");
    tap_ok(sipev_txn_server_on_request(&t, 1) == SIPEV_TXN_NONE, "retransmission absorbed in Trying");
    tap_ok(sipev_txn_server_respond(&t, 100, 2) == SIPEV_TXN_SEND && t.state == SIPEV_TXN_PROCEEDING,
           "1xx sent: Proceeding");
    tap_ok(sipev_txn_server_on_request(&t, 3) == SIPEV_TXN_SEND && t.last_status == 100,
           "retransmission in Proceeding: resend the 1xx");
    tap_ok(sipev_txn_server_respond(&t, 200, 10) == SIPEV_TXN_SEND && t.state == SIPEV_TXN_COMPLETED,
           "final sent: Completed");
    tap_ok(sipev_txn_next_us(&t) == 10 + 64 * (uint64_t)T1, "Timer J = 64*T1 over UDP");
    tap_ok(sipev_txn_server_on_request(&t, 11) == SIPEV_TXN_SEND && t.last_status == 200,
           "retransmission in Completed: resend the final response");
    tap_ok(sipev_txn_server_respond(&t, 500, 12) == SIPEV_TXN_NONE && t.last_status == 200,
           "a second final response is refused");
    tap_ok(sipev_txn_tick(&t, 10 + 64 * (uint64_t)T1) == SIPEV_TXN_DONE, "Timer J: Terminated");
    tap_ok(sipev_txn_server_on_request(&t, 12) == SIPEV_TXN_NONE, "after Terminated: nothing resent");

    sipev_txn_server_start(&t, true, NULL, 0);
    tap_ok(sipev_txn_server_respond(&t, 489, 1) == (SIPEV_TXN_SEND | SIPEV_TXN_DONE),
           "TLS server: final response terminates at once (J = 0)");
    sipev_txn_server_start(&t, false, NULL, 0);
    tap_ok(sipev_txn_transport_error(&t) == SIPEV_TXN_DONE, "server transport error: Terminated");
    tap_ok(sipev_txn_client_on_response(&t, 200, 0) == SIPEV_TXN_NONE,
           "a server transaction takes no responses");
}

int main(void)
{
    client_udp_timeout();
    client_udp_answered();
    client_reliable();
    server();
    return tap_done();
}
