/** @file loop.c  A thin epoll wrapper: each fd carries its struct rd_watch. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "daemon_priv.h"
#include "loop_priv.h"

struct rd_loop {
    int epfd;
};

enum sr_err rd_loop_create(struct rd_loop **out)
{
    struct rd_loop *l = calloc(1, sizeof(*l));

    if (!l)
        return SR_ENOMEM;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return SR_EIO;
    }
    *out = l;
    return SR_OK;
}

void rd_loop_destroy(struct rd_loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    free(l);
}

static enum sr_err ctl(struct rd_loop *l, int op, struct rd_watch *w, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = w };

    return epoll_ctl(l->epfd, op, w->fd, &ev) == 0 ? SR_OK : sr_err_from_errno(errno);
}

enum sr_err rd_loop_add(struct rd_loop *l, struct rd_watch *w, uint32_t events)
{
    return ctl(l, EPOLL_CTL_ADD, w, events);
}

enum sr_err rd_loop_mod(struct rd_loop *l, struct rd_watch *w, uint32_t events)
{
    return ctl(l, EPOLL_CTL_MOD, w, events);
}

void rd_loop_del(struct rd_loop *l, struct rd_watch *w)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

int rd_loop_run_once(struct rd_loop *l, int timeout_ms)
{
    struct epoll_event ev[64];
    int n = epoll_wait(l->epfd, ev, (int)(sizeof(ev) / sizeof(ev[0])), timeout_ms);

    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        struct rd_watch *w = ev[i].data.ptr;
        w->on_event(w, ev[i].events);
    }
    return n;
}
