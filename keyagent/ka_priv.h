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
#include <time.h>

#include "err.h"
#include "authz.h"
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
    KA_CMD_VERSION, /**< answered "OK <KA_PROTOCOL>" (docs/protocol.md, "Revisions") */
};

/** One parsed control line.  Strings are copied (NUL-terminated); keys live
 *  in stream.keys and must be wiped with ka_cmd_wipe(). */
struct ka_cmd {
    enum ka_cmd_type type;
    char call_id[SIPEV_STR];
    char local_tag[128], remote_tag[128];   /**< CALL; "" for "-" */
    char local_aor[SIPEV_STR], remote_aor[SIPEV_STR]; /**< CALL */
    uint64_t start_wall_us;     /**< CALL: the dialog's start (Unix us); 0: not given, the
                                     keyagent's clock */
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
/** For tests: fn sees each call's memory (after the wipe) just before it
 *  is freed, so a test can check that no key byte survives. */
typedef void ka_release_fn(const void *p, size_t len, void *arg);
void ka_callstore_set_release_hook(struct ka_callstore *cs, ka_release_fn *fn, void *arg);
/** The dialog with this Call-ID, or NULL.  Valid until the next apply/settle. */
const struct sipev_dialog *ka_callstore_find(const struct ka_callstore *cs, const char *call_id);
/** True when some call changed since the last settle. */
bool ka_callstore_changed(const struct ka_callstore *cs);
struct ka_filter;
/** Copy dialogs into kb: all of them (full) or only those changed since the
 *  last settle, and of those only the ones every non-NULL filter matches
 *  (f1, f2 may be NULL).  Ended dialogs are copied without keys. */
enum sr_err ka_callstore_fill(const struct ka_callstore *cs, struct sipev_keybody *kb, bool full,
                              const struct ka_filter *f1, const struct ka_filter *f2);
/** After every subscriber has been told: clear change marks, forget ended
 *  calls (their keys are wiped). */
void ka_callstore_settle(struct ka_callstore *cs);
/** How many dialogs ka_callstore_fill would copy with these arguments, without
 *  copying any (the notifier's per-flush weight of a subscription). */
size_t ka_callstore_count_matching(const struct ka_callstore *cs, bool full,
                                   const struct ka_filter *f1, const struct ka_filter *f2);

/* ---------------------------------------------------------------- disclog */

/** Append-only, hash-chained record (common/chainlog.h, tag "D2") of which
 *  subscriber received which call's keys (by key id, never the key).  Line
 *  format: docs/keyagent.md. */
struct ka_disclog;
struct chainlog_verdict;

#define KA_DISCLOG_TAG "D2"

/** Open (create) path; the existing chain is verified first.  SR_EAUTH: the
 *  file is not a valid chain (refuse to extend a tampered log; logged). */
enum sr_err ka_disclog_open(struct ka_disclog **out, const char *path);
/** Syncs, logs the head, closes; NULL-safe. */
void ka_disclog_close(struct ka_disclog *dl);
/** Append one record WITHOUT syncing; call ka_disclog_sync() before the keys
 *  it covers leave.  key_ids: "a-1:0123abcd...,b-1:..." (or NULL). */
enum sr_err ka_disclog_append(struct ka_disclog *dl, uint64_t wall_us, const char *subscriber,
                              const char *subscription, const char *call_id, uint64_t version,
                              const char *key_ids);
/** fdatasync what was appended since the last sync. */
enum sr_err ka_disclog_sync(struct ka_disclog *dl);
/** Verify a log file (chainlog_verify with tag "D2"); anchor optional. */
enum sr_err ka_disclog_verify(const char *path, const char *anchor, struct chainlog_verdict *v);

/* ---------------------------------------------------------------- metrics */

/** Refusal reasons counted separately (the label of srtprec_keyagent_refusals_total). */
enum ka_refusal {
    KA_REFUSE_FORBIDDEN = 0, /**< 403: identity not allowed (or changed in-dialog) */
    KA_REFUSE_BAD_EVENT,     /**< 489 */
    KA_REFUSE_NOT_ACCEPTABLE,/**< 406 */
    KA_REFUSE_BAD_FILTER,    /**< 400/415: malformed or unsupported filter body */
    KA_REFUSE_BAD_REQUEST,   /**< 400 other, 423, 481, 500 */
    KA_REFUSE_OVERLOAD,      /**< 503: max-subscriptions */
    KA_REFUSE_N
};

/** Counters owned by main, bumped by the notifier and control (one thread). */
struct ka_metrics {
    uint64_t notifies;        /**< NOTIFY requests sent */
    uint64_t disclosures;     /**< (subscriber, call) key disclosures */
    uint64_t refusals[KA_REFUSE_N];
    uint64_t commands;        /**< control lines applied */
    uint64_t command_errors;  /**< control lines refused */
    uint64_t conns_evicted;   /**< connections without a subscription closed for a newer one */
    uint64_t conns_refused;   /**< connections refused: every slot authorised */
};

/** What the metrics file reports beside the counters: the daemon's state and
 *  its readiness checks (docs/deploy.md, "Health"). */
struct ka_health {
    bool up;          /**< false in the last file, written while stopping */
    time_t started;   /**< wall-clock start time */
    bool listener;    /**< the SIP listener is listening */
    bool control;     /**< the control socket exists where endpoints look for it */
};

/** Write the Prometheus text exposition to path (via path.tmp + rename). */
enum sr_err ka_metrics_write(const struct ka_metrics *m, const struct ka_health *h,
                             size_t subscriptions, size_t calls, const char *path);

/* ------------------------------------------------------------ nwin */

/** The NOTIFYs of one subscription awaiting a final response, each its own
 *  non-INVITE client transaction (sipev_txn, reliable transport: Timer F
 *  only, 32 s), matched by CSeq.  A new body may start only while fewer than
 *  KA_NOTIFY_WINDOW are outstanding; a body split over several NOTIFYs may
 *  take the window past that, up to KA_NWIN_SLOTS_MAX (one per dialog).
 *  What cannot be sent is not queued: the notifier owes the subscriber a
 *  full state instead (docs/protocol.md, "Versions, coalescing and resync"). */
enum { KA_NOTIFY_WINDOW = 8, KA_NWIN_SLOTS_MAX = SIPEV_MAX_DIALOGS + KA_NOTIFY_WINDOW };

struct ka_nwin_slot {
    uint32_t cseq;
    struct sipev_txn txn;
};

struct ka_nwin {
    struct ka_nwin_slot *slot; /**< in CSeq (= sending) order; heap */
    size_t n, cap;
};

enum ka_nwin_verdict {
    KA_NWIN_IGNORED = 0, /**< no outstanding NOTIFY has this CSeq */
    KA_NWIN_PENDING,     /**< 1xx, or a response the transaction absorbs */
    KA_NWIN_OK,          /**< 2xx: that NOTIFY is done */
    KA_NWIN_FAILED,      /**< a final non-2xx: end the subscription (RFC 6665 4.2.2) */
};

void ka_nwin_init(struct ka_nwin *w);
/** NULL-safe. */
void ka_nwin_fini(struct ka_nwin *w);
/** True when a new body may be started (fewer than KA_NOTIFY_WINDOW outstanding). */
bool ka_nwin_may_send(const struct ka_nwin *w);
/** A NOTIFY with this CSeq has just been queued for sending.  SR_ELIMIT past
 *  KA_NWIN_SLOTS_MAX, SR_ENOMEM. */
enum sr_err ka_nwin_start(struct ka_nwin *w, uint32_t cseq, uint64_t now_us);
/** A response to a NOTIFY of this subscription arrived. */
enum ka_nwin_verdict ka_nwin_response(struct ka_nwin *w, uint32_t cseq, unsigned status,
                                      uint64_t now_us);
/** Run Timer F: true when a NOTIFY timed out (end the subscription). */
bool ka_nwin_tick(struct ka_nwin *w, uint64_t now_us);
/** When ka_nwin_tick() next has something to do; UINT64_MAX if nothing. */
uint64_t ka_nwin_next_us(const struct ka_nwin *w);
size_t ka_nwin_outstanding(const struct ka_nwin *w);

/* -------------------------------------------------------------- kbshare */

struct buf;
/** Append kb's <dialog> elements alone (no document head or tail) to frag;
 *  scratch is overwritten.  SR_ELIMIT / SR_EINVAL as sipev_keybody_print;
 *  frag is then as it was. */
enum sr_err ka_kb_fragment_print(struct buf *frag, const struct sipev_keybody *kb,
                                 struct buf *scratch);
/** Append a whole key body: the head for (entity, full, version), frag, the
 *  tail; byte for byte sipev_keybody_print of the same body. */
enum sr_err ka_kb_compose(struct buf *out, const char *entity, bool full, uint64_t version,
                          const struct buf *frag);

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
    struct ka_metrics *metrics;  /**< borrowed; NULL = not counted */
    int epoll_fd;                /**< connections register here with data.ptr = conn watch */
    size_t max_subscriptions;
    size_t max_connections;
    unsigned default_expires, min_expires, max_expires;
    unsigned idle_conn_s;        /**< close a connection without a subscription
                                      this long after its last complete message
                                      (or accept); 0 = KA_IDLE_CONN_S */
    unsigned handshake_s;        /**< close a connection whose TLS handshake is not
                                      done this long after accept; 0 = KA_HANDSHAKE_S */
    size_t reserved_connections; /**< of max_connections, only for connections with
                                      an accepted subscription; < max_connections */
    size_t max_per_address;      /**< connections without a subscription from one
                                      address; 0 = no own limit */
    size_t max_per_identity;     /**< live subscriptions of one identity; 0 = none */
    /** Monotonic clock (microseconds) for every timer; NULL = sr_now_us.
     *  Tests pass a fake one and drive time themselves. */
    uint64_t (*now_us)(void *arg);
    void *now_arg;
};

enum { KA_IDLE_CONN_S = 120, KA_HANDSHAKE_S = 5 };
/** A subscription owed at most this many dialogs in a flush is served in the
 *  flush's first stage, before any owed more (ka_notifier_flush). */
enum { KA_LIGHT_DIALOGS = 8 };

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
 *  settle the callstore, expire subscriptions and time out NOTIFYs.  NOTIFYs
 *  of at most KA_LIGHT_DIALOGS dialogs are built, their disclosures synced
 *  and sent before any larger one is built (a subscriber's latency does not
 *  grow with calls hidden from it). */
void ka_notifier_flush(struct ka_notifier *n, uint64_t now_us);
/** Milliseconds until the next timer, for epoll_wait (-1 = none).  Only
 *  deadlines that ka_notifier_flush() acts on count, so after a flush at
 *  now_us this is never 0 (a 0 would make the loop spin). */
int ka_notifier_timeout_ms(const struct ka_notifier *n, uint64_t now_us);
/** Replace the allow list (SIGHUP).  The notifier keeps its own copy (the
 *  one in cfg only seeds it).  New SUBSCRIBEs are checked against the new
 *  list; a live subscription whose identity it no longer allows ends with a
 *  final NOTIFY "terminated;reason=rejected" (no key leaves for it from this
 *  call on); one whose entry filter changed takes the new filter and gets a
 *  full state; the others are untouched.  Logs what it did (notice). */
enum sr_err ka_notifier_set_authz(struct ka_notifier *n, const struct ka_authz *az);
/** TLS context for connections accepted from now on (SIGHUP: new
 *  certificate, key, CA or CRL); connections already up keep theirs (their
 *  SSL holds a reference), so the caller may free the old context after
 *  this.  Borrowed, as cfg.tls is.  Ignored in lab plain-TCP mode. */
void ka_notifier_set_tls(struct ka_notifier *n, SSL_CTX *tls);
size_t ka_notifier_connections(const struct ka_notifier *n);
/** Shutdown: final NOTIFY (terminated;reason=noresource) to every subscriber. */
void ka_notifier_shutdown(struct ka_notifier *n);
size_t ka_notifier_subscriptions(const struct ka_notifier *n);

/* ---------------------------------------------------------------- control */

struct ka_control;

/** Listen on a UNIX socket at path (an old socket file there is replaced),
 *  mode 0660; registers with epoll_fd. */
enum sr_err ka_control_create(struct ka_control **out, const char *path, int epoll_fd,
                              struct ka_callstore *calls, size_t max_clients,
                              struct ka_metrics *metrics);
/** Closes clients and unlinks the socket path; NULL-safe. */
void ka_control_destroy(struct ka_control *ctl);
void ka_control_io(struct ka_control *ctl, struct ka_watch *w, uint32_t events);

#endif
