/** @file engine.h  The recorder engine: packets and key events in, archive
 *  writes out.  No sockets, threads, files or clocks of its own: the daemon
 *  (media.c, worker.c) feeds it datagrams with both addresses and an arrival
 *  time, hands it key bodies tagged with the key source that sent them (a
 *  keyagent identity today), gives it a clock, and receives every write
 *  through struct rec_eng_archive_ops.  Tests drive it with a fake clock and
 *  a fake archive (tests/recorder/test_engine.c): every rule below is one.
 *
 * The rules (docs/recorder.md, "Where every packet goes"):
 * - Demultiplexing by (source address, SSRC).  A stream binds to a key only
 *   once a packet authenticates under it (trial authentication): a key
 *   disclosed for the stream's SSRC is tried first, then keys disclosed
 *   without an SSRC, then keys whose disclosed SSRC no packet has used (a
 *   false a=ssrc), then the keys of streams from the same source (an SSRC
 *   change) or the neighbouring port (RTCP without rtcp-mux).  So a second
 *   key source disclosing the same SSRC is one more candidate, never an
 *   override, and a wrong key binds nothing.  A key whose disclosure names a
 *   fork source binds only packets from that source.
 * - A packet whose key has not come is held (bounded per stream, per source
 *   and per engine) for up to key-wait-ms; then its stream's packets are
 *   kept encrypted, in the archive of the call whose fork source it is, else
 *   in an "unmatched" archive, within a budget of unmatched streams per
 *   minute; past the budget they are counted, not kept.
 * - Streams that never bind are reaped once idle for key-wait + linger.
 *   New unbound streams are capped per source address and per engine; a
 *   flow whose SSRC some key source disclosed is never refused for it.
 * - A stream its key source marks paused (PCI DSS pause) is not recorded
 *   while paused; its packets are counted.
 * - Calls and streams are capped per key source, and so are archive opens
 *   per second: a call past that opens in a later second (its keys kept),
 *   in disclosure order, so a burst (a recorder's resync of thousands of
 *   calls) is spread, not refused.
 * - A full state that omits a call whose media still flows does not end it
 *   (a restarted keyagent); the call ends once its media stops.
 * - A key whose discloser did not know the ROC (sipev_stream.roc_unknown)
 *   binds at the first RTP packet that authenticates at some ROC from the
 *   top of a window the dialog's age allows (50 packets a second) down to
 *   0; every attempt is counted, within a budget per stream and per
 *   second.  Keys with a disclosed ROC never search.
 *
 * Threads: single-threaded; the caller serialises every call except
 * rec_eng_set_authorised (atomic).
 */
#ifndef REC_ENGINE_H
#define REC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rec.h"

struct sipev_keybody;
struct stor_call_info;
struct stor_stream_info;
struct stor_pkt;
struct stor_counts;

/** What a packet handed to the archive was counted as, so that one the
 *  archive loses later (its open failed) can be taken back from that count. */
enum rec_pkt_kind { REC_PKT_RTP, REC_PKT_RTCP, REC_PKT_ENCRYPTED, REC_PKT_KINDS };

/** The archive side, as the engine sees it.  arch handles are the ops' own.
 *  open: the archive of (source, ci->call_id), or a fresh unmatched one;
 *  one more reference on an archive already open for the call (several
 *  engines share a call).  add_stream: SR_ELIMIT when the archive takes no
 *  more streams (an unmatched one: the engine retires it and opens
 *  another).  release: drop a reference, adding counts to the trailer.
 *  retire: an unmatched archive takes no more streams.  parties (may be
 *  NULL): a later body of an open call names other parties (SIPREC metadata
 *  that came in a re-INVITE): the archive records them (the header, written
 *  at open, cannot change) and the index row follows; every engine reports
 *  it, so the op ignores what it already holds. */
struct rec_eng_archive_ops {
    enum sr_err (*open)(void *arg, const char *source, const struct stor_call_info *ci,
                        bool unmatched, void **arch);
    enum sr_err (*add_stream)(void *arg, void *arch, const struct stor_stream_info *si,
                              unsigned *idx);
    enum sr_err (*packet)(void *arg, void *arch, unsigned idx, const struct stor_pkt *p,
                          enum rec_pkt_kind kind);
    void (*release)(void *arg, void *arch, const struct stor_counts *counts);
    void (*retire)(void *arg, void *arch);
    void (*parties)(void *arg, void *arch, const char *local_aor, const char *remote_aor);
};

/** Monotonic and wall-clock time in microseconds. */
struct rec_eng_clock {
    uint64_t (*mono_us)(void *arg);
    uint64_t (*wall_us)(void *arg);
    void *arg;
};

struct rec_eng_cfg {
    const struct rec_eng_archive_ops *ops;
    void *ops_arg;
    struct rec_eng_clock clock;
    unsigned long key_wait_ms;        /**< hold before keeping encrypted */
    unsigned long call_linger_ms;     /**< after a call ends, late packets still land */
    unsigned long tick_ms;            /**< cadence of the key-wait and reaping scans */
    size_t max_streams;               /**< stream table; calls at most half of it */
    size_t max_unbound;               /**< streams waiting for a key; 0 = max_streams / 4 */
    size_t max_unbound_per_source;    /**< per source address; 0 = 1024 */
    size_t max_held_packets;          /**< held pool (0: 1) */
    size_t max_held_bytes;            /**< held pool bytes (rec_held_cfg.bytes); 0: its default */
    size_t max_held_per_stream;
    size_t unmatched_streams_per_min; /**< unmatched streams kept encrypted; 0 = 256 */
    size_t max_calls_per_source;      /**< 0 = max_streams / 2 */
    size_t max_streams_per_source;    /**< bound streams; 0 = max_streams */
    size_t opens_per_source_per_s;    /**< archive opens per key source per second; 0 = 1000 */
    bool log_keys;                    /**< log what key bodies disclose (one engine of several) */
};

/** Counters (monotonic) then gauges; the daemon sums them over engines. */
struct rec_eng_stats {
    uint64_t rx, rtcp, malformed, recorded, auth_fail, replay, held, held_full, no_stream_slot,
        storage_err, encrypted_kept, kernel_drops, trial_bound, rekeys, ssrc_changes, unauthorised;
    uint64_t unbound_full;      /**< new flow refused: the engine's unbound streams are capped */
    uint64_t source_full;       /**< new flow refused: its source address's unbound cap */
    uint64_t unmatched_budget;  /**< packets of unmatched streams past the per-minute budget */
    uint64_t reaped;            /**< unbound streams freed after idling key-wait + linger */
    uint64_t quota_refused;     /**< key-source quota: calls or archive opens refused */
    uint64_t trial_tries;       /**< candidate keys tried by trial authentication */
    uint64_t calls_kept;        /**< calls a full state omitted but whose media still flowed */
    uint64_t paused;            /**< packets of a stream its key source paused (not recorded) */
    uint64_t calls_deferred;    /**< calls opened a second later: over their source's opens/s */
    uint64_t duplicates;        /**< second copies of a packet already recorded (a mirror that
                                     shows a stream twice): not recorded again */
    uint64_t plain_bound;       /**< streams bound to a plain (keyless) binding: SIPREC RTP/AVP
                                     legs, recorded as received */
    uint64_t roc_tries;         /**< ROC search: attempts (one authentication each) for keys
                                     whose ROC the discloser did not know */
    uint64_t roc_found;         /**< ROC search: streams whose ROC was found */
    uint64_t roc_failed;        /**< ROC search: streams whose budget ran out without a find */
    uint64_t streams, unbound_now, held_now, held_slots; /**< gauges */
};
#define REC_ENG_FIRST_GAUGE offsetof(struct rec_eng_stats, streams)

/** One datagram.  data is writable (decrypted in place) and borrowed for the
 *  call.  src and dst: addresses as in struct rec_flow (ssrc ignored);
 *  dst may be all zero when unknown (a socket bound to a wildcard). */
struct rec_eng_pkt {
    uint8_t *data;
    size_t len;
    struct rec_flow src, dst;
    uint64_t arrival_wall_us;
    uint64_t now_us;          /**< monotonic arrival time; 0: the engine reads its clock
                                   (a daemon passes one reading per receive batch) */
};

struct rec_eng;

/** SR_OK, SR_EINVAL, SR_ENOMEM, SR_ECRYPTO (no randomness for the tables). */
enum sr_err rec_eng_create(struct rec_eng **out, const struct rec_eng_cfg *cfg);
/** Keeps held packets encrypted, releases every call (state "shutdown"),
 *  frees.  Adds its counters to *final if set.  NULL-safe. */
void rec_eng_destroy(struct rec_eng *e, struct rec_eng_stats *final);
void rec_eng_packet(struct rec_eng *e, const struct rec_eng_pkt *p);
/** Apply a key body from key source `source` (a keyagent identity). */
void rec_eng_keybody(struct rec_eng *e, const char *source, const struct sipev_keybody *kb);
/** Key-wait, reaping and linger timers.  Returns the next deadline (mono us). */
uint64_t rec_eng_tick(struct rec_eng *e, uint64_t now_us);
/** Until some key source authorises the recorder, packets whose key never
 *  comes are counted ("unauthorised"), not archived.  Any thread. */
void rec_eng_set_authorised(struct rec_eng *e, bool authorised);
/** Datagrams the media source lost before the engine saw them (kernel
 *  queue overflow, capture ring drops): counted, and added to the trailer
 *  counts (overload) of every call open now, since which call lost them
 *  is unknown. */
void rec_eng_count_source_drops(struct rec_eng *e, uint64_t n);
/** The counters now, gauges filled in.  Same thread as the others. */
void rec_eng_stats(struct rec_eng *e, struct rec_eng_stats *out);

#endif
