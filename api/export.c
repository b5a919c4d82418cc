/** @file export.c  Decrypted WAV, Ogg, Ogg Opus or waveform export, streamed through a pipe.
 *
 * Why a pipe and a worker thread rather than an O_TMPFILE: the decrypted
 * audio never touches a disk (temp files end up in backups and on
 * unwiped blocks), memory stays at one pipe plus MHD's block, and the first
 * byte leaves as soon as it is decoded.  The price is that the length is
 * unknown up front (HTTP/1.1 chunked) and a failure after the first bytes can
 * only abort the transfer, which clients see as a truncated chunked body.
 *
 * Why suspend/resume: MHD's worker threads serve every connection assigned
 * to them, so a blocking read of the pipe (waiting for a slow decrypt, or
 * for the first bytes) stalled every other client of that thread.  The read
 * end is non-blocking; when it is empty the connection is suspended, and the
 * worker resumes it after its next write.  The lock makes "empty, so
 * suspend" and "wrote, so resume" exclusive: a resume can never precede its
 * suspend (undefined in MHD), and a write never goes unnoticed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "server_priv.h"
#include "siprec.h"
#include "stor.h"
#include "util.h"

enum { EXPORT_BLOCK = 32 * 1024, EXPORT_READ_TRIES = 3 };

struct api_export {
    _Atomic int refs; /* the request and the MHD response */
    int rfd, wfd;
    pthread_t th;
    bool th_started;
    char *path, *cert, *key;
    struct api_export_opts o;
    enum sr_err err;  /* written by the worker before done is set */
    _Atomic bool done, failed;
    _Atomic uint64_t bytes;
    char why[160]; /* written by the worker before done is set */
    pthread_mutex_t lock; /* guards suspended against the worker's wake */
    bool lock_init;
    bool suspended;
    struct MHD_Connection *conn;
    _Atomic unsigned *parked;
};

/* The worker has written or finished: resume the connection if it waits. */
static void export_wake(struct api_export *ex)
{
    pthread_mutex_lock(&ex->lock);
    if (ex->suspended) {
        ex->suspended = false;
        MHD_resume_connection(ex->conn);
        atomic_fetch_sub(ex->parked, 1);
    }
    pthread_mutex_unlock(&ex->lock);
}

/* Data in the pipe, or the worker done (EOF or failure to report). */
static bool export_ready(struct api_export *ex)
{
    struct pollfd pfd = { .fd = ex->rfd, .events = POLLIN };

    return atomic_load(&ex->done) || (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLIN | POLLHUP)));
}

/* On an MHD thread, from a callback of ex->conn: suspend it unless the
 * worker has something for it.  true if suspended. */
static bool export_park(struct api_export *ex)
{
    bool park;

    pthread_mutex_lock(&ex->lock);
    park = !export_ready(ex);
    if (park) {
        ex->suspended = true;
        atomic_fetch_add(ex->parked, 1);
        MHD_suspend_connection(ex->conn);
    }
    pthread_mutex_unlock(&ex->lock);
    return park;
}

static bool export_sink(const void *data, size_t len, void *arg)
{
    struct api_export *ex = arg;
    /* EPIPE once the client has gone (SIGPIPE is ignored): stor stops. */
    bool ok = sr_write_all(ex->wfd, data, len) == SR_OK;

    export_wake(ex);
    return ok;
}

_Static_assert((int)API_WAVE_POINTS_MAX == (int)STOR_WAVE_POINTS_MAX, "the query's bound is storage's");

/* {"duration_ms":N,"rate":R,"streams":[{"index":i,"label":..,"codec":..,
 * "direction":..,"peaks":[..]}]}, peaks rounded to 1/10000. */
static enum sr_err waveform_json(struct api_export *ex, const char **why)
{
    struct stor_waveform *wf = NULL;
    json_t *o = NULL, *streams;
    char *text = NULL;
    enum sr_err err;

    if ((err = stor_waveform(ex->path, ex->cert, ex->key, ex->o.points, &wf, why)))
        return err;
    err = SR_ENOMEM;
    if (!(o = json_pack("{s:I,s:I,s:[]}", "duration_ms",
                        (json_int_t)(wf->frames * 1000 / wf->rate), "rate", (json_int_t)wf->rate,
                        "streams")))
        goto out;
    streams = json_object_get(o, "streams");
    for (size_t i = 0; i < wf->n_streams; i++) {
        const struct stor_wave_stream *ws = &wf->streams[i];
        json_t *peaks = json_array(), *s;
        s = json_pack("{s:I,s:o,s:o,s:s,s:o}", "index", (json_int_t)ws->index, "label",
                      api_json_str(ws->info.label), "codec", api_json_str(ws->info.codec),
                      "direction", ws->info.direction == STOR_DIR_RECV ? "recv" : "send", "peaks",
                      peaks ? peaks : json_null());
        if (!peaks || !s || json_array_append_new(streams, s) != 0)
            goto out;
        for (unsigned b = 0; b < wf->points; b++)
            if (json_array_append_new(peaks, json_real(
                    (double)(long)(ws->peaks[b] * 10000.0f + 0.5f) / 10000.0)) != 0)
                goto out;
    }
    if (!(text = json_dumps(o, JSON_COMPACT)))
        goto out;
    err = export_sink(text, strlen(text), ex) ? SR_OK : SR_EIO;
out:
    free(text);
    json_decref(o);
    stor_waveform_free(wf);
    if (err && !*why)
        *why = sr_strerror(err);
    return err;
}

/* One record's time as RFC 3339 (UTC, ms). */
static json_t *at_json(uint64_t wall_us)
{
    char when[64];

    sr_wall_fmt(wall_us, when, sizeof(when));
    return json_string(when);
}

/* The documents merged in order into md (RFC 7866: a complete document
 * replaces, a partial one updates); one that does not parse or merge is
 * skipped (the recorder archived only documents its SRS took, but an
 * archive may come from elsewhere).  false if none could be used. */
static bool md_model(json_t *docs, struct siprec_md *md, struct siprec_md *scratch)
{
    size_t i, used = 0;
    json_t *d;

    json_array_foreach(docs, i, d) {
        const char *xml = json_string_value(json_object_get(d, "content")), *why = NULL;
        siprec_md_clear(scratch);
        if (xml && siprec_md_parse(xml, strlen(xml), scratch, &why) == SIPREC_OK &&
            siprec_md_merge(md, scratch, &why) == SIPREC_OK)
            used++;
    }
    return used > 0;
}

/* The participant RFC 7865 says sends the stream labelled label (its
 * participantstreamassoc), as the merged model has it; NULL if none. */
static const struct siprec_md_nameid *md_sender(const struct siprec_md *md, const char *label)
{
    const struct siprec_md_stream *st = md ? siprec_md_stream_by_label(md, label) : NULL;
    const struct siprec_md_participant *p = st ? siprec_md_stream_sender(md, st->id) : NULL;

    return p && p->n_nameid ? &p->nameid[0] : NULL;
}

/* {"call_id","parties":[{"at","local","remote"}],"streams":[{"index","kind",
 * "label","codec","ssrc","direction","sender","sender_name","sender_from",
 * "plain"}],"documents":[{"index","at","bytes","content"}]}: the sealed call
 * information, each parties record, each stream with who sends it (the
 * participant the metadata associates with its label, else the local party
 * for "send" and the remote for "recv", as the latest parties record or the
 * header names them: docs/api.md), and each RFC 7865 document verbatim.
 * Written only once the whole archive checked out, as `srtprec metadata`
 * does. */
static enum sr_err metadata_json(struct api_export *ex, const char **why)
{
    struct stor_reader *r = NULL;
    struct stor_call_info cur;
    struct stor_pkt p;
    json_t *o = NULL, *docs, *streams, *parties;
    struct siprec_md *md = NULL, *scratch = NULL;
    char *text = NULL;
    unsigned idx, n_doc = 0;
    enum sr_err err;

    if ((err = stor_reader_open(&r, ex->path, ex->cert, ex->key, why)))
        return err;
    cur = *stor_reader_call(r);
    err = SR_ENOMEM;
    if (!(o = json_pack("{s:o,s:[],s:[],s:[]}", "call_id", api_json_str(cur.call_id), "parties",
                        "streams", "documents")))
        goto out;
    parties = json_object_get(o, "parties");
    streams = json_object_get(o, "streams");
    docs = json_object_get(o, "documents");
    while ((err = stor_reader_next(r, &idx, &p, why)) == SR_OK) {
        const struct stor_stream_info *si = stor_reader_stream(r, idx);
        json_t *e = NULL;
        if (!si)
            continue;
        if (!strcmp(si->codec, STOR_METADATA_CODEC)) {
            json_t *content = NULL;
            char *doc = malloc(p.payload_len + 1);
            if (doc) {
                memcpy(doc, p.payload, p.payload_len);
                doc[p.payload_len] = '\0';
                content = api_json_str(doc); /* bytes that are not UTF-8 shown as '?' */
                sr_wipe(doc, p.payload_len);
                free(doc);
            }
            e = json_pack("{s:I,s:o,s:I,s:o*}", "index", (json_int_t)n_doc++, "at",
                          at_json(p.arrival_wall_us), "bytes", (json_int_t)p.payload_len,
                          "content", content);
            if (!e || json_array_append_new(docs, e))
                goto nomem;
        } else if (!strcmp(si->codec, STOR_PARTIES_CODEC) &&
                   stor_parties_parse(p.payload, p.payload_len, &cur) == SR_OK) {
            e = json_pack("{s:o,s:o,s:o}", "at", at_json(p.arrival_wall_us), "local",
                          api_json_str(cur.local_aor), "remote", api_json_str(cur.remote_aor));
            if (!e || json_array_append_new(parties, e))
                goto nomem;
        }
    }
    if (err != SR_ECLOSED)
        goto out;
    if (json_array_size(docs) && (!(md = siprec_md_create()) || !(scratch = siprec_md_create())))
        goto nomem;
    if (md && !md_model(docs, md, scratch)) {
        siprec_md_destroy(md);
        md = NULL;
    }
    for (unsigned i = 0; i < stor_reader_n_streams(r); i++) {
        const struct stor_stream_info *si = stor_reader_stream(r, i);
        bool record = !strcmp(si->codec, STOR_METADATA_CODEC) ||
                      !strcmp(si->codec, STOR_PARTIES_CODEC);
        bool recv = si->direction == STOR_DIR_RECV;
        const struct siprec_md_nameid *who = record ? NULL : md_sender(md, si->label);
        const char *sender = who ? who->aor : recv ? cur.remote_aor : cur.local_aor;
        const char *from = record || !sender[0] ? NULL : who ? "metadata" : "direction";
        json_t *e = json_pack("{s:I,s:s,s:o,s:o,s:I,s:s,s:o,s:o,s:o,s:b}", "index",
                              (json_int_t)i, "kind", record ? si->codec : "rtp", "label",
                              api_json_str(si->label), "codec", api_json_str(si->codec), "ssrc",
                              (json_int_t)si->ssrc, "direction", recv ? "recv" : "send",
                              "sender", from ? api_json_str(sender) : json_null(),
                              "sender_name",
                              who && who->name[0] ? api_json_str(who->name) : json_null(),
                              "sender_from", from ? json_string(from) : json_null(), "plain",
                              si->plain);
        if (!e || json_array_append_new(streams, e))
            goto nomem;
    }
    if (!(text = json_dumps(o, JSON_COMPACT)))
        goto nomem;
    err = export_sink(text, strlen(text), ex) ? SR_OK : SR_EIO;
    goto out;
nomem:
    err = SR_ENOMEM;
out:
    if (text) {
        sr_wipe(text, strlen(text));
        free(text);
    }
    json_decref(o);
    siprec_md_destroy(md);
    siprec_md_destroy(scratch);
    stor_reader_close(r);
    if (err && !*why)
        *why = sr_strerror(err);
    return err;
}

static enum sr_err export_run(struct api_export *ex, const char **why)
{
    const struct api_export_opts *o = &ex->o;

    switch (o->fmt) {
    case API_EXPORT_OGG:
        return o->has_stream
                   ? stor_export_ogg_stream(ex->path, ex->cert, ex->key, o->stream, export_sink, ex, why)
                   : stor_export_ogg(ex->path, ex->cert, ex->key, export_sink, ex, why);
    case API_EXPORT_OPUS:
        return stor_export_opus(ex->path, ex->cert, ex->key,
                                o->has_stream ? o->stream : STOR_STREAM_FIRST_OPUS, export_sink, ex,
                                why);
    case API_EXPORT_WAVEFORM: return waveform_json(ex, why);
    case API_EXPORT_METADATA: return metadata_json(ex, why);
    case API_EXPORT_WAV: break;
    }
    if (o->has_stream)
        return stor_export_wav_stream(ex->path, ex->cert, ex->key, o->stream, export_sink, ex, why);
    return o->mixed ? stor_export_wav_mixed(ex->path, ex->cert, ex->key, export_sink, ex, why)
                    : stor_export_wav(ex->path, ex->cert, ex->key, export_sink, ex, why);
}

static void *export_worker(void *arg)
{
    struct api_export *ex = arg;
    const char *why = NULL;
    enum sr_err err = export_run(ex, &why);

    if (err) {
        snprintf(ex->why, sizeof(ex->why), "%s%s%s", sr_strerror(err), why ? ": " : "",
                 why ? why : "");
        ex->err = err;
        atomic_store(&ex->failed, true);
    }
    /* done before close: a reader that sees EOF also sees the outcome */
    atomic_store(&ex->done, true);
    close(ex->wfd);
    ex->wfd = -1;
    export_wake(ex);
    return NULL;
}

static void export_free(struct api_export *ex)
{
    if (ex->rfd >= 0)
        close(ex->rfd); /* unblocks a worker still writing (EPIPE) */
    if (ex->th_started)
        pthread_join(ex->th, NULL);
    if (ex->wfd >= 0)
        close(ex->wfd);
    if (ex->lock_init)
        pthread_mutex_destroy(&ex->lock);
    free(ex->path);
    free(ex->cert);
    free(ex->key);
    free(ex);
}

void api_export_release(struct api_export *ex)
{
    if (ex && atomic_fetch_sub(&ex->refs, 1) == 1)
        export_free(ex);
}

static void export_response_free(void *cls)
{
    api_export_release(cls);
}

/* Never blocks: an empty pipe parks the connection (returning 0, "nothing
 * yet", which MHD 0.9.75 allows with a suspended connection). */
static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct api_export *ex = cls;
    ssize_t n = -1;

    (void)pos;
    for (int i = 0; i < EXPORT_READ_TRIES; i++) {
        n = read(ex->rfd, buf, max);
        if (n > 0) {
            atomic_fetch_add(&ex->bytes, (uint64_t)n);
            return n;
        }
        if (n == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            break;
        if (export_park(ex))
            return 0;
        /* not parked: the worker wrote or finished in between; read again */
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0; /* unreachable in practice: ready twice, yet empty */
    if (n == 0 && !atomic_load(&ex->failed))
        return MHD_CONTENT_READER_END_OF_STREAM;
    log_warn("export aborted mid-stream: %s", n == 0 ? ex->why : strerror(errno));
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

uint64_t api_export_bytes(const struct api_export *ex)
{
    return ex ? atomic_load(&ex->bytes) : 0;
}

enum sr_err api_export_error(const struct api_export *ex)
{
    return ex && atomic_load(&ex->failed) ? ex->err : SR_OK;
}

bool api_export_failed(const struct api_export *ex)
{
    return ex && atomic_load(&ex->failed);
}

enum sr_err api_export_begin(struct api_export **exp, const struct api_export_opts *o, const char *path,
                             const char *cert_file, const char *key_file,
                             struct MHD_Connection *c, _Atomic unsigned *parked)
{
    struct api_export *ex;
    int fds[2];
    enum sr_err err = SR_ENOMEM;

    *exp = NULL;
    ex = calloc(1, sizeof(*ex));
    if (!ex)
        return SR_ENOMEM;
    atomic_init(&ex->refs, 1);
    ex->rfd = ex->wfd = -1;
    ex->o = *o;
    ex->conn = c;
    ex->parked = parked;
    ex->path = strdup(path);
    ex->cert = strdup(cert_file);
    ex->key = strdup(key_file);
    if (!ex->path || !ex->cert || !ex->key)
        goto fail;
    if (pthread_mutex_init(&ex->lock, NULL) != 0)
        goto fail;
    ex->lock_init = true;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        err = sr_err_from_errno(errno);
        goto fail;
    }
    ex->rfd = fds[0];
    ex->wfd = fds[1];
    /* only the read end: the worker may block on a full pipe, MHD must not */
    if (fcntl(ex->rfd, F_SETFL, O_NONBLOCK) != 0) {
        err = sr_err_from_errno(errno);
        goto fail;
    }
    if (pthread_create(&ex->th, NULL, export_worker, ex) != 0) {
        err = SR_EIO;
        goto fail;
    }
    ex->th_started = true;
    *exp = ex;
    return SR_OK;
fail:
    export_free(ex);
    return err;
}

bool api_export_respond(struct api_export *ex, struct MHD_Response **resp, const char **why)
{
    *resp = NULL;
    *why = NULL;
    if (export_park(ex))
        return false;
    if (atomic_load(&ex->done) && atomic_load(&ex->failed)) {
        *why = ex->why;
        return true;
    }
    *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, EXPORT_BLOCK, export_read, ex,
                                              export_response_free);
    if (!*resp) {
        *why = "out of memory";
        return true;
    }
    atomic_fetch_add(&ex->refs, 1);
    return true;
}
