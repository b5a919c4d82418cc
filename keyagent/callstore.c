/** @file callstore.c  The calls, streams and keys that endpoints disclosed.
 *
 * The only long-lived home of key material in the keyagent.  A call lives
 * from CALL until the flush after its END: it is reported "ended" in exactly
 * one NOTIFY, then wiped and forgotten.  Signalling is low-rate and calls are
 * bounded (max_calls <= SIPEV_MAX_DIALOGS), so a linear search is enough.
 */
#include <stdlib.h>
#include <string.h>

#include "harden.h"
#include "ka_priv.h"
#include "util.h"

struct ka_call {
    struct sipev_dialog d; /* owned copy; keys wiped on forget */
    bool changed;          /* since the last settle */
};

struct ka_callstore {
    struct ka_call **calls;
    size_t n, max;
    struct sr_secpool *pool;     /* the calls (keys): not in cores, mlock'ed, wiped */
    ka_release_fn *release_hook; /* tests: sees each call's memory just before free() */
    void *release_arg;
    bool changed;
};

enum sr_err ka_callstore_create(struct ka_callstore **out, size_t max_calls)
{
    struct ka_callstore *cs;

    if (!out || max_calls == 0 || max_calls > SIPEV_MAX_DIALOGS)
        return SR_EINVAL;
    cs = calloc(1, sizeof(*cs));
    if (!cs)
        return SR_ENOMEM;
    cs->calls = calloc(max_calls, sizeof(*cs->calls));
    if (!cs->calls || sr_secpool_create(&cs->pool, sizeof(struct ka_call), "keyagent calls")) {
        ka_callstore_destroy(cs);
        return SR_ENOMEM;
    }
    cs->max = max_calls;
    *out = cs;
    return SR_OK;
}

static void call_forget(struct ka_callstore *cs, struct ka_call *c)
{
    if (!c)
        return;
    sr_wipe(c, sizeof(*c));
    if (cs->release_hook)
        cs->release_hook(c, sizeof(*c), cs->release_arg);
    sr_secpool_free(cs->pool, c);
}

void ka_callstore_set_release_hook(struct ka_callstore *cs, ka_release_fn *fn, void *arg)
{
    if (!cs)
        return;
    cs->release_hook = fn;
    cs->release_arg = arg;
}

void ka_callstore_destroy(struct ka_callstore *cs)
{
    if (!cs)
        return;
    for (size_t i = 0; i < cs->n; i++)
        call_forget(cs, cs->calls[i]);
    free(cs->calls);
    sr_secpool_destroy(cs->pool);
    free(cs);
}

static struct ka_call *call_find(const struct ka_callstore *cs, const char *call_id)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->calls[i]->d.call_id, call_id) == 0)
            return cs->calls[i];
    return NULL;
}

static struct sipev_stream *stream_find(struct ka_call *c, const char *id)
{
    for (size_t i = 0; i < c->d.n_streams; i++)
        if (strcmp(c->d.streams[i].id, id) == 0)
            return &c->d.streams[i];
    return NULL;
}

static enum sr_err call_add(struct ka_callstore *cs, const struct ka_cmd *cmd, uint64_t now,
                            const char **why)
{
    struct ka_call *c;

    /* "call exists" and "stream exists" are stable (docs/protocol.md): a
     * client re-disclosing after a reconnect takes them as "already known". */
    if (call_find(cs, cmd->call_id))
        return (*why = "call exists"), SR_ESTATE;
    if (cs->n == cs->max)
        return (*why = "too many calls"), SR_ELIMIT;
    c = sr_secpool_alloc(cs->pool);
    if (!c)
        return (*why = "out of memory"), SR_ENOMEM;
    /* Same sizes on both sides (ka_priv.h mirrors sipev.h), so these fit. */
    memcpy(c->d.call_id, cmd->call_id, sizeof(c->d.call_id));
    memcpy(c->d.local_tag, cmd->local_tag, sizeof(c->d.local_tag));
    memcpy(c->d.remote_tag, cmd->remote_tag, sizeof(c->d.remote_tag));
    memcpy(c->d.local_aor, cmd->local_aor, sizeof(c->d.local_aor));
    memcpy(c->d.remote_aor, cmd->remote_aor, sizeof(c->d.remote_aor));
    /* A start the client gave (a late disclosure), never in the future. */
    c->d.start_wall_us = cmd->start_wall_us && cmd->start_wall_us < now ? cmd->start_wall_us : now;
    c->d.state = SIPEV_DIALOG_ACTIVE;
    c->changed = true;
    cs->calls[cs->n++] = c;
    return SR_OK;
}

enum sr_err ka_callstore_apply(struct ka_callstore *cs, const struct ka_cmd *cmd,
                               uint64_t now_wall_us, const char **why)
{
    struct ka_call *c;
    struct sipev_stream *st;
    const char *dummy;

    if (!why)
        why = &dummy;
    if (!cs || !cmd)
        return (*why = "invalid argument"), SR_EINVAL;
    if (cmd->type == KA_CMD_PING || cmd->type == KA_CMD_VERSION)
        return SR_OK;
    if (cmd->type == KA_CMD_CALL) {
        enum sr_err err = call_add(cs, cmd, now_wall_us, why);
        if (!err)
            cs->changed = true;
        return err;
    }
    c = call_find(cs, cmd->call_id);
    if (!c)
        return (*why = "no such call"), SR_ENOTFOUND;
    if (c->d.state == SIPEV_DIALOG_ENDED)
        return (*why = "call ended"), SR_ESTATE;

    switch (cmd->type) {
    case KA_CMD_STREAM:
        if (stream_find(c, cmd->stream.id))
            return (*why = "stream exists (use REKEY)"), SR_ESTATE;
        if (c->d.n_streams == SIPEV_MAX_STREAMS)
            return (*why = "too many streams in call"), SR_ELIMIT;
        c->d.streams[c->d.n_streams++] = cmd->stream;
        break;
    case KA_CMD_REKEY:
        st = stream_find(c, cmd->stream.id);
        if (!st)
            return (*why = "no such stream"), SR_ENOTFOUND;
        sr_wipe(st->keys, sizeof(st->keys));
        memcpy(st->keys, cmd->stream.keys, sizeof(st->keys));
        st->n_keys = cmd->stream.n_keys;
        if (cmd->rekey_has_position) {
            st->roc = cmd->stream.roc;
            st->roc_unknown = cmd->stream.roc_unknown;
            st->seq = cmd->stream.seq;
        }
        break;
    case KA_CMD_PAUSE:
    case KA_CMD_RESUME:
        st = stream_find(c, cmd->stream.id);
        if (!st)
            return (*why = "no such stream"), SR_ENOTFOUND;
        /* Idempotent: an endpoint retrying after a lost answer must not fail. */
        if (st->state == (cmd->type == KA_CMD_PAUSE ? SIPEV_STREAM_PAUSED : SIPEV_STREAM_ACTIVE))
            return SR_OK;
        st->state = cmd->type == KA_CMD_PAUSE ? SIPEV_STREAM_PAUSED : SIPEV_STREAM_ACTIVE;
        break;
    case KA_CMD_END:
        c->d.state = SIPEV_DIALOG_ENDED;
        for (size_t i = 0; i < c->d.n_streams; i++)
            c->d.streams[i].state = SIPEV_STREAM_ENDED;
        break;
    case KA_CMD_CALL:
    case KA_CMD_PING:
    case KA_CMD_VERSION:
        break;
    }
    c->changed = true;
    cs->changed = true;
    return SR_OK;
}

size_t ka_callstore_count(const struct ka_callstore *cs)
{
    return cs ? cs->n : 0;
}

const struct sipev_dialog *ka_callstore_find(const struct ka_callstore *cs, const char *call_id)
{
    struct ka_call *c = cs && call_id ? call_find(cs, call_id) : NULL;
    return c ? &c->d : NULL;
}

bool ka_callstore_changed(const struct ka_callstore *cs)
{
    return cs && cs->changed;
}

enum sr_err ka_callstore_fill(const struct ka_callstore *cs, struct sipev_keybody *kb, bool full,
                              const struct ka_filter *f1, const struct ka_filter *f2)
{
    if (!cs || !kb)
        return SR_EINVAL;
    for (size_t i = 0; i < cs->n; i++) {
        const struct ka_call *c = cs->calls[i];
        struct sipev_dialog *d;
        enum sr_err err;

        if (!full && !c->changed)
            continue;
        /* The allow-list filter and the subscriber's own narrowing both
         * apply: a body can narrow a subscription, never widen it. */
        if ((f1 && !ka_filter_match(f1, &c->d)) || (f2 && !ka_filter_match(f2, &c->d)))
            continue;
        err = sipev_keybody_add_dialog(kb, &d);
        if (err)
            return err;
        *d = c->d;
        /* A recorder needs no key to learn that a call is over. */
        if (d->state == SIPEV_DIALOG_ENDED)
            for (size_t s = 0; s < d->n_streams; s++) {
                sr_wipe(d->streams[s].keys, sizeof(d->streams[s].keys));
                d->streams[s].n_keys = 0;
            }
    }
    return SR_OK;
}

size_t ka_callstore_count_matching(const struct ka_callstore *cs, bool full,
                                   const struct ka_filter *f1, const struct ka_filter *f2)
{
    size_t n = 0;

    for (size_t i = 0; cs && i < cs->n; i++) {
        const struct ka_call *c = cs->calls[i];
        if ((full || c->changed) && (!f1 || ka_filter_match(f1, &c->d)) &&
            (!f2 || ka_filter_match(f2, &c->d)))
            n++;
    }
    return n;
}

void ka_callstore_settle(struct ka_callstore *cs)
{
    size_t kept = 0;

    if (!cs)
        return;
    for (size_t i = 0; i < cs->n; i++) {
        struct ka_call *c = cs->calls[i];
        if (c->d.state == SIPEV_DIALOG_ENDED) {
            call_forget(cs, c);
            continue;
        }
        c->changed = false;
        cs->calls[kept++] = c;
    }
    for (size_t i = kept; i < cs->n; i++)
        cs->calls[i] = NULL;
    cs->n = kept;
    cs->changed = false;
}
