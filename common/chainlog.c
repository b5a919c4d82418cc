/** @file chainlog.c  Append-only, SHA-256 hash-chained record files (format: chainlog.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "buf.h"
#include "chainlog.h"
#include "log.h"
#include "util.h"

struct chainlog {
    int fd;
    enum chainlog_sync sync;
    bool unsynced;
    bool failed;                            /* a write failed: the file may end mid-line */
    uint64_t seq;                           /* of the last record */
    char tag[CHAINLOG_TAG_MAX + 1];
    char head[CHAINLOG_HASH_HEX + 1];       /* hash of the last line */
};

static const char zero_head[CHAINLOG_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static void hash_line(const char *line, size_t len, char out[CHAINLOG_HASH_HEX + 1])
{
    uint8_t md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)line, len, md);
    sr_hex_encode(md, sizeof(md), out);
}

static bool tag_ok(struct slice t)
{
    if (t.len == 0 || t.len > CHAINLOG_TAG_MAX)
        return false;
    for (size_t i = 0; i < t.len; i++) {
        char c = t.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool name_ok(struct slice n)
{
    if (n.len == 0 || n.len > CHAINLOG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n.len; i++) {
        char c = n.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower case is not what we write: refuse, so each value has one spelling */
}

/* An escaped value: visible ASCII, '%' only as "%XX" of a byte that had to be
 * escaped.  Refusing "%41" for 'A' keeps one spelling per value, so an
 * editor cannot re-spell a line while keeping its meaning. */
static bool value_ok(struct slice v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c == '%') {
            int hi, lo, b;
            if (i + 2 >= v.len)
                return false;
            hi = hexval(v.p[i + 1]);
            lo = hexval(v.p[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            b = hi * 16 + lo;
            if (b > 0x20 && b < 0x7f && b != '%')
                return false;
            i += 2;
        } else if (c <= 0x20 || c >= 0x7f) {
            return false;
        }
    }
    return true;
}

bool chainlog_value_decode(struct slice value, char *out, size_t outlen, size_t *outlen_used)
{
    size_t o = 0;

    if (!out || outlen == 0 || !value_ok(value))
        return false;
    for (size_t i = 0; i < value.len; i++) {
        char c = value.p[i];
        if (c == '%') {
            c = (char)(hexval(value.p[i + 1]) * 16 + hexval(value.p[i + 2]));
            i += 2;
        }
        if (o + 1 >= outlen) {
            out[0] = '\0';
            return false;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    if (outlen_used)
        *outlen_used = o;
    return true;
}

bool chainlog_line_parse(struct slice line, struct chainlog_record *rec, const char **why)
{
    struct slice cur = line, part[CHAINLOG_FIELDS_MAX + 4];
    size_t n = 0;
    const char *dummy;

    if (!why)
        why = &dummy;
    if (!rec) {
        *why = "no record";
        return false;
    }
    memset(rec, 0, sizeof(*rec));
    if (line.len == 0 || line.len >= CHAINLOG_LINE_MAX) {
        *why = "empty or over-long line";
        return false;
    }
    while (cur.len) {
        if (n == SR_ARRAY_LEN(part)) {
            *why = "too many fields";
            return false;
        }
        part[n++] = slice_split(&cur, '\t');
    }
    /* A trailing TAB leaves an empty last field that slice_split drops. */
    if (line.p[line.len - 1] == '\t' || n < 4) {
        *why = "too few fields";
        return false;
    }
    rec->tag = part[0];
    rec->seq = part[1];
    rec->time = part[2];
    rec->prev = part[n - 1];
    if (!tag_ok(rec->tag)) {
        *why = "bad tag";
        return false;
    }
    uint64_t seq;
    if (!slice_to_u64(rec->seq, UINT64_MAX, &seq) || seq == 0 || rec->seq.p[0] == '0') {
        *why = "bad sequence number";
        return false;
    }
    if (rec->time.len != 24 || rec->time.p[10] != 'T' || rec->time.p[23] != 'Z') {
        *why = "bad time";
        return false;
    }
    if (rec->prev.len != CHAINLOG_HASH_HEX) {
        *why = "bad previous-line hash";
        return false;
    }
    for (size_t i = 0; i < CHAINLOG_HASH_HEX; i++) {
        char c = rec->prev.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            *why = "bad previous-line hash";
            return false;
        }
    }
    for (size_t i = 3; i + 1 < n; i++) {
        struct slice f = part[i];
        long eq = slice_find(f, '=');
        struct slice nm, val;

        if (eq < 0) {
            *why = "field without '='";
            return false;
        }
        nm = slice_of(f.p, (size_t)eq);
        val = slice_of(f.p + eq + 1, f.len - (size_t)eq - 1);
        if (!name_ok(nm)) {
            *why = "bad field name";
            return false;
        }
        if (!value_ok(val)) {
            *why = "bad field value escaping";
            return false;
        }
        rec->name[rec->n_fields] = nm;
        rec->value[rec->n_fields] = val;
        rec->n_fields++;
    }
    return true;
}

/* Reads lines of at most CHAINLOG_LINE_MAX bytes from fd into a fixed buffer,
 * so that a hostile file (one huge line, NUL bytes) costs bounded memory. */
struct line_reader {
    int fd;
    char buf[2 * CHAINLOG_LINE_MAX];
    size_t start, end;
    bool eof, error;
};

/* 1: *line (with LF) set; 0: end of file (*line = leftover without LF, maybe
 * empty); -1: over-long line or read error. */
static int reader_next(struct line_reader *r, struct slice *line)
{
    for (;;) {
        const char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            size_t len = (size_t)(nl - (r->buf + r->start)) + 1;
            *line = slice_of(r->buf + r->start, len);
            r->start += len;
            return len > CHAINLOG_LINE_MAX ? -1 : 1;
        }
        if (r->end - r->start > CHAINLOG_LINE_MAX)
            return -1;
        if (r->eof) {
            *line = slice_of(r->buf + r->start, r->end - r->start);
            return 0;
        }
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        ssize_t got = read(r->fd, r->buf + r->end, sizeof(r->buf) - r->end);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            log_debug("chainlog read: %s", strerror(errno));
            r->error = true;
            return -1;
        }
        if (got == 0)
            r->eof = true;
        r->end += (size_t)got;
    }
}

static enum sr_err chain_walk(int fd, const char *tag, const char *anchor,
                              struct chainlog_verdict *v)
{
    struct line_reader *r = calloc(1, sizeof(*r));
    struct chainlog_record rec;
    char first_tag[CHAINLOG_TAG_MAX + 1] = "";
    bool anchor_seen;
    enum sr_err err = SR_OK;
    size_t n = 0;
    int rc;

    memcpy(v->head, zero_head, sizeof(v->head));
    v->records = 0;
    v->bad_line = 0;
    v->why = "";
    if (!r)
        return SR_ENOMEM;
    r->fd = fd;
    anchor_seen = !anchor || strcmp(anchor, zero_head) == 0;
    for (;;) {
        struct slice line;
        const char *why = "";
        char seqbuf[24];

        rc = reader_next(r, &line);
        if (rc < 0 && r->error) {
            v->why = "read error";
            err = SR_EIO;
            goto out;
        }
        if (rc == 0 && line.len == 0)
            break;
        n++;
        if (rc < 0) {
            v->why = "over-long line";
            goto broken;
        }
        if (rc == 0) {
            v->why = "truncated line (no LF at end of file)";
            goto broken;
        }
        if (!chainlog_line_parse(slice_of(line.p, line.len - 1), &rec, &why)) {
            v->why = why;
            goto broken;
        }
        if (!first_tag[0])
            slice_copy_cstr(rec.tag, first_tag, sizeof(first_tag));
        if ((tag && !slice_eq(rec.tag, slice_cstr(tag))) ||
            !slice_eq(rec.tag, slice_cstr(first_tag))) {
            v->why = "unexpected record tag";
            goto broken;
        }
        snprintf(seqbuf, sizeof(seqbuf), "%zu", n);
        if (!slice_eq(rec.seq, slice_cstr(seqbuf))) {
            v->why = "sequence number out of order (line inserted, deleted or moved)";
            goto broken;
        }
        if (!slice_eq(rec.prev, slice_of(v->head, CHAINLOG_HASH_HEX))) {
            v->why = "previous-line hash mismatch (a line was edited, inserted, deleted or moved)";
            goto broken;
        }
        hash_line(line.p, line.len, v->head);
        v->records = n;
        if (!anchor_seen && strcmp(anchor, v->head) == 0)
            anchor_seen = true;
    }
    if (!anchor_seen) {
        v->why = "anchor head not on the chain (lines removed from the end, or another file)";
        n = v->records + 1;
        goto broken;
    }
    goto out;
broken:
    v->bad_line = n;
    err = SR_EAUTH;
out:
    free(r);
    return err;
}

enum sr_err chainlog_verify(const char *path, const char *tag, const char *anchor,
                            struct chainlog_verdict *v)
{
    struct chainlog_verdict local;
    enum sr_err err;
    int fd;

    if (!v)
        v = &local;
    memset(v, 0, sizeof(*v));
    memcpy(v->head, zero_head, sizeof(v->head));
    v->why = "";
    if (!path || (tag && !tag_ok(slice_cstr(tag)))) {
        v->why = "invalid arguments";
        return SR_EINVAL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_debug("chainlog %s: %s", path, strerror(errno));
        v->why = "cannot open";
        return SR_EIO;
    }
    err = chain_walk(fd, tag, anchor, v);
    close(fd);
    return err;
}

enum sr_err chainlog_open(struct chainlog **out, const struct chainlog_cfg *cfg,
                          struct chainlog_verdict *v)
{
    struct chainlog_verdict local;
    struct chainlog *cl;
    enum sr_err err;
    int rfd;

    if (!v)
        v = &local;
    memset(v, 0, sizeof(*v));
    v->why = "";
    if (!out || !cfg || !cfg->path || !cfg->path[0] || !cfg->tag || !tag_ok(slice_cstr(cfg->tag)) ||
        (cfg->sync != CHAINLOG_SYNC_EACH && cfg->sync != CHAINLOG_SYNC_BATCH)) {
        v->why = "invalid arguments";
        return SR_EINVAL;
    }
    cl = calloc(1, sizeof(*cl));
    if (!cl)
        return SR_ENOMEM;
    cl->sync = cfg->sync;
    snprintf(cl->tag, sizeof(cl->tag), "%s", cfg->tag);
    cl->fd = open(cfg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (cl->fd < 0) {
        log_debug("chainlog %s: %s", cfg->path, strerror(errno));
        v->why = "cannot open";
        err = SR_EIO;
        goto fail;
    }
    /* The lock is taken before the walk so that no other writer can append
     * between our verification and our first record. */
    if (flock(cl->fd, LOCK_EX | LOCK_NB) != 0) {
        v->why = "locked by another writer";
        err = errno == EWOULDBLOCK ? SR_ESTATE : SR_EIO;
        goto fail;
    }
    rfd = open(cfg->path, O_RDONLY | O_CLOEXEC);
    if (rfd < 0) {
        v->why = "cannot open";
        err = SR_EIO;
        goto fail;
    }
    err = chain_walk(rfd, cl->tag, NULL, v);
    close(rfd);
    if (err)
        goto fail;
    cl->seq = v->records;
    memcpy(cl->head, v->head, sizeof(cl->head));
    *out = cl;
    return SR_OK;
fail:
    chainlog_close(cl);
    return err;
}

enum sr_err chainlog_sync(struct chainlog *cl)
{
    if (!cl)
        return SR_EINVAL;
    if (!cl->unsynced)
        return SR_OK;
    if (fdatasync(cl->fd) != 0) {
        log_debug("chainlog fdatasync: %s", strerror(errno));
        return SR_EIO;
    }
    cl->unsynced = false;
    return SR_OK;
}

void chainlog_close(struct chainlog *cl)
{
    if (!cl)
        return;
    if (cl->fd >= 0) {
        if (cl->unsynced)
            (void)chainlog_sync(cl);
        close(cl->fd); /* releases the flock */
    }
    free(cl);
}

static enum sr_err value_append(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    enum sr_err err = SR_OK;

    for (; s && *s && !err; s++) {
        unsigned char c = (unsigned char)*s;
        if (c > 0x20 && c < 0x7f && c != '%') {
            err = buf_append(b, s, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            err = buf_append(b, e, 3);
        }
    }
    return err;
}

enum sr_err chainlog_append(struct chainlog *cl, uint64_t wall_us,
                            const struct chainlog_field *fields, size_t n)
{
    struct buf b;
    char when[40];
    enum sr_err err;

    if (!cl || (n && !fields) || n > CHAINLOG_FIELDS_MAX)
        return SR_EINVAL;
    if (cl->failed)
        return SR_ESTATE;
    for (size_t i = 0; i < n; i++)
        if (!fields[i].name || !name_ok(slice_cstr(fields[i].name)))
            return SR_EINVAL;
    if (!wall_us)
        wall_us = sr_wall_us();
    buf_init(&b, CHAINLOG_LINE_MAX);
    sr_wall_fmt(wall_us, when, sizeof(when));
    err = buf_printf(&b, "%s\t%llu\t%s", cl->tag, (unsigned long long)cl->seq + 1, when);
    for (size_t i = 0; i < n && !err; i++) {
        err = buf_printf(&b, "\t%s=", fields[i].name);
        if (!err)
            err = value_append(&b, fields[i].value);
    }
    if (!err)
        err = buf_printf(&b, "\t%s\n", cl->head);
    if (err) {
        buf_fini(&b);
        return err == SR_ELIMIT || err == SR_ENOMEM ? err : SR_ELIMIT;
    }
    /* One write() on an O_APPEND fd: readers never see an interleaving. */
    err = sr_write_all(cl->fd, b.p, b.len);
    if (err)
        cl->failed = true; /* a partial line may be there: appending more would hide it */
    if (!err) {
        hash_line(b.p, b.len, cl->head);
        cl->seq++;
        cl->unsynced = true;
        if (cl->sync == CHAINLOG_SYNC_EACH)
            err = chainlog_sync(cl);
    }
    buf_fini(&b);
    return err;
}

uint64_t chainlog_records(const struct chainlog *cl)
{
    return cl ? cl->seq : 0;
}

const char *chainlog_head(const struct chainlog *cl)
{
    return cl ? cl->head : zero_head;
}
