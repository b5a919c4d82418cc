/** @file ka_priv.h  Internals of srtprec-keyagent, shared by its files and tests.
 *
 * Ownership: main.c owns one of each object below and the epoll loop; all of
 * them run on that one thread.  Call state (keys) lives only in the
 * callstore; every other object copies it briefly and wipes the copy.
 */
#ifndef KA_PRIV_H
#define KA_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ka.h"
#include "sipev.h"
#include "slice.h"

/* ---------------------------------------------------------------- control */

/** Longest line content, without its "\n". */
#define KA_CMD_LINE_MAX (KA_LINE_MAX - 1)

enum ka_cmd_type {
    KA_CMD_CALL = 1,
    KA_CMD_STREAM,
    KA_CMD_REKEY,
    KA_CMD_PAUSE,
    KA_CMD_RESUME,
    KA_CMD_END,
    KA_CMD_PING,
};

/** One parsed control line.  Strings are copied (NUL-terminated); keys live
 *  in stream.keys and must be wiped with ka_cmd_wipe(). */
struct ka_cmd {
    enum ka_cmd_type type;
    char call_id[SIPEV_STR];
    char local_tag[128], remote_tag[128];   /**< CALL; "" for "-" */
    char local_aor[SIPEV_STR], remote_aor[SIPEV_STR]; /**< CALL */
    struct sipev_stream stream; /**< STREAM: all of it; REKEY: id, keys, roc/seq;
                                     PAUSE/RESUME: id */
    bool rekey_has_position;    /**< REKEY carried roc and seq */
};

/** Parse one line (without its "\n"; a trailing "\r" is tolerated).
 *  SR_OK fills *cmd.  SR_EPARSE / SR_ELIMIT / SR_EUNSUPP: *why is a static
 *  reason suitable for "ERR <why>"; *cmd is wiped. */
enum sr_err ka_cmd_parse(struct slice line, struct ka_cmd *cmd, const char **why);
void ka_cmd_wipe(struct ka_cmd *cmd);

/* -------------------------------------------------------------- callstore */

struct ka_callstore;

enum sr_err ka_callstore_create(struct ka_callstore **out, size_t max_calls);
/** Wipes every key; NULL-safe. */
void ka_callstore_destroy(struct ka_callstore *cs);
/** Apply a parsed command (not PING).  now_wall_us stamps new calls.
 *  SR_ENOTFOUND, SR_ESTATE (duplicate / ended), SR_ELIMIT: *why as for
 *  ka_cmd_parse. */
enum sr_err ka_callstore_apply(struct ka_callstore *cs, const struct ka_cmd *cmd,
                               uint64_t now_wall_us, const char **why);
size_t ka_callstore_count(const struct ka_callstore *cs);
/** The dialog with this Call-ID, or NULL.  Valid until the next apply/settle. */
const struct sipev_dialog *ka_callstore_find(const struct ka_callstore *cs, const char *call_id);
/** True when some call changed since the last settle. */
bool ka_callstore_changed(const struct ka_callstore *cs);
/** Copy dialogs into kb: all of them (full) or only those changed since the
 *  last settle.  Ended dialogs are copied without keys. */
enum sr_err ka_callstore_fill(const struct ka_callstore *cs, struct sipev_keybody *kb, bool full);
/** After every subscriber has been told: clear change marks, forget ended
 *  calls (their keys are wiped). */
void ka_callstore_settle(struct ka_callstore *cs);

/* ------------------------------------------------------------------ authz */

enum { KA_AUTHZ_MAX = 64 };

struct ka_authz {
    char ids[KA_AUTHZ_MAX][SIPEV_STR];
    size_t n;
};

/** Parse "sip:a@x, sip:b@y" (commas, optional spaces).  SR_ELIMIT past
 *  KA_AUTHZ_MAX entries or an over-long entry; SR_EPARSE on an empty entry
 *  or a control character.  An empty list allows nobody. */
enum sr_err ka_authz_parse(struct ka_authz *az, const char *list, const char **why);
/** Exact match, except that the URI scheme and host compare case-insensitively
 *  (the user part of a SIP URI is case-sensitive, RFC 3261 19.1.4). */
bool ka_authz_allows(const struct ka_authz *az, const char *identity);

/* ---------------------------------------------------------------- disclog */

/** Append-only, hash-chained record of which subscriber received which call's
 *  keys (by key id, never the key).  Line format: docs/keyagent.md. */
struct ka_disclog;

/** Open (create) path with O_APPEND; the existing chain is verified first and
 *  its last hash taken as the link for the next record.  SR_EAUTH: the file
 *  is not a valid chain (refuse to extend a tampered log). */
enum sr_err ka_disclog_open(struct ka_disclog **out, const char *path);
void ka_disclog_close(struct ka_disclog *dl);
/** Append one record and fdatasync it.  key_ids is a space-free list such as
 *  "a-1:0123abcd...,b-1:..." (or "-"). */
enum sr_err ka_disclog_append(struct ka_disclog *dl, uint64_t wall_us, const char *subscriber,
                              const char *subscription, const char *call_id, uint64_t version,
                              const char *key_ids);

/** Verify a log file.  SR_OK: *records = count.  SR_EAUTH: broken chain;
 *  *bad_line = first bad line (1-based), *why a reason.  SR_EIO: unreadable. */
enum sr_err ka_disclog_verify(const char *path, size_t *records, size_t *bad_line,
                              const char **why);

/* --------------------------------------------------------------- notifier */

struct ka_notifier;

struct ka_notifier_cfg {
    const char *entity;          /**< our identity in bodies and From ("sip:keyagent@...") */
    const char *via_host;        /**< host:port for Via */
    SSL_CTX *tls;                /**< NULL: plain TCP (lab only) */
    bool lab_allow_plain;        /**< keys may travel without TLS */
    const struct ka_authz *authz;
    struct ka_callstore *calls;  /**< borrowed */
    struct ka_disclog *disclog;  /**< borrowed; NULL = no log (tests) */
    int epoll_fd;                /**< connections register here with data.ptr = conn watch */
    size_t max_subscriptions;
    size_t max_connections;
    unsigned default_expires, min_expires, max_expires;
};

/** Something registered in the epoll set: main dispatches on kind. */
enum ka_watch_kind { KA_WATCH_LISTEN = 1, KA_WATCH_SIP, KA_WATCH_CTL_LISTEN, KA_WATCH_CTL };
struct ka_watch {
    enum ka_watch_kind kind;
    void *obj;
};

enum sr_err ka_notifier_create(struct ka_notifier **out, const struct ka_notifier_cfg *cfg);
/** Closes every connection without NOTIFYs; NULL-safe. */
void ka_notifier_destroy(struct ka_notifier *n);
/** Take a freshly accepted, non-blocking fd (owned from here on). */
void ka_notifier_accept(struct ka_notifier *n, int fd);
/** The fd of watch w (a KA_WATCH_SIP) is ready. */
void ka_notifier_io(struct ka_notifier *n, struct ka_watch *w, uint32_t events);
/** End of a loop iteration: send pending NOTIFYs (full for new or refreshed
 *  subscriptions, one partial for all changes since the last flush), then
 *  settle the callstore, expire subscriptions and time out NOTIFYs. */
void ka_notifier_flush(struct ka_notifier *n, uint64_t now_us);
/** Milliseconds until the next timer, for epoll_wait (-1 = none). */
int ka_notifier_timeout_ms(const struct ka_notifier *n, uint64_t now_us);
/** Shutdown: final NOTIFY (terminated;reason=noresource) to every subscriber. */
void ka_notifier_shutdown(struct ka_notifier *n);
size_t ka_notifier_subscriptions(const struct ka_notifier *n);

/* ---------------------------------------------------------------- control */

struct ka_control;

/** Listen on a UNIX socket at path (an old socket file there is replaced),
 *  mode 0660; registers with epoll_fd. */
enum sr_err ka_control_create(struct ka_control **out, const char *path, int epoll_fd,
                              struct ka_callstore *calls, size_t max_clients);
/** Closes clients and unlinks the socket path; NULL-safe. */
void ka_control_destroy(struct ka_control *ctl);
void ka_control_io(struct ka_control *ctl, struct ka_watch *w, uint32_t events);

#endif
