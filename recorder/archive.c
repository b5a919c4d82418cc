/** @file archive.c  One archive per call, shared by the engines that see it.
 *
 * A call's two streams usually come from two sources, which SO_REUSEPORT may
 * hash to two workers: both write into the call's one archive.  The simplest
 * correct shape is a mutex per archive around every stor_writer call (the
 * writer is single-threaded); at 50 packets/s per stream it is uncontended
 * in the common case.  Every engine holds a reference on each call it
 * knows; the last release hands the archive to the sealer thread, which
 * closes it (trailer, fsync, rename, directory fsync) and writes its index
 * row: an fsync takes milliseconds, on a slow disk tens, and must not stall
 * a media thread.  The registry's mutex guards the list, the references,
 * the sealer's queue and the index (one SQLite connection).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon_priv.h"
#include "log.h"
#include "rec.h"
#include "stor.h"
#include "util.h"

enum {
    MAX_RECIPIENTS = 8,
    /* Streams of unknown sources arrive one by one, each after data: every
     * one restarts the archive's live streams in a new Ogg chain link, so an
     * unmatched archive is kept small and another opens after it. */
    UNMATCHED_MAX_STREAMS = 64,
};

struct rd_arch {
    pthread_mutex_t mu;        /* every stor_writer call on w; counts; rec.n_streams */
    struct stor_writer *w;
    struct stor_record rec;
    struct stor_counts counts; /* summed from the engines' releases */
    char peer[SIPEV_STR];
    bool unmatched;
    unsigned refs;             /* under the registry's mutex */
    struct rd_arch *next;
};

struct rd_archives {
    pthread_mutex_t mu;        /* list, refs, seal queue, index */
    pthread_cond_t seal_cv;    /* the sealer waits on it for work or stop */
    pthread_t sealer;
    bool sealer_started, stop;
    struct rd_arch *seal_head, **seal_tail; /* released archives, oldest first */
    size_t n_sealing;
    const struct rd_cfg *cfg;
    struct stor_index *index;
    struct rd_arch *list;
    size_t n;
    struct rec_calltab *tab;   /* (peer, Call-ID) -> open archive of a call */
    struct rd_arch *unmatched; /* the open, not retired, unmatched archive */
    char recipients[MAX_RECIPIENTS][CONF_STR_MAX];
    const char *recipient_ptrs[MAX_RECIPIENTS];
    size_t n_recipients;
    struct stor_recipients *rcpt; /* parsed once at start: not per archive */
};

static void arch_seal(struct rd_archives *r, struct rd_arch *a);

/* Seals released archives in order; at stop, once the queue is empty. */
static void *sealer_main(void *arg)
{
    struct rd_archives *r = arg;

    pthread_mutex_lock(&r->mu);
    for (;;) {
        struct rd_arch *a = r->seal_head;
        if (!a) {
            if (r->stop)
                break;
            pthread_cond_wait(&r->seal_cv, &r->mu);
            continue;
        }
        r->seal_head = a->next;
        if (!r->seal_head)
            r->seal_tail = &r->seal_head;
        pthread_mutex_unlock(&r->mu);
        arch_seal(r, a); /* takes r->mu for the index row */
        pthread_mutex_destroy(&a->mu);
        free(a);
        pthread_mutex_lock(&r->mu);
        r->n_sealing--;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

enum sr_err rd_archives_create(struct rd_archives **out, const struct rd_cfg *cfg,
                               struct stor_index *index)
{
    struct rd_archives *r = calloc(1, sizeof(*r));
    char list[CONF_STR_MAX];
    struct slice cur;

    if (!r)
        return SR_ENOMEM;
    r->cfg = cfg;
    r->index = index;
    snprintf(list, sizeof(list), "%s", cfg->archive_recipients);
    cur = slice_cstr(list);
    while (cur.len) {
        struct slice item = slice_trim(slice_split(&cur, ','));
        if (!item.len)
            continue;
        if (r->n_recipients == MAX_RECIPIENTS) {
            log_error("archive-recipients: at most %d", MAX_RECIPIENTS);
            free(r);
            return SR_ELIMIT;
        }
        slice_copy_cstr(item, r->recipients[r->n_recipients], CONF_STR_MAX);
        r->recipient_ptrs[r->n_recipients] = r->recipients[r->n_recipients];
        r->n_recipients++;
    }
    if (!r->n_recipients) {
        log_error("archive-recipients: at least one certificate is required");
        free(r);
        return SR_EINVAL;
    }
    {
        const char *why = NULL;
        enum sr_err err = stor_recipients_load(&r->rcpt, r->recipient_ptrs, r->n_recipients, &why);
        if (err) {
            log_error("archive-recipients %s: %s", cfg->archive_recipients,
                      why ? why : sr_strerror(err));
            free(r);
            return err;
        }
    }
    if (rec_calltab_create(&r->tab, cfg->max_streams / 2) != SR_OK) {
        stor_recipients_free(r->rcpt);
        free(r);
        return SR_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->seal_cv, NULL);
    r->seal_tail = &r->seal_head;
    if (pthread_create(&r->sealer, NULL, sealer_main, r) != 0) {
        log_error("archives: cannot start the sealer thread");
        rd_archives_destroy(r);
        return SR_EIO;
    }
    r->sealer_started = true;
    *out = r;
    return SR_OK;
}

void rd_archives_drain(struct rd_archives *r)
{
    if (!r || !r->sealer_started)
        return;
    /* The sealer empties its queue before it stops: nothing released stays
     * unsealed. */
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->seal_cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->sealer, NULL);
    r->sealer_started = false;
}

void rd_archives_destroy(struct rd_archives *r)
{
    if (!r)
        return;
    rd_archives_drain(r);
    pthread_cond_destroy(&r->seal_cv);
    rec_calltab_destroy(r->tab);
    stor_recipients_free(r->rcpt);
    if (r->list)
        log_error("archives: %zu still referenced at exit", r->n);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static struct rd_arch *find(struct rd_archives *r, const char *peer, const char *call_id,
                            bool unmatched)
{
    return unmatched ? r->unmatched : rec_calltab_find(r->tab, peer, call_id);
}

/* Under r->mu: opening under the lock keeps two engines from opening two
 * archives for one call (it blocks other engines' call opens, not packets). */
static enum sr_err arch_open(struct rd_archives *r, const char *peer,
                             const struct stor_call_info *ci, bool unmatched, struct rd_arch **out)
{
    struct stor_writer_cfg wc = { 0 };
    struct rd_arch *a = calloc(1, sizeof(*a));
    enum sr_err err;

    if (!a)
        return SR_ENOMEM;
    snprintf(a->peer, sizeof(a->peer), "%s", peer);
    a->unmatched = unmatched;
    a->rec.call = *ci;
    wc.dir = r->cfg->archive_dir;
    wc.rcpt = r->rcpt;
    err = stor_writer_open(&a->w, &wc, &a->rec.call, a->rec.id);
    if (err) {
        free(a);
        return err;
    }
    a->rec.state = STOR_STATE_RECORDING;
    snprintf(a->rec.path, sizeof(a->rec.path), "%s/%s.srec", r->cfg->archive_dir, a->rec.id);
    err = stor_index_put(r->index, &a->rec);
    if (err)
        log_error("index: cannot record the start of call %s: %s", ci->call_id, sr_strerror(err));
    pthread_mutex_init(&a->mu, NULL);
    log_notice("call %s from %s (%s -> %s): recording into archive %s", ci->call_id, peer,
               ci->local_aor, ci->remote_aor, a->rec.id);
    *out = a;
    return SR_OK;
}

enum sr_err rd_arch_get(struct rd_archives *r, const char *peer, const struct stor_call_info *ci,
                        bool unmatched, struct rd_arch **out)
{
    struct rd_arch *a;
    enum sr_err err = SR_OK;

    pthread_mutex_lock(&r->mu);
    a = find(r, peer, ci->call_id, unmatched);
    if (!a) {
        err = arch_open(r, peer, ci, unmatched, &a);
        if (!err && !unmatched &&
            (err = rec_calltab_insert(r->tab, a->peer, a->rec.call.call_id, a)) != SR_OK) {
            /* Not reachable by anyone: sealed at once, empty. */
            pthread_mutex_unlock(&r->mu);
            arch_seal(r, a);
            pthread_mutex_destroy(&a->mu);
            free(a);
            return err;
        }
        if (!err) {
            if (unmatched)
                r->unmatched = a;
            a->next = r->list;
            r->list = a;
            r->n++;
        }
    }
    if (!err) {
        a->refs++;
        *out = a;
    }
    pthread_mutex_unlock(&r->mu);
    return err;
}

static void arch_seal(struct rd_archives *r, struct rd_arch *a)
{
    char path[4096];
    struct stat sb;
    enum sr_err err;
    const struct stor_counts *c = &a->counts;

    err = stor_writer_close(a->w, c, path, sizeof(path));
    a->rec.end_wall_us = sr_wall_us();
    a->rec.packets = c->packets;
    if (err) {
        log_error("call %s: sealing archive %s failed: %s", a->rec.call.call_id, a->rec.id,
                  sr_strerror(err));
        a->rec.state = STOR_STATE_DAMAGED;
    } else {
        a->rec.state = STOR_STATE_COMPLETE;
        snprintf(a->rec.path, sizeof(a->rec.path), "%s", path);
        if (stat(path, &sb) == 0)
            a->rec.bytes = (uint64_t)sb.st_size;
    }
    pthread_mutex_lock(&r->mu);
    err = stor_index_put(r->index, &a->rec);
    pthread_mutex_unlock(&r->mu);
    if (err != SR_OK)
        log_error("index: cannot record the end of call %s", a->rec.call.call_id);
    log_notice("call %s ended: archive %s, %llu packets, %u streams, %llu bytes%s",
               a->rec.call.call_id, a->rec.id, (unsigned long long)c->packets, a->rec.n_streams,
               (unsigned long long)a->rec.bytes,
               c->packets ? "" : " (no media arrived: the archive says so)");
    if (c->auth_fail || c->replay || c->overload || c->malformed || c->encrypted_kept)
        log_warn("call %s: %llu auth failures, %llu replays, %llu overload, %llu malformed not "
                 "recorded; %llu kept encrypted (key never came)", a->rec.call.call_id,
                 (unsigned long long)c->auth_fail, (unsigned long long)c->replay,
                 (unsigned long long)c->overload, (unsigned long long)c->malformed,
                 (unsigned long long)c->encrypted_kept);
}

void rd_arch_release(struct rd_archives *r, struct rd_arch *a, const struct stor_counts *counts)
{
    bool last;

    /* Counts first, while this reference keeps a alive (the sealer reads
     * them only after the last release, under r->mu's ordering). */
    pthread_mutex_lock(&a->mu);
    a->counts.packets += counts->packets;
    a->counts.auth_fail += counts->auth_fail;
    a->counts.replay += counts->replay;
    a->counts.malformed += counts->malformed;
    a->counts.overload += counts->overload;
    a->counts.encrypted_kept += counts->encrypted_kept;
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_lock(&r->mu);
    last = --a->refs == 0;
    if (last) {
        for (struct rd_arch **pp = &r->list; *pp; pp = &(*pp)->next)
            if (*pp == a) {
                *pp = a->next;
                break;
            }
        r->n--;
        if (a->unmatched) {
            if (r->unmatched == a)
                r->unmatched = NULL;
        } else {
            rec_calltab_remove(r->tab, a->peer, a->rec.call.call_id);
        }
        /* Unlinked and unreferenced: only the sealer reaches a now. */
        a->next = NULL;
        *r->seal_tail = a;
        r->seal_tail = &a->next;
        r->n_sealing++;
        pthread_cond_signal(&r->seal_cv);
    }
    pthread_mutex_unlock(&r->mu);
}

void rd_arch_retire(struct rd_archives *r, struct rd_arch *a)
{
    pthread_mutex_lock(&r->mu);
    if (r->unmatched == a)
        r->unmatched = NULL;
    pthread_mutex_unlock(&r->mu);
}

enum sr_err rd_arch_add_stream(struct rd_arch *a, const struct stor_stream_info *si, unsigned *idx)
{
    enum sr_err err;

    pthread_mutex_lock(&a->mu);
    err = a->unmatched && a->rec.n_streams >= UNMATCHED_MAX_STREAMS
              ? SR_ELIMIT
              : stor_writer_add_stream(a->w, si, idx);
    if (!err)
        a->rec.n_streams++;
    pthread_mutex_unlock(&a->mu);
    return err;
}

enum sr_err rd_arch_packet(struct rd_arch *a, unsigned idx, const struct stor_pkt *p)
{
    enum sr_err err;

    pthread_mutex_lock(&a->mu);
    err = stor_writer_packet(a->w, idx, p);
    pthread_mutex_unlock(&a->mu);
    return err;
}

void rd_archives_flush(struct rd_archives *r)
{
    pthread_mutex_lock(&r->mu);
    for (struct rd_arch *a = r->list; a; a = a->next) {
        pthread_mutex_lock(&a->mu);
        if (stor_writer_flush(a->w) != SR_OK)
            log_error("call %s: archive flush failed", a->rec.call.call_id);
        pthread_mutex_unlock(&a->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

size_t rd_archives_count(struct rd_archives *r, size_t *sealing)
{
    size_t n;

    if (sealing)
        *sealing = 0;
    if (!r)
        return 0; /* a start that failed before the archives existed */
    pthread_mutex_lock(&r->mu);
    n = r->n;
    if (sealing)
        *sealing = r->n_sealing;
    pthread_mutex_unlock(&r->mu);
    return n;
}
