/** @file control.c  The UNIX-socket line protocol server (docs/protocol.md).
 *
 * Endpoints on this host write one command per line and read "OK" or
 * "ERR <reason>" per line, in order.  Access control is the socket's file
 * mode (0660): whoever may write it may disclose keys, never read them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "ka_priv.h"
#include "log.h"
#include "util.h"

enum { OUT_MAX = 64 * 1024, CMD_PER_READ = 64 };

struct ctl_client {
    struct ka_watch w;          /* first: epoll data.ptr points here */
    struct ka_control *ctl;
    int fd;
    char in[KA_LINE_MAX];       /* may hold keys: wiped as consumed */
    size_t in_len;
    struct buf out;
    bool want_out;              /* EPOLLOUT registered */
    bool discarding;            /* inside an over-long line: drop up to its LF */
};

struct ka_control {
    struct ka_watch w;
    int fd, epoll_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct ka_callstore *calls;
    struct ctl_client **clients;
    size_t n_clients, max_clients;
    struct ka_metrics *metrics; /* borrowed; may be NULL */
};

static void client_close(struct ka_control *ctl, struct ctl_client *cl)
{
    for (size_t i = 0; i < ctl->n_clients; i++)
        if (ctl->clients[i] == cl) {
            ctl->clients[i] = ctl->clients[--ctl->n_clients];
            break;
        }
    if (cl->fd >= 0) {
        epoll_ctl(ctl->epoll_fd, EPOLL_CTL_DEL, cl->fd, NULL);
        close(cl->fd);
    }
    sr_wipe(cl->in, sizeof(cl->in));
    buf_fini(&cl->out);
    free(cl);
}

enum sr_err ka_control_create(struct ka_control **out, const char *path, int epoll_fd,
                              struct ka_callstore *calls, size_t max_clients,
                              struct ka_metrics *metrics)
{
    struct ka_control *ctl;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct epoll_event ev = { .events = EPOLLIN };
    struct stat st;
    mode_t old_mask;
    int rc;

    if (!out || !path || !calls || max_clients == 0)
        return SR_EINVAL;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_error("control socket path too long: %s", path);
        return SR_EINVAL;
    }
    ctl = calloc(1, sizeof(*ctl));
    if (!ctl)
        return SR_ENOMEM;
    ctl->fd = -1;
    ctl->epoll_fd = epoll_fd;
    ctl->calls = calls;
    ctl->metrics = metrics;
    ctl->max_clients = max_clients;
    ctl->w.kind = KA_WATCH_CTL_LISTEN;
    ctl->w.obj = ctl;
    ctl->clients = calloc(max_clients, sizeof(*ctl->clients));
    if (!ctl->clients)
        goto fail;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* Only a stale socket may be replaced, never a regular file. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("control socket %s exists and is not a socket", path);
            goto fail;
        }
        unlink(path);
    }
    ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ctl->fd < 0)
        goto fail_errno;
    /* umask closes the window between bind and chmod; single-threaded setup. */
    old_mask = umask(0117);
    rc = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (rc != 0)
        goto fail_errno;
    memcpy(ctl->path, path, strlen(path) + 1);
    if (chmod(path, 0660) != 0 || listen(ctl->fd, 16) != 0)
        goto fail_errno;
    ev.data.ptr = &ctl->w;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, ctl->fd, &ev) != 0)
        goto fail_errno;
    *out = ctl;
    return SR_OK;
fail_errno:
    log_error("control socket %s: %s", path, strerror(errno));
fail:
    ka_control_destroy(ctl);
    return SR_EIO;
}

void ka_control_destroy(struct ka_control *ctl)
{
    if (!ctl)
        return;
    while (ctl->n_clients)
        client_close(ctl, ctl->clients[0]);
    if (ctl->fd >= 0) {
        epoll_ctl(ctl->epoll_fd, EPOLL_CTL_DEL, ctl->fd, NULL);
        close(ctl->fd);
    }
    if (ctl->path[0])
        unlink(ctl->path);
    free(ctl->clients);
    free(ctl);
}

static void accept_clients(struct ka_control *ctl)
{
    for (int i = 0; i < 16; i++) {
        struct epoll_event ev = { .events = EPOLLIN };
        struct ctl_client *cl;
        int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("control accept: %s", strerror(errno));
            return;
        }
        if (ctl->n_clients == ctl->max_clients) {
            static const char busy[] = "ERR too many control clients\n";
            log_warn("control: too many clients (%zu), refusing one", ctl->max_clients);
            (void)!write(fd, busy, sizeof(busy) - 1);
            close(fd);
            continue;
        }
        cl = calloc(1, sizeof(*cl));
        if (!cl) {
            close(fd);
            return;
        }
        cl->w.kind = KA_WATCH_CTL;
        cl->w.obj = cl;
        cl->ctl = ctl;
        cl->fd = fd;
        buf_init(&cl->out, OUT_MAX);
        ev.data.ptr = &cl->w;
        if (epoll_ctl(ctl->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            log_warn("control: epoll_ctl: %s", strerror(errno));
            close(fd);
            buf_fini(&cl->out);
            free(cl);
            continue;
        }
        ctl->clients[ctl->n_clients++] = cl;
    }
}

static void log_cmd(const struct ka_cmd *cmd)
{
    char ids[SIPEV_MAX_KEYS][17];

    switch (cmd->type) {
    case KA_CMD_STREAM:
    case KA_CMD_REKEY:
        for (size_t i = 0; i < SIPEV_MAX_KEYS; i++) {
            ids[i][0] = '\0';
            if (i < cmd->stream.n_keys)
                sr_key_id(cmd->stream.keys[i].master, cmd->stream.keys[i].master_len, ids[i]);
        }
        log_info("%s call %s stream %s keys %s %s %s %s",
                 cmd->type == KA_CMD_STREAM ? "stream" : "rekey", cmd->call_id, cmd->stream.id,
                 ids[0], ids[1], ids[2], ids[3]);
        break;
    case KA_CMD_CALL: log_info("call %s begins", cmd->call_id); break;
    case KA_CMD_PAUSE: log_info("call %s stream %s paused", cmd->call_id, cmd->stream.id); break;
    case KA_CMD_RESUME: log_info("call %s stream %s resumed", cmd->call_id, cmd->stream.id); break;
    case KA_CMD_END: log_info("call %s ends", cmd->call_id); break;
    case KA_CMD_PING:
    case KA_CMD_VERSION: break;
    }
}

static enum sr_err answer_line(struct ctl_client *cl, struct slice line)
{
    struct ka_cmd *cmd = malloc(sizeof(*cmd));
    const char *why = "out of memory";
    enum sr_err err = SR_ENOMEM;
    bool version = false;

    if (cmd) {
        err = ka_cmd_parse(line, cmd, &why);
        version = !err && cmd->type == KA_CMD_VERSION;
        if (!err)
            err = ka_callstore_apply(cl->ctl->calls, cmd, sr_wall_us(), &why);
        if (!err)
            log_cmd(cmd);
        else
            log_info("control: refused a line: %s", why);
        ka_cmd_wipe(cmd);
        free(cmd);
    }
    if (cl->ctl->metrics) {
        if (err)
            cl->ctl->metrics->command_errors++;
        else
            cl->ctl->metrics->commands++;
    }
    if (version)
        return buf_printf(&cl->out, "OK %u\n", (unsigned)KA_PROTOCOL);
    if (!err)
        return buf_append(&cl->out, "OK\n", 3);
    return buf_printf(&cl->out, "ERR %s\n", why);
}

static bool flush_out(struct ctl_client *cl)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cl->w };

    while (cl->out.len) {
        ssize_t n = send(cl->fd, cl->out.p, cl->out.len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return false;
        }
        buf_consume(&cl->out, (size_t)n);
    }
    if ((cl->out.len != 0) != cl->want_out) {
        cl->want_out = cl->out.len != 0;
        ev.events |= cl->want_out ? EPOLLOUT : 0;
        epoll_ctl(cl->ctl->epoll_fd, EPOLL_CTL_MOD, cl->fd, &ev);
    }
    return true;
}

/* Returns false to close the client. */
static bool client_read(struct ctl_client *cl)
{
    for (int rounds = 0; rounds < CMD_PER_READ; rounds++) {
        ssize_t n;
        size_t start = 0;

        n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len, 0);
        if (n == 0)
            return false;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        cl->in_len += (size_t)n;
        for (size_t i = 0; i < cl->in_len; i++) {
            enum sr_err err;
            if (cl->in[i] != '\n')
                continue;
            /* The tail of an over-long line is dropped whole, never parsed:
             * it could otherwise read as a command of its own. */
            if (cl->discarding)
                err = buf_append(&cl->out, "ERR line too long\n", 18);
            else
                err = answer_line(cl, slice_of(cl->in + start, i - start));
            cl->discarding = false;
            if (err != SR_OK)
                return false; /* client does not read its answers */
            start = i + 1;
        }
        if (start == 0 && cl->in_len == sizeof(cl->in)) {
            cl->discarding = true;
            start = cl->in_len;
        }
        memmove(cl->in, cl->in + start, cl->in_len - start);
        sr_wipe(cl->in + cl->in_len - start, start);
        cl->in_len -= start;
    }
    return true;
}

void ka_control_io(struct ka_control *ctl, struct ka_watch *w, uint32_t events)
{
    struct ctl_client *cl;

    if (w->kind == KA_WATCH_CTL_LISTEN) {
        accept_clients(ctl);
        return;
    }
    cl = w->obj;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !client_read(cl)) {
        flush_out(cl);
        client_close(ctl, cl);
        return;
    }
    if (!flush_out(cl))
        client_close(ctl, cl);
}
