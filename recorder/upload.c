/** @file upload.c  Sealed archives to the object store (upload.h). */
#include "upload.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "objstore.h"
#include "prom.h"
#include "util.h"

enum {
    DEFAULT_QUEUE = 4096,
    DEFAULT_RETRY_MIN_MS = 1000,
    DEFAULT_RETRY_MAX_MS = 300000,
    ID_HEX = 32,
    /* Archives that need a person (not matching their row, unreadable):
     * rescans skip them until the next start.  Past the bound a rescan
     * tries one again, which costs a read and a log line. */
    MAX_BAD = 256,
    MAX_THREADS = 8,
};

struct upl_item {
    char id[STOR_ID_HEX];
    char sha256[65];
    uint64_t since_us; /* clock time it became pending */
    unsigned tries;    /* failed tries so far */
    bool busy;         /* a worker is trying it */
    bool done;         /* finished; its slot is freed once the head passes it */
};

/* One upload thread: its own store client and index connection (neither
 * is shared between threads). */
struct upl_worker {
    struct rd_upl *u;
    struct objstore *store;
    struct stor_index *ix;
    struct stor_record *row; /* scratch for index reads (about 8 KB) */
    pthread_t thread;
    bool started;
};

/* What one try came to. */
enum try_result {
    TRY_DONE,  /* uploaded, located, local copy handled */
    TRY_GONE,  /* nothing to do: removed meanwhile, or uploaded before a crash */
    TRY_BAD,   /* the file itself is wrong: left in the spool until the next start */
    TRY_AGAIN, /* the store or the index failed: back off and try it again */
};

/* What the bucket's Object Lock probe said; UNKNOWN until a probe got an
 * answer (at the first thread's start, again after rd_upl_reprobe). */
enum lock_state { LOCK_UNKNOWN, LOCK_NONE, LOCK_ON };

struct rd_upl {
    struct rd_upl_cfg cfg;
    char dir[4096];
    char prefix[CONF_STR_MAX];
    struct upl_worker w[MAX_THREADS];
    size_t n_w;
    rd_upl_clock_fn *clock;
    void *clock_arg;
    uint64_t prng;

    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;  /* new work, or stop */
    struct upl_item *q; /* ring of cfg.max_queue slots, head..head+n */
    size_t head, n;
    size_t live;        /* slots not done: the pending archives */
    bool rescan;        /* some archives were left to a rescan (or none was made yet) */
    bool scanning;      /* a worker is scanning the spool */
    uint64_t next_try;  /* clock time before which the head is not tried; 0: now */
    unsigned backoff_ms;
    struct rd_upl_stats st;
    char bad[MAX_BAD][STOR_ID_HEX];
    size_t n_bad;
    enum lock_state lock;   /* the bucket's Object Lock as last probed */
    const char *lock_mode;  /* [store] object-lock-mode in S3's words; NULL: off (set once) */
    unsigned long retention_days; /* [store] retention-days (set once) */

    atomic_bool stop;
};

static uint64_t now_of(const struct rd_upl *u)
{
    return u->clock ? u->clock(u->clock_arg) : sr_now_us();
}

static bool is_cancelled(void *arg)
{
    return atomic_load(&((struct rd_upl *)arg)->stop);
}

/* Under mu. */
static bool queued(const struct rd_upl *u, const char *id)
{
    for (size_t i = 0; i < u->n; i++) {
        const struct upl_item *it = &u->q[(u->head + i) % u->cfg.max_queue];
        if (!it->done && strcmp(it->id, id) == 0)
            return true;
    }
    return false;
}

/* Under mu. */
static bool is_bad(const struct rd_upl *u, const char *id)
{
    for (size_t i = 0; i < u->n_bad; i++)
        if (strcmp(u->bad[i], id) == 0)
            return true;
    return false;
}

/* Under mu.  False: full (left to a rescan). */
static bool push(struct rd_upl *u, const char *id, const char *sha, uint64_t since)
{
    struct upl_item *it;

    if (u->n == u->cfg.max_queue) {
        u->rescan = true;
        u->st.spooled++;
        return false;
    }
    it = &u->q[(u->head + u->n) % u->cfg.max_queue];
    memset(it, 0, sizeof(*it));
    snprintf(it->id, sizeof(it->id), "%s", id);
    snprintf(it->sha256, sizeof(it->sha256), "%s", sha ? sha : "");
    it->since_us = since;
    u->n++;
    u->live++;
    pthread_cond_signal(&u->cv);
    return true;
}

void rd_upl_enqueue(struct rd_upl *u, const char *id, const char *sha256)
{
    if (!u || !id || strlen(id) != ID_HEX)
        return;
    uint64_t now = now_of(u);
    pthread_mutex_lock(&u->mu);
    push(u, id, sha256, now);
    pthread_mutex_unlock(&u->mu);
}

static bool id_file(const char *name, char id[STOR_ID_HEX])
{
    size_t n = strlen(name);

    if (n != ID_HEX + 5 || strcmp(name + ID_HEX, ".srec") != 0)
        return false;
    for (size_t i = 0; i < ID_HEX; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    memcpy(id, name, ID_HEX);
    id[ID_HEX] = '\0';
    return true;
}

/* .sig first: a crash between the two leaves the archive, which the next
 * scan finds located and removes; never a signature-less archive that
 * looks pending. */
static void remove_local(struct rd_upl *u, const char *id)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/%s.srec.sig", u->dir, id);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("upload: cannot remove %s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/%s.srec", u->dir, id);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("upload: cannot remove %s: %s", path, strerror(errno));
}

static size_t scan(struct upl_worker *w)
{
    struct rd_upl *u = w->u;
    DIR *d;
    struct dirent *de;
    size_t added = 0;
    char id[STOR_ID_HEX], path[4200];
    struct stat sb;

    pthread_mutex_lock(&u->mu);
    u->rescan = false;
    pthread_mutex_unlock(&u->mu);
    d = opendir(u->dir);
    if (!d) {
        log_error("upload: cannot read the spool %s: %s", u->dir, strerror(errno));
        return 0;
    }
    while ((de = readdir(d)) != NULL && !atomic_load(&u->stop)) {
        bool dup, has_row;
        if (!id_file(de->d_name, id))
            continue;
        pthread_mutex_lock(&u->mu);
        dup = queued(u, id) || is_bad(u, id);
        pthread_mutex_unlock(&u->mu);
        if (dup)
            continue;
        has_row = stor_index_get(w->ix, id, w->row) == SR_OK;
        if (has_row && w->row->location[0]) {
            if (!u->cfg.keep_local) /* located before a crash, not yet removed */
                remove_local(u, id);
            continue;
        }
        /* A name that does not fit is not one of ours (ids are short). */
        if (snprintf(path, sizeof(path), "%s/%s", u->dir, de->d_name) >= (int)sizeof(path) ||
            stat(path, &sb) != 0)
            continue;
        /* How long it has waited: since it was sealed (its mtime). */
        uint64_t now = now_of(u), wall = sr_wall_us(), mt = (uint64_t)sb.st_mtime * 1000000u;
        uint64_t age = wall > mt ? wall - mt : 0;
        pthread_mutex_lock(&u->mu);
        bool in = push(u, id, has_row ? w->row->sha256 : "", now > age ? now - age : 0);
        pthread_mutex_unlock(&u->mu);
        if (!in)
            break;
        added++;
    }
    closedir(d);
    if (added)
        log_notice("upload: %zu sealed archives in %s wait for the store", added, u->dir);
    return added;
}

size_t rd_upl_scan(struct rd_upl *u)
{
    return u ? scan(&u->w[0]) : 0;
}

static bool exists(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0;
}

/* The bucket's Object Lock, probed when not known yet.  A probe the store
 * refuses for good (a store that has no such call) counts as no lock; one
 * that gets no answer leaves it unknown (LOCK_UNKNOWN): nothing is uploaded
 * until it is known, since a locked bucket must get every object's
 * retention and the store is not answering anyway. */
static enum lock_state lock_of(struct upl_worker *w, bool log_it)
{
    struct rd_upl *u = w->u;
    struct objstore_lock lock;
    struct objstore_status st;
    char txt[512];
    enum lock_state ls;
    enum objstore_err e;

    pthread_mutex_lock(&u->mu);
    ls = u->lock;
    pthread_mutex_unlock(&u->mu);
    if (ls != LOCK_UNKNOWN)
        return ls;
    e = objstore_lock_probe(w->store, &lock, &st);
    if (objstore_err_transient(e)) {
        if (log_it)
            log_warn("upload: the object store does not answer yet (%s: %s); archives wait in "
                     "the spool", objstore_strerror(e), objstore_status_text(&st, txt, sizeof(txt)));
        return LOCK_UNKNOWN;
    }
    ls = e == OBJSTORE_OK && lock.enabled ? LOCK_ON : LOCK_NONE;
    if (log_it && ls == LOCK_ON)
        log_notice("upload: the bucket has Object Lock (default retention %s %u days); uploads "
                   "are retained %s for %lu days from their recording's start",
                   lock.mode[0] ? lock.mode : "none", lock.days,
                   u->lock_mode ? u->lock_mode : "(off)", u->lock_mode ? u->retention_days : 0);
    else if (log_it)
        log_notice("upload: the bucket answers; it has no Object Lock (legal hold and retention "
                   "are the index's)");
    pthread_mutex_lock(&u->mu);
    u->lock = ls;
    pthread_mutex_unlock(&u->mu);
    return ls;
}

void rd_upl_reprobe(struct rd_upl *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    u->lock = LOCK_UNKNOWN;
    pthread_mutex_unlock(&u->mu);
}

static enum try_result try_one(struct upl_worker *w, const struct upl_item *it, uint64_t *bytes)
{
    struct rd_upl *u = w->u;
    char path[4200], sig[4210], key[OBJSTORE_KEY_MAX + 1], loc[STOR_LOCATION_MAX], txt[512];
    struct objstore_status st;
    struct objstore_info info;
    enum objstore_err e;
    enum sr_err ie;
    const char *sha = it->sha256;
    struct objstore_retain rt = { .mode = u->lock_mode };
    enum lock_state ls;
    bool has_row;

    snprintf(path, sizeof(path), "%s/%s.srec", u->dir, it->id);
    snprintf(sig, sizeof(sig), "%s.sig", path);
    ie = stor_index_get(w->ix, it->id, w->row);
    has_row = ie == SR_OK;
    if (has_row && w->row->location[0]) {
        if (!u->cfg.keep_local)
            remove_local(u, it->id);
        return TRY_GONE;
    }
    if (!exists(path)) {
        log_notice("upload: archive %s left the spool before its upload (retention or an "
                   "operator removed it)", it->id);
        return TRY_GONE;
    }
    /* The index is the authority on what was sealed. */
    if (has_row && w->row->sha256[0])
        sha = w->row->sha256;
    if ((size_t)snprintf(key, sizeof(key), "%s%s.srec", u->prefix, it->id) >= sizeof(key) - 4)
        return TRY_BAD;
    if ((ls = lock_of(w, false)) == LOCK_UNKNOWN)
        return TRY_AGAIN;
    if (ls == LOCK_ON && u->lock_mode && u->retention_days) {
        /* A retention can be lengthened, never shortened (compliance): no
         * row, no start, no upload yet. */
        if (!has_row)
            return TRY_AGAIN;
        uint64_t start = w->row->call.start_wall_us ? w->row->call.start_wall_us : sr_wall_us();
        rt.until = (int64_t)(start / 1000000u) + (int64_t)u->retention_days * 86400;
    }
    e = objstore_put_file_retained(w->store, key, path, sha, rt.until ? &rt : NULL, &info, &st);
    if (e == OBJSTORE_OK && exists(sig)) {
        uint64_t n = info.size;
        char sigkey[sizeof(key) + 4];
        snprintf(sigkey, sizeof(sigkey), "%s.sig", key);
        e = objstore_put_file_retained(w->store, sigkey, sig, "", rt.until ? &rt : NULL, &info,
                                       &st);
        info.size += n;
    }
    if (e != OBJSTORE_OK) {
        objstore_status_text(&st, txt, sizeof(txt));
        if (e == OBJSTORE_EINTEGRITY || e == OBJSTORE_EIO) {
            log_error("upload: archive %s: %s (%s): left in %s; it does not match its index "
                      "row or cannot be read (tried again at the next start)", it->id,
                      objstore_strerror(e), txt, u->dir);
            return TRY_BAD;
        }
        if (it->tries == 0 || it->tries % 10 == 0)
            log_warn("upload: archive %s: %s (%s); kept in the spool, retrying", it->id,
                     objstore_strerror(e), txt);
        return TRY_AGAIN;
    }
    objstore_location(w->store, key, loc, sizeof(loc));
    if ((ie = stor_index_set_location(w->ix, it->id, loc)) != SR_OK) {
        /* No row yet (its write is queued behind a locked index) or the
         * index unreachable: the upload is repeated, which costs bytes, not
         * correctness. */
        if (it->tries == 0 || it->tries % 10 == 0)
            log_warn("upload: archive %s stored as %s, but the index: %s; retrying", it->id, loc,
                     sr_strerror(ie));
        return TRY_AGAIN;
    }
    *bytes = info.size;
    log_info("upload: archive %s stored as %s (%llu bytes, ETag %s)", it->id, loc,
             (unsigned long long)info.size, info.etag);
    if (!u->cfg.keep_local)
        remove_local(u, it->id);
    return TRY_DONE;
}

static unsigned backoff_wait(struct rd_upl *u)
{
    uint64_t w;

    u->backoff_ms = u->backoff_ms ? u->backoff_ms * 2 : u->cfg.retry_min_ms;
    if (u->backoff_ms > u->cfg.retry_max_ms)
        u->backoff_ms = u->cfg.retry_max_ms;
    w = u->backoff_ms;
    u->prng ^= u->prng << 13;
    u->prng ^= u->prng >> 7;
    u->prng ^= u->prng << 17;
    /* [0.5, 1) of the step: recorders that lost the store together do not
     * come back in step. */
    return (unsigned)(w / 2 + (w - w / 2) * (u->prng >> 40) / (1ull << 24));
}

/* Under mu: the oldest archive no worker is trying, or -1. */
static long pick(const struct rd_upl *u)
{
    for (size_t i = 0; i < u->n; i++) {
        size_t k = (u->head + i) % u->cfg.max_queue;
        if (!u->q[k].busy && !u->q[k].done)
            return (long)k;
    }
    return -1;
}

/* Under mu: when this worker has something to do next (0: nothing until
 * another worker or the archive thread signals). */
static uint64_t due_of(const struct rd_upl *u, uint64_t now)
{
    if (u->live == 0)
        return u->rescan && !u->scanning ? now : 0;
    if (pick(u) < 0)
        return 0;
    return u->next_try > now ? u->next_try : now;
}

static uint64_t step(struct upl_worker *w)
{
    struct rd_upl *u = w->u;
    struct upl_item it;
    uint64_t now, bytes = 0, due;
    enum try_result r;
    long k;

    pthread_mutex_lock(&u->mu);
    if (u->live == 0 && u->rescan && !u->scanning) {
        u->scanning = true;
        pthread_mutex_unlock(&u->mu);
        scan(w);
        pthread_mutex_lock(&u->mu);
        u->scanning = false;
        pthread_cond_broadcast(&u->cv);
    }
    now = now_of(u);
    if (u->live == 0 || now < u->next_try || (k = pick(u)) < 0) {
        due = due_of(u, now);
        pthread_mutex_unlock(&u->mu);
        return due;
    }
    u->q[k].busy = true; /* the slot stays put until it is done */
    it = u->q[k];
    pthread_mutex_unlock(&u->mu);

    r = try_one(w, &it, &bytes);

    now = now_of(u);
    pthread_mutex_lock(&u->mu);
    u->q[k].busy = false;
    if (it.tries > 0 && r != TRY_GONE)
        u->st.retried++;
    if (r == TRY_AGAIN) {
        u->st.failed++;
        u->q[k].tries++;
        u->next_try = now + backoff_wait(u) * 1000ull;
    } else {
        if (r == TRY_DONE) {
            u->st.ok++;
            u->st.bytes += bytes;
        } else if (r == TRY_BAD) {
            u->st.failed++;
            if (u->n_bad < MAX_BAD && !is_bad(u, it.id))
                memcpy(u->bad[u->n_bad++], it.id, STOR_ID_HEX);
        }
        u->q[k].done = true;
        u->live--;
        while (u->n && u->q[u->head].done) {
            u->head = (u->head + 1) % u->cfg.max_queue;
            u->n--;
        }
        u->backoff_ms = 0;
        u->next_try = 0;
    }
    pthread_cond_broadcast(&u->cv); /* a slot or the back-off changed */
    due = due_of(u, now);
    pthread_mutex_unlock(&u->mu);
    return due;
}

uint64_t rd_upl_step(struct rd_upl *u)
{
    return step(&u->w[0]);
}

/* Once, on the first thread: say whether the bucket answers and whether it
 * has Object Lock, so an operator learns at start, not at the first call
 * (Swift has none: holds and retention are then the index's alone). */
static void probe_store(struct upl_worker *w)
{
    lock_of(w, true);
}

static void *upl_thread(void *arg)
{
    struct upl_worker *w = arg;
    struct rd_upl *u = w->u;

    if (w == &u->w[0])
        probe_store(w);
    while (!atomic_load(&u->stop)) {
        uint64_t due = step(w), now = now_of(u);
        if (due && due <= now)
            continue;
        pthread_mutex_lock(&u->mu);
        /* Sleep until the next try is due, new work comes, or stop. */
        now = now_of(u);
        due = due_of(u, now);
        if (!atomic_load(&u->stop) && (!due || due > now)) {
            if (!due) {
                pthread_cond_wait(&u->cv, &u->mu);
            } else {
                struct timespec ts = { (time_t)(due / 1000000u), (long)(due % 1000000u) * 1000 };
                pthread_cond_timedwait(&u->cv, &u->mu, &ts);
            }
        }
        pthread_mutex_unlock(&u->mu);
    }
    return NULL;
}

static enum sr_err worker_init(struct upl_worker *w, struct rd_upl *u,
                               const struct objstore_cfg *scfg, char *why, size_t whylen)
{
    struct objstore_hooks hooks = { .cancelled = is_cancelled, .arg = u };
    enum objstore_err oe;

    w->u = u;
    if (!(w->row = malloc(sizeof(*w->row))))
        return SR_ENOMEM;
    oe = objstore_create(&w->store, scfg, &hooks, why, whylen);
    if (oe != OBJSTORE_OK)
        return oe == OBJSTORE_ENOMEM ? SR_ENOMEM : SR_EINVAL;
    /* The index write is the uploader's own: it may wait a little. */
    stor_index_set_busy_ms(w->ix, 1000);
    return SR_OK;
}

enum sr_err rd_upl_create(struct rd_upl **out, const struct rd_upl_cfg *cfg,
                          const struct objstore_cfg *scfg, struct stor_index *ix,
                          rd_upl_clock_fn *clock, void *clock_arg, bool start_thread, char *why,
                          size_t whylen)
{
    struct rd_upl *u;
    enum sr_err err = SR_ENOMEM;
    char dummy[8];

    if (!why) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    why[0] = '\0';
    if (!out || !cfg || !cfg->archive_dir || !scfg || !ix ||
        cfg->threads > MAX_THREADS || (cfg->threads > 1 && !cfg->index_spec)) {
        stor_index_close(ix);
        return SR_EINVAL;
    }
    u = calloc(1, sizeof(*u));
    if (!u) {
        stor_index_close(ix);
        return SR_ENOMEM;
    }
    u->cfg = *cfg;
    if (!u->cfg.max_queue)
        u->cfg.max_queue = DEFAULT_QUEUE;
    if (!u->cfg.retry_min_ms)
        u->cfg.retry_min_ms = DEFAULT_RETRY_MIN_MS;
    if (!u->cfg.retry_max_ms)
        u->cfg.retry_max_ms = DEFAULT_RETRY_MAX_MS;
    if (u->cfg.retry_max_ms < u->cfg.retry_min_ms)
        u->cfg.retry_max_ms = u->cfg.retry_min_ms;
    u->n_w = u->cfg.threads ? u->cfg.threads : 1;
    u->w[0].ix = ix;
    snprintf(u->dir, sizeof(u->dir), "%s", cfg->archive_dir);
    snprintf(u->prefix, sizeof(u->prefix), "%s", cfg->prefix ? cfg->prefix : "");
    u->cfg.archive_dir = u->dir;
    u->cfg.prefix = u->prefix;
    u->cfg.index_spec = NULL; /* only used here */
    u->clock = clock;
    u->clock_arg = clock_arg;
    u->lock_mode = objstore_lock_mode_of(scfg);
    u->retention_days = scfg->retention_days;
    u->prng = sr_now_us() | 1;
    u->rescan = true;
    pthread_mutex_init(&u->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&u->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    u->q = calloc(u->cfg.max_queue, sizeof(*u->q));
    if (!u->q)
        goto fail;
    for (size_t i = 0; i < u->n_w; i++) {
        if (i > 0 && (err = stor_index_open(&u->w[i].ix, cfg->index_spec)) != SR_OK) {
            snprintf(why, whylen, "index for upload thread %zu: %s", i, sr_strerror(err));
            goto fail;
        }
        if ((err = worker_init(&u->w[i], u, scfg, why, whylen)) != SR_OK)
            goto fail;
    }
    if (start_thread && (err = rd_upl_start(u)) != SR_OK)
        goto fail;
    *out = u;
    return SR_OK;
fail:
    if (!u->w[0].ix)
        stor_index_close(ix);
    rd_upl_destroy(u);
    return err;
}

enum sr_err rd_upl_start(struct rd_upl *u)
{
    for (size_t i = 0; i < u->n_w; i++) {
        if (u->w[i].started)
            continue;
        if (pthread_create(&u->w[i].thread, NULL, upl_thread, &u->w[i]) != 0)
            return SR_EIO;
        u->w[i].started = true;
    }
    return SR_OK;
}

struct objstore *rd_upl_store(struct rd_upl *u, size_t i)
{
    return u && i < u->n_w ? u->w[i].store : NULL;
}

void rd_upl_destroy(struct rd_upl *u)
{
    if (!u)
        return;
    atomic_store(&u->stop, true);
    pthread_mutex_lock(&u->mu);
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    for (size_t i = 0; i < u->n_w; i++)
        if (u->w[i].started)
            pthread_join(u->w[i].thread, NULL);
    if (u->live)
        log_notice("upload: %zu archives stay in the spool %s for the next start", u->live, u->dir);
    for (size_t i = 0; i < u->n_w; i++) {
        objstore_destroy(u->w[i].store);
        stor_index_close(u->w[i].ix);
        free(u->w[i].row);
    }
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u->q);
    free(u);
}

void rd_upl_stats(struct rd_upl *u, struct rd_upl_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!u)
        return;
    uint64_t now = now_of(u), oldest = now;
    pthread_mutex_lock(&u->mu);
    *st = u->st;
    st->pending = u->live;
    st->oldest_us = 0;
    for (size_t i = 0; i < u->n; i++) {
        const struct upl_item *it = &u->q[(u->head + i) % u->cfg.max_queue];
        if (!it->done && it->since_us < oldest)
            oldest = it->since_us;
    }
    if (u->live)
        st->oldest_us = now - oldest;
    pthread_mutex_unlock(&u->mu);
}

void rd_upl_metrics(struct rd_upl *u, struct prom *p)
{
    struct rd_upl_stats st;

    if (!u)
        return;
    rd_upl_stats(u, &st);
    prom_counter(p, "srtprec_recorder_upload_ok_total",
                 "Sealed archives the object store confirmed (ETag and SHA-256) and the index locates.",
                 st.ok);
    prom_counter(p, "srtprec_recorder_upload_failed_total",
                 "Upload tries that failed (store unreachable or refusing, index not written, file "
                 "not matching its index row).", st.failed);
    prom_counter(p, "srtprec_recorder_upload_retried_total",
                 "Upload tries of an archive whose previous try failed.", st.retried);
    prom_counter(p, "srtprec_recorder_upload_bytes_total", "Bytes the store confirmed.", st.bytes);
    prom_counter(p, "srtprec_recorder_upload_spooled_total",
                 "Archives past the upload queue's bound, left in the spool for a rescan.",
                 st.spooled);
    prom_gauge(p, "srtprec_recorder_upload_pending",
               "Sealed archives in the spool waiting for the store (queued).", st.pending);
    prom_gauge(p, "srtprec_recorder_upload_oldest_pending_seconds",
               "How long the oldest archive waiting for the store has waited.",
               st.oldest_us / 1000000u);
}
