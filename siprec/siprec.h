/** @file siprec.h  SIPREC recording-server parsers: the multipart body
 *  (RFC 2046), the recording SDP (RFC 4566/4568/7866) and its answer, and
 *  the RFC 7865 metadata model with partial updates.
 *
 * What the SIP dialog side (the SRS) needs from an INVITE, re-INVITE or
 * UPDATE body, and nothing about dialogs: no sockets, no clock, no global
 * state; every function is thread-safe on distinct objects.  The profile
 * (what is accepted, what is refused and why) is docs/siprec.md, "Profile".
 *
 * Ownership: parsed slices point into the caller's body and stay valid while
 * it does; everything else (SDP media, keys, the metadata model) is copied
 * into the caller's structure.  Structures holding keys (struct siprec_sdp)
 * are wiped by siprec_sdp_wipe(); the metadata model (personal data) is
 * wiped by siprec_md_destroy().
 *
 * Errors: every parser returns an enum siprec_err that names the defect
 * precisely; siprec_strerror() gives its text (for a SIP Warning),
 * siprec_err_class() the project-wide class and siprec_err_status() the SIP
 * status an SRS answers with.  Where a sub-parser knows more (srtpkey's
 * reason for a bad key, expat's for bad XML) *detail (may be NULL) gets
 * that static string; otherwise *detail is siprec_strerror()'s text.
 */
#ifndef SIPREC_H
#define SIPREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "slice.h"
#include "srtpkey.h"

/* ------------------------------------------------------------------ errors */

/** Append only, never renumber (values reach logs and metrics). */
enum siprec_err {
    SIPREC_OK = 0,
    /* Content-Type and multipart (RFC 2045/2046) */
    SIPREC_E_CT_SYNTAX,          /**< Content-Type value is not type/subtype *(;param) */
    SIPREC_E_CT_UNSUPPORTED,     /**< body type other than multipart/mixed, application/sdp,
                                      application/rs-metadata(+xml) (SIP 415) */
    SIPREC_E_BOUNDARY_MISSING,   /**< multipart without a boundary parameter */
    SIPREC_E_BOUNDARY_BAD,       /**< boundary empty, over 70 bytes, bad characters,
                                      unterminated quote, or given twice */
    SIPREC_E_NO_DELIMITER,       /**< the boundary never starts a line of the body */
    SIPREC_E_NO_CLOSE,           /**< body ends before the close delimiter "--boundary--" */
    SIPREC_E_PART_HEADER,        /**< a part's header line is not "name: value" or a
                                      header section never ends */
    SIPREC_E_PART_HEADER_DUP,    /**< Content-Type, -Disposition or -ID twice in one part */
    SIPREC_E_DISPOSITION_BAD,    /**< Content-Disposition malformed or handling= not
                                      required/optional */
    SIPREC_E_ENCODING,           /**< Content-Transfer-Encoding other than 7bit/8bit/binary */
    SIPREC_E_PART_UNSUPPORTED,   /**< a part of another type with handling=required (415) */
    SIPREC_E_SDP_MISSING,        /**< multipart body without an application/sdp part */
    SIPREC_E_SDP_TWICE,          /**< two application/sdp parts */
    SIPREC_E_META_TWICE,         /**< two metadata parts */
    SIPREC_E_BODY_LIMIT,         /**< body, part count, part headers or a header line
                                      over its SIPREC_MP_* bound */
    /* SDP (RFC 4566, RFC 4568, RFC 7866) */
    SIPREC_E_SDP_SYNTAX,         /**< a line is not <letter>=<value>, holds NUL/CR, or
                                      the first is not v=0 */
    SIPREC_E_SDP_LIMIT,          /**< SDP, a line, m= lines, formats, a=crypto, a=ssrc
                                      over a SIPREC_SDP_* bound */
    SIPREC_E_SDP_MEDIA,          /**< m= line malformed (media, port, proto, format) */
    SIPREC_E_SDP_CONN,           /**< c= not IN IP4/IP6 with one unicast address, or an
                                      RTP m= line with no c= at either level */
    SIPREC_E_SDP_DTLS,           /**< UDP/TLS/RTP/SAVP(F): DTLS-SRTP keys never reach a
                                      recorder (SIP 488) */
    SIPREC_E_SDP_ATTR,           /**< a=rtpmap, a=label, a=ssrc or a direction attribute
                                      malformed or repeated */
    SIPREC_E_SDP_CRYPTO,         /**< a=crypto malformed: tag, suite token, key-params
                                      (srtpkey's reason in *detail), tag repeated */
    SIPREC_E_SDP_NO_CRYPTO,      /**< RTP/SAVP(F) m= line with a port and no a=crypto
                                      srtprec can use (SIP 488) */
    SIPREC_E_SDP_NO_MEDIA,       /**< no m= line */
    SIPREC_E_SDP_ANSWER,         /**< the answer cannot be written (bad config, buffer
                                      bound) */
    /* RFC 7865 metadata */
    SIPREC_E_MD_XML,             /**< not well-formed XML (expat's reason in *detail) */
    SIPREC_E_MD_DTD,             /**< DOCTYPE or entity declaration */
    SIPREC_E_MD_ROOT,            /**< root is not <recording> in urn:ietf:params:xml:ns:recording:1 */
    SIPREC_E_MD_ELEMENT,         /**< unknown element in the recording namespace, or one
                                      misplaced or repeated */
    SIPREC_E_MD_ATTR,            /**< a required id attribute missing or empty */
    SIPREC_E_MD_VALUE,           /**< datamode not complete/partial, bad dateTime, text
                                      where only elements belong */
    SIPREC_E_MD_REF,             /**< an association names a participant, session or
                                      stream the model does not have */
    SIPREC_E_MD_LIMIT,           /**< document, depth, a count, an id or a text over a
                                      SIPREC_MD_* bound */
    SIPREC_E_NOMEM,              /**< allocation failed */
    SIPREC_E_INVAL,              /**< caller broke the contract (NULL where not allowed) */
};

/** Static text for e; never NULL ("unknown error" outside the enum). */
const char *siprec_strerror(enum siprec_err e);
/** Project-wide class: SR_EPARSE, SR_ELIMIT, SR_EUNSUPP, SR_ENOMEM, SR_EINVAL;
 *  SR_OK for SIPREC_OK. */
enum sr_err siprec_err_class(enum siprec_err e);
/** The SIP status an SRS answers a request carrying the bad body with:
 *  415 for SIPREC_E_CT_UNSUPPORTED, SIPREC_E_PART_UNSUPPORTED and
 *  SIPREC_E_ENCODING; 488 for SIPREC_E_SDP_DTLS and SIPREC_E_SDP_NO_CRYPTO;
 *  413 for SIPREC_E_BODY_LIMIT; 500 for SIPREC_E_NOMEM and SIPREC_E_INVAL;
 *  400 for the rest; 200 for SIPREC_OK. */
unsigned siprec_err_status(enum siprec_err e);

/* --------------------------------------------------------------- multipart */

enum {
    SIPREC_MP_MAX_BODY = 65535,     /**< body bytes (a SIP message's own ceiling) */
    SIPREC_MP_MAX_PARTS = 8,        /**< body parts */
    SIPREC_MP_MAX_PART_HEADERS = 16,/**< header fields in one part */
    SIPREC_MP_MAX_HEADER_LINE = 1024,/**< one part header field, bytes (folded lines included) */
    SIPREC_MP_MAX_BOUNDARY = 70,    /**< RFC 2046 5.1.1 */
};

/** RFC 3459 / RFC 3261 20.11: absent means required. */
enum siprec_handling { SIPREC_HANDLING_REQUIRED = 0, SIPREC_HANDLING_OPTIONAL };

struct siprec_part {
    struct slice headers;      /**< the part's header section, as received */
    struct slice content_type; /**< trimmed value; empty if absent (RFC 2046: text/plain) */
    struct slice disposition;  /**< disposition type token ("session",
                                    "recording-session"); empty if absent */
    enum siprec_handling handling;
    struct slice content_id;   /**< trimmed value, <> kept; empty if absent */
    struct slice body;         /**< the part's content: the line break before the next
                                    delimiter is not part of it */
};

struct siprec_multipart {
    char boundary[SIPREC_MP_MAX_BOUNDARY + 1]; /**< unquoted, NUL-terminated */
    struct slice preamble;     /**< before the first delimiter (ignored, RFC 2046) */
    struct slice epilogue;     /**< after the close delimiter (ignored) */
    struct siprec_part part[SIPREC_MP_MAX_PARTS];
    size_t n_part;
};

/** The boundary parameter of a multipart Content-Type value into
 *  out[SIPREC_MP_MAX_BOUNDARY + 1].  Parameter names are case-insensitive;
 *  LWS around ";" and "=" is taken; the value is a token, an RFC 2045
 *  quoted-string (quoted-pairs unescaped), or, as some SBCs send it, an
 *  unquoted run of RFC 2046 bchars up to ";" or the end (":" "/" "=" "?"
 *  "(" ")" "," "'" included).  Single quotes are bchars, never quoting.
 *  Errors: SIPREC_E_BOUNDARY_MISSING, SIPREC_E_BOUNDARY_BAD, SIPREC_E_CT_SYNTAX. */
enum siprec_err siprec_boundary(struct slice content_type, char *out);

/** Split body by the boundary of content_type (which must be multipart/...;
 *  the subtype is the caller's concern, see siprec_body_parse).  Lines may
 *  end in CRLF or bare LF (SBCs differ; a delimiter line is recognised after
 *  either, and the break before it is never part of a part's body).  A
 *  delimiter may carry trailing LWSP (RFC 2046 transport padding).  Part
 *  headers may be folded; names are case-insensitive; headers other than
 *  Content-Type, Content-Disposition, Content-ID and Content-Transfer-
 *  Encoding are ignored.  Parts beyond SIPREC_MP_MAX_PARTS, a longer body
 *  or header line: SIPREC_E_BODY_LIMIT.  out is cleared first.  Never
 *  allocates. */
enum siprec_err siprec_multipart_parse(struct slice content_type, struct slice body,
                                       struct siprec_multipart *out);

/** Body types the SRS reads. */
enum siprec_ctype {
    SIPREC_CT_OTHER = 0,
    SIPREC_CT_MULTIPART_MIXED,
    SIPREC_CT_SDP,               /**< application/sdp */
    SIPREC_CT_RSMETA_XML,        /**< application/rs-metadata+xml (RFC 7865, RFC 9806) */
    SIPREC_CT_RSMETA,            /**< application/rs-metadata (RFC 7866 as first published) */
};
/** Type of a Content-Type value (type/subtype case-insensitive, parameters
 *  ignored); SIPREC_CT_OTHER also for a malformed value. */
enum siprec_ctype siprec_ctype_of(struct slice content_type);

/** What the SRS takes from a request body. */
struct siprec_body {
    struct slice sdp;            /**< the application/sdp content; empty if none */
    struct slice meta;           /**< the metadata document; empty if none */
    enum siprec_ctype meta_type; /**< SIPREC_CT_RSMETA_XML / _RSMETA; OTHER if none */
    struct siprec_multipart mp;  /**< every part (n_part 0 for a single-part body) */
};

/** Classify a request body by its Content-Type value:
 *  - multipart/mixed: split (siprec_multipart_parse); exactly one
 *    application/sdp part (else SIPREC_E_SDP_MISSING / SIPREC_E_SDP_TWICE), at
 *    most one metadata part (SIPREC_E_META_TWICE); a part of any other type
 *    is ignored when handling=optional, else SIPREC_E_PART_UNSUPPORTED.
 *  - application/sdp alone (a re-INVITE that changes no metadata): sdp.
 *  - application/rs-metadata(+xml) alone (an UPDATE with metadata only): meta.
 *  - an empty body with an empty Content-Type: SIPREC_OK, both empty.
 *  - anything else: SIPREC_E_CT_UNSUPPORTED (SIPREC_E_CT_SYNTAX if malformed). */
enum siprec_err siprec_body_parse(struct slice content_type, struct slice body,
                                  struct siprec_body *out);

/* --------------------------------------------------------------------- SDP */

enum {
    SIPREC_SDP_MAX = 65536,        /**< whole SDP, bytes */
    SIPREC_SDP_MAX_LINE = 2048,    /**< one line without its break */
    SIPREC_SDP_MAX_MEDIA = 16,     /**< m= lines (streams of one recording session) */
    SIPREC_SDP_MAX_FMT = 32,       /**< payload types per m= line (also a=rtpmap lines) */
    SIPREC_SDP_MAX_CRYPTO = 16,    /**< a=crypto lines per m= line (rtpengine 10.5 offers 12) */
    SIPREC_SDP_MAX_SSRC = 8,       /**< distinct a=ssrc ids per m= line */
    SIPREC_SDP_LABEL = 64,         /**< a=label bytes, with NUL */
    SIPREC_SDP_ADDR = 48,          /**< c= address bytes, with NUL */
};

enum siprec_proto {
    SIPREC_PROTO_OTHER = 0,        /**< not RTP (udptl, TCP/BFCP...): answered with port 0 */
    SIPREC_PROTO_RTP_AVP,
    SIPREC_PROTO_RTP_AVPF,
    SIPREC_PROTO_RTP_SAVP,
    SIPREC_PROTO_RTP_SAVPF,
};

/** RFC 4566 6: sendrecv when absent; a media-level attribute overrides the
 *  session-level one. */
enum siprec_dir {
    SIPREC_DIR_SENDRECV = 0,
    SIPREC_DIR_SENDONLY,
    SIPREC_DIR_RECVONLY,
    SIPREC_DIR_INACTIVE,
};

/** One a=crypto line (RFC 4568 9.1).  A line whose suite srtprec does not
 *  decrypt (or srtpkey does not know), whose MKI is over 4 bytes, with more
 *  than 4 key-params, a key method other than inline, or a session
 *  parameter that changes the SRTP transform (UNENCRYPTED_SRTP,
 *  UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP, KDR other than 0, FEC_ORDER,
 *  FEC_KEY) or is not understood and not marked optional ("-", RFC 4568
 *  6.3; WSH is taken) is kept with usable false and refused naming why: an
 *  offer may list several, the answer picks a usable one.  A syntactically broken line fails the parse
 *  (SIPREC_E_SDP_CRYPTO). */
struct siprec_crypto {
    uint32_t tag;                  /**< 0..999999999 (RFC 4568: 1*9DIGIT) */
    enum srtpkey_suite suite;      /**< SRTPKEY_SUITE_NONE for a name srtpkey does not know */
    struct srtpkey_key keys[SRTPKEY_MAX_KEYS]; /**< valid when usable */
    size_t n_keys;
    bool usable;
    const char *refused;           /**< static reason when !usable, else NULL */
};

struct siprec_rtpmap {
    unsigned pt;                   /**< 0..127 */
    char codec[32];                /**< encoding name as sent ("opus") */
    unsigned clock_rate;
    unsigned channels;             /**< 1 when not stated */
};

struct siprec_sdp_media {
    char media[16];                /**< "audio", "video" */
    unsigned port;                 /**< 0: stream disabled by the offerer */
    enum siprec_proto proto;
    char proto_text[32];           /**< as sent ("RTP/SAVP") */
    unsigned fmt[SIPREC_SDP_MAX_FMT]; /**< RTP payload types in offer order */
    size_t n_fmt;
    struct siprec_rtpmap rtpmap[SIPREC_SDP_MAX_FMT];
    size_t n_rtpmap;
    char addr[SIPREC_SDP_ADDR];    /**< c= of the section, else the session's */
    bool ipv6;
    char label[SIPREC_SDP_LABEL];  /**< a=label (RFC 4574): ties the m= line to the
                                        metadata <stream>; "" if none */
    enum siprec_dir dir;           /**< effective direction */
    bool rtcp_mux;                 /**< a=rtcp-mux offered */
    char fmt_other[16];            /**< first format (up to 15 bytes) of a non-RTP line
                                        ("t38"), echoed when the answer rejects it */
    uint32_t ssrc[SIPREC_SDP_MAX_SSRC]; /**< distinct a=ssrc ids in order */
    size_t n_ssrc;
    struct siprec_crypto crypto[SIPREC_SDP_MAX_CRYPTO];
    size_t n_crypto;
};

/** About 110 KB: keep it off small thread stacks. */
struct siprec_sdp {
    uint64_t o_sess_id, o_sess_version; /**< the offerer's o= values */
    struct siprec_sdp_media media[SIPREC_SDP_MAX_MEDIA];
    size_t n_media;
};

/** Parse the recording SDP offer (RFC 4566; CRLF or bare LF line ends; first
 *  line v=0).  Per m= line: media, port, proto, formats, c= (media level, else
 *  session level), a=label, a=sendonly/recvonly/sendrecv/inactive, a=rtpmap,
 *  a=ssrc, a=rtcp-mux and every a=crypto, whose suite and key-params are
 *  read by srtpkey.h (srtpkey_suite_find, srtpkey_params_parse: the one
 *  suite table and key parser).  Other lines and attributes are skipped.
 *  UDP/TLS/RTP/SAVP and UDP/TLS/RTP/SAVPF anywhere: SIPREC_E_SDP_DTLS.  An
 *  RTP/SAVP(F) m= line with a port and no usable a=crypto:
 *  SIPREC_E_SDP_NO_CRYPTO.  a=crypto on RTP/AVP(F) is parsed and never used
 *  (RFC 4568 defines it for SAVP only).  out is wiped first and on failure. */
enum siprec_err siprec_sdp_parse(struct slice text, struct siprec_sdp *out, const char **detail);
/** Wipe keys and everything else; NULL-safe. */
void siprec_sdp_wipe(struct siprec_sdp *sdp);

/** The a=crypto the answer picks for m: the first usable one in offer order
 *  (RFC 4568 7.1.2: the answerer chooses among the offered); -1 for an RTP/AVP
 *  line, a disabled (port 0) line or none usable.  Its keys are the ones the
 *  engine decrypts the stream with. */
int siprec_sdp_crypto_pick(const struct siprec_sdp_media *m);

/** Random bytes for answer keys: fill out[0..len); false on failure. */
typedef bool (*siprec_rand_fn)(void *ctx, uint8_t *out, size_t len);

/** How the SRS answers. */
struct siprec_answer_cfg {
    const char *addr;              /**< the SRS's media address (c=, o=) */
    bool ipv6;
    uint64_t sess_id, sess_version;/**< o= values; bump sess_version per new answer */
    unsigned port[SIPREC_SDP_MAX_MEDIA]; /**< per offer m= line; 0 rejects the stream */
    bool rtcp_mux;                 /**< echo a=rtcp-mux where offered */
    siprec_rand_fn rand;           /**< NULL: OpenSSL RAND_bytes (tests inject their own) */
    void *rand_ctx;
};

/** Append the SDP answer (RFC 3264) to offer onto out: v=, o=srtprec, s=-,
 *  c=, t=0 0, then per offer m= line in order: the same media and proto, the
 *  port from cfg (0 for a disabled offer line, a non-RTP proto, or an
 *  RTP/SAVP(F) line without a usable a=crypto), the offered formats with
 *  their a=rtpmap, a=label echoed, a=recvonly (a=inactive when the offer
 *  line is recvonly or inactive, RFC 3264 6.1, or the port is 0), a=rtcp-mux
 *  where offered and cfg->rtcp_mux, and for SRTP lines exactly one
 *  a=crypto: the picked line's tag and suite with a FRESH random master key
 *  of the suite's length, no MKI, no lifetime.  RFC 4568 6.1 makes the
 *  answer's key the answerer's own (it protects what the answerer sends);
 *  the SRS never sends, and echoing the offerer's key would put it on the
 *  wire twice for nothing.  chosen (may be NULL) gets, per m= line, the
 *  crypto index used (siprec_sdp_crypto_pick) or -1.  On failure out is
 *  left as it was.  SIPREC_E_SDP_ANSWER for a missing or bad address, a
 *  failed random source, or out's bound. */
enum siprec_err siprec_sdp_answer_print(const struct siprec_sdp *offer,
                                        const struct siprec_answer_cfg *cfg, struct buf *out,
                                        int chosen[SIPREC_SDP_MAX_MEDIA]);

/* ---------------------------------------------------------------- metadata */

#define SIPREC_MD_NS "urn:ietf:params:xml:ns:recording:1"

enum {
    SIPREC_MD_MAX_DOC = 65535,     /**< document bytes */
    SIPREC_MD_MAX_DEPTH = 16,      /**< element nesting (extensions included) */
    SIPREC_MD_ID = 128,            /**< an id attribute (base64 UUID, urn:uuid:...), with NUL */
    SIPREC_MD_AOR = 256,           /**< nameID aor, with NUL */
    SIPREC_MD_NAME = 128,          /**< a participant's name, with NUL */
    SIPREC_MD_LANG = 16,           /**< xml:lang of a name, with NUL */
    SIPREC_MD_SIPSID = 256,        /**< sipSessionID text (RFC 7989), with NUL */
    SIPREC_MD_MAX_GROUPS = 4,
    SIPREC_MD_MAX_SESSIONS = 8,
    SIPREC_MD_MAX_SIPSID = 4,      /**< sipSessionID per session */
    SIPREC_MD_MAX_PARTICIPANTS = 32,
    SIPREC_MD_MAX_NAMEID = 4,      /**< nameID per participant */
    SIPREC_MD_MAX_STREAMS = 32,
    SIPREC_MD_MAX_PSTREAM = 8,     /**< send (and recv) stream refs per participant */
    SIPREC_MD_MAX_ASSOC = 64,      /**< participantsessionassoc / sessionrecordingassoc */
    SIPREC_MD_MAX_EXT = 16384,     /**< extension bytes kept, whole model */
    SIPREC_MD_MAX_EXT_N = 32,      /**< extension elements kept, whole model */
};

/** xs:dateTime as microseconds since the Unix epoch (offsets applied). */
#define SIPREC_MD_TIME_NONE INT64_MIN

enum siprec_md_mode { SIPREC_MD_COMPLETE = 0, SIPREC_MD_PARTIAL };

/** Which element an extension (an element of another namespace, kept
 *  verbatim) was found in. */
enum siprec_md_owner {
    SIPREC_MD_OWN_RECORDING = 0,
    SIPREC_MD_OWN_GROUP,
    SIPREC_MD_OWN_SESSION,
    SIPREC_MD_OWN_PARTICIPANT,
    SIPREC_MD_OWN_STREAM,
};

struct siprec_md_ext {
    enum siprec_md_owner owner;
    char owner_id[SIPREC_MD_ID];   /**< "" for the recording element */
    size_t off, len;               /**< bytes in siprec_md.ext: the element exactly as
                                        sent, start tag to end tag */
};

struct siprec_md_group {
    char id[SIPREC_MD_ID];
    int64_t associate, disassociate;
};

struct siprec_md_session {
    char id[SIPREC_MD_ID];
    char sip_session_id[SIPREC_MD_MAX_SIPSID][SIPREC_MD_SIPSID]; /**< whitespace collapsed */
    size_t n_sip_session_id;
    char group_ref[SIPREC_MD_ID];  /**< the first group-ref */
    int64_t start, stop;           /**< start-time, stop-time */
};

struct siprec_md_nameid {
    char aor[SIPREC_MD_AOR];
    char name[SIPREC_MD_NAME];     /**< "" if none; the first <name> is kept */
    char lang[SIPREC_MD_LANG];
};

struct siprec_md_participant {
    char id[SIPREC_MD_ID];
    struct siprec_md_nameid nameid[SIPREC_MD_MAX_NAMEID];
    size_t n_nameid;
};

struct siprec_md_stream {
    char id[SIPREC_MD_ID];
    char session_id[SIPREC_MD_ID];
    char label[SIPREC_SDP_LABEL];  /**< matches an SDP a=label */
};

/** participantstreamassoc (also the send/recv children some SBCs put
 *  directly in <participant>, as drafts of RFC 7865 did).  Within one
 *  document the refs of both places are united, duplicates dropped. */
struct siprec_md_pstream {
    char participant_id[SIPREC_MD_ID];
    char send[SIPREC_MD_MAX_PSTREAM][SIPREC_MD_ID];
    size_t n_send;
    char recv[SIPREC_MD_MAX_PSTREAM][SIPREC_MD_ID];
    size_t n_recv;
    int64_t associate, disassociate;
};

/** participantsessionassoc (participant_id and session_id) and
 *  sessionrecordingassoc (session_id only; participant_id ""). */
struct siprec_md_assoc {
    char participant_id[SIPREC_MD_ID];
    char session_id[SIPREC_MD_ID];
    int64_t associate, disassociate;
};

/** The metadata model of one recording session: what the last complete
 *  document said with every later partial update merged in.  About 200 KB:
 *  allocate with siprec_md_create(). */
struct siprec_md {
    enum siprec_md_mode mode;      /**< of the document parsed; merged models: COMPLETE */
    struct siprec_md_group group[SIPREC_MD_MAX_GROUPS];
    size_t n_group;
    struct siprec_md_session session[SIPREC_MD_MAX_SESSIONS];
    size_t n_session;
    struct siprec_md_participant participant[SIPREC_MD_MAX_PARTICIPANTS];
    size_t n_participant;
    struct siprec_md_stream stream[SIPREC_MD_MAX_STREAMS];
    size_t n_stream;
    struct siprec_md_pstream pstream[SIPREC_MD_MAX_PARTICIPANTS];
    size_t n_pstream;
    struct siprec_md_assoc psession[SIPREC_MD_MAX_ASSOC];  /**< participantsessionassoc */
    size_t n_psession;
    struct siprec_md_assoc srecording[SIPREC_MD_MAX_ASSOC];/**< sessionrecordingassoc */
    size_t n_srecording;
    struct siprec_md_ext ext_index[SIPREC_MD_MAX_EXT_N];
    size_t n_ext;
    char ext[SIPREC_MD_MAX_EXT];
    size_t ext_len;
};

/** A zeroed model; NULL on allocation failure. */
struct siprec_md *siprec_md_create(void);
/** Wipe (names and AORs are personal data) and free; NULL-safe. */
void siprec_md_destroy(struct siprec_md *md);
/** Back to the empty model, wiped. */
void siprec_md_clear(struct siprec_md *md);

/** Parse one application/rs-metadata(+xml) document into out (cleared
 *  first, and on failure).  expat with a wiping memory suite, no DTD, no
 *  entities, namespace-aware: the root must be <recording> in SIPREC_MD_NS;
 *  elements of other namespaces anywhere are extensions (kept verbatim up to
 *  SIPREC_MD_MAX_EXT / _EXT_N when directly under recording, group,
 *  session, participant or stream; skipped elsewhere; beyond the bound:
 *  SIPREC_E_MD_LIMIT); an unknown element in SIPREC_MD_NS is refused.
 *  Within one document an id seen twice updates the same entry.  Accepted
 *  beyond RFC 7865's schema, as SBCs send them: send/recv in <participant>,
 *  associate-time/disassociate-time in participant, stream and session
 *  (not kept), <reason> in session and <content-type> in stream (skipped);
 *  no <datamode> means complete.  xs:dateTime with Z, an offset or no zone
 *  (read as UTC), fractions to microseconds, years from 1970.
 *  References are checked by siprec_md_merge, not here (a partial
 *  document names what an earlier one defined). */
enum siprec_err siprec_md_parse(const char *xml, size_t len, struct siprec_md *out,
                                const char **detail);

/** Fold a parsed document into model.  COMPLETE: model becomes update.
 *  PARTIAL (RFC 7865: changes only): entries are matched by id (pstream by
 *  participant_id, psession by participant_id + session_id, srecording by
 *  session_id); a matched entry takes every field the update states (a
 *  stated list of sipSessionIDs or nameIDs replaces the old list; a
 *  participantstreamassoc replaces the old one's send and recv lists as a
 *  whole, so a participant that stops sending is stated by a send-less
 *  one; a time not stated keeps the old one); an unmatched entry is added;
 *  an element's extensions are replaced when the update carries any for it.
 *  Nothing is ever removed: disassociate-time and stop-time record the end.
 *  Then what the recording relies on is checked against the merged model
 *  (stream and psession session_id, psession participant_id, srecording
 *  session_id, pstream participant and stream ids; group-ref is not, SBCs
 *  name groups they never describe): SIPREC_E_MD_REF.  Any failure
 *  (SIPREC_E_MD_REF, SIPREC_E_MD_LIMIT, SIPREC_E_NOMEM) leaves model
 *  unchanged.  The merged model's mode is COMPLETE. */
enum siprec_err siprec_md_merge(struct siprec_md *model, const struct siprec_md *update,
                                const char **detail);

/** Lookups on a model; NULL when absent. */
const struct siprec_md_stream *siprec_md_stream_by_label(const struct siprec_md *md,
                                                         const char *label);
const struct siprec_md_participant *siprec_md_participant(const struct siprec_md *md,
                                                          const char *participant_id);
/** The participant that sends stream_id (first pstream listing it in send,
 *  and not disassociated); NULL if none. */
const struct siprec_md_participant *siprec_md_stream_sender(const struct siprec_md *md,
                                                            const char *stream_id);
/** Extension bytes of entry i (0..n_ext). */
struct slice siprec_md_ext_bytes(const struct siprec_md *md, size_t i);

#endif
