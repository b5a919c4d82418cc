/** @file rec.h  The recorder's media path: RTP/RTCP parsing, SRTP sessions
 *  (libsrtp2), the stream table and the held-packet pool.
 *
 * Threads: every object here belongs to exactly one thread (a worker) and
 * takes no locks.  rec_srtp_lib_init/fini are the exceptions: main calls them
 * once, before and after every worker.
 *
 * Allocation: only the create functions allocate.  The per-packet calls
 * (parse, unprotect, lookup, held push/drain) never do, except
 * rec_srtp_trial, which builds a throwaway libsrtp session per candidate,
 * and rec_held_push while the held pool grows towards its byte budget.
 *
 * Logging: the library logs only at debug level and never key material.
 */
#ifndef REC_H
#define REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "err.h"
#include "slice.h"
#include "srtpkey.h"

/* ------------------------------------------------------------------------ */
/* RTP / RTCP parsing (rtp.c)                                                */
/* ------------------------------------------------------------------------ */

enum {
    REC_RTP_HDR_MIN = 12, /**< fixed RTP header (RFC 3550 5.1) */
    REC_RTCP_HDR_MIN = 8, /**< RTCP common header plus sender SSRC */
    REC_RTCP_MAX_PARTS = 32, /**< packets in one compound RTCP packet */
};

/** A parsed RTP packet.  Every pointer points into the caller's buffer and is
 *  valid as long as that buffer is. */
struct rec_rtp {
    bool marker;
    uint8_t pt;             /**< payload type, 0..127 */
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    unsigned cc;            /**< CSRC count, 0..15 */
    const uint8_t *csrc;    /**< cc big-endian 32-bit words */
    bool has_ext;
    uint16_t ext_profile;   /**< "defined by profile" field (0xBEDE: RFC 8285) */
    struct slice ext;       /**< extension data, without its 4-byte header */
    size_t hdr_len;         /**< fixed header + CSRCs + extension */
    struct slice payload;   /**< after the header; excludes padding when parsed plain */
    uint8_t pad_len;        /**< 0 unless the P bit is set and the packet was parsed plain */
};

/** A parsed RTCP (possibly compound) packet. */
struct rec_rtcp {
    uint8_t pt;             /**< type of the first packet (200 = SR, 201 = RR, ...) */
    unsigned count;         /**< RC/SC/FMT field of the first packet */
    uint32_t ssrc;          /**< sender SSRC of the first packet */
    size_t n_parts;         /**< packets walked; 1 when parsed encrypted */
};

/** True when the second byte lies in 192..223: RTCP types share that range
 *  with RTP payload types 64..95 plus marker, which RFC 5761 section 4
 *  forbids for RTP, so this is how multiplexed RTP and RTCP are told apart.
 *  SR..APP (200..204), RTPFB/PSFB (205/206) and XR (207) all fall in it.
 *  Needs len >= 2; false otherwise. */
bool rec_pkt_is_rtcp(const uint8_t *pkt, size_t len);

/** Parse an RTP header over pkt[0..len).  Never reads outside it.
 *  encrypted: the packet is SRTP, whose padding count sits in the encrypted
 *  payload and whose tail is an auth tag, so padding is not interpreted and
 *  payload runs to the end.  Otherwise padding (RFC 3550 5.1) must be 1..the
 *  payload length.
 *  SR_OK, or SR_EPARSE with *why (if non-NULL) set to a static reason. */
enum sr_err rec_rtp_parse(const uint8_t *pkt, size_t len, bool encrypted, struct rec_rtp *out,
                          const char **why);

/** Parse RTCP over pkt[0..len).  encrypted (SRTCP): checks the first header
 *  and SSRC only, because the rest is ciphertext plus the SRTCP trailer.
 *  Plain: walks the compound packet; every part must be version 2, fit
 *  exactly, and only the last may carry padding (RFC 3550 6.4.1);
 *  at most REC_RTCP_MAX_PARTS parts (SR_ELIMIT past that).
 *  SR_OK, SR_EPARSE or SR_ELIMIT with *why set. */
enum sr_err rec_rtcp_parse(const uint8_t *pkt, size_t len, bool encrypted, struct rec_rtcp *out,
                           const char **why);

/* ------------------------------------------------------------------------ */
/* SRTP sessions (srtpctx.c), one libsrtp2 session per stream                */
/* ------------------------------------------------------------------------ */

/** The six suites srtprec accepts: an alias of the accepted rows of the
 *  srtpkey table (srtpkey.h), same values (so also enum sipev_suite's). */
enum rec_suite {
    REC_SUITE_AES_CM_128_HMAC_SHA1_80 = SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80,
    REC_SUITE_AES_CM_128_HMAC_SHA1_32 = SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_32,
    REC_SUITE_AES_256_CM_HMAC_SHA1_80 = SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_80,
    REC_SUITE_AES_256_CM_HMAC_SHA1_32 = SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_32,
    REC_SUITE_AEAD_AES_128_GCM = SRTPKEY_SUITE_AEAD_AES_128_GCM,
    REC_SUITE_AEAD_AES_256_GCM = SRTPKEY_SUITE_AEAD_AES_256_GCM,
};

enum {
    REC_SRTP_MAX_MASTER = SRTPKEY_MAX_MASTER, /**< 32-byte key + 14-byte salt */
    REC_SRTP_MAX_KEYS = SRTPKEY_MAX_KEYS,     /**< master keys per session (MKI re-keys) */
    REC_SRTP_MAX_MKI = SRTPKEY_MKI_MAX,       /**< MKI bytes: srtpkey's one limit (RFC 4568
                                                   allows 1..128; srtpkey_param_parse refuses
                                                   5..128 with SR_EUNSUPP) */
    REC_SRTP_MAX_TRIAL = 16,  /**< candidates per rec_srtp_trial call */
    REC_SRTP_TRAILER_MAX = 24, /**< 16 tag + 4 MKI + 4 SRTCP index: room protect needs */
    REC_PKT_MAX = 2048,       /**< largest packet rec_srtp_trial copies */
};

/** "AES_CM_128_HMAC_SHA1_80" etc. (srtpkey's table); "?" for a value outside the enum. */
const char *rec_suite_name(enum rec_suite s);
/** Key and salt lengths in bytes (srtpkey's table); false for a value outside the enum. */
bool rec_suite_lengths(enum rec_suite s, size_t *key_len, size_t *salt_len);

/** The crypto library libsrtp2 was built with. */
enum rec_srtp_backend {
    REC_SRTP_BACKEND_UNKNOWN = 0,
    REC_SRTP_BACKEND_OPENSSL,
    REC_SRTP_BACKEND_NSS,
    REC_SRTP_BACKEND_MBEDTLS,
    REC_SRTP_BACKEND_INTERNAL, /**< libsrtp's own AES and SHA-1: slow, no GCM */
};
const char *rec_srtp_backend_name(enum rec_srtp_backend b);

/** Detect the backend at run time, after srtp_init.  libsrtp registers one
 *  debug module per cipher and hash implementation, each named after its
 *  backend ("aes icm ossl", "aes icm nss", "aes icm mbedtls", "aes icm";
 *  "hmac sha-1 openssl", "hmac sha-1 nss", ...), and the public
 *  srtp_set_debug_module() fails for a name that is not registered.  Probing
 *  the names (with "off", the default, so nothing changes) tells the backend
 *  from the library actually linked, not from its headers. */
enum rec_srtp_backend rec_srtp_backend_detect(void);

/** Owned by main: call once before any worker starts.  Routes libsrtp's log
 *  to log_debug, calls srtp_init, detects the backend and runs known-answer
 *  tests (rec_srtp_self_test).  Anything but the OpenSSL backend is refused
 *  with SR_EUNSUPP unless allow_other_backend: Debian's binary libsrtp2 uses
 *  NSS, whose per-packet cost grows with the number of live keys (1.6 ms per
 *  packet at 10,000 streams), and the internal backend has no GCM.
 *  *backend (if non-NULL) receives what was found, also on failure. */
enum sr_err rec_srtp_lib_init(bool allow_other_backend, enum rec_srtp_backend *backend);
/** Mirror of rec_srtp_lib_init, after every session is destroyed. */
void rec_srtp_lib_fini(void);

/** Known-answer tests through this wrapper: libsrtp's reference packets for
 *  AES_CM_128_HMAC_SHA1_80 (RTP and RTCP), AES_256_CM_HMAC_SHA1_80 and
 *  AEAD_AES_128_GCM.  SR_OK or SR_ECRYPTO. */
enum sr_err rec_srtp_self_test(void);

/** One master key as disclosed (RFC 4568 inline key). */
struct rec_srtp_key {
    enum rec_suite suite;
    uint8_t master[REC_SRTP_MAX_MASTER]; /**< key || salt; the caller wipes its copy */
    size_t master_len;                   /**< must equal key + salt length of suite */
    uint32_t mki;                        /**< MKI value, sent big-endian in mki_len bytes */
    unsigned mki_len;                    /**< 0 = no MKI, else 1..REC_SRTP_MAX_MKI */
};

struct rec_srtp_cfg {
    uint32_t ssrc;     /**< the one SSRC this session serves (RTP and RTCP) */
    bool sender;       /**< false: receive (the recorder); true: protect (tests, tools) */
    struct rec_srtp_key keys[REC_SRTP_MAX_KEYS];
    size_t n_keys;     /**< 1..REC_SRTP_MAX_KEYS, one suite; more than one needs MKIs,
                            all of the same length */
    uint32_t roc;      /**< rollover counter at disclosure */
    uint16_t seq;      /**< highest sequence number at disclosure (valid if have_seq) */
    bool have_seq;     /**< without it, the first packet is taken to be in roc */
    unsigned window;   /**< replay window in packets, 64..32767; 0 = 128 */
};

struct rec_srtp;

/** Build a session.  The keys are copied into libsrtp (which derives session
 *  keys at once); no copy stays in struct rec_srtp.  A receiver joining a call
 *  in progress decrypts from its first packet: until one packet authenticates,
 *  each packet's ROC is guessed from (roc, seq) the way RFC 3711 3.3.1
 *  guesses from the highest index seen, and handed to libsrtp with
 *  srtp_set_stream_roc (libsrtp's "pending ROC", which skips the replay check
 *  and re-seats the window on success).  A sender starts at roc (and seq is
 *  ignored).  SR_OK, SR_EINVAL (bad lengths, suites, MKIs, window),
 *  SR_ENOMEM, SR_ECRYPTO (libsrtp refused, e.g. rec_srtp_lib_init not called;
 *  detail at debug level). */
enum sr_err rec_srtp_create(struct rec_srtp **out, const struct rec_srtp_cfg *cfg);
/** NULL-safe; libsrtp wipes its key schedule. */
void rec_srtp_destroy(struct rec_srtp *s);

uint32_t rec_srtp_ssrc(const struct rec_srtp *s);
/** Current rollover counter of the RTP direction. */
enum sr_err rec_srtp_roc(const struct rec_srtp *s, uint32_t *roc);

/** Decrypt and authenticate in place; *len shrinks by tag and MKI.  Only on
 *  SR_OK is the packet plaintext (for GCM the buffer may be garbage after a
 *  failure: keep a copy if the ciphertext must be archived).
 *  SR_OK; SR_EAUTH (tag wrong: wrong key or ROC, or tampering);
 *  SR_EREPLAY (seen, or older than the window); SR_ENOKEY (SSRC not this
 *  session's, or an MKI it does not hold: a re-key not yet disclosed);
 *  SR_EPARSE (malformed or too short); SR_ELIMIT (over 65535 bytes);
 *  SR_ECRYPTO (anything else). */
enum sr_err rec_srtp_unprotect(struct rec_srtp *s, uint8_t *pkt, size_t *len);
/** Same for SRTCP (index and E flag from the packet trailer). */
enum sr_err rec_srtp_unprotect_rtcp(struct rec_srtp *s, uint8_t *pkt, size_t *len);

/** Sender side, in place, with keys[0]: the buffer must have cap >= *len +
 *  REC_SRTP_TRAILER_MAX bytes (SR_ELIMIT otherwise).  SR_EREPLAY when a
 *  sequence number is protected twice. */
enum sr_err rec_srtp_protect(struct rec_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
enum sr_err rec_srtp_protect_rtcp(struct rec_srtp *s, uint8_t *pkt, size_t *len, size_t cap);

/** Which candidate key authenticates this packet?  For a stream whose SSRC
 *  the endpoint did not disclose: each candidate (its ssrc and sender fields
 *  are ignored; the packet's SSRC is used) gets a throwaway receive session
 *  and its own copy of the packet, so no replay state is committed and the
 *  original is never corrupted by a failed try.
 *  SR_OK: *which is the candidate's index, pkt holds the plaintext, *len its
 *  length, and *winner (if non-NULL) the session that authenticated it, its
 *  window already past this packet (else the session is destroyed).
 *  SR_EAUTH: none authenticated (pkt unchanged).  SR_EPARSE: malformed.
 *  SR_ELIMIT: n > REC_SRTP_MAX_TRIAL or *len > REC_PKT_MAX.  Cost: one
 *  session set-up (key derivation) per candidate tried. */
enum sr_err rec_srtp_trial(const struct rec_srtp_cfg *cands, size_t n, uint8_t *pkt, size_t *len,
                           bool rtcp, size_t *which, struct rec_srtp **winner);

/** Which rollover counter does this RTP packet carry, under a key whose ROC
 *  the discloser did not know?  One receive session for cand (its ssrc,
 *  sender, roc and seq fields are ignored: the packet's SSRC is used), then
 *  the packet, on a fresh copy each time, at ROC hi, hi - 1, ... down to 0,
 *  at most max_tries of them: the top of the window first, where a call at
 *  the highest packet rate the caller assumed would be.  pkt is never
 *  modified.  *tries (may be NULL) gets the attempts made.
 *  SR_OK: *roc authenticates it.  SR_EAUTH: none did.  SR_EPARSE: not RTP.
 *  SR_ELIMIT: len > REC_PKT_MAX.  Cost: one key derivation, then one
 *  authentication (HMAC or GCM) per ROC tried. */
enum sr_err rec_srtp_find_roc(const struct rec_srtp_cfg *cand, const uint8_t *pkt, size_t len,
                              uint32_t hi, size_t max_tries, uint32_t *roc, size_t *tries);

/* ------------------------------------------------------------------------ */
/* Stream table (streams.c)                                                  */
/* ------------------------------------------------------------------------ */

/** A stream's identity: where its packets come from, and its SSRC. */
struct rec_flow {
    uint8_t addr[16]; /**< IPv6; IPv4 as v4-mapped ::ffff:a.b.c.d, so a dual-stack
                           socket and a v4 socket name a peer the same way */
    uint16_t port;    /**< host byte order */
    uint32_t ssrc;
};

/** Fill *f from a received datagram's source.  SR_EINVAL for a family other
 *  than AF_INET/AF_INET6 or a short salen. */
enum sr_err rec_flow_set(struct rec_flow *f, const struct sockaddr *sa, socklen_t salen,
                         uint32_t ssrc);
bool rec_flow_eq(const struct rec_flow *a, const struct rec_flow *b);

struct rec_streams;

/** A table for at most capacity streams (1..2^24), allocated once: open
 *  addressing, linear probing, backward-shift deletion (no tombstones, so
 *  churn does not slow lookups), at most half full.  The hash is SipHash-2-4
 *  under a random per-table key, so peers choosing SSRCs and ports cannot
 *  build long probe chains.  SR_OK, SR_EINVAL, SR_ENOMEM, SR_ECRYPTO (no
 *  randomness). */
enum sr_err rec_streams_create(struct rec_streams **out, size_t capacity);
/** NULL-safe.  Does not touch the user pointers. */
void rec_streams_destroy(struct rec_streams *t);

/** SR_OK; SR_ESTATE if f is already present; SR_ELIMIT when capacity
 *  streams are live.  user must not be NULL (SR_EINVAL). */
enum sr_err rec_streams_insert(struct rec_streams *t, const struct rec_flow *f, void *user);
/** The user pointer, or NULL. */
void *rec_streams_lookup(const struct rec_streams *t, const struct rec_flow *f);
/** SR_OK (and *user, if non-NULL, gets the pointer) or SR_ENOTFOUND. */
enum sr_err rec_streams_remove(struct rec_streams *t, const struct rec_flow *f, void **user);
size_t rec_streams_count(const struct rec_streams *t);
size_t rec_streams_capacity(const struct rec_streams *t);

/* ------------------------------------------------------------ call table */

/** Calls by (peer, Call-ID), found in O(1) so that a key body of N calls
 *  costs O(N), not O(N^2).  Chained buckets, their count fixed at create (a
 *  power of two, at least expected, at most 2^22); SipHash-2-4 under a
 *  random per-table key, since peers choose Call-IDs.  The table does not
 *  copy the strings: they must outlive the entry (the caller's object's own
 *  fields).  Errors: SR_EINVAL, SR_ENOMEM, SR_ECRYPTO (no randomness). */
struct rec_calltab;
enum sr_err rec_calltab_create(struct rec_calltab **out, size_t expected);
/** NULL-safe; does not touch the user pointers. */
void rec_calltab_destroy(struct rec_calltab *t);
/** SR_OK; SR_ESTATE if (peer, call_id) is there already; user must not be NULL. */
enum sr_err rec_calltab_insert(struct rec_calltab *t, const char *peer, const char *call_id,
                               void *user);
/** The user pointer, or NULL. */
void *rec_calltab_find(const struct rec_calltab *t, const char *peer, const char *call_id);
/** SR_OK or SR_ENOTFOUND. */
enum sr_err rec_calltab_remove(struct rec_calltab *t, const char *peer, const char *call_id);
size_t rec_calltab_count(const struct rec_calltab *t);

typedef void rec_streams_visit_fn(const struct rec_flow *f, void *user, void *arg);
/** Visit every entry, in no particular order.  fn must not insert or remove. */
void rec_streams_foreach(const struct rec_streams *t, rec_streams_visit_fn *fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Held packets (held.c): packets that arrived before their key               */
/* ------------------------------------------------------------------------ */

/* Memory layout, part of the contract so that budgets can be sized: a pool
 * is cut into pages of page_size bytes (REC_HELD_PAGE, or the multiple of it
 * that fits one slot_size packet), each with a REC_HELD_PAGE_HDR header; a
 * held packet of len bytes takes REC_HELD_ENTRY_BYTES(len) bytes of a page
 * of its own stream (a 182-byte packet: 200).  Entries never span pages, so
 * a stream holding anything holds at least one whole page, and a page ends
 * with slack when the next entry does not fit. */
enum {
    REC_HELD_PAGE = 4096,
    REC_HELD_PAGE_HDR = 8,
    REC_HELD_ENTRY_HDR = 16,
};
#define REC_HELD_ENTRY_BYTES(len) ((size_t)REC_HELD_ENTRY_HDR + (((size_t)(len) + 7u) & ~(size_t)7u))

struct rec_held_cfg {
    size_t slots;          /**< cap on packets held, all streams together (1..2^24) */
    size_t slot_size;      /**< largest packet held, bytes (1..65535) */
    size_t per_stream_max; /**< cap on packets per stream queue (1..slots) */
    size_t bytes;          /**< memory budget for held packets, page headers and slack
                            *   included; rounded down to whole pages, at least one page
                            *   (else SR_EINVAL), at most 2^24 pages.  0 = slots x slot_size
                            *   (at least one page), the old slot pool's size. */
};

/** Per-stream queue, embedded in the caller's stream object.  Zero it (or
 *  use REC_HELD_Q_INIT) before first use; read the counters, change nothing.
 *  An empty queue holds no page, so a stream may be freed once its queue is
 *  empty (drained or discarded). */
struct rec_held_q {
    uint32_t head, tail; /**< page indices; meaningful only when count > 0 */
    uint32_t head_off;   /**< offset of the oldest entry in the head page */
    uint32_t count;
    uint64_t dropped;    /**< packets this stream could not hold */
};
#define REC_HELD_Q_INIT ((struct rec_held_q){ .count = 0 })

struct rec_held_stats {
    size_t in_use, slots;    /**< packets held now; the packet cap */
    size_t pkt_bytes;        /**< bytes of the packets held now (their lengths) */
    size_t bytes_in_use;     /**< page memory the queues hold now (pages x page_size) */
    size_t bytes_peak;       /**< pages ever put in service x page_size: the high-water
                              *   mark of bytes_in_use; never shrinks (pages are recycled,
                              *   not freed) */
    size_t bytes;            /**< the budget, in whole pages */
    size_t page_size;
    uint64_t held;           /**< packets ever accepted */
    uint64_t drop_pool_full; /**< refused: packet cap or byte budget reached */
    uint64_t drop_stream_full; /**< refused: per-stream cap reached */
    uint64_t drop_too_big;   /**< refused: larger than slot_size */
    uint64_t drop_nomem;     /**< refused: budget left but malloc of a chunk failed
                              *   (also counted in drop_pool_full) */
    uint64_t discarded;      /**< thrown away by rec_held_discard */
};

struct rec_held;

/** Allocate the pool's bookkeeping (one pointer per 64 pages of budget); page
 *  memory comes later, in chunks of 64 pages, as the high-water mark of held
 *  bytes rises, never beyond the budget.  SR_OK, SR_EINVAL, SR_ENOMEM. */
enum sr_err rec_held_create(struct rec_held **out, const struct rec_held_cfg *cfg);
/** NULL-safe; wipes every page ever used (they may hold plaintext RTCP or media). */
void rec_held_destroy(struct rec_held *h);

/** Copy a packet to the tail of q.  ts_us and flags are the caller's (e.g.
 *  arrival time, "is RTCP") and come back on drain.  SR_OK, or SR_ELIMIT
 *  when len > slot_size, q holds per_stream_max packets, the pool holds
 *  slots packets, or the packet does not fit q's last page and no page is
 *  left within the budget: the packet was not held, q->dropped and the
 *  pool's counters went up, and the caller must still account for it (e.g.
 *  archive it encrypted).  Never silent.  O(1); allocates only when it
 *  needs a page, no recycled page is free, and the pool is below budget
 *  (one 64-page chunk per 64 such pages). */
enum sr_err rec_held_push(struct rec_held *h, struct rec_held_q *q, const uint8_t *pkt,
                          size_t len, uint64_t ts_us, unsigned flags);

/** Called for each held packet, oldest first.  pkt is writable (decrypt in
 *  place) and valid only during the call. */
typedef void rec_held_fn(void *arg, uint8_t *pkt, size_t len, uint64_t ts_us, unsigned flags);

/** Hand every packet of q to fn in arrival order, then wipe q's pages and
 *  recycle them; returns how many.  fn may push to other queues of the same
 *  pool (never into the page of the packet in hand), not to q, and must not
 *  drain or discard.  O(1) per packet, no allocation. */
size_t rec_held_drain(struct rec_held *h, struct rec_held_q *q, rec_held_fn *fn, void *arg);
/** The oldest packet of q without removing it (for trial authentication
 *  when a key without an SSRC is disclosed).  *pkt is valid until q changes
 *  (a push to q keeps it valid).  SR_OK, or SR_ENOTFOUND when q is empty. */
enum sr_err rec_held_peek(struct rec_held *h, const struct rec_held_q *q, const uint8_t **pkt,
                          size_t *len, unsigned *flags);
/** Wipe and recycle q's pages without handing the packets out (counted as
 *  discarded); returns how many. */
size_t rec_held_discard(struct rec_held *h, struct rec_held_q *q);
void rec_held_stats(const struct rec_held *h, struct rec_held_stats *st);

#endif
