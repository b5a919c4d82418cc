/** @file store_recover.c  Index rows from the object store (store_recover.h). */
#include "store_recover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util.h"

static const char srec_sfx[] = ".srec", sig_sfx[] = ".srec.sig";

struct run {
    struct objstore *s;
    struct stor_index *ix;
    const struct store_recover_cfg *cfg;
    struct store_recover_stats *st;
    struct stor_record *row;
    /* The listing is in key order, so <id>.srec.sig follows <id>.srec: an
     * archive is handled when the next key shows whether its .sig exists. */
    bool pending;
    char id[STOR_ID_HEX];
    char key[OBJSTORE_KEY_MAX + 1];
    bool has_sig;
};

struct sink {
    int fd;
    EVP_MD_CTX *md;
    bool failed;
};

static void fail(struct run *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct run *r, const char *key, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "recover: store: %s: ", key);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    r->st->failed++;
}

/* The id of PREFIX<32 hex>SUFFIX, else false. */
static bool key_id(const char *prefix, const char *key, const char *sfx, char id[STOR_ID_HEX])
{
    size_t pl = strlen(prefix), kl = strlen(key), sl = strlen(sfx);

    if (strncmp(key, prefix, pl) != 0 || kl != pl + STOR_ID_HEX - 1 + sl ||
        strcmp(key + kl - sl, sfx) != 0)
        return false;
    for (size_t i = 0; i < STOR_ID_HEX - 1; i++) {
        char c = key[pl + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        id[i] = c;
    }
    id[STOR_ID_HEX - 1] = '\0';
    return true;
}

static bool to_file(const void *data, size_t len, void *arg)
{
    struct sink *k = arg;
    const uint8_t *p = data;

    if (EVP_DigestUpdate(k->md, data, len) != 1)
        return !(k->failed = true);
    while (len) {
        ssize_t n = write(k->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return !(k->failed = true);
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool store_recover_fetch(struct objstore *s, const char *key, const char *tmp_dir, char *tmp,
                         size_t cap, char hash[65], char *why, size_t wl)
{
    const char *dir = tmp_dir ? tmp_dir : getenv("TMPDIR");
    struct sink k = { .fd = -1 };
    struct objstore_status ost;
    struct objstore_info info;
    enum objstore_err e;
    char txt[512];
    uint8_t d[32];
    unsigned dl = 0;
    bool ok = false;

    tmp[0] = '\0';
    if (!dir || !dir[0])
        dir = "/tmp";
    if ((e = objstore_head(s, key, &info, &ost)) != OBJSTORE_OK) {
        snprintf(why, wl, "HEAD: %s", objstore_status_text(&ost, txt, sizeof(txt)));
        return false;
    }
    if ((size_t)snprintf(tmp, cap, "%s/srtprec-recover-XXXXXX", dir) >= cap) {
        tmp[0] = '\0';
        snprintf(why, wl, "temporary path too long");
        return false;
    }
    if ((k.fd = mkstemp(tmp)) < 0) {
        snprintf(why, wl, "cannot create a temporary file in %s: %s", dir, strerror(errno));
        tmp[0] = '\0';
        return false;
    }
    if (fchmod(k.fd, 0600) != 0 || !(k.md = EVP_MD_CTX_new()) ||
        EVP_DigestInit_ex(k.md, EVP_sha256(), NULL) != 1) {
        snprintf(why, wl, "cannot set up the temporary file or its hash");
        goto out;
    }
    e = objstore_get(s, key, 0, UINT64_MAX, to_file, &k, NULL, &ost);
    if (e != OBJSTORE_OK || k.failed) {
        snprintf(why, wl, "GET: %s", k.failed ? "writing the temporary file failed"
                                             : objstore_status_text(&ost, txt, sizeof(txt)));
        goto out;
    }
    /* The row's end time is the file's mtime (stor_reconcile_file): the
     * store's Last-Modified, the upload seconds after the seal, is the
     * nearest it knows. */
    if (info.mtime > 0) {
        struct timespec ts[2] = { { .tv_sec = info.mtime }, { .tv_sec = info.mtime } };
        if (futimens(k.fd, ts) != 0) {
            snprintf(why, wl, "cannot set the fetched copy's time: %s", strerror(errno));
            goto out;
        }
    }
    if (EVP_DigestFinal_ex(k.md, d, &dl) != 1 || fsync(k.fd) != 0) {
        snprintf(why, wl, "hashing or syncing the fetched copy failed");
        goto out;
    }
    sr_hex_encode(d, sizeof(d), hash);
    if (info.sha256[0] && strcmp(info.sha256, hash) != 0) {
        snprintf(why, wl, "the object's SHA-256 is not the x-amz-meta-sha256 it was stored "
                 "with (%s)", info.sha256);
        goto out;
    }
    ok = true;
out:
    EVP_MD_CTX_free(k.md);
    close(k.fd);
    return ok;
}

static void set_location(struct run *r, bool created)
{
    char loc[STOR_LOCATION_MAX];
    enum sr_err err;

    objstore_location(r->s, r->key, loc, sizeof(loc));
    if ((err = stor_index_set_location(r->ix, r->id, loc)) != SR_OK) {
        fail(r, r->key, "setting the row's location: %s", sr_strerror(err));
        return;
    }
    if (created)
        r->st->created++;
    else
        r->st->located++;
}

/* The row from the fetched archive, then the fields the file does not
 * carry: recorder-id and (signed) hash. */
static void create_row(struct run *r)
{
    char tmp[4200], hash[65], row_path[4200], why[512];
    struct stor_recover_stats rst = { 0 };
    enum sr_err err;
    bool indexed = false;

    if ((size_t)snprintf(row_path, sizeof(row_path), "%s/%s.srec", r->cfg->archive_dir, r->id) >=
        sizeof(row_path)) {
        fail(r, r->key, "%s", "archive directory path too long");
        return;
    }
    if (!store_recover_fetch(r->s, r->key, r->cfg->tmp_dir, tmp, sizeof(tmp), hash, why,
                             sizeof(why))) {
        fail(r, r->key, "%s", why);
        if (tmp[0])
            unlink(tmp);
        return;
    }
    err = stor_reconcile_file(r->ix, tmp, r->id, row_path, &indexed, &rst);
    unlink(tmp);
    if (err || !indexed) {
        fail(r, r->key, "not indexed: %s",
             err == SR_ESTATE   ? "its header names another archive"
             : err == SR_EPARSE ? "no whole archive header (not an srtprec archive)"
             : err              ? sr_strerror(err)
                              : "a row appeared meanwhile");
        return;
    }
    if ((r->cfg->recorder || r->has_sig) &&
        (err = stor_index_get(r->ix, r->id, r->row)) == SR_OK) {
        if (r->cfg->recorder)
            snprintf(r->row->recorder, sizeof(r->row->recorder), "%s", r->cfg->recorder);
        if (r->has_sig)
            memcpy(r->row->sha256, hash, sizeof(r->row->sha256));
        err = stor_index_put(r->ix, r->row);
    }
    if (err) {
        fail(r, r->key, "writing the row's recorder-id and hash: %s", sr_strerror(err));
        return;
    }
    set_location(r, true);
}

/* A row without its location: the object must be the archive the row
 * describes (size, and the hash the uploader stored against the row's). */
static void locate_row(struct run *r)
{
    struct objstore_status ost;
    struct objstore_info info;
    char txt[512];

    if (objstore_head(r->s, r->key, &info, &ost) != OBJSTORE_OK) {
        fail(r, r->key, "HEAD: %s", objstore_status_text(&ost, txt, sizeof(txt)));
    } else if (r->row->bytes != info.size) {
        fail(r, r->key, "the row says %llu bytes, the object has %llu: not located",
             (unsigned long long)r->row->bytes, (unsigned long long)info.size);
    } else if (r->row->sha256[0] && info.sha256[0] && strcmp(r->row->sha256, info.sha256) != 0) {
        fail(r, r->key, "the object's x-amz-meta-sha256 %s is not the row's: not located",
             info.sha256);
    } else {
        set_location(r, false);
    }
}

static void handle(struct run *r)
{
    enum sr_err err;

    r->pending = false;
    r->st->listed++;
    if (!r->has_sig)
        r->st->unsigned_++;
    err = stor_index_get(r->ix, r->id, r->row);
    if (err == SR_OK && r->row->location[0]) {
        r->st->skipped++;
    } else if (err == SR_OK) {
        locate_row(r);
    } else if (err == SR_ENOTFOUND) {
        create_row(r);
    } else {
        fail(r, r->key, "index lookup: %s", sr_strerror(err));
    }
}

static bool on_key(const char *key, uint64_t size, void *arg)
{
    struct run *r = arg;
    char id[STOR_ID_HEX];

    (void)size; /* HEAD says it where it matters */
    if (r->pending && key_id(r->cfg->prefix, key, sig_sfx, id) && strcmp(id, r->id) == 0) {
        r->has_sig = true;
        handle(r);
        return true;
    }
    if (r->pending)
        handle(r);
    if (!key_id(r->cfg->prefix, key, srec_sfx, id))
        return true; /* a signature, or not an archive of ours */
    memcpy(r->id, id, sizeof(r->id));
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->has_sig = false;
    r->pending = true;
    return true;
}

enum sr_err store_recover(struct objstore *s, struct stor_index *ix,
                          const struct store_recover_cfg *cfg, struct store_recover_stats *st)
{
    struct run r = { .s = s, .ix = ix, .cfg = cfg, .st = st };
    struct objstore_status ost;
    enum objstore_err e;
    char txt[512];

    memset(st, 0, sizeof(*st));
    if (!s || !ix || !cfg || !cfg->prefix || !cfg->archive_dir)
        return SR_EINVAL;
    if (!(r.row = calloc(1, sizeof(*r.row))))
        return SR_ENOMEM;
    e = objstore_list(s, cfg->prefix, on_key, &r, &ost);
    if (e == OBJSTORE_OK && r.pending)
        handle(&r);
    free(r.row);
    if (e == OBJSTORE_OK)
        return SR_OK;
    fprintf(stderr, "recover: store: listing %s*: %s (%s)\n", cfg->prefix, objstore_strerror(e),
            objstore_status_text(&ost, txt, sizeof(txt)));
    return objstore_err_transient(e) ? SR_EAGAIN : SR_EIO;
}
