/** @file export.c  Decrypted WAV or Ogg export, streamed through a pipe.
 *
 * Why a pipe and a worker thread rather than an O_TMPFILE: the decrypted
 * audio never touches a disk (temp files end up in backups and on
 * unwiped blocks), memory stays at one pipe plus MHD's block, and the first
 * byte leaves as soon as it is decoded.  The price is that the length is
 * unknown up front (HTTP/1.1 chunked) and a failure after the first bytes can
 * only abort the transfer, which clients see as a truncated chunked body.
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

enum { EXPORT_BLOCK = 32 * 1024 };

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
};

static bool export_sink(const void *data, size_t len, void *arg)
{
    struct api_export *ex = arg;

    /* EPIPE once the client has gone (SIGPIPE is ignored): stor stops. */
    return sr_write_all(ex->wfd, data, len) == SR_OK;
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

static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct api_export *ex = cls;
    ssize_t n;

    (void)pos;
    do
        n = read(ex->rfd, buf, max);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        atomic_fetch_add(&ex->bytes, (uint64_t)n);
        return n;
    }
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

enum sr_err api_export_start(struct MHD_Response **resp, struct api_export **exp,
                             enum api_export_fmt fmt, const char *path, const char *cert_file,
                             const char *key_file, int timeout_ms, const char **why)
{
    struct api_export *ex;
    struct pollfd pfd;
    int fds[2];
    enum sr_err err = SR_ENOMEM;

    *why = NULL;
    *resp = NULL;
    *exp = NULL;
    ex = calloc(1, sizeof(*ex));
    if (!ex)
        return SR_ENOMEM;
    atomic_init(&ex->refs, 1);
    ex->rfd = ex->wfd = -1;
    ex->fmt = fmt;
    ex->path = strdup(path);
    ex->cert = strdup(cert_file);
    ex->key = strdup(key_file);
    if (!ex->path || !ex->cert || !ex->key)
        goto fail;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        err = sr_err_from_errno(errno);
        *why = "pipe";
        goto fail;
    }
    ex->rfd = fds[0];
    ex->wfd = fds[1];
    if (pthread_create(&ex->th, NULL, export_worker, ex) != 0) {
        err = SR_EIO;
        *why = "thread";
        goto fail;
    }
    ex->th_started = true;

    pfd.fd = ex->rfd;
    pfd.events = POLLIN;
    while (poll(&pfd, 1, timeout_ms) < 0 && errno == EINTR)
        ;
    if (atomic_load(&ex->done) && atomic_load(&ex->failed)) {
        *why = ex->why; /* lives in ex: the caller copies it before releasing */
        *exp = ex;
        return SR_EIO;
    }
    *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, EXPORT_BLOCK, export_read, ex,
                                              export_response_free);
    if (!*resp)
        goto fail;
    atomic_fetch_add(&ex->refs, 1);
    *exp = ex;
    return SR_OK;
fail:
    export_free(ex);
    return err;
}
