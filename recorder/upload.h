/** @file upload.h  The recorder's uploader: sealed archives to the object
 * store, on a thread of its own.
 *
 * The archive directory is the spool.  A sealed <id>.srec (and its
 * <id>.srec.sig) stays there until the store has confirmed it (the client
 * checks every part's ETag against the MD5 sent and the file's SHA-256
 * against the one the index holds, objstore.h); then the index row gets
 * the object's location (stor_index_set_location) and the local files are
 * removed, .sig first (keep-local: kept).  Nothing else records what is
 * pending: at start, rd_upl_scan queues every sealed archive in the
 * directory whose row has no location, so a kill -9 anywhere between seal
 * and removal only repeats an upload (a PUT of the same bytes) or a
 * removal.
 *
 * Failures: the store unreachable or failing (5xx, a connection error,
 * also 403 or a missing bucket, which an operator fixes) keeps the archive
 * queued and waits retry_min_ms doubling to retry_max_ms, times [0.5, 1),
 * before the next try; the oldest archive goes first and recording never
 * waits for any of it (the archive thread only appends to a bounded
 * queue under a mutex).  A file that no longer matches its index hash,
 * or cannot be read, is logged and left in the spool until the next start
 * (it needs a person, not a retry).  Memory is bounded by max_queue
 * entries (about 140 bytes each) and one part in the client; archives past
 * the bound stay in the spool and are found by a rescan once the queue
 * has drained.
 */
#ifndef REC_UPLOAD_H
#define REC_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "stor.h"

struct objstore;
struct objstore_cfg;
struct prom;

struct rd_upl_cfg {
    const char *archive_dir;
    const char *prefix;      /**< of every object key ("" none); keys are PREFIX<id>.srec */
    bool keep_local;
    size_t max_queue;        /**< 0: 4096 */
    unsigned retry_min_ms;   /**< 0: 1,000 */
    unsigned retry_max_ms;   /**< 0: 300,000 */
    unsigned threads;        /**< upload threads (0: 1, at most 8): each has its own store
                                  client and index connection; the oldest archive no
                                  thread is trying goes next */
    const char *index_spec;  /**< the index, for the connections of threads 2..N */
};

/** A monotonic clock in microseconds (tests inject one); NULL: sr_now_us. */
typedef uint64_t rd_upl_clock_fn(void *arg);

struct rd_upl;

/** Makes its own store client from scfg (why: the reason it refused
 *  scfg) and takes ownership of ix (an index connection of its own: the
 *  archive thread's is not shared; NULL on failure is fine, it is closed).
 *  With start_thread false nothing runs until the caller calls rd_upl_scan
 *  and rd_upl_step (unit tests: the first thread's work); with it, the
 *  first thread to find the queue empty scans. */
enum sr_err rd_upl_create(struct rd_upl **out, const struct rd_upl_cfg *cfg,
                          const struct objstore_cfg *scfg, struct stor_index *ix,
                          rd_upl_clock_fn *clock, void *clock_arg, bool start_thread, char *why,
                          size_t whylen);
/** Forget what the bucket's Object Lock probe said (SIGHUP): the next
 *  upload probes again.  Until a probe gets an answer nothing is uploaded.
 *  When the bucket has Object Lock and [store] retention-days is set, each
 *  object (.srec and .sig) is uploaded with object-lock-mode retention until
 *  its recording's start + retention-days (an archive without its index
 *  row waits for it).  NULL-safe. */
void rd_upl_reprobe(struct rd_upl *u);
/** Start the threads of an uploader made with start_thread false (tests
 *  that first put a fake HTTP edge under each store client). */
enum sr_err rd_upl_start(struct rd_upl *u);
/** Thread i's store client, NULL past the last (tests put a fake HTTP edge
 *  under it). */
struct objstore *rd_upl_store(struct rd_upl *u, size_t i);
/** Stops the thread (an upload in flight is cancelled), frees everything;
 *  what was pending stays in the spool for the next start.  NULL-safe. */
void rd_upl_destroy(struct rd_upl *u);

/** Queue a just-sealed archive (any thread; never blocks on I/O).
 *  sha256: its file hash in hex ("" unknown).  Past max_queue it is left
 *  to the rescan.  u NULL: nothing (no store configured). */
void rd_upl_enqueue(struct rd_upl *u, const char *id, const char *sha256);

/** Queue every sealed archive in the spool whose index row has no
 *  location (and is not queued already).  Returns how many were added. */
size_t rd_upl_scan(struct rd_upl *u);

/** One try of the oldest due archive (the thread's body; tests call it).
 *  Returns the clock time of the next due try, 0 when the queue is empty. */
uint64_t rd_upl_step(struct rd_upl *u);

struct rd_upl_stats {
    uint64_t ok;           /**< archives the store confirmed and the index records */
    uint64_t failed;       /**< tries that failed */
    uint64_t retried;      /**< tries of an archive whose last try failed */
    uint64_t pending;      /**< gauge: queued now (the one in flight included) */
    uint64_t oldest_us;    /**< gauge: how long the oldest queued one has waited */
    uint64_t spooled;      /**< archives past the queue bound, left to the rescan */
    uint64_t bytes;        /**< bytes uploaded (confirmed archives and signatures) */
};
/** Any thread; NULL-safe (zeros). */
void rd_upl_stats(struct rd_upl *u, struct rd_upl_stats *st);
/** srtprec_recorder_upload_* families (NULL-safe: nothing). */
void rd_upl_metrics(struct rd_upl *u, struct prom *p);

#endif
