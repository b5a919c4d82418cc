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

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum { STOR_STR = 256, STOR_ID_HEX = 33 /* 16-byte id as hex + NUL */, STOR_RECORDER_ID = 64,
       STOR_LOCATION_MAX = 1100 /* "s3://" + 63-char bucket + "/" + 1024-char key */ };

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
    bool plain;                 /**< plain RTP (a SIPREC RTP/AVP leg): recorded as received,
                                     never authenticated (the tags packet says so) */
};

/** A "parties" record (docs/archive-format.md, "Parties records"): the
 *  call's parties as told after the header was written (SIPREC metadata in
 *  a re-INVITE).  A logical stream of its own with this codec and label,
 *  one packet per change, payload: u16 length + local AOR, u16 length +
 *  remote AOR (each < STOR_STR, no NUL).  The header keeps the first ones. */
#define STOR_PARTIES_CODEC "parties"
enum { STOR_PARTIES_MAX = 2 * (2 + STOR_STR) };
/** Bytes written to out (cap >= STOR_PARTIES_MAX), or 0 if an AOR is too long. */
size_t stor_parties_encode(uint8_t *out, size_t cap, const char *local_aor, const char *remote_aor);
/** SR_OK, or SR_EPARSE (lengths that do not fit, a NUL, bytes left over). */
enum sr_err stor_parties_parse(const uint8_t *p, size_t len, struct stor_call_info *out);

/** A "metadata" record (docs/archive-format.md, "Metadata records"): one
 *  RFC 7865 document a SIPREC client sent (an INVITE, re-INVITE or UPDATE
 *  body part), verbatim, extension data included.  A logical stream of its
 *  own with this codec and label, one packet per document, its arrival
 *  time the request's; payload: the document's bytes, at most
 *  STOR_METADATA_MAX (the SRS refuses larger ones with 413). */
#define STOR_METADATA_CODEC "metadata"
enum { STOR_METADATA_MAX = 65535 };

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

/** How an archive ended, sealed into its final chunk (frame flag 4;
 *  docs/archive-format.md).  Archives written before this field existed
 *  read as STOR_END_COMPLETE. */
enum stor_end {
    STOR_END_NONE = 0,     /**< not sealed (recording, or recovered after a crash) */
    STOR_END_COMPLETE = 1, /**< the call ended and its archive was sealed */
    STOR_END_SHUTDOWN = 2, /**< cut by shutdown: the recorder stopped while the call went on */
};
/** "complete", "shutdown" or "none". */
const char *stor_end_name(enum stor_end e);

/** Counts the recorder adds to the trailer (what could not be recorded, and why). */
struct stor_counts {
    uint64_t packets;           /**< written */
    uint64_t auth_fail, replay, malformed, overload, encrypted_kept;
};

/** When the writer forces its bytes to the disk (docs/storage.md, "Durability").
 *  Every policy write()s at each flush, so kill -9 of the process loses at
 *  most what came after the last flush (the page cache outlives the
 *  process); they differ on power loss or a kernel crash. */
enum stor_sync {
    STOR_SYNC_CLOSE = 0, /**< default: fsync at close only (recovery fsyncs too); a power
                              cut may lose what the page cache held (up to its writeback
                              delay, ~30 s on Linux) */
    STOR_SYNC_FLUSH,     /**< fdatasync after every flush that wrote a chunk: a power cut
                              loses at most what came after the last flush */
    STOR_SYNC_NONE,      /**< never fsync (tests, tmpfs, benchmarks): a power cut may leave
                              a renamed archive whose bytes never reached the disk */
};

/** Recipient certificates read and parsed once, for a writer of many
 *  archives (the recorder): read per archive, the PEM files cost a file
 *  read, a base64 decode and an X.509 parse for every call.  SR_EIO (cannot
 *  read), SR_EPARSE (not PEM X.509), SR_ELIMIT (more than 8), SR_EINVAL;
 *  *why names the failing file's problem. */
struct stor_recipients;
enum sr_err stor_recipients_load(struct stor_recipients **out, const char *const *files,
                                 size_t n, const char **why);
/** NULL-safe. */
void stor_recipients_free(struct stor_recipients *r);

struct stor_writer_cfg {
    const char *dir;                 /**< archives go here as <id>.srec */
    const char *const *recipients;   /**< PEM certificate files; at least one, unless rcpt */
    size_t n_recipients;
    size_t chunk_size;               /**< plaintext bytes per chunk; 0 = 64 KiB */
    size_t max_buffered;             /**< plaintext held while the disk is full; 0 = 4 chunks */
    enum stor_sync sync;             /**< durability policy; 0 = STOR_SYNC_CLOSE */
    const struct stor_recipients *rcpt; /**< if set: these, and recipients is ignored;
                                             borrowed, must outlive stor_writer_open */
};

struct stor_writer;
struct chainlog;
struct stor_signer;

/** Create <dir>/<id>.srec.partial with a fresh random id and data key and
 *  write its header.  id_hex receives the archive id. */
enum sr_err stor_writer_open(struct stor_writer **out, const struct stor_writer_cfg *cfg,
                             const struct stor_call_info *call, char id_hex[STOR_ID_HEX]);
/** Sign this archive when it is sealed: the seal appends a record to
 *  ledger (if non-NULL; tag STOR_LEDGER_TAG), then writes <id>.srec.sig,
 *  then renames the archive, so that a sealed archive always has both.
 *  signer and ledger are borrowed and must outlive the seal; the ledger is
 *  used from the sealing thread only.  Call before the seal. */
void stor_writer_sign(struct stor_writer *w, const struct stor_signer *signer,
                      struct chainlog *ledger);
/** Add a logical stream; *idx names it in stor_writer_packet.  A stream
 *  added after the first data page starts a new Ogg chain link in which
 *  every live stream continues under a new serial; SR_ELIMIT once the
 *  archive holds STOR_MAX_STREAMS (1,024) streams or the next link would
 *  pass its serial budget (4,096: about 90 streams added one by one after
 *  data).  The archive stays valid either way. */
enum sr_err stor_writer_add_stream(struct stor_writer *w, const struct stor_stream_info *si,
                                   unsigned *idx);
/** Append one packet.  Allocation-free: it is copied into the stream's
 *  preallocated page buffer and, page by page, into the chunk buffer (which
 *  grows once to its working size); a chunk is sealed and written only
 *  when chunk_size plaintext bytes have gathered. */
enum sr_err stor_writer_packet(struct stor_writer *w, unsigned idx, const struct stor_pkt *p);
/** Seal what is buffered into a chunk and write it (call at least once a
 *  second: kill -9 loses at most what came after the last SR_OK flush);
 *  with STOR_SYNC_FLUSH also fdatasync it, so that a power cut loses no
 *  more either.  A flush with nothing new since the last one does nothing
 *  (no chunk, no system call).  Never allocates.  SR_ENOSPC: the disk is full; nothing is lost yet, the
 *  plaintext stays buffered and the next flush retries.  While it is full,
 *  stor_writer_packet keeps accepting until max_buffered bytes wait, then
 *  refuses packets with SR_ENOSPC (the caller counts them: they are lost). */
enum sr_err stor_writer_flush(struct stor_writer *w);
/** True while the last chunk write met a full disk (an alarm condition). */
bool stor_writer_nospace(const struct stor_writer *w);
/** Packets refused with SR_ENOSPC so far. */
uint64_t stor_writer_nospace_drops(const struct stor_writer *w);
/** Write the final chunk with the trailer, fsync (unless STOR_SYNC_NONE),
 *  rename to <id>.srec and free w (also on failure).  path_out (may be NULL) gets the final path.
 *  Same as stor_writer_seal(.., STOR_END_COMPLETE, ..) then stor_writer_abandon. */
enum sr_err stor_writer_close(struct stor_writer *w, const struct stor_counts *counts,
                              char *path_out, size_t path_len);
/** Seal like stor_writer_close, recording `end` (COMPLETE or SHUTDOWN), but
 *  never free w.  SR_OK: sealed and renamed; free w with stor_writer_abandon.
 *  SR_ENOSPC / SR_EIO (a write, fsync or rename failed: disk full, I/O
 *  error): nothing buffered is lost, the file is still <id>.srec.partial
 *  and ends on a whole chunk; call again later (counts and end may change)
 *  or give up with stor_writer_abandon, which leaves the .partial for
 *  stor_recover and loses stor_writer_pending() packets.  Any other error:
 *  w is failed; abandon it.  After the streams were ended (the first call),
 *  stor_writer_packet and stor_writer_add_stream answer SR_ESTATE. */
enum sr_err stor_writer_seal(struct stor_writer *w, const struct stor_counts *counts,
                             enum stor_end end, char *path_out, size_t path_len);
/** Free w without sealing (or after stor_writer_seal returned SR_OK): an
 *  unsealed .partial file stays for recovery. NULL-safe. */
void stor_writer_abandon(struct stor_writer *w);
/** Packets handed to the writer whose bytes are not yet on the disk in a
 *  whole chunk (what abandoning w now would lose), and how many of them
 *  carry STOR_PKT_ENCRYPTED. */
uint64_t stor_writer_pending(const struct stor_writer *w, uint64_t *encrypted);
/** Data packets and streams in the chunks written so far (what a reader
 *  of the recovered .partial would find). */
uint64_t stor_writer_committed(const struct stor_writer *w, unsigned *streams);
/** Plaintext bytes handed to the writer so far, and the SHA-256 it will seal. */
uint64_t stor_writer_bytes(const struct stor_writer *w);
/** After a successful seal with a signer: the sealed file's SHA-256 as hex
 *  (what the index row stores); NULL otherwise. */
const char *stor_writer_file_sha256(const struct stor_writer *w);

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
/** An archive that the recorder did not seal (it crashed or was killed)
 *  and that stor_recover() later closed with a recovery marker.  Every
 *  chunk before the marker is authenticated as usual; the marker itself
 *  is not (no data key at recovery): it only says where the file ended. */
struct stor_recovery {
    uint64_t data_chunks;        /**< whole chunks kept = the marker's chunk index */
    uint64_t offset;             /**< file bytes before the marker */
    uint64_t recovered_wall_us;  /**< when recovery ran */
    uint64_t last_write_wall_us; /**< the partial file's mtime: the last flush */
    uint64_t torn_bytes;         /**< bytes of a torn last chunk cut off */
    uint8_t file_sha256[32];     /**< SHA-256 of the file bytes [0, offset) */
};

/** After SR_ECLOSED: non-NULL when the archive ended in a recovery marker
 *  (then stor_reader_counts is NULL: the writer never wrote a trailer).
 *  A recovered archive's Ogg may end inside a page or without EOS pages:
 *  packets of an incomplete last page are not returned. */
const struct stor_recovery *stor_reader_recovery(const struct stor_reader *r);
/** After SR_ECLOSED: the trailer's counts (NULL before). */
const struct stor_counts *stor_reader_counts(const struct stor_reader *r);
/** After SR_ECLOSED: how the archive ended (STOR_END_NONE if recovered). */
enum stor_end stor_reader_end(const struct stor_reader *r);
/** After SR_ECLOSED: when the writer sealed the archive (Unix epoch us); 0 before. */
uint64_t stor_reader_end_wall_us(const struct stor_reader *r);
/** Chunks authenticated so far (after SR_ECLOSED: data chunks + the final one). */
uint64_t stor_reader_chunks(const struct stor_reader *r);

/** Read the whole archive and check every chunk, the trailer and the
 *  plaintext hash; *why names the first problem. */
enum sr_err stor_verify(const char *path, const char *cert_file, const char *key_file,
                        const char **why);
/** Like stor_verify, but copies the precise reason (chunk index and all), or
 *  "OK", into msg[0..msglen).  A recovered archive whose chunks all check
 *  out returns SR_ESTATE ("recovered: ..."): authentic but not known whole. */
enum sr_err stor_verify_msg(const char *path, const char *cert_file, const char *key_file,
                            char *msg, size_t msglen);

/* ----------------------------------------------------------------- export */

/** Sink for streamed output; return false to abort. */
typedef bool stor_write_fn(const void *data, size_t len, void *arg);

/** Decode G.711 (PCMU/PCMA at 8 kHz) and Opus (48 kHz RTP clock, libopus)
 *  streams to a 16-bit PCM WAV: one channel per direction (send = left,
 *  recv = right; streams of one direction summed, clipped), aligned by
 *  arrival time of each stream's first packet and by RTP timestamp after
 *  that, silence for gaps.  The rate is 8 kHz when every stream is G.711
 *  and 48 kHz when a stream is Opus (G.711 then repeats each sample six
 *  times).  Opus: decoded in timestamp order, gaps up to 100 ms concealed
 *  by libopus (the next packet's in-band FEC for the last lost packet, PLC
 *  before it), longer ones silent; the first 312 samples (the Ogg Opus
 *  export's pre-skip) dropped, so a stream here equals stor_export_opus
 *  decoded.  Streamed: memory does not grow with call length. */
enum sr_err stor_export_wav(const char *path, const char *cert_file, const char *key_file,
                            stor_write_fn *out, void *arg, const char **why);
/** The same as one mono channel: every stream summed, clipped. */
enum sr_err stor_export_wav_mixed(const char *path, const char *cert_file, const char *key_file,
                                  stor_write_fn *out, void *arg, const char **why);
/** The same for stream stream_idx alone, as a mono WAV (the stream's own
 *  timeline from its first packet).  SR_ENOTFOUND: no such stream;
 *  SR_EUNSUPP: it is neither G.711 at 8 kHz nor Opus. */
enum sr_err stor_export_wav_stream(const char *path, const char *cert_file, const char *key_file,
                                   unsigned stream_idx, stor_write_fn *out, void *arg,
                                   const char **why);

/** Stream the decrypted Ogg physical stream as it is, chunk by chunk.  Bytes
 *  reach out before the trailer is checked: a non-SR_OK return means what
 *  was written is incomplete or untrustworthy and must be discarded. */
enum sr_err stor_export_ogg(const char *path, const char *cert_file, const char *key_file,
                            stor_write_fn *out, void *arg, const char **why);

/** The same for stream stream_idx alone: its pages in every chain link,
 *  copied unchanged (a chained Ogg of one logical stream per link).
 *  SR_ENOTFOUND: no stream stream_idx. */
enum sr_err stor_export_ogg_stream(const char *path, const char *cert_file, const char *key_file,
                                   unsigned stream_idx, stor_write_fn *out, void *arg,
                                   const char **why);

/** Ogg Opus (RFC 7845) of one stream whose codec is "opus": OpusHead (pre-skip
 *  312 = 6.5 ms, a decoder's warm-up after joining mid-stream; 48 kHz;
 *  channels from the first packet's TOC), OpusTags, then each
 *  decrypted RTP payload as one Opus packet, granule = 48 kHz samples since
 *  the stream's first RTP timestamp (the RTP clock of Opus is 48 kHz, RFC
 *  7587).  Gaps stay gaps in the granule; ENCRYPTED packets are skipped.
 *  SR_ENOTFOUND: no stream stream_idx; SR_EUNSUPP: it is not Opus.  Streamed;
 *  a non-SR_OK return means the output is incomplete.  stream_idx
 *  STOR_STREAM_FIRST_OPUS: the first stream whose codec is Opus. */
#define STOR_STREAM_FIRST_OPUS UINT_MAX
enum sr_err stor_export_opus(const char *path, const char *cert_file, const char *key_file,
                             unsigned stream_idx, stor_write_fn *out, void *arg,
                             const char **why);

enum { STOR_WAVE_POINTS_MAX = 4000 };

/** One decoded stream's outline. */
struct stor_wave_stream {
    unsigned index;  /**< the archive's stream number */
    struct stor_stream_info info;
    float *peaks;    /**< points values in 0..1: the largest |sample| / 32767 per bucket */
};

/** A call's outline: frames at rate split into points equal buckets (bucket
 *  b covers frames [b * frames / points, (b + 1) * frames / points)), on
 *  the WAV export's timeline.  Only streams with decodable audio appear. */
struct stor_waveform {
    unsigned rate;        /**< 8000: Opus is decoded at 8 kHz for it */
    uint64_t frames;      /**< the call's length at rate */
    unsigned points;
    size_t n_streams;
    struct stor_wave_stream *streams;
    float *peaks;         /**< all streams' buckets, owned */
};

/** Decode every G.711 and Opus stream as stor_export_wav does and keep the
 *  peak of each of points buckets (1..STOR_WAVE_POINTS_MAX, else SR_EINVAL).
 *  Memory: points floats per stream.  Free with stor_waveform_free. */
enum sr_err stor_waveform(const char *path, const char *cert_file, const char *key_file,
                          unsigned points, struct stor_waveform **wf, const char **why);
void stor_waveform_free(struct stor_waveform *wf);

/* --------------------------------------------------------------- recovery */

struct stor_index;

struct stor_recover_stats {
    size_t recovered;   /**< partial archives sealed with a recovery marker */
    size_t damaged;     /**< partial files too short to hold a header */
    size_t index_fixed; /**< index rows repaired (state, size, path) */
    size_t reconciled;  /**< sealed archives that had no index row and got one */
};

/** At recorder start, before any writer opens in dir: close every
 *  <id>.srec.partial left by a crash.  Needs no key (the recorder holds
 *  only public keys): the file is cut back to its last whole chunk (by the
 *  frame lengths), a plaintext recovery marker is appended, the file is
 *  fsynced and renamed to <id>.srec, and the index row is set to
 *  STOR_STATE_RECOVERED with the new size and end time (created from the
 *  plaintext header if the crash came before the first index write).  Rows
 *  still "recording" under dir whose file is sealed become complete (the
 *  crash fell between rename and index update); with no file at all,
 *  damaged.  Each recovery is logged at notice level: an operator must
 *  learn about it.  st may be NULL. */
enum sr_err stor_recover(const char *dir, struct stor_index *ix, struct stor_recover_stats *st);

/** The per-file step of stor_recover for a sealed archive: when the index
 *  has no row for id, index the file at path from its plaintext header and
 *  final frame (complete or shutdown; damaged without a final chunk), the
 *  row recording row_path as its path (path may be a temporary copy, as
 *  `srtprec recover --store` fetches).  *indexed: a row was created (then
 *  st->reconciled and st->index_fixed count it).  SR_OK without a row
 *  created: the row exists.  SR_EPARSE: no whole header; SR_ESTATE: the
 *  header names another archive; SR_EIO: the index refused the row. */
enum sr_err stor_reconcile_file(struct stor_index *ix, const char *path, const char *id,
                                const char *row_path, bool *indexed,
                                struct stor_recover_stats *st);

/* ------------------------------------------------------------------ index */

enum stor_state {
    STOR_STATE_RECORDING = 0,
    STOR_STATE_COMPLETE,
    STOR_STATE_DAMAGED,
    STOR_STATE_RECOVERED, /**< sealed by stor_recover after a crash: readable, maybe cut short */
    STOR_STATE_SHUTDOWN,  /**< cut by shutdown: sealed whole, but the call went on after it */
    STOR_STATE_DELETING,  /**< claimed by retention (stor_index_claim_delete): its deletion is
                               under way, its archive may be gone; no hold can be set */
    STOR_STATE_COUNT
};
/** "recording", "complete", "damaged", "recovered", "shutdown", "deleting". */
const char *stor_state_name(enum stor_state s);

/** Who put a legal hold on, when and why (all "" / 0 for a hold set
 *  without them, e.g. by the CLI). */
struct stor_hold {
    char case_id[128];
    char reason[STOR_STR];
    char by[STOR_STR];          /**< the identity that set it */
    uint64_t at_wall_us;        /**< when, Unix epoch us */
};

/** One participant of a call as the index knows it (schema 6, the parties
 *  table): every AOR a row of the recording ever named (role "local" or
 *  "remote", as the row had it when first seen), and every participant
 *  the recorder was told beyond them (SIPREC metadata: role
 *  "participant", with its name).  Parties are only added while the row
 *  exists: a later put naming others keeps the earlier ones, so a search
 *  finds a call by anyone who was ever in it (a transfer, late metadata). */
enum { STOR_MAX_PARTIES = 8, STOR_PARTY_NAME = 128, STOR_PARTY_ROLE = 16 };
struct stor_party {
    char aor[STOR_STR];
    char name[STOR_PARTY_NAME];  /**< "" when not known */
    char role[STOR_PARTY_ROLE];  /**< "local", "remote" or "participant" */
};

struct stor_record {
    char id[STOR_ID_HEX];
    struct stor_call_info call;
    enum stor_state state;
    uint64_t end_wall_us;       /**< 0 while recording */
    uint64_t bytes;             /**< archive file size */
    uint64_t packets;
    unsigned n_streams;
    bool hold;                  /**< legal hold: retention never deletes it (stor_index_put keeps it) */
    struct stor_hold hold_info; /**< valid when hold */
    char sha256[65];            /**< SHA-256 of the sealed file, hex; "" when unsigned or unknown */
    /** The recorder-id of the recorder that wrote it; "" when not set.  Two
     *  rows with one call_id and different non-empty recorders are copies
     *  of one call (dual recording, stor_copy_better). */
    char recorder[STOR_RECORDER_ID];
    char path[4096];
    /** Where the object store holds the sealed archive ("s3://BUCKET/KEY",
     *  objstore_location); "" while it is only local.  stor_index_put never
     *  changes it: only stor_index_set_location does. */
    char location[STOR_LOCATION_MAX];
    /** put: parties to add beyond call.local_aor and call.remote_aor (which
     *  the index adds itself); get: the row's parties, oldest first (at
     *  most STOR_MAX_PARTIES); search: not filled (n_parties 0). */
    struct stor_party parties[STOR_MAX_PARTIES];
    size_t n_parties;
};

/** Dual recording: whether b is a copy of a's call (same call_id, both
 *  recorders named and different, time spans overlapping). */
bool stor_copy_of(const struct stor_record *a, const struct stor_record *b);
/** Of two copies of one call, whether b is the better one to serve: sealed
 *  whole (complete, then shutdown) before recovered, damaged or still
 *  recording; then more packets; then more bytes; a tie keeps a. */
bool stor_copy_better(const struct stor_record *a, const struct stor_record *b);

/** Open (creating and migrating the schema if needed) the index named by
 *  spec: a PostgreSQL connection string (a postgresql:// or postgres://
 *  URI, or a libpq "key=value ..." conninfo) or else the path of an SQLite
 *  file (WAL mode).  Both backends keep the same contract; docs/storage.md
 *  says how each keeps concurrent writers from losing or duplicating rows.
 *  SR_EAGAIN: the server cannot be reached or the schema is locked (retry);
 *  SR_EUNSUPP: the stored schema is newer than this build. */
enum sr_err stor_index_open(struct stor_index **out, const char *spec);
/** Whether spec names an SQLite file (false: a PostgreSQL conninfo), so a
 *  caller knows whether files may be derived from the index's directory. */
bool stor_index_is_file(const char *spec);
/** spec fit for a log line: the path, or the conninfo's host, port, dbname
 *  and user without any password.  Returns buf. */
const char *stor_index_describe(const char *spec, char *buf, size_t cap);

enum stor_index_mode {
    STOR_INDEX_CREATE,    /**< stor_index_open: create and migrate as needed */
    STOR_INDEX_EXISTING,  /**< read-write, but a missing file (PostgreSQL: no schema) is
                               SR_ENOTFOUND, not a new index */
    STOR_INDEX_READ_ONLY, /**< must exist, never written (no schema set-up or migration:
                               an older schema is SR_EUNSUPP) */
};
/** stor_index_open with a choice of mode: the CLI must not leave an empty
 *  database behind a misspelt path. */
enum sr_err stor_index_open_mode(struct stor_index **out, const char *spec,
                                 enum stor_index_mode mode);
void stor_index_close(struct stor_index *ix);
/** Whether the index can be written now: not opened read-only, and the
 *  write lock can be taken (and is let go again).  SR_EIO: read-only (file
 *  or directory permissions); SR_EAGAIN: locked past the busy timeout. */
enum sr_err stor_index_check_write(struct stor_index *ix);
/** How long a write waits for another process's lock before it fails
 *  with SR_EAGAIN (default 5,000 ms; PostgreSQL: lock_timeout).  The recorder sets it short and queues
 *  what fails, so a locked index never stalls its archive thread. */
void stor_index_set_busy_ms(struct stor_index *ix, unsigned ms);
/** Insert or replace by id, and add rec->parties (a party already there
 *  keeps its role; a non-empty name replaces its name).  SR_EAGAIN: the index stayed locked by another
 *  connection past the busy timeout; SR_EIO: another write failure. */
enum sr_err stor_index_put(struct stor_index *ix, const struct stor_record *rec);
enum sr_err stor_index_get(struct stor_index *ix, const char *id, struct stor_record *rec);

/** How stor_query.party matches an AOR. */
enum stor_party_match {
    STOR_PARTY_EXACT = 0, /**< the whole AOR, byte for byte */
    STOR_PARTY_PREFIX,    /**< the AOR without its sip:/sips:/tel: scheme begins with party
                               (also without scheme), ASCII case-insensitive */
    STOR_PARTY_SUBSTRING, /**< ... contains party */
};

struct stor_query {
    uint64_t from_wall_us, to_wall_us; /**< start time range; 0 = open */
    const char *party;                 /**< matches any party the row ever had (its local
                                            and remote AORs, and rec->parties); NULL = any */
    enum stor_party_match party_match; /**< prefix and substring use a trigram index: fast
                                            once party has 3 characters (docs/api.md) */
    const char *call_id;               /**< NULL = any */
    const char *after_id;              /**< cursor: ids after this one (start time order) */
    size_t limit;                      /**< 0 = 100 */
    bool by_state;                     /**< only rows in state */
    enum stor_state state;
    bool newest_first;                 /**< descending start time (the cursor then pages back) */
};
/** Called per match in start-time order (newest_first: reversed); return false to stop. */
typedef bool stor_record_fn(const struct stor_record *rec, void *arg);
enum sr_err stor_index_search(struct stor_index *ix, const struct stor_query *q,
                              stor_record_fn *fn, void *arg);
/** Set or clear the legal hold.  SR_ENOTFOUND: no such id. */
enum sr_err stor_index_set_hold(struct stor_index *ix, const char *id, bool hold);
/** Set the legal hold with its record h, or clear it (h NULL: the record is
 *  cleared too; the API's audit chain keeps who did what).  SR_ENOTFOUND;
 *  SR_ESTATE: setting a hold on a row retention has claimed (deleting). */
enum sr_err stor_index_hold(struct stor_index *ix, const char *id, const struct stor_hold *h);
/** Retention's claim before it deletes anything: one conditional update
 *  sets the row's state to STOR_STATE_DELETING only if it is not on hold
 *  and not recording (a row already deleting is claimed again: a run that
 *  crashed resumes).  So a hold and a deletion are ordered by the index:
 *  a hold set before the claim makes it fail, a hold set after it fails
 *  (SR_ESTATE), and a held recording is never deleted whatever the
 *  search that found it said.  SR_ESTATE: on hold or recording, not
 *  claimed; SR_ENOTFOUND.  To give a claim back, put the row as it was
 *  (stor_index_put keeps the hold columns). */
enum sr_err stor_index_claim_delete(struct stor_index *ix, const char *id);
/** Remove the row (retention only; the caller has recorded the deletion). */
enum sr_err stor_index_delete(struct stor_index *ix, const char *id);
/** Record that the store holds the archive (the uploader, once the store
 *  confirmed it); "" clears it.  SR_ENOTFOUND: no such row; SR_ELIMIT:
 *  location does not fit STOR_LOCATION_MAX. */
enum sr_err stor_index_set_location(struct stor_index *ix, const char *id, const char *location);

/** Totals for monitoring (the API's /metrics): recordings per state, their
 *  bytes, and how many are under legal hold.  One aggregate query. */
struct stor_index_stats {
    uint64_t recordings[STOR_STATE_COUNT]; /**< indexed by enum stor_state */
    uint64_t bytes;
    uint64_t held;
};
enum sr_err stor_index_stats(struct stor_index *ix, struct stor_index_stats *st);

/* -------------------------------------------------------------- retention */

/** Deletes the object store's copy of a recording for retention: the
 *  archive at location ("s3://BUCKET/KEY", the row's) and its signature
 *  (KEY.sig).  libstor never talks to a store: the caller brings this (the
 *  CLI's is on storage/objstore.h).  SR_OK also when the objects are
 *  already gone (a resumed run); SR_EAGAIN the store is unreachable;
 *  SR_ESTATE the store keeps it under S3 Object Lock (why: "locked until
 *  DATE"; retention counts it in store_locked and goes on); anything else
 *  final.  why gets a reason without credentials. */
typedef enum sr_err stor_store_delete_fn(void *arg, const char *location, char *why,
                                         size_t whylen);

struct stor_retention_cfg {
    uint64_t before_wall_us;  /**< delete recordings that started before this */
    const char *log_path;     /**< the deletion log: a chainlog (tag "DEL1"); required */
    bool dry_run;             /**< report what would go, change nothing */
    const char *signer_pub;   /**< the recorder's signing certificate: each archive is
                                   checked before it goes (stor_archive_check); NULL: not */
    const char *ledger;       /**< the seal ledger checked with it; NULL: not */
    const char *archive_dir;  /**< required: archives are <archive_dir>/<id>.srec; the
                                   index's path is only compared, never opened */
    stor_store_delete_fn *store_delete; /**< deletes store copies (rows with a location);
                                             NULL: such rows are kept (store_kept) */
    void *store_arg;
    const char *recorder;     /**< only rows of this recorder-id (a box's own in a shared
                                   index; others are not looked at); NULL: every row */
};
struct stor_retention_stats {
    size_t deleted, held, missing_files;
    size_t refused;           /**< kept: forged, swapped or not checkable (evidence) */
    size_t path_mismatch;     /**< kept: the index row names another file (tampering) */
    size_t claim_lost;        /**< kept: put on hold between the search and the claim
                                   (also counted in held) */
    size_t store_deleted;     /**< of deleted: their store copy deleted too */
    size_t store_kept;        /**< kept: a store copy and no store_delete given */
    size_t store_locked;      /**< kept: the store refused to delete it, S3 Object Lock
                                   retains it (store_delete said SR_ESTATE); the run goes on */
};
/** Delete expired recordings: every recording that started before
 *  before_wall_us, is not on legal hold and is not still recording.  For
 *  each, first the row is claimed (stor_index_claim_delete: a hold set
 *  since the search keeps it), then a record is appended (and fdatasynced) to the hash-chained
 *  deletion log, then the archive is unlinked, then its row.  A crash can
 *  therefore leave a logged deletion that did not happen (the next run logs
 *  it again), never a deletion without a record.  With signer_pub, an
 *  archive that is not authentic (forged, swapped, or its check failed) is
 *  kept as evidence and counted in refused; the verdict of every deleted
 *  one is in its record (field authn).  The file of a recording is
 *  <archive_dir>/<id>.srec, never the path the index holds: a row naming
 *  another file is kept, logged and counted in path_mismatch, and nothing
 *  is unlinked for it (whoever can write the index cannot delete files).
 *  A row with a location (its archive in the object store): the store copy
 *  is deleted with store_delete after the record and before the local
 *  files; its location must name <id>.srec (else path_mismatch: the index
 *  cannot aim a deletion at another object).  Rows whose path is in
 *  another box's archive_dir stay path_mismatch: in a fleet each recorder
 *  box runs retention for its own rows (and their store copies), with
 *  recorder set to its recorder-id so that the others' rows are passed
 *  over rather than reported. */
enum sr_err stor_retention(struct stor_index *ix, const struct stor_retention_cfg *cfg,
                           struct stor_retention_stats *st);

/* ------------------------------------------------------------- signatures */

/** The recorder's archive signing key (Ed25519, PEM, unencrypted).  The
 *  file must be the caller's alone: SR_EAUTH when group or others may read
 *  or write it (mode 0600 or tighter), SR_EUNSUPP when not Ed25519,
 *  SR_EIO / SR_EPARSE otherwise; *why says which. */
struct stor_signer;
enum { STOR_KEY_ID_HEX = 17 /* first 8 bytes of SHA-256(raw public key), hex */ };
enum sr_err stor_signer_load(struct stor_signer **out, const char *key_file, const char **why);
void stor_signer_free(struct stor_signer *s);
/** The key id the ledger and messages name the signer by. */
const char *stor_signer_key_id(const struct stor_signer *s);
/** SHA-256 of a whole file.  On an open failure errno is kept. */
enum sr_err stor_file_sha256(const char *path, uint8_t out[32]);

/** The seal ledger's chainlog tag: one record per sealed archive, fields
 *  id, sha256 (of the file), key (signer key id), sealed_us. */
#define STOR_LEDGER_TAG "SEAL1"

/** One seal record: the archive id and its file's SHA-256 (hex); return
 *  false to stop. */
typedef bool stor_seal_fn(const char *id_hex, const char *sha256_hex, void *arg);
/** Every record of the seal ledger in order, after its whole chain was
 *  verified (SR_EAUTH: broken, SR_EIO: unreadable; *why says which).  An id
 *  sealed twice (a retried seal) comes twice. */
enum sr_err stor_ledger_each(const char *ledger, stor_seal_fn *fn, void *arg, const char **why);

/** Verdict of stor_archive_check: each attack has its own. */
enum stor_authn {
    STOR_AUTHN_OK = 0,   /**< signed by the trusted key; hash and id match index and ledger */
    STOR_AUTHN_UNSIGNED, /**< no signature and no recorded seal: an archive from before signing */
    STOR_AUTHN_FORGED,   /**< not what the recorder signed: bad, foreign or stripped signature,
                              changed bytes, or a signed seal the ledger never saw */
    STOR_AUTHN_SWAPPED,  /**< a genuine archive, but of another recording, or not the one the
                              index / ledger records under this id */
    STOR_AUTHN_DELETED,  /**< the file is gone while its seal is recorded */
    STOR_AUTHN_ERROR,    /**< could not check (unreadable file, ledger chain broken, no key) */
};
/** "authentic", "unsigned", "forged", "swapped", "deleted", "error". */
const char *stor_authn_name(enum stor_authn a);

struct stor_check_cfg {
    const char *signer_pub;      /**< PEM public key or certificate of the recorder's signing key */
    const char *id;              /**< the recording id asked for; NULL = from the file name */
    const char *expected_sha256; /**< the index row's hash (hex); NULL or "" = none recorded */
    const char *ledger;          /**< the seal ledger (chainlog SEAL1); NULL = not checked */
    const char *expected_from;   /**< where expected_sha256 came from, for messages;
                                      NULL = "the index" */
};
/** Check an archive's authenticity without any decryption key: the file's
 *  SHA-256 against its detached signature <path>.sig (Ed25519 by the
 *  trusted key, over the archive id, the hash and the seal time), its
 *  header id against the id asked for, and the hash against the index row
 *  and the ledger's record.  msg gets "VERDICT: reason". */
enum stor_authn stor_archive_check(const char *path, const struct stor_check_cfg *c, char *msg,
                                   size_t msglen);
/** The signature check of an archive whose bytes are elsewhere (a ranged
 *  download from the object store): sig[0..len) is its signature file
 *  (NULL: none), checked against the trusted key, the recording id asked
 *  for and the SHA-256 the index row records (hex; "" none).  The bytes'
 *  own hash is not known here: OK means the index's hash is the one the
 *  recorder signed for this id.  UNSIGNED (no signature, no hash recorded),
 *  FORGED (stripped while a hash is recorded, malformed, foreign or
 *  invalid, or over another hash), SWAPPED (another recording's), ERROR (no
 *  key); msg as stor_archive_check's. */
enum stor_authn stor_sig_check(const uint8_t *sig, size_t len, const char *signer_pub,
                               const char *id, const char *sha256_hex, char *msg, size_t msglen);

#endif
