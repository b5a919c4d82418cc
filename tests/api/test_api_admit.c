/** @file test_api_admit.c  Admission: header deadlines no trickle extends,
 *  reserved slots for authenticated connections (injected clock). */
#include "api_priv.h"
#include "tap.h"

enum { S = 1000000 };

int main(void)
{
    struct api_admit *a = NULL;
    struct api_admit_cfg cfg = { .slots = 4, .reserved = 1, .header_deadline_us = 10 * S };
    int ev, s[6], out[8];
    unsigned open, untr;

    tap_ok(api_admit_create(&a, &(struct api_admit_cfg){ .slots = 2, .reserved = 2 }) ==
               SR_EINVAL, "reserved must leave room for others");
    tap_ok(api_admit_create(&a, &cfg) == SR_OK, "created");

    /* deadline: counted from accept, not extended by anything but a complete head */
    s[0] = api_admit_open(a, 0, &ev);
    tap_ok(s[0] >= 0 && ev == -1, "first connection admitted");
    tap_ok(api_admit_expired(a, 10 * S - 1, out, 8) == 0, "1 us before the deadline: kept");
    tap_ok(api_admit_expired(a, 10 * S, out, 8) == 1 && out[0] == s[0], "at the deadline: expired");
    tap_ok(api_admit_expired(a, 20 * S, out, 8) == 0, "reported once");
    api_admit_close(a, s[0]);

    /* a head in time, then keep-alive: the next head is due 10 s after the response */
    s[0] = api_admit_open(a, 100 * S, &ev);
    api_admit_headers(a, s[0]);
    tap_ok(api_admit_expired(a, 200 * S, out, 8) == 0, "no deadline while served");
    api_admit_idle(a, s[0], 200 * S);
    tap_ok(api_admit_expired(a, 210 * S - 1, out, 8) == 0, "idle: kept until the deadline");
    tap_ok(api_admit_expired(a, 210 * S, out, 8) == 1, "idle past the deadline: expired");
    api_admit_close(a, s[0]);

    /* trusted connections: no deadline, not evicted */
    s[0] = api_admit_open(a, 300 * S, &ev);
    api_admit_headers(a, s[0]);
    api_admit_trust(a, s[0]);
    api_admit_idle(a, s[0], 300 * S);
    tap_ok(api_admit_expired(a, 1000 * S, out, 8) == 0, "trusted idle: no header deadline");

    /* untrusted share is slots - reserved = 3; s[0] trusted holds one */
    s[1] = api_admit_open(a, 301 * S, &ev);
    s[2] = api_admit_open(a, 302 * S, &ev);
    tap_ok(ev == -1, "two untrusted fit");
    s[3] = api_admit_open(a, 303 * S, &ev);
    tap_ok(s[3] >= 0 && ev == -1, "third untrusted fits (3 = slots - reserved)");
    api_admit_counts(a, &open, &untr);
    tap_ok(open == 4 && untr == 3, "4 open, 3 untrusted (%u, %u)", open, untr);
    s[4] = api_admit_open(a, 304 * S, &ev);
    tap_ok(s[4] == -1, "table full: refused");
    api_admit_close(a, s[0]); /* the trusted one leaves */
    s[4] = api_admit_open(a, 305 * S, &ev);
    tap_ok(s[4] >= 0 && ev == s[1], "a fourth untrusted evicts the oldest waiting (%d)", ev);
    api_admit_headers(a, s[2]); /* s[2] is being served: evicted only after waiters */
    api_admit_close(a, s[1]);
    s[1] = api_admit_open(a, 306 * S, &ev);
    tap_ok(s[1] >= 0 && ev == s[3], "a waiting connection goes before a served one (%d)", ev);
    tap_ok(api_admit_expired(a, 400 * S, out, 8) == 2, "doomed slots are not expired twice");
    api_admit_close(a, s[3]);
    api_admit_trust(a, s[4]);
    api_admit_close(a, s[4]);
    api_admit_close(a, s[4]); /* twice: ignored */
    api_admit_close(a, -1);
    api_admit_close(a, 99);
    api_admit_counts(a, &open, &untr);
    tap_ok(open == 2 && untr == 2, "counts after closes (%u, %u)", open, untr);
    api_admit_destroy(a);
    return tap_done();
}
