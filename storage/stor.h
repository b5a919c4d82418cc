/** @file stor.h  Encrypted call archives, the recording index and export.
 *
 * An archive is one file per call: a header naming its recipients (the
 * random data key wrapped with CMS EnvelopedData to each recipient
 * certificate), then AES-256-GCM chunks whose AAD binds the archive id, the
 * chunk index and a final-chunk flag; the plaintext is an Ogg physical
 * stream with one logical stream per RTP stream.  See docs/archive-format.md.
 *
 * A writer needs only recipient certificates (public keys): a recorder can
 * write archives and never read them back.  Readers need a recipient's
 * private key.  Objects are single-threaded: use each from one thread.
 */
#ifndef STOR_H
#define STOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum { STOR_STR = 256, STOR_ID_HEX = 33 /* 16-byte id as hex + NUL */ };

/** What the index and the archive header record about a call. */
struct stor_call_info {
    char call_id[STOR_STR];
    char local_aor[STOR_STR];   /**< the disclosing endpoint's party */
    char remote_aor[STOR_STR];
    char local_tag[128], remote_tag[128];
    char source[STOR_STR];      /**< which keyagent disclosed it (its identity) */
    uint64_t start_wall_us;     /**< call start, Unix epoch us */
};

enum stor_direction { STOR_DIR_SEND = 0, STOR_DIR_RECV = 1 };

/** One RTP stream inside an archive. */
struct stor_stream_info {
    uint32_t ssrc;
    unsigned payload_type;
    char codec[32];             /**< "PCMU", "PCMA", "opus", or "" if unknown */
    unsigned clock_rate;        /**< Hz */
    enum stor_direction direction;
    char label[64];             /**< the key body's stream id */
};

enum stor_pkt_flags {
    STOR_PKT_MARKER = 1u << 0,    /**< RTP marker bit */
    STOR_PKT_ENCRYPTED = 1u << 1, /**< payload is the whole SRTP packet as received: its key never came */
};

/** One decrypted RTP packet (or, with STOR_PKT_ENCRYPTED, an undecryptable one). */
struct stor_pkt {
    uint16_t seq;
    uint64_t ext_seq;           /**< ROC << 16 | seq */
    uint64_t ext_ts;            /**< extended RTP timestamp (wraps unrolled) */
    uint64_t arrival_wall_us;
    uint32_t flags;
    const uint8_t *payload;     /**< borrowed for the call */
    size_t payload_len;
};

/** Counts the recorder adds to the trailer (what could not be recorded, and why). */
struct stor_counts {
    uint64_t packets;           /**< written */
    uint64_t auth_fail, replay, malformed, overload, encrypted_kept;
};

struct stor_writer_cfg {
    const char *dir;                 /**< archives go here as <id>.srec */
    const char *const *recipients;   /**< PEM certificate files; at least one */
    size_t n_recipients;
    size_t chunk_size;               /**< plaintext bytes per chunk; 0 = 64 KiB */
};

struct stor_writer;

/** Create <dir>/<id>.srec.partial with a fresh random id and data key and
 *  write its header.  id_hex receives the archive id. */
enum sr_err stor_writer_open(struct stor_writer **out, const struct stor_writer_cfg *cfg,
                             const struct stor_call_info *call, char id_hex[STOR_ID_HEX]);
/** Add a logical stream; *idx names it in stor_writer_packet. */
enum sr_err stor_writer_add_stream(struct stor_writer *w, const struct stor_stream_info *si,
                                   unsigned *idx);
enum sr_err stor_writer_packet(struct stor_writer *w, unsigned idx, const struct stor_pkt *p);
/** Seal what is buffered into a chunk and write it (call at least once a second). */
enum sr_err stor_writer_flush(struct stor_writer *w);
/** Write the final chunk with the trailer, fsync, rename to <id>.srec and
 *  free w (also on failure).  path_out (may be NULL) gets the final path. */
enum sr_err stor_writer_close(struct stor_writer *w, const struct stor_counts *counts,
                              char *path_out, size_t path_len);
/** Free w without sealing: the .partial file stays for recovery. NULL-safe. */
void stor_writer_abandon(struct stor_writer *w);
/** Plaintext bytes handed to the writer so far, and the SHA-256 it will seal. */
uint64_t stor_writer_bytes(const struct stor_writer *w);

/* ----------------------------------------------------------------- reader */

struct stor_reader;

/** Open and authenticate an archive's header; unwrap the data key with the
 *  recipient's certificate and private key (PEM files). */
enum sr_err stor_reader_open(struct stor_reader **out, const char *path, const char *cert_file,
                             const char *key_file, const char **why);
void stor_reader_close(struct stor_reader *r);
const struct stor_call_info *stor_reader_call(const struct stor_reader *r);
/** The archive id as hex. */
const char *stor_reader_id(const struct stor_reader *r);
/** Streams become known as their Ogg BOS pages are read: call after
 *  stor_reader_next has returned SR_ECLOSED to see them all. */
size_t stor_reader_n_streams(const struct stor_reader *r);
const struct stor_stream_info *stor_reader_stream(const struct stor_reader *r, size_t idx);
/** Next packet in file order.  SR_OK: *idx and *p filled (p->payload valid
 *  until the next call).  SR_ECLOSED: clean end after the trailer.
 *  SR_EAUTH: a chunk failed authentication (tampered, reordered, wrong key).
 *  SR_EPARSE: truncated or malformed; *why says where. */
enum sr_err stor_reader_next(struct stor_reader *r, unsigned *idx, struct stor_pkt *p,
                             const char **why);
/** After SR_ECLOSED: the trailer's counts (NULL before). */
const struct stor_counts *stor_reader_counts(const struct stor_reader *r);
/** After SR_ECLOSED: when the writer sealed the archive (Unix epoch us); 0 before. */
uint64_t stor_reader_end_wall_us(const struct stor_reader *r);
/** Chunks authenticated so far (after SR_ECLOSED: data chunks + the final one). */
uint64_t stor_reader_chunks(const struct stor_reader *r);

/** Read the whole archive and check every chunk, the trailer and the
 *  plaintext hash; *why names the first problem. */
enum sr_err stor_verify(const char *path, const char *cert_file, const char *key_file,
                        const char **why);
/** Like stor_verify, but copies the precise reason (chunk index and all), or
 *  "OK", into msg[0..msglen). */
enum sr_err stor_verify_msg(const char *path, const char *cert_file, const char *key_file,
                            char *msg, size_t msglen);

/* ----------------------------------------------------------------- export */

/** Sink for streamed output; return false to abort. */
typedef bool stor_write_fn(const void *data, size_t len, void *arg);

/** Decode G.711 (PCMU/PCMA) streams to a 16-bit PCM WAV at 8 kHz: one
 *  channel per direction (send = left, recv = right), aligned by arrival
 *  time of each stream's first packet and by RTP timestamp after that,
 *  silence for gaps.  Streamed: memory does not grow with call length. */
enum sr_err stor_export_wav(const char *path, const char *cert_file, const char *key_file,
                            stor_write_fn *out, void *arg, const char **why);

/** Stream the decrypted Ogg physical stream as it is, chunk by chunk.  Bytes
 *  reach out before the trailer is checked: a non-SR_OK return means what
 *  was written is incomplete or untrustworthy and must be discarded. */
enum sr_err stor_export_ogg(const char *path, const char *cert_file, const char *key_file,
                            stor_write_fn *out, void *arg, const char **why);

/* ------------------------------------------------------------------ index */

enum stor_state { STOR_STATE_RECORDING = 0, STOR_STATE_COMPLETE, STOR_STATE_DAMAGED };

struct stor_record {
    char id[STOR_ID_HEX];
    struct stor_call_info call;
    enum stor_state state;
    uint64_t end_wall_us;       /**< 0 while recording */
    uint64_t bytes;             /**< archive file size */
    uint64_t packets;
    unsigned n_streams;
    char path[4096];
};

struct stor_index;

/** Open (creating if needed) the SQLite index in WAL mode. */
enum sr_err stor_index_open(struct stor_index **out, const char *db_path);
void stor_index_close(struct stor_index *ix);
/** Insert or replace by id. */
enum sr_err stor_index_put(struct stor_index *ix, const struct stor_record *rec);
enum sr_err stor_index_get(struct stor_index *ix, const char *id, struct stor_record *rec);

struct stor_query {
    uint64_t from_wall_us, to_wall_us; /**< start time range; 0 = open */
    const char *party;                 /**< matches local or remote AOR; NULL = any */
    const char *call_id;               /**< NULL = any */
    const char *after_id;              /**< cursor: ids after this one (start time order) */
    size_t limit;                      /**< 0 = 100 */
};
/** Called per match in start-time order; return false to stop. */
typedef bool stor_record_fn(const struct stor_record *rec, void *arg);
enum sr_err stor_index_search(struct stor_index *ix, const struct stor_query *q,
                              stor_record_fn *fn, void *arg);

#endif
