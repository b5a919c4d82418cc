/* ka_sub: a mutual-TLS subscriber for the integration test.
 *
 *   ka_sub --port=P --cert=F --key=F --ca=F [--event=srtp] [--expires=N]
 *          --expect-status=CODE [--expect-call=ID --expect-key=BASE64]
 *          [--ctl=SOCKET --end-call=ID] [--unsubscribe] [--expect-tls-fail]
 *
 * Subscribes once and checks the answer.  With 200 it waits for the full
 * state NOTIFY (version 0) and checks the call and key; --end-call then ENDs
 * that call over the control socket and expects a partial NOTIFY (version 1)
 * reporting it ended; --unsubscribe sends Expires: 0 and expects the final
 * NOTIFY.  With any other status it checks that no NOTIFY follows.  Every wait
 * is bounded; exit 0 when all checks pass.
 *
 * Filters and partial state:
 *   --filter-file=F          send F as an application/srtp-filter body
 *   --expect-calls=N         the full state holds exactly N calls
 *   --expect-no-call=ID      ... and not this one
 *   --ctl-line=LINE          (repeatable, up to 8) sent over --ctl after the full state
 *   --expect-partial-call=ID then a partial NOTIFY must carry this call
 *   --expect-no-notify       or no NOTIFY may come within 500 ms
 *   --hup-pid=PID            after the full state, SIGHUP that process (a keyagent
 *                            reload) and wait 500 ms before the --ctl-lines: the
 *                            partial NOTIFY then shows the subscription survived */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ka.h"
#include "sipev.h"
#include "util.h"

struct state {
    struct sipev_conn *conn;
    unsigned last_status;
    char to_tag[128];
    unsigned notifies;
    char sub_state[128];
    bool has_body;
    struct sipev_keybody kb;
    bool body_ok;
};

static struct {
    const char *port, *cert, *key, *ca, *event, *expires, *expect_call, *expect_key, *ctl,
        *end_call;
    unsigned expect_status;
    bool unsubscribe, expect_tls_fail;
    const char *filter_file, *expect_no_call, *expect_partial_call;
    const char *ctl_line[8];
    size_t n_ctl_lines;
    long expect_calls;
    bool expect_roc_unknown;   /* every stream of expect_call: ROC unknown */
    const char *expect_start;  /* expect_call's start, epoch seconds */
    const char *expect_addr;   /* expect_call's first stream "SRC>DST" ("-" each: unknown) */
    bool expect_no_notify;
    long hup_pid;
} opt = { .event = "srtp", .expires = "600", .expect_calls = -1 };

static bool on_msg(struct sipev_conn *c, const struct sipev_msg *m, void *arg)
{
    struct state *st = arg;

    if (m->status) {
        const struct sipev_hdr *to = sipev_msg_hdr(m, SIPEV_HDR_TO);
        struct slice tag;
        if (m->status >= 200) {
            st->last_status = m->status;
            if (to && sipev_param(to->value, "tag", &tag))
                slice_copy_cstr(tag, st->to_tag, sizeof(st->to_tag));
        }
        return true;
    }
    if (slice_eq(m->method, SLICE_LIT("NOTIFY"))) {
        const struct sipev_hdr *ss = sipev_msg_hdr(m, SIPEV_HDR_SUBSCRIPTION_STATE);
        struct buf out;
        const char *why = "";

        st->notifies++;
        st->sub_state[0] = '\0';
        if (ss)
            slice_copy_cstr(ss->value, st->sub_state, sizeof(st->sub_state));
        sipev_keybody_fini(&st->kb);
        sipev_keybody_init(&st->kb);
        st->has_body = m->body.len > 0;
        st->body_ok = !st->has_body ||
                      sipev_keybody_parse(m->body.p, m->body.len, &st->kb, &why) == SR_OK;
        if (!st->body_ok)
            fprintf(stderr, "ka_sub: bad body: %s\n", why);
        buf_init(&out, 65536);
        sipev_resp_print(&out, m, 200, "OK", NULL, NULL, 0, NULL, NULL, 0);
        sipev_conn_send(c, out.p, out.len);
        buf_fini(&out);
    }
    return true;
}

/* Run the connection until cond() holds or about timeout_ms passes. */
static bool pump(struct state *st, bool (*cond)(const struct state *), int timeout_ms)
{
    uint64_t end = sr_now_us() + (uint64_t)timeout_ms * 1000;

    for (;;) {
        struct pollfd p = { .fd = sipev_conn_fd(st->conn), .events = POLLIN };
        uint64_t now;
        /* io first: a client's handshake starts by writing, before any poll
         * could report the socket ready for it. */
        enum sr_err err = sipev_conn_io(st->conn);

        if (err) {
            fprintf(stderr, "ka_sub: connection: %s\n", sr_strerror(err));
            return false;
        }
        if (cond && cond(st))
            return true;
        now = sr_now_us();
        if (now >= end)
            return false;
        if (sipev_conn_want_write(st->conn))
            p.events |= POLLOUT;
        poll(&p, 1, (int)((end - now) / 1000) + 1);
    }
}

static bool established(const struct state *st) { return sipev_conn_established(st->conn); }
static bool answered(const struct state *st) { return st->last_status != 0; }
static unsigned want_notifies;
static bool notified(const struct state *st) { return st->notifies >= want_notifies; }

static void subscribe(struct state *st, uint32_t cseq, const char *expires, const char *to_tag)
{
    struct sipev_extra_hdr extra[3] = {
        { "Event", opt.event }, { "Expires", expires }, { "Accept", SIPEV_KEYBODY_TYPE } };
    struct sipev_req r = { 0 };
    char branch[40] = "z9hG4bK";
    struct buf out;
    static char filter[4096];
    size_t filter_len = 0;

    if (opt.filter_file) {
        FILE *f = fopen(opt.filter_file, "rb");
        if (f) {
            filter_len = fread(filter, 1, sizeof(filter), f);
            fclose(f);
        }
        r.content_type = "application/srtp-filter";
        r.body = filter;
        r.body_len = filter_len;
    }
    sipev_random_token(branch + 7, sizeof(branch) - 7);
    r.method = "SUBSCRIBE";
    r.ruri = "sip:keyagent@example.net";
    r.via_transport = "TLS";
    r.via_host = "127.0.0.1:5999";
    r.branch = branch;
    r.via_alias = true;
    r.from_uri = "sip:recorder@example.net";
    r.from_tag = "subtag1";
    r.to_uri = "sip:keyagent@example.net";
    r.to_tag = to_tag;
    r.call_id = "ka-sub-call-id@127.0.0.1";
    r.cseq = cseq;
    r.contact = "sip:recorder@127.0.0.1:5999;transport=tls";
    r.extra = extra;
    r.n_extra = 3;
    buf_init(&out, 65536);
    sipev_req_print(&out, &r);
    sipev_conn_send(st->conn, out.p, out.len);
    buf_fini(&out);
}

static const struct sipev_dialog *find_call(const struct state *st, const char *id)
{
    for (size_t i = 0; i < st->kb.n_dialogs; i++)
        if (strcmp(st->kb.dialogs[i].call_id, id) == 0)
            return &st->kb.dialogs[i];
    return NULL;
}

static int fail(const char *what)
{
    printf("FAIL %s\n", what);
    return 1;
}

static void opts(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = strchr(a, '=');
        v = v ? v + 1 : "";
#define O(name, field) if (strncmp(a, "--" name "=", strlen(name) + 3) == 0) { opt.field = v; continue; }
        O("port", port) O("cert", cert) O("key", key) O("ca", ca) O("event", event)
        O("expires", expires) O("expect-call", expect_call) O("expect-key", expect_key)
        O("ctl", ctl) O("end-call", end_call) O("filter-file", filter_file)
        O("expect-no-call", expect_no_call) O("expect-partial-call", expect_partial_call)
        O("expect-start", expect_start) O("expect-addresses", expect_addr)
#undef O
        if (strncmp(a, "--ctl-line=", 11) == 0 && opt.n_ctl_lines < 8) {
            opt.ctl_line[opt.n_ctl_lines++] = v;
            continue;
        }
        if (strncmp(a, "--expect-calls=", 15) == 0) {
            opt.expect_calls = strtol(v, NULL, 10);
            continue;
        }
        if (strncmp(a, "--hup-pid=", 10) == 0) {
            uint64_t pid = 0;
            if (!slice_to_u64(slice_cstr(v), 1u << 30, &pid)) {
                fprintf(stderr, "ka_sub: bad --hup-pid\n");
                exit(2);
            }
            opt.hup_pid = (long)pid;
            continue;
        }
        if (strcmp(a, "--expect-roc-unknown") == 0) {
            opt.expect_roc_unknown = true;
            continue;
        }
        if (strcmp(a, "--expect-no-notify") == 0) {
            opt.expect_no_notify = true;
            continue;
        }
        if (strncmp(a, "--expect-status=", 16) == 0)
            opt.expect_status = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--unsubscribe") == 0)
            opt.unsubscribe = true;
        else if (strcmp(a, "--expect-tls-fail") == 0)
            opt.expect_tls_fail = true;
        else {
            fprintf(stderr, "ka_sub: unknown argument %s\n", a);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    static struct state st;
    struct sipev_tls_cfg tc = { 0 };
    struct sipev_conn_cfg cc = { 0 };
    struct sockaddr_in sa = { .sin_family = AF_INET };
    SSL_CTX *ctx = NULL;
    const struct sipev_dialog *d;
    int fd;

    opts(argc, argv);
    if (!opt.port || !opt.cert || !opt.key || !opt.ca)
        return fail("missing --port/--cert/--key/--ca");
    tc.cert_file = opt.cert;
    tc.key_file = opt.key;
    tc.ca_file = opt.ca;
    if (sipev_tls_ctx_create(&ctx, &tc, NULL, 0) != SR_OK)
        return fail("TLS context");
    sa.sin_port = htons((uint16_t)strtoul(opt.port, NULL, 10));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return fail("connect");
    /* Connect blocking (loopback), then hand a non-blocking fd to the conn. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        return fail("fcntl");
    sipev_keybody_init(&st.kb);
    cc.tls = ctx;
    cc.fd = fd;
    cc.on_msg = on_msg;
    cc.arg = &st;
    if (sipev_conn_create(&st.conn, &cc) != SR_OK)
        return fail("sipev_conn_create");

    if (!pump(&st, established, 5000)) {
        if (opt.expect_tls_fail) {
            printf("tls refused ok\n");
            return 0;
        }
        return fail("TLS handshake");
    }
    subscribe(&st, 1, opt.expires, NULL);
    if (!pump(&st, answered, 5000)) {
        if (opt.expect_tls_fail) {
            printf("tls refused ok\n");
            return 0;
        }
        return fail("no answer to SUBSCRIBE");
    }
    if (opt.expect_tls_fail)
        return fail("expected the TLS handshake to fail");
    printf("status %u\n", st.last_status);
    if (st.last_status != opt.expect_status)
        return fail("unexpected status");
    if (st.last_status != 200) {
        /* Nothing may follow a refusal.  A NOTIFY arriving after this bounded
         * wait would go unseen, but the wait never makes the test flaky. */
        want_notifies = 1;
        if (pump(&st, notified, 500))
            return fail("a NOTIFY followed a refusal");
        printf("no notify ok\n");
        return 0;
    }
    want_notifies = 1;
    if (!pump(&st, notified, 5000))
        return fail("no NOTIFY after 200");
    if (strncmp(st.sub_state, "active", 6) != 0 || !st.body_ok || !st.has_body || !st.kb.full ||
        st.kb.version != 0)
        return fail("first NOTIFY is not active full state version 0");
    printf("full state ok: %zu calls (%s)\n", st.kb.n_dialogs, st.sub_state);
    if (opt.expect_call) {
        d = find_call(&st, opt.expect_call);
        if (!d || d->n_streams == 0 || d->streams[0].n_keys == 0)
            return fail("expected call or its key missing");
        if (opt.expect_key) {
            char b64[96];
            sr_b64_encode(d->streams[0].keys[0].master, d->streams[0].keys[0].master_len, b64,
                          sizeof(b64));
            if (strcmp(b64, opt.expect_key) != 0)
                return fail("key differs");
        }
        for (size_t i = 0; opt.expect_roc_unknown && i < d->n_streams; i++)
            if (!d->streams[i].roc_unknown)
                return fail("a stream's ROC is not unknown");
        if (opt.expect_start &&
            d->start_wall_us / 1000000u != strtoull(opt.expect_start, NULL, 10))
            return fail("call start differs");
        if (opt.expect_addr) {
            const struct sipev_stream *s0 = &d->streams[0];
            char got[2 * SIPEV_STR + 2];
            snprintf(got, sizeof(got), "%s>%s", s0->src[0] ? s0->src : "-",
                     s0->dst[0] ? s0->dst : "-");
            if (strcmp(got, opt.expect_addr) != 0) {
                printf("# addresses %s, expected %s\n", got, opt.expect_addr);
                return fail("stream addresses differ");
            }
        }
        printf("call %s key ok\n", opt.expect_call);
    }
    if (opt.expect_calls >= 0 && st.kb.n_dialogs != (size_t)opt.expect_calls)
        return fail("full state: unexpected number of calls");
    if (opt.expect_no_call && find_call(&st, opt.expect_no_call))
        return fail("full state carries a call it must not");
    if (opt.hup_pid > 0) {
        unsigned before = st.notifies;
        if (kill((pid_t)opt.hup_pid, SIGHUP) != 0)
            return fail("kill -HUP");
        want_notifies = before + 1;
        /* An allowed subscriber whose filter did not change hears nothing. */
        if (pump(&st, notified, 500) && strncmp(st.sub_state, "active", 6) != 0)
            return fail("subscription ended by the reload");
        if (sipev_conn_io(st.conn) != SR_OK)
            return fail("connection lost at the reload");
        printf("survived SIGHUP (%u NOTIFYs)\n", st.notifies);
    }
    if (opt.n_ctl_lines) {
        struct ka_client *kc = NULL;
        unsigned before = st.notifies;
        if (!opt.ctl || ka_client_connect(&kc, opt.ctl) != SR_OK)
            return fail("connect to the control socket");
        for (size_t i = 0; i < opt.n_ctl_lines; i++)
            if (ka_client_command(kc, opt.ctl_line[i]) != SR_OK)
                return fail("control line refused");
        ka_client_close(kc);
        want_notifies = before + 1;
        if (opt.expect_no_notify) {
            if (pump(&st, notified, 500))
                return fail("a NOTIFY came that this subscriber must not see");
            printf("no notify ok\n");
        }
        if (opt.expect_partial_call) {
            if (!pump(&st, notified, 5000) || st.kb.full || !find_call(&st, opt.expect_partial_call))
                return fail("no partial NOTIFY with the expected call");
            if (opt.expect_no_call && find_call(&st, opt.expect_no_call))
                return fail("partial NOTIFY carries a call it must not");
            printf("partial %s ok (%zu calls)\n", opt.expect_partial_call, st.kb.n_dialogs);
        }
    }
    if (opt.ctl && opt.end_call) {
        struct ka_client *kc = NULL;
        if (ka_client_connect(&kc, opt.ctl) != SR_OK || ka_call_end(kc, opt.end_call) != SR_OK)
            return fail("END over the control socket");
        ka_client_close(kc);
        want_notifies = 2;
        if (!pump(&st, notified, 5000))
            return fail("no partial NOTIFY after END");
        d = find_call(&st, opt.end_call);
        if (st.kb.full || st.kb.version != 1 || !d || d->state != SIPEV_DIALOG_ENDED)
            return fail("partial NOTIFY v1 with the ended call expected");
        for (size_t s = 0; s < d->n_streams; s++)
            if (d->streams[s].n_keys)
                return fail("ended call still carries keys");
        printf("partial ended ok\n");
    }
    if (opt.unsubscribe) {
        unsigned before = st.notifies;
        st.last_status = 0;
        subscribe(&st, 2, "0", st.to_tag);
        if (!pump(&st, answered, 5000) || st.last_status != 200)
            return fail("unsubscribe not answered 200");
        want_notifies = before + 1;
        if (!pump(&st, notified, 5000) || strncmp(st.sub_state, "terminated", 10) != 0)
            return fail("no final NOTIFY");
        printf("unsubscribe ok (%s)\n", st.sub_state);
    }
    sipev_conn_destroy(st.conn);
    sipev_keybody_fini(&st.kb);
    SSL_CTX_free(ctx);
    return 0;
}
