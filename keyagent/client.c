/** @file client.c  The control-socket client an endpoint links (ka.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "ka.h"
#include "util.h"

struct ka_client {
    int fd;
    char in[512];      /* answers: "OK" or "ERR <reason>" */
    size_t in_len;
    char error[512];
};

enum sr_err ka_client_connect(struct ka_client **out, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct ka_client *c;

    if (!out || !path || strlen(path) >= sizeof(sa.sun_path))
        return SR_EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return SR_ENOMEM;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        enum sr_err err = sr_err_from_errno(errno);
        ka_client_close(c);
        return err == SR_EAGAIN ? SR_EIO : err;
    }
    *out = c;
    return SR_OK;
}

void ka_client_close(struct ka_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

const char *ka_client_error(const struct ka_client *c)
{
    return c ? c->error : "";
}

static enum sr_err wait_fd(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    int rc;

    do
        rc = poll(&p, 1, KA_CLIENT_TIMEOUT_MS);
    while (rc < 0 && errno == EINTR);
    return rc > 0 ? SR_OK : SR_EIO;
}

static enum sr_err send_all(struct ka_client *c, const char *p, size_t len)
{
    while (len) {
        ssize_t n;
        if (wait_fd(c->fd, POLLOUT) != SR_OK)
            return SR_EIO;
        n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return errno == EPIPE || errno == ECONNRESET ? SR_ECLOSED : SR_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return SR_OK;
}

static enum sr_err read_answer(struct ka_client *c)
{
    for (;;) {
        char *nl = c->in_len ? memchr(c->in, '\n', c->in_len) : NULL;
        ssize_t n;

        if (nl) {
            size_t len = (size_t)(nl - c->in);
            struct slice a = slice_of(c->in, len);
            enum sr_err err;

            if (len && a.p[len - 1] == '\r')
                a.len--;
            c->error[0] = '\0';
            if (slice_eq(a, SLICE_LIT("OK"))) {
                err = SR_OK;
            } else if (a.len >= 4 && memcmp(a.p, "ERR ", 4) == 0) {
                slice_copy_cstr(slice_of(a.p + 4, a.len - 4), c->error, sizeof(c->error));
                err = SR_ESTATE;
            } else {
                slice_copy_cstr(SLICE_LIT("unexpected answer"), c->error, sizeof(c->error));
                err = SR_EPARSE;
            }
            memmove(c->in, nl + 1, c->in_len - len - 1);
            c->in_len -= len + 1;
            return err;
        }
        if (c->in_len == sizeof(c->in))
            return SR_EPARSE;
        if (wait_fd(c->fd, POLLIN) != SR_OK)
            return SR_EIO;
        n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
        if (n == 0)
            return SR_ECLOSED;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return SR_EIO;
        }
        c->in_len += (size_t)n;
    }
}

/* The line may hold keys: it is wiped by buf_fini either way. */
static enum sr_err line_send(struct ka_client *c, struct buf *line)
{
    enum sr_err err = buf_append(line, "\n", 1);

    if (!err)
        err = line->len > KA_LINE_MAX ? SR_EINVAL : send_all(c, line->p, line->len);
    if (!err)
        err = read_answer(c);
    buf_fini(line);
    return err;
}

static bool tok_ok(const char *s)
{
    if (!s || !s[0])
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

enum sr_err ka_client_command(struct ka_client *c, const char *line)
{
    struct buf b;

    if (!c || !line || strchr(line, '\n'))
        return SR_EINVAL;
    buf_init(&b, KA_LINE_MAX);
    if (buf_append(&b, line, strlen(line)) != SR_OK) {
        buf_fini(&b);
        return SR_EINVAL;
    }
    return line_send(c, &b);
}

static enum sr_err call_line(struct buf *b, const struct ka_call_info *call)
{
    if (!call || !tok_ok(call->call_id) || !tok_ok(call->local_tag) ||
        !tok_ok(call->remote_tag) || !tok_ok(call->local_aor) || !tok_ok(call->remote_aor))
        return SR_EINVAL;
    return buf_printf(b, "CALL %s %s %s %s %s", call->call_id, call->local_tag, call->remote_tag,
                      call->local_aor, call->remote_aor) == SR_OK ? SR_OK : SR_EINVAL;
}

enum sr_err ka_call_begin(struct ka_client *c, const struct ka_call_info *call)
{
    struct buf b;

    if (!c)
        return SR_EINVAL;
    buf_init(&b, KA_LINE_MAX);
    if (call_line(&b, call) != SR_OK) {
        buf_fini(&b);
        return SR_EINVAL;
    }
    return line_send(c, &b);
}

static enum sr_err keys_append(struct buf *b, const char *suite, const struct ka_key *keys,
                               size_t n_keys)
{
    enum sr_err err;

    if (!tok_ok(suite) || !keys || n_keys == 0 || n_keys > 4)
        return SR_EINVAL;
    err = buf_printf(b, " %s", suite);
    for (size_t i = 0; i < n_keys && !err; i++) {
        char b64[96];
        const struct ka_key *k = &keys[i];

        if (!k->master || k->master_len == 0 || k->master_len > 64 || k->mki_len > 4 ||
            sr_b64_encode(k->master, k->master_len, b64, sizeof(b64)) == 0)
            return SR_EINVAL;
        err = buf_printf(b, " inline:%s", b64);
        sr_wipe(b64, sizeof(b64));
        if (!err && k->lifetime)
            err = buf_printf(b, "|%llu", (unsigned long long)k->lifetime);
        if (!err && k->mki_len)
            err = buf_printf(b, "|%lu:%u", (unsigned long)k->mki, k->mki_len);
    }
    return err;
}

static enum sr_err stream_line(struct buf *b, const struct ka_stream_info *s)
{
    char ssrc[12];
    enum sr_err err;

    if (!s || !tok_ok(s->call_id) || !tok_ok(s->stream_id) || !tok_ok(s->codec) ||
        (s->src && !tok_ok(s->src)) || (s->dst && !tok_ok(s->dst)))
        return SR_EINVAL;
    if (s->ssrc_known)
        snprintf(ssrc, sizeof(ssrc), "%08lx", (unsigned long)s->ssrc);
    else
        memcpy(ssrc, "-", 2);
    err = buf_printf(b, "STREAM %s %s %s %s %u %s %u %s %s", s->call_id, s->stream_id,
                     s->direction == KA_DIR_SEND ? "send" : "recv", ssrc, s->payload_type,
                     s->codec, s->clock_rate, s->src ? s->src : "-", s->dst ? s->dst : "-");
    if (!err)
        err = keys_append(b, s->suite, s->keys, s->n_keys);
    if (!err)
        err = buf_printf(b, " %lu %u", (unsigned long)s->roc, (unsigned)s->seq);
    return err ? SR_EINVAL : SR_OK;
}

enum sr_err ka_stream_add(struct ka_client *c, const struct ka_stream_info *s)
{
    struct buf b;

    if (!c)
        return SR_EINVAL;
    buf_init(&b, KA_LINE_MAX);
    if (stream_line(&b, s) != SR_OK) {
        buf_fini(&b);
        return SR_EINVAL;
    }
    return line_send(c, &b);
}

enum sr_err ka_call_begin_streams(struct ka_client *c, const struct ka_call_info *call,
                                  const struct ka_stream_info *streams, size_t n_streams,
                                  size_t *n_ok)
{
    char first_error[sizeof(c->error)] = "";
    enum sr_err err = SR_OK, first = SR_OK;
    struct buf b;

    if (n_ok)
        *n_ok = 0;
    if (!c || (n_streams && !streams) || n_streams > KA_PIPELINE_STREAMS)
        return SR_EINVAL;
    /* Every line is built and checked before any is sent: a bad argument
     * sends nothing. */
    buf_init(&b, (n_streams + 1) * KA_LINE_MAX);
    for (size_t i = 0; i <= n_streams && !err; i++) {
        size_t before = b.len;
        err = i == 0 ? call_line(&b, call) : stream_line(&b, &streams[i - 1]);
        if (!err && b.len - before + 1 > KA_LINE_MAX)
            err = SR_EINVAL;
        if (!err)
            err = buf_append(&b, "\n", 1) == SR_OK ? SR_OK : SR_EINVAL;
    }
    if (!err)
        err = send_all(c, b.p, b.len);
    buf_fini(&b);
    if (err)
        return err;
    /* One answer per line, in order; the first refusal is the result. */
    for (size_t i = 0; i <= n_streams; i++) {
        err = read_answer(c);
        if (err == SR_OK && n_ok)
            (*n_ok)++;
        if (err != SR_OK && err != SR_ESTATE)
            return err; /* the socket is unusable */
        if (err && !first) {
            first = err;
            memcpy(first_error, c->error, sizeof(first_error));
        }
    }
    memcpy(c->error, first_error, sizeof(first_error));
    return first;
}

enum sr_err ka_rekey(struct ka_client *c, const char *call_id, const char *stream_id,
                     const char *suite, const struct ka_key *keys, size_t n_keys)
{
    struct buf b;
    enum sr_err err;

    if (!c || !tok_ok(call_id) || !tok_ok(stream_id))
        return SR_EINVAL;
    buf_init(&b, KA_LINE_MAX);
    err = buf_printf(&b, "REKEY %s %s", call_id, stream_id);
    if (!err)
        err = keys_append(&b, suite, keys, n_keys);
    if (err) {
        buf_fini(&b);
        return SR_EINVAL;
    }
    return line_send(c, &b);
}

static enum sr_err simple(struct ka_client *c, const char *verb, const char *a, const char *b2)
{
    struct buf b;

    if (!c || !tok_ok(a) || (b2 && !tok_ok(b2)))
        return SR_EINVAL;
    buf_init(&b, KA_LINE_MAX);
    if (buf_printf(&b, "%s %s%s%s", verb, a, b2 ? " " : "", b2 ? b2 : "") != SR_OK) {
        buf_fini(&b);
        return SR_EINVAL;
    }
    return line_send(c, &b);
}

enum sr_err ka_pause(struct ka_client *c, const char *call_id, const char *stream_id)
{
    return simple(c, "PAUSE", call_id, stream_id ? stream_id : "");
}

enum sr_err ka_resume(struct ka_client *c, const char *call_id, const char *stream_id)
{
    return simple(c, "RESUME", call_id, stream_id ? stream_id : "");
}

enum sr_err ka_call_end(struct ka_client *c, const char *call_id)
{
    return simple(c, "END", call_id, NULL);
}
