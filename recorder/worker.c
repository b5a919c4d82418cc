/** @file worker.c  The media path as main sees it: `workers` receive threads,
 *  each an engine (media.c) with its own SO_REUSEPORT socket, loop, stream
 *  table and held pool, fed key bodies through a mailbox; or, with
 *  workers=1, one engine on main's loop (no thread, no copies).
 *
 * Main keeps the subscriptions.  A key body becomes one message per worker:
 * a deep copy the message owns (keys included), pushed on the worker's
 * bounded queue and signalled through an eventfd in the worker's epoll; the
 * worker applies it and wipes it.  Every worker gets every key body: which
 * worker a source lands on is the kernel's 4-tuple hash, unknown here.
 * Archives are shared per call (archive.c); main flushes them, writes the
 * metrics file and sums the workers' counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "buf.h"
#include "daemon_priv.h"
#include "log.h"
#include "loop_priv.h"
#include "prom.h"
#include "util.h"

enum {
    MAX_WORKERS = 64,
    MBOX_CAP = 256, /* key bodies waiting per worker; more: main waits for room (a key
                       body is never dropped: its call would be kept encrypted) */
    MBOX_WAIT_WARN_MS = 1000,
};

enum keymsg_kind { KM_KEYS = 0, KM_ADD_SOCK, KM_DEL_SOCK };

struct rd_keymsg {
    enum keymsg_kind kind;     /* a key body, or a SIPREC session socket to add or remove */
    int fd;                    /* KM_ADD_SOCK: owned by the message until applied */
    uint64_t sock_id;
    char peer[SIPEV_STR];
    struct sipev_keybody kb; /* dialogs: this message's own copy, wiped on free */
};

struct rd_worker {
    struct rd_media *media;
    struct rd_loop *loop;
    struct rd_eng *eng;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    struct rd_watch mbox;      /* eventfd: messages waiting, or stop */
    pthread_mutex_t mu;        /* q, head, n */
    pthread_cond_t room;       /* signalled when a message is popped, or at stop */
    struct rd_keymsg *q[MBOX_CAP];
    size_t head, n;
};

struct rd_media {
    const struct rd_cfg *cfg;
    struct rd_archives *archives;
    struct rd_eng *eng;        /* workers=1: the engine on main's loop */
    struct rd_worker *w;       /* workers>1 */
    size_t n_workers;
    uint64_t keys_lost;        /* key bodies not delivered: out of memory, or stopping (main) */
    uint64_t mbox_waits;       /* seconds main waited for room in a full mailbox (main) */
    uint64_t sock_seq;         /* SIPREC media sockets handed out (ids) */
    struct rec_eng_stats final; /* counters of engines already destroyed */
    uint64_t next_flush_us, next_metrics_us;
    rd_metrics_fn *extra_metrics; /* main's own lines, or NULL */
    void *extra_arg;
};

/* ------------------------------------------------------------- mailbox */

static void keymsg_free(struct rd_keymsg *k)
{
    if (!k)
        return;
    if (k->kind == KM_ADD_SOCK && k->fd >= 0)
        close(k->fd); /* never applied (stopping) */
    if (k->kb.dialogs) {
        sr_wipe(k->kb.dialogs, k->kb.n_dialogs * sizeof(*k->kb.dialogs));
        free(k->kb.dialogs);
    }
    sr_wipe(k, sizeof(*k));
    free(k);
}

static struct rd_keymsg *keymsg_copy(const char *peer, const struct sipev_keybody *kb)
{
    struct rd_keymsg *k = calloc(1, sizeof(*k));

    if (!k)
        return NULL;
    snprintf(k->peer, sizeof(k->peer), "%s", peer);
    k->kb = *kb;
    k->kb.dialogs = NULL;
    k->kb.cap_dialogs = kb->n_dialogs;
    if (kb->n_dialogs) {
        k->kb.dialogs = malloc(kb->n_dialogs * sizeof(*kb->dialogs));
        if (!k->kb.dialogs) {
            k->kb.n_dialogs = 0;
            keymsg_free(k);
            return NULL;
        }
        memcpy(k->kb.dialogs, kb->dialogs, kb->n_dialogs * sizeof(*kb->dialogs));
    }
    return k;
}

/* Ownership of k moves to the queue.  A full queue makes main wait for
 * room: the worker only ever pops, so it cannot wait on main, and a key
 * body must not be lost (its call would be kept encrypted).  Each second
 * waited is logged and counted.  false only once the worker is stopping
 * (k is then still the caller's). */
static bool mbox_push(struct rd_worker *w, struct rd_keymsg *k, uint64_t *waits)
{
    uint64_t one = 1;
    bool ok;

    pthread_mutex_lock(&w->mu);
    while (w->n == MBOX_CAP && !atomic_load(&w->stop)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += MBOX_WAIT_WARN_MS / 1000;
        if (pthread_cond_timedwait(&w->room, &w->mu, &until) != 0 && w->n == MBOX_CAP) {
            (*waits)++;
            log_warn("a worker's key mailbox has been full for %d ms: key bodies wait "
                     "(the worker is behind)", MBOX_WAIT_WARN_MS);
        }
    }
    ok = w->n < MBOX_CAP;
    if (ok) {
        w->q[(w->head + w->n) % MBOX_CAP] = k;
        w->n++;
    }
    pthread_mutex_unlock(&w->mu);
    if (ok && write(w->mbox.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("worker mailbox: eventfd write: %s", strerror(errno));
    return ok;
}

static struct rd_keymsg *mbox_pop(struct rd_worker *w)
{
    struct rd_keymsg *k = NULL;

    pthread_mutex_lock(&w->mu);
    if (w->n) {
        k = w->q[w->head];
        w->q[w->head] = NULL;
        w->head = (w->head + 1) % MBOX_CAP;
        w->n--;
        pthread_cond_signal(&w->room);
    }
    pthread_mutex_unlock(&w->mu);
    return k;
}

static void on_mbox(struct rd_watch *wa, uint32_t events)
{
    struct rd_worker *w = (struct rd_worker *)((char *)wa - offsetof(struct rd_worker, mbox));
    struct rd_keymsg *k;
    uint64_t v;

    (void)events;
    if (read(wa->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    while ((k = mbox_pop(w))) {
        if (k->kind == KM_ADD_SOCK) {
            enum sr_err err = rd_eng_add_sock(w->eng, k->fd, k->sock_id);
            k->fd = -1;
            if (err)
                log_error("a SIPREC media socket could not join its worker: %s",
                          sr_strerror(err));
        } else if (k->kind == KM_DEL_SOCK) {
            rd_eng_del_sock(w->eng, k->sock_id);
        } else {
            rd_eng_keybody(w->eng, k->peer, &k->kb);
        }
        keymsg_free(k); /* the keys' copy dies here: the engine keeps its own */
    }
}

/* -------------------------------------------------------------- worker */

static void *worker_main(void *arg)
{
    struct rd_worker *w = arg;

    while (!atomic_load(&w->stop)) {
        uint64_t now = sr_now_us(), next = rd_eng_tick(w->eng, now);
        int timeout;
        if (next > now + 1000000u)
            next = now + 1000000u;
        timeout = next > now ? (int)((next - now + 999) / 1000) : 0;
        if (rd_loop_run_once(w->loop, timeout) < 0) {
            log_error("worker event loop failed");
            break;
        }
    }
    return NULL;
}

static void worker_fini(struct rd_worker *w)
{
    struct rd_keymsg *k;
    uint64_t one = 1;

    if (w->started) {
        atomic_store(&w->stop, true);
        if (write(w->mbox.fd, &one, sizeof(one)) < 0)
            log_warn("worker stop: eventfd write: %s", strerror(errno));
        pthread_join(w->thread, NULL);
        w->started = false;
    }
    /* Key bodies never applied: wiped unread. */
    while ((k = mbox_pop(w)))
        keymsg_free(k);
    rd_eng_destroy(w->eng, &w->media->final); /* releases its calls; the last engine seals each */
    w->eng = NULL;
    if (w->mbox.fd >= 0) {
        if (w->loop)
            rd_loop_del(w->loop, &w->mbox);
        close(w->mbox.fd);
        w->mbox.fd = -1;
    }
    rd_loop_destroy(w->loop);
    w->loop = NULL;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->room);
}

static enum sr_err worker_init(struct rd_worker *w, struct rd_media *m, size_t n_workers)
{
    struct rd_eng_cfg ec = { 0 };
    enum sr_err err;

    w->media = m;
    w->mbox.fd = -1;
    w->mbox.on_event = on_mbox;
    atomic_init(&w->stop, false);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->room, NULL);
    err = rd_loop_create(&w->loop);
    if (err)
        return err;
    w->mbox.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->mbox.fd < 0)
        return SR_EIO;
    err = rd_loop_add(w->loop, &w->mbox, EPOLLIN);
    if (err)
        return err;
    ec.cfg = m->cfg;
    ec.loop = w->loop;
    ec.archives = m->archives;
    ec.max_held_packets = m->cfg->max_held_packets / n_workers;
    ec.max_held_bytes = m->cfg->max_held_bytes / n_workers;
    ec.reuseport = true;
    ec.log_keys = w == m->w; /* every worker applies every key body: one tells the log */
    ec.cap_slot = (unsigned)(w - m->w);
    ec.cap_slots = (unsigned)n_workers;
    err = rd_eng_create(&w->eng, &ec);
    if (err)
        return err;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return SR_EIO;
    w->started = true;
    return SR_OK;
}

/* ---------------------------------------------------------------- media */

static size_t workers_wanted(const struct rd_cfg *cfg)
{
    long n = cfg->workers ? (long)cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        n = 1;
    return n > MAX_WORKERS ? MAX_WORKERS : (size_t)n;
}

enum sr_err rd_media_create(struct rd_media **out, const struct rd_cfg *cfg, struct rd_loop *loop,
                            struct stor_index *index)
{
    struct rd_media *m = calloc(1, sizeof(*m));
    enum sr_err err;

    if (!m)
        return SR_ENOMEM;
    m->cfg = cfg;
    err = rd_archives_create(&m->archives, cfg, index);
    if (err)
        goto fail;
    if (workers_wanted(cfg) == 1) {
        struct rd_eng_cfg ec = { cfg, loop, m->archives, cfg->max_held_packets,
                                 cfg->max_held_bytes, false, true, 0, 1 };
        err = rd_eng_create(&m->eng, &ec);
        if (err)
            goto fail;
    } else {
        size_t n = workers_wanted(cfg);
        m->w = calloc(n, sizeof(*m->w));
        if (!m->w) {
            err = SR_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            m->n_workers = i + 1; /* so that a failure tears down what was started */
            err = worker_init(&m->w[i], m, n);
            if (err)
                goto fail;
        }
        log_notice("media: %zu worker threads on %s", n, cfg->media_listen);
    }
    m->next_flush_us = sr_now_us() + cfg->flush_interval_ms * 1000u;
    m->next_metrics_us = sr_now_us();
    *out = m;
    return SR_OK;
fail:
    rd_media_destroy(m);
    return err;
}

static void stats_sum(struct rd_media *m, struct rec_eng_stats *t)
{
    struct rec_eng_stats s;

    *t = m->final;
    for (size_t i = 0; i < (m->eng ? 1 : m->n_workers); i++) {
        struct rd_eng *e = m->eng ? m->eng : m->w[i].eng;
        if (!e)
            continue;
        rd_eng_stats(e, &s);
        /* Every field is a uint64_t count: sum them as an array. */
        const uint64_t *src = (const uint64_t *)&s;
        uint64_t *dst = (uint64_t *)t;
        for (size_t k = 0; k < sizeof(s) / sizeof(uint64_t); k++)
            dst[k] += src[k];
    }
}

/* Packets the engines counted recorded, RTCP or kept encrypted when they
 * handed them to an opening archive that then could not write them: taken
 * back from those counts; returns them all, for the storage drops. */
static uint64_t stats_take_lost(struct rd_media *m, struct rec_eng_stats *st)
{
    uint64_t lost[RD_PKT_KINDS];

    rd_archives_count(m->archives, NULL, lost);
    rd_take_back(&st->recorded, lost[RD_PKT_RTP]);
    rd_take_back(&st->rtcp, lost[RD_PKT_RTCP]);
    rd_take_back(&st->encrypted_kept, lost[RD_PKT_ENCRYPTED]);
    return lost[RD_PKT_RTP] + lost[RD_PKT_RTCP] + lost[RD_PKT_ENCRYPTED];
}

/* Prometheus text exposition (common/prom.h), replacing the metrics file so
 * a reader (srtprec-api's /metrics and /healthz) never sees half a file. */
static void metrics_write(struct rd_media *m)
{
    struct rec_eng_stats st;
    size_t open_now, sealing = 0;
    uint64_t lost;
    struct buf b;
    struct prom p;
    enum sr_err err;

    if (!m->cfg->metrics_file[0])
        return;
    stats_sum(m, &st);
    open_now = rd_archives_count(m->archives, &sealing, NULL);
    lost = stats_take_lost(m, &st);
    buf_init(&b, 256 * 1024);
    prom_init(&p, &b);
#define C(name, help, v) prom_counter(&p, "srtprec_recorder_" name, help, (v))
#define G(name, help, v) prom_gauge(&p, "srtprec_recorder_" name, help, (v))
    C("packets_received_total", "UDP datagrams received on the media sockets.", st.rx);
    C("packets_recorded_total", "RTP packets decrypted and archived.", st.recorded);
    C("rtcp_recorded_total", "SRTCP packets decrypted and archived.", st.rtcp);
    C("packets_encrypted_kept_total",
      "Packets archived still encrypted because their key never came.", st.encrypted_kept);
    C("packets_held_total", "Packets held because they came before their key.", st.held);
    C("packets_hold_full_total",
      "Packets that found the hold queue full (archived encrypted, not dropped).", st.held_full);
    prom_family(&p, "srtprec_recorder_packets_dropped_total", "counter",
                "Packets not recorded, by reason.");
#define D(reason, v) prom_sample1(&p, "srtprec_recorder_packets_dropped_total", "reason", reason, (v))
    D("auth", st.auth_fail);
    D("replay", st.replay);
    D("malformed", st.malformed);
    D("overload", st.no_stream_slot);
    D("storage", st.storage_err + lost);
    D("kernel", st.kernel_drops);
    D("unauthorised", st.unauthorised);
    D("unbound_full", st.unbound_full);
    D("source_full", st.source_full);
    D("unmatched_budget", st.unmatched_budget);
    D("paused", st.paused);
    D("duplicate", st.duplicates);
#undef D
    C("streams_trial_bound_total", "Streams bound to their key by trial authentication.",
      st.trial_bound);
    C("ssrc_changes_total", "New SSRCs recognised as the same stream of a call.",
      st.ssrc_changes);
    C("rekeys_total", "Re-keys applied to disclosed streams.", st.rekeys);
    C("streams_plain_total",
      "Streams bound to a plain RTP leg (SIPREC RTP/AVP, no SRTP): recorded as received.",
      st.plain_bound);
    C("streams_reaped_total",
      "Streams that never got a key, freed after idling key-wait-ms + call-linger-ms.", st.reaped);
    C("trial_candidates_total", "Candidate keys tried by trial authentication.", st.trial_tries);
    C("roc_search_attempts_total",
      "ROC search: authentication attempts for keys disclosed with an unknown ROC.",
      st.roc_tries);
    C("roc_search_found_total", "ROC search: streams whose ROC was found.", st.roc_found);
    C("roc_search_failed_total",
      "ROC search: streams whose attempt budget ran out without a find.", st.roc_failed);
    C("calls_kept_total",
      "Calls a keyagent's full state omitted while their media flowed (kept recording).",
      st.calls_kept);
    C("quota_refused_total",
      "Calls, streams or archive opens refused by a key source's quota.", st.quota_refused);
    C("key_messages_lost_total",
      "Key bodies not delivered to a worker (out of memory, or at shutdown).", m->keys_lost);
    C("key_mailbox_waits_total",
      "Seconds the subscriber waited for room in a worker's full key mailbox.", m->mbox_waits);
    G("streams", "Streams tracked now.", st.streams);
    G("streams_unbound", "Streams waiting for their key now.", st.unbound_now);
    G("calls_open", "Calls with an open archive now.", open_now);
    G("archives_sealing", "Archives of ended calls waiting to be sealed (fsync) now.", sealing);
    G("held_packets", "Packets held now, waiting for their key.", st.held_now);
    G("held_slots", "Capacity of the hold pool (max-held-packets).", st.held_slots);
    G("workers", "Receive threads.", m->eng ? 1 : m->n_workers);
#undef C
#undef G
    rd_cap_metrics(m->cfg->cap, &p);
    if (m->extra_metrics)
        m->extra_metrics(&p, m->extra_arg);
    err = prom_end(&p);
    if (!err)
        err = prom_file_replace(m->cfg->metrics_file, &b);
    if (err)
        log_warn("metrics-file %s: %s", m->cfg->metrics_file, sr_strerror(err));
    buf_fini(&b);
}

void rd_media_set_extra_metrics(struct rd_media *m, rd_metrics_fn *fn, void *arg)
{
    if (!m)
        return;
    m->extra_metrics = fn;
    m->extra_arg = arg;
}

void rd_media_destroy(struct rd_media *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_workers; i++)
        worker_fini(&m->w[i]);
    rd_eng_destroy(m->eng, &m->final);
    m->eng = NULL;
    rd_archives_drain(m->archives); /* every archive sealed before the last figures */
    metrics_write(m); /* the engines' last counters: published by their final ticks */
    free(m->w);
    m->w = NULL;
    m->n_workers = 0;
    rd_archives_destroy(m->archives);
    free(m);
}

void rd_media_keybody(const char *peer, const struct sipev_keybody *kb, void *arg)
{
    struct rd_media *m = arg;

    if (m->eng) {
        rd_eng_keybody(m->eng, peer, kb);
        return;
    }
    for (size_t i = 0; i < m->n_workers; i++) {
        struct rd_keymsg *k = keymsg_copy(peer, kb);
        if (k && mbox_push(&m->w[i], k, &m->mbox_waits))
            continue;
        keymsg_free(k);
        m->keys_lost++;
        log_error("worker %zu: key body from %s lost (%s); its media will be kept encrypted",
                  i, peer, k ? "the worker is stopping" : "out of memory");
    }
}

enum { SOCK_ID_WORKER_BITS = 6 }; /* MAX_WORKERS = 64 */

enum sr_err rd_media_add_sock(struct rd_media *m, int fd, size_t spread, uint64_t *id)
{
    size_t wi;
    struct rd_keymsg *k;

    *id = (++m->sock_seq) << SOCK_ID_WORKER_BITS;
    if (m->eng)
        return rd_eng_add_sock(m->eng, fd, *id);
    wi = spread % m->n_workers;
    *id |= wi;
    k = calloc(1, sizeof(*k));
    if (!k) {
        close(fd);
        return SR_ENOMEM;
    }
    k->kind = KM_ADD_SOCK;
    k->fd = fd;
    k->sock_id = *id;
    if (!mbox_push(&m->w[wi], k, &m->mbox_waits)) {
        keymsg_free(k); /* closes fd */
        return SR_ESTATE;
    }
    return SR_OK;
}

void rd_media_del_sock(struct rd_media *m, uint64_t id)
{
    struct rd_keymsg *k;
    size_t wi = (size_t)(id & ((1u << SOCK_ID_WORKER_BITS) - 1));

    if (m->eng) {
        rd_eng_del_sock(m->eng, id);
        return;
    }
    if (wi >= m->n_workers || !(k = calloc(1, sizeof(*k))))
        return;
    k->kind = KM_DEL_SOCK;
    k->fd = -1;
    k->sock_id = id;
    if (!mbox_push(&m->w[wi], k, &m->mbox_waits))
        keymsg_free(k);
}

uint64_t rd_media_tick(struct rd_media *m, uint64_t now)
{
    uint64_t next = now + 1000000u, t;

    if (m->eng) {
        t = rd_eng_tick(m->eng, now);
        next = t < next ? t : next;
    }
    if (now >= m->next_flush_us) {
        rd_archives_flush(m->archives);
        m->next_flush_us = now + m->cfg->flush_interval_ms * 1000u;
    }
    next = m->next_flush_us < next ? m->next_flush_us : next;
    if (m->cfg->metrics_file[0]) {
        if (now >= m->next_metrics_us) {
            metrics_write(m);
            m->next_metrics_us = now + m->cfg->metrics_interval_ms * 1000u;
        }
        next = m->next_metrics_us < next ? m->next_metrics_us : next;
    }
    return next;
}

void rd_media_set_authorised(struct rd_media *m, bool authorised)
{
    if (m->eng)
        rd_eng_set_authorised(m->eng, authorised);
    for (size_t i = 0; i < m->n_workers; i++)
        rd_eng_set_authorised(m->w[i].eng, authorised);
}

void rd_media_log_stats(struct rd_media *m)
{
    struct rec_eng_stats s;
    uint64_t lost;

    stats_sum(m, &s);
    lost = stats_take_lost(m, &s);
    s.storage_err += lost;
    log_notice("media: %llu received, %llu recorded, %llu rtcp, %llu kept encrypted; dropped: "
               "%llu malformed, %llu auth, %llu replay, %llu no stream slot, %llu storage, %llu "
               "kernel, %llu unauthorised; %llu held (%llu now, %llu found the queue full), %llu "
               "trial-bound, %llu re-keys, %zu calls open, %zu workers, %llu key bodies lost",
               (unsigned long long)s.rx, (unsigned long long)s.recorded,
               (unsigned long long)s.rtcp, (unsigned long long)s.encrypted_kept,
               (unsigned long long)s.malformed, (unsigned long long)s.auth_fail,
               (unsigned long long)s.replay, (unsigned long long)s.no_stream_slot,
               (unsigned long long)s.storage_err, (unsigned long long)s.kernel_drops,
               (unsigned long long)s.unauthorised, (unsigned long long)s.held,
               (unsigned long long)s.held_now, (unsigned long long)s.held_full,
               (unsigned long long)s.trial_bound, (unsigned long long)s.rekeys,
               rd_archives_count(m->archives, NULL, NULL), m->eng ? (size_t)1 : m->n_workers,
               (unsigned long long)m->keys_lost);
}
