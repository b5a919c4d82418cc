/** @file bench_notify_hidden.c  Does a filtered subscriber's NOTIFY latency
 *  depend on calls hidden from it?  (issue 13 item 9: a timing channel.)
 *
 *   bench_notify_hidden [--keyagent=PATH] [--mkcerts=PATH] [--rounds=N]
 *                       [--hidden=300] [--work=DIR]
 *
 * Run from the build directory.  Starts the real srtprec-keyagent on
 * 127.0.0.1 with two mutual-TLS subscribers: the recorder (every call) and a
 * lawful-intercept subscriber allowed only calls of sip:target@pstn.example
 * (the test CA's "intruder" certificate).  Each round writes, in one write on
 * the control socket, the target's call (CALL + STREAM) followed by either
 * nothing ("alone") or H hidden calls that only the recorder may see
 * ("hidden"), then measures from that write until the LI subscriber has
 * parsed a NOTIFY holding the target's key.  Rounds alternate the two cases;
 * every call is ENDed and the NOTIFYs drained between rounds.  Prints min,
 * median and max per case, and their median ratio.  Bounded: 120 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_ka.h"
#include "buf.h"
#include "sipev.h"
#include "util.h"

enum { MAX_ROUNDS = 1000, MAX_HIDDEN = 2000, LIMIT_S = 120 };

struct sub {
    struct sipev_conn *conn;
    const char *from;
    unsigned status;
    bool full;
    bool got_target; /* this round's target key seen */
    char target[64];
    size_t notifies;
};

static const char *opt_keyagent = "keyagent/srtprec-keyagent";
static const char *opt_mkcerts = "../tests/lib/mkcerts.sh";
static const char *opt_work;
static struct sipev_keybody kb;
static const char K30[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";

static bool on_msg(struct sipev_conn *c, const struct sipev_msg *m, void *arg)
{
    struct sub *s = arg;
    struct buf out;
    const char *why = "";

    if (m->status) {
        if (m->status >= 200)
            s->status = m->status;
        return true;
    }
    if (!slice_eq(m->method, SLICE_LIT("NOTIFY")))
        return true;
    s->notifies++;
    if (m->body.len && sipev_keybody_parse(m->body.p, m->body.len, &kb, &why) == SR_OK) {
        s->full |= kb.full;
        for (size_t d = 0; d < kb.n_dialogs; d++)
            if (s->target[0] && strcmp(kb.dialogs[d].call_id, s->target) == 0 &&
                kb.dialogs[d].n_streams && kb.dialogs[d].streams[0].n_keys)
                s->got_target = true;
    }
    buf_init(&out, 4096);
    sipev_resp_print(&out, m, 200, "OK", NULL, NULL, 0, NULL, NULL, 0);
    sipev_conn_send(c, out.p, out.len);
    buf_fini(&out);
    return true;
}

/* Poll both subscribers and the control socket; ctl answers are counted. */
static enum sr_err pump(struct sub *subs, int ctl, size_t *ctl_lines, int timeout_ms)
{
    struct pollfd p[3];
    char rb[65536];

    for (int i = 0; i < 2; i++) {
        p[i] = (struct pollfd){ .fd = sipev_conn_fd(subs[i].conn), .events = POLLIN };
        if (sipev_conn_want_write(subs[i].conn))
            p[i].events |= POLLOUT;
    }
    p[2] = (struct pollfd){ .fd = ctl, .events = POLLIN };
    if (poll(p, ctl >= 0 ? 3 : 2, timeout_ms) < 0 && errno != EINTR)
        return SR_EIO;
    /* The LI subscriber first: parsing the recorder's bulk here must not
     * delay noticing its NOTIFY (the keyagent is measured, not this loop). */
    for (int i = 1; i >= 0; i--) {
        enum sr_err err = sipev_conn_io(subs[i].conn);
        if (err)
            return err;
    }
    if (ctl >= 0 && (p[2].revents & POLLIN)) {
        ssize_t n = read(ctl, rb, sizeof(rb));
        if (n <= 0)
            return SR_EIO;
        for (ssize_t i = 0; i < n; i++)
            *ctl_lines += rb[i] == '\n';
    }
    return SR_OK;
}

static int ctl_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (strlen(path) >= sizeof(sa.sun_path)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    return fd;
}

static bool write_all(int fd, const char *p, size_t len, struct sub *subs, size_t *lines)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (pump(subs, fd, lines, 10))
                return false;
            continue;
        }
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void call_lines(struct buf *b, const char *cid, const char *remote, unsigned ssrc)
{
    buf_printf(b, "CALL %s lt rt sip:agent@cc.example %s\n", cid, remote);
    buf_printf(b, "STREAM %s tx send %08x 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:5000 "
                  "AES_CM_128_HMAC_SHA1_80 inline:%s 0 100\n", cid, ssrc, K30);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    printf("  %-7s n=%zu  min %.2f ms  median %.2f ms  max %.2f ms\n", name, n, v[0] / 1000.0,
           v[n / 2] / 1000.0, v[n - 1] / 1000.0);
}

int main(int argc, char **argv)
{
    static uint64_t lat[2][MAX_ROUNDS];
    size_t n_lat[2] = { 0, 0 };
    uint64_t rounds = 40, hidden = 300, deadline;
    char tmpl[] = "/tmp/bench-hidden.XXXXXX", cmd[1200], certs[600], sock[700];
    bool own_work = false;
    char cert[2][700], keyf[2][700], ca[700];
    SSL_CTX *ctx[2] = { NULL, NULL };
    struct sub subs[2] = { { .from = "sip:recorder@example.net" },
                           { .from = "sip:intruder@example.net" } };
    static const char *const who[2] = { "recorder", "intruder" };
    unsigned port = 0;
    size_t lines = 0, want = 0;
    int ctl = -1, rc = 1;
    pid_t pid = -1;
    struct buf b;
    const char *fail = NULL;

    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = strchr(a, '=');
        v = v ? v + 1 : "";
        if (strncmp(a, "--keyagent=", 11) == 0)
            opt_keyagent = v;
        else if (strncmp(a, "--mkcerts=", 10) == 0)
            opt_mkcerts = v;
        else if (strncmp(a, "--work=", 7) == 0)
            opt_work = v;
        else if (strncmp(a, "--rounds=", 9) == 0 &&
                 slice_to_u64(slice_cstr(v), MAX_ROUNDS, &rounds) && rounds >= 2)
            continue;
        else if (strncmp(a, "--hidden=", 9) == 0 &&
                 slice_to_u64(slice_cstr(v), MAX_HIDDEN, &hidden) && hidden > 0)
            continue;
        else {
            fprintf(stderr, "usage: bench_notify_hidden [--keyagent=PATH] [--mkcerts=PATH] "
                            "[--rounds=N] [--hidden=N] [--work=DIR]\n");
            return 2;
        }
    }
    if (!opt_work) {
        if (!(opt_work = mkdtemp(tmpl))) {
            perror("mkdtemp");
            return 1;
        }
        own_work = true;
    }
    snprintf(certs, sizeof(certs), "%s/certs", opt_work);
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s' >/dev/null", opt_mkcerts, certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_notify_hidden: %s failed\n", opt_mkcerts);
        return 1;
    }
    snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
    for (int i = 0; i < 2; i++) {
        struct sipev_tls_cfg tc = { cert[i], keyf[i], ca, NULL, false };
        snprintf(cert[i], sizeof(cert[i]), "%s/%s.crt", certs, who[i]);
        snprintf(keyf[i], sizeof(keyf[i]), "%s/%s.key", certs, who[i]);
        if (sipev_tls_ctx_create(&ctx[i], &tc, NULL, 0) != SR_OK) {
            fprintf(stderr, "bench_notify_hidden: TLS context\n");
            return 1;
        }
    }
    sipev_keybody_init(&kb);
    buf_init(&b, 256 * 1024);
    pid = bench_ka_start(opt_keyagent, opt_work, certs,
                         "allow = sip:recorder@example.net, "
                         "sip:intruder@example.net;aor=sip:target@pstn.example\n"
                         "max-calls = 4096\n",
                         sock, sizeof(sock), &port);
    if (pid < 0) {
        fail = "keyagent did not start";
        goto out;
    }
    deadline = sr_now_us() + (uint64_t)LIMIT_S * 1000000;
    for (int i = 0; i < 2; i++)
        if (bench_ka_connect(&subs[i].conn, ctx[i], port, on_msg, &subs[i])) {
            fail = "connect";
            goto out;
        }
    while (!sipev_conn_established(subs[0].conn) || !sipev_conn_established(subs[1].conn))
        if (pump(subs, -1, &lines, 50) || sr_now_us() > deadline) {
            fail = "TLS handshakes";
            goto out;
        }
    for (unsigned i = 0; i < 2; i++)
        bench_ka_subscribe(subs[i].conn, subs[i].from, "sip:sub@127.0.0.1:5999;transport=tls",
                           "hidden-sub", i);
    while (!subs[0].full || !subs[1].full) {
        if (pump(subs, -1, &lines, 50) || sr_now_us() > deadline ||
            (subs[0].status && subs[0].status != 200) || (subs[1].status && subs[1].status != 200)) {
            fail = "SUBSCRIBE answers and full states";
            goto out;
        }
    }
    ctl = ctl_connect(sock);
    if (ctl < 0) {
        fail = "control socket";
        goto out;
    }
    fcntl(ctl, F_SETFL, O_NONBLOCK);
    printf("bench_notify_hidden: %llu rounds, alternating; hidden = %llu calls visible to the "
           "recorder only, written after the target's call in the same control write; latency = "
           "that write -> the LI subscriber parsed the target's key\n",
           (unsigned long long)rounds, (unsigned long long)hidden);
    for (uint64_t r = 0; r < rounds; r++) {
        int kind = (int)(r & 1); /* 0 alone, 1 with hidden calls */
        uint64_t t0;

        buf_reset(&b);
        snprintf(subs[1].target, sizeof(subs[1].target), "target-%llu", (unsigned long long)r);
        subs[1].got_target = false;
        call_lines(&b, subs[1].target, "sip:target@pstn.example", 0x1000u + (unsigned)r);
        for (uint64_t h = 0; kind && h < hidden; h++) {
            char cid[64];
            snprintf(cid, sizeof(cid), "hidden-%llu-%llu", (unsigned long long)r,
                     (unsigned long long)h);
            call_lines(&b, cid, "sip:customer@pstn.example", 0x100000u + (unsigned)(r * hidden + h));
        }
        want += kind ? 2 * (hidden + 1) : 2;
        t0 = sr_now_us();
        if (!write_all(ctl, b.p, b.len, subs, &lines)) {
            fail = "control write";
            goto out;
        }
        while (!subs[1].got_target) {
            if (pump(subs, ctl, &lines, 20) || sr_now_us() > deadline) {
                fail = "the LI subscriber's NOTIFY";
                goto out;
            }
        }
        lat[kind][n_lat[kind]++] = sr_now_us() - t0;
        /* End every call of the round and drain. */
        buf_reset(&b);
        buf_printf(&b, "END %s\n", subs[1].target);
        for (uint64_t h = 0; kind && h < hidden; h++)
            buf_printf(&b, "END hidden-%llu-%llu\n", (unsigned long long)r, (unsigned long long)h);
        want += kind ? hidden + 1 : 1;
        if (!write_all(ctl, b.p, b.len, subs, &lines)) {
            fail = "control write";
            goto out;
        }
        while (lines < want)
            if (pump(subs, ctl, &lines, 20) || sr_now_us() > deadline) {
                fail = "control answers";
                goto out;
            }
        /* Quiet: no NOTIFY for 50 ms (the ENDs reached the recorder). */
        for (uint64_t q = sr_now_us() + 50000; sr_now_us() < q;) {
            size_t seen = subs[0].notifies + subs[1].notifies;
            if (pump(subs, ctl, &lines, 5) || sr_now_us() > deadline) {
                fail = "drain";
                goto out;
            }
            if (subs[0].notifies + subs[1].notifies != seen)
                q = sr_now_us() + 50000;
        }
    }
    report("alone", lat[0], n_lat[0]);
    report("hidden", lat[1], n_lat[1]);
    printf("  median ratio hidden/alone: %.2f\n",
           (double)lat[1][n_lat[1] / 2] / (double)(lat[0][n_lat[0] / 2] ? lat[0][n_lat[0] / 2] : 1));
    rc = 0;
out:
    if (fail)
        fprintf(stderr, "bench_notify_hidden: %s failed (see %s/ka.log)\n", fail, opt_work);
    if (ctl >= 0)
        close(ctl);
    for (int i = 0; i < 2; i++) {
        sipev_conn_destroy(subs[i].conn);
        SSL_CTX_free(ctx[i]);
    }
    if (pid > 0)
        bench_ka_stop(pid);
    buf_fini(&b);
    sipev_keybody_fini(&kb);
    if (own_work && rc == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", opt_work);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_notify_hidden: could not remove %s\n", opt_work);
    }
    return rc;
}
