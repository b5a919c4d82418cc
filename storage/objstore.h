/** @file objstore.h  An S3 client for archives (libcurl, SigV4): PUT of a
 * file (one PUT, or a multipart upload for a large one), HEAD, ranged GET to
 * a callback, DELETE, and the Object Lock probe.
 *
 * Addressing is path-style, URL/BUCKET/KEY (what Swift's s3api and MinIO
 * take without DNS).  TLS verification is always on: the store's CA comes
 * from cfg.ca or the system's store; there is no switch to turn it off.
 * Every request is SigV4-signed with the real SHA-256 of its body in
 * x-amz-content-sha256 (the store checks it: BadDigest), so a body corrupted
 * on the way is refused by the store, and what the store says it got (its
 * ETag, the MD5 of the body or of the parts' MD5s) is compared with what was
 * sent before an upload counts as done.
 *
 * Retries: a request that fails with a connection error, a timeout, 500,
 * 502, 503 (SlowDown, ServiceUnavailable) or 504 is tried again up to
 * cfg.retries times, waiting min(backoff_max, backoff_min * 2^n) ms scaled
 * by a random factor in [0.5, 1) (full jitter would let two recorders' waits
 * meet again); a ranged GET resumes after the bytes it has already delivered.
 * Anything else (403, 404, a TLS failure, a wrong ETag) is final at once.
 *
 * One struct objstore belongs to one thread at a time (libcurl easy handles
 * are not shared); create one per thread.  The secret key is read from
 * cfg.access_key_file at create time, wiped at destroy, and never logged nor
 * put in any error message.
 *
 * Stable for the API's read side: objstore_head, objstore_get,
 * objstore_delete, struct objstore_info, struct objstore_status and the
 * location helpers do not change meaning; new fields are appended.
 */
#ifndef SR_OBJSTORE_H
#define SR_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/** Append only (values reach logs and metrics). */
enum objstore_err {
    OBJSTORE_OK = 0,
    OBJSTORE_EINVAL,     /**< caller broke the contract, or a bad configuration */
    OBJSTORE_ENOMEM,     /**< allocation failed */
    OBJSTORE_ECONNECT,   /**< could not connect, timed out or the connection broke (retried) */
    OBJSTORE_ETLS,       /**< TLS failed: certificate not verified, handshake refused (final) */
    OBJSTORE_EAUTH,      /**< 403: AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId */
    OBJSTORE_ENOTFOUND,  /**< 404: NoSuchKey, NoSuchBucket, NoSuchUpload */
    OBJSTORE_EBUSY,      /**< 5xx (503 SlowDown, ServiceUnavailable) after every retry */
    OBJSTORE_EINTEGRITY, /**< what the store confirmed is not what was sent, the store
                              said BadDigest, or the file's SHA-256 is not the expected one */
    OBJSTORE_ERANGE,     /**< 416: the range is outside the object */
    OBJSTORE_EPROTO,     /**< an answer that makes no sense (no UploadId, bad XML, no ETag) */
    OBJSTORE_EIO,        /**< the local file could not be read, or the data callback stopped */
    OBJSTORE_EREJECTED,  /**< another 4xx: the store refused the request for good */
};

/** A static string for err; never NULL. */
const char *objstore_strerror(enum objstore_err err);
/** Whether err may go away by itself (ECONNECT, EBUSY): the uploader keeps
 *  such an archive queued and tries again later; other errors also, but
 *  they are logged as needing an operator. */
bool objstore_err_transient(enum objstore_err err);

/** The detail of the last request's outcome, for a log line or a metric
 *  label.  Never holds a credential. */
struct objstore_status {
    long http;            /**< last HTTP status; 0 when none arrived */
    char code[64];        /**< the store's S3 error code ("SlowDown", "NoSuchKey"); "" if none */
    char message[256];    /**< the store's message, or libcurl's error text */
    char request_id[64];  /**< the store's request id, for its operator */
    unsigned attempts;    /**< requests made, retries included */
};

/** "503 SlowDown: Please reduce your request rate (after 4 attempts)" and
 *  the like, in buf (always terminated).  Returns buf. */
const char *objstore_status_text(const struct objstore_status *st, char *buf, size_t cap);

enum {
    OBJSTORE_PART_MIN = 5u << 20,     /**< S3's smallest part but the last */
    OBJSTORE_PART_DEFAULT = 8u << 20, /**< also the single-PUT threshold */
    OBJSTORE_PART_MAX = 512u << 20,   /**< one part is held in memory: bound it */
    OBJSTORE_MAX_PARTS = 10000,       /**< S3's limit */
    OBJSTORE_KEY_MAX = 1024,          /**< S3's key length limit */
};

/** The [store] section of srtprec.conf. */
struct objstore_cfg {
    char url[CONF_STR_MAX];             /**< https://host[:port][/path]; http:// only with lab_plain_http */
    char bucket[CONF_STR_MAX];          /**< S3 bucket (3-63 chars, [a-z0-9.-]) */
    char region[CONF_STR_MAX];          /**< SigV4 region; default us-east-1 */
    char access_key_file[CONF_STR_MAX]; /**< first line the access key, second the secret;
                                             mode 0600 or stricter, else refused */
    char ca[CONF_STR_MAX];              /**< CA file for the store's certificate; "" = system CAs */
    char prefix[CONF_STR_MAX];          /**< prepended to every object key the uploader makes */
    unsigned long part_size;            /**< bytes; files below it take one PUT */
    unsigned long retries;              /**< retries of one request (not counting the first) */
    unsigned long backoff_min_ms;       /**< first retry wait (before jitter) */
    unsigned long backoff_max_ms;       /**< cap on one wait */
    unsigned long timeout_s;            /**< one request: connect and stall limit (s) */
    bool lab_plain_http;                /**< allow http:// (tests only; the secret is still
                                             never sent, but the archives go in clear) */
    bool keep_local;                    /**< recorder: keep the local archive after its
                                             upload is confirmed (default: remove it) */
    unsigned long upload_retry_min_ms;  /**< recorder: first wait after a failed upload */
    unsigned long upload_retry_max_ms;  /**< recorder: longest wait between upload tries */
    unsigned long upload_threads;       /**< recorder: uploads in parallel (1-8) */
    char object_lock_mode[CONF_STR_MAX];/**< recorder: "governance" ("" too), "compliance" or
                                             "off": the mode of each upload's Object Lock
                                             retention when the bucket has Object Lock */
    unsigned long retention_days;       /**< recorder: an upload is locked until its
                                             recording's start + this many days (0: no
                                             per-object retention; the bucket's default,
                                             if any, applies) */
};

/** The conf items of [store] (for conf_load with section "store") and
 *  their count; defaults fill what the file leaves out. */
extern const struct conf_item objstore_conf_items[];
extern const size_t objstore_conf_n_items;
/** Read the [store] section of the file at path into cfg (no command-line
 *  overrides: the store's keys live in the file only).  SR_ENOTFOUND when
 *  the file has no url in [store] (no store configured); other errors with
 *  a one-line reason in why. */
enum sr_err objstore_cfg_load(struct objstore_cfg *cfg, const char *path, char *why, size_t whylen);

/** What a test or the uploader's unit tests may put in place of the real
 *  wait and randomness (NULL members: nanosleep, a PRNG seeded from the
 *  clock). */
struct objstore_hooks {
    void (*sleep_ms)(void *arg, unsigned ms);
    uint32_t (*random)(void *arg); /**< uniform 32 bits, for jitter */
    void *arg;
    /** Polled during a transfer and before each retry wait: true stops the
     *  request (OBJSTORE_ECONNECT, "cancelled"), so a daemon's stop never
     *  waits out a slow store.  NULL: never. */
    bool (*cancelled)(void *arg);
};

struct objstore;

/** Check cfg, read the key file (0600 enforced), set up libcurl (call
 *  curl_global_init once in main before any thread starts, or let the
 *  first create do it, which is not thread-safe).  hooks may be NULL.
 *  OBJSTORE_EINVAL with a reason in why for a bad configuration. */
enum objstore_err objstore_create(struct objstore **out, const struct objstore_cfg *cfg,
                                  const struct objstore_hooks *hooks, char *why, size_t whylen);
/** NULL-safe; wipes the secret. */
void objstore_destroy(struct objstore *s);

/** What HEAD (and a finished PUT) tell about an object. */
struct objstore_info {
    uint64_t size;        /**< Content-Length */
    char etag[80];        /**< without quotes: the MD5 hex, or "MD5-N" for a multipart upload */
    char sha256[65];      /**< x-amz-meta-sha256 as the uploader set it (hex); "" when absent */
    int64_t mtime;        /**< Last-Modified, Unix seconds; 0 when absent */
    char lock_mode[16];   /**< HEAD: x-amz-object-lock-mode ("GOVERNANCE"...); "" none */
    char lock_until[40];  /**< HEAD: x-amz-object-lock-retain-until-date as the store says it;
                               "" none */
};

/** HEAD BUCKET/KEY.  OBJSTORE_ENOTFOUND: no such object.  st may be NULL. */
enum objstore_err objstore_head(struct objstore *s, const char *key, struct objstore_info *info,
                                struct objstore_status *st);

/** Receives the body of a GET in order; return false to stop (the GET then
 *  fails with OBJSTORE_EIO). */
typedef bool objstore_data_fn(const void *data, size_t len, void *arg);

/** GET BUCKET/KEY, bytes [offset, offset + len) (len UINT64_MAX: to the
 *  end; offset 0 and len UINT64_MAX: no Range header).  Bytes reach fn in
 *  order, each exactly once, even across retries.  *total (may be NULL)
 *  receives the object's size when the store says it (Content-Range or
 *  Content-Length), else 0.  OBJSTORE_ERANGE: offset at or past the end. */
enum objstore_err objstore_get(struct objstore *s, const char *key, uint64_t offset, uint64_t len,
                               objstore_data_fn *fn, void *arg, uint64_t *total,
                               struct objstore_status *st);

/** DELETE BUCKET/KEY.  A missing object is OBJSTORE_OK (S3 answers 204 for
 *  it too): deleting is idempotent. */
enum objstore_err objstore_delete(struct objstore *s, const char *key, struct objstore_status *st);

/** Upload the file at path as BUCKET/KEY: one PUT when it is smaller than
 *  cfg.part_size, else a multipart upload in parts of cfg.part_size (an
 *  upload that fails is aborted, so the store keeps no orphan parts).  One
 *  part is in memory at a time.  The file's SHA-256 is computed on the way
 *  and, when sha256_hex is non-empty, must equal it (else
 *  OBJSTORE_EINTEGRITY and nothing is left in the store); it is stored as
 *  x-amz-meta-sha256.  Done means the store's ETag matched the MD5s sent.
 *  info (may be NULL) receives size, ETag and hash. */
enum objstore_err objstore_put_file(struct objstore *s, const char *key, const char *path,
                                    const char *sha256_hex, struct objstore_info *info,
                                    struct objstore_status *st);

/** S3 Object Lock retention for one upload. */
struct objstore_retain {
    const char *mode; /**< "GOVERNANCE" or "COMPLIANCE" (objstore_lock_mode_of) */
    int64_t until;    /**< retain until, Unix seconds (UTC) */
};
/** The S3 mode cfg.object_lock_mode names ("GOVERNANCE" for "" or
 *  "governance", "COMPLIANCE"), NULL for "off" or anything else. */
const char *objstore_lock_mode_of(const struct objstore_cfg *cfg);
/** until as S3 writes a retain-until date, "2027-01-31T12:00:00Z", in buf
 *  (at least 21 bytes; always terminated).  Returns buf. */
const char *objstore_lock_date(int64_t until, char *buf, size_t cap);

/** A retain-until date as S3 writes it ("2027-01-31T12:00:00Z", also with
 *  fractional seconds ".000Z") as Unix seconds; 0 when it is not one. */
int64_t objstore_lock_date_parse(const char *text);

/** Whether S3 Object Lock still retains key at now (Unix s): its HEAD names
 *  a retain-until date after now.  info (not NULL) receives the HEAD's
 *  answer (lock_mode, lock_until).  False also when the HEAD fails. */
bool objstore_retained(struct objstore *s, const char *key, int64_t now,
                       struct objstore_info *info);

/** objstore_put_file with Object Lock retention (rt NULL: none, the same
 *  as objstore_put_file): the PUT (or the multipart upload's initiation)
 *  carries x-amz-object-lock-mode and x-amz-object-lock-retain-until-date,
 *  which SigV4 signs like every header sent, and each body goes with
 *  Content-MD5, which S3 requires on an upload with a retention period.
 *  Only on a bucket whose objstore_lock_probe said enabled (a store without
 *  Object Lock refuses the headers: InvalidRequest). */
enum objstore_err objstore_put_file_retained(struct objstore *s, const char *key, const char *path,
                                             const char *sha256_hex,
                                             const struct objstore_retain *rt,
                                             struct objstore_info *info,
                                             struct objstore_status *st);

/** PUT BUCKET/KEY from memory (small objects, tests). */
enum objstore_err objstore_put_mem(struct objstore *s, const char *key, const void *data,
                                   size_t len, struct objstore_info *info,
                                   struct objstore_status *st);

/** PUT BUCKET (create the bucket; an existing bucket of ours is OK). */
enum objstore_err objstore_bucket_create(struct objstore *s, struct objstore_status *st);

/** The bucket's Object Lock configuration.  Swift's s3api answers
 *  GET ?object-lock with a plain listing (200) rather than an error, so
 *  only an ObjectLockConfiguration root element counts.  *enabled: the
 *  store holds the lock for this bucket (ObjectLockEnabled = Enabled);
 *  mode ("GOVERNANCE"/"COMPLIANCE"/"") and days of its default retention
 *  (0: none) when given. */
struct objstore_lock {
    bool enabled;
    char mode[16];
    unsigned days;
};
enum objstore_err objstore_lock_probe(struct objstore *s, struct objstore_lock *lock,
                                      struct objstore_status *st);

/** PUT BUCKET/KEY?legal-hold: the object's S3 Object Lock legal hold ON or
 *  OFF (with Content-MD5, which S3 requires there).  Only on a bucket whose
 *  objstore_lock_probe said enabled: Swift and other stores without Object
 *  Lock refuse or ignore it. */
enum objstore_err objstore_legal_hold(struct objstore *s, const char *key, bool on,
                                      struct objstore_status *st);

/** Receives one listed object; return false to stop (the listing then
 *  fails with OBJSTORE_EIO). */
typedef bool objstore_list_fn(const char *key, uint64_t size, void *arg);

/** ListObjectsV2 of the keys that start with prefix ("" or NULL: all), in
 *  the store's order (UTF-8 binary), paging by continuation token until the
 *  store says the listing is complete; each key reaches fn once.
 *  OBJSTORE_EPROTO: a page that objstore_list_parse refuses (malformed,
 *  over its bounds, a truncated page without a token), or more than
 *  1,000,000 pages (a store that never says it is done). */
enum objstore_err objstore_list(struct objstore *s, const char *prefix, objstore_list_fn *fn,
                                void *arg, struct objstore_status *st);

/** Where an object is, as the index records it: "s3://BUCKET/KEY". */
const char *objstore_location(const struct objstore *s, const char *key, char *buf, size_t cap);
/** The key of location if it names this store's bucket, else NULL (a row
 *  uploaded to another bucket, or no location). */
const char *objstore_location_key(const struct objstore *s, const char *location);

#endif
