/** @file store.h  The API's read side of the object store: archives whose
 *  index row has a location (issue 17 item 2).
 *
 * Two ways out, both on storage/objstore.h:
 *
 * - Raw downloads stream the object with ranged GETs (api_store_stream):
 *   the client's Range becomes the store's Range, and the bytes pass through
 *   a bounded buffer, never a disk.  Before the first byte, HEAD must agree
 *   with the index row (size, and the SHA-256 the uploader stored with the
 *   object against the row's), so a store copy that is not the sealed
 *   archive is refused.  The bytes themselves are what the client's reader
 *   authenticates (every chunk is AEAD; srtprec verify checks the whole).
 * - Exports need the whole archive through storage's path-based readers:
 *   api_store_fetch brings the object and its signature file into a private
 *   cache directory (0700, files 0600 from mkstemp), checks the file's
 *   SHA-256 against the row's before it is renamed into place, and the
 *   caller then runs the same stor_archive_check it runs on local files.
 *   The cache is capped in bytes and evicted least recently used first
 *   (mtime, touched on each hit); a file used in the last
 *   API_STORE_CACHE_GRACE_S seconds is not evicted (an export may be
 *   reading it), and a fetch that cannot make room is refused rather than
 *   going over the cap.
 *
 * The store's errors come back as enum sr_err: SR_EAGAIN the store is
 * unreachable or refused us (connection, TLS, 403, 5xx after retries: the
 * API's 503 store_unavailable), SR_ENOTFOUND no such object, SR_EAUTH the
 * object is not the archive the index records, SR_ENOSPC the cache cannot
 * hold it, SR_EIO the cache directory failed.  why gets the reason, with
 * the store's own status ("503 SlowDown ... after 4 attempts"), never a
 * credential.
 *
 * Thread-safe: each call makes its own objstore handle (a libcurl easy
 * handle belongs to one thread); a stream belongs to its connection.
 */
#ifndef API_STORE_H
#define API_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "objstore.h"
#include "stor.h"

enum { API_STORE_CACHE_GRACE_S = 30, API_STORE_STREAM_BUF = 1u << 20 };

struct api_store_cfg {
    struct objstore_cfg os;   /**< the [store] section (the recorder's uploader reads the same) */
    const char *cache_dir;    /**< created 0700 if missing; emptied at create */
    uint64_t cache_max_bytes; /**< the cap on the cached archives' bytes */
    /** Tests: called with every store client made (the fake HTTP edge goes
     *  under it, objstore_priv.h); NULL in the daemon. */
    void (*client_hook)(struct objstore *os, void *arg);
    void *hook_arg;
};

struct api_store;

/** Check the store's configuration (objstore_create once), create and empty
 *  the cache directory.  why gets a one-line reason. */
enum sr_err api_store_create(struct api_store **out, const struct api_store_cfg *cfg, char *why,
                             size_t whylen);
/** NULL-safe. */
void api_store_destroy(struct api_store *st);

/** The object key of rec's archive, or NULL when its row has no location in
 *  this store's bucket (not uploaded, or uploaded elsewhere) or the key does
 *  not end in <id>.srec (the uploader's PREFIX<id>.srec), so that an index
 *  row cannot point the API at another recording's object.  Points into rec. */
const char *api_store_key(const struct api_store *st, const struct stor_record *rec);

/** The archive of rec in the cache: a hit is touched, a miss fetched with
 *  ranged GETs and its SHA-256 checked (against the row's, else the one the
 *  uploader stored) before it is renamed into place, with <id>.srec.sig when
 *  the store has one.  path gets <cache_dir>/<id>.srec. */
enum sr_err api_store_fetch(struct api_store *st, const struct stor_record *rec, char *path,
                            size_t cap, char *why, size_t whylen);

/** rec's signature object (<key>.sig) into buf[0..cap): SR_OK with *len,
 *  SR_ENOTFOUND when the store has none, else as above. */
enum sr_err api_store_sig(struct api_store *st, const struct stor_record *rec, uint8_t *buf,
                          size_t cap, size_t *len, char *why, size_t whylen);

/** Whether rec's archive is in the cache now (a fetch would be a hit). */
bool api_store_cached(const struct api_store *st, const struct stor_record *rec);

/** A raw download of bytes [first, first + len) of rec's object. */
struct api_store_stream;
/** HEAD the object and check it against rec; *size gets the object's size.
 *  No GET yet: call api_store_stream_range, then read. */
enum sr_err api_store_stream_open(struct api_store *st, const struct stor_record *rec,
                                  struct api_store_stream **out, uint64_t *size, char *why,
                                  size_t whylen);
/** The bytes the reads will return (after the Range is known). */
void api_store_stream_range(struct api_store_stream *s, uint64_t first, uint64_t len);
/** Up to max bytes at body offset pos (what MHD's content reader asks):
 *  from the buffer, else one ranged GET of up to API_STORE_STREAM_BUF
 *  bytes.  -1 when the store failed mid-stream (counted; the transfer is
 *  cut, which the client sees as a short body). */
ssize_t api_store_stream_read(struct api_store_stream *s, uint64_t pos, char *buf, size_t max);
/** NULL-safe. */
void api_store_stream_free(struct api_store_stream *s);

/** Whether the bucket has S3 Object Lock (objstore_lock_probe at create;
 *  false when the probe failed, e.g. the store was down at start). */
bool api_store_has_lock(const struct api_store *st);
/** Put rec's object under the store's legal hold (on) or release it, as
 *  the index's hold changes: SR_OK done; SR_EUNSUPP the bucket has no
 *  Object Lock (Swift) or rec is not in the store: nothing to do, the
 *  index's hold is the only one; other errors as above (counted in
 *  hold_failed).  The index's hold is authoritative either way. */
enum sr_err api_store_legal_hold(struct api_store *st, const struct stor_record *rec, bool on,
                                 char *why, size_t whylen);

/** Counters for /metrics. */
struct api_store_stats {
    uint64_t requests;     /**< HEAD and GET requests made to the store (retries inside one
                                objstore call count once) */
    uint64_t bytes;        /**< object bytes received */
    uint64_t unavailable;  /**< calls that failed with the store unreachable or refusing */
    uint64_t not_found;    /**< objects the index named and the store did not have */
    uint64_t integrity;    /**< objects that were not what the index records */
    uint64_t cache_hits, cache_misses, cache_evictions, cache_full;
    uint64_t cache_bytes;  /**< bytes in the cache now */
    uint64_t holds, hold_failed; /**< Object Lock legal holds set or cleared, and failures */
};
void api_store_stats(struct api_store *st, struct api_store_stats *out);

#endif
