/** @file main.c  srtprec-api: the retrieval API daemon.
 *
 * Table of contents: options() -> setup() -> wait_for_signal() -> cleanup().
 * It runs apart from the recorder so that an HTTP bug never shares an
 * address space with live SRTP keys; it holds only the archive recipient key.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_priv.h"
#include "conf.h"
#include "harden.h"
#include "log.h"
#include "server_priv.h"
#include "stor.h"
#include "store.h"
#include "util.h"
#include "tlscheck.h"
#include "version.h"

struct api_cfg {
    char listen[CONF_STR_MAX];
    char tls_cert[CONF_STR_MAX];
    char tls_key[CONF_STR_MAX];
    char index[CONF_STR_MAX];
    char archive_dir[CONF_STR_MAX];
    char archive_cert[CONF_STR_MAX];
    char archive_key[CONF_STR_MAX];
    char archive_signer[CONF_STR_MAX];
    char seal_ledger[CONF_STR_MAX];
    bool refuse_unsigned;
    char tokens_file[CONF_STR_MAX];
    char client_ca[CONF_STR_MAX];
    char client_certs_file[CONF_STR_MAX];
    char client_crl[CONF_STR_MAX];
    char log_level[CONF_STR_MAX];
    unsigned long max_connections;
    unsigned long connection_timeout;
    unsigned long threads;
    unsigned long max_per_ip;
    unsigned long header_timeout;
    unsigned long reserved_connections;
    bool lab_plain_http;
    bool audit_sync_all;
    char audit_log[CONF_STR_MAX];
    char recorder_metrics_file[CONF_STR_MAX];
    char keyagent_metrics_file[CONF_STR_MAX];
    unsigned long daemon_metrics_max_age_ms;
    unsigned long retention_days;
    char store_cache_dir[CONF_STR_MAX];
    unsigned long store_cache_mb;
};

#define ITEM(n, t, f, d, lo, hi, h) { n, t, offsetof(struct api_cfg, f), d, lo, hi, h }
static const struct conf_item api_items[] = {
    ITEM("listen", CONF_STR, listen, "127.0.0.1:8443", 0, 0,
         "ADDRESS:PORT or [IPv6]:PORT to listen on (port 0: any free port, logged)"),
    ITEM("tls-cert", CONF_STR, tls_cert, NULL, 0, 0, "server certificate chain, PEM"),
    ITEM("tls-key", CONF_STR, tls_key, NULL, 0, 0, "server private key, PEM"),
    ITEM("index", CONF_STR, index, NULL, 0, 0,
         "recording index: an SQLite file, or a PostgreSQL postgresql:// URI or conninfo"),
    ITEM("archive-dir", CONF_STR, archive_dir, "", 0, 0,
         "the recorder's archive-dir: archives are served as <dir>/<id>.srec, never from a path "
         "in the index (default: 'archive' beside the index)"),
    ITEM("archive-cert", CONF_STR, archive_cert, NULL, 0, 0,
         "archive recipient certificate, PEM (unwraps archives for export)"),
    ITEM("archive-key", CONF_STR, archive_key, NULL, 0, 0,
         "archive recipient private key, PEM"),
    ITEM("archive-signer", CONF_STR, archive_signer, "", 0, 0,
         "the recorder's archive signing certificate (or public key), PEM: every download and "
         "export is checked against it first (signature, index hash, seal ledger); empty: not "
         "checked (a warning)"),
    ITEM("seal-ledger", CONF_STR, seal_ledger, "", 0, 0,
         "the recorder's seal ledger (default: the index path followed by .seals)"),
    ITEM("refuse-unsigned-archives", CONF_BOOL, refuse_unsigned, "no", 0, 0,
         "with archive-signer: refuse archives that carry no signature and whose seal nothing "
         "records (written before signing, or closed by crash recovery) instead of serving them "
         "audited as unsigned"),
    ITEM("tokens-file", CONF_STR, tokens_file, NULL, 0, 0,
         "bearer tokens: '<name> <role[,role]> sha256:<hex>' per line"),
    ITEM("client-ca", CONF_STR, client_ca, "", 0, 0,
         "CA certificates (PEM) for client certificates; empty: none requested"),
    ITEM("client-certs-file", CONF_STR, client_certs_file, "", 0, 0,
         "client-certificate roles: '<identity> <role[,role]>' per line (SAN URI, email or DNS)"),
    ITEM("client-crl", CONF_STR, client_crl, "", 0, 0,
         "PEM CRLs from the client-ca, read again on SIGHUP; revoked client certificates get "
         "401 (empty: no revocation check)"),
    ITEM("log-level", CONF_STR, log_level, "notice", 0, 0, "error|warn|notice|info|debug"),
    ITEM("max-connections", CONF_UINT, max_connections, "64", 1, 10000,
         "concurrent HTTP connections"),
    ITEM("connection-timeout", CONF_UINT, connection_timeout, "30", 1, 3600,
         "seconds of inactivity before a connection is closed"),
    ITEM("threads", CONF_UINT, threads, "4", 1, 64, "MHD worker threads"),
    ITEM("max-connections-per-ip", CONF_UINT, max_per_ip, "16", 1, 10000,
         "concurrent connections from one client address (slow clients cannot take all)"),
    ITEM("header-timeout", CONF_UINT, header_timeout, "10", 1, 3600,
         "seconds from accept (or the previous response) to a complete request head; no "
         "trickle extends it (authenticated connections are exempt once authenticated)"),
    ITEM("reserved-connections", CONF_UINT, reserved_connections, "8", 0, 9999,
         "of max-connections, slots only authenticated connections may hold (unauthenticated "
         "ones over the rest are closed, longest waiting first)"),
    ITEM("lab-plain-http", CONF_BOOL, lab_plain_http, "no", 0, 0,
         "LAB ONLY: serve plain HTTP without TLS (tokens cross the network in clear)"),
    ITEM("audit-log", CONF_STR, audit_log, "", 0, 0,
         "hash-chained access audit log (default: api-audit.log beside the index)"),
    ITEM("audit-sync-all", CONF_BOOL, audit_sync_all, "no", 0, 0,
         "fdatasync the audit record of every metadata request too (content accesses always)"),
    ITEM("recorder-metrics-file", CONF_STR, recorder_metrics_file, "", 0, 0,
         "recorder's Prometheus text file, appended to /metrics (empty: none)"),
    ITEM("keyagent-metrics-file", CONF_STR, keyagent_metrics_file, "", 0, 0,
         "keyagent's Prometheus text file, appended to /metrics (empty: none)"),
    ITEM("daemon-metrics-max-age-ms", CONF_UINT, daemon_metrics_max_age_ms, "30000", 1000,
         86400000,
         "a daemon's metrics file unchanged for longer is stale: not served, its up 0, "
         "/healthz fails"),
    ITEM("retention-days", CONF_UINT, retention_days, "0", 0, 36500,
         "the --older-than of the retention job: each recording's expiry (start + this, none "
         "while on legal hold) is shown by the API and the console; 0: no retention"),
    ITEM("store-cache-dir", CONF_STR, store_cache_dir, "", 0, 0,
         "with a [store] section: the private directory (0700, emptied at start) where exports "
         "of archives held in the object store are fetched to; required then"),
    ITEM("store-cache-mb", CONF_UINT, store_cache_mb, "1024", 16, 1048576,
         "the cap on that cache, in MiB (least recently used archives are evicted first)"),
};

enum { PEM_MAX = 1024 * 1024 };

/* Why pem_read returned NULL, from the errno it left. */
static const char *pem_error(void)
{
    return errno == EINVAL ? "not a regular file"
           : errno == EFBIG ? "empty or larger than 1 MiB"
                            : strerror(errno);
}

/* Read a whole PEM file into a NUL-terminated heap string. */
static char *pem_read(const char *path, size_t *len_out)
{
    struct stat st;
    char *p = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0)
        st.st_size = 0;
    else if (!S_ISREG(st.st_mode))
        errno = EINVAL;
    else if (st.st_size <= 0 || st.st_size >= PEM_MAX)
        errno = EFBIG;
    else if (!(p = malloc((size_t)st.st_size + 1)))
        errno = ENOMEM;
    while (p && len < (size_t)st.st_size) {
        ssize_t n = read(fd, p + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (p) {
        p[len] = '\0';
        *len_out = len;
    }
    return p;
}

static void pem_free(char *p, size_t len)
{
    if (p) {
        sr_wipe(p, len);
        free(p);
    }
}

/* --hash-token=NAME:ROLES: print a tokens-file line.  The token comes from
 * stdin when stdin is not a terminal, else a fresh one is generated and shown
 * on stderr, so `srtprec-api --hash-token=alice:lister >> tokens` stores only
 * the hash. */
static int hash_token(const char *spec)
{
    char name[API_TOKEN_NAME_MAX + 1], tok[API_TOKEN_MAX + 2], line[API_TOKEN_LINE_MAX];
    const char *colon = strchr(spec, ':');
    size_t tlen = 0;
    bool generated = false;

    if (!colon || !slice_copy_cstr(slice_of(spec, (size_t)(colon - spec)), name, sizeof(name))) {
        fprintf(stderr, "--hash-token=NAME:ROLE[,ROLE]\n");
        return 2;
    }
    if (!isatty(STDIN_FILENO)) {
        while (tlen < sizeof(tok) - 1) {
            ssize_t n = read(STDIN_FILENO, tok + tlen, sizeof(tok) - 1 - tlen);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            tlen += (size_t)n;
        }
        while (tlen > 0 && (tok[tlen - 1] == '\n' || tok[tlen - 1] == '\r'))
            tlen--;
    }
    if (tlen == 0) {
        uint8_t rnd[32];
        char b64[64];
        if (sr_random(rnd, sizeof(rnd)) != SR_OK || sr_b64_encode(rnd, sizeof(rnd), b64, sizeof(b64)) == 0)
            return 1;
        sr_wipe(rnd, sizeof(rnd));
        /* base64url without padding: RFC 6750 b64token and safe in shells */
        for (size_t i = 0; b64[i]; i++) {
            if (b64[i] == '+')
                b64[i] = '-';
            else if (b64[i] == '/')
                b64[i] = '_';
            else if (b64[i] == '=')
                b64[i] = '\0';
        }
        tlen = strlen(b64);
        memcpy(tok, b64, tlen + 1);
        sr_wipe(b64, sizeof(b64));
        generated = true;
    }
    tok[tlen] = '\0';
    if (!api_token_line(name, colon + 1, slice_of(tok, tlen), line, sizeof(line))) {
        fprintf(stderr, "invalid name, role list (lister,archivist,auditor,admin,legal-hold) or token "
                        "(1-%d of A-Z a-z 0-9 - . _ ~ + / then '=' padding)\n",
                API_TOKEN_MAX);
        sr_wipe(tok, sizeof(tok));
        return 2;
    }
    if (generated)
        fprintf(stderr, "token for %s (hand it over now; only its hash is kept): %s\n", name, tok);
    sr_wipe(tok, sizeof(tok));
    printf("%s\n", line);
    return 0;
}

struct app {
    struct api_cfg cfg;
    struct api_tokens *tokens;   /* until the server takes them */
    struct api_certmap *certs;
    struct api_crl *crl;
    char *tls_cert_pem, *tls_key_pem, *client_ca_pem;
    size_t tls_cert_len, tls_key_len, client_ca_len;
    struct api_server *srv;
    struct api_audit *audit;
    bool has_store;             /* srtprec.conf has a [store] section with a url */
    struct objstore_cfg store_cfg;
    struct api_store *store;
};

static int options(struct app *a, int argc, char **argv)
{
    char why[512];
    int help = 0, lvl;

    if (conf_load(api_items, SR_ARRAY_LEN(api_items), &a->cfg, "api", argc, argv, &help, why,
                  sizeof(why)) != SR_OK) {
        fprintf(stderr, "srtprec-api: %s\n", why);
        return 2;
    }
    if (help == CONF_SHOWN_VERSION) {
        sr_version_print(stdout, "srtprec-api");
        return 1;
    }
    if (help) {
        conf_usage(stdout, "srtprec-api", api_items, SR_ARRAY_LEN(api_items));
        printf("  --hash-token=NAME:ROLE[,ROLE]\n      print a tokens-file line (token from stdin, "
               "or generated and shown on stderr)\n"
               "  --verify-audit=FILE [--audit-anchor=HEAD]\n      verify an audit log's hash "
               "chain (exit 0 intact, 1 broken, 2 unreadable); HEAD, a head logged earlier,\n"
               "      also catches lines removed from the end\n");
        return 1;
    }
    lvl = log_level_parse(a->cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr, "srtprec-api: log-level '%s': expected error|warn|notice|info|debug\n",
                a->cfg.log_level);
        return 2;
    }
    log_setup((enum log_level)lvl, "srtprec-api", getenv("JOURNAL_STREAM") != NULL);
    /* The [store] section is the recorder's too: the API reads archives
     * where the uploader put them (api/store.h). */
    for (int i = 1; i < argc; i++) {
        enum sr_err err;
        if (strncmp(argv[i], "--config=", 9) != 0)
            continue;
        err = objstore_cfg_load(&a->store_cfg, argv[i] + 9, why, sizeof(why));
        if (err && err != SR_ENOTFOUND) {
            log_error("[store]: %s", why);
            return 2;
        }
        a->has_store = err == SR_OK;
    }
    if (!a->cfg.index[0] || !a->cfg.archive_cert[0] || !a->cfg.archive_key[0] ||
        !a->cfg.tokens_file[0]) {
        log_error("index, archive-cert, archive-key and tokens-file are required");
        return 2;
    }
    if (!a->cfg.client_ca[0] != !a->cfg.client_certs_file[0]) {
        log_error("client-ca and client-certs-file go together");
        return 2;
    }
    if (a->cfg.client_crl[0] && !a->cfg.client_ca[0]) {
        log_error("client-crl needs client-ca (the CRLs are verified against it)");
        return 2;
    }
    if (a->cfg.client_ca[0] && a->cfg.lab_plain_http) {
        log_error("client-ca needs TLS (lab-plain-http=no)");
        return 2;
    }
    if (a->cfg.reserved_connections >= a->cfg.max_connections) {
        log_error("reserved-connections (%lu) must be below max-connections (%lu)",
                  a->cfg.reserved_connections, a->cfg.max_connections);
        return 2;
    }
    if (!a->cfg.lab_plain_http && (!a->cfg.tls_cert[0] || !a->cfg.tls_key[0])) {
        log_error("tls-cert and tls-key are required (lab-plain-http=yes is for labs only)");
        return 2;
    }
    return 0;
}

/* Load the tokens file, the client-certs file and the client CRLs (when
 * configured), all or none: SIGHUP must never leave one new and one old. */
static bool auth_load(const struct api_cfg *cfg, struct api_tokens **tokens,
                      struct api_certmap **certs, struct api_crl **crl)
{
    char why[512];

    *tokens = NULL;
    *certs = NULL;
    *crl = NULL;
    if (api_tokens_load(tokens, cfg->tokens_file, why, sizeof(why)) != SR_OK) {
        log_error("tokens-file: %s", why);
        return false;
    }
    if (cfg->client_certs_file[0] &&
        api_certmap_load(certs, cfg->client_certs_file, why, sizeof(why)) != SR_OK) {
        log_error("client-certs-file: %s", why);
        api_tokens_destroy(*tokens);
        *tokens = NULL;
        return false;
    }
    if (cfg->client_crl[0] &&
        api_crl_load(crl, cfg->client_ca, cfg->client_crl, why, sizeof(why)) != SR_OK) {
        log_error("client-crl: %s", why);
        api_tokens_destroy(*tokens);
        api_certmap_destroy(*certs);
        *tokens = NULL;
        *certs = NULL;
        return false;
    }
    if (api_tokens_count(*tokens) == 0 && api_certmap_count(*certs) == 0)
        log_warn("%s holds no tokens: every authenticated request will get 401",
                 cfg->tokens_file);
    return true;
}

static int setup(struct app *a)
{
    struct api_server_cfg sc;
    char why[512];

    if (!auth_load(&a->cfg, &a->tokens, &a->certs, &a->crl))
        return 1;
    if (a->cfg.client_ca[0]) {
        a->client_ca_pem = pem_read(a->cfg.client_ca, &a->client_ca_len);
        if (!a->client_ca_pem) {
            log_error("client-ca %s: %s", a->cfg.client_ca, pem_error());
            return 1;
        }
    }
    if (!a->cfg.lab_plain_http) {
        struct api_tls_files tf;
        if (!(a->tls_cert_pem = pem_read(a->cfg.tls_cert, &a->tls_cert_len))) {
            log_error("tls-cert %s: %s", a->cfg.tls_cert, pem_error());
            return 1;
        }
        if (!(a->tls_key_pem = pem_read(a->cfg.tls_key, &a->tls_key_len))) {
            log_error("tls-key %s: %s", a->cfg.tls_key, pem_error());
            return 1;
        }
        tf = (struct api_tls_files){ a->cfg.tls_cert, a->cfg.tls_key, a->cfg.client_ca,
                                     a->tls_cert_pem, a->tls_key_pem, a->client_ca_pem,
                                     a->tls_cert_len, a->tls_key_len, a->client_ca_len };
        if (!api_tls_check(&tf, why, sizeof(why))) {
            log_error("TLS setup: %s", why);
            return 1;
        }
    } else {
        log_warn("lab-plain-http=yes: serving without TLS; bearer tokens travel in clear");
    }
    if (access(a->cfg.archive_cert, R_OK) != 0 || access(a->cfg.archive_key, R_OK) != 0) {
        log_error("cannot read archive-cert %s or archive-key %s", a->cfg.archive_cert,
                  a->cfg.archive_key);
        return 1;
    }
    /* A PostgreSQL index has no directory to put the defaults in. */
    if (!stor_index_is_file(a->cfg.index) &&
        (!a->cfg.audit_log[0] || !a->cfg.archive_dir[0] || !a->cfg.seal_ledger[0])) {
        log_error("index is a PostgreSQL database: set audit-log, archive-dir and seal-ledger");
        return 1;
    }
    if (!a->cfg.audit_log[0]) {
        /* Auditing is not optional: default to a file beside the index,
         * which the daemon can already write (SQLite WAL needs that). */
        const char *slash = strrchr(a->cfg.index, '/');
        int dir = slash ? (int)(slash - a->cfg.index) : 1;
        if (snprintf(a->cfg.audit_log, sizeof(a->cfg.audit_log), "%.*s/api-audit.log", dir,
                     slash ? a->cfg.index : ".") >= (int)sizeof(a->cfg.audit_log)) {
            log_error("index path too long to derive audit-log; set audit-log");
            return 1;
        }
    }
    if (!a->cfg.archive_dir[0]) {
        const char *slash = strrchr(a->cfg.index, '/');
        int dir = slash ? (int)(slash - a->cfg.index) : 1;
        if (snprintf(a->cfg.archive_dir, sizeof(a->cfg.archive_dir), "%.*s/archive", dir,
                     slash ? a->cfg.index : ".") >= (int)sizeof(a->cfg.archive_dir)) {
            log_error("index path too long to derive archive-dir; set archive-dir");
            return 1;
        }
    }
    if (!a->cfg.seal_ledger[0] &&
        (size_t)snprintf(a->cfg.seal_ledger, sizeof(a->cfg.seal_ledger), "%s.seals",
                         a->cfg.index) >= sizeof(a->cfg.seal_ledger)) {
        log_error("index path too long to derive seal-ledger; set seal-ledger");
        return 1;
    }
    if (!a->cfg.archive_signer[0])
        log_warn("archive-signer is not set: archives are served without checking their "
                 "signature (a forged or swapped archive would be served as genuine)");
    else if (access(a->cfg.archive_signer, R_OK) != 0) {
        log_error("cannot read archive-signer %s", a->cfg.archive_signer);
        return 1;
    }
    if (api_audit_open(&a->audit, a->cfg.audit_log, a->cfg.audit_sync_all, why,
                       sizeof(why)) != SR_OK) {
        log_error("%s", why);
        return 1;
    }
    if (a->has_store) {
        struct api_store_cfg stc = { .os = a->store_cfg, .cache_dir = a->cfg.store_cache_dir,
                                     .cache_max_bytes = (uint64_t)a->cfg.store_cache_mb << 20 };
        if (api_store_create(&a->store, &stc, why, sizeof(why)) != SR_OK) {
            log_error("object store: %s", why);
            return 1;
        }
        log_notice("archives with a store location are read from %s bucket %s (export cache %s, "
                   "%lu MiB)", a->store_cfg.url, a->store_cfg.bucket, a->cfg.store_cache_dir,
                   a->cfg.store_cache_mb);
    }
    memset(&sc, 0, sizeof(sc));
    sc.listen = a->cfg.listen;
    sc.plain_http = a->cfg.lab_plain_http;
    sc.tls_cert_pem = a->tls_cert_pem;
    sc.tls_key_pem = a->tls_key_pem;
    sc.index_path = a->cfg.index;
    sc.archive_dir = a->cfg.archive_dir;
    sc.archive_cert = a->cfg.archive_cert;
    sc.archive_key = a->cfg.archive_key;
    sc.archive_signer = a->cfg.archive_signer[0] ? a->cfg.archive_signer : NULL;
    sc.seal_ledger = a->cfg.seal_ledger[0] ? a->cfg.seal_ledger : NULL;
    sc.refuse_unsigned = a->cfg.refuse_unsigned;
    sc.tokens = a->tokens;
    sc.certs = a->certs;
    sc.crl = a->crl;
    sc.client_ca_pem = a->client_ca_pem;
    sc.max_connections = (unsigned)a->cfg.max_connections;
    sc.connection_timeout_s = (unsigned)a->cfg.connection_timeout;
    sc.threads = (unsigned)a->cfg.threads;
    sc.max_per_ip = (unsigned)a->cfg.max_per_ip;
    sc.header_timeout_s = (unsigned)a->cfg.header_timeout;
    sc.reserved_connections = (unsigned)a->cfg.reserved_connections;
    sc.audit = api_audit_hook;
    sc.audit_arg = a->audit;
    sc.audit_path = a->cfg.audit_log;
    sc.recorder_metrics = a->cfg.recorder_metrics_file[0] ? a->cfg.recorder_metrics_file : NULL;
    sc.keyagent_metrics = a->cfg.keyagent_metrics_file[0] ? a->cfg.keyagent_metrics_file : NULL;
    sc.daemon_max_age_ms = a->cfg.daemon_metrics_max_age_ms;
    sc.retention_days = (unsigned)a->cfg.retention_days;
    sc.store = a->store;
    if (api_server_create(&a->srv, &sc, why, sizeof(why)) != SR_OK) {
        log_error("%s", why);
        return 1;
    }
    log_notice("listening on %s://%s port %u (%zu tokens, %zu client identities, %zu CRLs)",
               a->cfg.lab_plain_http ? "http" : "https", a->cfg.listen,
               (unsigned)api_server_port(a->srv), api_tokens_count(a->tokens),
               api_certmap_count(a->certs), api_crl_count(a->crl));
    a->tokens = NULL; /* the server owns them now */
    a->certs = NULL;
    a->crl = NULL;
    return 0;
}

static void cleanup(struct app *a)
{
    api_server_destroy(a->srv); /* in-flight requests finish, and are audited, first */
    api_store_destroy(a->store);
    api_audit_close(a->audit);
    pem_free(a->tls_key_pem, a->tls_key_len);
    pem_free(a->tls_cert_pem, a->tls_cert_len);
    pem_free(a->client_ca_pem, a->client_ca_len);
    api_tokens_destroy(a->tokens);
    api_certmap_destroy(a->certs);
    api_crl_destroy(a->crl);
}

/* SIGHUP: re-read the tokens, client-certs and client-crl files (a renewed
 * CRL, or one that revokes a certificate, applies to the next request
 * without a restart).  A file that does not
 * parse is refused as a whole and the running set stays, so a typo cannot
 * lock every auditor out (or let anyone in). */
static void reload(struct app *a)
{
    struct api_tokens *tokens;
    struct api_certmap *certs;
    struct api_crl *crl;
    size_t nt, nc, nr;

    if (!auth_load(&a->cfg, &tokens, &certs, &crl)) {
        log_error("SIGHUP: reload refused; keeping the credentials already loaded");
        return;
    }
    nt = api_tokens_count(tokens);
    nc = api_certmap_count(certs);
    nr = api_crl_count(crl);
    api_server_swap_auth(a->srv, tokens, certs, crl);
    log_notice("SIGHUP: reloaded %zu tokens, %zu client identities and %zu CRLs", nt, nc, nr);
}

static void wait_for_signal(struct app *a, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(a);
            continue;
        }
        log_notice("signal %d: stopping", sig);
        return;
    }
}

int main(int argc, char **argv)
{
    struct app a;
    sigset_t set;
    int rc;

    sr_harden_process(NULL); /* no cores, umask 027: before any key or file */
    if (argc == 2 && strncmp(argv[1], "--hash-token=", 13) == 0)
        return hash_token(argv[1] + 13);
    if ((argc == 2 || argc == 3) && strncmp(argv[1], "--verify-audit=", 15) == 0) {
        const char *anchor = NULL;
        if (argc == 3) {
            if (strncmp(argv[2], "--audit-anchor=", 15) != 0) {
                fprintf(stderr, "usage: srtprec-api --verify-audit=FILE [--audit-anchor=HEAD]\n");
                return 2;
            }
            anchor = argv[2] + 15;
        }
        return api_audit_verify_main(argv[1] + 15, anchor);
    }
    memset(&a, 0, sizeof(a));
    rc = options(&a, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;

    /* Block before MHD starts its threads so that they inherit the mask and
     * only sigwait() sees these signals.  SIGPIPE: the export worker writes
     * to a pipe whose reader may have gone; it wants EPIPE, not death. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    rc = setup(&a);
    if (rc == 0)
        wait_for_signal(&a, &set);
    cleanup(&a);
    return rc;
}
