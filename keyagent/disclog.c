/** @file disclog.c  The disclosure log: a chainlog (common/chainlog.h) of
 *  "D2" records, one per (subscriber, call) each time a NOTIFY carried that
 *  call's keys:
 *
 *   D2 seq time subscriber=... subscription=... call-id=... version=N keys=... prev
 *
 * keys is "stream-id:keyid,..." with sr_key_id() values: the record says
 * which keys left without revealing them.  The notifier appends every record
 * of one loop iteration, then calls ka_disclog_sync() once before any NOTIFY
 * leaves (one fdatasync per iteration instead of one per record).
 */
#include <stdio.h>
#include <stdlib.h>

#include "chainlog.h"
#include "ka_priv.h"
#include "log.h"
#include "util.h"

struct ka_disclog {
    struct chainlog *cl;
};

enum sr_err ka_disclog_verify(const char *path, const char *anchor, struct chainlog_verdict *v)
{
    return chainlog_verify(path, KA_DISCLOG_TAG, anchor, v);
}

enum sr_err ka_disclog_open(struct ka_disclog **out, const char *path)
{
    struct chainlog_cfg cfg = { .path = path, .tag = KA_DISCLOG_TAG, .sync = CHAINLOG_SYNC_BATCH };
    struct chainlog_verdict v;
    struct ka_disclog *dl;
    enum sr_err err;

    if (!out || !path || !path[0])
        return SR_EINVAL;
    dl = calloc(1, sizeof(*dl));
    if (!dl)
        return SR_ENOMEM;
    err = chainlog_open(&dl->cl, &cfg, &v);
    if (err) {
        if (err == SR_EAUTH)
            log_error("disclosure log %s: line %zu: %s; refusing to extend it", path, v.bad_line,
                      v.why);
        else
            log_error("disclosure log %s: %s (%s)", path, sr_strerror(err), v.why);
        free(dl);
        return err;
    }
    log_notice("disclosure log %s: %llu records, head %s", path,
               (unsigned long long)chainlog_records(dl->cl), chainlog_head(dl->cl));
    *out = dl;
    return SR_OK;
}

void ka_disclog_close(struct ka_disclog *dl)
{
    if (!dl)
        return;
    if (dl->cl && chainlog_records(dl->cl))
        log_notice("disclosure log closed: %llu records, head %s",
                   (unsigned long long)chainlog_records(dl->cl), chainlog_head(dl->cl));
    chainlog_close(dl->cl);
    free(dl);
}

enum sr_err ka_disclog_append(struct ka_disclog *dl, uint64_t wall_us, const char *subscriber,
                              const char *subscription, const char *call_id, uint64_t version,
                              const char *key_ids)
{
    char ver[24];
    struct chainlog_field f[5] = {
        { "subscriber", subscriber }, { "subscription", subscription }, { "call-id", call_id },
        { "version", ver },           { "keys", key_ids },
    };

    if (!dl)
        return SR_EINVAL;
    snprintf(ver, sizeof(ver), "%llu", (unsigned long long)version);
    return chainlog_append(dl->cl, wall_us, f, SR_ARRAY_LEN(f));
}

enum sr_err ka_disclog_sync(struct ka_disclog *dl)
{
    return dl ? chainlog_sync(dl->cl) : SR_EINVAL;
}
