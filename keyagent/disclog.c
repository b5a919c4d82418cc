/** @file disclog.c  Append-only, hash-chained disclosure log.
 *
 * One line per (subscriber, call) each time a NOTIFY carried that call's keys:
 *
 *   D1 TAB seq TAB time TAB subscriber TAB subscription TAB call-id TAB
 *   version TAB key-ids TAB prev LF
 *
 * prev is the SHA-256 (hex) of the previous line including its LF; the first
 * line links to 64 zeros.  seq counts from 1.  Editing, deleting or
 * reordering any line breaks the chain at the next line; dropping lines off
 * the end is only visible against a head hash kept elsewhere, so the daemon
 * logs the head at startup and shutdown.  Keys themselves never appear: key
 * ids are sr_key_id() values.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ka_priv.h"
#include "log.h"
#include "util.h"

enum { HASH_HEX = 2 * SHA256_DIGEST_LENGTH, MAX_RECORD = 4096, N_FIELDS = 9 };

struct ka_disclog {
    int fd;
    uint64_t seq;               /* of the last record */
    char head[HASH_HEX + 1];    /* hash of the last line */
};

static void hash_line(const char *line, size_t len, char out[HASH_HEX + 1])
{
    uint8_t md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)line, len, md);
    sr_hex_encode(md, sizeof(md), out);
}

/* Walks the chain.  On SR_OK: *records and head set. */
static enum sr_err chain_walk(const char *path, size_t *records, char head[HASH_HEX + 1],
                              size_t *bad_line, const char **why)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    enum sr_err err = SR_OK;

    memset(head, '0', HASH_HEX);
    head[HASH_HEX] = '\0';
    *records = 0;
    *bad_line = 0;
    f = fopen(path, "re");
    if (!f) {
        *why = "cannot open";
        return SR_EIO;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        struct slice cur = slice_of(line, (size_t)len - 1), fld[N_FIELDS];
        char seqbuf[24];
        size_t k = 0;

        n++;
        if (line[len - 1] != '\n' || (size_t)len > MAX_RECORD) {
            *why = "truncated or over-long line";
            goto broken;
        }
        while (k < N_FIELDS && cur.len) {
            long tab = slice_find(cur, '\t');
            fld[k++] = slice_split(&cur, '\t');
            if (tab < 0)
                break;
        }
        if (k != N_FIELDS || cur.len || !slice_eq(fld[0], SLICE_LIT("D1"))) {
            *why = "not a D1 record";
            goto broken;
        }
        snprintf(seqbuf, sizeof(seqbuf), "%zu", n);
        if (!slice_eq(fld[1], slice_cstr(seqbuf))) {
            *why = "sequence number out of order (line deleted or moved)";
            goto broken;
        }
        if (!slice_eq(fld[8], slice_of(head, HASH_HEX))) {
            *why = "previous-line hash mismatch (a line was edited, deleted or moved)";
            goto broken;
        }
        hash_line(line, (size_t)len, head);
    }
    if (ferror(f)) {
        *why = "read error";
        err = SR_EIO;
    }
    *records = n;
    goto out;
broken:
    *bad_line = n;
    err = SR_EAUTH;
out:
    free(line);
    fclose(f);
    return err;
}

enum sr_err ka_disclog_verify(const char *path, size_t *records, size_t *bad_line,
                              const char **why)
{
    char head[HASH_HEX + 1];
    size_t r, b;
    const char *w = "";
    enum sr_err err;

    err = chain_walk(path, &r, head, &b, &w);
    if (records)
        *records = r;
    if (bad_line)
        *bad_line = b;
    if (why)
        *why = w;
    return err;
}

enum sr_err ka_disclog_open(struct ka_disclog **out, const char *path)
{
    struct ka_disclog *dl;
    size_t records = 0, bad = 0;
    const char *why = "";
    enum sr_err err;
    int fd;

    if (!out || !path || !path[0])
        return SR_EINVAL;
    /* Create first so that the walk below sees an (empty) file. */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        log_error("disclosure log %s: %s", path, strerror(errno));
        return SR_EIO;
    }
    dl = calloc(1, sizeof(*dl));
    if (!dl) {
        close(fd);
        return SR_ENOMEM;
    }
    dl->fd = fd;
    err = chain_walk(path, &records, dl->head, &bad, &why);
    if (err) {
        log_error("disclosure log %s: line %zu: %s; refusing to extend it", path, bad, why);
        ka_disclog_close(dl);
        return err;
    }
    dl->seq = records;
    log_notice("disclosure log %s: %zu records, head %s", path, records, dl->head);
    *out = dl;
    return SR_OK;
}

void ka_disclog_close(struct ka_disclog *dl)
{
    if (!dl)
        return;
    if (dl->fd >= 0) {
        if (dl->seq)
            log_notice("disclosure log closed: %llu records, head %s",
                       (unsigned long long)dl->seq, dl->head);
        close(dl->fd);
    }
    free(dl);
}

/* Fields come from validated tokens and certificate SANs, but a TAB or LF in
 * one would forge a record: anything outside visible ASCII becomes '?'. */
static enum sr_err field_append(struct buf *b, const char *s)
{
    enum sr_err err = SR_OK;

    if (!s || !s[0])
        return buf_append(b, "-", 1);
    for (; *s && !err; s++) {
        char c = (*s > 0x20 && *s < 0x7f) ? *s : '?';
        err = buf_append(b, &c, 1);
    }
    return err;
}

enum sr_err ka_disclog_append(struct ka_disclog *dl, uint64_t wall_us, const char *subscriber,
                              const char *subscription, const char *call_id, uint64_t version,
                              const char *key_ids)
{
    struct buf b;
    char when[40];
    enum sr_err err;

    if (!dl)
        return SR_EINVAL;
    buf_init(&b, MAX_RECORD - 1);
    sr_wall_fmt(wall_us, when, sizeof(when));
    err = buf_printf(&b, "D1\t%llu\t%s\t", (unsigned long long)dl->seq + 1, when);
    if (!err)
        err = field_append(&b, subscriber);
    if (!err)
        err = buf_append(&b, "\t", 1);
    if (!err)
        err = field_append(&b, subscription);
    if (!err)
        err = buf_append(&b, "\t", 1);
    if (!err)
        err = field_append(&b, call_id);
    if (!err)
        err = buf_printf(&b, "\t%llu\t", (unsigned long long)version);
    if (!err)
        err = field_append(&b, key_ids);
    if (!err)
        err = buf_printf(&b, "\t%s\n", dl->head);
    if (!err)
        err = sr_write_all(dl->fd, b.p, b.len);
    /* The record must be on disk before the keys leave in the NOTIFY. */
    if (!err && fdatasync(dl->fd) != 0)
        err = SR_EIO;
    if (!err) {
        hash_line(b.p, b.len, dl->head);
        dl->seq++;
    }
    buf_fini(&b);
    return err;
}
