/** @file harden.c  Core dumps off, umask, and mlock'ed key pools.
 *
 * Why a pool and not flags on malloc'ed blocks: MADV_DONTDUMP and mlock
 * work on whole pages, and heap pages are shared with everything else (and
 * may be trimmed back to the system under the advice).  Slabs of our own
 * pages hold only keys, so their advice is exact and every free is a wipe.
 */
#include "harden.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

enum {
    SLAB_MIN = 64 * 1024, /* 16 pages: few mappings, a small mlock step */
    OBJ_ALIGN = 16,
};

void sr_harden_process(struct sr_harden_state *st)
{
    struct sr_harden_state s = { 0 };
    const char *dbg = getenv(SR_DEBUG_DUMPABLE_ENV);
    struct rlimit rl = { 0, 0 };

    umask(027);
    s.dumpable_kept = dbg && strcmp(dbg, "1") == 0;
    if (!s.dumpable_kept) {
        s.core_limit_zero = setrlimit(RLIMIT_CORE, &rl) == 0;
        s.undumpable = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
        if (!s.core_limit_zero || !s.undumpable)
            log_warn("could not disable core dumps (RLIMIT_CORE %s, PR_SET_DUMPABLE %s)",
                     s.core_limit_zero ? "0" : "unchanged", s.undumpable ? "0" : "unchanged");
    } else {
        log_warn("%s=1: core dumps allowed (a core may hold live keys; debugging only)",
                 SR_DEBUG_DUMPABLE_ENV);
    }
    if (st)
        *st = s;
}

/* ------------------------------------------------------------ key pools */

struct sr_secpool {
    const char *what;
    size_t obj_size;   /* rounded up to OBJ_ALIGN; at least a pointer */
    size_t slab_bytes; /* page multiple, >= SLAB_MIN and >= obj_size */
    size_t per_slab;
    void **slabs;      /* holds no secrets: plain heap */
    size_t n_slabs, cap_slabs;
    void *free_list;   /* first word of a free object: the next one */
    size_t live;
    size_t unlocked, dump_refused;
    bool warned;
};

enum sr_err sr_secpool_create(struct sr_secpool **out, size_t obj_size, const char *what)
{
    struct sr_secpool *p;
    long page = sysconf(_SC_PAGESIZE);
    size_t pg = page > 0 ? (size_t)page : 4096;

    if (!out || obj_size == 0 || obj_size > SIZE_MAX / 4)
        return SR_EINVAL;
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return SR_ENOMEM;
    p->what = what ? what : "keys";
    if (obj_size < sizeof(void *))
        obj_size = sizeof(void *);
    p->obj_size = (obj_size + OBJ_ALIGN - 1) / OBJ_ALIGN * OBJ_ALIGN;
    p->slab_bytes = p->obj_size > SLAB_MIN ? p->obj_size : SLAB_MIN;
    p->slab_bytes = (p->slab_bytes + pg - 1) / pg * pg;
    p->per_slab = p->slab_bytes / p->obj_size;
    *out = p;
    return SR_OK;
}

void sr_secpool_destroy(struct sr_secpool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_slabs; i++) {
        sr_wipe(p->slabs[i], p->slab_bytes);
        munmap(p->slabs[i], p->slab_bytes);
    }
    free(p->slabs);
    free(p);
}

static void warn_unlocked(struct sr_secpool *p, int err)
{
    struct rlimit rl;
    char lim[32] = "unknown";

    if (p->warned)
        return;
    p->warned = true;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY)
            memcpy(lim, "unlimited", 10);
        else
            snprintf(lim, sizeof(lim), "%llu KiB", (unsigned long long)(rl.rlim_cur / 1024));
    }
    log_warn("%s: mlock failed (%s; RLIMIT_MEMLOCK %s): these keys may reach swap; raise "
             "LimitMEMLOCK= (systemd) or ulimit -l (later slabs are not logged)",
             p->what, strerror(err), lim);
}

static bool slab_add(struct sr_secpool *p)
{
    char *s;

    if (p->n_slabs == p->cap_slabs) {
        size_t cap = p->cap_slabs ? p->cap_slabs * 2 : 8;
        void **ns = realloc(p->slabs, cap * sizeof(*ns));
        if (!ns)
            return false;
        p->slabs = ns;
        p->cap_slabs = cap;
    }
    s = mmap(NULL, p->slab_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return false;
    if (madvise(s, p->slab_bytes, MADV_DONTDUMP) != 0)
        p->dump_refused++;
    if (mlock(s, p->slab_bytes) != 0) {
        p->unlocked++;
        warn_unlocked(p, errno);
    }
    p->slabs[p->n_slabs++] = s;
    /* Thread the new objects onto the free list, lowest address first. */
    for (size_t i = p->per_slab; i-- > 0;) {
        void *obj = s + i * p->obj_size;
        memcpy(obj, &p->free_list, sizeof(void *));
        p->free_list = obj;
    }
    return true;
}

void *sr_secpool_alloc(struct sr_secpool *p)
{
    void *obj;

    if (!p || (!p->free_list && !slab_add(p)))
        return NULL;
    obj = p->free_list;
    memcpy(&p->free_list, obj, sizeof(void *));
    memset(obj, 0, p->obj_size);
    p->live++;
    return obj;
}

void sr_secpool_free(struct sr_secpool *p, void *obj)
{
    if (!p || !obj)
        return;
    sr_wipe(obj, p->obj_size);
    memcpy(obj, &p->free_list, sizeof(void *));
    p->free_list = obj;
    p->live--;
}

void sr_secpool_stats(const struct sr_secpool *p, struct sr_secpool_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!p)
        return;
    out->slabs = p->n_slabs;
    out->slabs_unlocked = p->unlocked;
    out->slabs_dump = p->dump_refused;
    out->live = p->live;
    out->slab_bytes = p->slab_bytes;
}
