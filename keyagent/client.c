/** @file client.c  The control-socket client an endpoint links (ka.h).
 *
 * The keyagent holds calls only in memory, so a keyagent that restarts
 * knows none.  The client therefore keeps what it disclosed (every live
 * call, its streams and their current keys and pause state) and discloses
 * it all again whenever it connects anew: a restart of the keyagent costs a
 * reconnect, not the calls (issue 12, item 7).  Kept keys are wiped when a
 * call ends and when the client is closed. */
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

/* One stream as last disclosed: enough to write its STREAM line again. */
struct kept_stream {
    char *id, *codec, *src, *dst, *suite; /* heap; src, dst may be NULL */
    enum ka_direction direction;
    bool ssrc_known, paused;
    uint32_t ssrc, roc;
    uint16_t seq;
    unsigned payload_type, clock_rate;
    struct {
        uint8_t master[64];                /* wiped on forget */
        size_t len;
        uint64_t lifetime;
        uint32_t mki;
        unsigned mki_len;
    } keys[4];
    size_t n_keys;
};

struct kept_call {
    char *call_id, *local_tag, *remote_tag, *local_aor, *remote_aor;
    uint64_t start_wall_us;                /* the start it was disclosed with; 0: none */
    struct kept_stream *streams;           /* heap, grown as streams come (a call of
                                              two streams keeps two, not sixteen) */
    size_t n_streams, cap_streams;         /* at most KA_PIPELINE_STREAMS */
};

struct ka_client {
    int fd;                                /* -1 while disconnected */
    char path[108];                        /* sun_path: for reconnects */
    char in[512];      /* answers: "OK", "OK <data>" (VERSION) or "ERR <reason>" */
    size_t in_len;
    char error[512];
    char data[32];                         /* the last answer's "OK <data>", "" if none */
    unsigned protocol;                     /* the keyagent's revision; 0 while disconnected */
    struct kept_call **kept;               /* what a new connection re-discloses */
    size_t n_kept, cap_kept;
    ka_position_fn *position_fn;           /* replayed streams' ROC/SEQ now; may be NULL */
    void *position_arg;
};

static void kept_call_free(struct kept_call *k);
static enum sr_err replay(struct ka_client *c);

static void disconnect(struct ka_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->protocol = 0;
    sr_wipe(c->in, sizeof(c->in));
    c->in_len = 0;
}

static enum sr_err read_answer(struct ka_client *c);
static enum sr_err send_all(struct ka_client *c, const char *p, size_t len);

/* Ask the keyagent's revision.  "ERR ..." is a keyagent older than VERSION
 * (revision 1); a number we do not speak is capped at ours: later revisions
 * keep every earlier line's meaning. */
static enum sr_err negotiate(struct ka_client *c)
{
    enum sr_err err = send_all(c, "VERSION\n", 8);
    unsigned long v = 0;
    char *end = NULL;

    if (!err)
        err = read_answer(c);
    if (err == SR_ESTATE) {
        c->protocol = 1;
        return SR_OK;
    }
    if (err)
        return err;
    if (c->data[0])
        v = strtoul(c->data, &end, 10);
    if (!c->data[0] || *end || v == 0) {
        snprintf(c->error, sizeof(c->error), "VERSION answered without a revision");
        return SR_EPARSE;
    }
    c->protocol = v > KA_PROTOCOL ? KA_PROTOCOL : (unsigned)v;
    return SR_OK;
}

static enum sr_err sock_open(struct ka_client *c)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    enum sr_err err;

    disconnect(c);
    memcpy(sa.sun_path, c->path, sizeof(c->path));
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd >= 0 && connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        err = negotiate(c);
        if (err)
            disconnect(c);
        return err == SR_ECLOSED ? SR_EIO : err;
    }
    err = sr_err_from_errno(errno);
    disconnect(c);
    return err == SR_EAGAIN || err == SR_OK ? SR_EIO : err;
}

enum sr_err ka_client_connect(struct ka_client **out, const char *path)
{
    struct ka_client *c;
    enum sr_err err;

    if (!out || !path || strlen(path) >= sizeof(c->path))
        return SR_EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return SR_ENOMEM;
    c->fd = -1;
    memcpy(c->path, path, strlen(path) + 1);
    err = sock_open(c);
    if (err) {
        ka_client_close(c);
        return err;
    }
    *out = c;
    return SR_OK;
}

void ka_client_close(struct ka_client *c)
{
    if (!c)
        return;
    disconnect(c);
    for (size_t i = 0; i < c->n_kept; i++)
        kept_call_free(c->kept[i]);
    free(c->kept);
    sr_wipe(c, sizeof(*c));
    free(c);
}

size_t ka_client_kept_calls(const struct ka_client *c)
{
    return c ? c->n_kept : 0;
}

int ka_client_fd(const struct ka_client *c)
{
    return c ? c->fd : -1;
}

/* Connect again and disclose everything kept.  The connection is dropped
 * again if the replay fails on the socket. */
enum sr_err ka_client_reconnect(struct ka_client *c)
{
    enum sr_err err;

    if (!c)
        return SR_EINVAL;
    /* No socket file, or nobody listening on it yet: unreachable alike. */
    if (sock_open(c) != SR_OK)
        return SR_EIO;
    err = replay(c);
    if (err && err != SR_ESTATE)
        disconnect(c);
    return err;
}

/* The keyagent never writes unasked: a readable socket between commands
 * means it closed (it exited, or restarted), or sent something stray. */
static bool peer_gone(struct ka_client *c)
{
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    char b;

    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
        return true;
    return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

enum sr_err ka_client_poll(struct ka_client *c)
{
    if (!c)
        return SR_EINVAL;
    if (c->fd >= 0 && !peer_gone(c))
        return SR_OK;
    return ka_client_reconnect(c);
}

const char *ka_client_error(const struct ka_client *c)
{
    return c ? c->error : "";
}

unsigned ka_client_protocol(const struct ka_client *c)
{
    return c ? c->protocol : 0;
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
    if (c->fd < 0)
        return SR_ECLOSED;
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
    if (c->fd < 0)
        return SR_ECLOSED;
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
            c->data[0] = '\0';
            if (slice_eq(a, SLICE_LIT("OK"))) {
                err = SR_OK;
            } else if (a.len > 3 && memcmp(a.p, "OK ", 3) == 0) {
                slice_copy_cstr(slice_of(a.p + 3, a.len - 3), c->data, sizeof(c->data));
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

/* start_wall_us: the dialog's start, sent only when given (0: none), so a
 * CALL without one is the line every keyagent takes. */
static enum sr_err call_line(struct buf *b, unsigned protocol, const struct ka_call_info *call,
                             uint64_t start_wall_us)
{
    char when[40] = "";

    if (!call || !tok_ok(call->call_id) || !tok_ok(call->local_tag) ||
        !tok_ok(call->remote_tag) || !tok_ok(call->local_aor) || !tok_ok(call->remote_aor))
        return SR_EINVAL;
    if (start_wall_us && protocol >= 2) {
        when[0] = ' ';
        sr_wall_fmt(start_wall_us, when + 1, sizeof(when) - 1);
    }
    return buf_printf(b, "CALL %s %s %s %s %s%s", call->call_id, call->local_tag,
                      call->remote_tag, call->local_aor, call->remote_aor, when) == SR_OK
               ? SR_OK : SR_EINVAL;
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

static enum sr_err stream_line(struct buf *b, unsigned protocol, const struct ka_stream_info *s)
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
    if (!err && s->roc == KA_ROC_UNKNOWN)
        err = protocol >= 2 ? buf_printf(b, " - %u", (unsigned)s->seq)
                            : buf_printf(b, " 0 %u", (unsigned)s->seq);
    else if (!err)
        err = buf_printf(b, " %lu %u", (unsigned long)s->roc, (unsigned)s->seq);
    return err ? SR_EINVAL : SR_OK;
}

/* ------------------------------------------------------------ kept calls */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void kept_stream_fini(struct kept_stream *st)
{
    free(st->id);
    free(st->codec);
    free(st->src);
    free(st->dst);
    free(st->suite);
    sr_wipe(st, sizeof(*st));
}

static void kept_call_free(struct kept_call *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n_streams; i++)
        kept_stream_fini(&k->streams[i]);
    if (k->streams)
        sr_wipe(k->streams, k->cap_streams * sizeof(*k->streams));
    free(k->streams);
    free(k->call_id);
    free(k->local_tag);
    free(k->remote_tag);
    free(k->local_aor);
    free(k->remote_aor);
    sr_wipe(k, sizeof(*k));
    free(k);
}

static struct kept_call *kept_find(const struct ka_client *c, const char *call_id)
{
    for (size_t i = 0; i < c->n_kept; i++)
        if (strcmp(c->kept[i]->call_id, call_id) == 0)
            return c->kept[i];
    return NULL;
}

static struct kept_stream *kept_stream_find(struct kept_call *k, const char *id)
{
    for (size_t i = 0; k && i < k->n_streams; i++)
        if (strcmp(k->streams[i].id, id) == 0)
            return &k->streams[i];
    return NULL;
}

/* Room for one more call?  Checked before a CALL is sent, so that every
 * call the keyagent accepts can also be disclosed again. */
static bool kept_room(const struct ka_client *c, const char *call_id)
{
    return c->n_kept < KA_CLIENT_MAX_CALLS || kept_find(c, call_id);
}

static enum sr_err kept_call_add(struct ka_client *c, const struct ka_call_info *ci,
                                 uint64_t start_wall_us)
{
    struct kept_call *k;

    if (kept_find(c, ci->call_id))
        return SR_OK;
    if (c->n_kept == KA_CLIENT_MAX_CALLS)
        return SR_ELIMIT;
    if (c->n_kept == c->cap_kept) {
        size_t cap = c->cap_kept ? c->cap_kept * 2 : 16;
        struct kept_call **p = realloc(c->kept, cap * sizeof(*p));
        if (!p)
            return SR_ENOMEM;
        c->kept = p;
        c->cap_kept = cap;
    }
    k = calloc(1, sizeof(*k));
    if (!k)
        return SR_ENOMEM;
    k->call_id = strdup(ci->call_id);
    k->local_tag = strdup(ci->local_tag);
    k->remote_tag = strdup(ci->remote_tag);
    k->local_aor = strdup(ci->local_aor);
    k->remote_aor = strdup(ci->remote_aor);
    k->start_wall_us = start_wall_us;
    if (!k->call_id || !k->local_tag || !k->remote_tag || !k->local_aor || !k->remote_aor) {
        kept_call_free(k);
        return SR_ENOMEM;
    }
    c->kept[c->n_kept++] = k;
    return SR_OK;
}

static void kept_keys_set(struct kept_stream *st, const struct ka_key *keys, size_t n_keys)
{
    sr_wipe(st->keys, sizeof(st->keys));
    st->n_keys = n_keys;
    for (size_t i = 0; i < n_keys; i++) {
        memcpy(st->keys[i].master, keys[i].master, keys[i].master_len);
        st->keys[i].len = keys[i].master_len;
        st->keys[i].lifetime = keys[i].lifetime;
        st->keys[i].mki = keys[i].mki;
        st->keys[i].mki_len = keys[i].mki_len;
    }
}

/* Streams of a call this client did not begin (raw lines) are not kept. */
static enum sr_err kept_stream_add(struct ka_client *c, const struct ka_stream_info *si)
{
    struct kept_call *k = kept_find(c, si->call_id);
    struct kept_stream *st;
    char *suite;

    if (!k || kept_stream_find(k, si->stream_id) || k->n_streams == KA_PIPELINE_STREAMS)
        return SR_OK;
    if (k->n_streams == k->cap_streams) {
        /* Not realloc: the old block holds keys and must be wiped. */
        size_t cap = k->cap_streams ? k->cap_streams * 2 : 2;
        struct kept_stream *p;

        if (cap > KA_PIPELINE_STREAMS)
            cap = KA_PIPELINE_STREAMS;
        p = calloc(cap, sizeof(*p));
        if (!p)
            return SR_ENOMEM;
        if (k->streams) {
            memcpy(p, k->streams, k->n_streams * sizeof(*p));
            sr_wipe(k->streams, k->cap_streams * sizeof(*k->streams));
            free(k->streams);
        }
        k->streams = p;
        k->cap_streams = cap;
    }
    suite = strdup(si->suite);
    st = &k->streams[k->n_streams];
    memset(st, 0, sizeof(*st));
    st->id = strdup(si->stream_id);
    st->codec = strdup(si->codec);
    st->src = dup_or_null(si->src);
    st->dst = dup_or_null(si->dst);
    st->suite = suite;
    if (!st->id || !st->codec || (si->src && !st->src) || (si->dst && !st->dst) || !suite) {
        kept_stream_fini(st);
        return SR_ENOMEM;
    }
    st->direction = si->direction;
    st->ssrc_known = si->ssrc_known;
    st->ssrc = si->ssrc;
    st->payload_type = si->payload_type;
    st->clock_rate = si->clock_rate;
    st->roc = si->roc;
    st->seq = si->seq;
    kept_keys_set(st, si->keys, si->n_keys);
    k->n_streams++;
    return SR_OK;
}

static enum sr_err kept_rekey(struct ka_client *c, const char *call_id, const char *stream_id,
                              const char *suite, const struct ka_key *keys, size_t n_keys)
{
    struct kept_stream *st = kept_stream_find(kept_find(c, call_id), stream_id);
    char *s;

    if (!st)
        return SR_OK;
    if (strcmp(st->suite, suite) != 0) {
        s = strdup(suite);
        if (!s)
            return SR_ENOMEM;
        free(st->suite);
        st->suite = s;
    }
    kept_keys_set(st, keys, n_keys);
    return SR_OK;
}

static void kept_pause(struct ka_client *c, const char *call_id, const char *stream_id, bool paused)
{
    struct kept_stream *st = kept_stream_find(kept_find(c, call_id), stream_id);

    if (st)
        st->paused = paused;
}

static void kept_forget(struct ka_client *c, const char *call_id)
{
    for (size_t i = 0; i < c->n_kept; i++)
        if (strcmp(c->kept[i]->call_id, call_id) == 0) {
            kept_call_free(c->kept[i]);
            c->kept[i] = c->kept[--c->n_kept];
            return;
        }
}

void ka_client_set_position_fn(struct ka_client *c, ka_position_fn *fn, void *arg)
{
    if (!c)
        return;
    c->position_fn = fn;
    c->position_arg = arg;
}

/* The answers the keyagent gives to a line it already has: a replay onto a
 * keyagent that did not restart (only the connection broke) is not refused. */
static bool already_known(const char *why)
{
    return strncmp(why, "call exists", 11) == 0 || strncmp(why, "stream exists", 13) == 0;
}

/* Append CALL, its STREAMs and a PAUSE per paused stream to b; *n_lines
 * counts them. */
static enum sr_err replay_lines(struct ka_client *c, const struct kept_call *k, struct buf *b,
                                size_t *n_lines)
{
    struct ka_call_info ci = { k->call_id, k->local_tag, k->remote_tag, k->local_aor,
                               k->remote_aor };
    enum sr_err err = call_line(b, c->protocol, &ci, k->start_wall_us);

    if (!err)
        err = buf_append(b, "\n", 1);
    *n_lines = 1;
    for (size_t i = 0; i < k->n_streams && !err; i++) {
        const struct kept_stream *st = &k->streams[i];
        struct ka_key keys[4];
        struct ka_stream_info si = { 0 };

        for (size_t j = 0; j < st->n_keys; j++)
            keys[j] = (struct ka_key){ st->keys[j].master, st->keys[j].len, st->keys[j].lifetime,
                                       st->keys[j].mki, st->keys[j].mki_len };
        si.call_id = k->call_id;
        si.stream_id = st->id;
        si.direction = st->direction;
        si.ssrc_known = st->ssrc_known;
        si.ssrc = st->ssrc;
        si.payload_type = st->payload_type;
        si.codec = st->codec;
        si.clock_rate = st->clock_rate;
        si.src = st->src;
        si.dst = st->dst;
        si.suite = st->suite;
        si.keys = keys;
        si.n_keys = st->n_keys;
        si.roc = st->roc;
        si.seq = st->seq;
        /* The stream has moved on since it was disclosed: the endpoint
         * knows where it is now. */
        if (c->position_fn)
            c->position_fn(c->position_arg, k->call_id, st->id, &si.roc, &si.seq);
        err = stream_line(b, c->protocol, &si);
        sr_wipe(keys, sizeof(keys));
        if (!err)
            err = buf_append(b, "\n", 1);
        (*n_lines)++;
    }
    for (size_t i = 0; i < k->n_streams && !err; i++)
        if (k->streams[i].paused) {
            err = buf_printf(b, "PAUSE %s %s\n", k->call_id, k->streams[i].id);
            (*n_lines)++;
        }
    return err;
}

/* Disclose every kept call on the fresh connection, one call (its lines
 * pipelined) at a time.  SR_ESTATE: some call was refused (the first
 * reason is in c->error; the call stays kept for the next connection);
 * socket errors end the replay. */
static enum sr_err replay(struct ka_client *c)
{
    char first_error[sizeof(c->error)] = "";
    enum sr_err result = SR_OK;
    struct buf b;

    buf_init(&b, (2 * KA_PIPELINE_STREAMS + 1) * KA_LINE_MAX);
    for (size_t i = 0; i < c->n_kept && result != SR_EIO && result != SR_ECLOSED; i++) {
        size_t n_lines = 0;
        enum sr_err err;

        buf_reset(&b);
        err = replay_lines(c, c->kept[i], &b, &n_lines);
        if (!err)
            err = send_all(c, b.p, b.len);
        sr_wipe(b.p, b.len);
        if (err) {
            result = err == SR_ECLOSED ? SR_ECLOSED : SR_EIO;
            break;
        }
        for (size_t l = 0; l < n_lines; l++) {
            err = read_answer(c);
            if (err == SR_ESTATE && already_known(c->error))
                continue;
            if (err == SR_ESTATE && !first_error[0]) {
                snprintf(first_error, sizeof(first_error), "re-disclosing %.200s: %.280s",
                         c->kept[i]->call_id, c->error);
                result = SR_ESTATE;
            } else if (err && err != SR_ESTATE) {
                result = err;
                break;
            }
        }
    }
    buf_fini(&b);
    memcpy(c->error, first_error, sizeof(first_error));
    return result;
}

/* ------------------------------------------------------------ commands */

static bool sock_failed(enum sr_err err)
{
    return err == SR_EIO || err == SR_ECLOSED;
}

/* Before a typed command: a client left disconnected connects again first
 * (disclosing what it keeps).  A connection that merely looks up is not
 * probed: if the keyagent closed it, the command fails on the socket and
 * recover() reconnects, its replay carrying the command (a probe per
 * command cost a poll(2) for nothing in the common case).  SR_OK (or
 * SR_ESTATE from the replay): connected. */
static enum sr_err ready(struct ka_client *c)
{
    enum sr_err err;

    if (c->fd >= 0)
        return SR_OK;
    err = ka_client_reconnect(c);
    return err == SR_ESTATE ? SR_OK : err;
}

/* After a typed command failed on the socket (its effect is already kept):
 * one reconnect, whose replay carries the command's effect. */
static enum sr_err recover(struct ka_client *c, enum sr_err err)
{
    if (!sock_failed(err))
        return err;
    err = ka_client_reconnect(c);
    return err;
}

enum sr_err ka_call_begin(struct ka_client *c, const struct ka_call_info *call)
{
    return ka_call_begin_streams(c, call, NULL, 0, NULL);
}

enum sr_err ka_stream_add(struct ka_client *c, const struct ka_stream_info *s)
{
    struct buf b;
    enum sr_err err;

    if (!c)
        return SR_EINVAL;
    buf_init(&b, KA_LINE_MAX);
    if (stream_line(&b, KA_PROTOCOL, s) != SR_OK) {
        buf_fini(&b);
        return SR_EINVAL;
    }
    err = ready(c);
    if (!err && c->protocol < KA_PROTOCOL) { /* an older keyagent: its form of the line */
        buf_reset(&b);
        err = stream_line(&b, c->protocol, s);
    }
    if (!err)
        err = line_send(c, &b);
    else
        buf_fini(&b);
    if (err == SR_OK || sock_failed(err)) {
        enum sr_err kerr = kept_stream_add(c, s);
        if (kerr)
            return kerr;
    }
    return recover(c, err);
}

/* CALL and its STREAMs, one per line, in protocol's form. */
static enum sr_err call_lines(struct buf *b, unsigned protocol, const struct ka_call_info *call,
                              uint64_t start_wall_us, const struct ka_stream_info *streams,
                              size_t n_streams)
{
    enum sr_err err = SR_OK;

    for (size_t i = 0; i <= n_streams && !err; i++) {
        size_t before = b->len;
        err = i == 0 ? call_line(b, protocol, call, start_wall_us)
                     : stream_line(b, protocol, &streams[i - 1]);
        if (!err && b->len - before + 1 > KA_LINE_MAX)
            err = SR_EINVAL;
        if (!err)
            err = buf_append(b, "\n", 1) == SR_OK ? SR_OK : SR_EINVAL;
    }
    return err;
}

enum sr_err ka_call_begin_streams(struct ka_client *c, const struct ka_call_info *call,
                                  const struct ka_stream_info *streams, size_t n_streams,
                                  size_t *n_ok)
{
    return ka_call_begin_streams_at(c, call, 0, streams, n_streams, n_ok);
}

enum sr_err ka_call_begin_streams_at(struct ka_client *c, const struct ka_call_info *call,
                                     uint64_t start_wall_us, const struct ka_stream_info *streams,
                                     size_t n_streams, size_t *n_ok)
{
    char first_error[sizeof(c->error)] = "";
    enum sr_err err = SR_OK, first = SR_OK;
    bool call_ok = false;
    struct buf b;

    if (n_ok)
        *n_ok = 0;
    if (!c || (n_streams && !streams) || n_streams > KA_PIPELINE_STREAMS)
        return SR_EINVAL;
    /* Every line is built and checked before any is sent: a bad argument
     * sends nothing. */
    buf_init(&b, (n_streams + 1) * KA_LINE_MAX);
    err = call_lines(&b, KA_PROTOCOL, call, start_wall_us, streams, n_streams);
    if (!err && !kept_room(c, call->call_id))
        err = SR_ELIMIT; /* a call that could not be disclosed again is not disclosed */
    if (!err)
        err = ready(c);
    if (!err && c->protocol < KA_PROTOCOL) { /* an older keyagent: its form of the lines */
        buf_reset(&b);
        err = call_lines(&b, c->protocol, call, start_wall_us, streams, n_streams);
    }
    if (!err)
        err = send_all(c, b.p, b.len);
    buf_fini(&b);
    if (err == SR_EINVAL || err == SR_ELIMIT || err == SR_ENOMEM)
        return err;
    /* One answer per line, in order; the first refusal is the result. */
    for (size_t i = 0; i <= n_streams && !sock_failed(err); i++) {
        err = read_answer(c);
        if (err == SR_OK && n_ok)
            (*n_ok)++;
        if (err == SR_OK) {
            enum sr_err kerr = i == 0 ? kept_call_add(c, call, start_wall_us) : call_ok ?
                               kept_stream_add(c, &streams[i - 1]) : SR_OK;
            if (i == 0)
                call_ok = kerr == SR_OK;
            if (kerr && !first) {
                first = kerr;
                snprintf(first_error, sizeof(first_error), "cannot keep for re-disclosure");
            }
        }
        if (err == SR_ESTATE && !first) {
            first = err;
            memcpy(first_error, c->error, sizeof(first_error));
        }
        if (err && err != SR_ESTATE && !sock_failed(err))
            return err;
    }
    if (sock_failed(err)) {
        /* The keyagent went away during the command: what was not refused
         * is kept, and the new connection's replay discloses it. */
        if (!first && kept_call_add(c, call, start_wall_us) == SR_OK)
            for (size_t i = 0; i < n_streams; i++)
                kept_stream_add(c, &streams[i]);
        return recover(c, err);
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
    err = ready(c);
    if (!err)
        err = line_send(c, &b);
    else
        buf_fini(&b);
    if (err == SR_OK || sock_failed(err)) {
        enum sr_err kerr = kept_rekey(c, call_id, stream_id, suite, keys, n_keys);
        if (kerr)
            return kerr;
    }
    return recover(c, err);
}

static enum sr_err simple(struct ka_client *c, const char *verb, const char *a, const char *b2)
{
    struct buf b;
    enum sr_err err;

    if (!c || !tok_ok(a) || (b2 && !tok_ok(b2)))
        return SR_EINVAL;
    buf_init(&b, KA_LINE_MAX);
    if (buf_printf(&b, "%s %s%s%s", verb, a, b2 ? " " : "", b2 ? b2 : "") != SR_OK) {
        buf_fini(&b);
        return SR_EINVAL;
    }
    err = ready(c);
    if (!err)
        return line_send(c, &b);
    buf_fini(&b);
    return err;
}

static enum sr_err pause_resume(struct ka_client *c, const char *verb, const char *call_id,
                                const char *stream_id, bool paused)
{
    enum sr_err err = simple(c, verb, call_id, stream_id ? stream_id : "");

    if (err == SR_OK || sock_failed(err))
        kept_pause(c, call_id, stream_id, paused);
    return recover(c, err);
}

enum sr_err ka_pause(struct ka_client *c, const char *call_id, const char *stream_id)
{
    return pause_resume(c, "PAUSE", call_id, stream_id, true);
}

enum sr_err ka_resume(struct ka_client *c, const char *call_id, const char *stream_id)
{
    return pause_resume(c, "RESUME", call_id, stream_id, false);
}

enum sr_err ka_call_end(struct ka_client *c, const char *call_id)
{
    enum sr_err err = simple(c, "END", call_id, NULL);

    if (err == SR_EINVAL)
        return err;
    /* Ended, refused as unknown, or the keyagent is gone: either way this
     * call must never be disclosed again. */
    kept_forget(c, call_id);
    if (sock_failed(err)) {
        /* The keyagent that knew the call is gone; a new one never has to
         * learn it.  Connect again for the other calls. */
        err = ka_client_reconnect(c);
        return err == SR_ESTATE ? SR_OK : err;
    }
    return err;
}
