/** @file retention.c  Deleting expired recordings: legal hold respected, every deletion logged.
 *
 * Order per recording: the deletion record is appended to the hash-chained
 * log and fdatasynced, then the archive is unlinked, then the index row is
 * removed.  A crash in between leaves a record of a deletion that did not
 * (fully) happen, and the next run records it again: never a deletion
 * without its record.
 */
#include <errno.h>
#include <inttypes.h>
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


/* Whether r may go: an archive that is not what the recorder sealed is
 * evidence of tampering, and deleting it would destroy it. */
static bool may_delete(const struct stor_retention_cfg *cfg, const struct stor_record *r,
                       const char **authn, struct stor_retention_stats *st)
{
    struct stor_check_cfg cc = { cfg->signer_pub, r->id, r->sha256, cfg->ledger };
    char msg[768];
    enum stor_authn a;

    *authn = "";
    if (!cfg->signer_pub)
        return true;
    a = stor_archive_check(r->path, &cc, msg, sizeof(msg));
    *authn = stor_authn_name(a);
    if (a == STOR_AUTHN_OK || a == STOR_AUTHN_UNSIGNED || a == STOR_AUTHN_DELETED)
        return true;
    log_error("retention: recording %s kept: %s", r->id, msg);
    st->refused++;
    return false;
}

static enum sr_err delete_one(struct stor_index *ix, struct chainlog *cl,
                              const struct stor_record *r, const char *authn,
                              struct stor_retention_stats *st)
{
    char start[32], end[32], bytes[32], missing[8], sig[4200];
    bool present = access(r->path, F_OK) == 0;
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
        { "path", r->path },           { "file_missing", missing },
        { "sha256", r->sha256 },       { "authn", authn },
    };
    if ((err = chainlog_append(cl, 0, f, SR_ARRAY_LEN(f))))
        return err; /* not recorded: not deleted */
    if (present && unlink(r->path) != 0 && errno != ENOENT)
        return sr_err_from_errno(errno);
    /* Its signature goes with it (the ledger and this record keep the seal). */
    if ((size_t)snprintf(sig, sizeof(sig), "%s.sig", r->path) < sizeof(sig) && unlink(sig) != 0 &&
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
    if (!ix || !cfg || !cfg->log_path || cfg->before_wall_us == 0)
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
            bool keep = r->hold || r->state == STOR_STATE_RECORDING || cfg->dry_run;
            if (r->hold)
                st->held++;
            else if (cfg->dry_run && r->state != STOR_STATE_RECORDING)
                st->deleted++;
            const char *authn = "";
            if (!keep && !may_delete(cfg, r, &authn, st))
                keep = true;
            if (keep) {
                snprintf(after, sizeof(after), "%s", r->id);
                progressed = true;
                continue;
            }
            err = delete_one(ix, cl, r, authn, st);
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
