/** @file export.c  Decrypted WAV or Ogg export, streamed through a pipe.
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
#include "stor.h"
#include "util.h"

enum { EXPORT_BLOCK = 32 * 1024, EXPORT_READ_TRIES = 3 };

struct api_export {
    _Atomic int refs; /* the request and the MHD response */
    int rfd, wfd;
    pthread_t th;
    bool th_started;
    char *path, *cert, *key;
    enum api_export_fmt fmt;
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

static void *export_worker(void *arg)
{
    struct api_export *ex = arg;
    const char *why = NULL;
    enum sr_err err;

    if (ex->fmt == API_EXPORT_OGG)
        err = stor_export_ogg(ex->path, ex->cert, ex->key, export_sink, ex, &why);
    else
        err = stor_export_wav(ex->path, ex->cert, ex->key, export_sink, ex, &why);
    if (err) {
        snprintf(ex->why, sizeof(ex->why), "%s%s%s", sr_strerror(err), why ? ": " : "",
                 why ? why : "");
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

bool api_export_failed(const struct api_export *ex)
{
    return ex && atomic_load(&ex->failed);
}

enum sr_err api_export_begin(struct api_export **exp, enum api_export_fmt fmt, const char *path,
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
    ex->fmt = fmt;
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
