/** @file keylog.c  The recorder's key log: a chainlog (common/chainlog.h)
 *  of "R1" records, one per call each time a key source delivered keys for
 *  it, from keyagents (NOTIFY) and SIPREC clients (INVITE, re-INVITE,
 *  UPDATE) alike:
 *
 *   R1 seq time via=keyagent|siprec source=IDENTITY call-id=... keys=... prev
 *
 * keys is "stream-id:keyid,..." with sr_key_id() values, as in the
 * keyagent's disclosure log ("D2", keyagent/disclog.c): the two logs use one
 * format and one verifier, so an auditor can match what a keyagent says it
 * disclosed to what the recorder says it received.  The recorder keeps its
 * own file because the keyagent's lives in another process, often on
 * another host, and SIPREC keys never pass through a keyagent.
 */
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "chainlog.h"
#include "daemon_priv.h"
#include "log.h"
#include "util.h"

struct rd_keylog {
    struct chainlog *cl;
    struct buf ids;
    bool failed;          /* an append failed: logged once */
};

enum sr_err rd_keylog_open(struct rd_keylog **out, const char *path)
{
    struct chainlog_cfg cfg = { .path = path, .tag = RD_KEYLOG_TAG, .sync = CHAINLOG_SYNC_BATCH };
    struct chainlog_verdict v;
    struct rd_keylog *l;
    enum sr_err err;

    if (!out || !path || !path[0])
        return SR_EINVAL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return SR_ENOMEM;
    err = chainlog_open(&l->cl, &cfg, &v);
    if (err) {
        if (err == SR_EAUTH)
            log_error("key-log %s: line %zu: %s; refusing to extend it", path, v.bad_line, v.why);
        else
            log_error("key-log %s: %s (%s)", path, sr_strerror(err), v.why);
        free(l);
        return err;
    }
    buf_init(&l->ids, CHAINLOG_LINE_MAX);
    log_notice("key-log %s: %llu records, head %s", path,
               (unsigned long long)chainlog_records(l->cl), chainlog_head(l->cl));
    *out = l;
    return SR_OK;
}

void rd_keylog_close(struct rd_keylog *l)
{
    if (!l)
        return;
    chainlog_close(l->cl);
    buf_fini(&l->ids);
    free(l);
}

void rd_keylog_body(struct rd_keylog *l, const char *via, const char *source,
                    const struct sipev_keybody *kb)
{
    if (!l)
        return;
    for (size_t i = 0; i < kb->n_dialogs; i++) {
        const struct sipev_dialog *d = &kb->dialogs[i];
        enum sr_err err;
        buf_reset(&l->ids);
        for (size_t s = 0; s < d->n_streams; s++)
            for (size_t k = 0; k < d->streams[s].n_keys; k++) {
                char id[17];
                const struct sipev_key *key = &d->streams[s].keys[k];
                sr_key_id(key->master, key->master_len, id);
                buf_printf(&l->ids, "%s%s:%s", l->ids.len ? "," : "", d->streams[s].id, id);
            }
        if (l->ids.len == 0)
            continue;
        {
            struct chainlog_field f[4] = {
                { "via", via }, { "source", source }, { "call-id", d->call_id },
                { "keys", l->ids.p },
            };
            err = chainlog_append(l->cl, sr_wall_us(), f, SR_ARRAY_LEN(f));
        }
        if (err && !l->failed) {
            l->failed = true;
            log_error("key-log: cannot append: %s (keys still applied; the log needs an "
                      "operator)", sr_strerror(err));
        }
    }
}

void rd_keylog_sync(struct rd_keylog *l)
{
    if (l && chainlog_sync(l->cl) != SR_OK && !l->failed) {
        l->failed = true;
        log_error("key-log: fdatasync failed");
    }
}

uint64_t rd_keylog_records(const struct rd_keylog *l)
{
    return l ? chainlog_records(l->cl) : 0;
}
