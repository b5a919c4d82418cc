/** @file store_recover.h  Rebuilding index rows from the object store
 * (`srtprec recover --store`): for an index lost while the archives live
 * only in the store.
 *
 * Lists PREFIX<id>.srec objects (objstore_list) and, for each:
 * - a row with a location: skipped;
 * - a row without one (the uploader's location write was lost): the
 *   object's size (HEAD) must be the row's, and its x-amz-meta-sha256 the
 *   row's SHA-256 when both are known; the location is set;
 * - no row: the object is fetched into a private temporary file (0600 in
 *   $TMPDIR or /tmp, removed after), its SHA-256 checked against the
 *   x-amz-meta-sha256 the uploader stored, and indexed by
 *   stor_reconcile_file exactly as a local archive without a row is, the
 *   row naming ARCHIVE_DIR/<id>.srec (where the recorder kept it, so
 *   retention's path check holds), with the recorder-id given and, when the
 *   .sig object exists, the file's SHA-256 (what the writer records for a
 *   signed archive); then the location.
 * An archive whose `<id>.srec.sig` object is missing is counted unsigned
 * (a recorder without a signing key uploads none): not a failure.
 * Each failure is printed on stderr with its reason.
 */
#ifndef SR_STORE_RECOVER_H
#define SR_STORE_RECOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "objstore.h"
#include "stor.h"

struct store_recover_cfg {
    const char *prefix;      /**< the uploader's key prefix ([store] prefix) */
    const char *archive_dir; /**< the directory rows name as the archive's */
    const char *recorder;    /**< recorder-id for rows created; NULL: none */
    const char *tmp_dir;     /**< where fetched copies go; NULL: $TMPDIR or /tmp */
};

struct store_recover_stats {
    size_t listed;   /**< PREFIX<id>.srec objects */
    size_t created;  /**< rows created from a fetched archive */
    size_t located;  /**< rows that existed without a location and got it */
    size_t skipped;  /**< rows that had their location */
    size_t failed;   /**< archives left without a (located) row; reasons on stderr */
    size_t unsigned_; /**< archives without a .sig object */
};

/** SR_OK when the listing completed (st->failed may still be non-zero);
 *  SR_EAGAIN: the store failed transiently; SR_EIO: the listing failed
 *  otherwise (reason on stderr). */
enum sr_err store_recover(struct objstore *s, struct stor_index *ix,
                          const struct store_recover_cfg *cfg, struct store_recover_stats *st);

/** GET key into a fresh 0600 file in tmp_dir (NULL: $TMPDIR or /tmp),
 *  its path in tmp[0..cap) ("" when none was made; the caller removes it),
 *  its SHA-256 in hash, checked against the object's x-amz-meta-sha256 when
 *  the store has one; the file's mtime is the object's Last-Modified.
 *  false with a one-line reason in why. */
bool store_recover_fetch(struct objstore *s, const char *key, const char *tmp_dir, char *tmp,
                         size_t cap, char hash[65], char *why, size_t wl);

#endif
