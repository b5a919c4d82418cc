/** @file recover.c  Closing archives a crash left open, and repairing the index.
 *
 * The recorder holds only public keys, so it cannot seal a crashed archive
 * the way the writer does (the final chunk needs the data key).  It does
 * not need to: every chunk already on disk is sealed on its own, and its
 * AAD binds its index, so what remains is to say where the archive ends.
 * Recovery finds the last whole chunk from the (unauthenticated) frame
 * lengths, cuts a torn tail off, and appends a plaintext recovery marker
 * (frame flag 2).  Readers authenticate every chunk as usual and report
 * the archive as recovered: authentic up to the marker, not known whole.
 * The marker gives a forger nothing: cutting a file at a chunk boundary was
 * already possible, and the index (and the operator's log) records which
 * archives recovery closed, with the file's SHA-256 in the marker.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "stor_priv.h"
#include "util.h"

static const char partial_sfx[] = ".srec.partial";

static enum sr_err read_at(int fd, void *buf, size_t n, uint64_t off, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t rd = pread(fd, (uint8_t *)buf + *got, n - *got, (off_t)(off + *got));
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

static enum sr_err hash_prefix(int fd, uint64_t len, uint8_t out[STOR_HASH_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t buf[65536];
    uint64_t off = 0;
    enum sr_err err = SR_ECRYPTO;

    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        goto out;
    while (off < len) {
        size_t want = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf), got;
        if ((err = read_at(fd, buf, want, off, &got)))
            goto out;
        err = SR_EIO;
        if (got != want)
            goto out;
        err = SR_ECRYPTO;
        if (EVP_DigestUpdate(md, buf, got) != 1)
            goto out;
        off += got;
    }
    err = EVP_DigestFinal_ex(md, out, NULL) == 1 ? SR_OK : SR_ECRYPTO;
out:
    EVP_MD_CTX_free(md);
    return err;
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

/* What the file holds, read from its plaintext framing. */
struct scan {
    struct stor_header h;
    uint8_t *raw;        /* the header bytes; h points into them */
    uint64_t size, end;  /* file size; offset after the last whole chunk */
    uint64_t chunks;
    bool sealed;         /* a final chunk ends the file: only the rename was missing */
    bool has_header;
    bool has_progress;   /* the last whole chunk carried a progress block */
    struct stor_progress pg; /* its block: what the kept chunks hold */
};

static enum sr_err scan_file(int fd, uint64_t size, struct scan *sc)
{
    uint8_t prefix[STOR_PREFIX_LEN], frame[STOR_FRAME_LEN];
    const char *why;
    size_t total, got;
    enum sr_err err;

    sc->size = size;
    if ((err = read_at(fd, prefix, sizeof(prefix), 0, &got)))
        return err;
    if (got < sizeof(prefix) || memcmp(prefix, STOR_MAGIC, 8) != 0 ||
        stor_header_prefix(prefix, &total, &why) || total > size)
        return SR_OK; /* no whole header: nothing can ever be read from it */
    sc->raw = malloc(total);
    if (!sc->raw)
        return SR_ENOMEM;
    if ((err = read_at(fd, sc->raw, total, 0, &got)))
        return err;
    if (got != total || stor_header_parse(sc->raw, total, &sc->h, &why))
        return SR_OK;
    sc->has_header = true;
    sc->end = total;
    for (;;) {
        uint8_t pb[STOR_PROGRESS_LEN];
        bool with_pg, final;
        uint64_t flen;
        uint32_t n;
        if ((err = read_at(fd, frame, sizeof(frame), sc->end, &got)))
            return err;
        if (got < sizeof(frame))
            break;
        n = stor_get32(frame);
        with_pg = frame[4] == STOR_FRAME_DATA_P || frame[4] == STOR_FRAME_FINAL_P;
        final = frame[4] == 1 || frame[4] == STOR_FRAME_FINAL_P;
        if (frame[4] > STOR_FRAME_FINAL_P || frame[4] == STOR_FRAME_RECOVERY)
            break;
        flen = sizeof(frame) + (with_pg ? STOR_PROGRESS_LEN : 0);
        if (with_pg) {
            if ((err = read_at(fd, pb, sizeof(pb), sc->end + sizeof(frame), &got)))
                return err;
            if (got < sizeof(pb))
                break;
        }
        if (final && n == STOR_TRAILER_LEN + STOR_TAG_LEN && sc->end + flen + n == size) {
            sc->sealed = true;
            sc->end = size;
            if (with_pg) {
                stor_progress_parse(pb, &sc->pg);
                sc->has_progress = true;
            }
            break;
        }
        if (final || n <= STOR_TAG_LEN || n > sc->h.chunk_size + STOR_TAG_LEN ||
            sc->end + flen + n > size)
            break; /* a torn (or zeroed) last chunk */
        sc->end += flen + n;
        sc->chunks++;
        sc->has_progress = with_pg;
        if (with_pg)
            stor_progress_parse(pb, &sc->pg);
    }
    return SR_OK;
}

/* A sealed archive's state as its final frame says (old archives: complete). */
static enum stor_state sealed_state(const struct scan *sc)
{
    return sc->has_progress && sc->pg.end == STOR_END_SHUTDOWN ? STOR_STATE_SHUTDOWN
                                                               : STOR_STATE_COMPLETE;
}

/* The plaintext framing of the file at path (sc->raw to be freed). */
static enum sr_err scan_path(const char *path, struct scan *sc, uint64_t *mtime_us)
{
    struct stat sb;
    enum sr_err err;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return sr_err_from_errno(errno);
    if (fstat(fd, &sb) != 0) {
        err = sr_err_from_errno(errno);
        close(fd);
        return err;
    }
    *mtime_us = (uint64_t)sb.st_mtim.tv_sec * 1000000u + (uint64_t)sb.st_mtim.tv_nsec / 1000u;
    err = scan_file(fd, (uint64_t)sb.st_size, sc);
    close(fd);
    return err;
}

static void index_fix(struct stor_index *ix, const char *id, const struct scan *sc,
                      enum stor_state state, uint64_t end_us, uint64_t bytes, const char *path,
                      struct stor_recover_stats *st)
{
    struct stor_record *rec = calloc(1, sizeof(*rec));
    enum sr_err err;

    if (!rec || !ix)
        goto out;
    err = stor_index_get(ix, id, rec);
    if (err == SR_ENOTFOUND) {
        /* The crash came before the recorder's first index write: the
         * header's plaintext call information fills the row. */
        memset(rec, 0, sizeof(*rec));
        snprintf(rec->id, sizeof(rec->id), "%s", id);
        if (sc && sc->has_header)
            rec->call = sc->h.call;
    } else if (err) {
        log_warn("recovery: index lookup of %s failed: %s", id, sr_strerror(err));
        goto out;
    }
    rec->state = state;
    rec->end_wall_us = end_us;
    rec->bytes = bytes;
    if (sc && sc->has_progress) {
        /* What a reader finds in the kept chunks (every packet, RTCP and
         * encrypted ones too, as `srtprec verify` counts them). */
        rec->packets = sc->pg.packets;
        rec->n_streams = sc->pg.streams;
    }
    snprintf(rec->path, sizeof(rec->path), "%s", path);
    if ((err = stor_index_put(ix, rec)))
        log_warn("recovery: index update of %s failed: %s", id, sr_strerror(err));
    else
        st->index_fixed++;
out:
    free(rec);
}

static enum sr_err recover_one(const char *dir, const char *name, struct stor_index *ix,
                               struct stor_recover_stats *st)
{
    char partial[PATH_MAX], final_path[PATH_MAX], id[STOR_ID_HEX];
    size_t idlen = strlen(name) - (sizeof(partial_sfx) - 1);
    struct scan sc = { 0 };
    struct stat sb;
    enum sr_err err;
    uint64_t mtime_us;
    int fd, n;

    if (idlen != STOR_ID_HEX - 1)
        return SR_OK; /* not one of ours */
    memcpy(id, name, idlen);
    id[idlen] = '\0';
    n = snprintf(partial, sizeof(partial), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(partial))
        return SR_ELIMIT;
    fd = open(partial, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return sr_err_from_errno(errno);
    if (fstat(fd, &sb) != 0) {
        err = sr_err_from_errno(errno);
        goto out;
    }
    mtime_us = (uint64_t)sb.st_mtim.tv_sec * 1000000u + (uint64_t)sb.st_mtim.tv_nsec / 1000u;
    if ((err = scan_file(fd, (uint64_t)sb.st_size, &sc)))
        goto out;
    if (!sc.has_header) {
        /* Moved aside so that the next start does not try again; kept as
         * the evidence of what happened. */
        n = snprintf(final_path, sizeof(final_path), "%s/%s.srec.damaged", dir, id);
        if (n < 0 || (size_t)n >= sizeof(final_path) || rename(partial, final_path) != 0) {
            err = SR_EIO;
            goto out;
        }
        log_warn("recovery: %s holds no whole header (%llu bytes): moved to %s, index: damaged",
                 partial, (unsigned long long)sc.size, final_path);
        index_fix(ix, id, NULL, STOR_STATE_DAMAGED, mtime_us, sc.size, final_path, st);
        st->damaged++;
        goto out;
    }
    sr_hex_encode(sc.h.id, sizeof(sc.h.id), id); /* the header's id names the file */
    n = snprintf(final_path, sizeof(final_path), "%s/%s.srec", dir, id);
    if (n < 0 || (size_t)n >= sizeof(final_path)) {
        err = SR_ELIMIT;
        goto out;
    }
    if (sc.sealed) {
        if (fsync(fd) != 0 || rename(partial, final_path) != 0) {
            err = sr_err_from_errno(errno);
            goto out;
        }
        log_notice("recovery: %s was sealed; only the rename was missing", final_path);
        index_fix(ix, id, &sc, sealed_state(&sc), mtime_us, sc.size, final_path, st);
    } else {
        struct stor_recovery rv = { 0 };
        uint8_t frame[STOR_FRAME_LEN + STOR_RECOVERY_LEN];
        rv.data_chunks = sc.chunks;
        rv.offset = sc.end;
        rv.recovered_wall_us = sr_wall_us();
        rv.last_write_wall_us = mtime_us;
        rv.torn_bytes = sc.size - sc.end;
        if ((err = hash_prefix(fd, sc.end, rv.file_sha256)))
            goto out;
        stor_put32(frame, STOR_RECOVERY_LEN);
        frame[4] = STOR_FRAME_RECOVERY;
        stor_recovery_encode(&rv, sc.h.id, frame + STOR_FRAME_LEN);
        if (ftruncate(fd, (off_t)sc.end) != 0 ||
            pwrite(fd, frame, sizeof(frame), (off_t)sc.end) != (ssize_t)sizeof(frame) ||
            fsync(fd) != 0 || rename(partial, final_path) != 0) {
            err = sr_err_from_errno(errno);
            goto out;
        }
        log_notice("recovery: %s: the recorder stopped without sealing it; %llu whole chunks "
                   "kept, %llu torn bytes cut, marked recovered",
                   final_path, (unsigned long long)sc.chunks, (unsigned long long)rv.torn_bytes);
        index_fix(ix, id, &sc, STOR_STATE_RECOVERED, mtime_us, sc.end + sizeof(frame),
                  final_path, st);
        st->recovered++;
    }
    err = sync_dir(dir);
out:
    free(sc.raw);
    close(fd);
    return err;
}

enum { FIX_PAGE = 100 };

struct pending {
    char ids[FIX_PAGE][STOR_ID_HEX];
    char paths[FIX_PAGE][PATH_MAX];
    size_t n;
    const char *dir;
    char last[STOR_ID_HEX]; /* every row moves the cursor, ours or not */
};

static bool collect(const struct stor_record *rec, void *arg)
{
    struct pending *pd = arg;
    size_t dl = strlen(pd->dir);

    snprintf(pd->last, sizeof(pd->last), "%s", rec->id);
    /* Only rows of archives in our directory: other recorders may share
     * the index and have their own calls in progress. */
    if (strncmp(rec->path, pd->dir, dl) == 0 && rec->path[dl] == '/' &&
        !strchr(rec->path + dl + 1, '/') && pd->n < FIX_PAGE) {
        snprintf(pd->ids[pd->n], STOR_ID_HEX, "%s", rec->id);
        snprintf(pd->paths[pd->n], PATH_MAX, "%s", rec->path);
        pd->n++;
    }
    return true;
}

/* Rows still "recording" whose archive is not open any more. */
static enum sr_err fix_stale_rows(const char *dir, struct stor_index *ix,
                                  struct stor_recover_stats *st)
{
    struct pending *pd = calloc(1, sizeof(*pd));
    char after[STOR_ID_HEX] = "";
    enum sr_err err = SR_OK;

    if (!pd)
        return SR_ENOMEM;
    pd->dir = dir;
    for (int page = 0; page < 100000; page++) {
        struct stor_query q = { .limit = FIX_PAGE, .by_state = true,
                                .state = STOR_STATE_RECORDING };
        pd->n = 0;
        pd->last[0] = '\0';
        q.after_id = after[0] ? after : NULL;
        if ((err = stor_index_search(ix, &q, collect, pd)))
            break;
        for (size_t i = 0; i < pd->n; i++) {
            struct scan sc = { 0 };
            uint64_t mtime_us = 0;
            if (scan_path(pd->paths[i], &sc, &mtime_us) == SR_OK) {
                log_notice("recovery: %s is sealed but its index row said recording",
                           pd->paths[i]);
                index_fix(ix, pd->ids[i], &sc, sc.sealed ? sealed_state(&sc) : STOR_STATE_DAMAGED,
                          mtime_us, sc.size, pd->paths[i], st);
                free(sc.raw);
            } else {
                log_warn("recovery: %s: no archive file for a recording in progress; index: "
                         "damaged", pd->paths[i]);
                index_fix(ix, pd->ids[i], NULL, STOR_STATE_DAMAGED, 0, 0, pd->paths[i], st);
                st->damaged++;
            }
        }
        if (!pd->last[0])
            break;
        memcpy(after, pd->last, sizeof(after));
    }
    free(pd);
    return err;
}

static const char sealed_sfx[] = ".srec";

/* A sealed <id>.srec without an index row (the recorder could not write it,
 * and its in-memory queue was lost or full): the row from the plaintext
 * header and final frame. */
static enum sr_err reconcile_one(const char *dir, const char *name, struct stor_index *ix,
                                 struct stor_recover_stats *st)
{
    char path[PATH_MAX], id[STOR_ID_HEX];
    size_t idlen = strlen(name) - (sizeof(sealed_sfx) - 1);
    enum sr_err err;
    bool indexed;
    int n;

    if (idlen != STOR_ID_HEX - 1)
        return SR_OK;
    memcpy(id, name, idlen);
    id[idlen] = '\0';
    n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return SR_ELIMIT;
    err = stor_reconcile_file(ix, path, id, path, &indexed, st);
    if (err == SR_ESTATE) {
        log_warn("recovery: %s holds another archive: not indexed under another name", path);
        err = SR_OK;
    }
    return err;
}

enum sr_err stor_reconcile_file(struct stor_index *ix, const char *path, const char *id,
                                const char *row_path, bool *indexed,
                                struct stor_recover_stats *st)
{
    char hid[STOR_ID_HEX];
    struct stor_record *rec;
    struct scan sc = { 0 };
    uint64_t mtime_us = 0;
    size_t fixed;
    enum sr_err err;

    *indexed = false;
    if (!ix || !path || !id || !row_path || !st)
        return SR_EINVAL;
    rec = calloc(1, sizeof(*rec));
    if (!rec)
        return SR_ENOMEM;
    err = stor_index_get(ix, id, rec);
    if (err != SR_ENOTFOUND)
        goto out; /* it has its row (or the lookup failed: logged by the caller) */
    if ((err = scan_path(path, &sc, &mtime_us)))
        goto out;
    err = SR_EPARSE;
    if (!sc.has_header)
        goto out;
    sr_hex_encode(sc.h.id, sizeof(sc.h.id), hid);
    err = SR_ESTATE;
    if (strcmp(hid, id) != 0)
        goto out;
    log_notice("recovery: %s had no index row: added (%s, %llu packets, %u streams)", row_path,
               sc.sealed ? "sealed" : "no final chunk",
               (unsigned long long)sc.pg.packets, sc.pg.streams);
    fixed = st->index_fixed;
    index_fix(ix, id, &sc, sc.sealed ? sealed_state(&sc) : STOR_STATE_DAMAGED, mtime_us,
              sc.size, row_path, st);
    err = SR_EIO; /* index_fix logged why */
    if (st->index_fixed == fixed)
        goto out;
    st->reconciled++;
    *indexed = true;
    err = SR_OK;
out:
    free(sc.raw);
    free(rec);
    return err;
}

enum sr_err stor_recover(const char *dir, struct stor_index *ix, struct stor_recover_stats *st)
{
    struct stor_recover_stats dummy;
    enum sr_err err = SR_OK, e;
    struct dirent *de;
    DIR *d;

    if (!st)
        st = &dummy;
    memset(st, 0, sizeof(*st));
    if (!dir)
        return SR_EINVAL;
    d = opendir(dir);
    if (!d)
        return sr_err_from_errno(errno);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n <= sizeof(partial_sfx) - 1 ||
            strcmp(de->d_name + n - (sizeof(partial_sfx) - 1), partial_sfx) != 0)
            continue;
        if ((e = recover_one(dir, de->d_name, ix, st))) {
            log_error("recovery: %s/%s: %s", dir, de->d_name, sr_strerror(e));
            err = e; /* go on with the others */
        }
    }
    closedir(d);
    if (ix && (e = fix_stale_rows(dir, ix, st)))
        err = err ? err : e;
    /* Last: the partials recovered above have their rows by now. */
    if (ix && (d = opendir(dir))) {
        while ((de = readdir(d))) {
            size_t n = strlen(de->d_name);
            if (n <= sizeof(sealed_sfx) - 1 ||
                strcmp(de->d_name + n - (sizeof(sealed_sfx) - 1), sealed_sfx) != 0)
                continue;
            if ((e = reconcile_one(dir, de->d_name, ix, st))) {
                log_error("recovery: %s/%s: cannot index it: %s", dir, de->d_name,
                          sr_strerror(e));
                err = err ? err : e;
            }
        }
        closedir(d);
    }
    return err;
}
