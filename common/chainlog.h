/** @file chainlog.h  Append-only, SHA-256 hash-chained record files.
 *
 * A chainlog is a text file of records, one per line, each linked to the one
 * before it by a hash, so that an edit, deletion, insertion or reordering of
 * any line is found by chainlog_verify().  It knows nothing about what is
 * recorded: callers pass named fields (the keyagent's disclosure log, the
 * API's access audit log).
 *
 * Line format (all ASCII, fields separated by one TAB, ending in LF):
 *
 *     TAG  SEQ  TIME  name=value ...  PREV
 *
 * - TAG: the caller's record type (e.g. "D2"), [A-Za-z0-9_-], 1..16 chars; a
 *   file holds one tag, and verify refuses lines with another.
 * - SEQ: decimal, 1 for the first line, +1 per line.
 * - TIME: RFC 3339 UTC with milliseconds ("2026-11-25T10:00:00.123Z").
 * - name=value: 0..CHAINLOG_FIELDS_MAX fields in the caller's order.  Names
 *   are [a-z0-9_-], 1..32 chars.  Values are escaped: every byte outside
 *   0x21..0x7e, and '%' itself, becomes "%XX" (upper-case hex), so no value
 *   can contain a TAB, LF or space and no value can forge a field or a line.
 *   chainlog_value_decode() reverses it.  An empty value is allowed ("name=").
 * - PREV: SHA-256, lower-case hex, of the previous line including its LF; the
 *   first line links to 64 '0'.
 *
 * The "head" is the hash of the last line (64 zeros for an empty file).
 * Deleting lines from the END leaves a valid chain; that is only detectable
 * against a head recorded elsewhere (another log, a ticket, a second host):
 * chainlog_verify() takes such an "anchor" and fails when the chain never
 * passes through it.
 *
 * Durability (fsync policy): with CHAINLOG_SYNC_EACH (the default) every
 * chainlog_append() has called fdatasync() before it returns SR_OK, so a
 * caller may release what the record covers (keys, a download) only after
 * SR_OK.  With CHAINLOG_SYNC_BATCH, chainlog_append() only write()s; the
 * caller calls chainlog_sync() before relying on the records (e.g. once per
 * loop iteration).  Each record is written with a single write() to an
 * O_APPEND fd; a crash mid-write can still leave a partial last line, which
 * verify reports ("truncated line") and chainlog_open() refuses to extend:
 * an operator decides (keep the file as evidence, start a new one).
 *
 * Concurrency: one writer per file.  chainlog_open() takes an exclusive
 * flock() and fails with SR_ESTATE if another process holds it.  A struct
 * chainlog is not thread-safe; readers (verify) may run at any time and see
 * whole lines up to the last complete write.
 *
 * Errors: SR_EINVAL (bad arguments, bad tag or field name), SR_ELIMIT (the
 * line would exceed CHAINLOG_LINE_MAX), SR_EIO (open/read/write/fsync; errno
 * logged at debug level), SR_EAUTH (broken chain), SR_ESTATE (locked by
 * another writer), SR_ENOMEM.
 */
#ifndef SR_CHAINLOG_H
#define SR_CHAINLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "slice.h"

enum {
    CHAINLOG_LINE_MAX = 4096,  /**< whole line, LF included */
    CHAINLOG_FIELDS_MAX = 32,  /**< name=value fields per record */
    CHAINLOG_NAME_MAX = 32,    /**< bytes in a field name */
    CHAINLOG_TAG_MAX = 16,     /**< bytes in a tag */
    CHAINLOG_HASH_HEX = 64,    /**< hex digits in a head / PREV */
};

enum chainlog_sync {
    CHAINLOG_SYNC_EACH = 0, /**< fdatasync inside every append (default) */
    CHAINLOG_SYNC_BATCH,    /**< the caller calls chainlog_sync() */
};

struct chainlog_cfg {
    const char *path;        /**< created mode 0640 if absent */
    const char *tag;         /**< record type written and expected */
    enum chainlog_sync sync;
};

/** One field of a record to append; value NULL is written as empty. */
struct chainlog_field {
    const char *name;
    const char *value; /**< NUL-terminated; any bytes (escaped on write) */
};

/** One parsed line (chainlog_line_parse): slices into the caller's line. */
struct chainlog_record {
    struct slice tag, seq, time, prev;
    struct slice name[CHAINLOG_FIELDS_MAX];
    struct slice value[CHAINLOG_FIELDS_MAX]; /**< still escaped */
    size_t n_fields;
};

/** Result of chainlog_verify(). */
struct chainlog_verdict {
    size_t records;                    /**< whole, valid lines read */
    size_t bad_line;                   /**< 1-based first bad line; 0 if none */
    const char *why;                   /**< static reason; "" when intact */
    char head[CHAINLOG_HASH_HEX + 1];  /**< hash of the last valid line */
};

struct chainlog;

/** Open (create) cfg->path for appending.  The whole existing file is
 *  verified first; its head becomes PREV of the next record.  SR_EAUTH: the
 *  file is not a valid chain of cfg->tag records, and nothing will be
 *  appended to it; v (if non-NULL) says where and why, for the caller to log
 *  (the library itself logs only at debug level).  *out untouched on
 *  failure. */
enum sr_err chainlog_open(struct chainlog **out, const struct chainlog_cfg *cfg,
                          struct chainlog_verdict *v);

/** Syncs if records are unsynced, closes, frees; NULL-safe. */
void chainlog_close(struct chainlog *cl);

/** Append one record.  wall_us: microseconds since the epoch (0 = now).
 *  fields[0..n) in order.  SR_EINVAL / SR_ELIMIT: nothing was written.
 *  SR_EIO from write(): part of the line may be on disk, and every later
 *  append returns SR_ESTATE (the file needs an operator).  SR_EIO from
 *  fdatasync: the line is written, not known durable; the head includes it
 *  and the object stays usable. */
enum sr_err chainlog_append(struct chainlog *cl, uint64_t wall_us,
                            const struct chainlog_field *fields, size_t n);

/** fdatasync if anything was appended since the last sync. */
enum sr_err chainlog_sync(struct chainlog *cl);

/** Records in the file (after open: existing + appended). */
uint64_t chainlog_records(const struct chainlog *cl);
/** The current head (64 hex digits, NUL-terminated); valid until the next
 *  append or close. */
const char *chainlog_head(const struct chainlog *cl);

/** Verify the whole file at path.  tag NULL accepts any tag, but the same
 *  for every line.  anchor (NULL = none): a head recorded earlier; the chain
 *  must pass through it, which catches lines removed from the end.
 *  SR_OK: intact.  SR_EAUTH: broken; v->bad_line and v->why say where and
 *  why (bad_line = records + 1 when only the anchor is missing).
 *  SR_EIO: cannot open or read (v->why says which). */
enum sr_err chainlog_verify(const char *path, const char *tag, const char *anchor,
                            struct chainlog_verdict *v);

/** Split one line (without its LF) into its parts; checks the syntax only,
 *  not the chain.  false, with *why set, on any defect. */
bool chainlog_line_parse(struct slice line, struct chainlog_record *rec, const char **why);

/** Undo the %XX escaping of a value into out (NUL-terminated).  false when
 *  out is too small or the escaping is malformed. */
bool chainlog_value_decode(struct slice value, char *out, size_t outlen, size_t *outlen_used);

#endif
