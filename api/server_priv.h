/** @file server_priv.h  The libmicrohttpd side of srtprec-api.
 *
 * One struct api_server owns the MHD daemon, the index handles and the
 * counters.  MHD runs its own thread pool; handlers block on the index (one
 * handle per worker thread, each behind its own mostly uncontended mutex)
 * and on disk, never on a client.
 */
#ifndef API_SERVER_PRIV_H
#define API_SERVER_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "api_priv.h"
#include "err.h"

/** When the audit hook runs. */
enum api_access_phase {
    API_ACCESS_START, /**< authorised, before any recording data leaves: false refuses (503) */
    API_ACCESS_DONE,  /**< the response finished or was aborted */
};

/** One access to an authenticated route, for the log line and the audit hook. */
struct api_access {
    enum api_access_phase phase;
    uint64_t req;       /**< request number since startup; pairs START and DONE */
    const char *who;    /**< principal name, "-" if the token was missing or wrong */
    const char *auth;   /**< how who was established: "token", "cert" or "-" */
    const char *method; /**< HTTP method */
    const char *client; /**< peer address */
    const char *route;  /**< api_route_name() */
    const char *id;     /**< recording id, "" when none */
    const char *authn;  /**< the archive's authenticity verdict (stor_authn_name), "" when
                             not checked */
    unsigned status;    /**< HTTP status (DONE; at START the status about to be sent) */
    uint64_t bytes;     /**< body bytes handed to MHD (DONE) */
    bool completed;     /**< DONE: MHD reported the response sent in full */
};

/** The hash-chained access audit (audit.c) plugs in here.  Runs on an MHD
 *  thread; must be thread-safe.  The return value matters only at START. */
typedef bool api_audit_fn(const struct api_access *a, void *arg);

struct api_server_cfg {
    const char *listen;             /**< "127.0.0.1:8443" or "[::1]:8443"; port 0 = ephemeral */
    bool plain_http;                /**< lab only: no TLS */
    const char *tls_cert_pem;       /**< PEM text (not a path); kept until destroy */
    const char *tls_key_pem;
    const char *index_path;         /**< SQLite index */
    const char *archive_dir;        /**< archives are <archive_dir>/<id>.srec; the index's path
                                         is only compared, never opened */
    const char *archive_cert;       /**< recipient certificate and key files that unwrap archives */
    const char *archive_key;
    const char *archive_signer;     /**< the recorder's signing certificate: downloads and
                                         exports are checked first (stor_archive_check);
                                         NULL: not checked */
    const char *seal_ledger;        /**< the recorder's seal ledger; NULL: not checked */
    bool refuse_unsigned;           /**< with archive_signer: unsigned archives are refused */
    struct api_tokens *tokens;      /**< the server takes it when create succeeds */
    struct api_certmap *certs;      /**< likewise; NULL: no client-certificate roles */
    struct api_crl *crl;            /**< likewise; NULL: no revocation check (no client-crl) */
    const char *client_ca_pem;      /**< PEM text of the CA for client certificates; NULL: none
                                         requested */
    unsigned max_connections;
    unsigned connection_timeout_s;
    unsigned threads;
    unsigned max_per_ip;            /**< connections per client address; 0 = no limit */
    unsigned header_timeout_s;      /**< a request head must be complete this long after accept
                                         (or the previous response) whatever trickles in */
    unsigned reserved_connections;  /**< < max_connections: slots only authenticated
                                         connections may hold (api_admit) */
    api_audit_fn *audit;            /**< NULL: the access log line only */
    void *audit_arg;
    const char *audit_path;         /**< the audit log read by GET /v1/audit; NULL: 404 */
    const char *recorder_metrics;   /**< Prometheus text files appended to /metrics; NULL: none */
    const char *keyagent_metrics;
    uint64_t daemon_max_age_ms;     /**< a daemon's file older than this is stale (/healthz,
                                         /metrics) */
    unsigned retention_days;        /**< the retention job's --older-than; 0: none (expiry
                                         shown as null) */
    struct api_store *store;        /**< the object store's read side (api/store.h); NULL:
                                         archives only from archive_dir.  Borrowed: outlives
                                         the server */
};

struct api_server;
struct api_store;

/** Open the index and start listening.  why gets a one-line reason. */
enum sr_err api_server_create(struct api_server **out, const struct api_server_cfg *cfg,
                              char *why, size_t whylen);
/** The bound port (useful with port 0). */
uint16_t api_server_port(const struct api_server *srv);
/** Replace the tokens, client-certificate map and client CRLs (SIGHUP).  The
 *  server takes all three (certs and crl may be NULL); the old ones are freed
 *  once no request thread is still reading them (a write lock waits for
 *  checks in progress). */
void api_server_swap_auth(struct api_server *srv, struct api_tokens *tokens,
                          struct api_certmap *certs, struct api_crl *crl);

/* crl.c: revocation of client certificates (client-crl). */
struct api_crl;

/** Load the PEM CRLs in crl_path, each verified against the CAs in ca_path
 *  (a CRL past its nextUpdate is kept, with a warning).  why says what failed. */
enum sr_err api_crl_load(struct api_crl **out, const char *ca_path, const char *crl_path,
                         char *why, size_t whylen);
/** CRLs held; 0 for NULL. */
size_t api_crl_count(const struct api_crl *c);
/** false if a certificate of the peer's DER chain is revoked, or its issuer
 *  has no CRL in the set (why says which); true for c == NULL.  Read-only:
 *  safe from several threads at once. */
bool api_crl_allows(const struct api_crl *c, const gnutls_datum_t *chain, unsigned n,
                    char *why, size_t whylen);
void api_crl_destroy(struct api_crl *c);
/** Stop MHD (waits for in-flight requests) and free everything.  NULL-safe. */
void api_server_destroy(struct api_server *srv);

/* audit.c: the hash-chained access audit log (common/chainlog.h, tag A1). */
struct api_audit;

/** Open (create) the audit log at path, verifying the existing chain; a
 *  broken chain refuses to start (why says where).  sync_all: fdatasync the
 *  start record of metadata requests too (otherwise only content accesses). */
enum sr_err api_audit_open(struct api_audit **out, const char *path, bool sync_all, char *why,
                           size_t whylen);
/** Syncs, logs the head (an anchor for later verification) and frees; NULL-safe. */
void api_audit_close(struct api_audit *au);
/** The api_audit_fn: arg is the struct api_audit.  START records of content
 *  accesses are fdatasync'ed before it returns true; after any write failure
 *  every call returns false (fail closed). */
bool api_audit_hook(const struct api_access *a, void *arg);
/** Records the hook could not write. */
uint64_t api_audit_failures(const struct api_audit *au);
/** Records with seq > q->after_seq that match q's recording, who and
 *  from/to (the record's time, inclusive), at most q->limit, as
 *  {"records":[...],"next":seq}. */
enum sr_err api_audit_query(const char *path, const struct api_list_query *q, json_t **out);
/** Such a body as RFC 4180 CSV (header line, CRLF, every field quoted, a
 *  leading = + - @ defused with '); NULL on allocation failure.  free() it. */
char *api_audit_csv(json_t *body);
/** --verify-audit: prints the verdict; 0 intact, 1 broken, 2 unreadable. */
int api_audit_verify_main(const char *path, const char *anchor);

/* export.c: decrypted WAV, Ogg, Ogg Opus or the waveform's JSON, streamed
 * through a pipe from a worker thread. */
struct api_export;

enum api_export_fmt {
    API_EXPORT_WAV,      /**< stor_export_wav*: G.711 and Opus decoded to 16-bit PCM */
    API_EXPORT_OGG,      /**< stor_export_ogg*: the archive's Ogg physical stream, decrypted */
    API_EXPORT_OPUS,     /**< stor_export_opus: one Opus stream as Ogg Opus (RFC 7845) */
    API_EXPORT_WAVEFORM, /**< stor_waveform as JSON (docs/api.md) */
    API_EXPORT_METADATA, /**< the SIPREC metadata records and the streams, as JSON */
};

/** What to export, from the route and its query. */
struct api_export_opts {
    enum api_export_fmt fmt;
    bool has_stream;  /**< that stream alone; export.opus without it: the first Opus stream */
    unsigned stream;
    bool mixed;       /**< WAV: one channel, every stream summed */
    unsigned points;  /**< waveform buckets */
};
struct MHD_Response;
struct MHD_Connection;

/** Start exporting the archive at path on a worker thread, for connection c
 *  (on an MHD thread, from the access handler).  Nothing here waits: the
 *  worker decrypts into a pipe, and the connection is parked (suspended)
 *  whenever it would otherwise wait for the worker, and resumed by the
 *  worker's next bytes, so a slow archive or a slow client never holds an
 *  MHD thread.  parked counts suspended connections (api_server_destroy
 *  waits for 0: MHD must not stop with one suspended).  SR_OK: *ex is set;
 *  call api_export_respond() from the access handler until it stops
 *  answering "not yet".  Call api_export_release(*ex) (NULL-safe) when done. */
enum sr_err api_export_begin(struct api_export **ex, const struct api_export_opts *o, const char *path,
                             const char *cert_file, const char *key_file,
                             struct MHD_Connection *c, _Atomic unsigned *parked);
/** From the access handler: false if the worker has neither produced its
 *  first bytes nor finished (the connection has been suspended; MHD calls
 *  the handler again when the worker resumes it).  true: *resp streams the
 *  export (shared with *ex), or is NULL when the export failed before its
 *  first byte and *why says why (valid while ex lives), so header and key
 *  failures are still a clean 500 before any status line is sent. */
bool api_export_respond(struct api_export *ex, struct MHD_Response **resp, const char **why);
/** After a failed api_export_respond: storage's error (SR_ENOTFOUND: no such
 *  stream; SR_EUNSUPP: not a stream of that codec; else a server fault). */
enum sr_err api_export_error(const struct api_export *ex);
uint64_t api_export_bytes(const struct api_export *ex);
bool api_export_failed(const struct api_export *ex);
void api_export_release(struct api_export *ex);

#endif
