/** @file archive.c  One archive per call, shared by the engines that see it.
 *
 * A call's two streams usually come from two sources, which SO_REUSEPORT may
 * hash to two workers: both write into the call's one archive.  The simplest
 * correct shape is a mutex per archive around every stor_writer call (the
 * writer is single-threaded); at 50 packets/s per stream it is uncontended
 * in the common case.  Every engine holds a reference on each call it
 * knows.  The archive thread does the slow parts in call order: it opens
 * each new archive (the data key wrapped to every recipient, the file, the
 * header, the index row: about 0.2 ms) and seals each released one
 * (trailer, fsync, rename, directory fsync, index row: milliseconds, on a
 * slow disk tens), so that neither stalls a media thread.  Until its
 * archive is open, a call's streams and packets wait in the archive
 * (bounded) and are written, in order, once it is.  The registry's mutex
 * guards the list, the references, the thread's queue and the index (one
 * SQLite connection).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "daemon_priv.h"
#include "chainlog.h"
#include "prom.h"
#include "log.h"
#include "rec.h"
#include "stor.h"
#include "upload.h"
#include "util.h"

enum {
    MAX_RECIPIENTS = 8,
    /* Streams of unknown sources arrive one by one, each after data: every
     * one restarts the archive's live streams in a new Ogg chain link, so an
     * unmatched archive is kept small and another opens after it. */
    UNMATCHED_MAX_STREAMS = 64,
    /* What a call may gather while its archive opens (normally well under a
     * millisecond; a burst of thousands of new calls queues them). */
    PEND_MAX_BYTES = 256 * 1024,
    PEND_MAX_OPS = 2048,
    /* A call whose archive is full (the writer's stream or serial budget:
     * about 90 streams added after data, e.g. SSRC changes on every hold)
     * goes on in continuation archives, each another file under the same
     * Call-ID; this bounds one call's archives. */
    MAX_PARTS = 32,
    /* SIPREC metadata documents told before their call's archive exists
     * (the SRS answers before a worker opens it): kept this long at most,
     * the oldest dropped first (a call that never opens). */
    META_PEND_MAX = 64,
    /* Stream indexes handed to the engines carry the part in their high bits. */
    PART_SHIFT = 16,
    PART_MASK = (1u << PART_SHIFT) - 1,
    /* Index rows that failed to be written wait here (about 6 KB each);
     * past this, a row is left to start-up reconciliation (stor_recover
     * indexes every sealed archive that has no row). */
    IXQ_MAX = 1024,
    /* A write waits this long for another process's lock, then queues:
     * the archive thread also opens and seals the calls. */
    IX_BUSY_MS = 250,
    IX_RETRY_MIN_MS = 200,
    IX_RETRY_MAX_MS = 5000,
    /* A seal that met a full disk or an I/O error is tried again (its
     * data stays in memory, bounded by the writer's max_buffered). */
    SEAL_RETRY_MIN_MS = 500,
    SEAL_RETRY_MAX_MS = 30000,
};

/* A row that could not be written yet (archive thread only). */
struct ixq_item {
    struct stor_record *row;
    struct ixq_item *next;
};

/* A stream or a packet handed in before the writer was open. */
struct pend_op {
    bool is_stream;
    uint8_t kind;                /* !is_stream: enum rd_pkt_kind */
    unsigned idx;
    struct stor_stream_info si;  /* is_stream */
    struct stor_pkt p;           /* !is_stream: payload is at pend + off */
    size_t off;
};

struct rd_arch {
    pthread_mutex_t mu;        /* w, every stor_writer call on it; counts; rec; pending ops */
    struct stor_writer *w;     /* NULL until the archive thread has opened it */
    bool open_failed;
    struct pend_op *ops;       /* while w is NULL: what to write once it is open */
    size_t n_ops, cap_ops;
    struct buf pend;           /* the waiting packets' payloads (wiped) */
    unsigned n_idx;            /* stream indexes handed out (the writer's, in order) */
    bool want_open, want_seal, queued, busy; /* the archive thread's jobs (registry's mutex) */
    struct rd_arch *qnext;     /* in the archive thread's queue */
    /* Not a struct stor_record: its path alone is 4 KiB, per call; index
     * rows are built on the archive thread when written (row_new). */
    struct stor_call_info call;
    /* Parties told after arch_new (rd_arch_parties), under mu: the index
     * rows name them; a->call (the header's) never changes. */
    bool late_parties;
    char party_local[sizeof(((struct stor_call_info *)0)->local_aor)];
    char party_remote[sizeof(((struct stor_call_info *)0)->remote_aor)];
    bool parties_stream;       /* the "parties" record stream was added */
    unsigned parties_idx, parties_seq;
    bool meta_stream;          /* the "metadata" record stream was added */
    unsigned meta_idx, meta_seq;
    bool want_row;             /* the archive thread rewrites the index row (registry mu) */
    /* Participants SIPREC metadata named (rd_archives_metadata), under mu,
     * first archive only: its index row adds them.  NULL until some came
     * (STOR_MAX_PARTIES of them, 3 KiB: not for every call). */
    struct stor_party *parties;
    size_t n_parties;
    char id[STOR_ID_HEX];
    unsigned n_streams;
    struct stor_counts counts; /* summed from the engines' releases */
    uint64_t lost[RD_PKT_KINDS]; /* handed over while opening, never written */
    char peer[SIPEV_STR];
    bool unmatched;
    unsigned refs;             /* under the registry's mutex */
    struct rd_arch *next;
    struct rd_archives *reg;
    unsigned part;             /* 0: the call's first archive; k: its k-th continuation */
    struct rd_arch *next_part; /* the next continuation (set under the first one's mu) */
    struct rd_arch *last;      /* first archive only, under its mu: where new streams go
                                  (itself until it is full) */
    uint64_t written[RD_PKT_KINDS]; /* packets taken (written or pending), by kind */
    enum stor_end end;         /* set by the last release: shutdown or the call's end */
    bool taken_back;           /* lost packets already taken from counts (first seal try) */
    unsigned seal_tries;       /* failed seal attempts so far */
    uint64_t retry_at;         /* sr_now_us() of the next seal attempt */
    unsigned backoff_ms;
    struct rd_arch *rnext;     /* in the seal retry list (archive thread only) */
};

/* A metadata document waiting for its call's archive (rd_archives_metadata). */
struct meta_pend {
    struct meta_pend *next;
    char peer[SIPEV_STR];
    char call_id[sizeof(((struct stor_call_info *)0)->call_id)];
    uint64_t wall_us;
    struct stor_party *parties; /* the document's participants (NULL: none) */
    size_t n_parties;
    size_t len;
    uint8_t doc[];
};

struct rd_archives {
    pthread_mutex_t mu;        /* list, refs, seal queue, index */
    pthread_cond_t job_cv;    /* the archive thread waits on it for work or stop */
    pthread_t thread;
    bool thread_started, stop;
    struct rd_arch *job_head, **job_tail; /* archives to open or seal, oldest first */
    size_t n_sealing;
    uint64_t lost[RD_PKT_KINDS]; /* packets handed over while opening, then not written */
    const struct rd_cfg *cfg;
    struct stor_index *index;
    struct rd_arch *list;
    size_t n;
    struct rec_calltab *tab;   /* (peer, Call-ID) -> open archive of a call */
    struct rd_arch *unmatched; /* the open, not retired, unmatched archive */
    struct stor_recipients *rcpt; /* parsed at start (and by a reload): not per archive */
    struct stor_signer *signer;   /* signing-key; NULL: archives unsigned (lab) */
    struct chainlog *ledger;      /* seal-ledger: the archive thread's alone */
    /* Archive thread only: rows waiting to be written, seals waiting for the disk. */
    struct ixq_item *ixq_head, **ixq_tail;
    uint64_t ixq_retry_at;
    unsigned ixq_backoff_ms;
    struct rd_arch *retry;
    /* Under mu: for rd_archives_stats. */
    struct rd_archives_stats st;
    rd_clock_fn *clock;        /* NULL: sr_now_us() and timed waits; else a test's clock */
    void *clock_arg;
    pthread_cond_t idle_cv;    /* the thread goes idle (rd_archives_settle) */
    uint64_t idle_gen;         /* times it went idle, under mu */
    /* Under mu: metadata documents whose archive does not exist yet, oldest first. */
    struct meta_pend *meta_head;
    size_t n_meta;
};

/* The time retry deadlines are in (archive thread, or under mu). */
static uint64_t now_us(const struct rd_archives *r)
{
    return r->clock ? r->clock(r->clock_arg) : sr_now_us();
}

static bool arch_seal(struct rd_archives *r, struct rd_arch *a, bool last_try);
static void arch_do_open(struct rd_archives *r, struct rd_arch *a);
static void ixq_flush(struct rd_archives *r, uint64_t now);
static void arch_do_row(struct rd_archives *r, struct rd_arch *a);

static void arch_free(struct rd_arch *a)
{
    pthread_mutex_destroy(&a->mu);
    buf_fini(&a->pend);
    free(a->ops);
    free(a->parties);
    free(a);
}

static unsigned backoff_next(unsigned prev_ms, unsigned min_ms, unsigned max_ms)
{
    unsigned n = prev_ms ? 2 * prev_ms : min_ms;
    return n > max_ms ? max_ms : n;
}

/* Archive thread, nothing locked: the seals that are due, then the index
 * queue; last: everything once more, and what still fails is given up. */
static void run_retries(struct rd_archives *r, uint64_t now, bool last)
{
    struct rd_arch **pp = &r->retry;

    while (*pp) {
        struct rd_arch *a = *pp;
        if (!last && a->retry_at > now) {
            pp = &a->rnext;
            continue;
        }
        pthread_mutex_lock(&r->mu);
        r->st.seal_retries++;
        pthread_mutex_unlock(&r->mu);
        if (arch_seal(r, a, last)) {
            *pp = a->rnext;
            arch_free(a);
            pthread_mutex_lock(&r->mu);
            r->n_sealing--;
            r->st.seals_waiting--;
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        a->backoff_ms = backoff_next(a->backoff_ms, SEAL_RETRY_MIN_MS, SEAL_RETRY_MAX_MS);
        a->retry_at = now + a->backoff_ms * 1000ull;
        pp = &a->rnext;
    }
    if (r->ixq_head && (last || r->ixq_retry_at <= now))
        ixq_flush(r, now);
}

/* The earliest retry, or 0 for none (archive thread). */
static uint64_t retry_due(const struct rd_archives *r)
{
    uint64_t due = r->ixq_head ? r->ixq_retry_at : 0;

    for (const struct rd_arch *a = r->retry; a; a = a->rnext)
        if (!due || a->retry_at < due)
            due = a->retry_at;
    return due;
}

/* Under r->mu: wait for a job until the monotonic time due (0: no deadline;
 * on a test's clock, until rd_archives_settle wakes it). */
static void wait_job(struct rd_archives *r, uint64_t due)
{
    struct timespec ts;

    r->idle_gen++;
    pthread_cond_broadcast(&r->idle_cv);
    if (!due || r->clock) {
        pthread_cond_wait(&r->job_cv, &r->mu);
        return;
    }
    ts.tv_sec = (time_t)(due / 1000000u);
    ts.tv_nsec = (long)(due % 1000000u) * 1000;
    pthread_cond_timedwait(&r->job_cv, &r->mu, &ts);
}

/* Under r->mu. */
static void job_push(struct rd_archives *r, struct rd_arch *a)
{
    if (a->queued || a->busy)
        return; /* it will see the new job when it comes up / finishes */
    a->queued = true;
    a->qnext = NULL;
    *r->job_tail = a;
    r->job_tail = &a->qnext;
    pthread_cond_signal(&r->job_cv);
}

/* Opens and seals archives in order; at stop, once the queue is empty. */
static void *archive_thread_main(void *arg)
{
    struct rd_archives *r = arg;

    pthread_mutex_lock(&r->mu);
    for (;;) {
        struct rd_arch *a = r->job_head;
        uint64_t due = retry_due(r), now = now_us(r);
        bool open, seal, row;
        if (due && due <= now) {
            pthread_mutex_unlock(&r->mu);
            run_retries(r, now, false);
            pthread_mutex_lock(&r->mu);
            continue;
        }
        if (!a) {
            if (r->stop) {
                /* Once more each; what fails still is given up and counted. */
                pthread_mutex_unlock(&r->mu);
                run_retries(r, now, true);
                pthread_mutex_lock(&r->mu);
                break;
            }
            wait_job(r, due);
            continue;
        }
        r->job_head = a->qnext;
        if (!r->job_head)
            r->job_tail = &r->job_head;
        a->queued = false;
        a->busy = true;
        open = a->want_open;
        a->want_open = false;
        row = a->want_row && !a->want_seal;
        a->want_row = false;
        pthread_mutex_unlock(&r->mu);
        if (open)
            arch_do_open(r, a); /* takes r->mu for the index row, then a->mu */
        if (row)
            arch_do_row(r, a);
        pthread_mutex_lock(&r->mu);
        a->busy = false;
        seal = a->want_seal;
        if (!seal)
            continue;
        pthread_mutex_unlock(&r->mu);
        /* Unlinked and unreferenced: only this thread reaches a. */
        if (arch_seal(r, a, false)) {
            arch_free(a);
            pthread_mutex_lock(&r->mu);
            r->n_sealing--;
            continue;
        }
        a->backoff_ms = backoff_next(0, SEAL_RETRY_MIN_MS, SEAL_RETRY_MAX_MS);
        a->retry_at = now_us(r) + a->backoff_ms * 1000ull;
        a->rnext = r->retry;
        r->retry = a;
        pthread_mutex_lock(&r->mu);
        r->st.seals_waiting++;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

enum sr_err rd_recipients_load(const char *list, struct stor_recipients **out)
{
    char copy[CONF_STR_MAX], (*files)[CONF_STR_MAX] = calloc(MAX_RECIPIENTS, sizeof(*files));
    const char *ptrs[MAX_RECIPIENTS], *why = NULL;
    struct slice cur;
    size_t n = 0;
    enum sr_err err = SR_OK;

    if (!files)
        return SR_ENOMEM;
    snprintf(copy, sizeof(copy), "%s", list);
    cur = slice_cstr(copy);
    while (cur.len && !err) {
        struct slice item = slice_trim(slice_split(&cur, ','));
        if (!item.len)
            continue;
        if (n == MAX_RECIPIENTS) {
            log_error("archive-recipients: at most %d", MAX_RECIPIENTS);
            err = SR_ELIMIT;
            break;
        }
        slice_copy_cstr(item, files[n], CONF_STR_MAX);
        ptrs[n] = files[n];
        n++;
    }
    if (!err && !n) {
        log_error("archive-recipients: at least one certificate is required");
        err = SR_EINVAL;
    }
    if (!err && (err = stor_recipients_load(out, ptrs, n, &why)))
        log_error("archive-recipients %s: %s", list, why ? why : sr_strerror(err));
    free(files);
    return err;
}

/* The signing key and the seal ledger (docs/recorder.md, "Signed archives"). */
static enum sr_err signer_load(struct rd_archives *r, const struct rd_cfg *cfg)
{
    struct chainlog_cfg lc = { cfg->seal_ledger, STOR_LEDGER_TAG, CHAINLOG_SYNC_EACH };
    struct chainlog_verdict v = { 0 };
    const char *why = "";
    enum sr_err err;

    if (!cfg->signing_key[0])
        return SR_OK;
    if ((err = stor_signer_load(&r->signer, cfg->signing_key, &why))) {
        log_error("signing-key %s: %s", cfg->signing_key, why);
        return err;
    }
    if (!cfg->seal_ledger[0]) {
        log_error("seal-ledger: no path");
        err = SR_EINVAL;
    } else if ((err = chainlog_open(&r->ledger, &lc, &v))) {
        log_error("seal-ledger %s: %s%s", cfg->seal_ledger,
                  err == SR_ESTATE ? "in use by another recorder"
                                   : v.why && *v.why ? v.why : sr_strerror(err),
                  err == SR_EAUTH ? " (keep it as evidence; start a new one)" : "");
    }
    if (err) {
        stor_signer_free(r->signer);
        r->signer = NULL;
        return err;
    }
    log_notice("archives are signed by key %s; seals recorded in %s (%llu so far)",
               stor_signer_key_id(r->signer), cfg->seal_ledger,
               (unsigned long long)chainlog_records(r->ledger));
    return SR_OK;
}

enum sr_err rd_archives_create(struct rd_archives **out, const struct rd_cfg *cfg,
                               struct stor_index *index)
{
    struct rd_archives *r = calloc(1, sizeof(*r));
    enum sr_err err;

    if (!r)
        return SR_ENOMEM;
    r->cfg = cfg;
    r->index = index;
    if ((err = rd_recipients_load(cfg->archive_recipients, &r->rcpt))) {
        free(r);
        return err;
    }
    if ((err = signer_load(r, cfg))) {
        stor_recipients_free(r->rcpt);
        free(r);
        return err;
    }
    if (rec_calltab_create(&r->tab, cfg->max_streams / 2) != SR_OK) {
        stor_recipients_free(r->rcpt);
        stor_signer_free(r->signer);
        chainlog_close(r->ledger);
        free(r);
        return SR_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    {
        /* Retry deadlines are sr_now_us() (monotonic) times. */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&r->job_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    pthread_cond_init(&r->idle_cv, NULL);
    r->job_tail = &r->job_head;
    r->ixq_tail = &r->ixq_head;
    stor_index_set_busy_ms(index, IX_BUSY_MS);
    if (pthread_create(&r->thread, NULL, archive_thread_main, r) != 0) {
        log_error("archives: cannot start the archive thread");
        rd_archives_destroy(r);
        return SR_EIO;
    }
    r->thread_started = true;
    ((struct rd_cfg *)cfg)->archives_live = r; /* main's, not const: only this field */
    *out = r;
    return SR_OK;
}

void rd_archives_drain(struct rd_archives *r)
{
    if (!r || !r->thread_started)
        return;
    /* The archive thread empties its queue before it stops: nothing released stays
     * unsealed. */
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->job_cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->thread_started = false;
}

void rd_archives_destroy(struct rd_archives *r)
{
    if (!r)
        return;
    rd_archives_drain(r);
    if (r->cfg->archives_live == r)
        ((struct rd_cfg *)r->cfg)->archives_live = NULL;
    if (r->ixq_head) {
        size_t n = 0;
        for (struct ixq_item *q = r->ixq_head; q; q = q->next)
            n++;
        log_error("index: %zu rows could not be written before exit; the next start's "
                  "recovery repairs or adds them from the archives", n);
    }
    while (r->ixq_head) {
        struct ixq_item *q = r->ixq_head;
        r->ixq_head = q->next;
        free(q->row);
        free(q);
    }
    if (r->meta_head)
        log_error("%zu SIPREC metadata documents were never archived: their calls' archives "
                  "never opened (the first: call %s from %s)", r->n_meta, r->meta_head->call_id,
                  r->meta_head->peer);
    while (r->meta_head) {
        struct meta_pend *m = r->meta_head;
        r->meta_head = m->next;
        free(m->parties);
        free(m);
    }
    pthread_cond_destroy(&r->job_cv);
    pthread_cond_destroy(&r->idle_cv);
    rec_calltab_destroy(r->tab);
    stor_recipients_free(r->rcpt);
    stor_signer_free(r->signer);
    chainlog_close(r->ledger);
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

/* Under r->mu: a joins the open archives and the archive thread's queue. */
static void list_add(struct rd_archives *r, struct rd_arch *a)
{
    a->next = r->list;
    r->list = a;
    r->n++;
    job_push(r, a);
}

/* Under r->mu: a new archive, to be opened by the archive thread. */
static struct rd_arch *arch_new(struct rd_archives *r, const char *peer,
                                const struct stor_call_info *ci, bool unmatched)
{
    struct rd_arch *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->reg = r;
    a->last = a;
    snprintf(a->peer, sizeof(a->peer), "%s", peer);
    a->unmatched = unmatched;
    a->call = *ci;
    buf_init(&a->pend, PEND_MAX_BYTES);
    pthread_mutex_init(&a->mu, NULL);
    a->want_open = true;
    return a;
}

/* Write what waited for the writer, in order.  Under a->mu, w open.  A
 * stream the writer refuses would shift every later index, so the first
 * refusal ends the replay: what is left is counted lost. */
/* Ops [from, n_ops) will never be written: count their packets lost by
 * kind, drop them all.  Under a->mu.  Returns the packets lost so far. */
static size_t lose_pending(struct rd_arch *a, size_t from)
{
    size_t lost = 0;

    for (size_t i = from; i < a->n_ops; i++)
        if (!a->ops[i].is_stream)
            a->lost[a->ops[i].kind]++;
    for (unsigned k = 0; k < RD_PKT_KINDS; k++)
        lost += a->lost[k];
    sr_wipe(a->pend.p, a->pend.len);
    buf_reset(&a->pend);
    a->n_ops = 0;
    return lost;
}

/* Write what waited for the writer, in order.  Under a->mu, w open.  A
 * stream the writer refuses would shift every later index, so the first
 * refusal ends the replay: what is left is counted lost. */
static size_t replay(struct rd_arch *a)
{
    size_t i;

    for (i = 0; i < a->n_ops; i++) {
        struct pend_op *o = &a->ops[i];
        unsigned got;
        if (o->is_stream) {
            if (stor_writer_add_stream(a->w, &o->si, &got) != SR_OK || got != o->idx)
                break;
            continue;
        }
        o->p.payload = (const uint8_t *)a->pend.p + o->off;
        if (stor_writer_packet(a->w, o->idx, &o->p) != SR_OK)
            a->lost[o->kind]++;
    }
    return lose_pending(a, i);
}

/* a's index row (heap: about 6 KB), path as while recording. */
static struct stor_record *row_new(const struct rd_archives *r, const struct rd_arch *a,
                                   enum stor_state state)
{
    struct stor_record *row = calloc(1, sizeof(*row));

    if (!row)
        return NULL;
    memcpy(row->id, a->id, sizeof(row->id));
    /* setup checked that recorder-id fits; calloc left the NUL. */
    memcpy(row->recorder, r->cfg->recorder_id,
           strnlen(r->cfg->recorder_id, sizeof(row->recorder) - 1));
    row->call = a->call;
    if (a->late_parties) {
        snprintf(row->call.local_aor, sizeof(row->call.local_aor), "%s", a->party_local);
        snprintf(row->call.remote_aor, sizeof(row->call.remote_aor), "%s", a->party_remote);
    }
    if (a->parties) {
        memcpy(row->parties, a->parties, a->n_parties * sizeof(*a->parties));
        row->n_parties = a->n_parties;
    }
    row->state = state;
    row->n_streams = a->n_streams;
    snprintf(row->path, sizeof(row->path), "%s/%s.srec", r->cfg->archive_dir, a->id);
    return row;
}

/* ---- index rows: written by the archive thread only, queued when the
 * index is locked or failing, retried with back-off, in order. */

static void ixq_add(struct rd_archives *r, struct stor_record *row)
{
    struct ixq_item *q;
    size_t n = 0;

    /* A newer row of the same archive replaces the queued one in place
     * (its place keeps the order of the archive's rows). */
    for (q = r->ixq_head; q; q = q->next, n++)
        if (strcmp(q->row->id, row->id) == 0) {
            free(q->row);
            q->row = row;
            return;
        }
    q = n < IXQ_MAX ? malloc(sizeof(*q)) : NULL;
    pthread_mutex_lock(&r->mu);
    if (q) {
        r->st.index_queued++;
        r->st.index_queued_now++;
    } else {
        r->st.index_dropped++;
    }
    pthread_mutex_unlock(&r->mu);
    if (!q) {
        log_error("index: row of archive %s (call %s) not kept: %zu rows wait already; the "
                  "next start's reconciliation indexes the archive", row->id, row->call.call_id,
                  n);
        free(row);
        return;
    }
    if (!r->ixq_head) {
        r->ixq_backoff_ms = backoff_next(0, IX_RETRY_MIN_MS, IX_RETRY_MAX_MS);
        r->ixq_retry_at = now_us(r) + r->ixq_backoff_ms * 1000ull;
    }
    q->row = row;
    q->next = NULL;
    *r->ixq_tail = q;
    r->ixq_tail = &q->next;
}

/* Write queued rows in order until one fails; then back off. */
static void ixq_flush(struct rd_archives *r, uint64_t now)
{
    size_t done = 0;
    enum sr_err err = SR_OK;

    while (r->ixq_head) {
        struct ixq_item *q = r->ixq_head;
        if ((err = stor_index_put(r->index, q->row)))
            break;
        r->ixq_head = q->next;
        if (!r->ixq_head)
            r->ixq_tail = &r->ixq_head;
        free(q->row);
        free(q);
        done++;
    }
    pthread_mutex_lock(&r->mu);
    r->st.index_retried += done;
    r->st.index_queued_now -= done;
    if (err)
        r->st.index_failures++;
    pthread_mutex_unlock(&r->mu);
    if (done)
        log_notice("index: %zu queued rows written%s", done,
                   r->ixq_head ? ", more wait" : ", none wait");
    if (r->ixq_head) {
        r->ixq_backoff_ms = backoff_next(r->ixq_backoff_ms, IX_RETRY_MIN_MS, IX_RETRY_MAX_MS);
        r->ixq_retry_at = now + r->ixq_backoff_ms * 1000ull;
    }
}

/* Archive thread: write row (taking it), or queue it behind the rows that
 * wait already, so that an archive's rows land in the order made. */
static void ix_put(struct rd_archives *r, struct stor_record *row, const char *what)
{
    enum sr_err err;

    if (!row) {
        log_error("index: no memory for the %s row: reconciliation at the next start adds it",
                  what);
        return;
    }
    if (r->ixq_head) {
        ixq_add(r, row);
        return;
    }
    if ((err = stor_index_put(r->index, row)) == SR_OK) {
        free(row);
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->st.index_failures++;
    pthread_mutex_unlock(&r->mu);
    log_warn("index: cannot write the %s row of call %s (%s): queued, retried in the "
             "background", what, row->call.call_id, sr_strerror(err));
    ixq_add(r, row);
}

/* On the archive thread: writer and index row, then what waited. */
static void arch_do_open(struct rd_archives *r, struct rd_arch *a)
{
    struct stor_writer_cfg wc = { 0 };
    struct stor_writer *w = NULL;
    struct stor_record *snap;
    char id[STOR_ID_HEX];
    uint64_t lost_k[RD_PKT_KINDS];
    size_t lost;
    enum sr_err err;

    {
        /* A set a SIGHUP reload parsed (main): new archives wrap to it. */
        struct rd_cfg *cfg = (struct rd_cfg *)r->cfg; /* main's, not const: only this field */
        struct stor_recipients *n = atomic_exchange(&cfg->recipients_reload, NULL);
        if (n) {
            stor_recipients_free(r->rcpt);
            r->rcpt = n;
            log_notice("archive-recipients: new archives wrap their keys to the reloaded set");
        }
    }
    wc.dir = r->cfg->archive_dir;
    wc.rcpt = r->rcpt;
    /* a->call does not change after arch_new (engines only count
     * n_streams, under a->mu). */
    err = stor_writer_open(&w, &wc, &a->call, id);
    if (!err && r->signer)
        stor_writer_sign(w, r->signer, r->ledger);
    pthread_mutex_lock(&a->mu);
    if (err) {
        a->open_failed = true;
        lost = lose_pending(a, 0);
        for (unsigned k = 0; k < RD_PKT_KINDS; k++)
            lost_k[k] = a->lost[k];
        pthread_mutex_unlock(&a->mu);
        pthread_mutex_lock(&r->mu);
        for (unsigned k = 0; k < RD_PKT_KINDS; k++)
            r->lost[k] += lost_k[k];
        pthread_mutex_unlock(&r->mu);
        log_error("call %s from %s: cannot open an archive (%s): its media is lost "
                  "(%zu packets so far, the rest counted as storage drops)",
                  a->call.call_id, a->peer, sr_strerror(err), lost);
        return;
    }
    memcpy(a->id, id, sizeof(id));
    a->w = w;
    lost = replay(a);
    for (unsigned k = 0; k < RD_PKT_KINDS; k++)
        lost_k[k] = a->lost[k];
    snap = row_new(r, a, STOR_STATE_RECORDING); /* the index row, from a consistent copy */
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_lock(&r->mu);
    for (unsigned k = 0; k < RD_PKT_KINDS; k++)
        r->lost[k] += lost_k[k];
    pthread_mutex_unlock(&r->mu);
    ix_put(r, snap, "start");
    if (a->part)
        log_notice("call %s from %s: its archive is full, new streams go on in archive %s "
                   "(continuation %u, same Call-ID)", a->call.call_id, a->peer, a->id,
                   a->part);
    else
        log_notice("call %s from %s (%s -> %s): recording into archive %s", a->call.call_id,
                   a->peer, a->call.local_aor, a->call.remote_aor, a->id);
    if (lost)
        log_error("call %s: %zu packets that came while its archive opened were not written",
                  a->call.call_id, lost);
}

/* On the archive thread: the index row of an open archive again (its
 * parties changed).  One whose open failed, or is still to come (its open
 * writes the row), has nothing to rewrite. */
static void arch_do_row(struct rd_archives *r, struct rd_arch *a)
{
    struct stor_record *row = NULL;

    pthread_mutex_lock(&a->mu);
    if (a->w)
        row = row_new(r, a, STOR_STATE_RECORDING);
    pthread_mutex_unlock(&a->mu);
    if (row)
        ix_put(r, row, "parties");
}

static enum sr_err part_add_stream(struct rd_arch *a, const struct stor_stream_info *si,
                                   unsigned *idx);
static enum sr_err part_packet(struct rd_arch *a, unsigned idx, const struct stor_pkt *p,
                               enum rd_pkt_kind kind);

/* Under a->mu: the logical stream of a record kind (parties, metadata:
 * codec and label the kind's name, docs/archive-format.md), added once. */
static enum sr_err record_stream(struct rd_arch *a, const char *codec, bool *added, unsigned *idx)
{
    struct stor_stream_info si = { 0 };
    enum sr_err err;

    if (*added)
        return SR_OK;
    snprintf(si.codec, sizeof(si.codec), "%s", codec);
    snprintf(si.label, sizeof(si.label), "%s", codec);
    si.clock_rate = 1000000;
    err = part_add_stream(a, &si, idx);
    *added = err == SR_OK;
    return err;
}

/* Under a->mu: the participants of a metadata document added to a's (new
 * AORs appended, up to STOR_MAX_PARTIES; a name fills or replaces one);
 * true if the index row must say more than it did. */
static bool parties_merge(struct rd_arch *a, const struct stor_party *in, size_t n)
{
    bool changed = false;

    if (!n || a->unmatched)
        return false;
    if (!a->parties && !(a->parties = calloc(STOR_MAX_PARTIES, sizeof(*a->parties)))) {
        log_error("call %s: its SIPREC participants are not indexed: out of memory",
                  a->call.call_id);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        struct stor_party *p = NULL;
        for (size_t j = 0; j < a->n_parties && !p; j++)
            if (strcmp(a->parties[j].aor, in[i].aor) == 0)
                p = &a->parties[j];
        if (!p && a->n_parties < STOR_MAX_PARTIES) {
            p = &a->parties[a->n_parties++];
            *p = in[i];
            changed = true;
        } else if (p && in[i].name[0] && strcmp(p->name, in[i].name) != 0) {
            memcpy(p->name, in[i].name, sizeof(p->name));
            changed = true;
        } else if (!p) {
            log_debug("call %s: participant %s not indexed (%d already)", a->call.call_id,
                      in[i].aor, (int)STOR_MAX_PARTIES);
        }
    }
    return changed;
}

/* Under a->mu: one metadata record, through the path every packet takes
 * (kept for the replay while the archive thread opens a). */
static enum sr_err meta_write(struct rd_arch *a, uint64_t wall_us, const uint8_t *doc, size_t len)
{
    struct stor_pkt p = { 0 };
    enum sr_err err = SR_OK;

    if ((err = record_stream(a, STOR_METADATA_CODEC, &a->meta_stream, &a->meta_idx)))
        return err;
    p.seq = (uint16_t)a->meta_seq;
    p.ext_seq = a->meta_seq++;
    p.arrival_wall_us = wall_us;
    p.payload = doc;
    p.payload_len = len;
    return part_packet(a, a->meta_idx, &p, RD_PKT_RTCP);
}

static void meta_failed(const struct rd_arch *a, size_t len, enum sr_err err)
{
    log_error("call %s: its SIPREC metadata (%zu bytes) could not be written into archive %s "
              "(%s)", a->call.call_id, len, a->id[0] ? a->id : "(opening)", sr_strerror(err));
}

/* Under r->mu, a new and not yet on the archive thread's queue: the
 * documents told before a existed go in first, in the order they came. */
static void meta_take(struct rd_archives *r, struct rd_arch *a)
{
    struct meta_pend **pp = &r->meta_head;

    while (*pp) {
        struct meta_pend *m = *pp;
        if (strcmp(m->peer, a->peer) != 0 || strcmp(m->call_id, a->call.call_id) != 0) {
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        r->n_meta--;
        pthread_mutex_lock(&a->mu);
        enum sr_err err = meta_write(a, m->wall_us, m->doc, m->len);
        (void)parties_merge(a, m->parties, m->n_parties); /* its open writes the row */
        pthread_mutex_unlock(&a->mu);
        if (err)
            meta_failed(a, m->len, err);
        free(m->parties);
        free(m);
    }
}

void rd_archives_metadata(struct rd_archives *r, const char *peer, const char *call_id,
                          const uint8_t *doc, size_t len, uint64_t wall_us,
                          const struct stor_party *parties, size_t n_parties)
{
    struct rd_arch *a;
    struct meta_pend *m, **tail;

    if (!r || !len || len > STOR_METADATA_MAX)
        return;
    pthread_mutex_lock(&r->mu);
    a = find(r, peer, call_id, false);
    if (a) {
        /* r->mu before a->mu, as rd_arch_release takes them; the record
         * goes into the call's first archive, as the parties records do. */
        pthread_mutex_lock(&a->mu);
        enum sr_err err = meta_write(a, wall_us, doc, len);
        bool more = parties_merge(a, parties, n_parties);
        pthread_mutex_unlock(&a->mu);
        if (err)
            meta_failed(a, len, err);
        if (more) {
            a->want_row = true; /* the archive thread adds them (arch_do_row) */
            job_push(r, a);
        }
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (n_parties > STOR_MAX_PARTIES)
        n_parties = STOR_MAX_PARTIES;
    m = malloc(sizeof(*m) + len);
    if (m && n_parties && !(m->parties = malloc(n_parties * sizeof(*parties)))) {
        free(m);
        m = NULL;
    }
    if (!m) {
        pthread_mutex_unlock(&r->mu);
        log_error("call %s from %s: its SIPREC metadata (%zu bytes) is lost: out of memory",
                  call_id, peer, len);
        return;
    }
    m->next = NULL;
    if (n_parties)
        memcpy(m->parties, parties, n_parties * sizeof(*parties));
    else
        m->parties = NULL;
    m->n_parties = n_parties;
    snprintf(m->peer, sizeof(m->peer), "%s", peer);
    snprintf(m->call_id, sizeof(m->call_id), "%s", call_id);
    m->wall_us = wall_us;
    m->len = len;
    memcpy(m->doc, doc, len);
    for (tail = &r->meta_head; *tail; tail = &(*tail)->next)
        ;
    *tail = m;
    if (++r->n_meta > META_PEND_MAX) {
        struct meta_pend *old = r->meta_head;
        r->meta_head = old->next;
        r->n_meta--;
        r->st.metadata_dropped++;
        log_error("call %s from %s: its SIPREC metadata (%zu bytes) is dropped: its archive "
                  "did not open before %d later documents came", old->call_id, old->peer,
                  old->len, (int)META_PEND_MAX);
        free(old->parties);
        free(old);
    }
    pthread_mutex_unlock(&r->mu);
}

enum sr_err rd_arch_get(struct rd_archives *r, const char *peer, const struct stor_call_info *ci,
                        bool unmatched, struct rd_arch **out)
{
    struct rd_arch *a;
    enum sr_err err = SR_OK;

    pthread_mutex_lock(&r->mu);
    a = find(r, peer, ci->call_id, unmatched);
    if (!a) {
        a = arch_new(r, peer, ci, unmatched);
        err = a ? SR_OK : SR_ENOMEM;
        if (!err && !unmatched &&
            (err = rec_calltab_insert(r->tab, a->peer, a->call.call_id, a)) != SR_OK) {
            pthread_mutex_destroy(&a->mu);
            free(a);
        }
        if (!err) {
            if (unmatched)
                r->unmatched = a;
            else
                meta_take(r, a);
            list_add(r, a);
        }
    }
    if (!err) {
        a->refs++;
        *out = a;
    }
    pthread_mutex_unlock(&r->mu);
    return err;
}

static bool retryable(enum sr_err err)
{
    return err == SR_ENOSPC || err == SR_EIO;
}

/* The writer could not seal and is given up (at shutdown, still failing):
 * its .partial stays for the next start's recovery, and what it held in
 * memory is lost, counted by kind (its RTCP among the RTP: the writer
 * tells only encrypted apart). */
static void seal_give_up(struct rd_archives *r, struct rd_arch *a, enum sr_err err)
{
    struct stor_counts *c = &a->counts;
    uint64_t enc = 0, pending = stor_writer_pending(a->w, &enc);
    unsigned streams = 0;
    uint64_t kept = stor_writer_committed(a->w, &streams);
    struct stor_record *row;

    stor_writer_abandon(a->w);
    a->w = NULL;
    rd_take_back(&c->packets, pending - enc);
    rd_take_back(&c->encrypted_kept, enc);
    c->overload += pending;
    pthread_mutex_lock(&r->mu);
    r->lost[RD_PKT_RTP] += pending - enc;
    r->lost[RD_PKT_ENCRYPTED] += enc;
    r->st.seal_lost_packets += pending;
    pthread_mutex_unlock(&r->mu);
    log_error("call %s: archive %s could not be sealed (%s, %u tries): %llu packets held in "
              "memory are lost; the %llu on disk stay in %s.srec.partial for recovery at the "
              "next start", a->call.call_id, a->id, sr_strerror(err), a->seal_tries,
              (unsigned long long)pending, (unsigned long long)kept, a->id);
    /* What recovery will find: its row until then. */
    row = row_new(r, a, STOR_STATE_RECORDING);
    if (row) {
        row->packets = kept;
        row->n_streams = streams;
        snprintf(row->path, sizeof(row->path), "%s/%s.srec", r->cfg->archive_dir, a->id);
    }
    ix_put(r, row, "end");
}

/* Archive thread.  True when a is done with (sealed, or given up); false:
 * the disk refused (full, I/O error), everything is still buffered, try
 * again later. */
static bool arch_seal(struct rd_archives *r, struct rd_arch *a, bool last_try)
{
    char path[4096];
    struct stat sb;
    struct stor_record *row;
    enum sr_err err;
    struct stor_counts *c = &a->counts;
    bool shutdown = a->end == STOR_END_SHUTDOWN;

    /* Packets the engines counted when they handed them over, but which
     * never reached the writer (the replay after open refused them): the
     * trailer and the index say what the archive holds. */
    if (!a->taken_back) {
        rd_take_back(&c->packets, a->lost[RD_PKT_RTP]);
        rd_take_back(&c->encrypted_kept, a->lost[RD_PKT_ENCRYPTED]);
        for (unsigned k = 0; k < RD_PKT_KINDS; k++)
            c->overload += a->lost[k];
        a->taken_back = true;
    }
    if (!a->w) { /* its open failed (logged then): there is nothing to seal */
        log_error("call %s from %s ended without an archive: %llu packets lost", a->call.call_id,
                  a->peer, (unsigned long long)c->overload);
        return true;
    }
    unsigned streams = 0;
    uint64_t in_archive;
    const char *sha;
    char sha_hex[65];

    err = stor_writer_seal(a->w, c, shutdown ? STOR_END_SHUTDOWN : STOR_END_COMPLETE, path,
                           sizeof(path));
    if (retryable(err)) {
        a->seal_tries++;
        if (last_try) {
            seal_give_up(r, a, err);
            return true;
        }
        if (a->seal_tries == 1 || a->seal_tries % 10 == 0)
            log_error("call %s: sealing archive %s failed (%s, try %u): its data stays "
                      "buffered; retrying", a->call.call_id, a->id, sr_strerror(err),
                      a->seal_tries);
        return false;
    }
    /* What the archive holds, as a reader counts it (RTP, SRTCP and kept
     * encrypted alike): the row says what `srtprec verify` reads, on every
     * path (recovery and reconciliation fill rows the same way). */
    in_archive = stor_writer_committed(a->w, &streams);
    sha = stor_writer_file_sha256(a->w);
    snprintf(sha_hex, sizeof(sha_hex), "%s", sha && !err ? sha : "");
    stor_writer_abandon(a->w); /* sealed, or failed for good */
    a->w = NULL;
    row = row_new(r, a, err ? STOR_STATE_DAMAGED
                            : shutdown ? STOR_STATE_SHUTDOWN : STOR_STATE_COMPLETE);
    if (err)
        log_error("call %s: sealing archive %s failed: %s", a->call.call_id, a->id,
                  sr_strerror(err));
    else if (a->seal_tries)
        log_notice("call %s: archive %s sealed after %u failed tries: nothing lost",
                   a->call.call_id, a->id, a->seal_tries);
    if (row) {
        row->end_wall_us = sr_wall_us();
        row->packets = err ? c->packets : in_archive;
        if (!err) {
            row->n_streams = streams;
            snprintf(row->path, sizeof(row->path), "%s", path);
            memcpy(row->sha256, sha_hex, sizeof(row->sha256));
            if (stat(path, &sb) == 0)
                row->bytes = (uint64_t)sb.st_size;
        }
    }
    log_notice("call %s ended%s: archive %s, %llu packets, %u streams, %llu bytes%s",
               a->call.call_id, shutdown ? " (cut by shutdown)" : "", a->id,
               (unsigned long long)c->packets, a->n_streams,
               row ? (unsigned long long)row->bytes : 0ull,
               c->packets ? "" : " (no media arrived: the archive says so)");
    if (c->auth_fail || c->replay || c->overload || c->malformed || c->encrypted_kept)
        log_warn("call %s: %llu auth failures, %llu replays, %llu overload, %llu malformed not "
                 "recorded; %llu kept encrypted (key never came)", a->call.call_id,
                 (unsigned long long)c->auth_fail, (unsigned long long)c->replay,
                 (unsigned long long)c->overload, (unsigned long long)c->malformed,
                 (unsigned long long)c->encrypted_kept);
    ix_put(r, row, "end");
    /* After the row (with its hash) went in or was queued: the uploader
     * locates it there once the store has it. */
    if (!err)
        rd_upl_enqueue(r->cfg->uploader, a->id, sha_hex);
    return true;
}

/* Under r->mu, the last reference gone: unlink a from the list and queue
 * its seal. */
static void seal_queue(struct rd_archives *r, struct rd_arch *a)
{
    for (struct rd_arch **pp = &r->list; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    r->n--;
    a->next = NULL;
    a->want_seal = true;
    r->n_sealing++;
    job_push(r, a);
}

void rd_arch_release(struct rd_archives *r, struct rd_arch *a, const struct stor_counts *counts)
{
    bool last;

    /* Counts first, while this reference keeps a alive (the archive thread reads
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
        /* Released by a shutdown (the engines let go of every call as they
         * stop): the call itself went on, its archive says so. */
        enum stor_end end = atomic_load(&r->cfg->stopping) ? STOR_END_SHUTDOWN : STOR_END_COMPLETE;
        a->end = end;
        for (struct rd_arch *p = a->next_part; p; p = p->next_part)
            p->end = end;
        if (a->unmatched) {
            if (r->unmatched == a)
                r->unmatched = NULL;
        } else {
            rec_calltab_remove(r->tab, a->peer, a->call.call_id);
        }
        /* The engines counted the call as a whole: each continuation's
         * trailer says what it holds, the first archive the rest (and every
         * drop, which belongs to no one part). */
        for (struct rd_arch *p = a->next_part; p; p = p->next_part) {
            pthread_mutex_lock(&p->mu);
            p->counts.packets = p->written[RD_PKT_RTP];
            p->counts.encrypted_kept = p->written[RD_PKT_ENCRYPTED];
            pthread_mutex_unlock(&p->mu);
            rd_take_back(&a->counts.packets, p->counts.packets);
            rd_take_back(&a->counts.encrypted_kept, p->counts.encrypted_kept);
        }
        /* Unlinked and unreferenced: only the archive thread reaches them now. */
        for (struct rd_arch *p = a->next_part; p; p = p->next_part)
            seal_queue(r, p);
        seal_queue(r, a);
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

/* Under a->mu, w not open: keep a stream or a packet for the replay.
 * SR_EIO once the open failed; SR_ELIMIT past the bounds. */
static enum sr_err pend_push(struct rd_arch *a, bool is_stream, unsigned idx,
                             const struct stor_stream_info *si, const struct stor_pkt *p,
                             unsigned *idx_out)
{
    struct pend_op *o;
    enum sr_err err;

    if (a->open_failed)
        return SR_EIO;
    if (a->n_ops == a->cap_ops) {
        size_t nc = a->cap_ops ? 2 * a->cap_ops : 16;
        struct pend_op *no;
        if (nc > PEND_MAX_OPS)
            return SR_ELIMIT;
        no = realloc(a->ops, nc * sizeof(*no));
        if (!no)
            return SR_ENOMEM;
        a->ops = no;
        a->cap_ops = nc;
    }
    o = &a->ops[a->n_ops];
    memset(o, 0, sizeof(*o));
    o->is_stream = is_stream;
    o->idx = idx;
    if (is_stream) {
        o->si = *si;
        *idx_out = idx;
    } else {
        o->p = *p;
        o->p.payload = NULL;
        o->off = a->pend.len;
        if (p->payload_len && (err = buf_append(&a->pend, p->payload, p->payload_len)))
            return err;
    }
    a->n_ops++;
    return SR_OK;
}

/* Under a->mu: add a stream to this one archive (part). */
static enum sr_err part_add_stream(struct rd_arch *a, const struct stor_stream_info *si,
                                   unsigned *idx)
{
    enum sr_err err;

    if (a->unmatched && a->n_streams >= UNMATCHED_MAX_STREAMS)
        err = SR_ELIMIT;
    else if (a->w)
        err = stor_writer_add_stream(a->w, si, idx);
    else
        err = pend_push(a, true, a->n_idx, si, NULL, idx);
    if (!err) {
        a->n_streams++;
        a->n_idx = *idx + 1;
    }
    return err;
}

/* The writer of h's current part `full` refused a stream: open the call's
 * next continuation, unless another engine just did.  Nothing locked. */
static enum sr_err arch_continue(struct rd_archives *r, struct rd_arch *h, struct rd_arch *full)
{
    struct rd_arch *p = NULL;
    enum sr_err err = SR_OK;

    pthread_mutex_lock(&r->mu);
    pthread_mutex_lock(&h->mu);
    if (h->last == full) {
        if (full->part + 1 >= MAX_PARTS)
            err = SR_ELIMIT;
        else if (!(p = arch_new(r, h->peer, &h->call, false)))
            err = SR_ENOMEM;
    }
    if (p) {
        p->part = full->part + 1;
        p->late_parties = h->late_parties;
        memcpy(p->party_local, h->party_local, sizeof(p->party_local));
        memcpy(p->party_remote, h->party_remote, sizeof(p->party_remote));
        full->next_part = p;
        h->last = p;
        list_add(r, p);
    }
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_unlock(&r->mu);
    if (err == SR_ELIMIT)
        log_error("call %s from %s: %d archives full, no more streams are recorded",
                  h->call.call_id, h->peer, MAX_PARTS);
    return err;
}

enum sr_err rd_arch_add_stream(struct rd_arch *a, const struct stor_stream_info *si, unsigned *idx)
{
    for (int attempt = 0;; attempt++) {
        struct rd_arch *t;
        unsigned got = 0, part;
        bool writer_full;
        enum sr_err err;

        pthread_mutex_lock(&a->mu);
        t = a->last;
        if (t != a)
            pthread_mutex_lock(&t->mu);
        err = part_add_stream(t, si, &got);
        writer_full = err == SR_ELIMIT && t->w && !t->unmatched;
        part = t->part;
        if (t != a)
            pthread_mutex_unlock(&t->mu);
        pthread_mutex_unlock(&a->mu);
        if (!err) {
            *idx = part << PART_SHIFT | got;
            return SR_OK;
        }
        if (!writer_full || attempt > 0)
            return err;
        if ((err = arch_continue(a->reg, a, t)) != SR_OK)
            return err;
    }
}

/* Under a->mu. */
static enum sr_err part_packet(struct rd_arch *a, unsigned idx, const struct stor_pkt *p,
                               enum rd_pkt_kind kind)
{
    enum sr_err err;

    if (a->w) {
        err = stor_writer_packet(a->w, idx, p);
    } else {
        err = pend_push(a, false, idx, NULL, p, NULL);
        if (!err)
            a->ops[a->n_ops - 1].kind = (uint8_t)kind;
    }
    if (!err)
        a->written[kind]++;
    return err;
}

enum sr_err rd_arch_packet(struct rd_arch *a, unsigned idx, const struct stor_pkt *p,
                           enum rd_pkt_kind kind)
{
    unsigned part = idx >> PART_SHIFT;
    enum sr_err err = SR_EINVAL;

    pthread_mutex_lock(&a->mu);
    if (part == 0) {
        err = part_packet(a, idx, p, kind);
    } else {
        struct rd_arch *t = a->next_part;
        while (t && t->part != part)
            t = t->next_part;
        if (t) {
            pthread_mutex_lock(&t->mu);
            err = part_packet(t, idx & PART_MASK, p, kind);
            pthread_mutex_unlock(&t->mu);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return err;
}

void rd_arch_parties(struct rd_arch *a, const char *local_aor, const char *remote_aor)
{
    struct rd_archives *r = a->reg;
    const char *cur_l, *cur_r;
    uint8_t pl[STOR_PARTIES_MAX];
    struct stor_pkt p = { 0 };
    enum sr_err err = SR_OK;
    char id[STOR_ID_HEX];

    pthread_mutex_lock(&a->mu);
    cur_l = a->late_parties ? a->party_local : a->call.local_aor;
    cur_r = a->late_parties ? a->party_remote : a->call.remote_aor;
    if (a->unmatched || (strcmp(cur_l, local_aor) == 0 && strcmp(cur_r, remote_aor) == 0)) {
        pthread_mutex_unlock(&a->mu);
        return;
    }
    snprintf(a->party_local, sizeof(a->party_local), "%s", local_aor);
    snprintf(a->party_remote, sizeof(a->party_remote), "%s", remote_aor);
    a->late_parties = true;
    /* The record goes into the call's first archive, whose row search
     * finds (continuations copy the parties for their own rows). */
    err = record_stream(a, STOR_PARTIES_CODEC, &a->parties_stream, &a->parties_idx);
    if (!err) {
        p.seq = (uint16_t)a->parties_seq;
        p.ext_seq = a->parties_seq++;
        p.arrival_wall_us = sr_wall_us();
        p.payload = pl;
        p.payload_len = stor_parties_encode(pl, sizeof(pl), a->party_local, a->party_remote);
        err = part_packet(a, a->parties_idx, &p, RD_PKT_RTCP);
    }
    for (struct rd_arch *t = a->next_part; t; t = t->next_part) {
        pthread_mutex_lock(&t->mu);
        memcpy(t->party_local, a->party_local, sizeof(t->party_local));
        memcpy(t->party_remote, a->party_remote, sizeof(t->party_remote));
        t->late_parties = true;
        pthread_mutex_unlock(&t->mu);
    }
    memcpy(id, a->id, sizeof(id)); /* the archive thread sets it, under mu */
    pthread_mutex_unlock(&a->mu);
    if (err)
        log_error("call %s: its new parties (%s, %s) could not be written into archive %s (%s): "
                  "the index row names them, the archive keeps the first ones", a->call.call_id,
                  local_aor, remote_aor, id[0] ? id : "(opening)", sr_strerror(err));
    log_notice("call %s: parties now %s -> %s (recorded in archive %s)", a->call.call_id,
               local_aor, remote_aor, id[0] ? id : "(opening)");
    pthread_mutex_lock(&r->mu);
    a->want_row = true;
    job_push(r, a);
    pthread_mutex_unlock(&r->mu);
}

void rd_archives_flush(struct rd_archives *r)
{
    pthread_mutex_lock(&r->mu);
    for (struct rd_arch *a = r->list; a; a = a->next) {
        pthread_mutex_lock(&a->mu);
        if (a->w && stor_writer_flush(a->w) != SR_OK)
            log_error("call %s: archive flush failed", a->call.call_id);
        pthread_mutex_unlock(&a->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

void rd_archives_set_clock(struct rd_archives *r, rd_clock_fn *clock, void *arg)
{
    pthread_mutex_lock(&r->mu);
    r->clock = clock;
    r->clock_arg = arg;
    pthread_cond_signal(&r->job_cv);
    pthread_mutex_unlock(&r->mu);
}

void rd_archives_settle(struct rd_archives *r)
{
    uint64_t gen;

    pthread_mutex_lock(&r->mu);
    gen = r->idle_gen;
    pthread_cond_signal(&r->job_cv);
    /* It goes idle again only once nothing is queued and nothing is due. */
    while (r->idle_gen == gen && r->thread_started && !r->stop)
        pthread_cond_wait(&r->idle_cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

void rd_archives_stats(struct rd_archives *r, struct rd_archives_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    pthread_mutex_unlock(&r->mu);
}

void rd_archives_metrics(struct rd_archives *r, struct prom *p)
{
    struct rd_archives_stats st;

    rd_archives_stats(r, &st);
#define C(name, help, v) prom_counter(p, "srtprec_recorder_" name, help, (v))
#define G(name, help, v) prom_gauge(p, "srtprec_recorder_" name, help, (v))
    C("index_rows_queued_total", "Index rows whose write failed (locked, I/O) and were queued.",
      st.index_queued);
    C("index_rows_retried_total", "Queued index rows written by a later try.", st.index_retried);
    C("index_rows_dropped_total",
      "Index rows past the queue bound (start-up reconciliation adds them).", st.index_dropped);
    C("index_write_failures_total", "Index writes that failed (each try).", st.index_failures);
    G("index_rows_waiting", "Index rows queued now.", st.index_queued_now);
    G("archives_waiting_disk", "Ended calls whose seal failed (disk full, I/O) and is retried.",
      st.seals_waiting);
    C("seal_retries_total", "Seal attempts after a failed one.", st.seal_retries);
    C("packets_lost_at_seal_total",
      "Packets an archive held in memory that no seal could write (given up at shutdown).",
      st.seal_lost_packets);
    C("metadata_dropped_total",
      "SIPREC metadata documents dropped before their call's archive opened (bound reached).",
      st.metadata_dropped);
#undef C
#undef G
}

size_t rd_archives_count(struct rd_archives *r, size_t *sealing, uint64_t lost[RD_PKT_KINDS])
{
    size_t n;

    if (sealing)
        *sealing = 0;
    if (lost)
        memset(lost, 0, RD_PKT_KINDS * sizeof(*lost));
    if (!r)
        return 0; /* a start that failed before the archives existed */
    pthread_mutex_lock(&r->mu);
    n = r->n;
    if (sealing)
        *sealing = r->n_sealing;
    if (lost)
        memcpy(lost, r->lost, RD_PKT_KINDS * sizeof(*lost));
    pthread_mutex_unlock(&r->mu);
    return n;
}
