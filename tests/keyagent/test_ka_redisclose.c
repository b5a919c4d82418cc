/* The client library re-discloses its calls to a keyagent that restarted
 * (issue 12, item 7).  The keyagent side is the real control server and
 * callstore (keyagent/control.c, callstore.c) on a UNIX socket, run by a
 * thread of this test; "killing" it destroys both (the socket closes, every
 * call is gone, as after kill -9) and a new one starts on the same path.
 * The client is the real library in this thread.  The new callstore is read
 * directly (with its thread stopped) for calls, streams, keys and state. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ka.h"
#include "ka_priv.h"
#include "tap.h"

struct srv {
    char path[108];
    int ep;
    struct ka_callstore *calls;
    struct ka_control *ctl;
    pthread_t th;
    atomic_bool stop;
    bool running;
};

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    struct epoll_event ev[16];

    while (!atomic_load(&s->stop)) {
        int n = epoll_wait(s->ep, ev, 16, 10);
        for (int i = 0; i < n; i++)
            ka_control_io(s->ctl, ev[i].data.ptr, ev[i].events);
    }
    return NULL;
}

static void srv_resume(struct srv *s)
{
    atomic_store(&s->stop, false);
    s->running = pthread_create(&s->th, NULL, srv_main, s) == 0;
}

static void srv_pause(struct srv *s)
{
    if (!s->running)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->th, NULL);
    s->running = false;
}

static bool srv_start(struct srv *s, size_t max_calls)
{
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep < 0 || ka_callstore_create(&s->calls, max_calls) != SR_OK ||
        ka_control_create(&s->ctl, s->path, s->ep, s->calls, 8, NULL) != SR_OK)
        return false;
    srv_resume(s);
    return s->running;
}

/* As kill -9 would: the socket and every call are gone at once. */
static void srv_kill(struct srv *s)
{
    srv_pause(s);
    ka_control_destroy(s->ctl);
    ka_callstore_destroy(s->calls);
    close(s->ep);
    s->ctl = NULL;
    s->calls = NULL;
}

static uint8_t K1[30], K2[30], K3[30], K4[30];

static void keys_init(void)
{
    for (int i = 0; i < 30; i++) {
        K1[i] = (uint8_t)(0x10 + i);
        K2[i] = (uint8_t)(0x40 + i);
        K3[i] = (uint8_t)(0x70 + i);
        K4[i] = (uint8_t)(0xa0 + i);
    }
}

static struct ka_stream_info stream(const char *cid, const char *sid, enum ka_direction dir,
                                    const struct ka_key *k, size_t n)
{
    struct ka_stream_info s = { 0 };

    s.call_id = cid;
    s.stream_id = sid;
    s.direction = dir;
    s.ssrc_known = dir == KA_DIR_SEND;
    s.ssrc = 0x0badf00d;
    s.payload_type = 0;
    s.codec = "PCMU";
    s.clock_rate = 8000;
    s.src = "127.0.0.1:4000";
    s.dst = "127.0.0.1:5000";
    s.suite = "AES_CM_128_HMAC_SHA1_80";
    s.keys = k;
    s.n_keys = n;
    s.roc = 0;
    s.seq = 100;
    return s;
}

static struct ka_call_info call(const char *cid)
{
    return (struct ka_call_info){ cid, "lt", "rt", "sip:agent@cc.example", "sip:cust@pstn.example" };
}

static const struct sipev_stream *find_stream(const struct sipev_dialog *d, const char *id)
{
    for (size_t i = 0; d && i < d->n_streams; i++)
        if (strcmp(d->streams[i].id, id) == 0)
            return &d->streams[i];
    return NULL;
}

static bool has_key(const struct sipev_stream *st, const uint8_t *k)
{
    return st && st->n_keys >= 1 && st->keys[0].master_len == 30 &&
           memcmp(st->keys[0].master, k, 30) == 0;
}

static void on_position(void *arg, const char *call_id, const char *stream_id, uint32_t *roc,
                        uint16_t *seq)
{
    (void)arg;
    if (strcmp(call_id, "call-1@ep") == 0 && strcmp(stream_id, "tx") == 0) {
        *roc = 7;
        *seq = 1234;
    }
}

int main(void)
{
    static struct srv s;
    struct ka_client *c = NULL;
    struct ka_key k1 = { K1, 30, 0, 0, 0 }, k2 = { K2, 30, 1048576, 1, 1 }, k3 = { K3, 30, 0, 0, 0 },
                  k4 = { K4, 30, 0, 0, 0 };
    struct ka_stream_info st1[2];
    struct ka_call_info ci;
    const struct sipev_dialog *d;
    const struct sipev_stream *x;
    enum sr_err err;
    size_t n_ok = 0;
    char dir[] = "/tmp/ka-redisclose.XXXXXX";

    keys_init();
    if (!mkdtemp(dir))
        return 1;
    snprintf(s.path, sizeof(s.path), "%s/ka.sock", dir);

    /* 1: a keyagent and an endpoint with live calls. */
    tap_ok(srv_start(&s, 64), "keyagent A up");
    tap_ok(ka_client_connect(&c, s.path) == SR_OK, "client connected");
    ci = call("call-1@ep");
    st1[0] = stream("call-1@ep", "tx", KA_DIR_SEND, &k1, 1);
    st1[1] = stream("call-1@ep", "rx", KA_DIR_RECV, &k2, 1);
    tap_ok(ka_call_begin_streams(c, &ci, st1, 2, &n_ok) == SR_OK && n_ok == 3,
           "call 1 with two streams, pipelined");
    ci = call("call-2@ep");
    st1[0] = stream("call-2@ep", "tx", KA_DIR_SEND, &k3, 1);
    st1[0].roc = KA_ROC_UNKNOWN; /* disclosed late: the ROC unknown, the start given */
    tap_ok(ka_call_begin_streams_at(c, &ci, 1690000000000000ull, NULL, 0, NULL) == SR_OK &&
               ka_stream_add(c, &st1[0]) == SR_OK,
           "call 2 with its start, then its stream of unknown ROC");
    tap_ok(ka_rekey(c, "call-2@ep", "tx", "AES_CM_128_HMAC_SHA1_80", &k4, 1) == SR_OK,
           "call 2 re-keyed");
    tap_ok(ka_pause(c, "call-1@ep", "rx") == SR_OK, "call 1 rx paused");
    ci = call("call-3@ep");
    tap_ok(ka_call_begin(c, &ci) == SR_OK && ka_call_end(c, "call-3@ep") == SR_OK,
           "call 3 begun and ended");
    ci = call("call-1@ep");
    tap_ok(ka_call_begin(c, &ci) == SR_ESTATE && strcmp(ka_client_error(c), "call exists") == 0,
           "a refused CALL is refused as before");
    tap_ok(ka_client_kept_calls(c) == 2, "two live calls kept (%zu)", ka_client_kept_calls(c));

    /* 2: the keyagent dies; the endpoint notices, keeps its calls. */
    srv_kill(&s);
    err = ka_client_poll(c);
    tap_ok(err == SR_EIO || err == SR_ECLOSED, "poll: keyagent gone (%s)", sr_strerror(err));
    tap_ok(ka_client_fd(c) < 0 && ka_client_kept_calls(c) == 2, "disconnected, calls still kept");
    ci = call("call-5@ep");
    err = ka_call_begin(c, &ci);
    tap_ok(err == SR_EIO || err == SR_ECLOSED, "a call begun while it is down: %s", sr_strerror(err));
    tap_ok(ka_client_kept_calls(c) == 3, "... is kept for when it is back");

    /* 3: a new keyagent (empty) on the same socket; one poll re-discloses. */
    tap_ok(srv_start(&s, 64), "keyagent B up (no calls)");
    err = ka_client_poll(c);
    tap_ok(err == SR_OK && ka_client_fd(c) >= 0, "poll: reconnected (%s)", sr_strerror(err));
    srv_pause(&s);
    tap_ok(ka_callstore_count(s.calls) == 3, "B holds the 3 live calls (%zu)",
           ka_callstore_count(s.calls));
    d = ka_callstore_find(s.calls, "call-1@ep");
    tap_ok(d && d->n_streams == 2 && strcmp(d->local_aor, "sip:agent@cc.example") == 0 &&
           strcmp(d->remote_aor, "sip:cust@pstn.example") == 0 && strcmp(d->local_tag, "lt") == 0,
           "call 1: parties, tags, two streams");
    x = find_stream(d, "tx");
    tap_ok(has_key(x, K1) && x->ssrc_known && x->ssrc == 0x0badf00d && x->seq == 100 &&
           strcmp(x->src, "127.0.0.1:4000") == 0 && x->state == SIPEV_STREAM_ACTIVE,
           "call 1 tx: same key, SSRC, SEQ, fork address, active");
    x = find_stream(d, "rx");
    tap_ok(has_key(x, K2) && x->keys[0].lifetime == 1048576 && x->keys[0].mki_len == 1 &&
           x->keys[0].mki == 1 && x->state == SIPEV_STREAM_PAUSED,
           "call 1 rx: same key, lifetime and MKI, still paused");
    d = ka_callstore_find(s.calls, "call-2@ep");
    tap_ok(d && d->n_streams == 1 && has_key(&d->streams[0], K4), "call 2: the key after REKEY");
    tap_ok(d && d->start_wall_us == 1690000000000000ull && d->streams[0].roc_unknown,
           "call 2: its start and its unknown ROC disclosed again");
    tap_ok(ka_callstore_find(s.calls, "call-3@ep") == NULL, "call 3 (ended) not disclosed again");
    d = ka_callstore_find(s.calls, "call-5@ep");
    tap_ok(d && d->n_streams == 0, "call 5 (begun while down) disclosed");
    srv_resume(&s);

    /* 4: restarted again, unnoticed: the next typed call reconnects first. */
    ka_client_set_position_fn(c, on_position, NULL);
    srv_kill(&s);
    tap_ok(srv_start(&s, 64), "keyagent C up (no calls)");
    st1[0] = stream("call-5@ep", "tx", KA_DIR_SEND, &k3, 1);
    tap_ok(ka_stream_add(c, &st1[0]) == SR_OK, "a STREAM after an unnoticed restart: OK");
    srv_pause(&s);
    tap_ok(ka_callstore_count(s.calls) == 3, "C holds the 3 calls");
    d = ka_callstore_find(s.calls, "call-5@ep");
    tap_ok(d && d->n_streams == 1 && has_key(&d->streams[0], K3), "call 5 has its new stream");
    x = find_stream(ka_callstore_find(s.calls, "call-1@ep"), "tx");
    tap_ok(x && x->roc == 7 && x->seq == 1234, "call 1 tx re-disclosed where it is now (ROC 7, SEQ 1234)");
    srv_resume(&s);

    /* 5: only the connection broke: a replay onto the same keyagent. */
    tap_ok(ka_client_reconnect(c) == SR_OK, "reconnect to a keyagent that has the calls: OK");
    srv_pause(&s);
    tap_ok(ka_callstore_count(s.calls) == 3 &&
           find_stream(ka_callstore_find(s.calls, "call-1@ep"), "rx")->state == SIPEV_STREAM_PAUSED,
           "nothing doubled, state unchanged");
    srv_resume(&s);

    /* 6: END forgets; the next keyagent does not learn ended calls. */
    tap_ok(ka_call_end(c, "call-1@ep") == SR_OK && ka_client_kept_calls(c) == 2, "call 1 ended");
    srv_kill(&s);
    tap_ok(ka_call_end(c, "call-2@ep") != SR_OK && ka_client_kept_calls(c) == 1,
           "call 2 ended while the keyagent is down: forgotten anyway");
    tap_ok(srv_start(&s, 64) && ka_client_poll(c) == SR_OK, "keyagent D up, reconnected");
    srv_pause(&s);
    tap_ok(ka_callstore_count(s.calls) == 1 && ka_callstore_find(s.calls, "call-5@ep"),
           "D holds only call 5");
    srv_resume(&s);
    ka_client_close(c);
    c = NULL;
    srv_kill(&s);

    /* 7: bounded: past KA_CLIENT_MAX_CALLS a CALL is refused before it is
     * sent, so every call the keyagent has can be disclosed again. */
    tap_ok(srv_start(&s, 4096) && ka_client_connect(&c, s.path) == SR_OK, "keyagent E, 4096 calls");
    err = SR_OK;
    for (int i = 0; i < KA_CLIENT_MAX_CALLS && !err; i++) {
        char id[32];
        snprintf(id, sizeof(id), "bulk-%d", i);
        ci = call(id);
        err = ka_call_begin(c, &ci);
    }
    tap_ok(!err && ka_client_kept_calls(c) == KA_CLIENT_MAX_CALLS, "%d calls kept",
           KA_CLIENT_MAX_CALLS);
    ci = call("one-too-many");
    tap_ok(ka_call_begin(c, &ci) == SR_ELIMIT, "one more: SR_ELIMIT");
    srv_pause(&s);
    tap_ok(ka_callstore_find(s.calls, "one-too-many") == NULL, "... and not sent");
    srv_resume(&s);
    ka_client_close(c);
    srv_kill(&s);
    rmdir(dir);
    return tap_done();
}
