/** @file test_streams.c  The (source, SSRC) stream table. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "tap.h"

uint64_t rec_siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len);

static void flow4(struct rec_flow *f, const char *ip, uint16_t port, uint32_t ssrc)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof(s));
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    inet_pton(AF_INET, ip, &s.sin_addr);
    rec_flow_set(f, (struct sockaddr *)&s, sizeof(s), ssrc);
}

static void flow6(struct rec_flow *f, const char *ip, uint16_t port, uint32_t ssrc)
{
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof(s));
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &s.sin6_addr);
    rec_flow_set(f, (struct sockaddr *)&s, sizeof(s), ssrc);
}

static void siphash(void)
{
    /* SipHash paper, Appendix A and the reference vectors.h: key 00..0f. */
    uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
    uint8_t m[15];
    for (int i = 0; i < 15; i++)
        m[i] = (uint8_t)i;
    tap_ok(rec_siphash24(k0, k1, m, 0) == 0x726fdb47dd0e0e31ULL, "SipHash-2-4 empty message");
    tap_ok(rec_siphash24(k0, k1, m, 15) == 0xa129ca6149be45e5ULL, "SipHash-2-4 15-byte message");
}

static void flows(void)
{
    struct rec_flow a, b;
    struct sockaddr_un_like { sa_family_t f; char x[100]; } other = { AF_UNIX, { 0 } };

    flow4(&a, "192.0.2.1", 4000, 7);
    flow6(&b, "::ffff:192.0.2.1", 4000, 7);
    tap_ok(rec_flow_eq(&a, &b), "IPv4 equals its v4-mapped IPv6 form");
    flow6(&b, "2001:db8::1", 4000, 7);
    tap_ok(!rec_flow_eq(&a, &b), "different address differs");
    tap_ok(rec_flow_set(&a, (struct sockaddr *)&other, sizeof(other), 1) == SR_EINVAL,
           "AF_UNIX refused");
    struct sockaddr_in s4 = { .sin_family = AF_INET };
    tap_ok(rec_flow_set(&a, (struct sockaddr *)&s4, 4, 1) == SR_EINVAL, "short sockaddr refused");
}

static void basic(void)
{
    struct rec_streams *t = NULL;
    struct rec_flow f1, f2, f3, f4;
    int u1, u2, u3, u4;
    void *out = NULL;

    tap_ok(rec_streams_create(&t, 0) == SR_EINVAL, "capacity 0 refused");
    tap_ok(rec_streams_create(&t, 3) == SR_OK && rec_streams_capacity(t) == 3, "created, capacity 3");
    flow4(&f1, "192.0.2.1", 4000, 1);
    flow4(&f2, "192.0.2.1", 4002, 1); /* other port */
    flow6(&f3, "2001:db8::1", 4000, 1);
    flow4(&f4, "192.0.2.1", 4000, 2); /* other SSRC */
    tap_ok(rec_streams_insert(t, &f1, &u1) == SR_OK && rec_streams_insert(t, &f2, &u2) == SR_OK &&
               rec_streams_insert(t, &f3, &u3) == SR_OK,
           "three inserted (v4, v4 other port, v6)");
    tap_ok(rec_streams_insert(t, &f1, &u4) == SR_ESTATE, "duplicate: SR_ESTATE");
    tap_ok(rec_streams_insert(t, &f4, &u4) == SR_ELIMIT, "fourth over capacity: SR_ELIMIT");
    tap_ok(rec_streams_insert(t, &f4, NULL) == SR_EINVAL, "NULL user: SR_EINVAL");
    tap_ok(rec_streams_lookup(t, &f1) == &u1 && rec_streams_lookup(t, &f2) == &u2 &&
               rec_streams_lookup(t, &f3) == &u3 && rec_streams_lookup(t, &f4) == NULL,
           "lookups");
    tap_ok(rec_streams_count(t) == 3, "count 3");
    tap_ok(rec_streams_remove(t, &f2, &out) == SR_OK && out == &u2, "remove returns the pointer");
    tap_ok(rec_streams_remove(t, &f2, NULL) == SR_ENOTFOUND, "second remove: SR_ENOTFOUND");
    tap_ok(rec_streams_lookup(t, &f2) == NULL && rec_streams_lookup(t, &f1) == &u1 &&
               rec_streams_lookup(t, &f3) == &u3,
           "others still found");
    tap_ok(rec_streams_insert(t, &f4, &u4) == SR_OK, "room again after remove");
    rec_streams_destroy(t);
    rec_streams_destroy(NULL);
}

struct model {
    struct rec_flow f;
    bool live;
};

static void count_visit(const struct rec_flow *f, void *user, void *arg)
{
    (void)f;
    (void)user;
    (*(size_t *)arg)++;
}

/* Random churn against a brute-force model: catches backward-shift bugs. */
static void churn(void)
{
    enum { CAP = 500, KEYS = 800, OPS = 200000 };
    static struct model m[KEYS];
    struct rec_streams *t = NULL;
    size_t live = 0, wrong = 0;
    uint32_t x = 12345;

    tap_ok(rec_streams_create(&t, CAP) == SR_OK, "created, capacity %d", CAP);
    for (size_t i = 0; i < KEYS; i++) {
        /* few addresses, many SSRCs: long shared probe chains */
        flow4(&m[i].f, i % 2 ? "192.0.2.7" : "198.51.100.9", (uint16_t)(5000 + i % 3),
              (uint32_t)(i / 6));
        m[i].live = false;
    }
    for (size_t op = 0; op < OPS; op++) {
        x = x * 1103515245u + 12345u;
        size_t k = (x >> 8) % KEYS;
        if ((x >> 4) & 1) {
            enum sr_err e = rec_streams_insert(t, &m[k].f, &m[k]);
            enum sr_err want = m[k].live ? SR_ESTATE : live >= CAP ? SR_ELIMIT : SR_OK;
            if (e != want)
                wrong++;
            if (e == SR_OK)
                m[k].live = true, live++;
        } else {
            void *u = NULL;
            enum sr_err e = rec_streams_remove(t, &m[k].f, &u);
            if (e != (m[k].live ? SR_OK : SR_ENOTFOUND) || (e == SR_OK && u != &m[k]))
                wrong++;
            if (e == SR_OK)
                m[k].live = false, live--;
        }
        if (op % 1000 == 0)
            for (size_t i = 0; i < KEYS; i++)
                if (rec_streams_lookup(t, &m[i].f) != (m[i].live ? &m[i] : NULL))
                    wrong++;
    }
    size_t visited = 0;
    rec_streams_foreach(t, count_visit, &visited);
    tap_ok(wrong == 0, "%d random inserts/removes agree with a model", OPS);
    tap_ok(rec_streams_count(t) == live && visited == live, "count and foreach agree (%zu)", live);
    rec_streams_destroy(t);
}

int main(void)
{
    siphash();
    flows();
    basic();
    churn();
    return tap_done();
}
