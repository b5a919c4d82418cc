/** @file reader.c  Reads one archive: header and key unwrap, then chunks in order, then Ogg.
 *
 * Every chunk is authenticated before a byte of it reaches the Ogg parser;
 * the reader names the chunk index of the first problem.  Any error is
 * sticky: later calls repeat it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ogg/ogg.h>
#include <openssl/evp.h>

#include "stor_priv.h"
#include "util.h"

struct rlog { /* one logical stream (one chain link of one RTP stream) */
    uint32_t serial;
    unsigned idx;
    ogg_stream_state os;
    unsigned nhdr; /* header packets seen, up to 3 */
    bool cont, ended;
};

struct stor_reader {
    int fd;
    uint8_t key[STOR_KEY_LEN], id[STOR_ID_LEN], hh[STOR_HASH_LEN];
    char id_hex[STOR_ID_HEX];
    struct stor_call_info call;
    size_t chunk_size;
    uint64_t index; /* of the next chunk */
    uint8_t *ct, *pt;
    EVP_MD_CTX *sha;
    uint64_t plain_bytes, packets;
    const uint8_t *in; /* plaintext not yet framed into pages */
    size_t in_len;
    size_t pt_used;    /* bytes of pt holding plaintext, wiped once framed */
    struct stor_stream_info *streams;
    bool *known; /* INFO packet seen */
    size_t n_streams;
    struct rlog *logs;
    size_t n_logs;
    long cur; /* logs[] index being drained, or -1 */
    struct stor_trailer trailer;
    uint64_t off;      /* file offset of the next frame */
    bool recovered;    /* ended in a recovery marker, not a trailer */
    bool have_progress; /* the last chunk read carried a progress block */
    struct stor_progress progress; /* of the last chunk that carried one */
    enum stor_end end;
    struct stor_recovery recovery;
    struct stor_pagecheck *pc;
    bool mem_mode;     /* stor_ogg_read_mem: plaintext from memory, no chunks */
    bool no_hash;      /* stor_reader_first_pass: no plaintext SHA-256 */
    const uint8_t *mem;
    size_t mem_len;
    bool closed;
    enum sr_err sticky;
    const char *sticky_why;
    char why[192];
};

static enum sr_err bad(struct stor_reader *r, enum sr_err err, const char **why, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

static enum sr_err bad(struct stor_reader *r, enum sr_err err, const char **why, const char *fmt,
                       ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    r->sticky = err;
    r->sticky_why = r->why;
    if (why)
        *why = r->why;
    return err;
}

static enum sr_err read_full(int fd, void *buf, size_t n, size_t *got)
{
    uint8_t *p = buf;

    *got = 0;
    while (*got < n) {
        ssize_t rd = read(fd, p + *got, n - *got);
        if (rd < 0) {
            if (errno == EINTR)
                continue;
            return sr_err_from_errno(errno);
        }
        if (rd == 0)
            break;
        *got += (size_t)rd;
    }
    return SR_OK;
}

void stor_reader_close(struct stor_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; i < r->n_logs; i++)
        ogg_stream_clear(&r->logs[i].os);
    free(r->logs);
    free(r->streams);
    free(r->known);
    stor_pagecheck_destroy(r->pc);
    if (r->pt)
        sr_wipe(r->pt, r->chunk_size + STOR_TAG_LEN);
    free(r->pt);
    free(r->ct);
    EVP_MD_CTX_free(r->sha);
    sr_wipe(r->key, sizeof(r->key));
    free(r);
}

static enum sr_err unwrap_any(struct stor_reader *r, const struct stor_header *h, X509 *cert,
                              EVP_PKEY *pkey, const char **why)
{
    bool crypto_fail = false, malformed = false;

    for (size_t i = 0; i < h->n_recip; i++) {
        enum sr_err err = stor_key_unwrap(cert, pkey, h->recip[i].der, h->recip[i].len, r->key);
        if (err == SR_OK)
            return SR_OK;
        if (err == SR_ECRYPTO)
            crypto_fail = true;
        else if (err != SR_ENOTFOUND)
            malformed = true;
    }
    if (crypto_fail) {
        *why = "key unwrap failed for this certificate's recipient block (wrong key or tampered)";
        return SR_ECRYPTO;
    }
    *why = malformed ? "certificate is not a recipient (and a recipient block is malformed)"
                     : "certificate is not a recipient of this archive";
    return SR_ENOKEY;
}

static enum sr_err open_header(struct stor_reader *r, X509 *cert, EVP_PKEY *pkey,
                               const char **why)
{
    uint8_t prefix[STOR_PREFIX_LEN], tag[STOR_TAG_LEN], *raw = NULL;
    struct stor_header h;
    size_t total, got;
    enum sr_err err;

    if ((err = read_full(r->fd, prefix, sizeof(prefix), &got))) {
        *why = "cannot read archive";
        return err;
    }
    if (got < 8 || memcmp(prefix, STOR_MAGIC, 8) != 0) {
        *why = "not an srtprec archive (bad magic)";
        return SR_EPARSE;
    }
    if (got < sizeof(prefix)) {
        *why = "truncated: header cut short";
        return SR_EPARSE;
    }
    if ((err = stor_header_prefix(prefix, &total, why)))
        return err;
    raw = malloc(total);
    if (!raw)
        return SR_ENOMEM;
    memcpy(raw, prefix, sizeof(prefix));
    if ((err = read_full(r->fd, raw + sizeof(prefix), total - sizeof(prefix), &got))) {
        *why = "cannot read archive";
        goto out;
    }
    err = SR_EPARSE;
    if (got < total - sizeof(prefix)) {
        *why = "truncated: header cut short";
        goto out;
    }
    if ((err = stor_header_parse(raw, total, &h, why)))
        goto out;
    if ((err = unwrap_any(r, &h, cert, pkey, why)))
        goto out;
    err = stor_header_tag(r->key, raw, total - STOR_TAG_LEN, tag);
    if (err)
        goto out;
    if (!sr_ct_equal(tag, raw + total - STOR_TAG_LEN, STOR_TAG_LEN)) {
        *why = "header failed authentication (header tampered)";
        err = SR_EAUTH;
        goto out;
    }
    /* Version 2: the Call-ID and parties are sealed in the header. */
    if ((err = stor_header_open_call(&h, raw, r->key, why)))
        goto out;
    if (EVP_Digest(raw, total, r->hh, NULL, EVP_sha256(), NULL) != 1) {
        err = SR_ECRYPTO;
        goto out;
    }
    memcpy(r->id, h.id, sizeof(r->id));
    sr_hex_encode(r->id, sizeof(r->id), r->id_hex);
    r->call = h.call;
    r->chunk_size = h.chunk_size;
    r->off = total;
    err = SR_OK;
out:
    free(raw);
    return err;
}

enum sr_err stor_reader_open_fd(struct stor_reader **out, int fd, X509 *cert, EVP_PKEY *pkey,
                                const char **why)
{
    struct stor_reader *r;
    const char *dummy;
    enum sr_err err;

    if (!why)
        why = &dummy;
    *why = NULL;
    if (!out || fd < 0 || !cert || !pkey) {
        if (fd >= 0)
            close(fd);
        *why = "invalid argument";
        return SR_EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        close(fd);
        return SR_ENOMEM;
    }
    r->fd = fd;
    r->cur = -1;
    if ((err = open_header(r, cert, pkey, why)))
        goto fail;
    if ((err = stor_pagecheck_create(&r->pc)))
        goto fail;
    err = SR_ENOMEM;
    r->ct = malloc(r->chunk_size + STOR_TAG_LEN);
    r->pt = malloc(r->chunk_size + STOR_TAG_LEN);
    r->sha = EVP_MD_CTX_new();
    if (!r->ct || !r->pt || !r->sha)
        goto fail;
    err = SR_ECRYPTO;
    if (EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL) != 1)
        goto fail;
    *out = r;
    return SR_OK;
fail:
    stor_reader_close(r);
    return err;
}

enum sr_err stor_reader_open(struct stor_reader **out, const char *path, const char *cert_file,
                             const char *key_file, const char **why)
{
    const char *dummy;
    X509 *cert;
    EVP_PKEY *pkey;
    enum sr_err err;
    int fd;

    if (!why)
        why = &dummy;
    if (!out || !path || !cert_file || !key_file) {
        *why = "invalid argument";
        return SR_EINVAL;
    }
    if ((err = stor_creds_load(cert_file, key_file, &cert, &pkey, why)))
        return err;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = errno == ENOENT ? SR_ENOTFOUND : sr_err_from_errno(errno);
        *why = "cannot open archive";
    } else {
        err = stor_reader_open_fd(out, fd, cert, pkey, why);
    }
    X509_free(cert);
    EVP_PKEY_free(pkey);
    return err;
}

static enum sr_err trailing_data(struct stor_reader *r, const char **why, const char *after)
{
    uint8_t extra;
    size_t got;

    if (read_full(r->fd, &extra, 1, &got) || got != 0)
        return bad(r, SR_EPARSE, why, "trailing data after %s", after);
    return SR_OK;
}

/* A recovery marker (frame flag 2): plaintext, checked against what was read. */
static enum sr_err recovery_marker(struct stor_reader *r, size_t n, const char **why)
{
    unsigned long long i = r->index;
    uint8_t body[STOR_RECOVERY_LEN], id[STOR_ID_LEN];
    size_t got;
    enum sr_err err;

    if (n != STOR_RECOVERY_LEN)
        return bad(r, SR_EPARSE, why, "recovery marker after chunk %llu: length %zu", i, n);
    if ((err = read_full(r->fd, body, n, &got)))
        return bad(r, err, why, "recovery marker: read failed");
    if (got < n)
        return bad(r, SR_EPARSE, why, "truncated: recovery marker cut short");
    if (stor_recovery_parse(body, n, &r->recovery, id))
        return bad(r, SR_EPARSE, why, "recovery marker after chunk %llu malformed", i);
    if (memcmp(id, r->id, sizeof(id)) != 0 || r->recovery.data_chunks != r->index ||
        r->recovery.offset != r->off)
        return bad(r, SR_EPARSE, why,
                   "recovery marker does not match the archive (it claims %llu chunks at "
                   "offset %llu; the file has %llu chunks at offset %llu)",
                   (unsigned long long)r->recovery.data_chunks,
                   (unsigned long long)r->recovery.offset, i, (unsigned long long)r->off);
    if ((err = trailing_data(r, why, "the recovery marker")))
        return err;
    r->recovered = true;
    return SR_OK;
}

/* The next chunk, authenticated, into r->pt.  A recovery marker sets
 * r->recovered and returns with *final set and *len 0. */
static enum sr_err next_chunk(struct stor_reader *r, size_t *len, bool *final, const char **why)
{
    uint8_t frame[STOR_FRAME_LEN], pb[STOR_PROGRESS_LEN];
    const uint8_t *progress = NULL;
    unsigned long long i = r->index;
    size_t n, got;
    enum sr_err err;

    if ((err = read_full(r->fd, frame, sizeof(frame), &got)))
        return bad(r, err, why, "chunk %llu: read failed", i);
    if (got == 0)
        return bad(r, SR_EPARSE, why,
                   "truncated: archive ends after %llu chunks without a final chunk", i);
    if (got < sizeof(frame))
        return bad(r, SR_EPARSE, why, "truncated: chunk %llu cut short (in its frame)", i);
    n = stor_get32(frame);
    if (frame[4] == STOR_FRAME_RECOVERY) {
        *final = true;
        *len = 0;
        return recovery_marker(r, n, why);
    }
    if (frame[4] > STOR_FRAME_FINAL_P)
        return bad(r, SR_EPARSE, why, "chunk %llu: bad final flag", i);
    *final = frame[4] == 1 || frame[4] == STOR_FRAME_FINAL_P;
    if (frame[4] >= STOR_FRAME_DATA_P) {
        struct stor_progress pg;
        if ((err = read_full(r->fd, pb, sizeof(pb), &got)))
            return bad(r, err, why, "chunk %llu: read failed", i);
        if (got < sizeof(pb))
            return bad(r, SR_EPARSE, why, "truncated: chunk %llu cut short (in its frame)", i);
        stor_progress_parse(pb, &pg);
        /* Bound into the AAD: checked with the tag below, then against
         * what was read (finish_ogg). */
        if ((*final ? pg.end != STOR_END_COMPLETE && pg.end != STOR_END_SHUTDOWN : pg.end != 0) ||
            (r->have_progress && (pg.packets < r->progress.packets ||
                                  pg.streams < r->progress.streams)))
            return bad(r, SR_EPARSE, why, "chunk %llu: progress block out of range", i);
        progress = pb;
    } else if (r->have_progress) {
        return bad(r, SR_EPARSE, why, "chunk %llu: frame without progress after one with", i);
    }
    if (*final ? n != STOR_TRAILER_LEN + STOR_TAG_LEN
               : n <= STOR_TAG_LEN || n > r->chunk_size + STOR_TAG_LEN)
        return bad(r, SR_EPARSE, why, "chunk %llu: length %zu out of range", i, n);
    if ((err = read_full(r->fd, r->ct, n, &got)))
        return bad(r, err, why, "chunk %llu: read failed", i);
    if (got < n)
        return bad(r, SR_EPARSE, why, "truncated: chunk %llu cut short", i);
    err = stor_chunk_open(r->key, r->id, r->hh, r->index, *final, progress, r->ct, n, r->pt);
    if (err == SR_EAUTH)
        return bad(r, err, why,
                   "chunk %llu%s failed authentication (tampered, reordered or wrong key)", i,
                   *final ? " (final)" : "");
    if (err)
        return bad(r, err, why, "chunk %llu: decryption error", i);
    r->index++;
    r->off += STOR_FRAME_LEN + (progress ? STOR_PROGRESS_LEN : 0) + n;
    if (progress) {
        stor_progress_parse(progress, &r->progress);
        r->have_progress = true;
    }
    if (*final)
        r->end = progress ? (enum stor_end)r->progress.end : STOR_END_COMPLETE;
    *len = n - STOR_TAG_LEN;
    return SR_OK;
}

static enum sr_err add_plain(struct stor_reader *r, size_t len, const char **why)
{
    if (!r->no_hash && EVP_DigestUpdate(r->sha, r->pt, len) != 1)
        return bad(r, SR_ECRYPTO, why, "hash failure");
    r->plain_bytes += len;
    return SR_OK;
}

/* The final chunk: trailer against what was read. */
static enum sr_err finish_chunks(struct stor_reader *r, size_t len, const char **why)
{
    uint8_t sha[STOR_HASH_LEN];
    const char *w;
    unsigned long long fi = r->index - 1;

    if (stor_trailer_parse(r->pt, len, &r->trailer, &w))
        return bad(r, SR_EPARSE, why, "chunk %llu (final): %s", fi, w);
    if (r->trailer.data_chunks != fi)
        return bad(r, SR_EPARSE, why, "trailer counts %llu data chunks, archive has %llu",
                   (unsigned long long)r->trailer.data_chunks, fi);
    if (r->trailer.plain_bytes != r->plain_bytes)
        return bad(r, SR_EPARSE, why, "trailer counts %llu plaintext bytes, archive has %llu",
                   (unsigned long long)r->trailer.plain_bytes,
                   (unsigned long long)r->plain_bytes);
    if (EVP_DigestFinal_ex(r->sha, sha, NULL) != 1)
        return bad(r, SR_ECRYPTO, why, "hash failure");
    if (!r->no_hash && !sr_ct_equal(sha, r->trailer.sha, sizeof(sha)))
        return bad(r, SR_EAUTH, why, "plaintext SHA-256 differs from the trailer's");
    if (trailing_data(r, why, "the final chunk"))
        return bad(r, SR_EPARSE, why, "trailing data after the final chunk %llu", fi);
    return SR_OK;
}

/* The next chunk's plaintext (authenticated, hashed), not yet framed. */
static enum sr_err plain_chunk(struct stor_reader *r, const uint8_t **pt, size_t *len,
                               const char **why)
{
    enum sr_err err;
    bool final = false;

    if (r->sticky) {
        if (why)
            *why = r->sticky_why;
        return r->sticky;
    }
    if (r->mem_mode) {
        if (!r->mem) {
            r->closed = true;
            r->sticky = SR_ECLOSED;
            return SR_ECLOSED;
        }
        *pt = r->mem;
        *len = r->mem_len;
        r->mem = NULL;
        return SR_OK;
    }
    if ((err = next_chunk(r, len, &final, why)))
        return err;
    if (final) {
        if (!r->recovered && (err = finish_chunks(r, *len, why)))
            return err;
        r->closed = true;
        r->sticky = SR_ECLOSED;
        r->sticky_why = NULL;
        return SR_ECLOSED;
    }
    if ((err = add_plain(r, *len, why)))
        return err;
    r->pt_used = *len;
    *pt = r->pt;
    return SR_OK;
}

static enum sr_err page_fail(struct stor_reader *r, enum sr_err err, const char **why,
                             const char *pcw)
{
    if (r->mem_mode)
        return bad(r, err, why, "%s", pcw);
    return bad(r, err, why, "chunk %llu: %s", (unsigned long long)(r->index - 1), pcw);
}

enum sr_err stor_reader_next_plain(struct stor_reader *r, const uint8_t **pt, size_t *len,
                                   const char **why)
{
    enum sr_err err;
    const char *pcw = NULL;

    if ((err = plain_chunk(r, pt, len, why)))
        return err;
    if ((err = stor_pagecheck_feed(r->pc, *pt, *len, &pcw)))
        return page_fail(r, err, why, pcw);
    return SR_OK;
}

static bool idx_live(const struct stor_reader *r, unsigned idx)
{
    for (size_t i = 0; i < r->n_logs; i++)
        if (r->logs[i].nhdr > 0 && r->logs[i].idx == idx)
            return true;
    return false;
}

static enum sr_err new_stream(struct stor_reader *r, const char **why)
{
    struct stor_stream_info *ns;
    bool *nk;

    if (r->n_streams >= STOR_MAX_STREAMS)
        return bad(r, SR_ELIMIT, why, "more than %d streams", STOR_MAX_STREAMS);
    ns = realloc(r->streams, (r->n_streams + 1) * sizeof(*ns));
    if (!ns)
        return SR_ENOMEM;
    r->streams = ns;
    nk = realloc(r->known, (r->n_streams + 1) * sizeof(*nk));
    if (!nk)
        return SR_ENOMEM;
    r->known = nk;
    memset(&r->streams[r->n_streams], 0, sizeof(*ns));
    r->known[r->n_streams++] = false;
    return SR_OK;
}

/* One Ogg packet of logical stream l; *got when it is an RTP packet for the caller. */
static enum sr_err on_packet(struct stor_reader *r, struct rlog *l, const ogg_packet *op,
                             unsigned *idx, struct stor_pkt *p, bool *got, const char **why)
{
    const uint8_t *d = op->packet;
    size_t len = (size_t)op->bytes;
    struct stor_stream_info si;
    unsigned sidx;
    bool cont;
    enum sr_err err;

    *got = false;
    if (l->ended)
        return bad(r, SR_EPARSE, why, "Ogg: packet after end of stream (serial %08x)", l->serial);
    if ((op->b_o_s != 0) != (l->nhdr == 0))
        return bad(r, SR_EPARSE, why, "Ogg: misplaced BOS (serial %08x)", l->serial);
    switch (l->nhdr) {
    case 0:
        if (stor_ogg_id_parse(d, len, &sidx, &cont))
            return bad(r, SR_EPARSE, why, "Ogg: unknown mapping (serial %08x)", l->serial);
        if (cont ? sidx >= r->n_streams || idx_live(r, sidx) : sidx != r->n_streams)
            return bad(r, SR_EPARSE, why, "Ogg: stream index %u out of order", sidx);
        if (!cont && (err = new_stream(r, why)))
            return err;
        l->idx = sidx;
        l->cont = cont;
        l->nhdr = 1;
        return SR_OK;
    case 1:
        if (stor_ogg_info_parse(d, len, &si))
            return bad(r, SR_EPARSE, why, "Ogg: stream %u: bad info header", l->idx);
        if (l->cont) {
            if (!r->known[l->idx] || !stor_stream_info_equal(&si, &r->streams[l->idx]))
                return bad(r, SR_EPARSE, why, "Ogg: stream %u: continuation differs", l->idx);
        } else {
            r->streams[l->idx] = si;
            r->known[l->idx] = true;
        }
        l->nhdr = 2;
        return SR_OK;
    case 2:
        if (stor_ogg_tags_parse(d, len, &si))
            return bad(r, SR_EPARSE, why, "Ogg: stream %u: bad tags header", l->idx);
        if (l->cont && si.plain != r->streams[l->idx].plain)
            return bad(r, SR_EPARSE, why, "Ogg: stream %u: continuation differs", l->idx);
        if (!l->cont)
            r->streams[l->idx].plain = si.plain;
        l->nhdr = 3;
        return SR_OK;
    default:
        break;
    }
    if (len == 0) {
        if (!op->e_o_s)
            return bad(r, SR_EPARSE, why, "Ogg: stream %u: empty packet", l->idx);
        l->ended = true;
        return SR_OK;
    }
    if (op->e_o_s || stor_ogg_pkt_parse(d, len, p))
        return bad(r, SR_EPARSE, why, "Ogg: stream %u: malformed packet record", l->idx);
    *idx = l->idx;
    *got = true;
    r->packets++;
    return SR_OK;
}

static enum sr_err on_page(struct stor_reader *r, ogg_page *og, const char **why)
{
    uint32_t serial = (uint32_t)ogg_page_serialno(og);
    size_t i;

    for (i = 0; i < r->n_logs; i++)
        if (r->logs[i].serial == serial)
            break;
    if (ogg_page_bos(og)) {
        struct rlog *nl;
        if (i < r->n_logs)
            return bad(r, SR_EPARSE, why, "Ogg: second BOS for serial %08x", serial);
        if (r->n_logs >= STOR_MAX_STREAMS)
            return bad(r, SR_ELIMIT, why, "Ogg: more than %d open logical streams",
                       STOR_MAX_STREAMS);
        nl = realloc(r->logs, (r->n_logs + 1) * sizeof(*nl));
        if (!nl)
            return SR_ENOMEM;
        r->logs = nl;
        memset(&nl[i], 0, sizeof(*nl));
        nl[i].serial = serial;
        ogg_stream_init(&nl[i].os, (int)serial);
        r->n_logs++;
    } else if (i == r->n_logs) {
        return bad(r, SR_EPARSE, why, "Ogg: page of unknown serial %08x", serial);
    }
    if (ogg_stream_pagein(&r->logs[i].os, og) != 0)
        return bad(r, SR_EPARSE, why, "Ogg: page rejected (serial %08x)", serial);
    r->cur = (long)i;
    return SR_OK;
}

static void drop_log(struct stor_reader *r, size_t i)
{
    ogg_stream_clear(&r->logs[i].os);
    r->logs[i] = r->logs[--r->n_logs];
}

static enum sr_err finish_ogg(struct stor_reader *r, const char **why)
{
    const char *pcw = NULL;

    if (stor_pagecheck_end(r->pc, r->recovered, &pcw))
        return bad(r, SR_EPARSE, why, "Ogg: %s", pcw);
    /* Every progress block is authenticated: one that disagrees with the
     * pages is the writer's error, and recovery's index row would be wrong. */
    if (!r->mem_mode && r->have_progress &&
        (r->progress.packets != r->packets || r->progress.streams != r->n_streams))
        return bad(r, SR_EPARSE, why,
                   "progress block counts %llu packets in %u streams, archive has %llu in %zu",
                   (unsigned long long)r->progress.packets, r->progress.streams,
                   (unsigned long long)r->packets, r->n_streams);
    if (r->recovered)
        return SR_OK; /* cut by a crash: no EOS pages, no trailer to compare */
    if (r->n_logs)
        return bad(r, SR_EPARSE, why, "Ogg: stream %u has no end-of-stream page", r->logs[0].idx);
    for (size_t i = 0; i < r->n_streams; i++)
        if (!r->known[i])
            return bad(r, SR_EPARSE, why, "Ogg: stream %zu has no info header", i);
    if (r->mem_mode)
        return SR_OK;
    if (r->trailer.n_streams != r->n_streams)
        return bad(r, SR_EPARSE, why, "trailer counts %u streams, archive has %zu",
                   r->trailer.n_streams, r->n_streams);
    if (r->trailer.packets_written != r->packets)
        return bad(r, SR_EPARSE, why, "trailer counts %llu packets, archive has %llu",
                   (unsigned long long)r->trailer.packets_written,
                   (unsigned long long)r->packets);
    return SR_OK;
}

enum sr_err stor_reader_next(struct stor_reader *r, unsigned *idx, struct stor_pkt *p,
                             const char **why)
{
    enum sr_err err;

    if (!r || !idx || !p)
        return SR_EINVAL;
    for (;;) {
        ogg_packet op;
        const uint8_t *page;
        const char *pcw = NULL;
        size_t page_len;
        int rc;

        if (r->sticky) {
            if (why)
                *why = r->sticky_why;
            return r->sticky;
        }
        if (r->cur >= 0) {
            struct rlog *l = &r->logs[r->cur];
            bool got;
            rc = ogg_stream_packetout(&l->os, &op);
            if (rc < 0)
                return bad(r, SR_EPARSE, why, "Ogg: data missing in serial %08x", l->serial);
            if (rc == 1) {
                if ((err = on_packet(r, l, &op, idx, p, &got, why)))
                    return err;
                if (got)
                    return SR_OK;
                continue;
            }
            if (l->ended)
                drop_log(r, (size_t)r->cur);
            r->cur = -1;
        }
        /* Pages come straight from the chunk plaintext (our own framing and
         * checks): libogg's ogg_sync layer copied every byte and computed
         * the CRC a second time. */
        if ((err = stor_pagecheck_next(r->pc, &r->in, &r->in_len, &page, &page_len, &pcw)))
            return page_fail(r, err, why, pcw);
        if (page) {
            ogg_page og = {
                .header = (unsigned char *)(uintptr_t)page, /* libogg copies; never writes */
                .header_len = 27 + page[26],
            };
            og.body = og.header + og.header_len;
            og.body_len = (long)page_len - og.header_len;
            if ((err = on_page(r, &og, why)))
                return err;
            continue;
        }
        if (r->pt_used) {
            sr_wipe(r->pt, r->pt_used); /* framed and handed to libogg */
            r->pt_used = 0;
        }
        err = plain_chunk(r, &r->in, &r->in_len, why);
        if (err == SR_ECLOSED) {
            r->sticky = SR_OK; /* the Ogg checks decide now */
            if ((err = finish_ogg(r, why)))
                return err;
            r->sticky = SR_ECLOSED;
            return SR_ECLOSED;
        }
        if (err)
            return err;
    }
}

void stor_reader_first_pass(struct stor_reader *r)
{
    if (!r)
        return;
    stor_pagecheck_framing_only(r->pc);
    r->no_hash = true;
}

const struct stor_call_info *stor_reader_call(const struct stor_reader *r)
{
    return r ? &r->call : NULL;
}

const char *stor_reader_id(const struct stor_reader *r)
{
    return r ? r->id_hex : NULL;
}

size_t stor_reader_n_streams(const struct stor_reader *r)
{
    return r ? r->n_streams : 0;
}

const struct stor_stream_info *stor_reader_stream(const struct stor_reader *r, size_t idx)
{
    return r && idx < r->n_streams ? &r->streams[idx] : NULL;
}

const struct stor_counts *stor_reader_counts(const struct stor_reader *r)
{
    return r && r->closed && !r->recovered ? &r->trailer.counts : NULL;
}

const struct stor_recovery *stor_reader_recovery(const struct stor_reader *r)
{
    return r && r->closed && r->recovered ? &r->recovery : NULL;
}

enum stor_end stor_reader_end(const struct stor_reader *r)
{
    return r && r->closed && !r->recovered ? r->end : STOR_END_NONE;
}

const char *stor_end_name(enum stor_end e)
{
    switch (e) {
    case STOR_END_NONE: return "none";
    case STOR_END_COMPLETE: return "complete";
    case STOR_END_SHUTDOWN: return "shutdown";
    }
    return "unknown";
}

uint64_t stor_reader_end_wall_us(const struct stor_reader *r)
{
    if (!r || !r->closed)
        return 0;
    return r->recovered ? r->recovery.last_write_wall_us : r->trailer.end_wall_us;
}

uint64_t stor_reader_chunks(const struct stor_reader *r)
{
    return r ? r->index : 0;
}

static const char *generic_why(enum sr_err err)
{
    switch (err) {
    case SR_EAUTH: return "a chunk failed authentication (tampered, reordered or wrong key)";
    case SR_EPARSE: return "archive truncated or malformed";
    case SR_ESTATE: return "recovered after a crash: authentic up to where the recorder stopped";
    default: return sr_strerror(err);
    }
}

enum sr_err stor_verify_msg(const char *path, const char *cert_file, const char *key_file,
                            char *msg, size_t msglen)
{
    struct stor_reader *r;
    const char *why = NULL;
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    err = stor_reader_open(&r, path, cert_file, key_file, &why);
    if (!err) {
        while ((err = stor_reader_next(r, &idx, &p, &why)) == SR_OK)
            ;
        if (err == SR_ECLOSED)
            err = SR_OK;
    } else {
        r = NULL;
    }
    if (!err && stor_reader_recovery(r)) {
        const struct stor_recovery *rv = stor_reader_recovery(r);
        if (msg && msglen)
            snprintf(msg, msglen,
                     "recovered: %llu chunks authentic; the writer never sealed it (recorder "
                     "stopped), %llu torn bytes were cut",
                     (unsigned long long)rv->data_chunks, (unsigned long long)rv->torn_bytes);
        stor_reader_close(r);
        return SR_ESTATE;
    }
    if (msg && msglen)
        snprintf(msg, msglen, "%s", err ? (why ? why : sr_strerror(err)) : "OK");
    stor_reader_close(r);
    return err;
}

enum sr_err stor_verify(const char *path, const char *cert_file, const char *key_file,
                        const char **why)
{
    struct stor_reader *r;
    const char *w = NULL;
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    if ((err = stor_reader_open(&r, path, cert_file, key_file, &w))) {
        if (why)
            *why = w; /* static: open's reasons do not live in the reader */
        return err;
    }
    while ((err = stor_reader_next(r, &idx, &p, &w)) == SR_OK)
        ;
    if (err == SR_ECLOSED)
        err = stor_reader_recovery(r) ? SR_ESTATE : SR_OK;
    stor_reader_close(r);
    /* The precise text lived in the reader; stor_verify_msg keeps it. */
    if (why)
        *why = err ? generic_why(err) : NULL;
    return err;
}

enum sr_err stor_ogg_read_mem(const uint8_t *data, size_t len, size_t *packets)
{
    struct stor_reader *r;
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    *packets = 0;
    r = calloc(1, sizeof(*r));
    if (!r)
        return SR_ENOMEM;
    r->fd = -1;
    r->cur = -1;
    r->mem_mode = true;
    r->mem = data;
    r->mem_len = len;
    if ((err = stor_pagecheck_create(&r->pc))) {
        stor_reader_close(r);
        return err;
    }
    while ((err = stor_reader_next(r, &idx, &p, NULL)) == SR_OK) {
        if (idx >= r->n_streams || p.payload_len > STOR_MAX_PAYLOAD)
            abort(); /* the reader broke its own contract: let the fuzzer see it */
        (*packets)++;
    }
    stor_reader_close(r);
    return err;
}
