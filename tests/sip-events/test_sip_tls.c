/** @file test_sip_tls.c  Mutual TLS and framing over 127.0.0.1 with two sipev_conn in one
 *  process, driven by poll.  A throwaway CA hierarchy is made with the OpenSSL API
 *  in a temporary directory that is removed at the end. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipev.h"
#include "tap.h"

static char dir[64];
static long serial = 1;

/* ------------------------------------------------------------ certificates */

static EVP_PKEY *make_key(void)
{
    return EVP_EC_gen("P-256");
}

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    bool ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       bool ca, const char *san)
{
    X509 *x = X509_new();
    X509_NAME *name;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (!add_ext(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE") ||
        !add_ext(x, issuer ? issuer : x, NID_key_usage,
                 ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") ||
        (!ca && !add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth")) ||
        (san && !add_ext(x, issuer ? issuer : x, NID_subject_alt_name, san)) ||
        !X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool write_pem(const char *file, X509 *cert, EVP_PKEY *key)
{
    char path[128];
    FILE *f;
    bool ok;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "we");
    if (!f)
        return false;
    ok = cert ? PEM_write_X509(f, cert) == 1 : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    fclose(f);
    return ok;
}

/* ca, ca2 (foreign); server (DNS SAN only); client (URI + DNS SAN); rogue (signed by ca2). */
static bool make_pki(void)
{
    EVP_PKEY *ca_k = make_key(), *ca2_k = make_key(), *srv_k = make_key(), *cli_k = make_key(),
             *rog_k = make_key();
    X509 *ca = make_cert("Test CA", ca_k, NULL, NULL, true, NULL);
    X509 *ca2 = make_cert("Foreign CA", ca2_k, NULL, NULL, true, NULL);
    X509 *srv = make_cert("keyagent", srv_k, ca, ca_k, false, "DNS:pbx.example.net");
    X509 *cli = make_cert("recorder", cli_k, ca, ca_k, false,
                          "DNS:rec.example.net,URI:https://not.sip/,URI:sip:recorder@rec.example.net");
    X509 *rog = make_cert("rogue", rog_k, ca2, ca2_k, false, "URI:sip:recorder@rec.example.net");
    bool ok = ca && ca2 && srv && cli && rog && write_pem("ca.crt", ca, NULL) &&
              write_pem("srv.crt", srv, NULL) && write_pem("srv.key", NULL, srv_k) &&
              write_pem("cli.crt", cli, NULL) && write_pem("cli.key", NULL, cli_k) &&
              write_pem("rog.crt", rog, NULL) && write_pem("rog.key", NULL, rog_k);

    X509_free(ca), X509_free(ca2), X509_free(srv), X509_free(cli), X509_free(rog);
    EVP_PKEY_free(ca_k), EVP_PKEY_free(ca2_k), EVP_PKEY_free(srv_k), EVP_PKEY_free(cli_k);
    EVP_PKEY_free(rog_k);
    return ok;
}

static void cleanup_pki(void)
{
    static const char *files[] = { "ca.crt", "srv.crt", "srv.key", "cli.crt",
                                   "cli.key", "rog.crt", "rog.key" };
    char path[128];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static SSL_CTX *ctx_for(const char *cert, const char *key, bool server)
{
    char c[128], k[128], ca[128];
    struct sipev_tls_cfg cfg = { .cert_file = c, .key_file = k, .ca_file = ca, .server = server };
    SSL_CTX *ctx = NULL;

    snprintf(c, sizeof(c), "%s/%s", dir, cert);
    snprintf(k, sizeof(k), "%s/%s", dir, key);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    if (sipev_tls_ctx_create(&ctx, &cfg, NULL, 0) != SR_OK)
        return NULL;
    return ctx;
}

/* --------------------------------------------------------------- sockets */

static int listen_fd = -1;
static struct sockaddr_in listen_addr;

static bool listen_open(void)
{
    socklen_t len = sizeof(listen_addr);

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&listen_addr, 0, sizeof(listen_addr));
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return listen_fd >= 0 &&
           bind(listen_fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) == 0 &&
           listen(listen_fd, 8) == 0 &&
           getsockname(listen_fd, (struct sockaddr *)&listen_addr, &len) == 0;
}

/* A connected pair of non-blocking sockets through the loopback listener. */
static bool tcp_pair(int *cli, int *srv)
{
    *cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*cli < 0 || connect(*cli, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) != 0)
        return false;
    *srv = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (*srv < 0)
        return false;
    return fcntl(*cli, F_SETFL, fcntl(*cli, F_GETFL) | O_NONBLOCK) == 0;
}

/* ------------------------------------------------------------ connections */

struct side {
    struct sipev_conn *c;
    enum sr_err err;     /* first non-OK from sipev_conn_io */
    unsigned n_msgs;
    unsigned status;     /* of the last message */
    char method[32];
    char warning[200];
    char body[64];
    bool reply_200;
};

static bool on_msg(struct sipev_conn *c, const struct sipev_msg *m, void *arg)
{
    struct side *s = arg;
    const struct sipev_hdr *w;

    s->n_msgs++;
    s->status = m->status;
    slice_copy_cstr(m->method, s->method, sizeof(s->method));
    slice_copy_cstr(m->body, s->body, sizeof(s->body));
    w = sipev_msg_hdr(m, SIPEV_HDR_OTHER);
    s->warning[0] = '\0';
    for (size_t i = 0; i < m->n_hdr; i++)
        if (slice_eq_nocase(m->hdr[i].name, SLICE_LIT("Warning")))
            slice_copy_cstr(m->hdr[i].value, s->warning, sizeof(s->warning));
    (void)w;
    if (s->reply_200 && m->status == 0) {
        struct buf out;
        buf_init(&out, 65536);
        if (sipev_resp_print(&out, m, 200, "OK", "srv1", NULL, 0, NULL, NULL, 0) == SR_OK)
            sipev_conn_send(c, out.p, out.len);
        buf_fini(&out);
    }
    return true;
}

static bool make_conn(struct side *s, SSL_CTX *ctx, bool server, int fd)
{
    struct sipev_conn_cfg cfg = { .tls = ctx, .server = server, .fd = fd, .on_msg = on_msg, .arg = s };

    s->err = SR_OK;
    return sipev_conn_create(&s->c, &cfg) == SR_OK;
}

typedef bool done_fn(struct side *a, struct side *b);

/* Bounded rounds; poll only waits for readiness, and a result never depends on
 * how long it waited. */
static bool pump_n(struct side *a, struct side *b, done_fn *done, int rounds)
{
    for (int round = 0; round < rounds; round++) {
        struct side *sides[2] = { a, b };
        struct pollfd p[2];
        nfds_t n = 0;

        if (done(a, b))
            return true;
        for (int i = 0; i < 2; i++) {
            if (!sides[i] || !sides[i]->c || sides[i]->err)
                continue;
            p[n].fd = sipev_conn_fd(sides[i]->c);
            p[n].events = POLLIN | (sipev_conn_want_write(sides[i]->c) ? POLLOUT : 0);
            n++;
        }
        if (n == 0)
            return done(a, b);
        poll(p, n, 50);
        for (int i = 0; i < 2; i++) {
            if (!sides[i] || !sides[i]->c || sides[i]->err)
                continue;
            enum sr_err e = sipev_conn_io(sides[i]->c);
            if (e)
                sides[i]->err = e;
        }
    }
    return done(a, b);
}

static bool pump(struct side *a, struct side *b, done_fn *done)
{
    return pump_n(a, b, done, 400);
}

static bool both_up(struct side *a, struct side *b)
{
    return (sipev_conn_established(a->c) && sipev_conn_established(b->c)) || a->err || b->err;
}

static bool server_got_one(struct side *a, struct side *b)
{
    return b->n_msgs >= 1 || a->err || b->err;
}

static bool client_got_one(struct side *a, struct side *b)
{
    return a->n_msgs >= 1 || a->err;
}

static bool server_failed(struct side *a, struct side *b)
{
    return b->err != SR_OK;
}

static bool client_failed_or_got(struct side *a, struct side *b)
{
    return a->err != SR_OK || a->n_msgs >= 1;
}

static const char subscribe[] = "SUBSCRIBE sips:ka@pbx.example.net SIP/2.0\r\n"
                                "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK1;alias\r\n"
                                "Max-Forwards: 70\r\n"
                                "From: <sip:recorder@rec.example.net>;tag=c1\r\n"
                                "To: <sips:ka@pbx.example.net>\r\n"
                                "Call-ID: tls-test-1\r\n"
                                "CSeq: 1 SUBSCRIBE\r\n"
                                "Event: srtp\r\n"
                                "Content-Length: 5\r\n\r\nhello";

static void mutual_ok(SSL_CTX *srv_ctx, SSL_CTX *cli_ctx)
{
    struct side cli = { 0 }, srv = { .reply_200 = true };
    int cfd, sfd;

    if (!tap_ok(tcp_pair(&cfd, &sfd) && make_conn(&cli, cli_ctx, false, cfd) &&
                    make_conn(&srv, srv_ctx, true, sfd),
                "mutual: connections created"))
        return;
    tap_ok(!sipev_conn_established(cli.c) && sipev_conn_peer(cli.c)[0] == '\0',
           "not established before the handshake");
    /* queued before the handshake completes: sent once it does */
    tap_ok(sipev_conn_send(cli.c, subscribe, sizeof(subscribe) - 1) == SR_OK, "send queued early");
    pump(&cli, &srv, both_up);
    tap_ok(sipev_conn_established(cli.c) && sipev_conn_established(srv.c),
           "mutual TLS handshake succeeds (%s / %s)", sr_strerror(cli.err), sr_strerror(srv.err));
    tap_ok(strcmp(sipev_conn_peer(srv.c), "sip:recorder@rec.example.net") == 0,
           "server sees the client's SAN sip: URI (%s)", sipev_conn_peer(srv.c));
    tap_ok(strcmp(sipev_conn_peer(cli.c), "pbx.example.net") == 0,
           "client sees the server's SAN DNS name (%s)", sipev_conn_peer(cli.c));
    pump(&cli, &srv, server_got_one);
    tap_ok(srv.n_msgs == 1 && strcmp(srv.method, "SUBSCRIBE") == 0 && strcmp(srv.body, "hello") == 0,
           "SUBSCRIBE arrives parsed with its body");
    pump(&cli, &srv, client_got_one);
    tap_ok(cli.n_msgs == 1 && cli.status == 200, "200 comes back (%u)", cli.status);

    /* keep-alive between messages, then a message split in two writes */
    tap_ok(sipev_conn_send(cli.c, "\r\n\r\n", 4) == SR_OK, "ping sent");
    tap_ok(sipev_conn_send(cli.c, subscribe, 40) == SR_OK, "half a message");
    pump_n(&cli, &srv, server_failed, 6); /* nothing should happen */
    tap_ok(srv.n_msgs == 1 && srv.err == SR_OK, "half a message is not dispatched");
    tap_ok(sipev_conn_send(cli.c, subscribe + 40, sizeof(subscribe) - 41) == SR_OK, "rest sent");
    srv.n_msgs = 0;
    pump(&cli, &srv, server_got_one);
    tap_ok(srv.n_msgs == 1 && srv.err == SR_OK, "message after a ping arrives whole");
    cli.n_msgs = 0;
    pump(&cli, &srv, client_got_one);
    tap_ok(cli.n_msgs == 1 && cli.status == 200, "second 200 comes back");

    /* a malformed request: server reports SR_EPARSE and answers 400 */
    static const char bad[] = "SUBSCRIBE sips:ka@pbx.example.net SIP/2.0\r\n"
                              "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK2\r\n"
                              "From: <sip:recorder@rec.example.net>;tag=c1\r\n"
                              "To: <sips:ka@pbx.example.net>\r\n"
                              "Call-ID: tls-test-1\r\n"
                              "CSeq: 2 SUBSCRIBE\r\n"
                              "Content-Length: -1\r\n\r\n";
    cli.n_msgs = 0;
    tap_ok(sipev_conn_send(cli.c, bad, sizeof(bad) - 1) == SR_OK, "malformed request sent");
    pump(&cli, &srv, server_failed);
    tap_ok(srv.err == SR_EPARSE, "server side returns SR_EPARSE (%s)", sr_strerror(srv.err));
    /* The owner keeps polling for write until the 400 is out, then closes. */
    sipev_conn_io(srv.c);
    pump(&cli, &srv, client_failed_or_got);
    tap_ok(cli.n_msgs == 1 && cli.status == 400 && strstr(cli.warning, "399 srtprec \"Content-Length"),
           "client gets 400 with a Warning (%u, %s)", cli.status, cli.warning);
    tap_ok(sipev_conn_send(srv.c, "x", 1) == SR_ESTATE, "a failed conn refuses to send");
    sipev_conn_destroy(srv.c);
    srv.c = NULL;
    pump(&cli, NULL, client_failed_or_got);
    cli.n_msgs = 0;
    pump(&cli, NULL, client_failed_or_got);
    tap_ok(cli.err == SR_ECLOSED, "client sees the close (%s)", sr_strerror(cli.err));
    sipev_conn_destroy(cli.c);
}

static void refused(SSL_CTX *srv_ctx, SSL_CTX *cli_ctx, const char *label)
{
    struct side cli = { 0 }, srv = { 0 };
    int cfd, sfd;

    if (!tap_ok(tcp_pair(&cfd, &sfd) && make_conn(&cli, cli_ctx, false, cfd) &&
                    make_conn(&srv, srv_ctx, true, sfd),
                "%s: connections created", label))
        return;
    sipev_conn_send(cli.c, subscribe, sizeof(subscribe) - 1);
    pump(&cli, &srv, server_failed);
    tap_ok(srv.err == SR_EAUTH, "%s: server refuses with SR_EAUTH (%s)", label,
           sr_strerror(srv.err));
    tap_ok(srv.n_msgs == 0 && sipev_conn_peer(srv.c)[0] == '\0', "%s: nothing dispatched", label);
    sipev_conn_destroy(srv.c);
    srv.c = NULL;
    pump(&cli, NULL, client_failed_or_got);
    tap_ok(cli.err != SR_OK && cli.n_msgs == 0, "%s: client fails too (%s)", label,
           sr_strerror(cli.err));
    sipev_conn_destroy(cli.c);
}

/* A connected non-blocking pair over [::1]; false when IPv6 is unavailable. */
static bool tcp6_pair(int *cli, int *srv)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    socklen_t len = sizeof(a);
    int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
              getsockname(l, (struct sockaddr *)&a, &len) == 0;

    *cli = *srv = -1;
    if (ok) {
        *cli = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = *cli >= 0 && connect(*cli, (struct sockaddr *)&a, sizeof(a)) == 0 &&
             (*srv = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0 &&
             fcntl(*cli, F_SETFL, fcntl(*cli, F_GETFL) | O_NONBLOCK) == 0;
    }
    if (l >= 0)
        close(l);
    return ok;
}

/* An owner that calls sipev_conn_io() only when poll() says the fd is ready
 * for what sipev_conn_want_write() asked: a fresh client must ask to write,
 * or neither side ever speaks (the ClientHello bug).  Over [::1] so the conn
 * is exercised on IPv6 too. */
static void poll_first_ipv6(SSL_CTX *srv_ctx, SSL_CTX *cli_ctx)
{
    struct side cli = { 0 }, srv = { .reply_200 = true };
    int cfd, sfd;

    if (!tcp6_pair(&cfd, &sfd)) {
        tap_skip("no IPv6 loopback");
        if (cfd >= 0)
            close(cfd);
        if (sfd >= 0)
            close(sfd);
        return;
    }
    if (!tap_ok(make_conn(&cli, cli_ctx, false, cfd) && make_conn(&srv, srv_ctx, true, sfd),
                "[::1]: connections created"))
        return;
    tap_ok(sipev_conn_want_write(cli.c), "a fresh TLS client wants to write (its ClientHello)");
    tap_ok(sipev_conn_send(cli.c, subscribe, sizeof(subscribe) - 1) == SR_OK, "send queued early");
    for (int round = 0; round < 400 && cli.n_msgs == 0 && !cli.err && !srv.err; round++) {
        struct side *sides[2] = { &cli, &srv };
        struct pollfd p[2];
        for (int i = 0; i < 2; i++) {
            p[i].fd = sipev_conn_fd(sides[i]->c);
            p[i].events = POLLIN | (sipev_conn_want_write(sides[i]->c) ? POLLOUT : 0);
            p[i].revents = 0;
        }
        if (poll(p, 2, 50) <= 0)
            continue;
        for (int i = 0; i < 2; i++)
            if (p[i].revents)
                sides[i]->err = sipev_conn_io(sides[i]->c);
    }
    tap_ok(srv.n_msgs == 1 && cli.n_msgs == 1 && cli.status == 200,
           "[::1] poll-driven owners: request and 200 exchanged (%s/%s)", sr_strerror(cli.err),
           sr_strerror(srv.err));
    sipev_conn_destroy(cli.c);
    sipev_conn_destroy(srv.c);
}

static void plain_tcp_keepalive(void)
{
    struct side srv = { 0 };
    int cfd, sfd;
    char got[8];
    ssize_t n = -1;

    if (!tap_ok(tcp_pair(&cfd, &sfd) && make_conn(&srv, NULL, true, sfd), "plain TCP conn"))
        return;
    tap_ok(sipev_conn_established(srv.c) && sipev_conn_peer(srv.c)[0] == '\0',
           "plain TCP is established at once, with no identity");
    tap_ok(write(cfd, "\r\n\r\n", 4) == 4, "CRLFCRLF ping written");
    for (int i = 0; i < 100 && n < 0; i++) {
        struct pollfd p = { .fd = sfd, .events = POLLIN };
        poll(&p, 1, 200);
        sipev_conn_io(srv.c);
        n = read(cfd, got, sizeof(got));
    }
    tap_ok(n == 2 && memcmp(got, "\r\n", 2) == 0, "answered with a CRLF pong (RFC 5626 3.5.1)");
    /* a lone CRLF (pong) is dropped; then a message is dispatched */
    tap_ok(write(cfd, "\r\n", 2) == 2 && write(cfd, subscribe, sizeof(subscribe) - 1) ==
                                              (ssize_t)(sizeof(subscribe) - 1),
           "pong + message written");
    for (int i = 0; i < 100 && srv.n_msgs == 0; i++) {
        struct pollfd p = { .fd = sfd, .events = POLLIN };
        poll(&p, 1, 200);
        srv.err = sipev_conn_io(srv.c);
    }
    tap_ok(srv.n_msgs == 1 && srv.err == SR_OK, "message after a pong dispatched");
    /* oversize garbage without a blank line: SR_ELIMIT, bounded buffer */
    {
        char junk[4096];
        size_t sent = 0;
        memset(junk, 'A', sizeof(junk));
        for (int i = 0; i < 400 && srv.err == SR_OK; i++) {
            ssize_t w = write(cfd, junk, sizeof(junk));
            if (w > 0)
                sent += (size_t)w;
            struct pollfd p = { .fd = sfd, .events = POLLIN };
            poll(&p, 1, 200);
            srv.err = sipev_conn_io(srv.c);
        }
        tap_ok(srv.err == SR_ELIMIT, "endless header: SR_ELIMIT after %zu bytes (%s)", sent,
               sr_strerror(srv.err));
    }
    sipev_conn_destroy(srv.c);
    close(cfd);
}

/* Each set-up failure names its part, its file and OpenSSL's reason. */
static void tls_errors_named(void)
{
    static const struct {
        const char *cert, *key, *ca, *crl, *starts, *has;
    } cases[] = {
        { "nonexistent.crt", "srv.key", "ca.crt", "", "certificate ", "No such file" },
        { "srv.key", "srv.key", "ca.crt", "", "certificate ", "(PEM routines)" },
        { "srv.crt", "nonexistent.key", "ca.crt", "", "key ", "No such file" },
        { "srv.crt", "srv.crt", "ca.crt", "", "key ", "PEM lib" },
        { "srv.crt", "cli.key", "ca.crt", "", "key does not match certificate ", "mismatch" },
        { "srv.crt", "srv.key", "nonexistent.crt", "", "CA ", "No such file" },
        { "srv.crt", "srv.key", "srv.key", "", "CA ", "" },
        { "srv.crt", "srv.key", "ca.crt", "nonexistent.crl", "CRL ", "No such file" },
    };
    char c[600], k[600], a[600], r[600], why[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sipev_tls_cfg cfg = { c, k, a, cases[i].crl[0] ? r : NULL, true };
        SSL_CTX *ctx = NULL;
        enum sr_err err;
        snprintf(c, sizeof(c), "%s/%s", dir, cases[i].cert);
        snprintf(k, sizeof(k), "%s/%s", dir, cases[i].key);
        snprintf(a, sizeof(a), "%s/%s", dir, cases[i].ca);
        snprintf(r, sizeof(r), "%s/%s", dir, cases[i].crl);
        err = sipev_tls_ctx_create(&ctx, &cfg, why, sizeof(why));
        tap_ok(err != SR_OK && !ctx && strncmp(why, cases[i].starts, strlen(cases[i].starts)) == 0 &&
                   strstr(why, strrchr(cfg.crl_file ? r : i >= 5 ? a : i >= 2 ? k : c, '/')) &&
                   strstr(why, cases[i].has),
               "%s%s fails naming it: %s", cases[i].starts, cases[i].has, why);
        SSL_CTX_free(ctx);
    }
}

int main(void)
{
    SSL_CTX *srv_ctx, *cli_ctx, *rog_ctx, *nocert_ctx;
    char ca[128];

    /* As every owner of a sipev_conn must: OpenSSL writes with write(2), and
     * a peer that hung up would otherwise kill the process. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/sipev-tls-XXXXXX");
    if (!mkdtemp(dir) || !make_pki()) {
        tap_ok(false, "throwaway PKI created");
        return tap_done();
    }
    bool listening = listen_open();
    tap_ok(listening, "listening on 127.0.0.1:%u", ntohs(listen_addr.sin_port));
    srv_ctx = ctx_for("srv.crt", "srv.key", true);
    cli_ctx = ctx_for("cli.crt", "cli.key", false);
    rog_ctx = ctx_for("rog.crt", "rog.key", false);
    tap_ok(srv_ctx && cli_ctx && rog_ctx, "contexts created");
    {
        struct sipev_tls_cfg bad = { .cert_file = "/nonexistent", .key_file = "/nonexistent",
                                     .ca_file = "/nonexistent" };
        SSL_CTX *c = NULL;
        tap_ok(sipev_tls_ctx_create(&c, &bad, NULL, 0) != SR_OK && c == NULL, "missing files refused");
        tap_ok(sipev_tls_ctx_create(&c, NULL, NULL, 0) == SR_EINVAL, "NULL cfg refused");
    }
    tls_errors_named();
    /* A client with no certificate at all, verifying the server properly. */
    nocert_ctx = SSL_CTX_new(TLS_client_method());
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    SSL_CTX_load_verify_locations(nocert_ctx, ca, NULL);

    if (srv_ctx && cli_ctx) {
        mutual_ok(srv_ctx, cli_ctx);
        refused(srv_ctx, nocert_ctx, "no client certificate");
        refused(srv_ctx, rog_ctx, "foreign-CA client certificate");
        /* TLS 1.2 too, where the client learns of the refusal in the handshake */
        SSL_CTX_set_max_proto_version(nocert_ctx, TLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(rog_ctx, TLS1_2_VERSION);
        refused(srv_ctx, nocert_ctx, "TLS 1.2, no client certificate");
        refused(srv_ctx, rog_ctx, "TLS 1.2, foreign-CA client certificate");
    }
    if (srv_ctx && cli_ctx)
        poll_first_ipv6(srv_ctx, cli_ctx);
    plain_tcp_keepalive();

    SSL_CTX_free(srv_ctx);
    SSL_CTX_free(cli_ctx);
    SSL_CTX_free(rog_ctx);
    SSL_CTX_free(nocert_ctx);
    close(listen_fd);
    cleanup_pki();
    return tap_done();
}
