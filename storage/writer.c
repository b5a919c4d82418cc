/** @file writer.c  Writes one archive: header, then Ogg pages sealed into AES-256-GCM chunks.
 *
 * Plaintext lives only in the streams' page buffers and w->plain (all
 * wiped on free) until it is sealed; the file only ever receives the
 * header and ciphertext.  Ogg grouping
 * (RFC 3533 section 4) wants every BOS page before any data page, so a
 * stream added after the first data packet starts a new chain link: all
 * open logical streams end (EOS) and continue under new serial numbers.
 *
 * Crash and full-disk safety: the file only ever grows by whole chunks
 * (frame and ciphertext in one pwrite at the committed offset; a torn write
 * is cut off again), and every flush writes what it sealed, so after kill -9
 * the file is the header plus whole chunks up to the last flush, which
 * stor_recover() seals; with STOR_SYNC_FLUSH each such flush is also
 * fdatasynced, which extends that to a power cut.  ENOSPC is not fatal: the
 * plaintext stays buffered (up to max_buffered) and the next flush retries.
 *
 * Ogg pages are built here rather than with libogg's ogg_stream_*: its
 * packet path copies into buffers it grows with realloc, and the recorder
 * calls stor_writer_packet for every packet of every call.  Each stream owns
 * one fixed page buffer (allocated with the stream); a packet is copied
 * into it segment by segment, a finished page gets its CRC (stor_ogg_crc,
 * ISA-L: libogg's ogg_page_checksum_set was a sixth of the writer's time)
 * and is appended to w->plain, which grows once to
 * its working size.  The page layout is RFC 3533 section 6; pages close at
 * a packet boundary once PAGE_FILL body bytes are in, and a packet larger
 * than a page continues on the next one (header flag 0x01, granule -1 on a
 * page where no packet ends).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "stor_priv.h"
#include "util.h"

enum {
    PAGE_HDR = 27,                 /* RFC 3533 section 6, without the lacing table */
    PAGE_SEGS = 255,               /* lacing values per page */
    /* Body bytes per page at most.  1 KiB, not 4: with thousands of streams
     * their page buffers are the writer's working set (1.3 MB rather than
     * 4.3 MB at 1,000 streams), which made writing 8-15 % cheaper there
     * for 2 % more Ogg header bytes (docs/benchmarks.md). */
    PAGE_BODY = 1024,
    PAGE_FILL = PAGE_BODY - 256,   /* close a page after a packet once this much is in */
    PAGE_BUF = PAGE_HDR + PAGE_SEGS + PAGE_BODY,
    OGG_FLAG_CONT = 0x01, OGG_FLAG_BOS = 0x02, OGG_FLAG_EOS = 0x04,
};

/* The page being built.  The body sits at a fixed offset (PAGE_HDR +
 * PAGE_SEGS) and the lacing values are kept apart; at output the header and
 * lacing are written just in front of the body, so the page leaves from
 * one contiguous span without a copy. */
struct wpage {
    uint8_t *buf;                  /* PAGE_BUF bytes */
    unsigned nseg;
    size_t body;                   /* body bytes so far */
    uint8_t flags;                 /* OGG_FLAG_* of this page */
    int64_t granule;               /* of the last packet that ends on it; -1: none */
    uint32_t pkts, enc;            /* data packets (and encrypted ones) that end on it */
    bool first_bos;                /* the BOS page of a new stream (not a chain link's) */
    uint8_t lacing[PAGE_SEGS];
};

/* Where a chunk will end in plain: chunks end on page boundaries, so that
 * each one's progress block can say exactly what its whole pages hold. */
struct wcut {
    size_t end;                    /* bytes of plain (from its front) up to the cut */
    uint64_t pkts, enc;            /* totals over every page before the cut */
    uint32_t streams;
};

/* What every packet touches comes first (one cache line with the page's
 * scalars): with 10,000 streams each packet finds its stream cold. */
struct wstream {
    struct wpage pg;
    bool live;        /* between BOS and EOS of a chain link */
    bool have_first;
    uint32_t serial, seqno;
    uint64_t first_ts;
    int64_t base;     /* granule of the first packet: media time since the archive origin */
    int64_t granule;  /* highest granule so far; never decreases */
    struct stor_stream_info info;
};

struct stor_writer {
    int fd;
    char *partial, *final_path, *dir; /* heap: a PATH_MAX array each was 12 KiB per call */
    uint8_t key[STOR_KEY_LEN], id[STOR_ID_LEN], hh[STOR_HASH_LEN];
    size_t chunk_size;
    uint64_t chunk_index;
    struct buf plain;  /* Ogg bytes not yet sealed */
    uint8_t rec[STOR_PKT_HDR_LEN]; /* the record header of the packet being added */
    EVP_MD_CTX *sha;   /* over every plaintext byte, in order */
    EVP_CIPHER_CTX *cipher; /* kept: sealing a chunk allocates nothing */
    uint64_t plain_bytes, packets;
    struct wstream *streams;
    size_t n_streams;
    uint32_t serial_next;
    size_t serials;    /* serials used so far (STOR_MAX_SERIALS) */
    bool group_sealed; /* secondary headers of this chain link are out */
    bool have_origin;
    uint64_t origin_us;
    bool failed;
    uint64_t committed;   /* file bytes: header and whole chunks */
    bool dirty;           /* chunks written since the last fdatasync */
    enum stor_sync sync;
    bool nospace;         /* the last chunk write failed (ENOSPC, EIO); plain holds it */
    size_t max_buffered;  /* plain bytes held while the disk is full */
    uint64_t nospace_drops;
    uint64_t enc_packets;             /* packets with STOR_PKT_ENCRYPTED handed in */
    uint64_t done_pkts, done_enc;     /* in pages appended to plain */
    uint32_t done_streams;
    uint64_t com_pkts, com_enc;       /* in chunks on the disk */
    uint32_t com_streams;
    struct wcut *cuts;                /* pending chunk ends, oldest first */
    size_t n_cuts, cap_cuts;
    /* stor_writer_seal's steps, each done once across retries. */
    bool closing, final_written, synced, ledgered, signed_, renamed, sealed;
    uint8_t final_sha[STOR_HASH_LEN];
    const struct stor_signer *signer; /* stor_writer_sign: borrowed */
    struct chainlog *ledger;
    uint8_t file_sha[STOR_HASH_LEN];  /* of the sealed file, for the signature */
    uint64_t sealed_wall_us;
    char file_sha_hex[2 * STOR_HASH_LEN + 1];
};

static enum sr_err fail(struct stor_writer *w, enum sr_err err)
{
    w->failed = true;
    return err;
}

/* Every byte of iov[0..n) at off; iov is consumed. */
static enum sr_err writev_at(int fd, struct iovec *iov, int n, uint64_t off)
{
    while (n > 0) {
        ssize_t k = pwritev(fd, iov, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return sr_err_from_errno(errno);
        }
        off += (uint64_t)k;
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return SR_OK;
}

/* Seal buf in place and write frame, ciphertext and tag in one pwritev: no
 * ciphertext buffer per writer (with thousands of calls open, a chunk-sized
 * buffer each was most of the recorder's memory).  On a failed write the
 * bytes are sealed once more, which restores the plaintext (AES-CTR), so
 * the disk-full path can keep it and retry. */
static enum sr_err seal_chunk(struct stor_writer *w, uint8_t *buf, size_t len, bool final,
                              const struct stor_progress *prog)
{
    uint8_t frame[STOR_FRAME_LEN + STOR_PROGRESS_LEN], tag[STOR_TAG_LEN];
    const uint8_t *pb = frame + STOR_FRAME_LEN;
    size_t flen = STOR_FRAME_LEN + STOR_PROGRESS_LEN;
    struct iovec iov[3];
    enum sr_err err;

    stor_progress_encode(prog, frame + STOR_FRAME_LEN);
    err = stor_chunk_seal_inplace(w->cipher, w->key, w->id, w->hh, w->chunk_index, final, pb,
                                  buf, len, tag);
    if (err)
        return fail(w, err);
    stor_put32(frame, (uint32_t)(len + STOR_TAG_LEN));
    frame[4] = final ? STOR_FRAME_FINAL_P : STOR_FRAME_DATA_P;
    iov[0] = (struct iovec){ frame, flen };
    iov[1] = (struct iovec){ buf, len };
    iov[2] = (struct iovec){ tag, sizeof(tag) };
    err = writev_at(w->fd, iov, 3, w->committed);
    if (err) {
        enum sr_err undo;
        log_debug("chunk %llu: write failed: %s", (unsigned long long)w->chunk_index,
                  sr_strerror(err));
        undo = stor_chunk_seal_inplace(w->cipher, w->key, w->id, w->hh, w->chunk_index, final,
                                       pb, buf, len, tag);
        if (undo)
            return fail(w, undo);
        /* Cut a torn chunk off: the file must end on a chunk boundary for a
         * retry and for recovery alike. */
        if (ftruncate(w->fd, (off_t)w->committed) != 0)
            return fail(w, sr_err_from_errno(errno));
        if (err == SR_ENOSPC || err == SR_EIO) {
            w->nospace = true; /* not fatal: the plaintext stays buffered, a later try may pass */
            return err;
        }
        return fail(w, err);
    }
    w->committed += flen + len + STOR_TAG_LEN;
    w->dirty = true;
    w->nospace = false;
    w->chunk_index++;
    return SR_OK;
}

static bool retryable(enum sr_err err)
{
    return err == SR_ENOSPC || err == SR_EIO;
}

/* A chunk ends at plain's end as it is now. */
static enum sr_err cut_push(struct stor_writer *w)
{
    if (w->n_cuts == w->cap_cuts) {
        /* Normally one or two; thousands only while a full disk holds
         * max_buffered bytes back. */
        size_t nc = w->cap_cuts ? 2 * w->cap_cuts : 2;
        struct wcut *n = realloc(w->cuts, nc * sizeof(*n));
        if (!n)
            return fail(w, SR_ENOMEM);
        w->cuts = n;
        w->cap_cuts = nc;
    }
    w->cuts[w->n_cuts++] = (struct wcut){ w->plain.len, w->done_pkts, w->done_enc,
                                          w->done_streams };
    return SR_OK;
}

static size_t open_from(const struct stor_writer *w)
{
    return w->n_cuts ? w->cuts[w->n_cuts - 1].end : 0;
}

/* Seal and write every chunk up to the last cut, oldest first. */
static enum sr_err seal_cuts(struct stor_writer *w)
{
    enum sr_err err;

    while (w->n_cuts) {
        struct wcut c = w->cuts[0];
        struct stor_progress pg = { c.pkts, c.streams, 0 };
        /* Every byte in plain is hashed already (emit); a chunk the full
         * disk sent back is still at the front of plain, as plaintext. */
        if ((err = seal_chunk(w, (uint8_t *)w->plain.p, c.end, false, &pg)))
            return err;
        buf_consume(&w->plain, c.end); /* what it held is ciphertext now: no wipe needed */
        w->com_pkts = c.pkts;
        w->com_enc = c.enc;
        w->com_streams = c.streams;
        memmove(w->cuts, w->cuts + 1, (w->n_cuts - 1) * sizeof(*w->cuts));
        w->n_cuts--;
        for (size_t i = 0; i < w->n_cuts; i++)
            w->cuts[i].end -= c.end;
    }
    return SR_OK;
}

/* Seal the chunks that are full, and with all set the remainder as well. */
static enum sr_err seal_plain(struct stor_writer *w, bool all)
{
    enum sr_err err;

    if (all && w->plain.len > open_from(w) && (err = cut_push(w)))
        return err;
    return seal_cuts(w);
}

/* One whole page into plain: a chunk that it would push past chunk_size
 * ends before it.  pkts, enc, streams: what the page completes. */
static enum sr_err emit(struct stor_writer *w, const void *data, size_t len, uint32_t pkts,
                        uint32_t enc, uint32_t streams)
{
    size_t from = open_from(w);
    enum sr_err err;

    if (w->plain.len > from && w->plain.len - from + len > w->chunk_size &&
        (err = cut_push(w)))
        return err;
    if ((err = buf_append(&w->plain, data, len)))
        return fail(w, err);
    /* Hashed now, while the page is in cache from its CRC: hashed at seal
     * time, a second later, the bytes of thousands of calls had left it. */
    if (EVP_DigestUpdate(w->sha, data, len) != 1)
        return fail(w, SR_ECRYPTO);
    w->plain_bytes += len;
    w->done_pkts += pkts;
    w->done_enc += enc;
    w->done_streams += streams;
    if (w->nospace)
        return SR_OK; /* the disk was full: the next flush tries again */
    err = seal_cuts(w);
    return retryable(err) ? SR_OK : err; /* accepted: it is in the buffer */
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Finish s's page (header, lacing, CRC) and append it to the plaintext. */
static enum sr_err page_out(struct stor_writer *w, struct wstream *s)
{
    struct wpage *pg = &s->pg;
    uint8_t *h = pg->buf + PAGE_SEGS - pg->nseg; /* header + lacing end where the body starts */
    uint64_t g = (uint64_t)pg->granule;
    size_t len = PAGE_HDR + pg->nseg + pg->body;
    enum sr_err err;

    memcpy(h, "OggS", 4);
    h[4] = 0; /* version */
    h[5] = pg->flags;
    for (int i = 0; i < 8; i++, g >>= 8)
        h[6 + i] = (uint8_t)g;
    put_le32(h + 14, s->serial);
    put_le32(h + 18, s->seqno++);
    put_le32(h + 22, 0);
    h[26] = (uint8_t)pg->nseg;
    memcpy(h + PAGE_HDR, pg->lacing, pg->nseg);
    put_le32(h + 22, stor_ogg_crc(0, h, len)); /* header, lacing and body are contiguous */
    err = emit(w, h, len, pg->pkts, pg->enc, pg->first_bos ? 1 : 0);
    pg->nseg = 0;
    pg->body = 0;
    pg->flags = 0;
    pg->granule = -1;
    pg->pkts = pg->enc = 0;
    pg->first_bos = false;
    return err;
}

static bool stream_pending(const struct wstream *s)
{
    return s->live && s->pg.nseg > 0;
}

static enum sr_err stream_flush(struct stor_writer *w, struct wstream *s)
{
    return stream_pending(s) ? page_out(w, s) : SR_OK;
}

/* Flush other streams' partial pages whose media time is not later than
 * limit, oldest first, so pages leave in (roughly) time order. */
static enum sr_err flush_older(struct stor_writer *w, const struct wstream *except, int64_t limit)
{
    for (;;) {
        struct wstream *best = NULL;
        enum sr_err err;
        for (size_t i = 0; i < w->n_streams; i++) {
            struct wstream *s = &w->streams[i];
            if (s != except && stream_pending(s) && s->pg.granule <= limit &&
                (!best || s->pg.granule < best->pg.granule))
                best = s;
        }
        if (!best)
            return SR_OK;
        if ((err = page_out(w, best)))
            return err;
    }
}

/* A full page of s leaves; first the other streams' pages it must not overtake. */
static enum sr_err page_full(struct stor_writer *w, struct wstream *s)
{
    enum sr_err err;

    if (s->pg.granule >= 0 && (err = flush_older(w, s, s->pg.granule)))
        return err;
    return page_out(w, s);
}

/* Append one packet, given in two parts (record header, payload), to s's
 * page; full pages leave as it goes. */
enum { PKT_META = 0, PKT_DATA = 1, PKT_DATA_ENC = 2 }; /* what packet_in counts */

static enum sr_err packet_in(struct stor_writer *w, struct wstream *s, const uint8_t *a,
                             size_t alen, const uint8_t *b, size_t blen, bool bos, bool eos,
                             int64_t granule, int kind)
{
    struct wpage *pg = &s->pg;
    size_t rem = alen + blen;
    bool started = false; /* a segment of this packet is on a page already */
    enum sr_err err;

    if (bos)
        pg->flags |= OGG_FLAG_BOS;
    for (;;) {
        size_t seg = rem < 255 ? rem : 255, take;
        uint8_t *dst;
        if (pg->nseg == PAGE_SEGS || pg->body + seg > PAGE_BODY) {
            if ((err = page_full(w, s)))
                return err;
            if (started)
                pg->flags |= OGG_FLAG_CONT;
        }
        dst = pg->buf + PAGE_HDR + PAGE_SEGS + pg->body;
        take = seg < alen ? seg : alen;
        if (take) { /* a may be NULL when empty: memcpy must not see it */
            memcpy(dst, a, take);
            a += take;
            alen -= take;
        }
        if (seg > take) {
            memcpy(dst + take, b, seg - take);
            b += seg - take;
            blen -= seg - take;
        }
        pg->lacing[pg->nseg++] = (uint8_t)seg;
        pg->body += seg;
        rem -= seg;
        started = true;
        if (seg < 255)
            break; /* a lacing value below 255 ends the packet */
    }
    pg->granule = granule;
    if (kind != PKT_META) { /* it ends on this page: counted when the page leaves */
        pg->pkts++;
        pg->enc += kind == PKT_DATA_ENC;
    }
    if (eos)
        pg->flags |= OGG_FLAG_EOS;
    if (pg->body >= PAGE_FILL || pg->nseg == PAGE_SEGS)
        return page_full(w, s);
    return SR_OK;
}

static enum sr_err stream_begin(struct stor_writer *w, struct wstream *s, unsigned idx, bool cont)
{
    uint8_t id[STOR_OGG_ID_LEN];
    enum sr_err err;

    s->serial = w->serial_next++;
    w->serials++;
    s->seqno = 0;
    s->live = true;
    s->pg.nseg = 0;
    s->pg.body = 0;
    s->pg.flags = 0;
    s->pg.granule = -1;
    s->pg.pkts = s->pg.enc = 0;
    s->pg.first_bos = !cont;
    stor_ogg_id_encode(id, idx, cont);
    if ((err = packet_in(w, s, id, sizeof(id), NULL, 0, true, false, 0, PKT_META)))
        return err;
    return stream_flush(w, s); /* the BOS page holds the ID packet alone */
}

static enum sr_err group_seal(struct stor_writer *w)
{
    uint8_t info[STOR_OGG_INFO_MAX], tags[STOR_OGG_TAGS_MAX];
    enum sr_err err;

    for (size_t i = 0; i < w->n_streams; i++) {
        struct wstream *s = &w->streams[i];
        size_t n = stor_ogg_info_encode(info, &s->info);
        if ((err = packet_in(w, s, info, n, NULL, 0, false, false, 0, PKT_META)) ||
            (err = packet_in(w, s, tags, stor_ogg_tags_encode(tags, &s->info), NULL, 0, false, false, 0,
                                PKT_META)) ||
            (err = stream_flush(w, s)))
            return err;
    }
    w->group_sealed = true;
    return SR_OK;
}

static enum sr_err flush_all_streams(struct stor_writer *w)
{
    return flush_older(w, NULL, INT64_MAX);
}

static enum sr_err end_all_streams(struct stor_writer *w)
{
    enum sr_err err;

    if ((err = flush_all_streams(w)))
        return err;
    for (size_t i = 0; i < w->n_streams; i++) {
        struct wstream *s = &w->streams[i];
        /* A zero-length packet carries the EOS flag; readers skip it. */
        if ((err = packet_in(w, s, NULL, 0, NULL, 0, false, true, s->granule, PKT_META)) ||
            (err = stream_flush(w, s)))
            return err;
        s->live = false;
    }
    return SR_OK;
}

static void wipe_free(void *p, size_t len)
{
    sr_wipe(p, len);
    free(p);
}

static void writer_free(struct stor_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    for (size_t i = 0; i < w->n_streams; i++)
        if (w->streams[i].pg.buf)
            wipe_free(w->streams[i].pg.buf, PAGE_BUF);
    free(w->streams);
    free(w->cuts);
    buf_fini(&w->plain);
    free(w->partial);
    free(w->final_path);
    free(w->dir);
    EVP_MD_CTX_free(w->sha);
    EVP_CIPHER_CTX_free(w->cipher); /* cleanses its key schedule */
    sr_wipe(w->key, sizeof(w->key));
    sr_wipe(w->rec, sizeof(w->rec));
    free(w);
}

static enum sr_err build_header(struct stor_writer *w, const struct stor_writer_cfg *cfg,
                                const struct stor_call_info *call, struct buf *hdr)
{
    struct buf recip[STOR_MAX_RECIPIENTS];
    uint8_t tag[STOR_TAG_LEN];
    enum sr_err err = SR_OK;
    size_t i;

    size_t n = cfg->rcpt ? stor_recipients_count(cfg->rcpt) : cfg->n_recipients;

    for (i = 0; i < n; i++)
        buf_init(&recip[i], STOR_MAX_RECIP_DER);
    for (i = 0; i < n && !err; i++) {
        X509 *cert;
        if (cfg->rcpt) {
            err = stor_key_wrap(stor_recipients_get(cfg->rcpt, i), w->key, &recip[i]);
            continue;
        }
        if ((err = stor_cert_load(cfg->recipients[i], &cert))) {
            log_debug("recipient %zu: cannot load certificate %s", i, cfg->recipients[i]);
            break;
        }
        err = stor_key_wrap(cert, w->key, &recip[i]);
        X509_free(cert);
    }
    if (!err)
        err = stor_header_encode(hdr, w->id, (uint32_t)w->chunk_size, call, recip, n, w->key);
    if (!err)
        err = stor_header_tag(w->key, (const uint8_t *)hdr->p, hdr->len, tag);
    if (!err)
        err = buf_append(hdr, tag, sizeof(tag));
    if (!err && EVP_Digest(hdr->p, hdr->len, w->hh, NULL, EVP_sha256(), NULL) != 1)
        err = SR_ECRYPTO;
    for (i = 0; i < n; i++)
        buf_fini(&recip[i]);
    return err;
}

/* dir, or dir/id+suffix, on the heap; SR_ELIMIT past PATH_MAX. */
static enum sr_err path_of(const char *dir, const char *id, const char *suffix, char **out)
{
    int n = snprintf(NULL, 0, "%s%s%s%s", dir, id ? "/" : "", id ? id : "", suffix);

    if (n < 0 || n >= PATH_MAX)
        return SR_ELIMIT;
    *out = malloc((size_t)n + 1);
    if (!*out)
        return SR_ENOMEM;
    snprintf(*out, (size_t)n + 1, "%s%s%s%s", dir, id ? "/" : "", id ? id : "", suffix);
    return SR_OK;
}

enum sr_err stor_writer_open(struct stor_writer **out, const struct stor_writer_cfg *cfg,
                             const struct stor_call_info *call, char id_hex[STOR_ID_HEX])
{
    struct stor_writer *w;
    struct buf hdr;
    enum sr_err err;

    if (!out || !cfg || !call || !id_hex || !cfg->dir ||
        (!cfg->rcpt && (!cfg->recipients || cfg->n_recipients == 0 ||
                        cfg->n_recipients > STOR_MAX_RECIPIENTS)) ||
        cfg->chunk_size > STOR_MAX_CHUNK || cfg->sync > STOR_SYNC_NONE)
        return SR_EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return SR_ENOMEM;
    w->fd = -1;
    w->sync = cfg->sync;
    buf_init(&hdr, STOR_MAX_HEADER);
    w->chunk_size = cfg->chunk_size ? cfg->chunk_size : STOR_DEFAULT_CHUNK;
    /* Chunks end on page boundaries (their progress blocks count whole
     * pages): a chunk must hold the largest page. */
    if (w->chunk_size < PAGE_BUF)
        w->chunk_size = PAGE_BUF;
    w->max_buffered = cfg->max_buffered ? cfg->max_buffered : 4 * w->chunk_size;
    if (w->max_buffered < w->chunk_size)
        w->max_buffered = w->chunk_size;
    /* stor_writer_packet refuses packets once max_buffered is reached; what
     * is already in the streams' pages (one per stream at most, and a
     * packet may span pages) may still come out, hence the slack. */
    buf_init(&w->plain, w->max_buffered + (size_t)STOR_MAX_STREAMS * 2 * 65536);
    w->sha = EVP_MD_CTX_new();
    w->cipher = EVP_CIPHER_CTX_new();
    err = SR_ENOMEM;
    if (!w->sha || !w->cipher)
        goto fail;
    /* The plaintext buffer grows to what one flush interval gathers (about
     * 20 KB for a two-party G.711 call and a 1 s flush), not to a chunk:
     * reserved per call, a chunk and a page were 68 KiB for every call. */
    err = SR_ECRYPTO;
    if (EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL) != 1)
        goto fail;
    if ((err = sr_random(w->key, sizeof(w->key))) || (err = sr_random(w->id, sizeof(w->id))) ||
        (err = sr_random(&w->serial_next, sizeof(w->serial_next))))
        goto fail;
    if ((err = build_header(w, cfg, call, &hdr)))
        goto fail;

    sr_hex_encode(w->id, sizeof(w->id), id_hex);
    if ((err = path_of(cfg->dir, NULL, "", &w->dir)) ||
        (err = path_of(cfg->dir, id_hex, ".srec", &w->final_path)) ||
        (err = path_of(cfg->dir, id_hex, ".srec.partial", &w->partial)))
        goto fail;
    w->fd = open(w->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (w->fd < 0) {
        err = sr_err_from_errno(errno);
        log_debug("open %s: %s", w->partial, strerror(errno));
        goto fail;
    }
    /* Only STOR_SYNC_FLUSH makes the header durable now: under the others a
     * power cut before close may leave a headerless .partial, which
     * recovery counts as damaged (there was nothing durable to keep). */
    if ((err = sr_write_all(w->fd, hdr.p, hdr.len)) ||
        (w->sync == STOR_SYNC_FLUSH && fdatasync(w->fd) != 0)) {
        if (!err)
            err = sr_err_from_errno(errno);
        unlink(w->partial);
        goto fail;
    }
    w->committed = hdr.len;
    buf_fini(&hdr);
    *out = w;
    return SR_OK;
fail:
    buf_fini(&hdr);
    writer_free(w);
    return err;
}

enum sr_err stor_writer_add_stream(struct stor_writer *w, const struct stor_stream_info *si,
                                   unsigned *idx)
{
    struct wstream *ns, *s;
    enum sr_err err;

    if (!w || !si || !idx || si->payload_type > 127 || si->direction > STOR_DIR_RECV)
        return SR_EINVAL;
    if (w->failed || w->closing)
        return SR_ESTATE;
    if (w->n_streams >= STOR_MAX_STREAMS ||
        w->serials + 1 + (w->group_sealed ? w->n_streams : 0) > STOR_MAX_SERIALS)
        return SR_ELIMIT;
    ns = realloc(w->streams, (w->n_streams + 1) * sizeof(*ns));
    if (!ns)
        return SR_ENOMEM;
    w->streams = ns;
    if (w->group_sealed) {
        /* A new chain link: end every stream, restart them with new serials. */
        if ((err = end_all_streams(w)))
            return err;
        w->group_sealed = false;
        for (size_t i = 0; i < w->n_streams; i++)
            if ((err = stream_begin(w, &w->streams[i], (unsigned)i, true)))
                return err;
    }
    s = &w->streams[w->n_streams];
    memset(s, 0, sizeof(*s));
    s->pg.buf = malloc(PAGE_BUF);
    if (!s->pg.buf)
        return SR_ENOMEM;
    s->info = *si;
    s->info.codec[sizeof(s->info.codec) - 1] = '\0';
    s->info.label[sizeof(s->info.label) - 1] = '\0';
    w->n_streams++;
    if ((err = stream_begin(w, s, (unsigned)(w->n_streams - 1), false)))
        return err;
    *idx = (unsigned)(w->n_streams - 1);
    return SR_OK;
}

#define MAX_OFFSET_US (1000000ull * 86400 * 366)
#define MAX_TS_DELTA (1ull << 52)

/* Granule = the packet's media time in its stream's clock units since the
 * archive's first packet; the RTP timestamp itself is in the record. */
static int64_t granule_of(struct stor_writer *w, struct wstream *s, const struct stor_pkt *p)
{
    uint64_t rate = s->info.clock_rate ? s->info.clock_rate : 8000, delta;
    int64_t g;

    if (!w->have_origin) {
        w->have_origin = true;
        w->origin_us = p->arrival_wall_us;
    }
    if (!s->have_first) {
        uint64_t off = p->arrival_wall_us > w->origin_us ? p->arrival_wall_us - w->origin_us : 0;
        if (off > MAX_OFFSET_US)
            off = MAX_OFFSET_US;
        s->have_first = true;
        s->first_ts = p->ext_ts;
        s->base = (int64_t)(off / 1000000 * rate + off % 1000000 * rate / 1000000);
        s->granule = s->base;
    }
    delta = p->ext_ts > s->first_ts ? p->ext_ts - s->first_ts : 0;
    if (delta > MAX_TS_DELTA)
        delta = MAX_TS_DELTA;
    g = s->base + (int64_t)delta;
    if (g > s->granule)
        s->granule = g;
    return s->granule;
}

enum sr_err stor_writer_packet(struct stor_writer *w, unsigned idx, const struct stor_pkt *p)
{
    struct wstream *s;
    enum sr_err err;
    int64_t g;

    if (!w || !p || idx >= w->n_streams || (p->payload_len && !p->payload))
        return SR_EINVAL;
    if (p->payload_len > STOR_MAX_PAYLOAD)
        return SR_ELIMIT;
    if (w->failed || w->closing)
        return SR_ESTATE;
    if (w->nospace && w->plain.len >= w->max_buffered) {
        w->nospace_drops++;
        return SR_ENOSPC; /* nothing changed: the caller counts the loss */
    }
    if (!w->group_sealed && (err = group_seal(w)))
        return err;
    s = &w->streams[idx];
    g = granule_of(w, s, p);
    stor_ogg_pkt_encode(w->rec, p);
    if ((err = packet_in(w, s, w->rec, sizeof(w->rec), p->payload, p->payload_len, false, false,
                         g, (p->flags & STOR_PKT_ENCRYPTED) ? PKT_DATA_ENC : PKT_DATA)))
        return err;
    w->packets++;
    if (p->flags & STOR_PKT_ENCRYPTED)
        w->enc_packets++;
    return SR_OK;
}

enum sr_err stor_writer_flush(struct stor_writer *w)
{
    enum sr_err err;

    if (!w)
        return SR_EINVAL;
    if (w->failed || w->closing)
        return SR_ESTATE;
    if ((err = flush_all_streams(w)))
        return err;
    w->nospace = false; /* try the disk again */
    if ((err = seal_plain(w, true)))
        return err;
    if (w->dirty && w->sync == STOR_SYNC_FLUSH) {
        /* Durable before we call it flushed: a power cut now loses nothing
         * handed to the writer before this call.  The other policies stop
         * at write(): enough for kill -9, the page cache survives it. */
        if (fdatasync(w->fd) != 0)
            return fail(w, sr_err_from_errno(errno));
        w->dirty = false;
    }
    return SR_OK;
}

bool stor_writer_nospace(const struct stor_writer *w)
{
    return w && w->nospace;
}

uint64_t stor_writer_nospace_drops(const struct stor_writer *w)
{
    return w ? w->nospace_drops : 0;
}

uint64_t stor_writer_bytes(const struct stor_writer *w)
{
    return w ? w->plain_bytes : 0;
}

static enum sr_err sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    enum sr_err err = SR_OK;

    if (fd < 0)
        return sr_err_from_errno(errno);
    if (fsync(fd) != 0)
        err = sr_err_from_errno(errno);
    close(fd);
    return err;
}

/* Each step is done once: a retry after SR_ENOSPC/SR_EIO resumes where
 * the last try stopped (a failed chunk write left the file on a whole
 * chunk and the plaintext in place). */
enum sr_err stor_writer_seal(struct stor_writer *w, const struct stor_counts *counts,
                             enum stor_end end, char *path_out, size_t path_len)
{
    enum sr_err err = SR_OK;

    if (!w || (end != STOR_END_COMPLETE && end != STOR_END_SHUTDOWN))
        return SR_EINVAL;
    if (w->failed)
        return SR_ESTATE;
    if (!w->closing) {
        if (w->n_streams && !w->group_sealed)
            err = group_seal(w);
        if (!err)
            err = end_all_streams(w);
        if (err)
            return fail(w, err);
        if (EVP_DigestFinal_ex(w->sha, w->final_sha, NULL) != 1)
            return fail(w, SR_ECRYPTO);
        w->closing = true;
    }
    w->nospace = false; /* try the disk again */
    if (!w->final_written) {
        struct stor_trailer t = { 0 };
        struct stor_progress pg = { 0 };
        uint8_t tr[STOR_TRAILER_LEN];
        if ((err = seal_plain(w, true)))
            return err;
        if (counts)
            t.counts = *counts;
        t.packets_written = w->packets;
        t.end_wall_us = sr_wall_us();
        t.plain_bytes = w->plain_bytes;
        t.data_chunks = w->chunk_index;
        t.n_streams = (uint32_t)w->n_streams;
        memcpy(t.sha, w->final_sha, sizeof(t.sha));
        pg.packets = w->done_pkts;
        pg.streams = w->done_streams;
        pg.end = (uint32_t)end;
        stor_trailer_encode(&t, tr);
        if ((err = seal_chunk(w, tr, sizeof(tr), true, &pg)))
            return err;
        w->final_written = true;
    }
    if (!w->synced) {
        if (w->sync != STOR_SYNC_NONE && fsync(w->fd) != 0) {
            /* Linux may have dropped the dirty pages that failed: the retry
             * can pass over a hole (docs/storage.md, "Disk full"). */
            err = sr_err_from_errno(errno);
            return retryable(err) ? err : fail(w, err);
        }
        w->synced = true;
    }
    if (w->signer && !w->signed_) {
        /* Hashed from the disk, not from what was written: the signature
         * covers the bytes a reader will find. */
        char id_hex[STOR_ID_HEX];
        uint8_t sig[STOR_SIG_FILE_LEN];
        if (!w->file_sha_hex[0]) {
            if ((err = stor_file_sha256(w->partial, w->file_sha)))
                return retryable(err) ? err : fail(w, err);
            sr_hex_encode(w->file_sha, sizeof(w->file_sha), w->file_sha_hex);
            w->sealed_wall_us = sr_wall_us();
        }
        sr_hex_encode(w->id, sizeof(w->id), id_hex);
        if (w->ledger && !w->ledgered) {
            err = stor_ledger_append(w->ledger, id_hex, w->file_sha,
                                     stor_signer_key_id(w->signer), w->sealed_wall_us);
            if (err) {
                /* Never a damaged archive for a ledger that cannot take the
                 * record: everything stays buffered and the file .partial,
                 * retried like a full disk (recovery seals it, unsigned, if
                 * the process gives up). */
                log_error("seal ledger: cannot record the seal of archive %s: %s", id_hex,
                          sr_strerror(err));
                return err == SR_ENOSPC ? err : SR_EIO;
            }
            w->ledgered = true;
        }
        if ((err = stor_sig_make(w->signer, w->id, w->file_sha, w->sealed_wall_us, sig)))
            return fail(w, err);
        if ((err = stor_sig_write(w->final_path, sig, w->sync != STOR_SYNC_NONE)))
            return retryable(err) ? err : fail(w, err);
        w->signed_ = true;
    }
    if (!w->renamed) {
        if (rename(w->partial, w->final_path) != 0) {
            err = sr_err_from_errno(errno);
            return retryable(err) ? err : fail(w, err);
        }
        w->renamed = true;
    }
    if (w->sync != STOR_SYNC_NONE && (err = sync_dir(w->dir)))
        return err;
    w->sealed = true;
    if (path_out) {
        int n = snprintf(path_out, path_len, "%s", w->final_path);
        if (n < 0 || (size_t)n >= path_len)
            return SR_ELIMIT;
    }
    return SR_OK;
}

enum sr_err stor_writer_close(struct stor_writer *w, const struct stor_counts *counts,
                              char *path_out, size_t path_len)
{
    enum sr_err err;

    if (!w)
        return SR_EINVAL;
    err = stor_writer_seal(w, counts, STOR_END_COMPLETE, path_out, path_len);
    if (err)
        log_debug("close %s: %s", w->partial, sr_strerror(err));
    writer_free(w);
    return err;
}

uint64_t stor_writer_pending(const struct stor_writer *w, uint64_t *encrypted)
{
    if (encrypted)
        *encrypted = w ? w->enc_packets - w->com_enc : 0;
    return w ? w->packets - w->com_pkts : 0;
}

uint64_t stor_writer_committed(const struct stor_writer *w, unsigned *streams)
{
    if (streams)
        *streams = w ? w->com_streams : 0;
    return w ? w->com_pkts : 0;
}

void stor_writer_sign(struct stor_writer *w, const struct stor_signer *signer,
                      struct chainlog *ledger)
{
    w->signer = signer;
    w->ledger = signer ? ledger : NULL;
}

const char *stor_writer_file_sha256(const struct stor_writer *w)
{
    return w && w->sealed && w->signed_ ? w->file_sha_hex : NULL;
}

void stor_writer_abandon(struct stor_writer *w)
{
    writer_free(w);
}
