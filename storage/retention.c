/** @file retention.c  Deleting expired recordings: legal hold respected, every deletion logged.
 *
 * Order per recording: the row is claimed in the index (a conditional
 * update to "deleting" that fails if a hold is on), then the deletion record
 * is appended to the hash-chained log and fdatasynced, then the archive is
 * unlinked, then the index row is removed.  A crash in between leaves a
 * record of a deletion that did not (fully) happen and a row still
 * "deleting", and the next run claims and records it again: never a
 * deletion without its record.
 *
 * Why the claim: the search that finds expired rows and the unlink are
 * apart in time, and a legal hold set in between (by the API, another
 * process) was not seen by the row the search returned.  The claim puts
 * the decision in one statement of the index, which orders it with the
 * hold: whichever comes first wins, and a hold set after the claim is
 * refused (SR_ESTATE), so the API says so instead of holding a recording
 * that is about to go.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chainlog.h"
#include "log.h"
#include "stor.h"
#include "util.h"

enum { PAGE = 200 };

struct page {
    struct stor_record *recs;
    size_t n;
};

static bool take(const struct stor_record *rec, void *arg)
{
    struct page *pg = arg;

    if (pg->n < PAGE)
        pg->recs[pg->n++] = *rec;
    return true;
}


/* The archive of r: <archive_dir>/<id>.srec into path, and whether the
 * index's own path names that same file (the same name in the same
 * directory, however the directory was spelt). */
static bool archive_path(const struct stor_retention_cfg *cfg, const struct stor_record *r,
                         char *path, size_t len)
{
    char row[sizeof(r->path)], a[PATH_MAX], b[PATH_MAX], name[STOR_ID_HEX + 8];

    if ((size_t)snprintf(path, len, "%s/%s.srec", cfg->archive_dir, r->id) >= len)
        return false;
    if (strcmp(path, r->path) == 0)
        return true;
    snprintf(name, sizeof(name), "%s.srec", r->id);
    snprintf(row, sizeof(row), "%s", r->path);
    if (strcmp(basename(row), name) != 0)
        return false;
    snprintf(row, sizeof(row), "%s", r->path);
    return realpath(dirname(row), a) && realpath(cfg->archive_dir, b) && strcmp(a, b) == 0;
}

/* Whether the row's location names this recording's object: its key ends
 * in /<id>.srec or is <id>.srec.  Whoever can write the index could
 * otherwise aim retention's DELETE at any object of the bucket. */
static bool location_ok(const struct stor_record *r)
{
    char name[STOR_ID_HEX + 8];
    size_t n, ln = strlen(r->location);

    n = (size_t)snprintf(name, sizeof(name), "%s.srec", r->id);
    if (strncmp(r->location, "s3://", 5) != 0 || ln < n + 6 ||
        strcmp(r->location + ln - n, name) != 0)
        return false;
    return r->location[ln - n - 1] == '/';
}

/* Whether r may go: an archive that is not what the recorder sealed is
 * evidence of tampering, and deleting it would destroy it. */
static bool may_delete(const struct stor_retention_cfg *cfg, const struct stor_record *r,
                       const char *path, const char **authn, struct stor_retention_stats *st)
{
    struct stor_check_cfg cc = { cfg->signer_pub, r->id, r->sha256, cfg->ledger, NULL };
    char msg[768];
    enum stor_authn a;

    *authn = "";
    if (!cfg->signer_pub)
        return true;
    a = stor_archive_check(path, &cc, msg, sizeof(msg));
    *authn = stor_authn_name(a);
    if (a == STOR_AUTHN_OK || a == STOR_AUTHN_UNSIGNED || a == STOR_AUTHN_DELETED)
        return true;
    log_error("retention: recording %s kept: %s", r->id, msg);
    st->refused++;
    return false;
}

/* The store refused to delete r's copy because S3 Object Lock retains it
 * (why: until when): nothing was deleted.  The record appended before says
 * "delete", so a second one says it was not done, the claim goes back and
 * the run goes on (a locked object is kept by design, not a failure). */
static enum sr_err keep_locked(struct stor_index *ix, struct chainlog *cl,
                               const struct stor_record *r, const char *why,
                               struct stor_retention_stats *st, bool *kept)
{
    const struct chainlog_field f[] = {
        { "action", "keep" }, { "reason", "object-lock" }, { "id", r->id },
        { "location", r->location }, { "detail", why },
    };
    enum sr_err err;

    if ((err = chainlog_append(cl, 0, f, SR_ARRAY_LEN(f))))
        return err;
    if ((err = stor_index_put(ix, r)))
        return err;
    log_notice("retention: recording %s kept: its store copy %s is %s", r->id, r->location,
               why[0] ? why : "locked (Object Lock)");
    st->store_locked++;
    *kept = true;
    return SR_OK;
}

/* *kept: the claim was refused (held since the search), or the store's
 * Object Lock refused the deletion; nothing changed. */
static enum sr_err delete_one(struct stor_index *ix, struct chainlog *cl,
                              const struct stor_retention_cfg *cfg, const struct stor_record *r,
                              const char *path, const char *authn,
                              struct stor_retention_stats *st, bool *kept)
{
    char start[32], end[32], bytes[32], missing[8], sig[4200];
    bool present = access(path, F_OK) == 0;
    enum sr_err err;

    snprintf(start, sizeof(start), "%" PRIu64, r->call.start_wall_us);
    snprintf(end, sizeof(end), "%" PRIu64, r->end_wall_us);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, r->bytes);
    snprintf(missing, sizeof(missing), "%s", present ? "no" : "yes");
    const struct chainlog_field f[] = {
        { "action", "delete" },        { "reason", "retention" },
        { "id", r->id },               { "call_id", r->call.call_id },
        { "local", r->call.local_aor }, { "remote", r->call.remote_aor },
        { "start_us", start },         { "end_us", end },
        { "state", stor_state_name(r->state) }, { "bytes", bytes },
        { "path", path },              { "file_missing", missing },
        { "sha256", r->sha256 },       { "authn", authn },
        { "location", r->location },
    };
    if ((err = stor_index_claim_delete(ix, r->id))) {
        if (err != SR_ESTATE)
            return err;
        st->held++; /* held since the search: kept */
        st->claim_lost++;
        *kept = true;
        return SR_OK;
    }
    if ((err = chainlog_append(cl, 0, f, SR_ARRAY_LEN(f)))) {
        /* Not recorded: not deleted.  The claim goes back (the row as it
         * was; a put never touches the hold), so the row can be held. */
        if (stor_index_put(ix, r) != SR_OK)
            log_error("retention: recording %s stays 'deleting' until the next run", r->id);
        return err;
    }
    /* The store's copy before the local one: a crash in between leaves a
     * claimed row whose next run deletes what is left (DELETE of a missing
     * object is success). */
    if (r->location[0]) {
        char why[512] = "";
        err = cfg->store_delete(cfg->store_arg, r->location, why, sizeof(why));
        if (err == SR_ESTATE) /* Object Lock: the store keeps it; so does the index */
            return keep_locked(ix, cl, r, why, st, kept);
        if (err) {
            log_error("retention: recording %s: its store copy %s was not deleted: %s; the row "
                      "stays 'deleting' for the next run", r->id, r->location,
                      why[0] ? why : sr_strerror(err));
            return err;
        }
        st->store_deleted++;
    }
    if (present && unlink(path) != 0 && errno != ENOENT)
        return sr_err_from_errno(errno);
    /* Its signature goes with it (the ledger and this record keep the seal). */
    if ((size_t)snprintf(sig, sizeof(sig), "%s.sig", path) < sizeof(sig) && unlink(sig) != 0 &&
        errno != ENOENT)
        return sr_err_from_errno(errno);
    if ((err = stor_index_delete(ix, r->id)) && err != SR_ENOTFOUND)
        return err;
    st->deleted++;
    st->missing_files += present ? 0 : 1;
    return SR_OK;
}

enum sr_err stor_retention(struct stor_index *ix, const struct stor_retention_cfg *cfg,
                           struct stor_retention_stats *st)
{
    struct stor_retention_stats dummy;
    struct chainlog *cl = NULL;
    struct chainlog_cfg cc = { 0 };
    struct chainlog_verdict v;
    struct page pg = { 0 };
    char after[STOR_ID_HEX] = "";
    enum sr_err err = SR_OK;

    if (!st)
        st = &dummy;
    memset(st, 0, sizeof(*st));
    if (!ix || !cfg || !cfg->log_path || !cfg->archive_dir || !cfg->archive_dir[0] ||
        cfg->before_wall_us == 0)
        return SR_EINVAL;
    if (!cfg->dry_run) {
        cc.path = cfg->log_path;
        cc.tag = "DEL1";
        if ((err = chainlog_open(&cl, &cc, &v))) {
            log_debug("deletion log %s: %s", cfg->log_path, v.why ? v.why : sr_strerror(err));
            return err;
        }
    }
    pg.recs = malloc(PAGE * sizeof(*pg.recs));
    if (!pg.recs) {
        err = SR_ENOMEM;
        goto out;
    }
    for (;;) {
        struct stor_query q = { .to_wall_us = cfg->before_wall_us - 1, .limit = PAGE };
        bool progressed = false;
        pg.n = 0;
        /* The cursor is the last row kept: deleted rows are gone from the
         * table and cannot anchor it. */
        q.after_id = after[0] ? after : NULL;
        if ((err = stor_index_search(ix, &q, take, &pg)))
            break;
        for (size_t i = 0; i < pg.n && !err; i++) {
            const struct stor_record *r = &pg.recs[i];
            if (cfg->recorder && strcmp(r->recorder, cfg->recorder) != 0) {
                snprintf(after, sizeof(after), "%s", r->id); /* another box's row */
                progressed = true;
                continue;
            }
            bool keep = r->hold || r->state == STOR_STATE_RECORDING;
            if (r->hold)
                st->held++;
            const char *authn = "";
            char path[4200];
            if (!keep && !archive_path(cfg, r, path, sizeof(path))) {
                log_error("retention: recording %s kept: its index row names %s, not %s/%s.srec "
                          "(index tampered with?)", r->id, r->path, cfg->archive_dir, r->id);
                st->path_mismatch++;
                keep = true;
            }
            if (!keep && r->location[0] && !location_ok(r)) {
                log_error("retention: recording %s kept: its index row's location %s is not its "
                          "object (<id>.srec; index tampered with?)", r->id, r->location);
                st->path_mismatch++;
                keep = true;
            }
            if (!keep && r->location[0] && !cfg->store_delete) {
                st->store_kept++; /* deleting the row would orphan the store's copy */
                keep = true;
            }
            /* A store-only archive has no local file to check: the store's
             * copy was checked against the index hash when it was uploaded. */
            if (!keep && !(r->location[0] && access(path, F_OK) != 0) &&
                !may_delete(cfg, r, path, &authn, st))
                keep = true;
            if (!keep && cfg->dry_run) {
                st->deleted++; /* a dry run reports the same checks, changes nothing */
                keep = true;
            }
            if (keep) {
                snprintf(after, sizeof(after), "%s", r->id);
                progressed = true;
                continue;
            }
            bool kept = false;
            err = delete_one(ix, cl, cfg, r, path, authn, st, &kept);
            if (kept)
                snprintf(after, sizeof(after), "%s", r->id);
            progressed = true;
        }
        if (err || pg.n < PAGE || !progressed)
            break;
    }
out:
    free(pg.recs);
    chainlog_close(cl);
    return err;
}
