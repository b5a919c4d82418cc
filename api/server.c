/** @file server.c  libmicrohttpd glue: request objects, auth, routes, responses.
 *
 * Order of checks for every request, so that nothing about a recording leaks
 * to someone not allowed to see it:
 *   method -> route exists -> credentials in the URL (400) -> bearer token,
 *   or without an Authorization header a verified client certificate (401)
 *   -> role (403) -> parameters and id syntax (400) -> index (404).
 * The route table itself is public (it is in docs/api.md), so 404 for an
 * unknown path before auth reveals nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "log.h"
#include "prom.h"
#include "server_priv.h"
#include "stor.h"
#include "store.h"
#include "util.h"
#include "www.h"

/* stor objects are single-threaded, so each handle has a lock; with one
 * handle per MHD worker the locks are uncontended (a single shared handle
 * serialised every metadata request behind one mutex). */
struct api_ix_slot {
    pthread_mutex_t lock;
    bool lock_init;
    struct stor_index *ix;
};

struct api_server {
    struct api_server_cfg cfg;
    struct MHD_Daemon *mhd;
    struct api_ix_slot *ix;
    size_t n_ix;
    /* SIGHUP swaps tokens and certs; request threads hold the read side only
     * for the duration of a check, so a swap waits microseconds at most. */
    pthread_rwlock_t auth_lock;
    bool auth_lock_init;
    struct api_tokens *tokens;
    struct api_certmap *certs;
    struct api_crl *crl;
    struct api_metrics metrics;
    _Atomic uint64_t next_req;
    _Atomic unsigned parked; /* connections suspended by exports */
    /* admission (admit.c): the table, each slot's socket, and the sweeper
     * that shuts down connections past their header deadline.  shutdown(),
     * never close(): MHD owns the descriptor and closes it after telling us
     * (NOTIFY_CLOSED, under admit_lock), so a slot's fd is never reused
     * while we may still touch it. */
    pthread_mutex_t admit_lock;
    pthread_cond_t admit_cond;
    bool admit_init, sweeper_started, stopping;
    pthread_t sweeper;
    struct api_admit *admit;
    int *slot_fd;
    _Atomic uint64_t header_timeouts, evictions;
    uint16_t port;
    time_t started;
};

/* One request, from the URI log callback to the completion notice. */
struct api_req {
    struct api_server *srv;
    char target[API_URI_MAX + 1]; /* raw request-target; t's slices point here */
    bool target_too_long;
    struct api_target t;
    char client[INET6_ADDRSTRLEN];
    char who[API_CERT_ID_MAX + 1]; /* token name or certificate identity */
    char who_log[4 * API_CERT_ID_MAX + 1]; /* who with control bytes escaped, for logs */
    const char *auth;  /* "token", "cert" or "-" */
    char method[16];   /* for the audit; longer methods are cut (405 anyway) */
    uint64_t req;
    int slot; /* admission slot of the connection, -1 if unknown */
    char id[API_ID_HEX + 1];
    bool copies; /* the call has copies: rq->id is the one served (serve_best_copy) */
    bool store;  /* served from the object store (from_store) */
    struct api_fetch *fetch; /* an export's store fetch on its own thread (fetch_start) */
    const char *authn; /* the archive's verdict (stor_authn_name) once checked; NULL before */
    bool needs_auth; /* an authenticated route: log and audit */
    bool headers_seen; /* the access handler has been called once */
    bool answered;
    unsigned status;
    uint64_t body_bytes;     /* fixed-size bodies */
    struct api_export *export; /* streamed bodies count their own bytes */
    char dl_base[API_DL_NAME_MAX]; /* download name without extension (download_name) */
    enum api_export_fmt export_fmt;
};

/* GnuTLS priority string of the HTTPS listener (docs/api.md, "TLS"). */
#define API_TLS_PRIORITIES                                                                     \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"          \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

/* ----------------------------------------------------------------- index */

/* A free handle, preferring the one this thread used last time (by a hash of
 * its id) so that each worker keeps its SQLite page cache warm. */
static struct api_ix_slot *ix_acquire(struct api_server *srv)
{
    uint64_t h = (uint64_t)(uintptr_t)pthread_self();
    size_t start;

    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    start = (size_t)(h % srv->n_ix);
    for (size_t i = 0; i < srv->n_ix; i++) {
        struct api_ix_slot *sl = &srv->ix[(start + i) % srv->n_ix];
        if (pthread_mutex_trylock(&sl->lock) == 0)
            return sl;
    }
    pthread_mutex_lock(&srv->ix[start].lock);
    return &srv->ix[start];
}

static void ix_release(struct api_ix_slot *sl)
{
    pthread_mutex_unlock(&sl->lock);
}

/* ------------------------------------------------------------- responses */

static enum MHD_Result queue(struct MHD_Connection *c, struct api_req *rq, unsigned status,
                             struct MHD_Response *resp, uint64_t bytes)
{
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO; /* MHD closes the connection */
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    rq->status = status;
    rq->body_bytes = bytes;
    rq->answered = true;
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Takes ownership of text (malloc'd, as jansson's json_dumps returns). */
static enum MHD_Result respond_text(struct MHD_Connection *c, struct api_req *rq, unsigned status,
                                    char *text, const char *type)
{
    struct MHD_Response *resp;
    size_t len;

    if (!text)
        return MHD_NO;
    len = strlen(text);
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return queue(c, rq, status, resp, len);
}

static enum MHD_Result respond_json(struct MHD_Connection *c, struct api_req *rq,
                                    unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (text) {
        size_t n = strlen(text);
        char *t2 = realloc(text, n + 2); /* trailing newline for curl users */
        if (t2) {
            t2[n] = '\n';
            t2[n + 1] = '\0';
            text = t2;
        }
    }
    return respond_text(c, rq, status, text, "application/json");
}

static enum MHD_Result respond_error(struct MHD_Connection *c, struct api_req *rq,
                                     unsigned status, const char *code, const char *msg,
                                     const char *param)
{
    char *text = api_json_error(code, msg, param);
    struct MHD_Response *resp;
    size_t len;

    if (!text)
        return MHD_NO;
    len = strlen(text);
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED)
        /* RFC 6750 section 3; error only when a token was actually presented */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                strcmp(code, "invalid_token") == 0
                                    ? "Bearer realm=\"srtprec\", error=\"invalid_token\""
                                    : "Bearer realm=\"srtprec\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rq->t.route == API_ROUTE_HOLD
                                                                 ? "GET, HEAD, PUT, DELETE"
                                                                 : "GET, HEAD");
    return queue(c, rq, status, resp, len);
}

static enum MHD_Result internal_error(struct MHD_Connection *c, struct api_req *rq,
                                      const char *what, enum sr_err err)
{
    log_error("%s %s: %s: %s", api_route_name(rq->t.route), rq->id[0] ? rq->id : "-", what,
              sr_strerror(err));
    return respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "internal error",
                         NULL);
}

/* ------------------------------------------------------------------ JSON */

static json_t *time_json(uint64_t wall_us)
{
    char t[40];

    if (wall_us == 0)
        return json_null();
    sr_wall_fmt(wall_us, t, sizeof(t));
    return json_string(t);
}

/* {"case_id", "reason", "by", "at"} of a hold; null when there is none. */
static json_t *hold_json(const struct stor_record *r)
{
    if (!r->hold)
        return json_null();
    return json_pack("{s:o,s:o,s:o,s:o}", "case_id", api_json_str(r->hold_info.case_id),
                     "reason", api_json_str(r->hold_info.reason), "by",
                     api_json_str(r->hold_info.by), "at", time_json(r->hold_info.at_wall_us));
}

/* When retention may delete r: start + retention-days; null without
 * retention, under hold, or while recording (retention skips both). */
static json_t *expiry_json(const struct stor_record *r, unsigned days)
{
    if (!days || r->hold || r->state == STOR_STATE_RECORDING || !r->call.start_wall_us)
        return json_null();
    return time_json(r->call.start_wall_us + (uint64_t)days * 86400u * 1000000u);
}

/* The index path is deliberately absent: it says nothing useful to a client
 * and a lot about the server. */
static json_t *record_json(const struct stor_record *r, unsigned retention_days)
{
    json_t *o = json_object();
    bool ended = r->end_wall_us && r->end_wall_us >= r->call.start_wall_us;

    if (!o)
        return NULL;
    if (json_object_set_new(o, "id", api_json_str(r->id)) ||
        json_object_set_new(o, "call_id", api_json_str(r->call.call_id)) ||
        json_object_set_new(o, "local_aor", api_json_str(r->call.local_aor)) ||
        json_object_set_new(o, "remote_aor", api_json_str(r->call.remote_aor)) ||
        json_object_set_new(o, "local_tag", api_json_str(r->call.local_tag)) ||
        json_object_set_new(o, "remote_tag", api_json_str(r->call.remote_tag)) ||
        json_object_set_new(o, "source", api_json_str(r->call.source)) ||
        json_object_set_new(o, "recorder",
                            r->recorder[0] ? api_json_str(r->recorder) : json_null()) ||
        json_object_set_new(o, "start", time_json(r->call.start_wall_us)) ||
        json_object_set_new(o, "end", time_json(r->end_wall_us)) ||
        json_object_set_new(o, "state", json_string(stor_state_name(r->state))) ||
        json_object_set_new(o, "bytes", json_integer((json_int_t)r->bytes)) ||
        json_object_set_new(o, "packets", json_integer((json_int_t)r->packets)) ||
        json_object_set_new(o, "streams", json_integer((json_int_t)r->n_streams)) ||
        json_object_set_new(o, "legal_hold", json_boolean(r->hold)) ||
        json_object_set_new(o, "hold", hold_json(r)) ||
        json_object_set_new(o, "duration_ms",
                            ended ? json_integer((json_int_t)((r->end_wall_us -
                                                               r->call.start_wall_us) / 1000u))
                                  : json_null()) ||
        json_object_set_new(o, "retention_expires", expiry_json(r, retention_days))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------------- routes */

/* The user part of an AOR for a file name: scheme and host dropped, every
 * byte outside [A-Za-z0-9.+-] a '-', at most 24 bytes. */
static size_t party_part(const char *aor, char *out, size_t cap)
{
    const char *p = strchr(aor, ':');
    size_t n = 0;

    p = p ? p + 1 : aor;
    for (; *p && *p != '@' && *p != ';' && *p != '>' && n < 24 && n + 1 < cap; p++) {
        char ch = *p;
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '+' || ch == '-';
        out[n++] = keep ? ch : '-';
    }
    out[n] = '\0';
    return n;
}

/* "2026-12-02T101500Z_alice_bob_1a2b3c4d": the call's UTC start, its two
 * parties and the id's first 8 hex digits, so a folder of downloads sorts by
 * date and reads without opening the files.  Only [A-Za-z0-9.+_-]: safe in
 * a quoted Content-Disposition filename (RFC 6266) on every platform. */
static void download_name(const struct stor_record *rec, char *out, size_t outlen)
{
    char local[32], remote[32], when[32] = "undated";
    time_t t = (time_t)(rec->call.start_wall_us / 1000000u);
    struct tm tm;

    if (rec->call.start_wall_us && gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H%M%SZ", &tm);
    party_part(rec->call.local_aor, local, sizeof(local));
    party_part(rec->call.remote_aor, remote, sizeof(remote));
    snprintf(out, outlen, "%s_%s_%s_%.8s", when, local[0] ? local : "unknown",
             remote[0] ? remote : "unknown", rec->id);
}

static bool audit_start(struct api_req *rq, unsigned status);

_Static_assert((int)API_PARTY_PREFIX == (int)STOR_PARTY_PREFIX &&
                   (int)API_PARTY_SUBSTRING == (int)STOR_PARTY_SUBSTRING,
               "party_match values are storage's");

struct list_ctx {
    json_t *arr;
    unsigned retention_days;
    size_t limit, n;
    char last[STOR_ID_HEX];
    bool more, failed;
};

static bool list_one(const struct stor_record *rec, void *arg)
{
    struct list_ctx *lc = arg;
    json_t *o;

    if (lc->n == lc->limit) {
        lc->more = true; /* we asked for one extra row to learn this */
        return false;
    }
    o = record_json(rec, lc->retention_days);
    if (!o || json_array_append_new(lc->arr, o) != 0) {
        lc->failed = true;
        return false;
    }
    memcpy(lc->last, rec->id, sizeof(lc->last));
    lc->n++;
    return true;
}

static enum MHD_Result route_list(struct MHD_Connection *c, struct api_req *rq,
                                  const struct api_list_query *lq)
{
    struct api_server *srv = rq->srv;
    struct list_ctx lc = { .limit = lq->limit, .retention_days = srv->cfg.retention_days };
    struct stor_query q = {
        .from_wall_us = lq->from_wall_us,
        .to_wall_us = lq->to_wall_us,
        .party = lq->party[0] ? lq->party : NULL,
        .call_id = lq->call_id[0] ? lq->call_id : NULL,
        .after_id = lq->after[0] ? lq->after : NULL,
        .limit = lq->limit + 1,
        .newest_first = lq->newest_first,
        .party_match = (enum stor_party_match)lq->party_match,
    };
    json_t *body;
    enum sr_err err;

    struct api_ix_slot *sl;

    lc.arr = json_array();
    if (!lc.arr)
        return MHD_NO;
    sl = ix_acquire(srv);
    err = stor_index_search(sl->ix, &q, list_one, &lc);
    ix_release(sl);
    if (err == SR_EINVAL && q.party && q.party_match != STOR_PARTY_EXACT) {
        json_decref(lc.arr);
        return respond_error(c, rq, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                             "party has nothing to match after its scheme", "party");
    }
    if (err == SR_ENOTFOUND && q.after_id) {
        json_decref(lc.arr);
        return respond_error(c, rq, MHD_HTTP_BAD_REQUEST, "bad_parameter", "unknown cursor",
                             "after");
    }
    if (err || lc.failed) {
        json_decref(lc.arr);
        return internal_error(c, rq, "index search failed", err);
    }
    /* Call-IDs and parties are recording metadata: audited like a metadata
     * request, and refused when the audit cannot be written. */
    if (!audit_start(rq, MHD_HTTP_OK)) {
        json_decref(lc.arr);
        return respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
                             "access audit unavailable", NULL);
    }
    body = json_object();
    if (!body || json_object_set_new(body, "recordings", lc.arr) ||
        (lc.more && json_object_set_new(body, "next", json_string(lc.last)))) {
        json_decref(body);
        return MHD_NO;
    }
    return respond_json(c, rq, MHD_HTTP_OK, body);
}

/* SR_OK and *rec, or a response already queued (*ret). */
static bool lookup(struct MHD_Connection *c, struct api_req *rq, struct stor_record *rec,
                   enum MHD_Result *ret)
{
    struct api_ix_slot *sl = ix_acquire(rq->srv);
    enum sr_err err = stor_index_get(sl->ix, rq->id, rec);

    ix_release(sl);
    if (err == SR_ENOTFOUND) {
        *ret = respond_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such recording", NULL);
        return false;
    }
    if (err) {
        *ret = internal_error(c, rq, "index lookup failed", err);
        return false;
    }
    return true;
}

/* The file of rec: always <archive-dir>/<id>.srec, never the index's path
 * (whoever can write the index could otherwise point it at any file the API
 * user can read).  A row whose path names another file is refused with 500
 * index_path_mismatch: the index is damaged or tampered with, which an
 * operator must look at.  The same file under another spelling (a symlinked
 * directory) is accepted: same device and inode. */
static bool archive_path(struct MHD_Connection *c, struct api_req *rq,
                         const struct stor_record *rec, char *out, size_t outlen,
                         enum MHD_Result *ret)
{
    struct stat a, b;
    char esc[256];

    if (!api_archive_path(rq->srv->cfg.archive_dir, slice_cstr(rq->id), out, outlen)) {
        *ret = internal_error(c, rq, "archive path too long", SR_EINVAL);
        return false;
    }
    if (strcmp(rec->path, out) == 0 ||
        (stat(rec->path, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino))
        return true;
    log_error("%s %s: index row names %s, not %s: refused (index damaged or tampered with)",
              api_route_name(rq->t.route), rq->id,
              api_log_escape(rec->path, strlen(rec->path), esc, sizeof(esc)), out);
    *ret = respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "index_path_mismatch",
                         "the index row's archive path is not archive-dir/<id>.srec; refused",
                         NULL);
    return false;
}

/* Before an archive's bytes or its decoded audio leave: signature, hash
 * (the index row's) and seal ledger (docs/api.md, "Authenticity").  A
 * forged or swapped archive is refused (500: an operator must look), a
 * deleted one is 410; an unsigned one (written before signing, or closed by
 * crash recovery) is served unless refuse-unsigned-archives.  Every verdict is in the audit record. */
static bool verdict_ok(struct MHD_Connection *c, struct api_req *rq, enum stor_authn a,
                       const char *msg, enum MHD_Result *ret);

static bool authentic_ledger(struct MHD_Connection *c, struct api_req *rq,
                             const struct stor_record *rec, const char *path, const char *ledger,
                             enum MHD_Result *ret)
{
    struct stor_check_cfg cc = { rq->srv->cfg.archive_signer, rq->id, rec->sha256, ledger, NULL };
    char msg[768];
    enum stor_authn a;

    if (!cc.signer_pub)
        return true;
    a = stor_archive_check(path, &cc, msg, sizeof(msg));
    if (a == STOR_AUTHN_ERROR && access(path, F_OK) != 0 && errno == ENOENT)
        return true; /* missing and never sealed: the caller's archive_missing */
    return verdict_ok(c, rq, a, msg, ret);
}

/* A verdict as the answer: authentic (or unsigned, unless refused) goes
 * on, anything else is refused with its code.  Logged and audited. */
static bool verdict_ok(struct MHD_Connection *c, struct api_req *rq, enum stor_authn a,
                       const char *msg, enum MHD_Result *ret)
{
    char esc[1024];

    rq->authn = stor_authn_name(a);
    if (a == STOR_AUTHN_OK)
        return true;
    api_log_escape(msg, strlen(msg), esc, sizeof(esc));
    if (a == STOR_AUTHN_UNSIGNED && !rq->srv->cfg.refuse_unsigned) {
        log_notice("%s %s: %s", api_route_name(rq->t.route), rq->id, esc);
        return true;
    }
    log_error("%s %s: refused: %s", api_route_name(rq->t.route), rq->id, esc);
    switch (a) {
    case STOR_AUTHN_FORGED:
        *ret = respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "archive_forged",
                             "the archive is not the one the recorder signed (forged, changed "
                             "or its signature removed); refused", NULL);
        break;
    case STOR_AUTHN_SWAPPED:
        *ret = respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "archive_swapped",
                             "the file is another recording's genuine archive; refused", NULL);
        break;
    case STOR_AUTHN_UNSIGNED:
        *ret = respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "archive_unsigned",
                             "the archive carries no signature and refuse-unsigned-archives is "
                             "set; refused", NULL);
        break;
    case STOR_AUTHN_DELETED:
        *ret = respond_error(c, rq, MHD_HTTP_GONE, "archive_deleted",
                             "the archive was sealed but its file is gone", NULL);
        break;
    default:
        *ret = respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "archive_unverifiable",
                             "the archive's authenticity cannot be checked (seal ledger or "
                             "signer certificate unreadable)", NULL);
        break;
    }
    return false;
}

static bool authentic(struct MHD_Connection *c, struct api_req *rq, const struct stor_record *rec,
                      const char *path, enum MHD_Result *ret)
{
    return authentic_ledger(c, rq, rec, path, rq->srv->cfg.seal_ledger, ret);
}

/* Whether rec is served from the object store: its row has a location in
 * our store's bucket and archive-dir has no copy (a local copy is cheaper
 * and is checked against this box's seal ledger). */
static bool from_store(struct api_req *rq, const struct stor_record *rec)
{
    char local[4200];

    if (!rq->srv->cfg.store || !api_store_key(rq->srv->cfg.store, rec))
        return false;
    return !api_archive_path(rq->srv->cfg.archive_dir, slice_cstr(rec->id), local, sizeof(local)) ||
           access(local, F_OK) != 0;
}

/* The store's failure as the client's: unreachable or refusing is 503 with
 * the reason (retry later), a missing object 404, an object that is not
 * the sealed archive 500, a full cache 503. */
static enum MHD_Result store_error(struct MHD_Connection *c, struct api_req *rq, enum sr_err err,
                                   const char *why)
{
    log_error("%s %s: %s", api_route_name(rq->t.route), rq->id, why);
    switch (err) {
    case SR_EAGAIN:
        return respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", why, NULL);
    case SR_ENOSPC:
        return respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "store_cache_full", why, NULL);
    case SR_ENOTFOUND:
        return respond_error(c, rq, MHD_HTTP_NOT_FOUND, "archive_missing",
                             "the index names an object the store does not have", NULL);
    case SR_EAUTH:
        rq->authn = stor_authn_name(STOR_AUTHN_SWAPPED);
        return respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_integrity",
                             "the store's object is not the archive the index records; refused",
                             NULL);
    default: return internal_error(c, rq, "object store cache", err);
    }
}

/* An export's archive fetched from the store on a thread of its own, so
 * that a slow store holds no MHD thread (MHD's threads serve every
 * connection assigned to them): the connection is suspended meanwhile and,
 * resumed, handled again from the top; the archive is then in the cache.
 * The lock makes "not done, so suspend" and "done, so resume" exclusive,
 * as the export worker's does (export.c). */
struct api_fetch {
    struct api_server *srv;
    struct MHD_Connection *c;
    struct stor_record rec;
    pthread_t th;
    pthread_mutex_t lock;
    bool done, suspended;
    enum sr_err err;   /* written before done */
    char why[768];
};

static void *fetch_worker(void *arg)
{
    struct api_fetch *f = arg;
    char path[4300];
    enum sr_err err = api_store_fetch(f->srv->cfg.store, &f->rec, path, sizeof(path), f->why,
                                      sizeof(f->why));

    pthread_mutex_lock(&f->lock);
    f->err = err;
    f->done = true;
    if (f->suspended) {
        f->suspended = false;
        MHD_resume_connection(f->c);
        atomic_fetch_sub(&f->srv->parked, 1);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* true: the fetch is done (its outcome in rq->fetch); false: the
 * connection has been suspended until it is. */
static bool fetch_wait(struct api_req *rq)
{
    struct api_fetch *f = rq->fetch;
    bool done;

    pthread_mutex_lock(&f->lock);
    done = f->done;
    if (!done) {
        f->suspended = true;
        atomic_fetch_add(&rq->srv->parked, 1);
        MHD_suspend_connection(f->c);
    }
    pthread_mutex_unlock(&f->lock);
    return done;
}

/* SR_OK: the fetch runs (wait with fetch_wait); else do it here. */
static enum sr_err fetch_start(struct MHD_Connection *c, struct api_req *rq,
                               const struct stor_record *rec)
{
    struct api_fetch *f = calloc(1, sizeof(*f));

    if (!f)
        return SR_ENOMEM;
    f->srv = rq->srv;
    f->c = c;
    f->rec = *rec;
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f);
        return SR_ENOMEM;
    }
    if (pthread_create(&f->th, NULL, fetch_worker, f) != 0) {
        pthread_mutex_destroy(&f->lock);
        free(f);
        return SR_EIO;
    }
    rq->fetch = f;
    return SR_OK;
}

static void fetch_free(struct api_fetch *f)
{
    if (!f)
        return;
    pthread_join(f->th, NULL);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static ssize_t store_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    ssize_t n = api_store_stream_read(cls, pos, buf, max);

    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void store_body_free(void *cls)
{
    api_store_stream_free(cls);
}

/* The audit hook's START phase: nothing leaves unless it agrees. */
static bool audit_start(struct api_req *rq, unsigned status)
{
    struct api_access a = {
        .phase = API_ACCESS_START, .req = rq->req, .who = rq->who, .auth = rq->auth,
        .method = rq->method, .client = rq->client, .route = api_route_name(rq->t.route),
        .id = rq->id, .status = status, .authn = rq->authn,
    };

    return !rq->srv->cfg.audit || rq->srv->cfg.audit(&a, rq->srv->cfg.audit_arg);
}

/* Dual recording: the other copies of a call, and the one to serve. */
struct copies_ctx {
    const struct stor_record *self;
    struct stor_record best; /* starts as self */
    json_t *arr;             /* NULL: only best is wanted */
    size_t n;
    bool failed;
};

static bool copy_one(const struct stor_record *rec, void *arg)
{
    struct copies_ctx *cc = arg;
    json_t *o;

    if (!stor_copy_of(cc->self, rec))
        return true;
    cc->n++;
    if (stor_copy_better(&cc->best, rec))
        cc->best = *rec;
    if (!cc->arr)
        return true;
    o = json_object();
    if (!o || json_object_set_new(o, "id", api_json_str(rec->id)) ||
        json_object_set_new(o, "recorder", api_json_str(rec->recorder)) ||
        json_object_set_new(o, "state", json_string(stor_state_name(rec->state))) ||
        json_object_set_new(o, "packets", json_integer((json_int_t)rec->packets)) ||
        json_object_set_new(o, "bytes", json_integer((json_int_t)rec->bytes)) ||
        json_array_append_new(cc->arr, o) != 0) {
        json_decref(o);
        cc->failed = true;
        return false;
    }
    return true;
}

/* The copies of rec's call (rows with its Call-ID from other recorders,
 * overlapping in time: stor_copy_of) into cc; cc->best the one to serve.
 * A row without a recorder-id has no copies (one query saved). */
static enum sr_err find_copies(struct api_server *srv, const struct stor_record *rec,
                               struct copies_ctx *cc)
{
    struct stor_query q = { .call_id = rec->call.call_id, .limit = 64 };
    struct api_ix_slot *sl;
    enum sr_err err;

    cc->self = rec;
    cc->best = *rec;
    if (!rec->recorder[0])
        return SR_OK;
    sl = ix_acquire(srv);
    err = stor_index_search(sl->ix, &q, copy_one, cc);
    ix_release(sl);
    return err ? err : cc->failed ? SR_ENOMEM : SR_OK;
}

/* Every party the index holds for the call (schema 6), oldest first:
 * {"aor","name","role"}, name null when not known. */
static json_t *parties_json(const struct stor_record *rec)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < rec->n_parties; i++) {
        const struct stor_party *p = &rec->parties[i];
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o) ||
            json_object_set_new(o, "aor", api_json_str(p->aor)) ||
            json_object_set_new(o, "name", p->name[0] ? api_json_str(p->name) : json_null()) ||
            json_object_set_new(o, "role", api_json_str(p->role))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* record_json with the copies: "copies" (the others, [] if none) and
 * "best_copy" (the id to serve: this one or a more complete copy). */
static json_t *record_copies_json(struct api_server *srv, const struct stor_record *rec,
                                  struct copies_ctx *cc)
{
    json_t *o = record_json(rec, srv->cfg.retention_days);

    cc->arr = json_array();
    if (!o || !cc->arr || find_copies(srv, rec, cc) != SR_OK) {
        json_decref(o);
        json_decref(cc->arr);
        return NULL;
    }
    /* json_object_set_new takes the value even when it fails. */
    if (json_object_set_new(o, "copies", cc->arr) ||
        json_object_set_new(o, "best_copy", api_json_str(cc->best.id)) ||
        json_object_set_new(o, "parties", parties_json(rec))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static enum MHD_Result respond_meta(struct MHD_Connection *c, struct api_req *rq,
                                     const struct stor_record *rec)
{
    struct copies_ctx *cc = calloc(1, sizeof(*cc)); /* ~6 KiB: off the MHD thread stack */
    enum MHD_Result ret;
    json_t *o;

    if (!cc)
        return MHD_NO;
    o = record_copies_json(rq->srv, rec, cc);
    ret = o ? respond_json(c, rq, MHD_HTTP_OK, o)
            : internal_error(c, rq, "index search for copies failed", SR_EIO);
    free(cc);
    return ret;
}

static enum MHD_Result route_meta(struct MHD_Connection *c, struct api_req *rq)
{
    struct stor_record *rec = malloc(sizeof(*rec)); /* ~6 KiB: not on an MHD thread stack */
    enum MHD_Result ret;

    if (!rec)
        return MHD_NO;
    if (lookup(c, rq, rec, &ret)) {
        if (!audit_start(rq, MHD_HTTP_OK))
            ret = respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
                                "access audit unavailable", NULL);
        else
            ret = respond_meta(c, rq, rec);
    }
    free(rec);
    return ret;
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* RFC 9110 8.6 lets a 304 carry Content-Length only as the 200's length;
 * libmicrohttpd 0.9.75 writes "Content-Length: 0" for any response of known
 * size (a second one if we add ours, even with
 * MHD_RF_INSANITY_HEADER_CONTENT_LENGTH) and chunked framing for one of
 * unknown size.  Unknown size in HTTP/1.0-compatible mode sends neither
 * (the status line stays HTTP/1.1); the price is that MHD closes the
 * connection after the 304. */
static struct MHD_Response *not_modified_response(void)
{
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, no_body,
                                                               NULL, NULL);

    if (r && MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END) !=
                 MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

/* Dual recording: the archive (or export) of a call recorded twice is the
 * best copy's (stor_copy_better), whichever copy's id was asked for; from
 * here on rq->id is the copy served (its file, ETag, download name and
 * audit record), and the response names it in Srtprec-Copy. */
static bool serve_best_copy(struct MHD_Connection *c, struct api_req *rq,
                            struct stor_record *rec, enum MHD_Result *ret)
{
    struct copies_ctx *cc;
    enum sr_err err;

    if (!rec->recorder[0])
        return true;
    cc = calloc(1, sizeof(*cc));
    if (!cc) {
        *ret = MHD_NO;
        return false;
    }
    err = find_copies(rq->srv, rec, cc);
    if (err) {
        *ret = internal_error(c, rq, "index search for copies failed", err);
    } else if (cc->n) {
        rq->copies = true;
        if (strcmp(cc->best.id, rec->id) != 0) {
            *rec = cc->best;
            memcpy(rq->id, rec->id, sizeof(rq->id) < sizeof(rec->id) ? sizeof(rq->id)
                                                                     : sizeof(rec->id));
            rq->id[sizeof(rq->id) - 1] = '\0';
        }
    }
    free(cc);
    return !err;
}

/* Conditional and partial GET of the archive (RFC 9110 sections 13 and 14).
 * The ETag is "<id>-<size>": an archive never changes once complete, and a
 * recovered or rewritten one changes size, so this is a strong validator. */
static enum MHD_Result route_archive(struct MHD_Connection *c, struct api_req *rq)
{
    struct stor_record *rec = malloc(sizeof(*rec));
    struct MHD_Response *resp;
    enum MHD_Result ret;
    struct stat st;
    char etag[80], disp[API_DL_NAME_MAX + 48], crange[96], path[sizeof(rec->path)];
    const char *inm, *range, *ifr;
    uint64_t size, first = 0, len = 0;
    enum api_range rr = API_RANGE_IGNORE;
    unsigned status = MHD_HTTP_OK;
    struct api_store_stream *ss = NULL;
    int fd = -1;

    if (!rec)
        return MHD_NO;
    if (!lookup(c, rq, rec, &ret) || !serve_best_copy(c, rq, rec, &ret))
        goto out;
    if (rec->state == STOR_STATE_RECORDING) {
        ret = respond_error(c, rq, MHD_HTTP_CONFLICT, "recording", "call still recording", NULL);
        goto out;
    }
    if (from_store(rq, rec)) {
        /* The client's Range becomes the store's (api/store.h): HEAD has
         * checked the object against the row; no bytes touch a disk. */
        char why[768];
        enum sr_err err = api_store_stream_open(rq->srv->cfg.store, rec, &ss, &size, why,
                                                sizeof(why));
        if (err) {
            ret = store_error(c, rq, err, why);
            goto out;
        }
        rq->store = true;
        if (rq->srv->cfg.archive_signer) {
            /* The signature beside the object, over the id and the index's
             * hash (the bytes' own hash needs all of them: exports check it). */
            uint8_t sig[8192];
            size_t sl = 0;
            char msg[768];
            err = api_store_sig(rq->srv->cfg.store, rec, sig, sizeof(sig), &sl, why, sizeof(why));
            if (err && err != SR_ENOTFOUND) {
                ret = store_error(c, rq, err, why);
                goto out;
            }
            if (!verdict_ok(c, rq,
                            stor_sig_check(err ? NULL : sig, sl, rq->srv->cfg.archive_signer,
                                           rq->id, rec->sha256, msg, sizeof(msg)),
                            msg, &ret))
                goto out;
        }
        goto sized;
    }
    if (!archive_path(c, rq, rec, path, sizeof(path), &ret))
        goto out;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT && !authentic(c, rq, rec, path, &ret))
        goto out; /* sealed, then deleted: 410 */
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        log_error("archive %s: %s: %s", rq->id, path, fd < 0 ? strerror(errno) : "not a file");
        ret = respond_error(c, rq, MHD_HTTP_NOT_FOUND, "archive_missing",
                            "the index lists this recording but its archive file is missing",
                            NULL);
        goto out;
    }
    if (!authentic(c, rq, rec, path, &ret))
        goto out;
    {
        /* The file checked is the one open: not replaced in between. */
        struct stat now;
        if (stat(path, &now) != 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev ||
            now.st_size != st.st_size) {
            ret = respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "archive_swapped",
                                "the archive file was replaced while it was checked; refused",
                                NULL);
            rq->authn = stor_authn_name(STOR_AUTHN_SWAPPED);
            goto out;
        }
    }
    size = (uint64_t)st.st_size;
sized:
    snprintf(etag, sizeof(etag), "\"%s-%" PRIu64 "\"", rq->id, size);
    inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    ifr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
    if (inm && api_etag_list_match(slice_cstr(inm), slice_cstr(etag), false)) {
        status = MHD_HTTP_NOT_MODIFIED; /* section 13.1.2 */
    } else if (range && (!ifr || api_etag_list_match(slice_cstr(ifr), slice_cstr(etag), true))) {
        /* section 13.1.5: a stale If-Range means "send it all" */
        rr = api_range_parse(slice_cstr(range), size, &first, &len);
        if (rr == API_RANGE_PARTIAL)
            status = MHD_HTTP_PARTIAL_CONTENT;
        else if (rr == API_RANGE_UNSATISFIABLE)
            status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
    }
    if (status == MHD_HTTP_RANGE_NOT_SATISFIABLE) {
        char *text = api_json_error("range_not_satisfiable", "the range lies outside the file",
                                    NULL);
        size_t tlen = text ? strlen(text) : 0;

        resp = text ? MHD_create_response_from_buffer(tlen, text, MHD_RESPMEM_MUST_FREE) : NULL;
        if (!resp) {
            free(text);
            ret = MHD_NO;
            goto out;
        }
        snprintf(crange, sizeof(crange), "bytes */%" PRIu64, size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        ret = queue(c, rq, status, resp, tlen);
        goto out;
    }
    if (!audit_start(rq, status)) {
        ret = respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
                            "access audit unavailable", NULL);
        goto out;
    }
    if (status == MHD_HTTP_NOT_MODIFIED) {
        resp = not_modified_response();
        len = 0;
    } else {
        if (status == MHD_HTTP_OK)
            len = size;
        if (ss) {
            api_store_stream_range(ss, first, len);
            resp = MHD_create_response_from_callback(len, 64 * 1024, store_body, ss,
                                                     store_body_free);
        } else {
            resp = MHD_create_response_from_fd_at_offset64(len, fd, first);
        }
    }
    if (!resp) {
        ret = MHD_NO;
        goto out;
    }
    if (status != MHD_HTTP_NOT_MODIFIED) {
        fd = -1; /* MHD owns it now */
        ss = NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (rq->copies)
        MHD_add_response_header(resp, "Srtprec-Copy", rq->id);
    if (rq->store)
        MHD_add_response_header(resp, "Srtprec-Source", "store");
    if (status != MHD_HTTP_NOT_MODIFIED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
        download_name(rec, rq->dl_base, sizeof(rq->dl_base));
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s.srec\"", rq->dl_base);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    }
    if (status == MHD_HTTP_PARTIAL_CONTENT) {
        snprintf(crange, sizeof(crange), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first,
                 first + len - 1, size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
    }
    ret = queue(c, rq, status, resp, len);
out:
    if (fd >= 0)
        close(fd);
    api_store_stream_free(ss);
    free(rec);
    return ret;
}

/* The export's answer once its worker has produced the first bytes or
 * failed; until then the connection is suspended and MHD calls the handler
 * again (on_request) when the worker resumes it. */
static enum MHD_Result export_respond(struct MHD_Connection *c, struct api_req *rq)
{
    /* RFC 7845 section 9 registers audio/ogg; the archive holds audio streams only */
    static const struct { const char *type, *ext; } kinds[] = {
        [API_EXPORT_WAV] = { "audio/wav", "wav" },
        [API_EXPORT_OGG] = { "audio/ogg", "ogg" },
        [API_EXPORT_OPUS] = { "audio/ogg; codecs=opus", "opus" },
        [API_EXPORT_WAVEFORM] = { "application/json", NULL },
        [API_EXPORT_METADATA] = { "application/json", NULL },
    };
    struct MHD_Response *resp;
    const char *why;
    char disp[API_DL_NAME_MAX + 48];

    if (!api_export_respond(rq->export, &resp, &why))
        return MHD_YES;
    if (!resp) {
        enum sr_err err = api_export_error(rq->export);
        log_error("export %s: %s", rq->id, why);
        /* the request named a stream the archive lacks, or of another codec */
        if (err == SR_ENOTFOUND)
            return respond_error(c, rq, MHD_HTTP_NOT_FOUND, "no_such_stream",
                                 "the recording has no such stream", "stream");
        if (err == SR_EUNSUPP)
            return respond_error(c, rq, MHD_HTTP_UNPROCESSABLE_CONTENT, "unsupported_stream",
                                 "that stream's codec cannot be exported this way", "stream");
        return respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "export_failed",
                             "the archive could not be decrypted or decoded", NULL);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, kinds[rq->export_fmt].type);
    if (rq->copies)
        MHD_add_response_header(resp, "Srtprec-Copy", rq->id);
    if (rq->store)
        MHD_add_response_header(resp, "Srtprec-Source", "store");
    if (kinds[rq->export_fmt].ext) {
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s.%s\"",
                 rq->dl_base[0] ? rq->dl_base : rq->id, kinds[rq->export_fmt].ext);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    return queue(c, rq, MHD_HTTP_OK, resp, 0);
}

static enum MHD_Result route_export(struct MHD_Connection *c, struct api_req *rq,
                                    const struct api_export_opts *opts)
{
    struct stor_record *rec = malloc(sizeof(*rec));
    struct api_export *ex = NULL;
    enum MHD_Result ret;
    enum sr_err err;
    char path[sizeof(rec->path)];

    if (!rec)
        return MHD_NO;
    if (!lookup(c, rq, rec, &ret) || !serve_best_copy(c, rq, rec, &ret))
        goto out;
    if (rec->state == STOR_STATE_RECORDING) {
        ret = respond_error(c, rq, MHD_HTTP_CONFLICT, "recording", "call still recording", NULL);
        goto out;
    }
    if (from_store(rq, rec)) {
        /* The whole archive into the private cache (size-capped, LRU), its
         * hash checked against the row; then the same signature check as a
         * local file's, without this box's seal ledger: the archive may be
         * another recorder's (docs/scale.md, "The archive store"). */
        char why[768] = "";
        /* A miss is fetched on its own thread (if one cannot start, here). */
        if (!rq->fetch && !api_store_cached(rq->srv->cfg.store, rec))
            fetch_start(c, rq, rec);
        if (rq->fetch && !fetch_wait(rq)) {
            ret = MHD_YES; /* suspended: MHD calls again once the fetch resumes us */
            goto out;
        }
        err = rq->fetch ? rq->fetch->err : SR_OK;
        if (err)
            snprintf(why, sizeof(why), "%s", rq->fetch->why);
        else /* a hit now (or fetched here, had it been evicted meanwhile) */
            err = api_store_fetch(rq->srv->cfg.store, rec, path, sizeof(path), why, sizeof(why));
        if (err) {
            ret = store_error(c, rq, err, why);
            goto out;
        }
        rq->store = true;
        if (!authentic_ledger(c, rq, rec, path, NULL, &ret))
            goto out;
    } else {
        if (!archive_path(c, rq, rec, path, sizeof(path), &ret))
            goto out;
        if (!authentic(c, rq, rec, path, &ret))
            goto out;
    }
    if (!audit_start(rq, MHD_HTTP_OK)) {
        ret = respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
                            "access audit unavailable", NULL);
        goto out;
    }
    err = api_export_begin(&ex, opts, path, rq->srv->cfg.archive_cert, rq->srv->cfg.archive_key,
                           c, &rq->srv->parked);
    if (err) {
        log_error("export %s: %s", rq->id, sr_strerror(err));
        ret = respond_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "export_failed",
                            "the archive could not be decrypted or decoded", NULL);
        goto out;
    }
    download_name(rec, rq->dl_base, sizeof(rq->dl_base));
    rq->export = ex; /* the request's reference; released in on_completed */
    rq->export_fmt = opts->fmt;
    ret = export_respond(c, rq);
out:
    free(rec);
    return ret;
}

/* PUT turns the legal hold on (with case and reason from the query, who
 * and when from the request), DELETE turns it off, GET reads it.  The
 * change is audited like any access (START is durable before the index
 * changes), so the audit chain keeps every hold's history. */
static enum MHD_Result route_hold(struct MHD_Connection *c, struct api_req *rq,
                                  const struct api_list_query *lq)
{
    struct stor_record *rec = malloc(sizeof(*rec));
    enum MHD_Result ret;
    enum sr_err err = SR_OK;
    bool on = strcmp(rq->method, MHD_HTTP_METHOD_PUT) == 0;
    bool change = on || strcmp(rq->method, MHD_HTTP_METHOD_DELETE) == 0; /* not GET/HEAD */
    const char *store_hold = NULL; /* the store's Object Lock hold: on, off, failed; NULL none */

    if (!rec)
        return MHD_NO;
    if (!lookup(c, rq, rec, &ret))
        goto out;
    if (!audit_start(rq, MHD_HTTP_OK)) {
        ret = respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
                            "access audit unavailable", NULL);
        goto out;
    }
    if (change) {
        struct api_ix_slot *sl;
        struct stor_hold h = { .at_wall_us = sr_wall_us() };

        snprintf(h.case_id, sizeof(h.case_id), "%s", lq->hold_case);
        snprintf(h.reason, sizeof(h.reason), "%s", lq->hold_reason);
        snprintf(h.by, sizeof(h.by), "%s", rq->who);
        sl = ix_acquire(rq->srv);
        err = stor_index_hold(sl->ix, rq->id, on ? &h : NULL);
        if (!err)
            err = stor_index_get(sl->ix, rq->id, rec);
        ix_release(sl);
        if (err == SR_ESTATE) { /* retention claimed it first (stor_index_claim_delete) */
            ret = respond_error(c, rq, MHD_HTTP_CONFLICT, "being_deleted",
                                "retention is deleting this recording: it cannot be held", NULL);
            goto out;
        }
        if (err) {
            ret = internal_error(c, rq, "legal hold", err);
            goto out;
        }
        log_notice("legal hold %s for %s by %s", on ? "on" : "off", rq->id, rq->who_log);
        if (rq->srv->cfg.store) {
            /* On a store with Object Lock the object is held too (the
             * index's hold stays authoritative: retention claims by it). */
            char why[768];
            enum sr_err se = api_store_legal_hold(rq->srv->cfg.store, rec, on, why, sizeof(why));
            store_hold = se == SR_EUNSUPP ? NULL : se ? "failed" : on ? "on" : "off";
            if (se && se != SR_EUNSUPP)
                log_error("legal hold %s for %s: the store's Object Lock hold failed: %s",
                          on ? "on" : "off", rq->id, why);
        }
    }
    ret = respond_json(c, rq, MHD_HTTP_OK,
                       json_pack("{s:s,s:b,s:o,s:o}", "id", rq->id, "legal_hold", (int)rec->hold,
                                 "hold", hold_json(rec), "store_hold",
                                 store_hold ? json_string(store_hold) : json_null()));
out:
    free(rec);
    return ret;
}

/* GET /v1/me: who the credentials are and what their roles allow, so that a
 * client (the console) shows only the actions that will work. */
static enum MHD_Result route_me(struct MHD_Connection *c, struct api_req *rq, unsigned roles)
{
    static const struct {
        const char *name;
        enum api_route route;
    } acts[] = {
        { "list", API_ROUTE_LIST },      { "metadata", API_ROUTE_META },
        { "archive", API_ROUTE_ARCHIVE }, { "export", API_ROUTE_EXPORT },
        { "legal_hold", API_ROUTE_HOLD }, { "access_history", API_ROUTE_ACCESS },
        { "audit", API_ROUTE_AUDIT },     { "siprec_metadata", API_ROUTE_SIPREC_META },
    };
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = { { "lister", API_ROLE_LISTER },     { "archivist", API_ROLE_ARCHIVIST },
                  { "auditor", API_ROLE_AUDITOR },   { "admin", API_ROLE_ADMIN },
                  { "legal-hold", API_ROLE_LEGAL } };
    json_t *can = json_object(), *rl = json_array(), *o;

    for (size_t i = 0; can && i < SR_ARRAY_LEN(acts); i++)
        json_object_set_new(can, acts[i].name,
                            json_boolean(api_roles_allow(roles, api_route_role(acts[i].route))));
    for (size_t i = 0; rl && i < SR_ARRAY_LEN(names); i++)
        if (roles & names[i].bit)
            json_array_append_new(rl, json_string(names[i].name));
    o = json_pack("{s:o,s:s,s:o*,s:o*,s:I}", "name", api_json_str(rq->who), "auth", rq->auth,
                  "roles", rl, "can", can, "retention_days",
                  (json_int_t)rq->srv->cfg.retention_days);
    return respond_json(c, rq, MHD_HTTP_OK, o);
}

/* GET /v1/recordings/{id}/access: the audit chain's finished accesses to
 * this recording (ev=done records), oldest first, paged by seq. */
static enum MHD_Result route_access(struct MHD_Connection *c, struct api_req *rq,
                                    const struct api_list_query *lq)
{
    struct api_list_query q = *lq;
    struct stor_record *rec = malloc(sizeof(*rec));
    enum MHD_Result ret;
    json_t *body = NULL;
    enum sr_err err;

    if (!rec)
        return MHD_NO;
    if (!lookup(c, rq, rec, &ret))
        goto out;
    if (!rq->srv->cfg.audit_path) {
        ret = respond_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no audit log configured",
                            NULL);
        goto out;
    }
    if (!audit_start(rq, MHD_HTTP_OK)) {
        ret = respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
                            "access audit unavailable", NULL);
        goto out;
    }
    memcpy(q.recording, rq->id, sizeof(q.recording));
    q.done_only = true;
    err = api_audit_query(rq->srv->cfg.audit_path, &q, &body);
    if (err) {
        ret = internal_error(c, rq, "audit log read", err);
        goto out;
    }
    ret = respond_json(c, rq, MHD_HTTP_OK, body);
out:
    free(rec);
    return ret;
}

static enum MHD_Result route_audit(struct MHD_Connection *c, struct api_req *rq,
                                   const struct api_list_query *lq)
{
    json_t *body = NULL;
    enum sr_err err;

    if (!rq->srv->cfg.audit_path)
        return respond_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no audit log configured",
                             NULL);
    if (!audit_start(rq, MHD_HTTP_OK))
        return respond_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
                             "access audit unavailable", NULL);
    err = api_audit_query(rq->srv->cfg.audit_path, lq, &body);
    if (err)
        return internal_error(c, rq, "audit log read", err);
    if (lq->csv) {
        char *csv = api_audit_csv(body);
        json_decref(body);
        if (!csv)
            return internal_error(c, rq, "audit CSV", SR_ENOMEM);
        return respond_text(c, rq, MHD_HTTP_OK, csv, "text/csv; charset=utf-8");
    }
    return respond_json(c, rq, MHD_HTTP_OK, body);
}

/* The embedded auditor page (www.c, generated from api/www/ at build time).
 * Strict CSP: only our own script and style, audio only from blob: URLs the
 * script made after fetching with the Authorization header, no framing. */
static enum MHD_Result route_web(struct MHD_Connection *c, struct api_req *rq)
{
    const struct api_www_file *f = api_www_find(rq->t.file);
    struct MHD_Response *resp;

    if (!f)
        return respond_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such resource", NULL);
    resp = MHD_create_response_from_buffer(f->len, (void *)(uintptr_t)f->data,
                                           MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
    MHD_add_response_header(resp, "Content-Security-Policy", API_WWW_CSP);
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    return queue(c, rq, MHD_HTTP_OK, resp, f->len);
}

/* A metrics file another daemon writes (common/prom.h): appended as is while
 * it is fresh (changed within daemon-metrics-max-age-ms); a file that stopped
 * changing is a daemon that stopped or hung, so its last counters are not
 * served as current and srtprec_<daemon>_up says 0. */
static void daemon_file(struct prom *p, const char *daemon, const char *path, uint64_t max_age_ms,
                        struct prom_file_health *h)
{
    char name[64];
    struct buf text;
    enum sr_err err;

    buf_init(&text, 256 * 1024 + 1);
    err = prom_file_health(path, daemon, max_age_ms, sr_wall_us() / 1000u, h, &text);
    if (!err && h->fresh) {
        if (!p->err)
            p->err = buf_printf(p->b, "# %s metrics from %s\n", daemon, path);
        if (!p->err)
            p->err = buf_append(p->b, text.p ? text.p : "", text.len);
        if (!p->err && text.len && text.p[text.len - 1] != '\n')
            p->err = buf_append(p->b, "\n", 1);
    } else {
        if (!p->err)
            p->err = buf_printf(p->b, "# %s metrics file %s: %s\n", daemon, path,
                                err == SR_EIO       ? "unavailable"
                                : err               ? "not plain text or over 256 KiB; skipped"
                                                    : "stale; its samples are not served");
        snprintf(name, sizeof(name), "srtprec_%s_up", daemon);
        prom_gauge(p, name, "0: the daemon's metrics file is missing or stale.", 0);
    }
    if (err)
        memset(h, 0, sizeof(*h));
    buf_fini(&text);
}

/* Storage as the index sees it: recordings per state, bytes, legal holds.
 * false when the index cannot be queried. */
static bool storage_metrics(struct prom *p, struct api_server *srv)
{
    struct stor_index_stats st;
    struct api_ix_slot *sl = ix_acquire(srv);
    enum sr_err err = stor_index_stats(sl->ix, &st);

    ix_release(sl);
    if (err) {
        if (!p->err)
            p->err = buf_printf(p->b, "# storage metrics: index query failed: %s\n",
                                sr_strerror(err));
        return false;
    }
    prom_family(p, "srtprec_storage_recordings", "gauge", "Recordings in the index by state.");
    for (size_t i = 0; i < SR_ARRAY_LEN(st.recordings); i++)
        prom_sample1(p, "srtprec_storage_recordings", "state", stor_state_name((enum stor_state)i),
                     st.recordings[i]);
    prom_gauge(p, "srtprec_storage_bytes", "Archive bytes the index accounts for.", st.bytes);
    prom_gauge(p, "srtprec_storage_legal_holds", "Recordings under legal hold.", st.held);
    return true;
}

/* The other daemons' files as /healthz and /metrics judge them. */
struct daemon_view {
    const char *name, *path;
    struct prom_file_health h;
};

/* Readiness of the whole deployment as this API sees it (docs/deploy.md,
 * "Health"): its index and archives readable, each configured daemon's
 * metrics file fresh and saying ready.  Writes the checks' families into p
 * (the daemons' own samples too when with_files); returns whether all pass. */
static bool api_health(struct prom *p, struct api_server *srv, bool with_files,
                       struct prom_check *checks, size_t *n_checks)
{
    struct daemon_view dv[] = { { "recorder", srv->cfg.recorder_metrics, { 0 } },
                                { "keyagent", srv->cfg.keyagent_metrics, { 0 } } };
    struct buf scratch;
    struct prom sp;
    size_t n = 0;
    bool index_ok, ready;

    buf_init(&scratch, 256 * 1024);
    prom_init(&sp, &scratch);
    index_ok = storage_metrics(with_files ? p : &sp, srv);
    checks[n++] = (struct prom_check){ "index_readable", index_ok };
    checks[n++] = (struct prom_check){ "archive_dir_readable",
                                       access(srv->cfg.archive_dir, R_OK | X_OK) == 0 };
    for (size_t i = 0; i < SR_ARRAY_LEN(dv); i++) {
        if (!dv[i].path)
            continue;
        daemon_file(with_files ? p : &sp, dv[i].name, dv[i].path, srv->cfg.daemon_max_age_ms,
                    &dv[i].h);
        checks[n++] = (struct prom_check){ i ? "keyagent_metrics_fresh" : "recorder_metrics_fresh",
                                           dv[i].h.fresh };
        checks[n++] = (struct prom_check){ i ? "keyagent_ready" : "recorder_ready",
                                           dv[i].h.fresh && dv[i].h.ready };
    }
    buf_fini(&scratch);
    *n_checks = n;
    ready = prom_health(p, "api", true, checks, n);
    for (size_t i = 0; with_files && i < SR_ARRAY_LEN(dv); i++) {
        char name[80];
        if (!dv[i].path || !dv[i].h.present)
            continue;
        snprintf(name, sizeof(name), "srtprec_api_%s_metrics_age_seconds", dv[i].name);
        prom_gauge(p, name, "Seconds since the daemon's metrics file last changed.",
                   dv[i].h.age_ms / 1000u);
    }
    return ready;
}

static enum MHD_Result route_healthz(struct MHD_Connection *c, struct api_req *rq)
{
    struct prom_check checks[8];
    size_t n = 0;
    struct buf b;
    struct prom p;
    json_t *o, *cj;
    bool ready;

    buf_init(&b, 64 * 1024);
    prom_init(&p, &b);
    ready = api_health(&p, rq->srv, false, checks, &n);
    buf_fini(&b);
    cj = json_object();
    for (size_t i = 0; cj && i < n; i++)
        json_object_set_new(cj, checks[i].name, json_boolean(checks[i].ok));
    o = json_pack("{s:s,s:o*}", "status", ready ? "ok" : "fail", "checks", cj);
    return respond_json(c, rq, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, o);
}

/* The object store's read side (api/store.h): alert on unavailable. */
static void store_metrics(struct prom *p, struct api_store *store)
{
    struct api_store_stats st;

    api_store_stats(store, &st);
    prom_counter(p, "srtprec_api_store_requests_total",
                 "HEAD and GET requests to the object store (retries inside one count once).",
                 st.requests);
    prom_counter(p, "srtprec_api_store_bytes_total", "Object bytes received from the store.",
                 st.bytes);
    prom_family(p, "srtprec_api_store_failures_total", "counter",
                "Store reads that failed: unavailable (unreachable or refusing: the client got "
                "503), not_found (an object the index names is missing), integrity (the object "
                "is not the archive the index records).");
    prom_sample1(p, "srtprec_api_store_failures_total", "reason", "unavailable", st.unavailable);
    prom_sample1(p, "srtprec_api_store_failures_total", "reason", "not_found", st.not_found);
    prom_sample1(p, "srtprec_api_store_failures_total", "reason", "integrity", st.integrity);
    prom_family(p, "srtprec_api_store_cache_total", "counter",
                "The export cache: hits, misses (fetched), evictions (least recently used), full "
                "(a fetch refused: no room under store-cache-mb).");
    prom_sample1(p, "srtprec_api_store_cache_total", "event", "hit", st.cache_hits);
    prom_sample1(p, "srtprec_api_store_cache_total", "event", "miss", st.cache_misses);
    prom_sample1(p, "srtprec_api_store_cache_total", "event", "eviction", st.cache_evictions);
    prom_sample1(p, "srtprec_api_store_cache_total", "event", "full", st.cache_full);
    prom_gauge(p, "srtprec_api_store_cache_bytes", "Bytes of archives in the export cache.",
               st.cache_bytes);
    prom_gauge(p, "srtprec_api_store_object_lock",
               "1 when the bucket has S3 Object Lock: legal holds are put on the objects too.",
               api_store_has_lock(store));
    prom_family(p, "srtprec_api_store_legal_holds_total", "counter",
                "Object Lock legal holds put on or taken off store objects, and failures (the "
                "index's hold was set; the store's was not).");
    prom_sample1(p, "srtprec_api_store_legal_holds_total", "result", "ok", st.holds);
    prom_sample1(p, "srtprec_api_store_legal_holds_total", "result", "failed", st.hold_failed);
}

static enum MHD_Result route_metrics(struct MHD_Connection *c, struct api_req *rq)
{
    struct prom_check checks[8];
    size_t n;
    struct buf b;
    struct prom p;
    char *text;

    buf_init(&b, 1024 * 1024);
    prom_init(&p, &b);
    prom_daemon(&p, "api", true, rq->srv->started);
    if (api_metrics_render(&rq->srv->metrics, &b) != SR_OK) {
        buf_fini(&b);
        return MHD_NO;
    }
    if (rq->srv->cfg.audit)
        prom_counter(&p, "srtprec_api_audit_failures_total", "Audit records not written.",
                     api_audit_failures(rq->srv->cfg.audit_arg));
    prom_counter(&p, "srtprec_api_header_timeouts_total",
                 "Connections closed because their request head was not complete within "
                 "header-timeout.", atomic_load(&rq->srv->header_timeouts));
    prom_counter(&p, "srtprec_api_connections_evicted_total",
                 "Unauthenticated connections closed to keep reserved-connections free.",
                 atomic_load(&rq->srv->evictions));
    if (rq->srv->cfg.store)
        store_metrics(&p, rq->srv->cfg.store);
    api_health(&p, rq->srv, true, checks, &n);
    if (prom_end(&p) != SR_OK || buf_append(&b, "", 1) != SR_OK) {
        buf_fini(&b);
        return MHD_NO;
    }
    text = strdup(b.p);
    buf_fini(&b);
    return respond_text(c, rq, MHD_HTTP_OK, text, "text/plain; version=0.0.4; charset=utf-8");
}

/* ----------------------------------------------------- client certificates */

/* The identity of a verified client certificate: the first subjectAltName
 * URI, else the first email (rfc822Name), else the first DNS name.  false if
 * no certificate was presented, it does not verify against client-ca (chain,
 * validity period, and the TLS client purpose when it carries an extended
 * key usage), it is revoked by client-crl (crl.c), or it names nothing usable.  GnuTLS does not fail the
 * handshake on these with GNUTLS_CERT_REQUEST, so this check is the gate. */
static bool cert_identity(struct api_server *srv, struct MHD_Connection *c, char *out,
                          size_t outlen)
{
    static const int prefer[] = { GNUTLS_SAN_URI, GNUTLS_SAN_RFC822NAME, GNUTLS_SAN_DNSNAME };
    const union MHD_ConnectionInfo *ci;
    gnutls_session_t s;
    gnutls_x509_crt_t crt = NULL;
    const gnutls_datum_t *peers;
    unsigned n_peers = 0, status = 0;
    gnutls_typed_vdata_st purpose = {
        .type = GNUTLS_DT_KEY_PURPOSE_OID,
        .data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT,
    };
    bool found = false;

    if (!srv->cfg.client_ca_pem)
        return false;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    s = (gnutls_session_t)ci->tls_session;
    if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509)
        return false;
    peers = gnutls_certificate_get_peers(s, &n_peers);
    if (!peers || n_peers == 0)
        return false;
    if (gnutls_certificate_verify_peers(s, &purpose, 1, &status) != GNUTLS_E_SUCCESS ||
        status != 0) {
        log_info("client certificate refused (GnuTLS status 0x%x)", status);
        return false;
    }
    {
        char why[96];
        bool allowed;

        pthread_rwlock_rdlock(&srv->auth_lock);
        allowed = api_crl_allows(srv->crl, peers, n_peers, why, sizeof(why));
        pthread_rwlock_unlock(&srv->auth_lock);
        if (!allowed) {
            log_info("client certificate refused by client-crl: %s", why);
            return false;
        }
    }
    if (gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS)
        return false;
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) != GNUTLS_E_SUCCESS)
        goto out;
    for (size_t k = 0; k < SR_ARRAY_LEN(prefer) && !found; k++) {
        for (unsigned seq = 0; seq < 64; seq++) { /* bounded: SANs come from the peer */
            char name[API_CERT_ID_MAX + 1];
            size_t sz = sizeof(name);
            unsigned critical = 0;
            int t = gnutls_x509_crt_get_subject_alt_name(crt, seq, name, &sz, &critical);

            if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                break;
            if (t != prefer[k])
                continue; /* another type, or too long for an identity */
            /* an embedded NUL would make "a\0b" look like "a" */
            if (sz >= sizeof(name) || memchr(name, '\0', sz) || sz == 0 || sz >= outlen)
                continue;
            memcpy(out, name, sz);
            out[sz] = '\0';
            found = true;
            break;
        }
    }
out:
    gnutls_x509_crt_deinit(crt);
    return found;
}

/* ------------------------------------------------------------- admission */

enum admit_ev { ADMIT_HEADERS, ADMIT_TRUST, ADMIT_IDLE };

static void admit_event(struct api_server *srv, int slot, enum admit_ev ev)
{
    if (!srv->admit || slot < 0)
        return;
    pthread_mutex_lock(&srv->admit_lock);
    if (ev == ADMIT_HEADERS)
        api_admit_headers(srv->admit, slot);
    else if (ev == ADMIT_TRUST)
        api_admit_trust(srv->admit, slot);
    else
        api_admit_idle(srv->admit, slot, sr_now_us());
    pthread_mutex_unlock(&srv->admit_lock);
}

/* MHD_OPTION_NOTIFY_CONNECTION: a slot per connection, its socket for the
 * sweeper; the slot (+1, so NULL means none) is the socket context. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct api_server *srv = cls;
    const union MHD_ConnectionInfo *ci;
    int slot, evict = -1;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        slot = (int)(intptr_t)*socket_context - 1;
        if (slot < 0)
            return;
        pthread_mutex_lock(&srv->admit_lock);
        api_admit_close(srv->admit, slot);
        srv->slot_fd[slot] = -1;
        pthread_mutex_unlock(&srv->admit_lock);
        *socket_context = NULL;
        return;
    }
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    pthread_mutex_lock(&srv->admit_lock);
    slot = api_admit_open(srv->admit, sr_now_us(), &evict);
    if (slot >= 0) {
        srv->slot_fd[slot] = ci->connect_fd;
        *socket_context = (void *)(intptr_t)(slot + 1);
    } else {
        shutdown(ci->connect_fd, SHUT_RDWR); /* cannot happen: MHD's limit is ours */
    }
    if (evict >= 0 && srv->slot_fd[evict] >= 0) {
        shutdown(srv->slot_fd[evict], SHUT_RDWR);
        atomic_fetch_add(&srv->evictions, 1);
    }
    pthread_mutex_unlock(&srv->admit_lock);
    if (evict >= 0)
        log_info("admission: untrusted connections over their share; the longest waiting "
                 "one closed");
}

/* Every 200 ms: shut down connections whose request head is overdue. */
static void *sweeper(void *arg)
{
    struct api_server *srv = arg;
    int out[64];

    pthread_mutex_lock(&srv->admit_lock);
    while (!srv->stopping) {
        struct timespec ts;
        size_t n;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->admit_cond, &srv->admit_lock, &ts);
        do {
            n = api_admit_expired(srv->admit, sr_now_us(), out, SR_ARRAY_LEN(out));
            for (size_t i = 0; i < n; i++)
                if (srv->slot_fd[out[i]] >= 0)
                    shutdown(srv->slot_fd[out[i]], SHUT_RDWR);
            atomic_fetch_add(&srv->header_timeouts, n);
        } while (n == SR_ARRAY_LEN(out));
    }
    pthread_mutex_unlock(&srv->admit_lock);
    return NULL;
}

/* --------------------------------------------------------------- dispatch */

static enum MHD_Result handle(struct MHD_Connection *c, struct api_req *rq, const char *method)
{
    struct api_server *srv = rq->srv;
    struct api_list_query lq;
    struct api_query_err qe;
    struct api_principal who;
    struct slice token;
    bool query_ok;
    unsigned need, granted = 0;

    bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                  strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    bool is_put_del = strcmp(method, MHD_HTTP_METHOD_PUT) == 0 ||
                      strcmp(method, MHD_HTTP_METHOD_DELETE) == 0;

    snprintf(rq->method, sizeof(rq->method), "%s", method);
    if (rq->target_too_long)
        return respond_error(c, rq, MHD_HTTP_URI_TOO_LONG, "uri_too_long", "URI too long", NULL);
    if (rq->t.route == API_ROUTE_NONE)
        return respond_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such resource", NULL);
    if (!(is_get || (is_put_del && rq->t.route == API_ROUTE_HOLD)))
        return respond_error(c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                             rq->t.route == API_ROUTE_HOLD ? "only GET, HEAD, PUT and DELETE"
                                                           : "only GET and HEAD",
                             NULL);

    /* From here on, every answer on an authenticated route is logged and
     * audited, refusals included, with the id asked for when it is one. */
    rq->needs_auth = api_route_role(rq->t.route) != 0;
    if (api_id_valid(rq->t.id)) {
        memcpy(rq->id, rq->t.id.p, API_ID_HEX);
        rq->id[API_ID_HEX] = '\0';
    }
    query_ok = api_query_parse(rq->t.query, rq->t.route, &lq, &qe) == SR_OK;
    if (!query_ok && qe.token_in_url)
        return respond_error(c, rq, MHD_HTTP_BAD_REQUEST, "token_in_url",
                             "send credentials in the Authorization header, never in the URL",
                             qe.param);

    need = api_route_role(rq->t.route);
    if (need) {
        const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION);
        unsigned roles = 0;
        bool known;

        if (hdr) {
            /* An explicit token wins over a certificate: a browser may hold a
             * client certificate its user did not mean to use here. */
            pthread_rwlock_rdlock(&srv->auth_lock);
            known = api_bearer_parse(hdr, &token) &&
                    api_tokens_check(srv->tokens, token, &who) == SR_OK;
            pthread_rwlock_unlock(&srv->auth_lock);
            if (!known)
                return respond_error(c, rq, MHD_HTTP_UNAUTHORIZED, "invalid_token",
                                     "bearer token not accepted", NULL);
            snprintf(rq->who, sizeof(rq->who), "%s", who.name);
            rq->auth = "token";
            roles = who.roles;
        } else {
            if (!cert_identity(srv, c, rq->who, sizeof(rq->who)))
                return respond_error(c, rq, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                                     "bearer token or client certificate required", NULL);
            rq->auth = "cert";
            pthread_rwlock_rdlock(&srv->auth_lock);
            known = api_certmap_find(srv->certs, slice_cstr(rq->who), &roles) == SR_OK;
            pthread_rwlock_unlock(&srv->auth_lock);
            /* A verified but unlisted identity is known and refused: 403, and
             * the audit shows who tried. */
            if (!known) {
                log_info("client certificate identity %s has no roles",
                         api_log_escape(rq->who, strlen(rq->who), rq->who_log,
                                        sizeof(rq->who_log)));
                return respond_error(c, rq, MHD_HTTP_FORBIDDEN, "forbidden",
                                     "this certificate's identity has no roles", NULL);
            }
        }
        admit_event(srv, rq->slot, ADMIT_TRUST);
        /* metrics accept any role: need is then a set of alternatives */
        granted = roles;
        if (rq->t.route == API_ROUTE_METRICS || rq->t.route == API_ROUTE_ME
                ? (roles & need) == 0
                : !api_roles_allow(roles, need))
            return respond_error(c, rq, MHD_HTTP_FORBIDDEN, "forbidden",
                                 "these credentials' roles do not allow that", NULL);
    }
    if (!query_ok)
        return respond_error(c, rq, MHD_HTTP_BAD_REQUEST, "bad_parameter", qe.why, qe.param);

    switch (rq->t.route) {
    case API_ROUTE_HEALTHZ: return route_healthz(c, rq);
    case API_ROUTE_LIVEZ: {
        json_t *o = json_pack("{s:s}", "status", "ok"); /* answering is the whole check */
        return respond_json(c, rq, MHD_HTTP_OK, o);
    }
    case API_ROUTE_METRICS: return route_metrics(c, rq);
    case API_ROUTE_LIST: return route_list(c, rq, &lq);
    case API_ROUTE_AUDIT: return route_audit(c, rq, &lq);
    case API_ROUTE_ME: return route_me(c, rq, granted);
    case API_ROUTE_WEB: return route_web(c, rq);
    case API_ROUTE_META:
    case API_ROUTE_ARCHIVE:
    case API_ROUTE_EXPORT:
    case API_ROUTE_EXPORT_OGG:
    case API_ROUTE_EXPORT_OPUS:
    case API_ROUTE_WAVEFORM:
    case API_ROUTE_HOLD:
    case API_ROUTE_ACCESS:
    case API_ROUTE_SIPREC_META:
        if (!rq->id[0])
            return respond_error(c, rq, MHD_HTTP_BAD_REQUEST, "bad_id",
                                 "recording id must be 32 lower-case hex digits", NULL);
        if (rq->t.route == API_ROUTE_META)
            return route_meta(c, rq);
        if (rq->t.route == API_ROUTE_ARCHIVE)
            return route_archive(c, rq);
        if (rq->t.route == API_ROUTE_HOLD)
            return route_hold(c, rq, &lq);
        if (rq->t.route == API_ROUTE_ACCESS)
            return route_access(c, rq, &lq);
        {
            struct api_export_opts eo = {
                .fmt = rq->t.route == API_ROUTE_EXPORT_OGG    ? API_EXPORT_OGG
                       : rq->t.route == API_ROUTE_EXPORT_OPUS ? API_EXPORT_OPUS
                       : rq->t.route == API_ROUTE_WAVEFORM    ? API_EXPORT_WAVEFORM
                       : rq->t.route == API_ROUTE_SIPREC_META ? API_EXPORT_METADATA
                                                              : API_EXPORT_WAV,
                .has_stream = lq.has_stream,
                .stream = lq.stream,
                .mixed = lq.mixed,
                .points = lq.points,
            };
            return route_export(c, rq, &eo);
        }
    case API_ROUTE_NONE:
    case API_ROUTE_COUNT: break;
    }
    return respond_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such resource", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct api_req *rq = *req_cls;

    (void)cls;
    (void)url; /* already unescaped by MHD: we route on the raw target instead */
    (void)version;
    (void)upload_data;
    if (!rq)
        return MHD_NO;
    if (rq->answered) {
        *upload_data_size = 0; /* a body on GET: discard it, the answer is queued */
        return MHD_YES;
    }
    if (rq->export) /* resumed by the export worker: its first bytes are ready */
        return export_respond(c, rq);
    /* Answer only once the whole request, body included, has been read:
     * libmicrohttpd 0.9.75 closes the connection after a response queued on
     * the first call (the body might still be unread), and a new TLS
     * handshake per request cost more than everything else together. */
    if (!rq->headers_seen || *upload_data_size != 0) {
        if (!rq->headers_seen)
            admit_event(rq->srv, rq->slot, ADMIT_HEADERS);
        rq->headers_seen = true;
        *upload_data_size = 0; /* we take no request bodies */
        return MHD_YES;
    }
    return handle(c, rq, method);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct api_server *srv = cls;
    const union MHD_ConnectionInfo *ci;
    struct api_req *rq = calloc(1, sizeof(*rq));
    size_t n;

    if (!rq)
        return NULL;
    rq->srv = srv;
    n = uri ? strlen(uri) : 0;
    if (n > API_URI_MAX) {
        rq->target_too_long = true;
        n = 0;
    }
    memcpy(rq->target, uri ? uri : "", n);
    rq->target[n] = '\0';
    api_target_parse(slice_of(rq->target, n), &rq->t);
    memcpy(rq->who, "-", 2);
    rq->auth = "-";
    rq->req = atomic_fetch_add(&srv->next_req, 1) + 1;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    rq->slot = ci && ci->socket_context ? (int)(intptr_t)ci->socket_context - 1 : -1;
    memcpy(rq->client, "?", 2);
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                      rq->client, sizeof(rq->client));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      rq->client, sizeof(rq->client));
    }
    return rq;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_server *srv = cls;
    struct api_req *rq = *req_cls;
    bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    uint64_t bytes;

    (void)c;
    if (!rq)
        return;
    *req_cls = NULL;
    admit_event(srv, rq->slot, ADMIT_IDLE);
    if (rq->export)
        bytes = api_export_bytes(rq->export);
    else
        bytes = ok ? rq->body_bytes : 0; /* MHD does not say how much of a body left */
    if (rq->export && api_export_failed(rq->export))
        ok = false;
    if (rq->answered)
        api_metrics_count(&srv->metrics, rq->t.route, rq->status, bytes);
    if (rq->needs_auth) {
        struct api_access a = {
            .phase = API_ACCESS_DONE, .req = rq->req, .who = rq->who, .auth = rq->auth,
            .method = rq->method, .client = rq->client, .route = api_route_name(rq->t.route),
            .id = rq->id, .status = rq->status, .bytes = bytes, .completed = ok,
            .authn = rq->authn,
        };
        log_notice("access who=%s client=%s route=%s id=%s status=%u bytes=%" PRIu64 " %s",
                   api_log_escape(rq->who, strlen(rq->who), rq->who_log, sizeof(rq->who_log)), a.client, a.route, a.id[0] ? a.id : "-", a.status, a.bytes,
                   ok ? "complete" : "aborted");
        if (srv->cfg.audit)
            srv->cfg.audit(&a, srv->cfg.audit_arg);
    }
    api_export_release(rq->export);
    fetch_free(rq->fetch);
    free(rq);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("mhd: %s", line);
}

/* ------------------------------------------------------------- lifecycle */

static bool listen_parse(const char *s, struct sockaddr_storage *ss, bool *v6)
{
    struct slice in = slice_cstr(s), host, port;
    char h[INET6_ADDRSTRLEN];
    uint64_t p;
    long colon;

    memset(ss, 0, sizeof(*ss));
    if (in.len > 2 && in.p[0] == '[') {
        long close_br = slice_find(in, ']');
        if (close_br < 0 || (size_t)close_br + 1 >= in.len || in.p[close_br + 1] != ':')
            return false;
        host = slice_of(in.p + 1, (size_t)close_br - 1);
        port = slice_of(in.p + close_br + 2, in.len - (size_t)close_br - 2);
        *v6 = true;
    } else {
        colon = slice_find(in, ':');
        if (colon < 0)
            return false;
        host = slice_of(in.p, (size_t)colon);
        port = slice_of(in.p + colon + 1, in.len - (size_t)colon - 1);
        *v6 = false;
    }
    if (!slice_to_u64(port, 65535, &p) || !slice_copy_cstr(host, h, sizeof(h)))
        return false;
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)p);
        return inet_pton(AF_INET6, h, &a->sin6_addr) == 1;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)p);
        return inet_pton(AF_INET, h, &a->sin_addr) == 1;
    }
}

enum sr_err api_server_create(struct api_server **out, const struct api_server_cfg *cfg,
                              char *why, size_t whylen)
{
    struct api_server *srv;
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *di;
    unsigned flags;
    bool v6;
    enum sr_err err;

    if (!out || !cfg || !cfg->tokens || !cfg->index_path || !cfg->archive_dir ||
        !cfg->archive_cert ||
        !cfg->archive_key || (!cfg->plain_http && (!cfg->tls_cert_pem || !cfg->tls_key_pem)))
        return SR_EINVAL;
    if (!listen_parse(cfg->listen, &ss, &v6)) {
        snprintf(why, whylen, "listen '%s': expected ADDRESS:PORT or [IPv6]:PORT", cfg->listen);
        return SR_EINVAL;
    }
    srv = calloc(1, sizeof(*srv));
    if (!srv)
        return SR_ENOMEM;
    srv->cfg = *cfg;
    srv->cfg.tokens = NULL; /* srv->tokens holds them; the server owns them once create succeeds */
    srv->cfg.certs = NULL;
    srv->cfg.crl = NULL;
    if (pthread_rwlock_init(&srv->auth_lock, NULL) != 0) {
        err = SR_ENOMEM;
        goto fail;
    }
    srv->auth_lock_init = true;
    srv->n_ix = cfg->threads ? cfg->threads : 1;
    srv->ix = calloc(srv->n_ix, sizeof(*srv->ix));
    if (!srv->ix) {
        err = SR_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < srv->n_ix; i++) {
        if (pthread_mutex_init(&srv->ix[i].lock, NULL) != 0) {
            err = SR_ENOMEM;
            goto fail;
        }
        srv->ix[i].lock_init = true;
        err = stor_index_open(&srv->ix[i].ix, cfg->index_path);
        if (err) {
            char desc[256];
            snprintf(why, whylen, "index %s: %s",
                     stor_index_describe(cfg->index_path, desc, sizeof(desc)), sr_strerror(err));
            goto fail;
        }
    }

    if (pthread_mutex_init(&srv->admit_lock, NULL) != 0) {
        err = SR_ENOMEM;
        goto fail;
    }
    if (pthread_cond_init(&srv->admit_cond, NULL) != 0) {
        pthread_mutex_destroy(&srv->admit_lock);
        err = SR_ENOMEM;
        goto fail;
    }
    srv->admit_init = true;
    err = api_admit_create(&srv->admit, &(struct api_admit_cfg){
        .slots = cfg->max_connections,
        .reserved = cfg->reserved_connections,
        .header_deadline_us = (uint64_t)(cfg->header_timeout_s ? cfg->header_timeout_s : 10) *
                              1000000u,
    });
    srv->slot_fd = calloc(cfg->max_connections ? cfg->max_connections : 1, sizeof(int));
    if (err || !srv->slot_fd) {
        snprintf(why, whylen, "reserved-connections (%u) must be below max-connections (%u)",
                 cfg->reserved_connections, cfg->max_connections);
        err = err ? err : SR_ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < cfg->max_connections; i++)
        srv->slot_fd[i] = -1;
    if (pthread_create(&srv->sweeper, NULL, sweeper, srv) != 0) {
        err = SR_ENOMEM;
        goto fail;
    }
    srv->sweeper_started = true;

    /* Before MHD's threads start: they read these without a lock until a reload. */
    srv->tokens = cfg->tokens;
    srv->certs = cfg->certs;
    srv->crl = cfg->crl;
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME; /* exports park connections (export.c) */
    if (v6)
        flags |= MHD_USE_IPv6;
    if (!cfg->plain_http)
        flags |= MHD_USE_TLS;
    /* The HTTPS options travel in an MHD_OPTION_ARRAY so one call serves both
     * the TLS daemon and the lab's plain-HTTP one. */
    {
        struct MHD_OptionItem tls_opts[] = {
            { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)(uintptr_t)cfg->tls_key_pem },
            { MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)(uintptr_t)cfg->tls_cert_pem },
            /* TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1); TLS
             * 1.2 with ECDHE and AEAD only, like the SIP side
             * (SIPEV_TLS12_CIPHERS): no CBC, no SHA-1 MAC, no static RSA. */
            { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)API_TLS_PRIORITIES },
            /* With a trust store MHD asks for (GNUTLS_CERT_REQUEST), never
             * demands, a client certificate: tokens keep working, and
             * cert_identity() decides what a presented one is worth. */
            { cfg->client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
              (void *)(uintptr_t)cfg->client_ca_pem },
            { MHD_OPTION_END, 0, NULL },
        };
        struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };

        /* Before the workers exist: /metrics reads it from them. */
        srv->started = time(NULL);
        srv->mhd = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout_s,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_per_ip,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_URI_LOG_CALLBACK,
            on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_ARRAY,
            cfg->plain_http ? none : tls_opts, MHD_OPTION_END);
    }
    if (!srv->mhd) {
        srv->tokens = NULL; /* still the caller's: create failed */
        srv->certs = NULL;
        srv->crl = NULL;
        snprintf(why, whylen, "cannot listen on %s%s", cfg->listen,
                 cfg->plain_http ? "" : " (or TLS certificate/key rejected)");
        err = SR_EIO;
        goto fail;
    }
    di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;
    *out = srv;
    return SR_OK;
fail:
    api_server_destroy(srv);
    return err;
}

uint16_t api_server_port(const struct api_server *srv)
{
    return srv ? srv->port : 0;
}

void api_server_destroy(struct api_server *srv)
{
    if (!srv)
        return;
    if (srv->mhd) {
        /* MHD must not stop with a suspended connection; each export worker
         * resumes its own when it writes or finishes (bounded: 10 s). */
        for (int i = 0; i < 1000 && atomic_load(&srv->parked) != 0; i++)
            usleep(10 * 1000);
        MHD_stop_daemon(srv->mhd);
    }
    if (srv->sweeper_started) {
        pthread_mutex_lock(&srv->admit_lock);
        srv->stopping = true;
        pthread_cond_signal(&srv->admit_cond);
        pthread_mutex_unlock(&srv->admit_lock);
        pthread_join(srv->sweeper, NULL);
    }
    if (srv->admit_init) {
        pthread_cond_destroy(&srv->admit_cond);
        pthread_mutex_destroy(&srv->admit_lock);
    }
    api_admit_destroy(srv->admit);
    free(srv->slot_fd);
    for (size_t i = 0; srv->ix && i < srv->n_ix; i++) {
        if (srv->ix[i].ix)
            stor_index_close(srv->ix[i].ix);
        if (srv->ix[i].lock_init)
            pthread_mutex_destroy(&srv->ix[i].lock);
    }
    free(srv->ix);
    if (srv->auth_lock_init)
        pthread_rwlock_destroy(&srv->auth_lock);
    api_tokens_destroy(srv->tokens);
    api_certmap_destroy(srv->certs);
    api_crl_destroy(srv->crl);
    free(srv);
}

void api_server_swap_auth(struct api_server *srv, struct api_tokens *tokens,
                          struct api_certmap *certs, struct api_crl *crl)
{
    struct api_tokens *old_tokens;
    struct api_certmap *old_certs;
    struct api_crl *old_crl;

    pthread_rwlock_wrlock(&srv->auth_lock);
    old_tokens = srv->tokens;
    old_certs = srv->certs;
    old_crl = srv->crl;
    srv->tokens = tokens;
    srv->certs = certs;
    srv->crl = crl;
    pthread_rwlock_unlock(&srv->auth_lock);
    /* No reader can still hold the old pointers: they only exist inside the
     * read-locked checks, and the write lock waited for those. */
    api_tokens_destroy(old_tokens);
    api_certmap_destroy(old_certs);
    api_crl_destroy(old_crl);
}
