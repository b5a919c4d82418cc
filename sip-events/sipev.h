/** @file sipev.h  SIP event layer: message parser and printer, the
 *  application/srtp-keys+xml body codec, and framed SIP over (mutual) TLS.
 *
 * Contract for every function here: no global state; the caller owns every
 * object it creates and destroys it from the thread that uses it; slices
 * returned by the parser point into the caller's buffer and stay valid while
 * that buffer does.  Errors are enum sr_err; parse failures also give a
 * static, human-readable reason through *why.
 */
#ifndef SIPEV_H
#define SIPEV_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "err.h"
#include "slice.h"
#include "srtpkey.h"

/* ------------------------------------------------------------------ parse */

/** The parser's ceilings (the defaults) and the floors a configured limit
 *  may not go below. */
enum {
    SIPEV_MAX_HEADERS = 64,  /**< more headers: SR_ELIMIT */
    SIPEV_MAX_MSG = 65535,   /**< header block + body; more: SR_ELIMIT */
    SIPEV_MAX_LINE = 8192,   /**< one header line (after unfolding); more: SR_ELIMIT */
    SIPEV_MIN_HEADERS = 5,   /**< Via, From, To, Call-ID, CSeq */
    SIPEV_MIN_MSG = 256,
    SIPEV_MIN_LINE = 32,
};

/** Hard limits for one parse; each may be tightened (never raised past the
 *  SIPEV_MAX_* ceilings, which size struct sipev_msg) by an owner that knows
 *  its peers, e.g. a keyagent that only ever reads SUBSCRIBEs. */
struct sipev_limits {
    size_t max_msg;      /**< header section + body, bytes: SIPEV_MIN_MSG..SIPEV_MAX_MSG */
    size_t max_headers;  /**< header fields: SIPEV_MIN_HEADERS..SIPEV_MAX_HEADERS */
    size_t max_line;     /**< start line or one (unfolded) header line, bytes:
                              SIPEV_MIN_LINE..SIPEV_MAX_LINE */
};
/** The ceilings: what sipev_msg_parse() uses. */
extern const struct sipev_limits sipev_default_limits;
/** SR_OK when every limit is within its floor and ceiling, else SR_EINVAL. */
enum sr_err sipev_limits_check(const struct sipev_limits *lim);

/** Header ids resolved while parsing, compact forms included. */
enum sipev_hdr_id {
    SIPEV_HDR_OTHER = 0,     /**< compare the name yourself */
    SIPEV_HDR_VIA,           /**< also "v" */
    SIPEV_HDR_FROM,          /**< also "f" */
    SIPEV_HDR_TO,            /**< also "t" */
    SIPEV_HDR_CALL_ID,       /**< also "i" */
    SIPEV_HDR_CSEQ,
    SIPEV_HDR_MAX_FORWARDS,
    SIPEV_HDR_CONTACT,       /**< also "m" */
    SIPEV_HDR_ROUTE,
    SIPEV_HDR_RECORD_ROUTE,
    SIPEV_HDR_EVENT,         /**< also "o" */
    SIPEV_HDR_EXPIRES,
    SIPEV_HDR_MIN_EXPIRES,
    SIPEV_HDR_SUBSCRIPTION_STATE,
    SIPEV_HDR_ALLOW_EVENTS,  /**< also "u" */
    SIPEV_HDR_ACCEPT,
    SIPEV_HDR_CONTENT_TYPE,  /**< also "c" */
    SIPEV_HDR_CONTENT_LENGTH,/**< also "l" */
    SIPEV_HDR_SUPPORTED,     /**< also "k" */
    SIPEV_HDR_REQUIRE,
};

struct sipev_hdr {
    enum sipev_hdr_id id;
    struct slice name;  /**< as received */
    struct slice value; /**< trimmed; may hold folded CRLF SP/HTAB inside */
};

struct sipev_msg {
    struct slice method; /**< request only; empty for a response */
    struct slice ruri;   /**< request only */
    unsigned status;     /**< 100..699 for a response, 0 for a request */
    struct slice reason; /**< response only */
    struct sipev_hdr hdr[SIPEV_MAX_HEADERS];
    size_t n_hdr;
    struct slice body;   /**< exactly Content-Length bytes (empty if none) */
};

/** Parse one message at the front of buf[0..len).  Never allocates.
 *  Syntax checked beyond the grammar of lines: request line (one SP each,
 *  a scheme, sip/sips host[:port]), status 100..699, SIP/2.0 only; Via
 *  values and parameters; From/To quoting and <>; CSeq number <= 2^32-1 and
 *  its method equal to the request's; Via, From, To, Call-ID, CSeq present;
 *  From, To, Call-ID, CSeq, Max-Forwards, Content-Length at most once.
 *  On SR_EPARSE / SR_ELIMIT, msg holds the start line and the headers read
 *  before the fault (enough to address a 400).
 *  SR_OK: *used = bytes of this message (headers + body), leading CRLFs included.
 *  SR_EAGAIN: buf holds a proper prefix of a message; read more.  *used is
 *  the total length needed when the header section is complete (only the
 *  body is missing), else 0.
 *  SR_ELIMIT: over SIPEV_MAX_MSG, SIPEV_MAX_HEADERS or SIPEV_MAX_LINE
 *  (sipev_default_limits).
 *  SR_EPARSE: malformed; *why (if why != NULL) names the rule broken.
 *  require_length: when true (stream transports) a missing Content-Length
 *  is SR_EPARSE (RFC 3261 18.3); when false (datagrams) the body is the rest. */
enum sr_err sipev_msg_parse(const char *buf, size_t len, bool require_length,
                            struct sipev_msg *msg, size_t *used, const char **why);
/** sipev_msg_parse() under the limits lim (SR_EINVAL, *why set, when
 *  sipev_limits_check(lim) fails).  Each SR_ELIMIT reason names the limit
 *  that was exceeded. */
enum sr_err sipev_msg_parse_lim(const char *buf, size_t len, bool require_length,
                                const struct sipev_limits *lim, struct sipev_msg *msg,
                                size_t *used, const char **why);

/** First header with this id, or NULL. */
const struct sipev_hdr *sipev_msg_hdr(const struct sipev_msg *msg, enum sipev_hdr_id id);

/** Value of parameter name (case-insensitive) in a header value such as
 *  "<sip:a@b>;tag=x;expires=60".  A parameter without "=" gives an empty
 *  value.  false if absent. Parameters inside <...> are not looked at. */
bool sipev_param(struct slice value, const char *name, struct slice *out);

/** "123 SUBSCRIBE" -> 123 and "SUBSCRIBE".  false if malformed. */
bool sipev_cseq_parse(struct slice value, uint32_t *num, struct slice *method);

/** The URI of a name-addr or addr-spec ("Bob" <sip:b@x>;tag=1 -> sip:b@x). */
bool sipev_uri_of(struct slice value, struct slice *uri);

/** The token before any parameter ("srtp;id=5" -> "srtp", "active;expires=60" -> "active"). */
struct slice sipev_value_token(struct slice value);

/* ------------------------------------------------------------------ print */

struct sipev_extra_hdr {
    const char *name;
    const char *value;
};

/** Everything needed to print a request.  All strings are NUL-terminated and
 *  borrowed for the duration of the call. */
struct sipev_req {
    const char *method;     /**< "SUBSCRIBE", "NOTIFY" */
    const char *ruri;
    const char *via_transport; /**< "TLS", "TCP", "UDP" */
    const char *via_host;   /**< host[:port] */
    const char *branch;     /**< full branch including "z9hG4bK" */
    bool via_alias;         /**< add ";alias" (RFC 5923) */
    const char *from_uri, *from_tag;
    const char *to_uri, *to_tag; /**< to_tag may be NULL */
    const char *call_id;
    uint32_t cseq;
    const char *contact;    /**< may be NULL */
    const struct sipev_extra_hdr *extra;
    size_t n_extra;
    const char *content_type; /**< NULL when there is no body */
    const char *body;
    size_t body_len;
};

/** Append the request to out.  Max-Forwards: 70 and Content-Length are added. */
enum sr_err sipev_req_print(struct buf *out, const struct sipev_req *req);

/** Append a response to req (RFC 3261 8.2.6: Via, From, To, Call-ID, CSeq
 *  copied; to_tag added to To when the request's To has none).  extra, body
 *  and content_type as for a request; content_type NULL for no body. */
enum sr_err sipev_resp_print(struct buf *out, const struct sipev_msg *req, unsigned status,
                             const char *reason, const char *to_tag,
                             const struct sipev_extra_hdr *extra, size_t n_extra,
                             const char *content_type, const char *body, size_t body_len);

/** A fresh random token for tags, Call-IDs and branches (hex, NUL-terminated). */
void sipev_random_token(char *out, size_t outlen);

/* --------------------------------------------------------------- key body */

/** The crypto suites srtprec records: the accepted rows of the srtpkey
 *  table (srtpkey.h), same values.  AES_192, F8 and NULL suites are
 *  recognised there and refused. */
enum sipev_suite {
    SIPEV_SUITE_AES_CM_128_HMAC_SHA1_80 = SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80,
    SIPEV_SUITE_AES_CM_128_HMAC_SHA1_32 = SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_32,
    SIPEV_SUITE_AES_256_CM_HMAC_SHA1_80 = SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_80,
    SIPEV_SUITE_AES_256_CM_HMAC_SHA1_32 = SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_32,
    SIPEV_SUITE_AEAD_AES_128_GCM = SRTPKEY_SUITE_AEAD_AES_128_GCM,
    SIPEV_SUITE_AEAD_AES_256_GCM = SRTPKEY_SUITE_AEAD_AES_256_GCM,
};
/** RFC 4568 / RFC 7714 name, e.g. "AES_CM_128_HMAC_SHA1_80"; NULL unless accepted. */
const char *sipev_suite_name(enum sipev_suite s);
/** 0 if unknown or refused (srtpkey_suite_parse says why). */
enum sipev_suite sipev_suite_parse(struct slice name);
/** Master key and salt lengths in bytes for the suite (0, 0 unless accepted). */
void sipev_suite_lengths(enum sipev_suite s, size_t *key_len, size_t *salt_len);

enum { SIPEV_MAX_MASTER = SRTPKEY_MAX_MASTER, SIPEV_MAX_KEYS = SRTPKEY_MAX_KEYS,
       SIPEV_MAX_STREAMS = 16, SIPEV_MAX_DIALOGS = 4096, SIPEV_STR = 256 };

struct sipev_key {
    enum sipev_suite suite;
    uint8_t master[SIPEV_MAX_MASTER]; /**< key || salt; wiped by sipev_keybody_fini */
    size_t master_len;
    uint64_t lifetime;                /**< packets; 0 = suite default (2^48) */
    uint32_t mki;                     /**< valid when mki_len > 0 */
    unsigned mki_len;                 /**< bytes, 0..SRTPKEY_MKI_MAX (4) */
};

enum sipev_stream_state { SIPEV_STREAM_ACTIVE = 0, SIPEV_STREAM_PAUSED, SIPEV_STREAM_ENDED };
enum sipev_direction { SIPEV_DIR_SEND = 0, SIPEV_DIR_RECV };

struct sipev_stream {
    char id[64];                   /**< unique within the dialog ("a-1") */
    enum sipev_direction direction;/**< from the disclosing endpoint's view */
    char media[16];                /**< "audio" */
    unsigned payload_type;         /**< RTP payload type */
    char codec[32];                /**< encoding name ("PCMU") */
    unsigned clock_rate;           /**< 8000 */
    bool ssrc_known;
    uint32_t ssrc;
    char src[SIPEV_STR];           /**< fork source "ip:port" or "[ipv6]:port"; may be "" */
    char dst[SIPEV_STR];           /**< fork destination; may be "" */
    struct sipev_key keys[SIPEV_MAX_KEYS];
    size_t n_keys;
    uint32_t roc;                  /**< rollover counter at disclosure (0 when roc_unknown) */
    uint16_t seq;                  /**< highest sequence number at disclosure */
    bool roc_unknown;              /**< the discloser does not know the ROC (roc="unknown":
                                        an SBC that first saw the call mid-way, an SDP
                                        helper): the recorder searches the ROCs the dialog's
                                        age allows (docs/engine.md, "ROC search") */
    enum sipev_stream_state state;
    bool plain;                    /**< no SRTP: RTP recorded as received, bound by dst
                                        alone (n_keys 0).  Only a SIPREC session sets it
                                        (an RTP/AVP recording leg to ports it allocated);
                                        the NOTIFY format cannot carry it: the parser never
                                        sets it and sipev_keybody_print refuses it. */
};

enum sipev_dialog_state { SIPEV_DIALOG_ACTIVE = 0, SIPEV_DIALOG_ENDED };

struct sipev_dialog {
    char call_id[SIPEV_STR];
    char local_tag[128], remote_tag[128];
    char local_aor[SIPEV_STR], remote_aor[SIPEV_STR];
    uint64_t start_wall_us;        /**< Unix epoch microseconds */
    enum sipev_dialog_state state;
    struct sipev_stream streams[SIPEV_MAX_STREAMS];
    size_t n_streams;
};

/** One NOTIFY body.  dialogs is owned (heap) and wiped on fini. */
struct sipev_keybody {
    uint64_t version;
    bool full;                     /**< state="full"; else "partial" */
    char entity[SIPEV_STR];        /**< the notifier's identity */
    struct sipev_dialog *dialogs;
    size_t n_dialogs;
    size_t cap_dialogs;
};

void sipev_keybody_init(struct sipev_keybody *kb);
/** Wipes key material and frees dialogs; kb may be re-used after init. */
void sipev_keybody_fini(struct sipev_keybody *kb);
/** Append an empty dialog (SR_ELIMIT past SIPEV_MAX_DIALOGS); *out points into kb. */
enum sr_err sipev_keybody_add_dialog(struct sipev_keybody *kb, struct sipev_dialog **out);

/** Parse an application/srtp-keys+xml document (expat, no DTDs, no entity
 *  expansion).  On failure *why names the problem and kb is left empty.
 *  kb must have been initialised; its previous content is released first.
 *  Each key's text and each stream's key set are checked by srtpkey.h
 *  (srtpkey_param_parse, srtpkey_set_add), with its codes and reasons.
 *  SR_EUNSUPP: unknown namespace, format-version or crypto suite, MKI over
 *  4 bytes.  SR_ELIMIT: a bound (depth 16, 255-byte values, counts above).
 *  SR_EPARSE: anything else malformed, including keys of one stream with
 *  different suites.  Format: docs/protocol.md. */
enum sr_err sipev_keybody_parse(const char *xml, size_t len, struct sipev_keybody *kb,
                                const char **why);
/** Append the XML document for kb to out.  SR_EINVAL for what the format
 *  cannot carry (wrong key length, control characters, bad enum values);
 *  out is then left as it was. */
enum sr_err sipev_keybody_print(struct buf *out, const struct sipev_keybody *kb);

#define SIPEV_KEYBODY_TYPE "application/srtp-keys+xml"
#define SIPEV_EVENT_PACKAGE "srtp"

/* ----------------------------------------------------------- transactions */

/** RFC 3261 17.1.2 / 17.2.2 non-INVITE transactions as a pure state machine:
 *  no clock, no sockets, no allocation.  The owner passes its monotonic time
 *  (now_us) to every call, performs the actions returned (a bit set of
 *  enum sipev_txn_action), and calls sipev_txn_tick() no later than
 *  sipev_txn_next_us().  Matching a message to its transaction (branch,
 *  method) stays with the owner. */
struct sipev_txn_timers {
    uint64_t t1_us;  /**< RTT estimate; RFC default 500 ms */
    uint64_t t2_us;  /**< retransmit ceiling; RFC default 4 s */
    uint64_t t4_us;  /**< network lifetime of a message; RFC default 5 s */
};
/** T1 500 ms, T2 4 s, T4 5 s (RFC 3261 table 4). */
extern const struct sipev_txn_timers sipev_txn_rfc_timers;

enum sipev_txn_state {
    SIPEV_TXN_TRYING = 1,
    SIPEV_TXN_PROCEEDING,
    SIPEV_TXN_COMPLETED,
    SIPEV_TXN_TERMINATED,
};

enum sipev_txn_action {
    SIPEV_TXN_NONE = 0,
    SIPEV_TXN_SEND = 1u << 0,       /**< client: (re)send the request; server: resend the last response */
    SIPEV_TXN_DELIVER = 1u << 1,    /**< client: pass this response to the TU */
    SIPEV_TXN_TIMEOUT = 1u << 2,    /**< client: Timer F fired: the TU sees a timeout (408) */
    SIPEV_TXN_DONE = 1u << 3,       /**< the transaction is over (Terminated); its state may be dropped */
};

struct sipev_txn {
    bool client;
    bool reliable;            /**< TLS/TCP: no retransmissions, Timers K and J are zero */
    enum sipev_txn_state state;
    struct sipev_txn_timers t;
    uint64_t e_at, e_interval; /**< client, unreliable: Timer E (0 = not running) */
    uint64_t f_at;             /**< client: Timer F */
    uint64_t end_at;           /**< Completed: Timer K (client) or J (server) */
    unsigned last_status;      /**< server: last response the TU sent (0: none) */
};

/** Client transaction: the request has just been sent.  timers NULL: RFC
 *  defaults.  Timer F = 64*T1 on every transport, Timer E = T1 on unreliable. */
void sipev_txn_client_start(struct sipev_txn *t, bool reliable, const struct sipev_txn_timers *timers,
                            uint64_t now_us);
/** A response matched this client transaction.  Returns DELIVER for one the
 *  TU must see (1xx while Trying/Proceeding, the first final response), NONE
 *  for a retransmission absorbed in Completed or anything after Terminated. */
unsigned sipev_txn_client_on_response(struct sipev_txn *t, unsigned status, uint64_t now_us);

/** Server transaction: a new request arrived (state Trying). */
void sipev_txn_server_start(struct sipev_txn *t, bool reliable, const struct sipev_txn_timers *timers,
                            uint64_t now_us);
/** A retransmission of the request arrived: SEND (resend the last response)
 *  in Proceeding or Completed, NONE in Trying (absorbed). */
unsigned sipev_txn_server_on_request(struct sipev_txn *t, uint64_t now_us);
/** The TU sends a response with this status: 1xx moves to Proceeding, a
 *  final one to Completed (Timer J = 64*T1 unreliable; reliable: Terminated
 *  at once).  Returns SEND when the response must go out, NONE when the
 *  transaction already has a final response (the TU may not send another). */
unsigned sipev_txn_server_respond(struct sipev_txn *t, unsigned status, uint64_t now_us);

/** Run the timers due at now_us: SEND (Timer E), TIMEOUT|DONE (Timer
 *  F), DONE (Timer K or J). */
unsigned sipev_txn_tick(struct sipev_txn *t, uint64_t now_us);
/** The next time sipev_txn_tick() has something to do; UINT64_MAX if none. */
uint64_t sipev_txn_next_us(const struct sipev_txn *t);
/** The transport reported an error (RFC 3261 17.1.4 / 17.2.4): Terminated;
 *  a client's TU must be told (returns TIMEOUT|DONE for a client
 *  still waiting, DONE otherwise). */
unsigned sipev_txn_transport_error(struct sipev_txn *t);

/* -------------------------------------------------------------- transport */

struct sipev_tls_cfg {
    const char *cert_file; /**< PEM certificate chain presented to peers */
    const char *key_file;  /**< PEM private key */
    const char *ca_file;   /**< PEM CA bundle that peers must chain to */
    const char *crl_file;  /**< optional PEM CRLs (all of the chain's CAs); NULL or ""
                                for none.  One past its nextUpdate is still applied
                                and refuses nobody else (a warning at load). */
    bool server;           /**< server contexts demand a client certificate */
};

/** TLS 1.2 suites every context allows: ECDHE key exchange with an AEAD
 *  cipher (AES-GCM, ChaCha20-Poly1305).  TLS 1.3 keeps OpenSSL's defaults. */
#define SIPEV_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

/** A context with TLS 1.2 minimum (SIPEV_TLS12_CIPHERS only), peer
 *  verification on (both roles) and a client certificate required on the
 *  server side.  On failure why (may be NULL) names the part that failed,
 *  "certificate", "key", "key does not match certificate", "CA" or "CRL",
 *  with its file and OpenSSL's reasons, e.g. "key /etc/k.pem: no such file
 *  (BIO routines)". */
enum sr_err sipev_tls_ctx_create(SSL_CTX **out, const struct sipev_tls_cfg *cfg, char *why,
                                 size_t whylen);

/** The peer's identity from its verified certificate: the first SAN URI
 *  starting with "sip:" or "sips:", else the first SAN DNS name.  SR_EAUTH if
 *  the peer was not verified or has neither. */
enum sr_err sipev_tls_peer_identity(SSL *ssl, char *out, size_t outlen);

/** Two identities (SIP/SIPS URI or DNS name) compared as RFC 3261 19.1.4
 *  compares what they carry: scheme and host case-insensitively, the user
 *  part exactly, nothing else folded.  false if either is NULL. */
bool sipev_identity_eq(const char *a, const char *b);

/** One stream connection (TLS, or plain TCP when ctx is NULL, for lab use)
 *  carrying framed SIP messages.  Non-blocking; driven by the owner's poll
 *  loop: call sipev_conn_io() when the fd is readable or writable.
 *  The process must ignore SIGPIPE: OpenSSL writes with write(2).  Each
 *  sipev_conn_io() reads a bounded amount (fairness), so poll level-triggered. */
struct sipev_conn;

/** Handler for each complete message; return false to close the connection
 *  (sipev_conn_io then returns SR_ECLOSED).  msg points into the rx buffer
 *  and is valid only during the call.  It may call sipev_conn_send on c but
 *  must not destroy c. */
typedef bool sipev_msg_fn(struct sipev_conn *c, const struct sipev_msg *msg, void *arg);

struct sipev_conn_cfg {
    SSL_CTX *tls;           /**< NULL: plain TCP (only with a lab setting) */
    bool server;            /**< accept side */
    int fd;                 /**< connected, non-blocking socket; owned by the conn */
    size_t max_buffer;      /**< rx and tx limit each; 0 = 256 KiB */
    size_t max_tx_buffer;   /**< tx limit if set (a notifier's full state may be
                                 several split NOTIFYs queued at once); 0 = max_buffer */
    sipev_msg_fn *on_msg;
    void *arg;
};

/** On SR_OK the conn owns cfg->fd (and sets O_NONBLOCK if missing); on
 *  failure the caller still owns it.  SSL_CTX is borrowed and must outlive c. */
enum sr_err sipev_conn_create(struct sipev_conn **out, const struct sipev_conn_cfg *cfg);
/** Closes the fd and frees everything; NULL-safe. */
void sipev_conn_destroy(struct sipev_conn *c);
/** Progress the handshake, read and dispatch messages, flush output.
 *  SR_OK: keep polling.  SR_ECLOSED: peer closed.  SR_EAUTH: handshake or
 *  verification failed.  SR_EPARSE / SR_ELIMIT: bad framing (a 400 with a
 *  Warning reason was queued when possible); destroy the conn.
 *  Errors are sticky: later calls only flush queued output (the 400) and
 *  return the same code, so an owner may poll for write while
 *  sipev_conn_want_write() before destroying.  A client learns that the
 *  server refused its certificate as SR_EAUTH on its first read (TLS 1.3). */
enum sr_err sipev_conn_io(struct sipev_conn *c);
/** Queue bytes and try to send them.  SR_ELIMIT past max_buffer. */
enum sr_err sipev_conn_send(struct sipev_conn *c, const void *data, size_t len);
int sipev_conn_fd(const struct sipev_conn *c);
/** Change the send bound (cfg->max_tx_buffer) of a live connection, e.g.
 *  raise it once the peer is an authorised subscriber.  SR_ELIMIT (nothing
 *  changed) if the buffer holds more than max now. */
enum sr_err sipev_conn_set_max_tx(struct sipev_conn *c, size_t max);
/** Bytes queued for sending and not yet taken by the kernel. */
size_t sipev_conn_tx_queued(const struct sipev_conn *c);
/** True while output is queued or the handshake wants to write (poll for EPOLLOUT). */
bool sipev_conn_want_write(const struct sipev_conn *c);
bool sipev_conn_established(const struct sipev_conn *c);
/** Verified peer identity ("" until established or for plain TCP). */
const char *sipev_conn_peer(const struct sipev_conn *c);

/* ------------------------------------------------------- UDP (lab only) */

/** A datagram SIP endpoint: one non-blocking UDP socket (IPv4 or IPv6) plus
 *  a bounded table of non-INVITE transactions (txn.c).
 *
 *  LAB ONLY.  UDP carries keys in clear, so the choice is made where the
 *  endpoint is built, not remembered by every caller: sipev_udp_create()
 *  refuses (SR_EINVAL) unless cfg->lab_allow_keys is true, and an owner sets
 *  that only from its explicit lab setting (the recorder's
 *  lab-allow-plain-tcp, which covers UDP too).
 *
 *  Transactions are matched by top Via branch and CSeq method (RFC 3261
 *  17.1.3 / 17.2.3, without sent-by).  Client: sipev_udp_send_request()
 *  keeps a copy and retransmits it on Timer E until a final response or
 *  Timer F (on_timeout); a response is given to on_msg only when the
 *  transaction delivers it (1xx, the first final); retransmitted finals are
 *  absorbed during Timer K.  Server: a new request goes to on_msg once; its
 *  retransmissions never do: they are absorbed in Trying and answered with
 *  the cached response (sipev_udp_send_response) in Proceeding and Completed
 *  (Timer J).  A server transaction the owner never answers is dropped after
 *  64*T1.  Time comes from the caller (now_us, monotonic), as in txn.c.
 *
 *  Datagram rules: sipev_msg_parse with require_length false; a datagram
 *  over max_datagram is rejected ("datagram larger than max_datagram") and a
 *  request among them answered 513 when its headers were read; a malformed
 *  request is answered 400 with Warning: 399 srtprec "<reason>" when its
 *  start line and Via, From, To, Call-ID and CSeq were read; malformed
 *  responses are dropped; datagrams of CR/LF only (keep-alives) are ignored.
 *  Every rejection reaches on_reject with a static reason.
 *
 *  Callbacks run inside sipev_udp_io() / sipev_udp_tick(); they may send
 *  with u but must not destroy it.  Messages and addresses passed to them
 *  are valid only during the call. */
struct sipev_udp;

/** A socket address (IPv4 or IPv6). */
struct sipev_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/** A numeric host ("127.0.0.1", "::1", "[::1]") and port to an address.
 *  No name resolution: SR_EINVAL for anything else. */
enum sr_err sipev_addr_parse(const char *host, const char *port, struct sipev_addr *out);
/** "1.2.3.4:5" or "[::1]:5" (NUL-terminated, truncated to outlen). */
void sipev_addr_fmt(const struct sipev_addr *a, char *out, size_t outlen);
/** Same family, address and port. */
bool sipev_addr_eq(const struct sipev_addr *a, const struct sipev_addr *b);

/** A request (not yet seen) or a response the transactions let through. */
typedef void sipev_udp_msg_fn(struct sipev_udp *u, const struct sipev_msg *msg,
                              const struct sipev_addr *from, void *arg);
/** Timer F: the client transaction with this branch got no final response. */
typedef void sipev_udp_timeout_fn(struct sipev_udp *u, const char *branch, void *arg);
/** A datagram was dropped (and perhaps answered 400/513): err and a static reason. */
typedef void sipev_udp_reject_fn(struct sipev_udp *u, const struct sipev_addr *from,
                                 enum sr_err err, const char *why, void *arg);

struct sipev_udp_cfg {
    const char *host;       /**< numeric address to bind ("127.0.0.1", "::1", "::") */
    const char *port;       /**< numeric; "0" for any (see sipev_udp_local) */
    bool lab_allow_keys;    /**< must be true: the owner's lab setting is on */
    size_t max_datagram;    /**< 0 = SIPEV_MAX_MSG; SIPEV_MIN_MSG..SIPEV_MAX_MSG */
    size_t max_txns;        /**< client + server transactions; 0 = 64, at most 4096 */
    const struct sipev_txn_timers *timers; /**< NULL: RFC defaults */
    sipev_udp_msg_fn *on_msg;
    sipev_udp_timeout_fn *on_timeout; /**< may be NULL */
    sipev_udp_reject_fn *on_reject;   /**< may be NULL */
    void *arg;
};

/** Counters since creation. */
struct sipev_udp_stats {
    uint64_t rx;                 /**< datagrams read */
    uint64_t rx_oversized;       /**< over max_datagram */
    uint64_t rx_malformed;       /**< parse failures (some answered 400) */
    uint64_t rx_absorbed;        /**< retransmissions absorbed or answered from the cache */
    uint64_t rx_stray;           /**< responses matching no client transaction */
    uint64_t tx_retransmits;     /**< Timer E resends and cached responses resent */
    uint64_t txn_full;           /**< requests refused (503) or not sent: table full */
};

/** SR_EINVAL: bad cfg or lab_allow_keys false.  SR_EIO: socket/bind failed. */
enum sr_err sipev_udp_create(struct sipev_udp **out, const struct sipev_udp_cfg *cfg);
/** Closes the socket, wipes cached messages (they may carry keys); NULL-safe. */
void sipev_udp_destroy(struct sipev_udp *u);
int sipev_udp_fd(const struct sipev_udp *u);
/** The bound address (the port chosen for "0"). */
enum sr_err sipev_udp_local(const struct sipev_udp *u, struct sipev_addr *out);
/** Read and dispatch up to 16 datagrams (poll level-triggered).  SR_OK, or
 *  SR_EIO when the socket failed. */
enum sr_err sipev_udp_io(struct sipev_udp *u, uint64_t now_us);
/** Send a request (printed by sipev_req_print) and start its client
 *  transaction.  SR_EPARSE: not a request with a Via branch; SR_ESTATE: a
 *  transaction with that branch and method exists; SR_ELIMIT: too big or
 *  the table is full; SR_EIO: sendto failed. */
enum sr_err sipev_udp_send_request(struct sipev_udp *u, const struct sipev_addr *to,
                                   const void *data, size_t len, uint64_t now_us);
/** Send a response to a request on_msg delivered, cache it for
 *  retransmitted requests.  SR_ENOTFOUND: no server transaction for it;
 *  SR_ESTATE: the transaction already has a final response. */
enum sr_err sipev_udp_send_response(struct sipev_udp *u, const struct sipev_addr *to,
                                    const void *data, size_t len, uint64_t now_us);
/** Run the transaction timers due at now_us (retransmit, on_timeout, expire). */
void sipev_udp_tick(struct sipev_udp *u, uint64_t now_us);
/** When sipev_udp_tick() next has work; UINT64_MAX if none. */
uint64_t sipev_udp_next_us(const struct sipev_udp *u);
/** Transactions in the table (tests, metrics). */
size_t sipev_udp_txn_count(const struct sipev_udp *u);
void sipev_udp_get_stats(const struct sipev_udp *u, struct sipev_udp_stats *out);

#endif
