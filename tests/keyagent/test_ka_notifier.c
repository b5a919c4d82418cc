/* The notifier's timers, driven by a fake clock: the idle-connection close,
 * subscription expiry and refresh, Timer F of an unanswered NOTIFY, and the
 * rule that ties them to the loop: after a flush, ka_notifier_timeout_ms is
 * never 0 (a 0 that no flush clears is a busy loop: issue 12, item 9).
 *
 * The notifier is the real one, on a real socketpair in lab plain-TCP mode;
 * the subscriber is a sipev_conn on the other end.  Nothing sleeps: time
 * moves only when the test moves it, and every pump is bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ka_priv.h"
#include "tap.h"

#define K30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"

enum { SEC = 1000000 };

static uint64_t fake_now;
static uint64_t clock_fn(void *arg)
{
    (void)arg;
    return fake_now;
}

/* The subscriber's side of one connection. */
struct peer {
    struct sipev_conn *conn;
    bool closed;
    bool answer_notify;      /* 200 every NOTIFY (else leave it unanswered) */
    unsigned last_status;    /* of our last SUBSCRIBE */
    char to_tag[64];
    unsigned notifies;
    char sub_state[128];     /* of the last NOTIFY */
    bool last_full;
    size_t last_calls;
    uint32_t cseq;
};

static bool on_msg(struct sipev_conn *c, const struct sipev_msg *m, void *arg)
{
    struct peer *p = arg;

    if (m->status) {
        const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);
        struct slice tag;
        if (m->status >= 200) {
            p->last_status = m->status;
            if (to && sipev_param(to->value, "tag", &tag))
                slice_copy_cstr(tag, p->to_tag, sizeof(p->to_tag));
        }
        return true;
    }
    if (slice_eq(m->method, SLICE_LIT("NOTIFY"))) {
        const struct sipev_hdr *ss = sipev_msg_hdr(m, SIPEV_HDR_SUBSCRIPTION_STATE);
        struct sipev_keybody kb;
        const char *why = "";

        p->notifies++;
        p->sub_state[0] = '\0';
        if (ss)
            slice_copy_cstr(ss->value, p->sub_state, sizeof(p->sub_state));
        sipev_keybody_init(&kb);
        p->last_calls = 0;
        p->last_full = false;
        if (m->body.len && sipev_keybody_parse(m->body.p, m->body.len, &kb, &why) == SR_OK) {
            p->last_calls = kb.n_dialogs;
            p->last_full = kb.full;
        }
        sipev_keybody_fini(&kb);
        if (p->answer_notify) {
            struct buf out;
            buf_init(&out, 65536);
            sipev_resp_print(&out, m, 200, "OK", NULL, NULL, 0, NULL, NULL, 0);
            sipev_conn_send(c, out.p, out.len);
            buf_fini(&out);
        }
    }
    return true;
}

struct rig {
    int ep;
    struct ka_callstore *calls;
    struct ka_authz authz;
    struct ka_notifier *n;
};

static bool rig_init(struct rig *r, unsigned idle_s)
{
    struct ka_notifier_cfg nc = { 0 };
    const char *why = "";

    memset(r, 0, sizeof(*r));
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0 || ka_callstore_create(&r->calls, 16) != SR_OK ||
        ka_authz_parse(&r->authz, "sip:recorder@example.net, sip:other@example.net", &why) != SR_OK)
        return false;
    nc.entity = "sip:keyagent@example.net";
    nc.via_host = "127.0.0.1:5061";
    nc.lab_allow_plain = true;
    nc.authz = &r->authz;
    nc.calls = r->calls;
    nc.epoll_fd = r->ep;
    nc.max_subscriptions = 8;
    nc.max_connections = 8;
    nc.default_expires = 600;
    nc.min_expires = 60;
    nc.max_expires = 3600;
    nc.idle_conn_s = idle_s;
    nc.now_us = clock_fn;
    return ka_notifier_create(&r->n, &nc) == SR_OK;
}

static void rig_fini(struct rig *r)
{
    ka_notifier_destroy(r->n);
    ka_callstore_destroy(r->calls);
    close(r->ep);
}

static bool peer_connect(struct rig *r, struct peer *p)
{
    struct sipev_conn_cfg cc = { 0 };
    int sv[2];

    memset(p, 0, sizeof(*p));
    p->answer_notify = true;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return false;
    ka_notifier_accept(r->n, sv[0]);
    cc.fd = sv[1];
    cc.on_msg = on_msg;
    cc.arg = p;
    return sipev_conn_create(&p->conn, &cc) == SR_OK;
}

/* One loop iteration as main.c runs it, at the fake time: ready fds, then
 * the flush; then the peers read what came. */
static void step(struct rig *r, struct peer *peers[], size_t n_peers)
{
    struct epoll_event ev[16];
    int n = epoll_wait(r->ep, ev, 16, 0);

    for (int i = 0; i < n; i++)
        ka_notifier_io(r->n, ev[i].data.ptr, ev[i].events);
    ka_notifier_flush(r->n, fake_now);
    for (size_t i = 0; i < n_peers; i++)
        if (peers[i]->conn && !peers[i]->closed && sipev_conn_io(peers[i]->conn) != SR_OK)
            peers[i]->closed = true;
}

/* A few iterations: enough for a request, its answer and a NOTIFY's 200. */
static void settle(struct rig *r, struct peer *peers[], size_t n_peers)
{
    for (int i = 0; i < 6; i++)
        step(r, peers, n_peers);
}

static void subscribe(struct peer *p, const char *from, const char *expires, bool in_dialog)
{
    struct sipev_extra_hdr extra[2] = { { "Event", "srtp" }, { "Expires", expires } };
    struct sipev_req q = { 0 };
    char branch[40] = "z9hG4bK";
    struct buf out;

    sipev_random_token(branch + 7, sizeof(branch) - 7);
    q.method = "SUBSCRIBE";
    q.ruri = "sip:keyagent@example.net";
    q.via_transport = "TCP";
    q.via_host = "127.0.0.1:5999";
    q.branch = branch;
    q.from_uri = from;
    q.from_tag = "ftag";
    q.to_uri = "sip:keyagent@example.net";
    q.to_tag = in_dialog ? p->to_tag : NULL;
    q.call_id = "notifier-test@127.0.0.1";
    q.cseq = ++p->cseq;
    q.extra = extra;
    q.n_extra = 2;
    p->last_status = 0;
    buf_init(&out, 65536);
    sipev_req_print(&out, &q);
    sipev_conn_send(p->conn, out.p, out.len);
    buf_fini(&out);
}

static void add_call(struct rig *r, const char *cid)
{
    char line[512];
    const char *lines[2];
    struct ka_cmd cmd;
    const char *why = "";

    snprintf(line, sizeof(line), "CALL %s lt rt sip:a@example.net sip:b@example.net", cid);
    lines[0] = line;
    for (int i = 0; i < 2; i++) {
        char st[512];
        if (i == 1) {
            snprintf(st, sizeof(st),
                     "STREAM %s tx send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30
                     " 0 1", cid);
            lines[1] = st;
        }
        if (ka_cmd_parse(slice_cstr(lines[i]), &cmd, &why) == SR_OK)
            ka_callstore_apply(r->calls, &cmd, 1, &why);
        ka_cmd_wipe(&cmd);
    }
}

/* The loop's invariant at every point of a run. */
static bool no_spin(const struct rig *r)
{
    return ka_notifier_timeout_ms(r->n, fake_now) != 0;
}

/* A connection that never subscribes is closed after idle-connection-s. */
static void idle_connection(void)
{
    struct rig r;
    struct peer p;
    struct peer *ps[] = { &p };

    fake_now = 1000ull * SEC;
    if (!tap_ok(rig_init(&r, 30) && peer_connect(&r, &p), "rig: notifier with idle 30 s"))
        return;
    settle(&r, ps, 1);
    tap_ok(ka_notifier_connections(r.n) == 1, "connection accepted");
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == 30001, "timeout: the idle deadline, 30 s (%d ms)",
           ka_notifier_timeout_ms(r.n, fake_now));
    fake_now += 29ull * SEC;
    settle(&r, ps, 1);
    tap_ok(ka_notifier_connections(r.n) == 1 && !p.closed, "29 s idle: still open");
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == 1001, "timeout 1 s to the deadline");
    fake_now += 1ull * SEC;
    step(&r, ps, 1);
    tap_ok(ka_notifier_connections(r.n) == 0, "30 s idle: closed by the flush");
    settle(&r, ps, 1);
    tap_ok(p.closed, "the peer sees the close");
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == -1, "nothing left: timeout -1");
    sipev_conn_destroy(p.conn);
    rig_fini(&r);
}

/* The spin: a connection whose subscription lives on is never idle-closed,
 * and its idle deadline must not be reported once it passes. */
static void subscribed_connection_idle(void)
{
    struct rig r;
    struct peer p;
    struct peer *ps[] = { &p };
    bool spun = false, closed_early = false;
    int t;

    fake_now = 5000ull * SEC;
    if (!tap_ok(rig_init(&r, 0) && peer_connect(&r, &p), "rig: default idle (120 s)"))
        return;
    add_call(&r, "call-1@ep");
    subscribe(&p, "sip:recorder@example.net", "600", false);
    settle(&r, ps, 1);
    tap_ok(p.last_status == 200 && p.notifies == 1 && p.last_full && p.last_calls == 1,
           "subscribed: 200, full state with the call");
    /* Ten minutes of silence, one second at a time: each iteration the
     * loop would run is checked for a zero timeout. */
    for (t = 1; t < 600; t++) {
        fake_now += SEC;
        step(&r, ps, 1);
        if (!no_spin(&r))
            spun = true;
        if (ka_notifier_connections(r.n) != 1 || p.closed)
            closed_early = true;
    }
    tap_ok(!spun, "idle 599 s with a subscription: timeout never 0");
    tap_ok(!closed_early && ka_notifier_subscriptions(r.n) == 1,
           "the subscribed connection is not idle-closed");
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == 1001,
           "next timer is the expiry, 1 s away (%d ms)", ka_notifier_timeout_ms(r.n, fake_now));
    fake_now += SEC;
    settle(&r, ps, 1);
    tap_ok(ka_notifier_subscriptions(r.n) == 0 && strstr(p.sub_state, "terminated;reason=timeout"),
           "600 s: expired, final NOTIFY terminated;reason=timeout (%s)", p.sub_state);
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == 60000,
           "the connection, now without subscription, has its idle deadline (capped, %d ms, %zu conns, closed %d)",
           ka_notifier_timeout_ms(r.n, fake_now), ka_notifier_connections(r.n), p.closed);
    fake_now += 120ull * SEC;
    settle(&r, ps, 1);
    tap_ok(ka_notifier_connections(r.n) == 0, "and is closed 120 s later");
    sipev_conn_destroy(p.conn);
    rig_fini(&r);
}

/* Expiry and refresh: the refresh moves the deadline and gets a full state. */
static void expiry_and_refresh(void)
{
    struct rig r;
    struct peer p;
    struct peer *ps[] = { &p };

    fake_now = 9000ull * SEC;
    if (!tap_ok(rig_init(&r, 0) && peer_connect(&r, &p), "rig"))
        return;
    subscribe(&p, "sip:recorder@example.net", "60", false);
    settle(&r, ps, 1);
    tap_ok(p.last_status == 200 && p.notifies == 1 && strstr(p.sub_state, "active;expires=60"),
           "Expires 60: active;expires=60 (%s)", p.sub_state);
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == 60001, "timeout: the expiry");
    tap_ok(no_spin(&r), "not 0");
    fake_now += 40ull * SEC;
    subscribe(&p, "sip:recorder@example.net", "60", true);
    settle(&r, ps, 1);
    tap_ok(p.last_status == 200 && p.notifies == 2 && p.last_full &&
           strstr(p.sub_state, "active;expires=60"),
           "refresh at 40 s: 200 and a full-state NOTIFY, expires=60 again (%s)", p.sub_state);
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == 60001, "expiry moved to 60 s from the refresh");
    fake_now += 59ull * SEC;
    settle(&r, ps, 1);
    tap_ok(ka_notifier_subscriptions(r.n) == 1, "99 s: alive (the old deadline, 60 s, passed)");
    fake_now += 1ull * SEC;
    settle(&r, ps, 1);
    tap_ok(ka_notifier_subscriptions(r.n) == 0 && p.notifies == 3 &&
           strstr(p.sub_state, "terminated;reason=timeout"), "100 s: expired (%s)", p.sub_state);
    tap_ok(no_spin(&r), "after expiry: timeout not 0");
    sipev_conn_destroy(p.conn);
    rig_fini(&r);
}

/* Timer F: a NOTIFY nobody answers ends the subscription after 32 s. */
static void timer_f(void)
{
    struct rig r;
    struct peer p;
    struct peer *ps[] = { &p };

    fake_now = 20000ull * SEC;
    if (!tap_ok(rig_init(&r, 0) && peer_connect(&r, &p), "rig"))
        return;
    p.answer_notify = false;
    subscribe(&p, "sip:recorder@example.net", "600", false);
    settle(&r, ps, 1);
    tap_ok(p.last_status == 200 && p.notifies == 1, "subscribed; the NOTIFY is not answered");
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == 32001, "timeout: Timer F, 32 s (%d ms)",
           ka_notifier_timeout_ms(r.n, fake_now));
    fake_now += 31ull * SEC;
    settle(&r, ps, 1);
    tap_ok(ka_notifier_subscriptions(r.n) == 1 && no_spin(&r), "31 s: still waiting");
    fake_now += 1ull * SEC;
    step(&r, ps, 1);
    tap_ok(ka_notifier_subscriptions(r.n) == 0, "32 s: Timer F removed the subscription");
    tap_ok(ka_notifier_timeout_ms(r.n, fake_now) == 60000 && no_spin(&r),
           "then only the connection's idle deadline is left (88 s, capped at 60 s)");

    /* Answered NOTIFYs leave no Timer F behind. */
    p.answer_notify = true;
    subscribe(&p, "sip:recorder@example.net", "600", false);
    settle(&r, ps, 1);
    tap_ok(ka_notifier_subscriptions(r.n) == 1 && ka_notifier_timeout_ms(r.n, fake_now) == 60000,
           "answered: no Timer F, the expiry (capped at 60 s) is next (%d ms)",
           ka_notifier_timeout_ms(r.n, fake_now));
    sipev_conn_destroy(p.conn);
    rig_fini(&r);
}

/* SIGHUP's allow-list swap: a revoked subscriber ends, a kept one stays,
 * and a new SUBSCRIBE meets the new list. */
static void authz_swap(void)
{
    struct rig r;
    struct peer a, b, c;
    struct peer *ps[] = { &a, &b, &c };
    struct ka_authz az;
    const char *why = "";

    fake_now = 30000ull * SEC;
    if (!tap_ok(rig_init(&r, 0) && peer_connect(&r, &a) && peer_connect(&r, &b), "rig"))
        return;
    add_call(&r, "call-2@ep");
    subscribe(&a, "sip:recorder@example.net", "600", false);
    subscribe(&b, "sip:other@example.net", "600", false);
    settle(&r, ps, 2);
    tap_ok(a.notifies == 1 && b.notifies == 1 && ka_notifier_subscriptions(r.n) == 2,
           "two subscribers");
    tap_ok(ka_authz_parse(&az, "sip:recorder@example.net, sip:new@example.net", &why) == SR_OK &&
           ka_notifier_set_authz(r.n, &az) == SR_OK, "allow list replaced");
    settle(&r, ps, 2);
    tap_ok(ka_notifier_subscriptions(r.n) == 1 && strstr(b.sub_state, "terminated;reason=rejected"),
           "the revoked one ends: terminated;reason=rejected (%s)", b.sub_state);
    tap_ok(a.notifies == 1 && !a.closed, "the kept one is untouched (no NOTIFY)");
    add_call(&r, "call-3@ep");
    settle(&r, ps, 2);
    tap_ok(a.notifies == 2 && b.notifies == 2, "a change reaches only the kept subscriber");
    tap_ok(peer_connect(&r, &c), "third connection");
    subscribe(&c, "sip:new@example.net", "600", false);
    settle(&r, ps, 3);
    tap_ok(c.last_status == 200 && c.notifies == 1 && c.last_calls == 2,
           "a newly allowed identity subscribes and gets both calls");
    subscribe(&b, "sip:other@example.net", "600", false);
    settle(&r, ps, 3);
    tap_ok(b.last_status == 403, "the revoked identity gets 403 (%u)", b.last_status);

    tap_ok(ka_authz_parse(&az, "sip:recorder@example.net;call-id=call-2@ep, sip:new@example.net",
                          &why) == SR_OK && ka_notifier_set_authz(r.n, &az) == SR_OK,
           "a filter added to a kept entry");
    settle(&r, ps, 3);
    tap_ok(a.notifies == 3 && a.last_full && a.last_calls == 1,
           "that subscriber gets a full state with only what it may now see (%zu calls)",
           a.last_calls);
    tap_ok(ka_notifier_subscriptions(r.n) == 2 && no_spin(&r), "both subscriptions up");
    sipev_conn_destroy(a.conn);
    sipev_conn_destroy(b.conn);
    sipev_conn_destroy(c.conn);
    rig_fini(&r);
}

/* Disclosure-log records from line `from` on: the subscriber of each, in
 * order, as "r" (recorder) or "o" (other). */
static size_t disclog_order(const char *path, size_t from, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    size_t n = 0, k = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f) && k + 1 < outlen) {
        if (n++ < from)
            continue;
        out[k++] = strstr(line, "subscriber=sip:other@") ? 'o' : 'r';
    }
    out[k] = '\0';
    fclose(f);
    return n;
}

/* The scheduling rule of ka_notifier_flush: in one flush, a subscriber owed
 * at most KA_LIGHT_DIALOGS dialogs is built (its disclosures appended),
 * synced and sent before one owed more, whatever their order. */
static void light_first(void)
{
    struct rig r;
    struct peer a, b;
    struct peer *ps[] = { &a, &b };
    struct ka_disclog *dl = NULL;
    struct ka_notifier_cfg nc = { 0 };
    const char *why = "";
    char path[] = "/tmp/test_ka_notifier.XXXXXX", order[256], cid[32];
    int fd = mkstemp(path);
    size_t lines;

    fake_now = 40000ull * SEC;
    memset(&r, 0, sizeof(r));
    if (fd >= 0)
        close(fd);
    unlink(path);
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    nc.entity = "sip:keyagent@example.net";
    nc.via_host = "127.0.0.1:5061";
    nc.lab_allow_plain = true;
    nc.authz = &r.authz;
    nc.epoll_fd = r.ep;
    nc.max_subscriptions = 8;
    nc.max_connections = 8;
    nc.default_expires = 600;
    nc.min_expires = 60;
    nc.max_expires = 3600;
    nc.now_us = clock_fn;
    if (!tap_ok(fd >= 0 && r.ep >= 0 && ka_callstore_create(&r.calls, 64) == SR_OK &&
                    ka_authz_parse(&r.authz, "sip:recorder@example.net, "
                                   "sip:other@example.net;call-id=target@ep", &why) == SR_OK &&
                    ka_disclog_open(&dl, path) == SR_OK &&
                    ((nc.calls = r.calls), (nc.disclog = dl), 1) &&
                    ka_notifier_create(&r.n, &nc) == SR_OK && peer_connect(&r, &a) &&
                    peer_connect(&r, &b), "rig with a disclosure log and a filtered subscriber"))
        return;
    subscribe(&a, "sip:recorder@example.net", "600", false);
    settle(&r, ps, 2);
    subscribe(&b, "sip:other@example.net", "600", false);
    settle(&r, ps, 2);
    tap_ok(a.notifies == 1 && b.notifies == 1, "both subscribed (recorder first)");

    /* One flush owes the recorder 21 dialogs and the other 1. */
    lines = disclog_order(path, 0, order, sizeof(order));
    add_call(&r, "target@ep");
    for (int i = 0; i < 20; i++) {
        snprintf(cid, sizeof(cid), "hidden-%d@ep", i);
        add_call(&r, cid);
    }
    step(&r, ps, 2);
    disclog_order(path, lines, order, sizeof(order));
    tap_ok(a.notifies == 2 && a.last_calls == 21 && b.notifies == 2 && b.last_calls == 1,
           "one flush: the recorder gets 21 calls, the filtered subscriber its 1");
    tap_ok(strlen(order) == 22 && order[0] == 'o' && strchr(order + 1, 'o') == NULL,
           "the light subscriber's disclosure comes first, before the 21 of the heavy one (%s)",
           order);

    /* Only hidden calls: the heavy stage alone; the other learns nothing. */
    lines += strlen(order);
    for (int i = 0; i < 12; i++) {
        snprintf(cid, sizeof(cid), "hidden-b%d@ep", i);
        add_call(&r, cid);
    }
    step(&r, ps, 2);
    disclog_order(path, lines, order, sizeof(order));
    tap_ok(strcmp(order, "rrrrrrrrrrrr") == 0 && a.notifies == 3 && b.notifies == 2,
           "hidden calls only: 12 records for the recorder, no NOTIFY to the other (%s)", order);
    tap_ok(no_spin(&r), "no busy loop after the two-stage flush");
    sipev_conn_destroy(a.conn);
    sipev_conn_destroy(b.conn);
    rig_fini(&r);
    ka_disclog_close(dl);
    unlink(path);
}

int main(void)
{
    idle_connection();
    subscribed_connection_idle();
    expiry_and_refresh();
    timer_f();
    authz_swap();
    light_first();
    return tap_done();
}
