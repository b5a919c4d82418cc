/** @file store.c  Archives in the object store for srtprec-api: ranged
 *  downloads and the bounded export cache (store.h says what each checks). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "store.h"
#include "util.h"

enum { FETCH_RANGE = 8u << 20, SIG_MAX = 4096, MAX_VICTIMS = 4096 };

struct api_store {
    struct objstore_cfg os;
    char dir[CONF_STR_MAX];
    uint64_t max_bytes;
    struct objstore *probe; /* only for the location helpers (no request is made with it) */
    void (*client_hook)(struct objstore *os, void *arg);
    void *hook_arg;
    bool object_lock;       /* the bucket has S3 Object Lock (probed at create) */
    pthread_mutex_t lock;   /* guards bytes, reserved and eviction */
    uint64_t bytes, reserved;
    _Atomic uint64_t requests, got, unavailable, not_found, integrity;
    _Atomic uint64_t hits, misses, evictions, full, holds, hold_failed;
};

struct api_store_stream {
    struct api_store *st;
    struct objstore *os;
    char key[OBJSTORE_KEY_MAX + 8];
    uint64_t first, len;
    uint8_t *buf;
    uint64_t boff;  /* body offset of buf[0] */
    size_t blen;
};

/* objstore's outcome as the API's: what the caller turns into a status. */
static enum sr_err store_err(struct api_store *st, enum objstore_err e, const char *what,
                             const struct objstore_status *os, char *why, size_t whylen)
{
    char detail[512];

    if (e == OBJSTORE_OK)
        return SR_OK;
    objstore_status_text(os, detail, sizeof(detail));
    snprintf(why, whylen, "object store: %s %s: %s (%s)", what, objstore_strerror(e), detail,
             objstore_err_transient(e) ? "transient" : "final");
    switch (e) {
    case OBJSTORE_ENOTFOUND: atomic_fetch_add(&st->not_found, 1); return SR_ENOTFOUND;
    case OBJSTORE_EINTEGRITY: atomic_fetch_add(&st->integrity, 1); return SR_EAUTH;
    case OBJSTORE_ERANGE: return SR_EINVAL;
    case OBJSTORE_EIO: return SR_EIO;
    case OBJSTORE_ENOMEM: return SR_ENOMEM;
    case OBJSTORE_EINVAL: return SR_EINVAL;
    case OBJSTORE_OK:
    case OBJSTORE_ECONNECT:
    case OBJSTORE_ETLS:
    case OBJSTORE_EAUTH:
    case OBJSTORE_EBUSY:
    case OBJSTORE_EPROTO:
    case OBJSTORE_EREJECTED: break;
    }
    atomic_fetch_add(&st->unavailable, 1);
    return SR_EAGAIN;
}

static enum sr_err open_store(struct api_store *st, struct objstore **os, char *why, size_t whylen)
{
    enum objstore_err e = objstore_create(os, &st->os, NULL, why, whylen);

    if (e == OBJSTORE_OK) {
        if (st->client_hook)
            st->client_hook(*os, st->hook_arg);
        return SR_OK;
    }
    atomic_fetch_add(&st->unavailable, 1);
    return e == OBJSTORE_ENOMEM ? SR_ENOMEM : SR_EAGAIN;
}

/* Remove every file of the cache: what a previous run left is not trusted
 * (and not accounted for). */
static void cache_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

enum sr_err api_store_create(struct api_store **out, const struct api_store_cfg *cfg, char *why,
                             size_t whylen)
{
    struct api_store *st;
    struct stat sb;

    *out = NULL;
    if (!cfg->cache_dir || !cfg->cache_dir[0] || cfg->cache_max_bytes == 0) {
        snprintf(why, whylen, "store-cache-dir and store-cache-mb are required with [store]");
        return SR_EINVAL;
    }
    st = calloc(1, sizeof(*st));
    if (!st)
        return SR_ENOMEM;
    st->os = cfg->os;
    st->max_bytes = cfg->cache_max_bytes;
    st->client_hook = cfg->client_hook;
    st->hook_arg = cfg->hook_arg;
    snprintf(st->dir, sizeof(st->dir), "%s", cfg->cache_dir);
    if (objstore_create(&st->probe, &st->os, NULL, why, whylen) != OBJSTORE_OK) {
        free(st);
        return SR_EINVAL;
    }
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        objstore_destroy(st->probe);
        free(st);
        return SR_ENOMEM;
    }
    /* Decrypting needs only the recipient key the API already holds, but
     * the cache holds whole archives: nobody else's to read. */
    if ((mkdir(st->dir, 0700) != 0 && errno != EEXIST) || stat(st->dir, &sb) != 0 ||
        !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() || chmod(st->dir, 0700) != 0) {
        snprintf(why, whylen, "store-cache-dir %s: not a directory of ours (%s)", st->dir,
                 strerror(errno ? errno : ENOTDIR));
        api_store_destroy(st);
        return SR_EIO;
    }
    cache_empty(st->dir);
    {
        /* Whether holds go to the store too: Swift answers no (its listing). */
        struct objstore *os = NULL;
        struct objstore_lock lk = { 0 };
        struct objstore_status s = { 0 };
        char w[256];
        if (open_store(st, &os, w, sizeof(w)) == SR_OK &&
            objstore_lock_probe(os, &lk, &s) == OBJSTORE_OK)
            st->object_lock = lk.enabled;
        else
            log_warn("object store: Object Lock not probed (%s): legal holds stay the index's "
                     "only", objstore_status_text(&s, w, sizeof(w)));
        objstore_destroy(os);
    }
    *out = st;
    return SR_OK;
}

bool api_store_has_lock(const struct api_store *st)
{
    return st && st->object_lock;
}

enum sr_err api_store_legal_hold(struct api_store *st, const struct stor_record *rec, bool on,
                                 char *why, size_t whylen)
{
    const char *key = api_store_key(st, rec);
    struct objstore *os = NULL;
    struct objstore_status s = { 0 };
    enum sr_err err;

    why[0] = '\0';
    if (!st || !st->object_lock || !key)
        return SR_EUNSUPP;
    if (!(err = open_store(st, &os, why, whylen))) {
        atomic_fetch_add(&st->requests, 1);
        err = store_err(st, objstore_legal_hold(os, key, on, &s), "PUT ?legal-hold", &s, why,
                        whylen);
    }
    objstore_destroy(os);
    atomic_fetch_add(err ? &st->hold_failed : &st->holds, 1);
    return err;
}

void api_store_destroy(struct api_store *st)
{
    if (!st)
        return;
    objstore_destroy(st->probe);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

const char *api_store_key(const struct api_store *st, const struct stor_record *rec)
{
    char name[STOR_ID_HEX + 8];
    const char *key;
    size_t kl, nl;

    if (!st || !rec->location[0] || !(key = objstore_location_key(st->probe, rec->location)))
        return NULL;
    /* The key must name this recording (PREFIX<id>.srec), as a local path
     * is derived from the id: whoever can write the index must not make
     * the API serve another recording's object under this id. */
    nl = (size_t)snprintf(name, sizeof(name), "%s.srec", rec->id);
    kl = strlen(key);
    if (kl < nl || strcmp(key + kl - nl, name) != 0)
        return NULL;
    return key;
}

/* Ids come from the index: only 32 hex digits make a cache file name. */
static bool id_ok(const char *id)
{
    size_t n = strlen(id);

    if (n != STOR_ID_HEX - 1)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

/* HEAD, and the object against the row: size and the uploader's hash. */
static enum sr_err head_check(struct api_store *st, struct objstore *os, const char *key,
                              const struct stor_record *rec, struct objstore_info *info,
                              char *why, size_t whylen)
{
    struct objstore_status s = { 0 };
    enum sr_err err;

    atomic_fetch_add(&st->requests, 1);
    if ((err = store_err(st, objstore_head(os, key, info, &s), "HEAD", &s, why, whylen)))
        return err;
    if ((rec->sha256[0] && info->sha256[0] && strcmp(rec->sha256, info->sha256) != 0) ||
        (rec->bytes && info->size != rec->bytes)) {
        snprintf(why, whylen, "object store: %s is not the archive the index records (size %llu, "
                 "sha256 %s; the index: %llu, %s)", key, (unsigned long long)info->size,
                 info->sha256[0] ? info->sha256 : "-", (unsigned long long)rec->bytes,
                 rec->sha256[0] ? rec->sha256 : "-");
        atomic_fetch_add(&st->integrity, 1);
        return SR_EAUTH;
    }
    return SR_OK;
}

struct victim {
    char name[STOR_ID_HEX + 8];
    time_t mtime;
    uint64_t size;
};

static int victim_cmp(const void *a, const void *b)
{
    const struct victim *x = a, *y = b;

    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Under the lock: evict the least recently used archives (and their
 * signatures) not used for API_STORE_CACHE_GRACE_S until need more bytes
 * fit.  false if they cannot. */
static bool make_room(struct api_store *st, uint64_t need)
{
    struct victim *v;
    size_t n = 0;
    DIR *d;
    struct dirent *de;
    time_t now = time(NULL);

    if (st->bytes + st->reserved + need <= st->max_bytes)
        return true;
    if (!(d = opendir(st->dir)))
        return false;
    if (!(v = malloc(MAX_VICTIMS * sizeof(*v)))) {
        closedir(d);
        return false;
    }
    while ((de = readdir(d)) && n < MAX_VICTIMS) {
        struct stat sb;
        size_t len = strlen(de->d_name);
        if (len != STOR_ID_HEX - 1 + 5 || strcmp(de->d_name + len - 5, ".srec") != 0 ||
            fstatat(dirfd(d), de->d_name, &sb, 0) != 0 || sb.st_mtime + API_STORE_CACHE_GRACE_S > now)
            continue;
        if (len >= sizeof(v[n].name)) /* cannot be: the length was checked */
            continue;
        memcpy(v[n].name, de->d_name, len + 1);
        v[n].mtime = sb.st_mtime;
        v[n].size = (uint64_t)sb.st_size;
        n++;
    }
    qsort(v, n, sizeof(*v), victim_cmp);
    for (size_t i = 0; i < n && st->bytes + st->reserved + need > st->max_bytes; i++) {
        char sig[sizeof(v[i].name) + 4];
        if (unlinkat(dirfd(d), v[i].name, 0) != 0)
            continue;
        snprintf(sig, sizeof(sig), "%s.sig", v[i].name);
        unlinkat(dirfd(d), sig, 0);
        st->bytes -= v[i].size < st->bytes ? v[i].size : st->bytes;
        atomic_fetch_add(&st->evictions, 1);
    }
    free(v);
    closedir(d);
    return st->bytes + st->reserved + need <= st->max_bytes;
}

struct sink {
    int fd;
    EVP_MD_CTX *md;
    uint64_t n;
};

static bool to_file(const void *data, size_t len, void *arg)
{
    struct sink *k = arg;

    k->n += len;
    return EVP_DigestUpdate(k->md, data, len) == 1 && sr_write_all(k->fd, data, len) == SR_OK;
}

struct membuf {
    uint8_t *p;
    size_t len, cap;
};

static bool to_mem(const void *data, size_t len, void *arg)
{
    struct membuf *m = arg;

    if (len > m->cap - m->len)
        return false;
    memcpy(m->p + m->len, data, len);
    m->len += len;
    return true;
}

/* <path>.sig from the store's <key>.sig (through a temporary file), or
 * none when the store has none: stor_archive_check then judges. */
static enum sr_err fetch_sig(struct api_store *st, struct objstore *os, const char *key,
                             const char *path, char *why, size_t whylen)
{
    uint8_t buf[SIG_MAX];
    struct membuf m = { buf, 0, sizeof(buf) };
    struct objstore_status s = { 0 };
    char skey[OBJSTORE_KEY_MAX + 8], sig[4200], tmp[4220];
    enum sr_err err;
    int fd;

    snprintf(skey, sizeof(skey), "%s.sig", key);
    snprintf(sig, sizeof(sig), "%s.sig", path);
    atomic_fetch_add(&st->requests, 1);
    err = store_err(st, objstore_get(os, skey, 0, UINT64_MAX, to_mem, &m, NULL, &s), "GET .sig",
                    &s, why, whylen);
    if (err == SR_ENOTFOUND) {
        atomic_fetch_sub(&st->not_found, 1); /* an unsigned archive has none: not a loss */
        unlink(sig);
        return SR_OK;
    }
    if (err)
        return err;
    atomic_fetch_add(&st->got, m.len);
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", sig);
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
        return SR_EIO;
    err = sr_write_all(fd, buf, m.len);
    if (close(fd) != 0 || err || rename(tmp, sig) != 0) {
        unlink(tmp);
        snprintf(why, whylen, "store cache: cannot write %s", sig);
        return SR_EIO;
    }
    return SR_OK;
}

enum sr_err api_store_fetch(struct api_store *st, const struct stor_record *rec, char *path,
                            size_t cap, char *why, size_t whylen)
{
    const char *key = api_store_key(st, rec);
    struct objstore *os = NULL;
    struct objstore_info info = { 0 };
    struct sink k = { .fd = -1 };
    char tmp[4200], hex[65];
    uint8_t sha[32];
    bool reserved = false, dup = false;
    enum sr_err err;
    struct stat sb;

    why[0] = '\0';
    tmp[0] = '\0';
    if (!key || !id_ok(rec->id))
        return SR_ENOTFOUND;
    if ((size_t)snprintf(path, cap, "%s/%s.srec", st->dir, rec->id) >= cap)
        return SR_EINVAL;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        utimensat(AT_FDCWD, path, NULL, 0); /* most recently used */
        atomic_fetch_add(&st->hits, 1);
        return SR_OK;
    }
    atomic_fetch_add(&st->misses, 1);
    if ((err = open_store(st, &os, why, whylen)) ||
        (err = head_check(st, os, key, rec, &info, why, whylen)))
        goto out;
    pthread_mutex_lock(&st->lock);
    reserved = info.size <= st->max_bytes && make_room(st, info.size);
    if (reserved)
        st->reserved += info.size;
    pthread_mutex_unlock(&st->lock);
    if (!reserved) {
        atomic_fetch_add(&st->full, 1);
        snprintf(why, whylen, "store cache: no room for %llu bytes (store-cache-mb %llu, the rest "
                 "in use)", (unsigned long long)info.size,
                 (unsigned long long)(st->max_bytes >> 20));
        err = SR_ENOSPC;
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", st->dir, rec->id);
    if ((k.fd = mkostemp(tmp, O_CLOEXEC)) < 0)
        tmp[0] = '\0';
    if (k.fd < 0 || !(k.md = EVP_MD_CTX_new()) ||
        EVP_DigestInit_ex(k.md, EVP_sha256(), NULL) != 1) {
        snprintf(why, whylen, "store cache: cannot create a file in %s", st->dir);
        err = SR_EIO;
        goto out;
    }
    for (uint64_t off = 0; off < info.size && !err; off = k.n) {
        struct objstore_status s = { 0 };
        uint64_t n = info.size - off < FETCH_RANGE ? info.size - off : FETCH_RANGE;
        atomic_fetch_add(&st->requests, 1);
        err = store_err(st, objstore_get(os, key, off, n, to_file, &k, NULL, &s), "GET", &s, why,
                        whylen);
        if (!err && k.n != off + n) {
            snprintf(why, whylen, "object store: %s ended at %llu of %llu bytes", key,
                     (unsigned long long)k.n, (unsigned long long)info.size);
            err = SR_EAGAIN;
        }
    }
    atomic_fetch_add(&st->got, k.n);
    if (err)
        goto out;
    EVP_DigestFinal_ex(k.md, sha, NULL);
    sr_hex_encode(sha, 32, hex);
    {
        const char *want = rec->sha256[0] ? rec->sha256 : info.sha256;
        if (want[0] && strcmp(want, hex) != 0) {
            snprintf(why, whylen, "object store: %s has SHA-256 %s, the index records %s", key, hex,
                     want);
            atomic_fetch_add(&st->integrity, 1);
            err = SR_EAUTH;
            goto out;
        }
    }
    if ((err = fetch_sig(st, os, key, path, why, whylen)))
        goto out;
    if (fsync(k.fd) != 0 || close(k.fd) != 0) {
        k.fd = -1;
        snprintf(why, whylen, "store cache: cannot write %s", path);
        err = SR_EIO;
        goto out;
    }
    k.fd = -1;
    /* Two requests may have fetched the same archive at once: the first to
     * finish puts it in place and is accounted; the other drops its copy. */
    pthread_mutex_lock(&st->lock);
    if (stat(path, &sb) == 0) {
        unlink(tmp);
        dup = true;
    } else if (rename(tmp, path) != 0) {
        err = SR_EIO;
        snprintf(why, whylen, "store cache: cannot write %s", path);
    }
    pthread_mutex_unlock(&st->lock);
    if (!err)
        tmp[0] = '\0';
out:
    if (k.fd >= 0)
        close(k.fd);
    if (err && tmp[0])
        unlink(tmp);
    EVP_MD_CTX_free(k.md);
    if (reserved) {
        pthread_mutex_lock(&st->lock);
        st->reserved -= info.size;
        if (!err && !dup)
            st->bytes += info.size;
        pthread_mutex_unlock(&st->lock);
    }
    objstore_destroy(os);
    return err;
}

enum sr_err api_store_sig(struct api_store *st, const struct stor_record *rec, uint8_t *buf,
                          size_t cap, size_t *len, char *why, size_t whylen)
{
    const char *key = api_store_key(st, rec);
    struct membuf m = { buf, 0, cap };
    struct objstore *os = NULL;
    struct objstore_status s = { 0 };
    char skey[OBJSTORE_KEY_MAX + 8];
    enum sr_err err;

    why[0] = '\0';
    *len = 0;
    if (!key)
        return SR_ENOTFOUND;
    snprintf(skey, sizeof(skey), "%s.sig", key);
    if ((err = open_store(st, &os, why, whylen)))
        return err;
    atomic_fetch_add(&st->requests, 1);
    err = store_err(st, objstore_get(os, skey, 0, UINT64_MAX, to_mem, &m, NULL, &s), "GET .sig",
                    &s, why, whylen);
    objstore_destroy(os);
    if (err == SR_ENOTFOUND)
        atomic_fetch_sub(&st->not_found, 1); /* an unsigned archive has none: not a loss */
    if (!err) {
        atomic_fetch_add(&st->got, m.len);
        *len = m.len;
    }
    return err;
}

bool api_store_cached(const struct api_store *st, const struct stor_record *rec)
{
    char path[4300];
    struct stat sb;

    if (!st || !id_ok(rec->id))
        return false;
    snprintf(path, sizeof(path), "%s/%s.srec", st->dir, rec->id);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

enum sr_err api_store_stream_open(struct api_store *st, const struct stor_record *rec,
                                  struct api_store_stream **out, uint64_t *size, char *why,
                                  size_t whylen)
{
    const char *key = api_store_key(st, rec);
    struct api_store_stream *s;
    struct objstore_info info = { 0 };
    enum sr_err err;

    *out = NULL;
    why[0] = '\0';
    if (!key)
        return SR_ENOTFOUND;
    if (!(s = calloc(1, sizeof(*s))) || !(s->buf = malloc(API_STORE_STREAM_BUF))) {
        api_store_stream_free(s);
        return SR_ENOMEM;
    }
    s->st = st;
    snprintf(s->key, sizeof(s->key), "%s", key);
    if ((err = open_store(st, &s->os, why, whylen)) ||
        (err = head_check(st, s->os, key, rec, &info, why, whylen))) {
        api_store_stream_free(s);
        return err;
    }
    s->len = *size = info.size;
    *out = s;
    return SR_OK;
}

void api_store_stream_range(struct api_store_stream *s, uint64_t first, uint64_t len)
{
    s->first = first;
    s->len = len;
    s->blen = 0;
}

static bool to_stream(const void *data, size_t len, void *arg)
{
    struct api_store_stream *s = arg;

    if (len > API_STORE_STREAM_BUF - s->blen)
        return false;
    memcpy(s->buf + s->blen, data, len);
    s->blen += len;
    return true;
}

ssize_t api_store_stream_read(struct api_store_stream *s, uint64_t pos, char *buf, size_t max)
{
    size_t n;

    if (pos >= s->len)
        return -1;
    if (pos < s->boff || pos >= s->boff + s->blen) {
        struct objstore_status os = { 0 };
        uint64_t want = s->len - pos < API_STORE_STREAM_BUF ? s->len - pos : API_STORE_STREAM_BUF;
        char why[768];
        enum sr_err err;

        s->boff = pos;
        s->blen = 0;
        atomic_fetch_add(&s->st->requests, 1);
        err = store_err(s->st, objstore_get(s->os, s->key, s->first + pos, want, to_stream, s,
                                            NULL, &os),
                        "GET", &os, why, sizeof(why));
        atomic_fetch_add(&s->st->got, s->blen);
        if (err || s->blen == 0) {
            log_error("download of %s cut after %llu bytes: %s", s->key, (unsigned long long)pos,
                      err ? why : "empty answer");
            return -1;
        }
    }
    n = (size_t)(s->boff + s->blen - pos);
    if (n > max)
        n = max;
    memcpy(buf, s->buf + (pos - s->boff), n);
    return (ssize_t)n;
}

void api_store_stream_free(struct api_store_stream *s)
{
    if (!s)
        return;
    objstore_destroy(s->os);
    free(s->buf);
    free(s);
}

void api_store_stats(struct api_store *st, struct api_store_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!st)
        return;
    out->requests = atomic_load(&st->requests);
    out->bytes = atomic_load(&st->got);
    out->unavailable = atomic_load(&st->unavailable);
    out->not_found = atomic_load(&st->not_found);
    out->integrity = atomic_load(&st->integrity);
    out->cache_hits = atomic_load(&st->hits);
    out->cache_misses = atomic_load(&st->misses);
    out->cache_evictions = atomic_load(&st->evictions);
    out->cache_full = atomic_load(&st->full);
    out->holds = atomic_load(&st->holds);
    out->hold_failed = atomic_load(&st->hold_failed);
    pthread_mutex_lock(&st->lock);
    out->cache_bytes = st->bytes;
    pthread_mutex_unlock(&st->lock);
}
