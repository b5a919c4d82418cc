/** @file ka.h  Endpoint side of the keyagent: a client for its control socket.
 *
 * An endpoint (phone, PBX, SBC, the endpoint simulator) links this library to
 * tell the local srtprec-keyagent which calls and SRTP streams it has, so the
 * keyagent can disclose them to authorised recorders (docs/protocol.md,
 * "Control socket").
 *
 * Contract: every call is synchronous.  It writes one line, then blocks until
 * the keyagent answers "OK" or "ERR <reason>" (at most KA_CLIENT_TIMEOUT_MS
 * per read or write).  A client is used by one thread at a time.  Strings are
 * NUL-terminated and borrowed for the duration of the call; they must be
 * tokens (printable ASCII, no spaces).  Master keys are wiped from the
 * library's buffers after each call and never logged.
 *
 * Returns: SR_OK on "OK"; SR_ESTATE when the keyagent answered "ERR"
 * (ka_client_error() gives its reason); SR_EINVAL for arguments that cannot be
 * written as a valid line; SR_EIO / SR_ECLOSED when the keyagent cannot be
 * reached (see below); SR_ELIMIT when KA_CLIENT_MAX_CALLS calls are kept.
 *
 * Re-disclosure (the keyagent keeps calls only in memory): the client keeps
 * every call it began with the typed calls below and has not ENDed, with its
 * streams, current keys (after REKEY) and pause state, at most
 * KA_CLIENT_MAX_CALLS calls; kept keys are wiped when the call ends and on
 * ka_client_close().  Whenever the client connects again it first discloses
 * all of them anew (CALL, STREAMs, PAUSEs), so a keyagent that restarted
 * learns every live call again.  It connects again by itself: before a
 * typed call while disconnected, when a typed call fails on the socket (the
 * replay then carries that call's effect, and the call returns SR_OK), and
 * in ka_client_poll(), which an endpoint calls
 * periodically (or when ka_client_fd() turns readable: the keyagent never
 * writes unasked) so that an idle endpoint notices a restart within its
 * polling interval.  A typed call that ends in SR_EIO / SR_ECLOSED has still
 * been kept: it is disclosed on the next successful connect and must not be
 * repeated (ka_call_end() forgets the call whatever happens).  Lines sent
 * with ka_client_command() are not kept.  A re-disclosed call the keyagent
 * already has ("call exists": only the connection broke) is left as it is.
 *
 * Stability (the shared libka.so.0, srtprec-ka.pc): the functions below, the
 * layout of the structs an endpoint fills or allocates (struct ka_call_info,
 * ka_key, ka_stream_info, ka_sdp and its members, hence the KA_SDP_MAX_*
 * bounds) and the values of the enums here and in sr_err.h are the ABI of
 * soname 0, exported under the symbol version LIBKA_0 (libka.map) and
 * nothing else.  Within soname 0 they only grow: a new function gets a new
 * symbol version, a new error code is appended; a change to an existing
 * signature, layout or value takes soname 1.  The library's own protocol
 * revision (KA_PROTOCOL) may rise within soname 0: it falls back to what an
 * older keyagent takes (docs/protocol.md, "Revisions").
 */
#ifndef KA_H
#define KA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sr_err.h"

enum {
    KA_LINE_MAX = 2048,          /**< one control line, including "\n" */
    KA_CLIENT_TIMEOUT_MS = 5000, /**< per blocking read or write */
    KA_CLIENT_MAX_CALLS = 4096,  /**< calls kept for re-disclosure (the keyagent's max-calls ceiling) */
    /** Control-protocol revision this library speaks (docs/protocol.md,
     *  "Revisions"): 1 is the first form; 2 added the CALL start, the "-"
     *  ROC and VERSION.  On every connect the client asks the keyagent's
     *  revision (VERSION) and writes only lines that revision takes. */
    KA_PROTOCOL = 2,
};

struct ka_client;

/** Connect to the keyagent's UNIX control socket at path. */
enum sr_err ka_client_connect(struct ka_client **out, const char *path);
/** Close the socket and wipe buffers; NULL-safe. */
void ka_client_close(struct ka_client *c);
/** The reason text of the last "ERR" answer ("" if none). Valid until the next call. */
const char *ka_client_error(const struct ka_client *c);
/** The control-protocol revision of the keyagent connected now (0 while
 *  disconnected).  Below 2 (a keyagent older than VERSION) the client falls
 *  back to what revision 1 could say: a CALL's start is left out and a
 *  KA_ROC_UNKNOWN stream is disclosed with ROC 0, so the recorder will not
 *  search its ROC (a call disclosed after its first wrap is then not
 *  decrypted until the endpoint re-discloses with the real ROC). */
unsigned ka_client_protocol(const struct ka_client *c);

/** Connect again now and disclose every kept call anew.  SR_OK; SR_ESTATE
 *  when the keyagent refused some kept call (the first reason in
 *  ka_client_error(); the call stays kept and the connection is up);
 *  SR_EIO / SR_ECLOSED when the keyagent cannot be reached (try later). */
enum sr_err ka_client_reconnect(struct ka_client *c);
/** Non-blocking check, for an endpoint's timer or event loop: if the
 *  keyagent closed the socket (it exited or restarted), connect again and
 *  re-disclose as ka_client_reconnect().  SR_OK while connected. */
enum sr_err ka_client_poll(struct ka_client *c);
/** The socket, to watch for readability (= the keyagent closed it); -1 while
 *  disconnected.  Do not read or write it. */
int ka_client_fd(const struct ka_client *c);
/** Calls kept for re-disclosure. */
size_t ka_client_kept_calls(const struct ka_client *c);
/** Where a stream is now, asked for each stream when it is re-disclosed
 *  (ROC and highest SEQ; both start as disclosed).  A long call's ROC has
 *  moved on since; without this hook the disclosed values are sent again. */
typedef void ka_position_fn(void *arg, const char *call_id, const char *stream_id, uint32_t *roc,
                            uint16_t *seq);
void ka_client_set_position_fn(struct ka_client *c, ka_position_fn *fn, void *arg);

/** Send one raw control line (no "\n"; it is added) and wait for the answer.
 *  For tools and tests; prefer the typed calls below. */
enum sr_err ka_client_command(struct ka_client *c, const char *line);

/** One dialog, from the endpoint's point of view. */
struct ka_call_info {
    const char *call_id;
    const char *local_tag, *remote_tag; /**< "-" if not yet known */
    const char *local_aor, *remote_aor; /**< "sip:...", "sips:..." or "tel:..." */
};

/** One SRTP master key (RFC 4568 key-params). */
struct ka_key {
    const uint8_t *master; /**< key || salt */
    size_t master_len;     /**< must match the suite (30 for AES_CM_128_*) */
    uint64_t lifetime;     /**< packets; 0 = not stated */
    uint32_t mki;          /**< used when mki_len > 0 */
    unsigned mki_len;      /**< 0..4 bytes */
};

enum ka_direction { KA_DIR_SEND = 0, KA_DIR_RECV };

/** A ka_stream_info.roc the endpoint does not know (sent as "-"; the
 *  recorder searches it, bounded by the dialog's age): an SBC that first
 *  saw the call mid-way, a helper run at any time.  ROC 2^32-1 itself
 *  cannot be disclosed through the library: a stream reaches it only after
 *  2^48 - 2^16 packets, past every suite's key lifetime. */
#define KA_ROC_UNKNOWN UINT32_MAX

/** One RTP stream of a dialog, and its keys. */
struct ka_stream_info {
    const char *call_id;
    const char *stream_id;    /**< unique within the call */
    enum ka_direction direction;
    bool ssrc_known;
    uint32_t ssrc;
    unsigned payload_type;    /**< 0..127 */
    const char *codec;        /**< "PCMU" */
    unsigned clock_rate;      /**< 8000 */
    const char *src, *dst;    /**< fork "ip:port" / "[v6]:port", or NULL if unknown */
    const char *suite;        /**< "AES_CM_128_HMAC_SHA1_80" */
    const struct ka_key *keys;
    size_t n_keys;            /**< 1..4 */
    uint32_t roc;             /**< rollover counter now, or KA_ROC_UNKNOWN */
    uint16_t seq;             /**< highest (or next) sequence number now */
};

/** CALL: announce a dialog.  Must precede its streams. */
enum sr_err ka_call_begin(struct ka_client *c, const struct ka_call_info *call);
/** STREAM: add a stream with its keys. */
enum sr_err ka_stream_add(struct ka_client *c, const struct ka_stream_info *s);

enum { KA_PIPELINE_STREAMS = 16 }; /**< the keyagent's streams per call */

/** CALL and its streams in one write (pipelined; docs/protocol.md "Framing").
 *  The keyagent applies the lines that arrive together in one loop iteration,
 *  so subscribers get the call and its keys in one NOTIFY rather than one per
 *  line, and the endpoint waits for one round trip rather than 1 + n.  Every
 *  line is checked before any is sent (SR_EINVAL sends nothing).  Answers are
 *  read in order; the result is the first refusal (SR_ESTATE,
 *  ka_client_error() has its reason), and *n_ok (may be NULL) counts the
 *  accepted lines: after a refused CALL the STREAMs are refused too. */
enum sr_err ka_call_begin_streams(struct ka_client *c, const struct ka_call_info *call,
                                  const struct ka_stream_info *streams, size_t n_streams,
                                  size_t *n_ok);
/** ka_call_begin_streams for a call disclosed later than it started:
 *  start_wall_us (Unix epoch microseconds; 0: not known, which is
 *  ka_call_begin_streams) goes with the CALL, and with it again when the
 *  call is re-disclosed, as the dialog's start: it bounds the recorder's
 *  search for a ROC the endpoint does not know.  A keyagent older than the
 *  start argument refuses the CALL (docs/protocol.md, "Revisions"). */
enum sr_err ka_call_begin_streams_at(struct ka_client *c, const struct ka_call_info *call,
                                     uint64_t start_wall_us, const struct ka_stream_info *streams,
                                     size_t n_streams, size_t *n_ok);
/** REKEY: replace the stream's keys (libsrtp semantics: new key from now on). */
enum sr_err ka_rekey(struct ka_client *c, const char *call_id, const char *stream_id,
                     const char *suite, const struct ka_key *keys, size_t n_keys);
/** PAUSE / RESUME: PCI pause; recorders stop keeping audio while paused. */
enum sr_err ka_pause(struct ka_client *c, const char *call_id, const char *stream_id);
enum sr_err ka_resume(struct ka_client *c, const char *call_id, const char *stream_id);
/** END: the dialog is over; the keyagent reports it ended, then forgets its keys. */
enum sr_err ka_call_end(struct ka_client *c, const char *call_id);

/* ---- SDP helper (keyagent/sdp.c) -------------------------------------------
 *
 * Parses SDP (RFC 4566) offer/answer text for what disclosure needs: per m=
 * line the media, port, payload types with their rtpmap, the connection
 * address, the first a=ssrc, and every a=crypto (RFC 4568).  Everything is
 * copied into the fixed-size struct ka_sdp: no allocation, and each count has
 * a ceiling below (more: SR_ELIMIT).  Keys are wiped by ka_sdp_wipe().
 * struct ka_sdp is about 34 KB: keep it off small thread stacks. */
enum {
    KA_SDP_MAX = 65536,       /**< whole SDP, bytes */
    KA_SDP_MAX_LINE = 2048,   /**< one line, bytes without CRLF */
    KA_SDP_MAX_MEDIA = 8,     /**< m= lines */
    KA_SDP_MAX_CRYPTO = 8,    /**< a=crypto lines per m= line */
    KA_SDP_MAX_FMT = 32,      /**< payload types per m= line (also rtpmap lines) */
    KA_SDP_MAX_KEYS = 4,      /**< key-params per a=crypto (the control protocol's limit) */
    KA_SDP_MASTER_MAX = 46,   /**< key || salt, AES-256 suites */
};

struct ka_sdp_key {
    uint8_t master[KA_SDP_MASTER_MAX];
    size_t master_len;        /**< exactly the suite's key + salt length */
    uint64_t lifetime;        /**< packets; 0 = not stated */
    uint32_t mki;
    unsigned mki_len;         /**< 0 = no MKI; 1..4 */
};

struct ka_sdp_crypto {
    uint32_t tag;             /**< 1..999999999 */
    char suite[32];           /**< one of the control protocol's suites */
    struct ka_sdp_key keys[KA_SDP_MAX_KEYS];
    size_t n_keys;
    bool session_params;      /**< session params were present and ignored */
};

struct ka_sdp_rtpmap {
    unsigned pt;
    char codec[32];
    unsigned clock_rate;
};

struct ka_sdp_media {
    char media[16];           /**< "audio" */
    unsigned port;            /**< 0 = rejected or disabled stream */
    char proto[32];           /**< "RTP/SAVP" */
    unsigned fmt[KA_SDP_MAX_FMT];
    size_t n_fmt;
    struct ka_sdp_rtpmap rtpmap[KA_SDP_MAX_FMT];
    size_t n_rtpmap;
    char addr[48];            /**< c= of the m= section, else the session's; "" if none */
    bool ipv6;
    bool ssrc_known;          /**< first a=ssrc of the section */
    uint32_t ssrc;
    struct ka_sdp_crypto crypto[KA_SDP_MAX_CRYPTO];
    size_t n_crypto;
};

struct ka_sdp {
    struct ka_sdp_media media[KA_SDP_MAX_MEDIA];
    size_t n_media;
};

/** Parse SDP text (LF or CRLF lines; the first must be "v=0").  SR_EPARSE for
 *  malformed text, SR_EUNSUPP for an unknown crypto suite or an MKI over 4
 *  bytes, SR_ELIMIT past a KA_SDP_MAX_* ceiling; *why names the defect.  out
 *  is wiped first and on failure. */
enum sr_err ka_sdp_parse(const char *text, size_t len, struct ka_sdp *out, const char **why);
/** Wipe keys and everything else; NULL-safe. */
void ka_sdp_wipe(struct ka_sdp *sdp);

/** Disclose one offer/answer pair: CALL, then per audio m= line with a port
 *  and a=crypto on both sides, a "send" stream keyed by the local SDP's crypto
 *  (it protects what the endpoint sends) and a "recv" stream keyed by the
 *  remote's.  The crypto used is the one whose tag both sides share, chosen by
 *  the side with exactly one a=crypto (the answer, RFC 4568 5.1.2).  Stream
 *  ids are "<media><index>-tx" / "-rx"; fork addresses come from c= and m=.
 *  *n_streams (may be NULL) gets the number of streams disclosed.  SR_EINVAL
 *  with *why when the pair cannot be disclosed (m= lines differ, no shared
 *  tag, no c=, unknown codec), checked before anything is sent; then the
 *  keyagent's refusals as for ka_stream_add (ka_client_error() has the
 *  reason).  After a refusal past CALL, ka_call_end() withdraws the call.
 *  With c NULL (call may then be NULL too) nothing is sent: a dry run that
 *  checks the pair and counts its streams. */
enum sr_err ka_sdp_disclose(struct ka_client *c, const struct ka_call_info *call,
                            const struct ka_sdp *local, const struct ka_sdp *remote,
                            size_t *n_streams, const char **why);

/** ka_sdp_disclose for a pair whose media may have flowed for a while (a
 *  helper that cannot tell when it runs, an SBC that first saw the dialog
 *  in a re-INVITE): every stream's ROC is KA_ROC_UNKNOWN, and
 *  start_wall_us (Unix epoch microseconds; 0: not known) is sent as the
 *  dialog's start (ka_call_begin_streams_at). */
enum sr_err ka_sdp_disclose_late(struct ka_client *c, const struct ka_call_info *call,
                                 uint64_t start_wall_us, const struct ka_sdp *local,
                                 const struct ka_sdp *remote, size_t *n_streams,
                                 const char **why);

/** How ka_sdp_disclose_with() discloses a pair (flags, OR-ed). */
enum ka_sdp_flags {
    KA_SDP_LATE = 1u << 0,         /**< as ka_sdp_disclose_late(): every ROC unknown */
    KA_SDP_NO_ADDRESSES = 1u << 1, /**< every stream's src and dst unknown ("-"), not the
                                        SDP's c=/m=: for endpoints behind a NAT, whose SDP
                                        names an address the packets do not come from.  The
                                        recorder then binds each key to the packets it
                                        authenticates (docs/engine.md, "trial binding") */
};

/** ka_sdp_disclose() / ka_sdp_disclose_late() with flags (enum ka_sdp_flags;
 *  unknown bits: SR_EINVAL).  start_wall_us counts only with KA_SDP_LATE. */
enum sr_err ka_sdp_disclose_with(struct ka_client *c, const struct ka_call_info *call,
                                 unsigned flags, uint64_t start_wall_us,
                                 const struct ka_sdp *local, const struct ka_sdp *remote,
                                 size_t *n_streams, const char **why);

/** A re-INVITE's offer/answer for a call disclosed with ka_sdp_disclose():
 *  REKEY every stream it names (same ids, the same local/remote sides as
 *  then) with the keys of this pair.  Streams the first pair did not have
 *  are not added (the keyagent answers "no such stream").  SR_EINVAL with
 *  *why when the pair cannot be disclosed, else the first refusal. */
enum sr_err ka_sdp_rekey(struct ka_client *c, const char *call_id, const struct ka_sdp *local,
                         const struct ka_sdp *remote, size_t *n_streams, const char **why);

#endif
