/** @file harden.h  Keeping keys out of core dumps, swap and other users' reach.
 *
 * A daemon's main calls sr_harden_process() first, before it reads its
 * configuration or touches a key.  Long-lived key storage comes from an
 * sr_secpool: pages excluded from core dumps (MADV_DONTDUMP) and locked in
 * RAM (mlock) where RLIMIT_MEMLOCK allows, objects wiped when freed.
 * docs/threat-model.md says what this does and does not protect against.
 */
#ifndef SR_HARDEN_H
#define SR_HARDEN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/** The environment variable that keeps a daemon dumpable, for debugging:
 *  SRTPREC_DEBUG_DUMPABLE=1 leaves PR_SET_DUMPABLE and RLIMIT_CORE as the
 *  process inherited them (a core, if the system writes one, may then hold
 *  live keys; key pools stay MADV_DONTDUMP). */
#define SR_DEBUG_DUMPABLE_ENV "SRTPREC_DEBUG_DUMPABLE"

/** What sr_harden_process() did, for the daemon's start-up log. */
struct sr_harden_state {
    bool dumpable_kept;   /**< the debug switch was set: no PR_SET_DUMPABLE 0, RLIMIT_CORE kept */
    bool core_limit_zero; /**< RLIMIT_CORE is 0 (soft and hard) */
    bool undumpable;      /**< PR_SET_DUMPABLE 0 took effect */
};

/** Process-wide, once, from main before any thread starts:
 *  - umask 027: logs, metrics files, the index and archives are created
 *    0640 or tighter whatever the caller's umask (a file that must be
 *    group-writable, like the control socket, sets its mode explicitly);
 *  - unless SR_DEBUG_DUMPABLE_ENV is "1": RLIMIT_CORE 0 (soft and hard, so
 *    no child can raise it) and PR_SET_DUMPABLE 0 (no core on a crash, and
 *    only root with CAP_SYS_PTRACE can read /proc/PID/mem or attach).
 *  Never fails the start: a step that fails, or the debug switch, is logged
 *  at warn (before log_setup: with the default program name) and reported
 *  in *st (may be NULL). */
void sr_harden_process(struct sr_harden_state *st);

/* ------------------------------------------------------------ key pools */

/** Fixed-size objects that hold keys.  One owner, one thread (no locks):
 *  the keyagent's call store, each recorder engine.  Pages come from mmap in
 *  slabs, are MADV_DONTDUMP, and mlock'ed when RLIMIT_MEMLOCK allows; the
 *  first slab that cannot be locked logs one warning per pool (naming the
 *  limit), later ones are counted only.  Slabs are kept until destroy (peak
 *  use, bounded by the owner's own limits on calls or streams). */
struct sr_secpool;

/** what names the pool in the mlock warning ("keyagent calls"). */
enum sr_err sr_secpool_create(struct sr_secpool **out, size_t obj_size, const char *what);
/** Wipes every object (live or free) and unmaps the slabs; NULL is fine. */
void sr_secpool_destroy(struct sr_secpool *p);
/** A zeroed object, or NULL when out of memory. */
void *sr_secpool_alloc(struct sr_secpool *p);
/** Wipes obj and keeps it for reuse; obj must come from this pool (NULL is fine). */
void sr_secpool_free(struct sr_secpool *p, void *obj);

struct sr_secpool_stats {
    size_t slabs;          /**< slabs mapped */
    size_t slabs_unlocked; /**< of them, not mlock'ed (RLIMIT_MEMLOCK, or not permitted) */
    size_t slabs_dump;     /**< of them, MADV_DONTDUMP refused (old kernel): in a core */
    size_t live;           /**< objects handed out and not freed */
    size_t slab_bytes;     /**< bytes per slab */
};
void sr_secpool_stats(const struct sr_secpool *p, struct sr_secpool_stats *out);

#endif
