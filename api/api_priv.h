/** @file api_priv.h  srtprec-api internals: tokens, routing, query parsing, JSON, metrics.
 *
 * Everything here is pure (no sockets, no libmicrohttpd, no storage) so the
 * unit tests and the fuzz target exercise the same code the daemon runs.
 * The MHD glue lives in server.c and export.c.  Only api/ and tests/api/
 * include this header.
 */
#ifndef API_PRIV_H
#define API_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "slice.h"

/* ------------------------------------------------------------------ tokens */

/** Roles are a bit set; admin implies every other role. */
enum api_role {
    API_ROLE_LISTER = 1u << 0,    /**< list, metadata */
    API_ROLE_ARCHIVIST = 1u << 1, /**< encrypted archive download */
    API_ROLE_AUDITOR = 1u << 2,   /**< decrypted export */
    API_ROLE_ADMIN = 1u << 3,     /**< everything */
    API_ROLE_LEGAL = 1u << 4,     /**< "legal-hold": set and clear legal holds */
};

enum {
    API_TOKEN_NAME_MAX = 64,   /**< bytes of a principal name */
    API_TOKENS_MAX = 1024,     /**< entries in one tokens file */
    API_TOKEN_LINE_MAX = 1024, /**< bytes of one line */
    API_TOKEN_MAX = 512,       /**< bytes of a presented token */
    API_TOKEN_FILE_MAX = 1024 * 1024,
};

struct api_principal {
    char name[API_TOKEN_NAME_MAX + 1];
    unsigned roles; /**< enum api_role bits */
};

struct api_tokens; /* opaque: names, roles and SHA-256 hashes; immutable after load */

/** Parse a tokens file's contents: lines "<name> <role[,role]> sha256:<64 hex>",
 *  blank lines and '#' comments allowed.  Duplicate names or hashes, unknown
 *  roles and overlong lines are errors; why (>= 128 bytes) gets "line N: reason". */
enum sr_err api_tokens_parse(struct api_tokens **out, const char *text, size_t len, char *why,
                             size_t whylen);
/** Read and parse path (at most API_TOKEN_FILE_MAX bytes). */
enum sr_err api_tokens_load(struct api_tokens **out, const char *path, char *why, size_t whylen);
void api_tokens_destroy(struct api_tokens *t);
size_t api_tokens_count(const struct api_tokens *t);

/** Hash the presented token and compare it in constant time with every entry.
 *  SR_OK fills *who; SR_EAUTH if no entry matches (or the token is malformed). */
enum sr_err api_tokens_check(const struct api_tokens *t, struct slice token,
                             struct api_principal *who);

/** From an Authorization header value, the token of a "Bearer" credential
 *  (RFC 6750 section 2.1: scheme case-insensitive, b64token syntax).  false if
 *  the header is absent, another scheme, or malformed. */
bool api_bearer_parse(const char *header, struct slice *token);

/** Parse a role list "lister,auditor" into bits; false on an unknown role or empty list. */
bool api_roles_parse(struct slice s, unsigned *roles);
/** true if roles grants need (admin grants everything). */
bool api_roles_allow(unsigned roles, unsigned need);

/** A tokens-file line for name/roles/token into out (>= 256 bytes); false if
 *  name or roles are invalid or the token empty or too long. */
bool api_token_line(const char *name, const char *roles, struct slice token, char *out,
                    size_t outlen);

/* ---------------------------------------------------- client certificates */

enum {
    API_CERT_ID_MAX = 255,    /**< bytes of an identity (a subjectAltName value) */
    API_CERTS_MAX = 1024,     /**< entries in one client-certs file */
};

/** Identities of verified client certificates and their roles; immutable
 *  after load, so MHD's threads read it without a lock. */
struct api_certmap;

/** Parse a client-certs file's contents: lines "<identity> <role[,role]>",
 *  blank lines and '#' comments allowed.  The identity is a subjectAltName
 *  value as it appears in the certificate (URI, email or DNS name: 1 to
 *  API_CERT_ID_MAX printable ASCII bytes, no space); duplicates, unknown roles
 *  and overlong lines are errors; why gets "line N: reason". */
enum sr_err api_certmap_parse(struct api_certmap **out, const char *text, size_t len, char *why,
                              size_t whylen);
/** Read and parse path (at most API_TOKEN_FILE_MAX bytes). */
enum sr_err api_certmap_load(struct api_certmap **out, const char *path, char *why,
                             size_t whylen);
void api_certmap_destroy(struct api_certmap *m);
size_t api_certmap_count(const struct api_certmap *m);
/** Roles of identity; SR_ENOTFOUND if it is not listed. */
enum sr_err api_certmap_find(const struct api_certmap *m, struct slice identity, unsigned *roles);

/* ------------------------------------------------------------------ routes */

enum api_route {
    API_ROUTE_NONE = 0, /**< no such path: 404 */
    API_ROUTE_HEALTHZ,
    API_ROUTE_METRICS,
    API_ROUTE_LIST,     /**< /v1/recordings */
    API_ROUTE_META,     /**< /v1/recordings/{id} */
    API_ROUTE_ARCHIVE,  /**< /v1/recordings/{id}/archive */
    API_ROUTE_EXPORT,   /**< /v1/recordings/{id}/export.wav */
    API_ROUTE_HOLD,     /**< /v1/recordings/{id}/legal-hold (PUT on, DELETE off) */
    API_ROUTE_AUDIT,    /**< /v1/audit */
    API_ROUTE_WEB,      /**< / and /ui/<file>: the auditor web page (public) */
    API_ROUTE_EXPORT_OGG, /**< /v1/recordings/{id}/export.ogg: the decrypted Ogg as recorded */
    API_ROUTE_LIVEZ,    /**< /livez: the process answers (liveness; /healthz is readiness) */
    API_ROUTE_EXPORT_OPUS, /**< /v1/recordings/{id}/export.opus: one Opus stream as Ogg Opus */
    API_ROUTE_WAVEFORM, /**< /v1/recordings/{id}/waveform: per-stream peaks (JSON) */
    API_ROUTE_ME,       /**< /v1/me: the caller's identity, roles and what they allow */
    API_ROUTE_ACCESS,   /**< /v1/recordings/{id}/access: the recording's access history */
    API_ROUTE_SIPREC_META, /**< /v1/recordings/{id}/metadata: RFC 7865 documents, streams */
    API_ROUTE_COUNT
};

enum { API_ID_HEX = 32, API_URI_MAX = 4096, API_DL_NAME_MAX = 96 };

/** The result of splitting a request target.  Slices point into the target. */
struct api_target {
    enum api_route route;
    struct slice path;  /**< before '?' */
    struct slice query; /**< after '?', possibly empty */
    struct slice id;    /**< the {id} segment as sent (not yet validated) */
    struct slice file;  /**< API_ROUTE_WEB: the file name after /ui/ ("" for /) */
};

/** Split a raw request-target ("/v1/recordings/ab..?x=y") and match its path.
 *  Never fails: an unknown path gives API_ROUTE_NONE. */
void api_target_parse(struct slice target, struct api_target *t);
/** The route's name as used in metrics and logs ("list", "export", ...). */
const char *api_route_name(enum api_route r);
/** Role a route needs; 0 for unauthenticated routes; API_ROLE_* otherwise. */
unsigned api_route_role(enum api_route r);
/** true if id is exactly 32 lower-case hex digits. */
bool api_id_valid(struct slice id);

/* ------------------------------------------------------------------- query */

enum { API_PARAM_MAX = 256, API_PARAMS_MAX = 16, API_LIMIT_MAX = 1000, API_LIMIT_DEFAULT = 100 };

/** party_match (the values of storage's enum stor_party_match). */
enum api_party_match { API_PARTY_EXACT = 0, API_PARTY_PREFIX, API_PARTY_SUBSTRING };

/** The listing's filters, decoded.  Strings are NUL-terminated copies. */
struct api_list_query {
    uint64_t from_wall_us, to_wall_us; /**< 0 = open */
    char party[API_PARAM_MAX];         /**< "" = any */
    char call_id[API_PARAM_MAX];       /**< "" = any */
    char after[API_ID_HEX + 1];        /**< "" = from the start */
    size_t limit;                      /**< 1..API_LIMIT_MAX */
    uint64_t after_seq;                /**< /v1/audit cursor: records after this seq */
    char recording[API_ID_HEX + 1];    /**< /v1/audit: records of this recording id; "" = any */
    char who[API_PARAM_MAX];           /**< /v1/audit: records of this identity; "" = any */
    bool csv;                          /**< /v1/audit: format=csv */
    bool newest_first;                 /**< /v1/recordings: sort=-start */
    bool has_stream;                   /**< exports: stream=N given */
    unsigned stream;                   /**< exports: that stream alone (0..1023) */
    bool mixed;                        /**< export.wav: layout=mixed (one channel, all summed) */
    unsigned points;                   /**< waveform: buckets, 1..STOR_WAVE_POINTS_MAX */
    enum api_party_match party_match;  /**< /v1/recordings: party_match */
    bool done_only;                    /**< access history: ev=done records only (not a parameter) */
    char hold_case[128];               /**< PUT legal-hold: case */
    char hold_reason[API_PARAM_MAX];   /**< PUT legal-hold: reason */
};

enum { API_WAVE_POINTS_DEFAULT = 800, API_WAVE_POINTS_MAX = 4000 /* STOR_WAVE_POINTS_MAX */ };

/** What went wrong with a query string, for the JSON error body. */
struct api_query_err {
    char param[65];  /**< the offending parameter name, printable ASCII, maybe truncated */
    const char *why; /**< static reason */
    bool token_in_url; /**< a credential was sent in the query string */
};

/** Decode a raw (still percent-encoded) query string.  allowed selects the
 *  route's parameters: the listing takes from/to/party/party_match/call_id/after/limit/sort,
 *  legal-hold case and reason, access after (a seq) and limit,
 *  the audit query after (a decimal seq), limit, from/to (the record's
 *  time), recording, who and format (json|csv); export.wav stream=N or
 *  layout=stereo|mixed, export.ogg and export.opus stream=N (export.opus:
 *  default the first Opus stream), waveform points (1..4000, default 800);
 *  every other route none.  SR_OK or SR_EPARSE with *e filled. */
enum sr_err api_query_parse(struct slice query, enum api_route route, struct api_list_query *q,
                            struct api_query_err *e);

/* from and to take sr_time_parse's grammar (util.h): to is inclusive, so a
 * bare date as to means the end of that day. */

/* -------------------------------------------------------------------- json */

/** A JSON string that never fails on bytes that are not UTF-8 (they become '?'). */
json_t *api_json_str(const char *s);
/** {"error": code, "message": msg[, "param": param]} as compact text; caller frees. */
char *api_json_error(const char *code, const char *msg, const char *param);

/* ------------------------------------------------------------------- range */

enum { API_RANGE_MAX = 1024, API_ETAGS_MAX = 32 };

/** What to do with a Range header (RFC 9110 section 14.2). */
enum api_range {
    API_RANGE_IGNORE = 0,    /**< absent, malformed, several ranges, other unit: send 200 */
    API_RANGE_PARTIAL,       /**< one satisfiable range: 206 with *first, *len */
    API_RANGE_UNSATISFIABLE, /**< 416 with Content-Range: bytes (star)/size */
};

/** Parse a Range header value against a representation of size bytes.
 *  "bytes=a-b", "bytes=a-", "bytes=-n" only; values over API_RANGE_MAX bytes
 *  are ignored.  On API_RANGE_PARTIAL, 1 <= *len and *first + *len <= size. */
enum api_range api_range_parse(struct slice h, uint64_t size, uint64_t *first, uint64_t *len);

/** true if the If-None-Match / If-Range value h lists etag (a quoted string,
 *  quotes included).  strong: the strong comparison of If-Range (weak tags and
 *  "*" never match); otherwise the weak comparison of If-None-Match ("*"
 *  matches).  Malformed lists match nothing; at most API_ETAGS_MAX tags. */
bool api_etag_list_match(struct slice h, struct slice etag, bool strong);

/* ----------------------------------------------------------------- metrics */

enum { API_STATUS_SLOTS = 12 };

/** Counters shared by MHD's threads; lock-free. */
struct api_metrics {
    _Atomic uint64_t requests[API_ROUTE_COUNT][API_STATUS_SLOTS];
    _Atomic uint64_t bytes[API_ROUTE_COUNT];
    _Atomic uint64_t auth_fail;
};

void api_metrics_count(struct api_metrics *m, enum api_route r, unsigned status, uint64_t bytes);
/** Prometheus text exposition format 0.0.4 into b. */
enum sr_err api_metrics_render(struct api_metrics *m, struct buf *b);

/* ------------------------------------------------------------ log escaping */

/** Copy len bytes of s into out (NUL-terminated, cut to fit) with every byte
 *  outside printable ASCII, and the backslash, written as \xHH: a peer's
 *  certificate SAN or header cannot forge a log line or a terminal escape.
 *  outlen >= 1; 4 * len + 1 bytes always suffice.  Returns out. */
char *api_log_escape(const char *s, size_t len, char *out, size_t outlen);

/* ----------------------------------------------------------- archive paths */

/** The archive of recording id under dir: "<dir>/<id>.srec", exactly as the
 *  recorder names it (recorder/archive.c).  Trailing slashes of dir are
 *  ignored.  false if id is not 32 lower-case hex digits or out is too small. */
bool api_archive_path(const char *dir, struct slice id, char *out, size_t outlen);

/* --------------------------------------------------------------- admission */

/** Connection admission against slowloris and idle floods.  libmicrohttpd's
 *  connection-timeout restarts with every byte, so a client sending one
 *  header byte a second holds its slot forever; this table gives each
 *  connection a deadline for a complete request head (counted from accept,
 *  TLS handshake included, and for later requests from the end of the
 *  previous response) that no trickle extends, and keeps `reserved` slots
 *  that only connections which have authenticated may fill.  Pure: the
 *  caller passes the time and closes what it is told to; not thread-safe
 *  (the server holds a lock). */
struct api_admit;

struct api_admit_cfg {
    unsigned slots;              /**< = MHD's connection limit (1..10000) */
    unsigned reserved;           /**< < slots: room only trusted connections may hold */
    uint64_t header_deadline_us; /**< accept (or last response end) to complete headers */
};

enum sr_err api_admit_create(struct api_admit **out, const struct api_admit_cfg *cfg);
void api_admit_destroy(struct api_admit *a);
/** A new connection at now.  Returns its slot, or -1 if every slot is taken
 *  (close it).  *evict gets a slot the caller must close now, or -1: when
 *  untrusted connections exceed slots - reserved, the one waiting longest
 *  for its request head goes (the newcomer is never the one evicted). */
int api_admit_open(struct api_admit *a, uint64_t now_us, int *evict);
/** The request head of slot is complete: no deadline while it is served. */
void api_admit_headers(struct api_admit *a, int slot);
/** Slot authenticated: exempt from the deadline and from eviction. */
void api_admit_trust(struct api_admit *a, int slot);
/** The response on slot ended at now: the next request head is due by
 *  now + deadline (untrusted connections only). */
void api_admit_idle(struct api_admit *a, int slot, uint64_t now_us);
/** The connection of slot is gone; the slot is free again. */
void api_admit_close(struct api_admit *a, int slot);
/** Slots past their deadline at now (each reported once), at most max into
 *  out; returns how many. */
size_t api_admit_expired(struct api_admit *a, uint64_t now_us, int *out, size_t max);
/** Connections open, and of those untrusted (for metrics and tests). */
void api_admit_counts(const struct api_admit *a, unsigned *open, unsigned *untrusted);

#endif
