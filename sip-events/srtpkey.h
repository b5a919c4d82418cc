/** @file srtpkey.h  SRTP crypto suites and RFC 4568 key-params: one table, one parser.
 *
 * Every place srtprec reads or writes an SDES key uses this module: the key
 * body codec (sip-events/keybody.c), the control socket (keyagent/cmd.c), the
 * SDP helper (keyagent/sdp.c) and the recorder's libsrtp sessions
 * (recorder/srtpctx.c).  It depends on common/ only, so the client library
 * (which links no SIP code) and the recorder's rec library (common + libsrtp)
 * link it as well.  Format and decisions: docs/protocol.md, "Keys".
 *
 * Contract: no allocation, no global mutable state, thread-safe.  Text comes
 * in as a pointer+length slice that need not be NUL-terminated and is only
 * read during the call.  Every refusal sets *why (never NULL on entry) to a
 * static string naming the rule; keys are wiped from *out on failure.
 */
#ifndef SRTPKEY_H
#define SRTPKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "slice.h"

/** Suites by RFC 4568 / RFC 6188 / RFC 7714 name.  1..6 are the ones
 *  srtprec records (their values are also enum sipev_suite's and enum
 *  rec_suite's: append only).  The rest are recognised by name so that a
 *  refusal can say why; they are never accepted. */
enum srtpkey_suite {
    SRTPKEY_SUITE_NONE = 0,
    SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_80 = 1,
    SRTPKEY_SUITE_AES_CM_128_HMAC_SHA1_32,
    SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_80,
    SRTPKEY_SUITE_AES_256_CM_HMAC_SHA1_32,
    SRTPKEY_SUITE_AEAD_AES_128_GCM,
    SRTPKEY_SUITE_AEAD_AES_256_GCM,
    /* recognised, refused (SR_EUNSUPP) */
    SRTPKEY_SUITE_AES_192_CM_HMAC_SHA1_80,
    SRTPKEY_SUITE_AES_192_CM_HMAC_SHA1_32,
    SRTPKEY_SUITE_F8_128_HMAC_SHA1_80,
    SRTPKEY_SUITE_NULL_HMAC_SHA1_80,
    SRTPKEY_SUITE_NULL_HMAC_SHA1_32,
};

enum {
    SRTPKEY_MAX_MASTER = 46,     /**< key || salt bytes: 32 + 14 (AES_256_CM) */
    SRTPKEY_MAX_KEYS = 4,        /**< key-params per stream (MKI re-keys) */
    SRTPKEY_MKI_MAX = 4,         /**< MKI bytes srtprec takes: the one limit (libsrtp path, uint32) */
    SRTPKEY_MKI_RFC_MAX = 128,   /**< MKI bytes RFC 4568 allows */
    SRTPKEY_LIFETIME_LOG2 = 48,  /**< RFC 3711 9.2: at most 2^48 packets per master key */
    SRTPKEY_PARAM_TEXT = 128,    /**< bytes srtpkey_param_print needs at most, with NUL */
};

/** One row of the suite table. */
struct srtpkey_suite_info {
    enum srtpkey_suite id;
    const char *name;       /**< "AES_CM_128_HMAC_SHA1_80" */
    size_t key_len;         /**< master key bytes */
    size_t salt_len;        /**< master salt bytes */
    size_t tag_rtp;         /**< SRTP auth tag bytes */
    size_t tag_rtcp;        /**< SRTCP auth tag bytes (the _32 suites keep 10 on SRTCP) */
    bool decrypts;          /**< srtprec accepts it and libsrtp 2.5 decrypts it */
    const char *refused;    /**< why not, when !decrypts; NULL otherwise */
    const char *spec;       /**< "RFC 4568" */
};

/** The row for id, or NULL for a value outside the enum (SRTPKEY_SUITE_NONE included). */
const struct srtpkey_suite_info *srtpkey_suite(enum srtpkey_suite id);
/** The row whose name is exactly name (case-sensitive, as every peer
 *  prints them), or NULL.  Refused suites are found too: check decrypts. */
const struct srtpkey_suite_info *srtpkey_suite_find(struct slice name);
/** A suite srtprec accepts: SR_OK with *out set; SR_EUNSUPP for an unknown
 *  name or a refused suite (*why says which and why). */
enum sr_err srtpkey_suite_parse(struct slice name, enum srtpkey_suite *out, const char **why);
/** Name of an accepted or refused suite; NULL outside the enum. */
const char *srtpkey_suite_name(enum srtpkey_suite id);
/** True for the suites srtprec records (1..6). */
bool srtpkey_suite_ok(enum srtpkey_suite id);

/** One master key from a key-param.  lifetime 0 means "not stated" (the
 *  suite's 2^48).  The MKI is sent big-endian in mki_len bytes. */
struct srtpkey_key {
    uint8_t master[SRTPKEY_MAX_MASTER]; /**< key || salt */
    size_t master_len;                  /**< exactly key_len + salt_len of the suite */
    uint64_t lifetime;                  /**< packets, 1..2^48; 0 = not stated */
    uint32_t mki;                       /**< valid when mki_len > 0; fits mki_len bytes */
    unsigned mki_len;                   /**< 0 = no MKI; else 1..SRTPKEY_MKI_MAX */
};

/** Parse one RFC 4568 section 6.1 key-param for suite (accepted suites only):
 *    "inline:" base64(key||salt) ["|" lifetime] ["|" MKI-value ":" MKI-length]
 *  "inline" is case-insensitive (ABNF); base64 strict with padding.
 *  lifetime: decimal 1..2^48 (1..15 digits) or "2^n" with n 0..48 (1..2
 *  digits); 2^0 is one packet, as decimal 1 (carried, never enforced).
 *  MKI: value decimal, length 1..3 digits.
 *  SR_EPARSE: malformed (grammar, base64, length for the suite, lifetime 0 or
 *  over 2^48, MKI length 0 or over 128, value that does not fit its length,
 *  two MKIs, lifetime twice or after the MKI, an empty field).
 *  SR_EUNSUPP: key method other than inline; MKI length 5..128 (RFC 4568
 *  allows it, srtprec takes 1..4); a suite that is not accepted.
 *  SR_EINVAL: NULL out/why.  On failure *out is wiped. */
enum sr_err srtpkey_param_parse(struct slice text, enum srtpkey_suite suite,
                                struct srtpkey_key *out, const char **why);

/** The rules for the keys of one stream (one libsrtp session), checked as
 *  keys are added: at most SRTPKEY_MAX_KEYS (SR_ELIMIT); with more than one
 *  key every key has an MKI, all of one length, no value twice (SR_EPARSE),
 *  since libsrtp tells master keys apart only by MKI. */
struct srtpkey_set {
    size_t n;
    unsigned mki_len;
    uint32_t mki[SRTPKEY_MAX_KEYS];
};
void srtpkey_set_init(struct srtpkey_set *set);
enum sr_err srtpkey_set_add(struct srtpkey_set *set, uint32_t mki, unsigned mki_len,
                            const char **why);

/** Parse RFC 4568 key-params: key-param *(";" key-param), as in a=crypto.
 *  Fills keys[0..*n) (cap entries); each as srtpkey_param_parse, the set as
 *  srtpkey_set_add (more than min(cap, SRTPKEY_MAX_KEYS): SR_ELIMIT).  An empty
 *  key-param is SR_EPARSE.  On failure every entry is wiped and *n is 0. */
enum sr_err srtpkey_params_parse(struct slice text, enum srtpkey_suite suite,
                                 struct srtpkey_key *keys, size_t cap, size_t *n,
                                 const char **why);

/** Print k as a key-param into out[0..cap) with a NUL; *len (may be NULL)
 *  gets its length.  Lifetime: "2^n" for a power of two from 2, decimal
 *  otherwise, omitted when 0.  SR_EINVAL for anything srtpkey_param_parse
 *  would refuse (wrong length for the suite, refused suite, MKI over 4 bytes
 *  or not fitting, lifetime over 2^48); SR_ELIMIT if cap is too small
 *  (SRTPKEY_PARAM_TEXT always suffices).  out is wiped on failure. */
enum sr_err srtpkey_param_print(const struct srtpkey_key *k, enum srtpkey_suite suite, char *out,
                                size_t cap, size_t *len);

/** Wipe a key (OPENSSL_cleanse); NULL-safe. */
void srtpkey_key_wipe(struct srtpkey_key *k);

#endif
