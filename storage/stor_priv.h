/** @file stor_priv.h  Pieces shared by the storage library's files; not a public contract.
 *
 * The byte layouts named here are specified in docs/archive-format.md; keep
 * the two in step.
 */
#ifndef STOR_PRIV_H
#define STOR_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "buf.h"
#include "stor.h"

enum {
    STOR_VERSION = 2,                  /* written; readers take 1 and 2 */
    STOR_VERSION_1 = 1,                /* the call information in clear (docs/archive-format.md) */
    STOR_MAX_SEALED_CALL = 4096,       /* v2: the sealed call information, tag included */
    STOR_KEY_LEN = 32,
    STOR_TAG_LEN = 16,
    STOR_ID_LEN = 16,
    STOR_HASH_LEN = 32,
    STOR_PREFIX_LEN = 16,              /* magic, version, flags, header length */
    STOR_MAX_HEADER = 1 << 20,
    STOR_MAX_RECIPIENTS = 16,
    STOR_MAX_RECIP_DER = 64 * 1024,
    STOR_MAX_CHUNK = 16 << 20,
    STOR_DEFAULT_CHUNK = 64 << 10,
    STOR_MAX_STREAMS = 1024,
    /* Ogg serials over all chain links: a stream added after the first data
     * page restarts every live stream under a new serial (RFC 3533 grouping),
     * so k streams added one by one use k(k+1)/2.  The writer refuses a
     * stream past this budget and the page checks accept up to it. */
    STOR_MAX_SERIALS = 4 * STOR_MAX_STREAMS,
    STOR_FRAME_LEN = 5,                /* u32 length, u8 final */
    STOR_TRAILER_LEN = 124,
    STOR_RECOVERY_LEN = 96,            /* plaintext recovery marker, frame flag 2 */
    STOR_FRAME_RECOVERY = 2,
    /* Frames with a plaintext progress block (16 bytes after the frame
     * header, bound into the AAD): what whole pages up to the chunk's end
     * hold, so that recovery, which has no key, can fill the index row. */
    STOR_FRAME_DATA_P = 3,
    STOR_FRAME_FINAL_P = 4,
    STOR_PROGRESS_LEN = 16,
    STOR_PKT_HDR_LEN = 27,
    STOR_MAX_PAYLOAD = 65536,
};

#define STOR_MAGIC "SRTPREC\0"
#define STOR_TRAILER_MAGIC "SRECEND\0"
#define STOR_RECOVERY_MAGIC "SRECRCV\0"

/* ---------------------------------------------------------- byte order */

static inline void stor_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void stor_put32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline void stor_put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline uint16_t stor_get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}
static inline uint32_t stor_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t stor_get64(const uint8_t *p)
{
    return (uint64_t)stor_get32(p) << 32 | stor_get32(p + 4);
}

/* ---------------------------------------------------------- aead.c */

/** Seal or open one chunk: AES-256-GCM, nonce = 0^32 || index (u64 BE),
 *  AAD = id || index || final || header hash, and with progress (non-NULL,
 *  STOR_PROGRESS_LEN bytes) the frame flag (3/4) in final's place and the
 *  progress block after the hash.
 *  ctx: a cipher context the caller keeps so that sealing allocates
 *  nothing (the writer's flush path).
 *  Sealing works in place: buf's len bytes become ciphertext, the tag goes
 *  to tag.  Sealing the ciphertext again with the same parameters gives the
 *  plaintext back (AES-CTR), which is how a failed write is undone. */
enum sr_err stor_chunk_seal_inplace(EVP_CIPHER_CTX *ctx, const uint8_t key[STOR_KEY_LEN],
                                    const uint8_t id[STOR_ID_LEN],
                                    const uint8_t hh[STOR_HASH_LEN], uint64_t index, bool final,
                                    const uint8_t *progress, uint8_t *buf, size_t len,
                                    uint8_t tag[STOR_TAG_LEN]);
/** SR_EAUTH when the tag does not verify; ctlen includes the tag. */
enum sr_err stor_chunk_open(const uint8_t key[STOR_KEY_LEN], const uint8_t id[STOR_ID_LEN],
                            const uint8_t hh[STOR_HASH_LEN], uint64_t index, bool final,
                            const uint8_t *progress, const uint8_t *ct, size_t ctlen,
                            uint8_t *out);

/** The progress block of a frame with flag 3 or 4: data packets and
 *  streams (first BOS pages) in the whole pages of every chunk up to and
 *  including this one, and (final chunk only) how the archive ended. */
struct stor_progress {
    uint64_t packets;
    uint32_t streams;
    uint32_t end; /* enum stor_end; 0 in data chunks */
};
void stor_progress_encode(const struct stor_progress *pg, uint8_t out[STOR_PROGRESS_LEN]);
void stor_progress_parse(const uint8_t in[STOR_PROGRESS_LEN], struct stor_progress *pg);
/** The header tag: GCM over no plaintext with nonce 0xff * 12 and AAD = hdr. */
enum sr_err stor_header_tag(const uint8_t key[STOR_KEY_LEN], const uint8_t *hdr, size_t len,
                            uint8_t tag[STOR_TAG_LEN]);
/** Version 2's sealed call information: GCM with nonce 0xfe * 12 (neither
 *  a chunk's nor the header tag's), in place; tag appended by the caller. */
enum sr_err stor_call_seal(const uint8_t key[STOR_KEY_LEN], const uint8_t *aad, size_t aadlen,
                           uint8_t *buf, size_t len, uint8_t tag[STOR_TAG_LEN]);
/** Opens ct (ciphertext || tag, ctlen >= STOR_TAG_LEN) into out. */
enum sr_err stor_call_open(const uint8_t key[STOR_KEY_LEN], const uint8_t *aad, size_t aadlen,
                           const uint8_t *ct, size_t ctlen, uint8_t *out);

/* ---------------------------------------------------------- header.c */

struct stor_recip_ref {
    const uint8_t *der; /* points into the raw header */
    size_t len;
};

struct stor_header {
    unsigned version;           /* 1 or 2 */
    uint8_t id[STOR_ID_LEN];
    uint32_t chunk_size;
    /* Version 1: all of it, from the clear header.  Version 2: only
     * start_wall_us until stor_header_open_call (the rest is sealed). */
    struct stor_call_info call;
    struct stor_recip_ref recip[STOR_MAX_RECIPIENTS];
    size_t n_recip;
    /* Version 2: the sealed call information (ciphertext || tag) and the
     * header bytes before its length field (its AAD). */
    const uint8_t *sealed_call;
    size_t sealed_call_len, sealed_call_aad;
    size_t len; /* whole header including its tag */
};

/** Append the header without its tag to out (the length field already
 *  counts the tag); the caller appends stor_header_tag.  Version 2: the
 *  call information (Call-ID, AORs, tags, source) sealed under the data
 *  key; only id, chunk size, start time and recipients stay in clear. */
enum sr_err stor_header_encode(struct buf *out, const uint8_t id[STOR_ID_LEN], uint32_t chunk_size,
                               const struct stor_call_info *call, const struct buf *recip,
                               size_t n_recip, const uint8_t key[STOR_KEY_LEN]);
/** The total header length from its 16-byte prefix; SR_EPARSE/SR_EUNSUPP. */
enum sr_err stor_header_prefix(const uint8_t *p, size_t *total, const char **why);
/** Bounded parse of a whole header (len from stor_header_prefix).  No key:
 *  a version 2 header's call information stays sealed (h->call holds only
 *  the start time).  Pointers in h point into p. */
enum sr_err stor_header_parse(const uint8_t *p, size_t len, struct stor_header *h,
                              const char **why);
/** Version 2: open h's sealed call information with the data key (after
 *  the header tag checked out) into h->call.  Version 1: nothing to do.
 *  SR_EAUTH if it does not authenticate, SR_EPARSE if malformed. */
enum sr_err stor_header_open_call(struct stor_header *h, const uint8_t *p,
                                  const uint8_t key[STOR_KEY_LEN], const char **why);

struct stor_trailer {
    struct stor_counts counts;
    uint64_t packets_written, end_wall_us, plain_bytes, data_chunks;
    uint32_t n_streams;
    uint8_t sha[STOR_HASH_LEN];
};
void stor_trailer_encode(const struct stor_trailer *t, uint8_t out[STOR_TRAILER_LEN]);
enum sr_err stor_trailer_parse(const uint8_t *p, size_t len, struct stor_trailer *t,
                               const char **why);

void stor_recovery_encode(const struct stor_recovery *rv, const uint8_t id[STOR_ID_LEN],
                          uint8_t out[STOR_RECOVERY_LEN]);
enum sr_err stor_recovery_parse(const uint8_t *p, size_t len, struct stor_recovery *rv,
                                uint8_t id[STOR_ID_LEN]);

/* ---------------------------------------------------------- wrap.c */

/** Load a PEM certificate. */
enum sr_err stor_cert_load(const char *file, X509 **out);
/** A loaded set's size and its i-th certificate (borrowed), for the writer. */
size_t stor_recipients_count(const struct stor_recipients *r);
X509 *stor_recipients_get(const struct stor_recipients *r, size_t i);
/** Load a PEM certificate and its private key and check that they match. */
enum sr_err stor_creds_load(const char *cert_file, const char *key_file, X509 **cert,
                            EVP_PKEY **pkey, const char **why);
/** Append a DER CMS EnvelopedData of key to cert to der. */
enum sr_err stor_key_wrap(X509 *cert, const uint8_t key[STOR_KEY_LEN], struct buf *der);
/** SR_ENOTFOUND: cert is not a recipient of this block.  SR_EPARSE: not CMS.
 *  SR_ECRYPTO: a matching recipient whose unwrap failed. */
enum sr_err stor_key_unwrap(X509 *cert, EVP_PKEY *pkey, const uint8_t *der, size_t len,
                            uint8_t key[STOR_KEY_LEN]);

/* ---------------------------------------------------------- oggmap.c */

enum {
    STOR_OGG_ID_LEN = 12,
    STOR_OGG_INFO_MAX = 8 + 4 + 1 + 1 + 4 + 1 + 31 + 1 + 63,
    STOR_OGG_TAGS_MAX = 8 + 2 + 64,
    STOR_OGG_CONT = 1, /* ID flag: continues a stream from an earlier chain link */
};

void stor_ogg_id_encode(uint8_t out[STOR_OGG_ID_LEN], unsigned idx, bool cont);
enum sr_err stor_ogg_id_parse(const uint8_t *p, size_t len, unsigned *idx, bool *cont);
size_t stor_ogg_info_encode(uint8_t out[STOR_OGG_INFO_MAX], const struct stor_stream_info *si);
enum sr_err stor_ogg_info_parse(const uint8_t *p, size_t len, struct stor_stream_info *si);
/** The tags packet: vendor "srtprec", or "srtprec plain-rtp" for a plain
 *  stream (si->plain); parse sets si->plain from it, any other vendor
 *  string is accepted (informational). */
size_t stor_ogg_tags_encode(uint8_t out[STOR_OGG_TAGS_MAX], const struct stor_stream_info *si);
enum sr_err stor_ogg_tags_parse(const uint8_t *p, size_t len, struct stor_stream_info *si);
void stor_ogg_pkt_encode(uint8_t out[STOR_PKT_HDR_LEN], const struct stor_pkt *p);
/** p->payload points into buf. */
enum sr_err stor_ogg_pkt_parse(const uint8_t *buf, size_t len, struct stor_pkt *p);

/** Ogg's page CRC-32 (RFC 3533: polynomial 0x04c11db7, not reflected,
 *  initial 0, no final xor) of @p len bytes, continuing @p crc (0 to start):
 *  crc(crc(0, a), b) == crc(0, a || b). */
uint32_t stor_ogg_crc(uint32_t crc, const uint8_t *p, size_t len);
bool stor_stream_info_equal(const struct stor_stream_info *a, const struct stor_stream_info *b);

/* ---------------------------------------------------------- reader.c */

/** Open from an fd (owned by the reader from now on, closed also on failure)
 *  with already-loaded credentials (borrowed for the call). */
enum sr_err stor_reader_open_fd(struct stor_reader **out, int fd, X509 *cert, EVP_PKEY *pkey,
                                const char **why);
/** Next chunk's plaintext in order, without Ogg parsing; valid until the next
 *  call.  SR_ECLOSED after the final chunk checked out. */
enum sr_err stor_reader_next_plain(struct stor_reader *r, const uint8_t **pt, size_t *len,
                                   const char **why);

/** Make r a first-pass reader: it leaves out its own page checks
 *  (stor_pagecheck finds the pages but checks neither CRC nor structure) and
 *  the plaintext SHA-256 against the trailer.  Every chunk is still
 *  authenticated (AES-GCM).  Only for the first pass of a two-pass export,
 *  whose second pass runs every check on the same bytes before any output
 *  is trusted.  Call before the first stor_reader_next. */
void stor_reader_first_pass(struct stor_reader *r);

/** Fuzzing entry point: run the Ogg level of the reader (mapping, chain
 *  links, page checks) over plaintext Ogg bytes from memory, as if they had
 *  come out of authenticated chunks of an archive without a trailer check.
 *  Returns what stor_reader_next returned last. */
enum sr_err stor_ogg_read_mem(const uint8_t *data, size_t len, size_t *packets);

/* ---------------------------------------------------------- pagecheck */

/** The project's own page checks over a plaintext Ogg physical stream
 *  (oggz-validate passes bad CRCs): capture pattern, version, CRC, page
 *  sequence numbers per serial, granule positions never decreasing within a
 *  logical stream, BOS first and alone per serial, EOS last, no page after
 *  EOS, every BOS of a chain link before its data pages.  Incremental:
 *  feed bytes in any split.  *why names the first problem. */
struct stor_pagecheck;
enum sr_err stor_pagecheck_create(struct stor_pagecheck **out);
void stor_pagecheck_destroy(struct stor_pagecheck *pc);
enum sr_err stor_pagecheck_feed(struct stor_pagecheck *pc, const uint8_t *p, size_t len,
                                const char **why);
/** Takes bytes from *in (advancing it and *in_len) until one page is
 *  complete and checked; then *page and *page_len give it (pointing into the
 *  input when the page lay wholly inside it, else into pc; valid until the
 *  next call or until the input changes).  *page is NULL once the input is
 *  used up without completing a page (the part is kept for the next input). */
enum sr_err stor_pagecheck_next(struct stor_pagecheck *pc, const uint8_t **in, size_t *in_len,
                                const uint8_t **page, size_t *page_len, const char **why);
/** Pages are found (capture pattern, lengths) but not checked: for a reader
 *  whose bytes another pass checks (stor_reader_first_pass). */
void stor_pagecheck_framing_only(struct stor_pagecheck *pc);
/** At the end: SR_EPARSE if a page is cut short or a stream has no EOS
 *  (allow_open: a recovered archive may end without them). */
enum sr_err stor_pagecheck_end(struct stor_pagecheck *pc, bool allow_open, const char **why);

/* ---------------------------------------------------------- sign.c */

enum { STOR_SIG_FILE_LEN = 8 + 16 + 32 + 8 + 32 + 64 };
/** A parsed signature file (docs/archive-format.md, "Signature file"). */
struct stor_sig {
    uint8_t id[STOR_ID_LEN], sha[32], pub[32], sig[64];
    uint64_t sealed_wall_us;
    char key_id[STOR_KEY_ID_HEX];
};
enum sr_err stor_sig_make(const struct stor_signer *s, const uint8_t id[STOR_ID_LEN],
                          const uint8_t sha[32], uint64_t sealed_wall_us,
                          uint8_t out[STOR_SIG_FILE_LEN]);
/** Layout only (length, magic); the signature is not checked. */
bool stor_sig_parse(const uint8_t *p, size_t len, struct stor_sig *out);
/** Write <archive_path>.sig through a temporary file and a rename. */
enum sr_err stor_sig_write(const char *archive_path, const uint8_t sig[STOR_SIG_FILE_LEN],
                           bool sync);
enum sr_err stor_ledger_append(struct chainlog *cl, const char *id_hex, const uint8_t sha[32],
                               const char *key_id, uint64_t sealed_wall_us);
struct stor_ledger_hit {
    bool found;                  /**< id_hex has a seal record */
    char sha_hex[65];            /**< its (last) hash */
    char other_id[STOR_ID_HEX];  /**< a record whose hash is file_sha_hex; "" none */
};
/** One pass over the verified ledger.  SR_ENOTFOUND: no ledger file yet;
 *  SR_EAUTH: the chain is broken, SR_EIO: unreadable; *why says so. */
enum sr_err stor_ledger_find(const char *ledger, const char *id_hex, const char *file_sha_hex,
                             struct stor_ledger_hit *hit, const char **why);

#endif
