/** @file bench_disclose.c  End-to-end disclosure rate and latency of srtprec-keyagent.
 *
 *   bench_disclose [--keyagent=PATH] [--mkcerts=PATH] [--calls=N] [--subs=1,10,100]
 *                  [--endpoints=1,16] [--api=sync|pipelined] [--work=DIR]
 *
 * Run from the build directory (the defaults are keyagent/srtprec-keyagent
 * and ../tests/lib/mkcerts.sh).  For each subscriber count S and endpoint
 * count E it
 * starts the real keyagent on 127.0.0.1 (port-file, fresh disclosure log),
 * subscribes S times over mutual TLS (one recorder certificate: the allow
 * list authorises the identity, and each SUBSCRIBE is its own subscription),
 * waits for every full-state NOTIFY, then forks E endpoint processes, each
 * with its own control-socket client, that share N calls: each endpoint
 * begins a call with the client library, waits until every subscriber has
 * its key, ENDs it and takes the next (a closed loop, so E calls are in
 * flight).  --api=sync (the default) calls ka_call_begin then ka_stream_add,
 * each waiting for its answer; --api=pipelined sends both lines in one write
 * (ka_call_begin_streams).  Start times and completion flags live in a shared
 * mapping; CLOCK_MONOTONIC is one clock for all processes.
 * A call's latency runs from the start of ka_call_begin until the last
 * subscriber has parsed (sipev_keybody_parse) a NOTIFY carrying its key;
 * finished calls are ENDed.  Prints calls/s, p50, p99 and max per run.
 * Every wait is bounded (120 s per run); the keyagent is stopped at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_ka.h"
#include "ka.h"
#include "sipev.h"
#include "util.h"

enum { MAX_SUBS = 1000, MAX_CALLS = 100000, MAX_ENDPOINTS = 64, RUN_LIMIT_S = 120 };

struct bench;

/* Shared between the subscriber process and the endpoint processes. */
struct shared {
    atomic_size_t next;   /* next call index to begin */
    atomic_int failed;
    atomic_uint_least64_t t0[MAX_CALLS];
    atomic_uchar done[MAX_CALLS];
    atomic_uchar owner[MAX_CALLS]; /* endpoint that began the call */
};

/* Wake-up pipes, one per endpoint: the subscriber process writes a byte
 * when the endpoint's call has reached every subscriber. */
static int wake[MAX_ENDPOINTS][2];

struct sub {
    struct sipev_conn *conn;
    struct bench *b;
    unsigned idx;
    unsigned status;
    bool full;
    uint8_t *seen; /* per call: this subscriber has its key */
};

struct bench {
    struct sub subs[MAX_SUBS];
    size_t n_subs, n_calls;
    struct shared *sh;
    uint64_t *lat;
    uint16_t *arrivals;
    size_t done;
    uint64_t last_us;
    struct sipev_keybody kb;
    unsigned bad_bodies;
    size_t notifies;
};

static const char *opt_keyagent = "keyagent/srtprec-keyagent";
static const char *opt_mkcerts = "../tests/lib/mkcerts.sh";
static const char *opt_work;
static bool opt_pipelined;
static char certs[512];

static void on_key(struct sub *s, const struct sipev_dialog *d)
{
    struct bench *b = s->b;
    struct slice id = slice_cstr(d->call_id);
    uint64_t i;
    bool keyed = false;

    if (!slice_starts_nocase(id, SLICE_LIT("bench-")) ||
        !slice_to_u64(slice_of(id.p + 6, id.len - 6), b->n_calls - 1, &i) || s->seen[i])
        return;
    for (size_t k = 0; k < d->n_streams; k++)
        keyed |= d->streams[k].n_keys > 0;
    if (!keyed)
        return;
    s->seen[i] = 1;
    if (++b->arrivals[i] == b->n_subs) {
        b->last_us = sr_now_us();
        b->lat[i] = b->last_us - atomic_load(&b->sh->t0[i]);
        b->done++;
        atomic_store(&b->sh->done[i], 1);
        if (write(wake[atomic_load(&b->sh->owner[i])][1], "", 1) != 1)
            atomic_store(&b->sh->failed, 1);
    }
}

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
    s->b->notifies++;
    if (m->body.len) {
        if (sipev_keybody_parse(m->body.p, m->body.len, &s->b->kb, &why) != SR_OK) {
            s->b->bad_bodies++;
        } else {
            s->full |= s->b->kb.full;
            for (size_t d = 0; d < s->b->kb.n_dialogs; d++)
                on_key(s, &s->b->kb.dialogs[d]);
        }
    }
    buf_init(&out, 4096);
    sipev_resp_print(&out, m, 200, "OK", NULL, NULL, 0, NULL, NULL, 0);
    sipev_conn_send(c, out.p, out.len);
    buf_fini(&out);
    return true;
}

/* One poll over every subscriber, then io on those that are ready. */
static enum sr_err pump(struct bench *b, int timeout_ms, bool all)
{
    static struct pollfd p[MAX_SUBS];

    for (size_t i = 0; i < b->n_subs; i++) {
        p[i] = (struct pollfd){ .fd = sipev_conn_fd(b->subs[i].conn), .events = POLLIN };
        if (sipev_conn_want_write(b->subs[i].conn))
            p[i].events |= POLLOUT;
    }
    if (!all && poll(p, b->n_subs, timeout_ms) < 0 && errno != EINTR)
        return SR_EIO;
    for (size_t i = 0; i < b->n_subs; i++)
        if (all || p[i].revents) {
            enum sr_err err = sipev_conn_io(b->subs[i].conn);
            if (err)
                return err;
        }
    return SR_OK;
}

/* One endpoint: take the next call, disclose it, wait until every subscriber
 * has its key (the subscriber process sets done), END it.  Bounded by the
 * deadline; exits, never returns. */
static void endpoint(struct shared *sh, unsigned self, const char *sock, size_t n_calls,
                     uint64_t deadline)
{
    static const uint8_t master[30] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30 };
    struct ka_key key = { .master = master, .master_len = sizeof(master) };
    struct ka_client *kc = NULL;
    int rc = 1;

    if (ka_client_connect(&kc, sock) != SR_OK)
        goto out;
    for (;;) {
        size_t i = atomic_fetch_add(&sh->next, 1);
        char id[32];
        struct ka_call_info call = { id, "l", "r", "sip:agent@cc.example", "sip:cust@pstn.example" };
        struct ka_stream_info st = {
            .call_id = id, .stream_id = "tx", .direction = KA_DIR_SEND, .payload_type = 0,
            .codec = "PCMU", .clock_rate = 8000, .suite = "AES_CM_128_HMAC_SHA1_80",
            .keys = &key, .n_keys = 1 };

        if (i >= n_calls || atomic_load(&sh->failed))
            break;
        snprintf(id, sizeof(id), "bench-%zu", i);
        atomic_store(&sh->owner[i], (unsigned char)self);
        atomic_store(&sh->t0[i], sr_now_us());
        if (opt_pipelined ? ka_call_begin_streams(kc, &call, &st, 1, NULL) != SR_OK
                          : ka_call_begin(kc, &call) != SR_OK || ka_stream_add(kc, &st) != SR_OK) {
            fprintf(stderr, "bench_disclose: refused: %s\n", ka_client_error(kc));
            goto out;
        }
        while (!atomic_load(&sh->done[i]) && !atomic_load(&sh->failed) && sr_now_us() < deadline) {
            struct pollfd p = { .fd = wake[self][0], .events = POLLIN };
            char byte;
            if (poll(&p, 1, 100) > 0 && read(wake[self][0], &byte, 1) < 0)
                break;
        }
        if (!atomic_load(&sh->done[i]))
            goto out;
        /* The keyagent then forgets the call: live calls stay at most E. */
        if (ka_call_end(kc, id) != SR_OK) {
            fprintf(stderr, "bench_disclose: END refused: %s\n", ka_client_error(kc));
            goto out;
        }
    }
    rc = 0;
out:
    if (rc)
        atomic_store(&sh->failed, 1);
    ka_client_close(kc);
    _exit(rc);
}

/* CPU time (user + system) of a process, in µs, from /proc/PID/stat. */
static uint64_t proc_cpu_us(pid_t pid)
{
    char path[64], line[1024], *p;
    unsigned long long ut = 0, st = 0;
    long hz = sysconf(_SC_CLK_TCK);
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    p = fgets(line, sizeof(line), f);
    fclose(f);
    /* Fields after the command name, which may hold spaces: state is 3rd,
     * utime 14th, stime 15th. */
    if (!p || !(p = strrchr(line, ')')) || hz <= 0)
        return 0;
    {
        struct slice cur = slice_cstr(p + 2), tok;
        uint64_t v;
        for (unsigned i = 0; i <= 12; i++) {
            tok = slice_split(&cur, ' ');
            if (i < 11)
                continue;
            if (!slice_to_u64(tok, UINT64_MAX, &v))
                return 0;
            if (i == 11)
                ut = v;
            else
                st = v;
        }
    }
    return (ut + st) * 1000000ull / (unsigned long long)hz;
}

static uint64_t self_cpu_us(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
           (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int run(SSL_CTX *ctx, size_t n_subs, size_t n_calls, size_t n_endpoints)
{
    static struct bench b;
    static pid_t eps[MAX_ENDPOINTS];
    char sock[600], extra[400];
    unsigned port = 0;
    uint64_t deadline, first = UINT64_MAX, ka_cpu0 = 0, sub_cpu0 = 0;
    size_t n_eps = 0;
    int rc = 1;
    pid_t pid;
    const char *fail = NULL;

    memset(&b, 0, sizeof(b));
    b.n_subs = n_subs;
    b.n_calls = n_calls;
    b.sh = mmap(NULL, sizeof(*b.sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b.sh == MAP_FAILED)
        b.sh = NULL;
    b.lat = calloc(n_calls, sizeof(*b.lat));
    b.arrivals = calloc(n_calls, sizeof(*b.arrivals));
    sipev_keybody_init(&b.kb);
    /* Every subscriber is the one recorder identity from one address: the
     * admission limits meant for hostile peers (reserved slots, per address,
     * per identity) would refuse all but a few of them. */
    snprintf(extra, sizeof(extra),
             "allow = sip:recorder@example.net\nmax-subscriptions = %zu\n"
             "max-connections = %zu\nmax-calls = 4096\nreserved-connections = 0\n"
             "max-connections-per-address = 0\nmax-subscriptions-per-identity = 0\n",
             n_subs + 8, n_subs + 8);
    pid = bench_ka_start(opt_keyagent, opt_work, certs, extra, sock, sizeof(sock), &port);
    if (pid < 0 || !b.sh || !b.lat || !b.arrivals) {
        fail = "keyagent did not start";
        goto out;
    }
    deadline = sr_now_us() + (uint64_t)RUN_LIMIT_S * 1000000;
    for (size_t i = 0; i < n_subs; i++) {
        b.subs[i] = (struct sub){ .b = &b, .idx = (unsigned)i, .seen = calloc(n_calls, 1) };
        if (!b.subs[i].seen || bench_ka_connect(&b.subs[i].conn, ctx, port, on_msg, &b.subs[i])) {
            fail = "connect";
            goto out;
        }
    }
    /* Handshakes, then SUBSCRIBEs, then every full state. */
    for (bool all_ok = false; !all_ok;) {
        if (pump(&b, 0, true) || pump(&b, 50, false) || sr_now_us() > deadline) {
            fail = "TLS handshakes";
            goto out;
        }
        all_ok = true;
        for (size_t i = 0; i < n_subs; i++)
            all_ok &= sipev_conn_established(b.subs[i].conn);
    }
    for (size_t i = 0; i < n_subs; i++)
        bench_ka_subscribe(b.subs[i].conn, "sip:recorder@example.net",
                           "sip:recorder@127.0.0.1:5999;transport=tls", "bench-sub", b.subs[i].idx);
    for (bool all_ok = false; !all_ok;) {
        if (pump(&b, 0, true) || pump(&b, 50, false) || sr_now_us() > deadline) {
            fail = "SUBSCRIBE answers and full state";
            goto out;
        }
        all_ok = true;
        for (size_t i = 0; i < n_subs; i++) {
            if (b.subs[i].status && b.subs[i].status != 200) {
                fail = "SUBSCRIBE refused";
                goto out;
            }
            all_ok &= b.subs[i].full;
        }
    }
    fflush(NULL); /* the children must not repeat buffered output */
    ka_cpu0 = proc_cpu_us(pid);
    sub_cpu0 = self_cpu_us();
    for (size_t i = 0; i < n_endpoints; i++)
        if (pipe2(wake[i], O_CLOEXEC) != 0) {
            fail = "pipe";
            goto out;
        }
    for (; n_eps < n_endpoints; n_eps++) {
        eps[n_eps] = fork();
        if (eps[n_eps] == 0)
            endpoint(b.sh, (unsigned)n_eps, sock, n_calls, deadline);
        if (eps[n_eps] < 0) {
            fail = "fork";
            goto out;
        }
    }
    while (b.done < n_calls) {
        if (pump(&b, 20, false) || sr_now_us() > deadline) {
            fail = "keys did not reach every subscriber in time";
            goto out;
        }
        if (atomic_load(&b.sh->failed)) {
            fail = "an endpoint failed";
            goto out;
        }
    }
    for (size_t i = 0; i < n_calls; i++)
        if (atomic_load(&b.sh->t0[i]) < first)
            first = atomic_load(&b.sh->t0[i]);
    ka_cpu0 = proc_cpu_us(pid) - ka_cpu0;
    sub_cpu0 = self_cpu_us() - sub_cpu0;
    qsort(b.lat, n_calls, sizeof(*b.lat), cmp_u64);
    printf("subs=%-4zu endpoints=%-3zu calls=%zu  %8.0f calls/s  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms"
           "  (%zu NOTIFYs, %u bad bodies)\n",
           n_subs, n_endpoints, n_calls, (double)n_calls * 1e6 / (double)(b.last_us - first),
           (double)b.lat[n_calls / 2] / 1000.0, (double)b.lat[(n_calls * 99) / 100] / 1000.0,
           (double)b.lat[n_calls - 1] / 1000.0, b.notifies, b.bad_bodies);
    /* Where the CPU went: the keyagent alone, and the S subscribers (this
     * process; real recorders would run elsewhere). */
    printf("          CPU per call: keyagent %.0f us, subscribers %.0f us\n",
           (double)ka_cpu0 / (double)n_calls, (double)sub_cpu0 / (double)n_calls);
    fflush(stdout);
    rc = b.bad_bodies ? 1 : 0;
out:
    if (fail)
        fprintf(stderr, "bench_disclose: subs=%zu endpoints=%zu: %s (%zu of %zu calls done)\n",
                n_subs, n_endpoints, fail, b.done, n_calls);
    if (b.sh)
        atomic_store(&b.sh->failed, fail ? 1 : 0);
    for (size_t i = 0; i < n_eps; i++) {
        int st = 0;
        if (eps[i] > 0 && (waitpid(eps[i], &st, 0) != eps[i] || !WIFEXITED(st) || WEXITSTATUS(st)))
            rc = 1;
    }
    for (size_t i = 0; i < n_subs; i++) {
        sipev_conn_destroy(b.subs[i].conn);
        free(b.subs[i].seen);
    }
    if (pid > 0)
        bench_ka_stop(pid);
    sipev_keybody_fini(&b.kb);
    free(b.lat);
    free(b.arrivals);
    if (b.sh)
        munmap(b.sh, sizeof(*b.sh));
    for (size_t i = 0; i < n_endpoints; i++)
        if (wake[i][0] > 0) {
            close(wake[i][0]);
            close(wake[i][1]);
            wake[i][0] = wake[i][1] = 0;
        }
    return rc;
}

/* "1,10,100" */
static size_t list_parse(const char *s, size_t *out, size_t cap, uint64_t max)
{
    struct slice cur = slice_cstr(s);
    size_t n = 0;

    while (cur.len && n < cap) {
        uint64_t v;
        if (!slice_to_u64(slice_split(&cur, ','), max, &v) || v == 0)
            return 0;
        out[n++] = (size_t)v;
    }
    return n;
}

int main(int argc, char **argv)
{
    size_t subs[8] = { 1, 10, 100 }, n_subs = 3, windows[8] = { 1, 16 }, n_windows = 2;

    uint64_t calls = 5000;
    char tmpl[] = "/tmp/bench-disclose.XXXXXX", cmd[1200];
    struct sipev_tls_cfg tc = { 0 };
    SSL_CTX *ctx = NULL;
    char cert[600], keyf[600], ca[600];
    int rc = 0;

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
        else if (strcmp(a, "--api=pipelined") == 0)
            opt_pipelined = true;
        else if (strcmp(a, "--api=sync") == 0)
            opt_pipelined = false;
        else if (strncmp(a, "--calls=", 8) == 0 && slice_to_u64(slice_cstr(v), MAX_CALLS, &calls) &&
                 calls > 0)
            continue;
        else if (strncmp(a, "--subs=", 7) == 0 && (n_subs = list_parse(v, subs, 8, MAX_SUBS)))
            continue;
        else if (strncmp(a, "--endpoints=", 12) == 0 &&
                 (n_windows = list_parse(v, windows, 8, MAX_ENDPOINTS)))
            continue;
        else {
            fprintf(stderr, "usage: bench_disclose [--keyagent=PATH] [--mkcerts=PATH] [--calls=N]"
                            " [--subs=1,10,100] [--endpoints=1,16] [--api=sync|pipelined] [--work=DIR]\n");
            return 2;
        }
    }
    if (!opt_work && !(opt_work = mkdtemp(tmpl))) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(certs, sizeof(certs), "%s/certs", opt_work);
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s' >/dev/null", opt_mkcerts, certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_disclose: %s failed\n", opt_mkcerts);
        return 1;
    }
    snprintf(cert, sizeof(cert), "%s/recorder.crt", certs);
    snprintf(keyf, sizeof(keyf), "%s/recorder.key", certs);
    snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
    tc.cert_file = cert;
    tc.key_file = keyf;
    tc.ca_file = ca;
    if (sipev_tls_ctx_create(&ctx, &tc, NULL, 0) != SR_OK) {
        fprintf(stderr, "bench_disclose: TLS context\n");
        return 1;
    }
    printf("bench_disclose: %llu calls per run, 1 stream (AES_CM_128_HMAC_SHA1_80) per call, api=%s;"
           " latency = call begin -> key parsed by the last subscriber\n",
           (unsigned long long)calls, opt_pipelined ? "pipelined" : "sync");
    for (size_t w = 0; w < n_windows; w++)
        for (size_t s = 0; s < n_subs; s++)
            rc |= run(ctx, subs[s], (size_t)calls, windows[w]);
    SSL_CTX_free(ctx);
    printf("work directory (certificates, keyagent logs): %s\n", opt_work);
    return rc;
}
