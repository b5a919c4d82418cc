/** @file test_calltab.c  Calls by (peer, Call-ID): the table a key body's
 *  dialogs are found in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "tap.h"

struct call {
    char peer[64], call_id[300];
};

int main(void)
{
    enum { N = 5000 };
    struct rec_calltab *t = NULL;
    static struct call c[N];
    char long_a[600], long_b[600];
    int marker = 1;
    size_t found = 0, wrong = 0, gone = 0;

    tap_ok(rec_calltab_create(NULL, 10) == SR_EINVAL, "create needs somewhere to put it");
    if (!tap_ok(rec_calltab_create(&t, 64) == SR_OK, "create for 64 calls"))
        return tap_done();
    /* More calls than buckets: chains grow, lookups stay exact. */
    for (size_t i = 0; i < N; i++) {
        snprintf(c[i].peer, sizeof(c[i].peer), "sip:ka%zu@example.net", i % 3);
        snprintf(c[i].call_id, sizeof(c[i].call_id), "%zu@pbx.example", i / 3);
    }
    for (size_t i = 0; i < N; i++)
        if (rec_calltab_insert(t, c[i].peer, c[i].call_id, &c[i]) != SR_OK)
            wrong++;
    tap_ok(wrong == 0 && rec_calltab_count(t) == N, "%d calls inserted (%zu failed)", N, wrong);
    tap_ok(rec_calltab_insert(t, c[7].peer, c[7].call_id, &marker) == SR_ESTATE,
           "a (peer, Call-ID) already there is refused");
    /* The same Call-ID from another keyagent is another call. */
    tap_ok(rec_calltab_find(t, c[0].peer, c[0].call_id) == &c[0] &&
               rec_calltab_find(t, c[1].peer, c[1].call_id) == &c[1] &&
               strcmp(c[0].call_id, c[1].call_id) == 0,
           "one Call-ID under two keyagents: two calls");
    for (size_t i = 0; i < N; i++)
        found += rec_calltab_find(t, c[i].peer, c[i].call_id) == &c[i];
    tap_ok(found == N, "every call found (%zu)", found);
    tap_ok(rec_calltab_find(t, "sip:ka9@example.net", "1@pbx.example") == NULL &&
               rec_calltab_find(t, c[0].peer, "no-such-call") == NULL,
           "unknown calls are not found");
    tap_ok(rec_calltab_find(t, NULL, "x") == NULL && rec_calltab_find(NULL, "a", "b") == NULL &&
               rec_calltab_insert(t, "a", "b", NULL) == SR_EINVAL,
           "NULL arguments are refused");
    for (size_t i = 0; i < N; i += 2)
        if (rec_calltab_remove(t, c[i].peer, c[i].call_id) == SR_OK)
            gone++;
    found = 0, wrong = 0;
    for (size_t i = 0; i < N; i++) {
        void *u = rec_calltab_find(t, c[i].peer, c[i].call_id);
        if (i % 2 ? u == &c[i] : u == NULL)
            found++;
        else
            wrong++;
    }
    tap_ok(gone == N / 2 && found == N && rec_calltab_count(t) == N - N / 2,
           "removing every other call leaves exactly the others (%zu wrong)", wrong);
    tap_ok(rec_calltab_remove(t, c[0].peer, c[0].call_id) == SR_ENOTFOUND,
           "removing a call twice: SR_ENOTFOUND");
    /* Keys longer than the hashed prefix: equal prefixes, different calls. */
    memset(long_a, 'a', sizeof(long_a) - 1);
    long_a[sizeof(long_a) - 1] = '\0';
    memcpy(long_b, long_a, sizeof(long_b));
    long_b[sizeof(long_b) - 2] = 'b';
    tap_ok(rec_calltab_insert(t, long_a, long_a, &c[0]) == SR_OK &&
               rec_calltab_insert(t, long_a, long_b, &c[2]) == SR_OK &&
               rec_calltab_find(t, long_a, long_a) == &c[0] &&
               rec_calltab_find(t, long_a, long_b) == &c[2],
           "long keys that differ only past the hashed prefix stay apart");
    rec_calltab_destroy(t);
    rec_calltab_destroy(NULL);
    return tap_done();
}
