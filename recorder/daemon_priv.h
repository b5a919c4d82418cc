/** @file daemon_priv.h  Internals of the srtprec-recorder daemon shared by its
 *  files (subscriber, calls, media, main).  Everything here runs on the
 *  daemon's main loop thread, except where a section says otherwise. */
#ifndef REC_DAEMON_PRIV_H
#define REC_DAEMON_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "engine.h"
#include "sipev.h"

/* ---------------------------------------------------------------- epoll */

struct rd_loop;
/** Every fd registered with the loop carries one of these as epoll data. */
struct rd_watch {
    void (*on_event)(struct rd_watch *w, uint32_t events);
    int fd;
};
enum sr_err rd_loop_add(struct rd_loop *l, struct rd_watch *w, uint32_t events);
enum sr_err rd_loop_mod(struct rd_loop *l, struct rd_watch *w, uint32_t events);
void rd_loop_del(struct rd_loop *l, struct rd_watch *w);

/* --------------------------------------------------------------- config */

struct stor_recipients;
struct stor_party;
struct rd_cfg {
    char keyagents[CONF_STR_MAX];  /**< comma list of host:port */
    char identity[CONF_STR_MAX];   /**< our SIP URI (matches our certificate SAN) */
    char tls_cert[CONF_STR_MAX], tls_key[CONF_STR_MAX], tls_ca[CONF_STR_MAX], tls_crl[CONF_STR_MAX];
    char media_listen[CONF_STR_MAX];
    char archive_dir[CONF_STR_MAX];
    char archive_recipients[CONF_STR_MAX]; /**< comma list of PEM certificate files */
    char index[CONF_STR_MAX];
    char signing_key[CONF_STR_MAX]; /**< Ed25519 PEM key sealed archives are signed with; "" none (lab) */
    char seal_ledger[CONF_STR_MAX]; /**< chainlog of seals; "" = <index>.seals */
    char log_level[32];
    char metrics_file[CONF_STR_MAX]; /**< Prometheus text file; "" = none */
    unsigned long metrics_interval_ms;
    unsigned long min_free_disk_mb;  /**< health: disk headroom check */
    unsigned long key_wait_ms;
    unsigned long subscribe_expires;
    unsigned long max_streams;
    unsigned long max_held_packets;
    unsigned long max_held_per_stream;
    unsigned long max_held_bytes;
    unsigned long max_unbound_streams;
    unsigned long max_unbound_per_source;
    unsigned long max_unmatched_per_min;
    unsigned long max_calls_per_keyagent;
    unsigned long max_opens_per_keyagent;
    unsigned long call_linger_ms;
    unsigned long flush_interval_ms;
    unsigned long rcvbuf;
    unsigned long workers;         /**< receive threads; 0 = online CPUs */
    char capture[CONF_STR_MAX];        /**< interfaces to capture on (docs/capture.md) */
    char capture_filter[CONF_STR_MAX]; /**< BPF expression */
    char capture_file[CONF_STR_MAX];   /**< a pcap/pcapng file to replay instead */
    char capture_pace[16];             /**< recorded | fast */
    unsigned long capture_buffer;
    unsigned long capture_timeout_ms;
    bool capture_promisc;
    bool lab_allow_plain_tcp;
    bool allow_nss_libsrtp;
    char siprec_listen[CONF_STR_MAX]; /**< SIPREC SRS host:port; "" = off */
    char siprec_listen_udp[CONF_STR_MAX]; /**< SIPREC over UDP, lab only; "" = off */
    char siprec_allow[CONF_STR_MAX];  /**< allow list of recording clients (keyagent grammar) */
    char siprec_media_address[CONF_STR_MAX]; /**< numeric address of SIPREC media ports */
    unsigned long siprec_port_lo, siprec_port_hi;
    unsigned long siprec_max_sessions;
    unsigned long siprec_session_expires; /**< when a Session-Expires has no usable value */
    unsigned long siprec_min_se;
    bool siprec_plain_rtp;            /**< record RTP/AVP recording legs (no SRTP) */
    char key_log[CONF_STR_MAX];    /**< hash-chained log of every key received; "" = none */
    char recorder_id[CONF_STR_MAX]; /**< this recorder's name in index rows (dual recording) */
    /** Not a key: the capture sources (capture.h) when capture or
     *  capture-file is set (main opens them before rd_media_create and
     *  closes them after rd_media_destroy); each engine attaches its share. */
    struct rd_cap *cap;
    /** Not a key: set by main when a stop signal came, before rd_media_destroy,
     *  so that archives still open then are sealed as cut by shutdown
     *  (STOR_END_SHUTDOWN); read by the archive registry on any thread. */
    atomic_bool stopping;
    /** Not a key: recipients a SIGHUP reload parsed (main stores, the
     *  archive thread takes them before its next open, atomic exchange). */
    _Atomic(struct stor_recipients *) recipients_reload;
    /** Not a key: the archive registry while it exists (rd_archives_create
     *  sets it, rd_archives_destroy clears it), so that main's metrics hook
     *  can print rd_archives_metrics; main's thread only. */
    struct rd_archives *archives_live;
    /** Not a key: the uploader when [store] names an object store (main
     *  creates it before rd_media_create and destroys it after
     *  rd_media_destroy); the archive thread queues each sealed archive
     *  (rd_upl_enqueue, upload.h).  NULL: archives stay local. */
    struct rd_upl *uploader;
};

/* ---------------------------------------------------------- subscriber */

struct rd_sub;
/** A NOTIFY body arrived on subscription `peer` (the keyagent's identity). */
typedef void rd_keybody_fn(const char *peer, const struct sipev_keybody *kb, void *arg);

struct rd_sub_cfg {
    const char *target;     /**< host:port, or udp:host:port (numeric host; lab only) */
    const char *identity;   /**< our SIP URI */
    const char *peer_identity; /**< the keyagent's certificate identity we require
                                    (sipev_identity_eq); NULL or "": any (lab only) */
    SSL_CTX *tls;           /**< NULL: plain TCP or UDP (lab only: main.c runs without TLS
                                 only when lab-allow-plain-tcp=yes, which covers UDP too);
                                 rd_sub_create refuses a udp: target when tls is set */
    unsigned expires;       /**< requested subscription duration, seconds */
    struct rd_loop *loop;
    rd_keybody_fn *on_keybody;
    void *arg;
};
enum sr_err rd_sub_create(struct rd_sub **out, const struct rd_sub_cfg *cfg);
void rd_sub_destroy(struct rd_sub *s);
/** Run timers: connect, refresh, back-off.  Returns the next deadline (us). */
uint64_t rd_sub_tick(struct rd_sub *s, uint64_t now);
/** Send an unsubscribe (Expires: 0) if active; best effort at shutdown. */
void rd_sub_unsubscribe(struct rd_sub *s);
bool rd_sub_active(const struct rd_sub *s);
/** host:port as configured (the label of its metrics). */
const char *rd_sub_target(const struct rd_sub *s);
/** "idle", "connecting", "subscribing" or "active". */
const char *rd_sub_state_name(const struct rd_sub *s);
/** Connections refused because the keyagent's certificate named another
 *  identity than peer_identity. */
uint64_t rd_sub_identity_mismatches(const struct rd_sub *s);
/** Connections made from now on use tls (a SIGHUP reload: new certificate,
 *  key, CA or CRL); the live one goes on with the old context.  Ignored for
 *  a plain (lab) subscription.  The caller keeps tls alive while s uses it. */
void rd_sub_set_tls(struct rd_sub *s, SSL_CTX *tls);



/* -------------------------------------------------------------- key log */

/** Tag of the recorder's key-log records (keylog.c, docs/siprec.md "Key log"). */
#define RD_KEYLOG_TAG "R1"
struct rd_keylog;
/** Open (create, verify) the chainlog at path; errors are logged. */
enum sr_err rd_keylog_open(struct rd_keylog **out, const char *path);
void rd_keylog_close(struct rd_keylog *l);
/** One record per dialog of kb that carries keys (key ids, never keys):
 *  via "keyagent" or "siprec", source the key source's identity.  Not
 *  synced: rd_keylog_sync once per loop iteration.  NULL l: nothing. */
void rd_keylog_body(struct rd_keylog *l, const char *via, const char *source,
                    const struct sipev_keybody *kb);
void rd_keylog_sync(struct rd_keylog *l);
uint64_t rd_keylog_records(const struct rd_keylog *l);

/* --------------------------------------------------------------- SIPREC */

struct rd_media;
struct rd_srs;
struct prom;
/** The SIPREC Session Recording Server (srs.c, docs/siprec.md): a listener
 *  on siprec-listen, sessions with their own media ports, keys out through
 *  on_keybody with the client's certificate identity as the key source. */
struct rd_srs_cfg {
    const struct rd_cfg *cfg;
    SSL_CTX *tls;              /**< server context (client certificates required);
                                    NULL: plain TCP, lab only (main decides) */
    struct rd_loop *loop;
    struct rd_media *media;    /**< where session media sockets go */
    rd_keybody_fn *on_keybody; /**< each session's keys (one dialog, partial state) */
    /** Each request's RFC 7865 document, verbatim, once the request
     *  succeeded and after its session's keys went out (on_keybody); NULL:
     *  not kept (tests).  parties: every participant of the session's merged
 *  metadata (each nameID's AOR and name).  main hands it to
 *  rd_archives_metadata. */
    void (*on_metadata)(const char *peer, const char *call_id, const uint8_t *doc, size_t len,
                        uint64_t wall_us, const struct stor_party *parties, size_t n_parties,
                        void *arg);
    void *arg;
    uint64_t (*now_us)(void *arg); /**< monotonic clock; NULL: sr_now_us (tests inject one) */
    void *now_arg;
};
struct rd_srs_stats {
    uint64_t sessions, ended, reoffers, timer_expired, conns_refused;
    uint64_t refused[2];       /**< 4xx, 5xx */
    uint64_t forbidden, not_acceptable, bad_request;
    uint64_t sessions_now, conns_now; /**< gauges */
};
enum sr_err rd_srs_create(struct rd_srs **out, const struct rd_srs_cfg *cfg);
/** Sends BYE for every session, ends them (keys ENDED), closes.  NULL-safe. */
void rd_srs_destroy(struct rd_srs *s);
/** Handshake deadlines, session timers, orphaned sessions.  Next deadline (us). */
uint64_t rd_srs_tick(struct rd_srs *s, uint64_t now);
/** New connections use tls (SIGHUP). */
void rd_srs_set_tls(struct rd_srs *s, SSL_CTX *tls);
/** Replace the allow list (SIGHUP); SR_EPARSE keeps the old one. */
enum sr_err rd_srs_set_allow(struct rd_srs *s, const char *list);
void rd_srs_stats(const struct rd_srs *s, struct rd_srs_stats *out);
/** The listener's address ("127.0.0.1:5070"; the port chosen for port 0). */
const char *rd_srs_address(const struct rd_srs *s);
/** The UDP listener's address (siprec-listen-udp, lab only), or "" when off. */
const char *rd_srs_udp_address(const struct rd_srs *s);
void rd_srs_metrics(const struct rd_srs *s, struct prom *p);

/* ---------------------------------------------------------------- media */

struct stor_index;
struct stor_call_info;
struct stor_stream_info;
struct stor_pkt;
struct stor_counts;
struct rd_media;

/** The media path as main sees it (worker.c): `workers` receive threads
 *  (docs/recorder.md, "Threads and sockets"), or, with workers=1, one engine
 *  on main's loop.  cfg, loop and index outlive it; all calls from main. */
enum sr_err rd_media_create(struct rd_media **out, const struct rd_cfg *cfg, struct rd_loop *loop,
                            struct stor_index *index);
/** Stops the workers, seals every open call's archive, then frees everything.  NULL-safe. */
void rd_media_destroy(struct rd_media *m);
/** Apply a NOTIFY body from keyagent `peer` (rd_keybody_fn): copied to every worker. */
void rd_media_keybody(const char *peer, const struct sipev_keybody *kb, void *arg);
/** Flush archives, metrics, and (workers=1) the engine's timers.  Returns the next deadline. */
uint64_t rd_media_tick(struct rd_media *m, uint64_t now);
/** A SIPREC session's bound UDP media socket (fd taken; closed on failure)
 *  joins one engine, chosen by spread (workers>1: spread modulo workers), and
 *  *id names it for rd_media_del_sock.  Never fails for lack of room in a
 *  worker's mailbox (main waits, as for key bodies). */
enum sr_err rd_media_add_sock(struct rd_media *m, int fd, size_t spread, uint64_t *id);
/** Close a socket rd_media_add_sock gave to an engine. */
void rd_media_del_sock(struct rd_media *m, uint64_t id);
/** Whether some keyagent has accepted a subscription since start (main keeps
 *  it true through later outages and refreshes, so they cost no media).
 *  Until then, packets whose key never comes are counted (reason
 *  "unauthorised"), not archived: a recorder nobody has authorised keeps
 *  nobody's media, even encrypted. */
void rd_media_set_authorised(struct rd_media *m, bool authorised);
struct prom;
/** More lines for the metrics file, written by its writer after its own
 *  (main's subscription counters and health); fn runs on main's thread. */
typedef void rd_metrics_fn(struct prom *p, void *arg);
void rd_media_set_extra_metrics(struct rd_media *m, rd_metrics_fn *fn, void *arg);
/** One line of counters (summed over workers) for the operator log. */
void rd_media_log_stats(struct rd_media *m);

/* Archives (archive.c): one per call, shared by every engine that sees the
 * call (a call's two streams may land on two workers).  The registry's mutex
 * guards the list, reference counts and the index; each archive's mutex
 * guards every stor_writer call on it (writers are single-threaded). */
struct rd_archives;
struct rd_arch;
/** Parse and load the comma list of archive-recipients (at most 8 PEM
 *  certificates); failures are logged with the file. */
enum sr_err rd_recipients_load(const char *list, struct stor_recipients **out);
enum sr_err rd_archives_create(struct rd_archives **out, const struct rd_cfg *cfg,
                               struct stor_index *index);
/** Every archive must have been released (drains first). NULL-safe. */
void rd_archives_destroy(struct rd_archives *r);
/** Open and seal everything queued and stop the archive thread: at shutdown, once
 *  every engine has released its calls. NULL-safe. */
void rd_archives_drain(struct rd_archives *r);
/** The archive of (peer, call_id) or of the unmatched packets, created if
 *  none is (the archive thread opens it: writer and index row; until then
 *  rd_arch_add_stream and rd_arch_packet keep what they get, bounded, and
 *  it is written in order once open); one more reference either way.
 *  Never blocks on the disk. */
enum sr_err rd_arch_get(struct rd_archives *r, const char *peer, const struct stor_call_info *ci,
                        bool unmatched, struct rd_arch **out);
/** Adds counts to the archive's trailer counts and drops a reference; the
 *  last one queues the archive for the archive thread (trailer, fsync, index
 *  row), which rd_archives_destroy drains before it returns. */
void rd_arch_release(struct rd_archives *r, struct rd_arch *a, const struct stor_counts *counts);
/** The unmatched archive a takes no more streams (the writer's limit): the
 *  next rd_arch_get(unmatched) opens a fresh one; a keeps its references
 *  and is sealed by its last release as usual. */
void rd_arch_retire(struct rd_archives *r, struct rd_arch *a);
/** A call's archive that is full (its writer's stream or serial budget)
 *  goes on in a continuation archive under the same Call-ID, opened here
 *  (at most 32 per call); *idx names the stream in rd_arch_packet whichever
 *  archive holds it.  SR_ELIMIT: no archive of the call takes more streams
 *  (an unmatched one: 64; it rotates instead), or, still opening, it has
 *  kept all it may; SR_EIO: its open failed. */
enum sr_err rd_arch_add_stream(struct rd_arch *a, const struct stor_stream_info *si, unsigned *idx);
/** What a packet handed to rd_arch_packet was counted as by its engine, so
 *  that one lost while its archive opened is taken back from that count. */
enum rd_pkt_kind { RD_PKT_RTP, RD_PKT_RTCP, RD_PKT_ENCRYPTED, RD_PKT_KINDS };

/** *count minus what was taken back from it, never below zero. */
static inline void rd_take_back(uint64_t *count, uint64_t lost)
{
    *count -= lost < *count ? lost : *count;
}
enum sr_err rd_arch_packet(struct rd_arch *a, unsigned idx, const struct stor_pkt *p,
                           enum rd_pkt_kind kind);
/** The call's parties changed after its archive opened (SIPREC metadata
 *  in a re-INVITE): a's header keeps the first ones (written at open), a
 *  "parties" record inside the encrypted archive holds the new ones
 *  (docs/archive-format.md), and the index row, rewritten now by the
 *  archive thread and at the seal, names them.  Parties a already holds are
 *  ignored (every engine reports the change).  Any thread. */
void rd_arch_parties(struct rd_arch *a, const char *local_aor, const char *remote_aor);
/** A SIPREC client's RFC 7865 metadata document (len <= STOR_METADATA_MAX)
 *  for the call (peer, call_id): written verbatim as a "metadata" record
 *  inside the call's encrypted archive (docs/archive-format.md), stamped
 *  wall_us.  The SRS tells it before a worker has opened the archive (the
 *  key body goes through the workers' mailboxes): until then it waits in
 *  the registry (bounded, oldest dropped and counted) and goes in first
 *  when the archive is made.  parties (n_parties of them, copied): the
 *  participants the session's metadata names so far; the call's index row
 *  adds those it did not have (stor_record.parties: search finds the call
 *  by each), rewritten by the archive thread.  Any thread; r NULL: nothing. */
void rd_archives_metadata(struct rd_archives *r, const char *peer, const char *call_id,
                          const uint8_t *doc, size_t len, uint64_t wall_us,
                          const struct stor_party *parties, size_t n_parties);
/** Flush every open archive (main's flush timer). */
void rd_archives_flush(struct rd_archives *r);
/** Durability counters (docs/recorder.md, "Index and disk failures"). */
struct rd_archives_stats {
    uint64_t index_queued;       /**< rows whose write failed and were queued */
    uint64_t index_retried;      /**< queued rows written later */
    uint64_t index_dropped;      /**< rows past the queue bound (reconciled at start) */
    uint64_t index_failures;     /**< failed write attempts */
    uint64_t index_queued_now;   /**< gauge */
    uint64_t seals_waiting;      /**< gauge: ended calls whose seal is retried */
    uint64_t seal_retries;       /**< seal attempts after a failed one */
    uint64_t seal_lost_packets;  /**< held in memory, never written (given up at drain);
                                      also in rd_archives_count's lost */
    uint64_t metadata_dropped;   /**< SIPREC metadata documents whose archive never opened
                                      (past the registry's bound of waiting ones) */
};
/** Any thread; NULL-safe (zeros). */
void rd_archives_stats(struct rd_archives *r, struct rd_archives_stats *out);
/** Tests: the archive thread takes its time (the retry deadlines of the
 *  index queue and of seals) from clock instead of the monotonic clock, and
 *  waits for rd_archives_settle instead of a timeout.  Right after create. */
typedef uint64_t rd_clock_fn(void *arg);
void rd_archives_set_clock(struct rd_archives *r, rd_clock_fn *clock, void *arg);
/** Tests: wake the archive thread and wait until it has done every job and
 *  every retry due at the clock's time, and waits again. */
void rd_archives_settle(struct rd_archives *r);
/** The counters above as Prometheus text, for the metrics file's writer. */
void rd_archives_metrics(struct rd_archives *r, struct prom *p);
/** Open archives; *sealing (if set): released ones waiting for, or in, the
 *  archive thread; lost (if set): packets handed over while an archive was
 *  opening that could not be written (its open failed), by rd_pkt_kind: the
 *  engines counted them recorded, RTCP or kept encrypted when handing them
 *  over, so the metrics subtract these and count them storage drops.
 *  NULL-safe (0). */
size_t rd_archives_count(struct rd_archives *r, size_t *sealing, uint64_t lost[RD_PKT_KINDS]);

/* An engine's daemon side (media.c): the UDP sockets on media-listen, its
 * loop, and the engine (engine.h) they feed; single-threaded (its worker's,
 * or main's with workers=1).  Only rd_eng_stats and rd_eng_set_authorised
 * may be called from another thread. */
struct rd_eng;
struct rd_eng_cfg {
    const struct rd_cfg *cfg;
    struct rd_loop *loop;
    struct rd_archives *archives;
    unsigned long max_held_packets; /**< this engine's share of max-held-packets */
    unsigned long max_held_bytes;   /**< and of max-held-bytes */
    bool reuseport;                 /**< SO_REUSEPORT: one of several sockets on media-listen */
    bool log_keys;                  /**< log what key bodies disclose (one engine of several) */
    unsigned cap_slot, cap_slots;   /**< this engine's share of cfg->cap: sources i with
                                         i % cap_slots == cap_slot (cap_slots 0: 1) */
};
enum sr_err rd_eng_create(struct rd_eng **out, const struct rd_eng_cfg *ec);
/** Archives held packets encrypted, releases every call (the last engine to
 *  release one seals it), frees.  Adds its final counters to *final if set. NULL-safe. */
void rd_eng_destroy(struct rd_eng *m, struct rec_eng_stats *final);
void rd_eng_keybody(struct rd_eng *m, const char *peer, const struct sipev_keybody *kb);
/** Key-wait and linger timers.  Returns the next deadline. */
uint64_t rd_eng_tick(struct rd_eng *m, uint64_t now);
/** A SIPREC session's bound UDP socket joins this engine (the fd is taken,
 *  closed on failure); id names it for rd_eng_del_sock. */
enum sr_err rd_eng_add_sock(struct rd_eng *m, int fd, uint64_t id);
/** Close the session socket id (no-op if unknown); freed at the next tick. */
void rd_eng_del_sock(struct rd_eng *m, uint64_t id);
void rd_eng_set_authorised(struct rd_eng *m, bool authorised);
/** The counters as last published (after each receive burst and tick); any thread. */
void rd_eng_stats(struct rd_eng *m, struct rec_eng_stats *out);

#endif
