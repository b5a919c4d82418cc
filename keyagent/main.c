/** @file main.c  srtprec-keyagent: options, setup, loop, cleanup.
 *
 * One thread, one epoll loop (signalling is low-rate).  Every event source
 * registers a struct ka_watch as its epoll data; after each batch of events
 * the notifier flushes, so changes made in one iteration leave as one NOTIFY.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chainlog.h"
#include "conf.h"
#include "harden.h"
#include "ka_priv.h"
#include "log.h"
#include "util.h"
#include "version.h"

struct ka_cfg {
    char listen[CONF_STR_MAX];
    char entity[CONF_STR_MAX];
    char tls_cert[CONF_STR_MAX], tls_key[CONF_STR_MAX], tls_ca[CONF_STR_MAX],
        tls_crl[CONF_STR_MAX];
    char allow[CONF_STR_MAX];
    char control_socket[CONF_STR_MAX];
    char disclosure_log[CONF_STR_MAX];
    char port_file[CONF_STR_MAX];
    char verify_disclosure_log[CONF_STR_MAX];
    char verify_anchor[CONF_STR_MAX];
    char metrics_file[CONF_STR_MAX];
    bool lab_allow_plain_tcp;
    unsigned long max_subscriptions, max_connections, max_calls, max_control_clients;
    unsigned long metrics_interval_ms;
    unsigned long default_expires, min_expires, max_expires;
    unsigned long idle_connection_s;
    unsigned long handshake_timeout_s, reserved_connections, max_connections_per_address,
        max_subscriptions_per_identity;
    char log_level[CONF_STR_MAX];
};

#define F(x) offsetof(struct ka_cfg, x)
static const struct conf_item conf_items[] = {
    { "listen", CONF_STR, F(listen), "127.0.0.1:5061", 0, 0,
      "SIP listener host:port (TLS; port 0 picks a free one)" },
    { "entity", CONF_STR, F(entity), "sip:keyagent@localhost", 0, 0,
      "our SIP identity: From of NOTIFYs and entity of key bodies" },
    { "tls-cert", CONF_STR, F(tls_cert), NULL, 0, 0, "PEM certificate chain" },
    { "tls-key", CONF_STR, F(tls_key), NULL, 0, 0, "PEM private key" },
    { "tls-ca", CONF_STR, F(tls_ca), NULL, 0, 0, "PEM CAs that subscriber certificates chain to" },
    { "tls-crl", CONF_STR, F(tls_crl), NULL, 0, 0, "PEM CRL (optional)" },
    { "allow", CONF_STR, F(allow), NULL, 0, 0,
      "comma-separated subscriber identities (certificate SAN) allowed to receive keys" },
    { "control-socket", CONF_STR, F(control_socket), "/run/srtprec-keyagent/keyagent.sock", 0, 0,
      "UNIX socket for endpoints (mode 0660)" },
    { "disclosure-log", CONF_STR, F(disclosure_log), "/var/lib/srtprec-keyagent/disclosure.log", 0, 0,
      "append-only hash-chained record of every key disclosure" },
    { "port-file", CONF_STR, F(port_file), NULL, 0, 0,
      "write the bound SIP port here once ready (for tests and orchestration)" },
    { "verify-disclosure-log", CONF_STR, F(verify_disclosure_log), NULL, 0, 0,
      "verify this disclosure log's hash chain, print the result and exit (0 = intact)" },
    { "verify-anchor", CONF_STR, F(verify_anchor), NULL, 0, 0,
      "with verify-disclosure-log: a head hash recorded earlier that the chain must pass through" },
    { "metrics-file", CONF_STR, F(metrics_file), NULL, 0, 0,
      "write counters and health here in Prometheus text format (temp file + rename) every "
      "metrics-interval-ms and at exit" },
    { "metrics-interval-ms", CONF_UINT, F(metrics_interval_ms), "5000", 100, 3600000,
      "how often metrics-file is rewritten" },
    { "lab-allow-plain-tcp", CONF_BOOL, F(lab_allow_plain_tcp), "no", 0, 0,
      "LAB ONLY: listen on plain TCP without TLS when no tls-cert is set; keys travel in clear" },
    { "max-subscriptions", CONF_UINT, F(max_subscriptions), "64", 1, 4096, "subscriptions in all" },
    { "max-connections", CONF_UINT, F(max_connections), "128", 1, 4096, "SIP connections" },
    { "max-calls", CONF_UINT, F(max_calls), "1024", 1, SIPEV_MAX_DIALOGS, "calls held at once" },
    { "max-control-clients", CONF_UINT, F(max_control_clients), "32", 1, 1024,
      "control socket clients at once" },
    { "default-expires", CONF_UINT, F(default_expires), "3600", 60, 86400,
      "subscription lifetime when SUBSCRIBE has no Expires (s)" },
    { "min-expires", CONF_UINT, F(min_expires), "60", 1, 86400, "shorter: 423 (s)" },
    { "max-expires", CONF_UINT, F(max_expires), "86400", 60, 604800, "longer is cut to this (s)" },
    { "idle-connection-s", CONF_UINT, F(idle_connection_s), "120", 1, 86400,
      "close a SIP connection that carries no subscription this long after its last complete "
      "message (s)" },
    { "handshake-timeout-s", CONF_UINT, F(handshake_timeout_s), "5", 1, 300,
      "close a SIP connection whose TLS handshake is not done this long after accept (s)" },
    { "reserved-connections", CONF_UINT, F(reserved_connections), "16", 0, 4095,
      "of max-connections, slots only connections with an accepted subscription may hold" },
    { "max-connections-per-address", CONF_UINT, F(max_connections_per_address), "32", 0, 4096,
      "connections without a subscription from one address (past it the oldest is closed); 0: "
      "no own limit" },
    { "max-subscriptions-per-identity", CONF_UINT, F(max_subscriptions_per_identity), "8", 0,
      4096, "live subscriptions of one subscriber identity; 0: no own limit" },
    { "log-level", CONF_STR, F(log_level), "notice", 0, 0, "error|warn|notice|info|debug" },
};
#undef F

struct ka_daemon {
    struct ka_cfg cfg;
    int argc;                 /* kept for SIGHUP: the file is read again, then the flags */
    char **argv;
    int epoll_fd, signal_fd, listen_fd;
    struct ka_watch listen_w, signal_w;
    char via_host[NI_MAXHOST + NI_MAXSERV + 4];
    SSL_CTX *tls;
    struct ka_authz authz;
    struct ka_callstore *calls;
    struct ka_disclog *disclog;
    struct ka_notifier *notifier;
    struct ka_control *control;
    struct ka_metrics metrics;
    uint64_t metrics_due_us;
    time_t started;
};

/* --verify-disclosure-log: an auditor's check, no daemon started. */
static int disclog_check(const char *path, const char *anchor)
{
    struct chainlog_verdict v;
    enum sr_err err = ka_disclog_verify(path, anchor[0] ? anchor : NULL, &v);

    if (err == SR_OK) {
        printf("%s: intact, %zu records, head %s%s\n", path, v.records, v.head,
               anchor[0] ? " (anchor found)" : "");
        return 0;
    }
    if (err == SR_EAUTH)
        printf("%s: BROKEN at line %zu: %s\n", path, v.bad_line, v.why);
    else
        printf("%s: %s\n", path, v.why);
    return 3;
}

/* 0: run; 1: exit 0 (help); otherwise exit with that status. */
static int options(struct ka_daemon *d, int argc, char **argv)
{
    char why[512];
    int help = 0, lvl;

    if (conf_load(conf_items, SR_ARRAY_LEN(conf_items), &d->cfg, "keyagent", argc, argv, &help,
                  why, sizeof(why)) != SR_OK) {
        fprintf(stderr, "srtprec-keyagent: %s\n", why);
        return 2;
    }
    if (help == CONF_SHOWN_VERSION) {
        sr_version_print(stdout, "srtprec-keyagent");
        return 1;
    }
    if (help) {
        conf_usage(stdout, "srtprec-keyagent", conf_items, SR_ARRAY_LEN(conf_items));
        return 1;
    }
    if (d->cfg.verify_disclosure_log[0]) {
        int rc = disclog_check(d->cfg.verify_disclosure_log, d->cfg.verify_anchor);
        return rc ? rc : 1;
    }
    lvl = log_level_parse(d->cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr, "srtprec-keyagent: bad log-level '%s'\n", d->cfg.log_level);
        return 2;
    }
    log_setup((enum log_level)lvl, "srtprec-keyagent", getenv("JOURNAL_STREAM") != NULL);
    return 0;
}

/* "host:port" or "[v6]:port" -> a listening, non-blocking socket. */
static enum sr_err listener_open(struct ka_daemon *d)
{
    struct slice s = slice_cstr(d->cfg.listen), host, port;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE };
    struct addrinfo *ai = NULL;
    struct sockaddr_storage sa;
    socklen_t salen = sizeof(sa);
    char h[256], p[8], hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
    long colon = -1;
    int one = 1, rc;

    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == ':')
            colon = (long)i;
    if (colon <= 0)
        goto bad;
    host = slice_of(s.p, (size_t)colon);
    port = slice_of(s.p + colon + 1, s.len - (size_t)colon - 1);
    if (host.len >= 2 && host.p[0] == '[' && host.p[host.len - 1] == ']')
        host = slice_of(host.p + 1, host.len - 2);
    if (!slice_copy_cstr(host, h, sizeof(h)) || !slice_copy_cstr(port, p, sizeof(p)))
        goto bad;
    rc = getaddrinfo(h, p, &hints, &ai);
    if (rc != 0)
        goto bad;
    d->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->listen_fd < 0 ||
        setsockopt(d->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(d->listen_fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(d->listen_fd, 64) != 0 ||
        getsockname(d->listen_fd, (struct sockaddr *)&sa, &salen) != 0 ||
        getnameinfo((struct sockaddr *)&sa, salen, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        log_error("listen %s: %s", d->cfg.listen, strerror(errno));
        freeaddrinfo(ai);
        return SR_EIO;
    }
    freeaddrinfo(ai);
    snprintf(d->via_host, sizeof(d->via_host), "%s%s%s:%s", sa.ss_family == AF_INET6 ? "[" : "",
             hbuf, sa.ss_family == AF_INET6 ? "]" : "", pbuf);
    return SR_OK;
bad:
    log_error("listen: '%s' is not a numeric host:port", d->cfg.listen);
    freeaddrinfo(ai);
    return SR_EINVAL;
}

static enum sr_err port_file_write(const struct ka_daemon *d)
{
    char tmp[CONF_STR_MAX + 8], line[16];
    const char *colon = strrchr(d->via_host, ':');
    FILE *f;

    if (!d->cfg.port_file[0])
        return SR_OK;
    snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg.port_file);
    snprintf(line, sizeof(line), "%s\n", colon ? colon + 1 : "0");
    /* Written whole, then renamed: a reader never sees half a number. */
    f = fopen(tmp, "we");
    if (!f || fputs(line, f) < 0 || fclose(f) != 0 || rename(tmp, d->cfg.port_file) != 0) {
        log_error("port-file %s: %s", d->cfg.port_file, strerror(errno));
        return SR_EIO;
    }
    return SR_OK;
}

static enum sr_err watch_add(int epoll_fd, int fd, struct ka_watch *w)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? SR_OK : SR_EIO;
}

/* The allow list, parsed strictly; on error a message naming the file,
 * line and column of the fault (or the --allow flag's column). */
static enum sr_err allow_parse(int argc, char **argv, const char *list, struct ka_authz *az,
                               char *msg, size_t msglen)
{
    const char *why = "", *path = NULL;
    size_t off = 0;
    unsigned line, col;
    enum sr_err err = ka_authz_parse_at(az, list, &why, &off);

    if (!err)
        return SR_OK;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    if (path && ka_conf_locate(path, "keyagent", "allow", list, &line, &col))
        snprintf(msg, msglen, "%s:%u:%zu: allow: %s", path, line, col + off, why);
    else
        snprintf(msg, msglen, "--allow, column %zu: %s", off + 1, why);
    return err;
}

static enum sr_err setup(struct ka_daemon *d)
{
    struct ka_notifier_cfg nc = { 0 };
    sigset_t mask;
    char amsg[CONF_STR_MAX + 256];
    enum sr_err err;

    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP); /* reload (reload()); its default action would kill us */
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (d->signal_fd < 0 || d->epoll_fd < 0) {
        log_error("signalfd/epoll: %s", strerror(errno));
        return SR_EIO;
    }
    err = allow_parse(d->argc, d->argv, d->cfg.allow, &d->authz, amsg, sizeof(amsg));
    if (err) {
        log_error("%s", amsg);
        return err;
    }
    if (d->authz.n == 0)
        log_warn("allow is empty: every subscriber will get 403");
    if (d->cfg.tls_cert[0]) {
        struct sipev_tls_cfg tc = { d->cfg.tls_cert, d->cfg.tls_key, d->cfg.tls_ca,
                                    d->cfg.tls_crl, true };
        char twhy[512];
        err = sipev_tls_ctx_create(&d->tls, &tc, twhy, sizeof(twhy));
        if (err) {
            log_error("TLS setup: %s", twhy[0] ? twhy : sr_strerror(err));
            return err;
        }
    } else if (!d->cfg.lab_allow_plain_tcp) {
        log_error("tls-cert, tls-key and tls-ca are required (plain TCP only with "
                  "lab-allow-plain-tcp=yes)");
        return SR_EINVAL;
    } else {
        log_warn("LAB MODE: plain TCP listener, keys travel in clear, identities unverified");
    }
    err = ka_callstore_create(&d->calls, d->cfg.max_calls);
    if (!err)
        err = ka_disclog_open(&d->disclog, d->cfg.disclosure_log);
    if (!err)
        err = listener_open(d);
    if (err)
        return err;
    nc.entity = d->cfg.entity;
    nc.via_host = d->via_host;
    nc.tls = d->tls;
    nc.lab_allow_plain = d->cfg.lab_allow_plain_tcp;
    nc.authz = &d->authz;
    nc.calls = d->calls;
    nc.disclog = d->disclog;
    nc.metrics = &d->metrics;
    nc.epoll_fd = d->epoll_fd;
    nc.max_subscriptions = d->cfg.max_subscriptions;
    nc.max_connections = d->cfg.max_connections;
    nc.default_expires = (unsigned)d->cfg.default_expires;
    nc.min_expires = (unsigned)d->cfg.min_expires;
    nc.max_expires = (unsigned)d->cfg.max_expires;
    nc.idle_conn_s = (unsigned)d->cfg.idle_connection_s;
    nc.handshake_s = (unsigned)d->cfg.handshake_timeout_s;
    nc.reserved_connections = d->cfg.reserved_connections;
    nc.max_per_address = d->cfg.max_connections_per_address;
    nc.max_per_identity = d->cfg.max_subscriptions_per_identity;
    if (nc.reserved_connections >= nc.max_connections) {
        log_error("reserved-connections (%zu) must be below max-connections (%zu)",
                  nc.reserved_connections, nc.max_connections);
        return SR_EINVAL;
    }
    if (nc.default_expires < nc.min_expires || nc.max_expires < nc.default_expires) {
        log_error("need min-expires <= default-expires <= max-expires");
        return SR_EINVAL;
    }
    err = ka_notifier_create(&d->notifier, &nc);
    if (!err)
        err = ka_control_create(&d->control, d->cfg.control_socket, d->epoll_fd, d->calls,
                                d->cfg.max_control_clients, &d->metrics);
    if (err)
        return err;
    d->listen_w = (struct ka_watch){ KA_WATCH_LISTEN, d };
    d->signal_w = (struct ka_watch){ KA_WATCH_LISTEN, NULL }; /* obj NULL marks the signal fd */
    if (watch_add(d->epoll_fd, d->listen_fd, &d->listen_w) != SR_OK ||
        watch_add(d->epoll_fd, d->signal_fd, &d->signal_w) != SR_OK)
        return SR_EIO;
    err = port_file_write(d);
    if (err)
        return err;
    log_notice("listening on %s (%s), control socket %s, %zu allowed subscribers", d->via_host,
               d->tls ? "TLS" : "plain TCP", d->cfg.control_socket, d->authz.n);
    return SR_OK;
}

/* Keys whose change needs a restart: everything but what reload() applies. */
static bool reloadable(const char *key)
{
    static const char *const keys[] = { "allow", "tls-cert", "tls-key", "tls-ca", "tls-crl",
                                        "log-level" };

    for (size_t i = 0; i < SR_ARRAY_LEN(keys); i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

static bool item_changed(const struct conf_item *it, const struct ka_cfg *a, const struct ka_cfg *b)
{
    const char *pa = (const char *)a + it->offset, *pb = (const char *)b + it->offset;

    switch (it->type) {
    case CONF_STR: return strcmp(pa, pb) != 0;
    case CONF_UINT: return *(const unsigned long *)(const void *)pa != *(const unsigned long *)(const void *)pb;
    case CONF_BOOL: return *(const bool *)(const void *)pa != *(const bool *)(const void *)pb;
    }
    return false;
}

/* SIGHUP: read the configuration again and apply what can change under live
 * subscriptions: the allow list, the TLS context for new connections
 * (certificate, key, CA, CRL) and the log level.  Each part either applies
 * whole or keeps the old state, and says which at notice level.  There is no
 * log file to reopen (the log is stderr); the disclosure log is a hash chain
 * and is never reopened under a running daemon (docs/keyagent.md). */
static void reload(struct ka_daemon *d)
{
    struct ka_cfg nc;
    struct ka_authz az;
    char why[512];
    char amsg[CONF_STR_MAX + 256];
    int help = 0, lvl;

    memset(&nc, 0, sizeof(nc));
    if (conf_load(conf_items, SR_ARRAY_LEN(conf_items), &nc, "keyagent", d->argc, d->argv, &help,
                  why, sizeof(why)) != SR_OK) {
        log_warn("reload: configuration not read (%s): nothing changed", why);
        return;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(conf_items); i++)
        if (!reloadable(conf_items[i].name) && item_changed(&conf_items[i], &d->cfg, &nc))
            log_warn("reload: %s changed: takes effect only at restart", conf_items[i].name);

    if (allow_parse(d->argc, d->argv, nc.allow, &az, amsg, sizeof(amsg)) != SR_OK) {
        log_warn("reload: allow list not reloaded (%s): the old one stays", amsg);
    } else if (ka_notifier_set_authz(d->notifier, &az) == SR_OK) {
        d->authz = az;
        memcpy(d->cfg.allow, nc.allow, sizeof(d->cfg.allow));
        log_notice("reload: allow list reloaded (%zu entries)", az.n);
    }

    if (!d->tls) {
        if (nc.tls_cert[0])
            log_warn("reload: tls-cert set but the daemon runs plain TCP: takes effect only at "
                     "restart");
    } else if (!nc.tls_cert[0]) {
        log_warn("reload: tls-cert removed: TLS context kept (plain TCP only at restart)");
    } else {
        struct sipev_tls_cfg tc = { nc.tls_cert, nc.tls_key, nc.tls_ca, nc.tls_crl, true };
        SSL_CTX *ctx = NULL;
        char twhy[512];
        enum sr_err err = sipev_tls_ctx_create(&ctx, &tc, twhy, sizeof(twhy));

        if (err) {
            log_warn("reload: TLS not reloaded (%s): new connections keep the old certificate",
                     twhy[0] ? twhy : sr_strerror(err));
        } else {
            ka_notifier_set_tls(d->notifier, ctx);
            SSL_CTX_free(d->tls);
            d->tls = ctx;
            memcpy(d->cfg.tls_cert, nc.tls_cert, sizeof(d->cfg.tls_cert));
            memcpy(d->cfg.tls_key, nc.tls_key, sizeof(d->cfg.tls_key));
            memcpy(d->cfg.tls_ca, nc.tls_ca, sizeof(d->cfg.tls_ca));
            memcpy(d->cfg.tls_crl, nc.tls_crl, sizeof(d->cfg.tls_crl));
            log_notice("reload: TLS certificate, key, CA%s reloaded for new connections",
                       nc.tls_crl[0] ? " and CRL" : "");
        }
    }

    lvl = log_level_parse(nc.log_level);
    if (lvl < 0) {
        log_warn("reload: bad log-level '%s': level unchanged", nc.log_level);
    } else if (strcmp(nc.log_level, d->cfg.log_level) != 0) {
        log_setup((enum log_level)lvl, "srtprec-keyagent", getenv("JOURNAL_STREAM") != NULL);
        memcpy(d->cfg.log_level, nc.log_level, sizeof(d->cfg.log_level));
        log_notice("reload: log-level %s", nc.log_level);
    }
}

static void accept_sip(struct ka_daemon *d)
{
    for (int i = 0; i < 16; i++) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        ka_notifier_accept(d->notifier, fd);
    }
}

/* Readiness as endpoints and recorders see it: the SIP socket still
 * listening, and the control socket still where endpoints connect (a
 * tmpfiles clean-up or an operator can remove it under a running daemon). */
static void health(const struct ka_daemon *d, bool up, struct ka_health *h)
{
    int acc = 0;
    socklen_t len = sizeof(acc);
    struct stat st;

    h->up = up;
    h->started = d->started;
    h->listener = d->listen_fd >= 0 &&
                  getsockopt(d->listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc;
    h->control = d->control && stat(d->cfg.control_socket, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void metrics_write(struct ka_daemon *d, bool up)
{
    struct ka_health h;
    enum sr_err err;

    if (!d->cfg.metrics_file[0])
        return;
    health(d, up, &h);
    err = ka_metrics_write(&d->metrics, &h, ka_notifier_subscriptions(d->notifier),
                           ka_callstore_count(d->calls), d->cfg.metrics_file);
    if (err)
        log_warn("metrics-file %s: %s", d->cfg.metrics_file, sr_strerror(err));
}

/* Returns when SIGINT or SIGTERM arrives; SIGHUP reloads. */
static void loop(struct ka_daemon *d)
{
    struct epoll_event ev[64];

    for (;;) {
        uint64_t now = sr_now_us();
        int timeout = ka_notifier_timeout_ms(d->notifier, now), n;

        if (d->cfg.metrics_file[0]) {
            if (now >= d->metrics_due_us) {
                metrics_write(d, true);
                d->metrics_due_us = now + d->cfg.metrics_interval_ms * 1000u;
            }
            int until = (int)((d->metrics_due_us - now) / 1000 + 1);
            if (timeout < 0 || until < timeout)
                timeout = until;
        }
        n = epoll_wait(d->epoll_fd, ev, 64, timeout);

        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            struct ka_watch *w = ev[i].data.ptr;
            switch (w->kind) {
            case KA_WATCH_LISTEN:
                if (!w->obj) {
                    struct signalfd_siginfo si;
                    if (read(d->signal_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
                        break;
                    if (si.ssi_signo == SIGHUP) {
                        log_notice("SIGHUP: reloading");
                        reload(d);
                        break;
                    }
                    log_notice("signal %u: shutting down", si.ssi_signo);
                    return;
                }
                accept_sip(d);
                break;
            case KA_WATCH_SIP: ka_notifier_io(d->notifier, w, ev[i].events); break;
            case KA_WATCH_CTL_LISTEN:
            case KA_WATCH_CTL: ka_control_io(d->control, w, ev[i].events); break;
            }
        }
        ka_notifier_flush(d->notifier, sr_now_us());
    }
}

static void cleanup(struct ka_daemon *d)
{
    if (d->notifier) {
        ka_notifier_shutdown(d->notifier);
        metrics_write(d, false); /* the last file says the daemon is down */
    }
    ka_control_destroy(d->control);
    ka_notifier_destroy(d->notifier);
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    ka_disclog_close(d->disclog);
    ka_callstore_destroy(d->calls);
    SSL_CTX_free(d->tls);
    if (d->signal_fd >= 0)
        close(d->signal_fd);
    if (d->epoll_fd >= 0)
        close(d->epoll_fd);
}

int main(int argc, char **argv)
{
    struct ka_daemon d = { .epoll_fd = -1, .signal_fd = -1, .listen_fd = -1, .argc = argc,
                           .argv = argv };
    int rc;

    sr_harden_process(NULL); /* no cores, umask 027: before any key or file */
    d.started = time(NULL);
    rc = options(&d, argc, argv);

    if (rc)
        return rc == 1 ? 0 : rc;
    rc = setup(&d) == SR_OK ? 0 : 1;
    if (rc == 0)
        loop(&d);
    cleanup(&d);
    return rc;
}
