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
 * written as a valid line; SR_EIO / SR_ECLOSED on socket failure (the client is
 * then unusable: close it and connect again).
 */
#ifndef KA_H
#define KA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    KA_LINE_MAX = 2048,          /**< one control line, including "\n" */
    KA_CLIENT_TIMEOUT_MS = 5000, /**< per blocking read or write */
};

struct ka_client;

/** Connect to the keyagent's UNIX control socket at path. */
enum sr_err ka_client_connect(struct ka_client **out, const char *path);
/** Close the socket and wipe buffers; NULL-safe. */
void ka_client_close(struct ka_client *c);
/** The reason text of the last "ERR" answer ("" if none). Valid until the next call. */
const char *ka_client_error(const struct ka_client *c);

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
    uint32_t roc;             /**< rollover counter now */
    uint16_t seq;             /**< highest (or next) sequence number now */
};

/** CALL: announce a dialog.  Must precede its streams. */
enum sr_err ka_call_begin(struct ka_client *c, const struct ka_call_info *call);
/** STREAM: add a stream with its keys. */
enum sr_err ka_stream_add(struct ka_client *c, const struct ka_stream_info *s);
/** REKEY: replace the stream's keys (libsrtp semantics: new key from now on). */
enum sr_err ka_rekey(struct ka_client *c, const char *call_id, const char *stream_id,
                     const char *suite, const struct ka_key *keys, size_t n_keys);
/** PAUSE / RESUME: PCI pause; recorders stop keeping audio while paused. */
enum sr_err ka_pause(struct ka_client *c, const char *call_id, const char *stream_id);
enum sr_err ka_resume(struct ka_client *c, const char *call_id, const char *stream_id);
/** END: the dialog is over; the keyagent reports it ended, then forgets its keys. */
enum sr_err ka_call_end(struct ka_client *c, const char *call_id);

#endif
