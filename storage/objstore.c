/** @file objstore.c  S3 client on libcurl (objstore.h). */
#include "objstore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "log.h"
#include "objstore_priv.h"
#include "objstore_xml.h"
#include "objstore_list.h"
#include "slice.h"
#include "util.h"

enum { KEY_FILE_MAX = 4096, URL_MAX = 4096 + 3 * OBJSTORE_KEY_MAX };

static const char empty_sha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct objstore {
    struct objstore_cfg cfg;
    char access[256];
    char secret[256];
    char sigv4[128];            /* "aws:amz:REGION:s3" */
    CURL *curl;
    struct curl_slist *hdrs;    /* this request's headers */
    objstore_transport_fn *transport;
    void *transport_arg;
    struct objstore_hooks hooks;
    uint64_t prng;              /* jitter when hooks.random is NULL */
    struct objstore_resp *rs;   /* one answer at a time: 64 KiB, not on the stack */
    uint8_t *part;              /* cfg.part_size bytes, allocated on first upload */
};

const char *objstore_strerror(enum objstore_err err)
{
    switch (err) { /* no default: -Wswitch flags a code missing here */
    case OBJSTORE_OK: return "success";
    case OBJSTORE_EINVAL: return "invalid argument or configuration";
    case OBJSTORE_ENOMEM: return "out of memory";
    case OBJSTORE_ECONNECT: return "store unreachable (connection failed or timed out)";
    case OBJSTORE_ETLS: return "TLS failure (store certificate not verified?)";
    case OBJSTORE_EAUTH: return "store refused the credentials";
    case OBJSTORE_ENOTFOUND: return "no such object or bucket";
    case OBJSTORE_EBUSY: return "store busy or failing (5xx)";
    case OBJSTORE_EINTEGRITY: return "integrity check failed";
    case OBJSTORE_ERANGE: return "range outside the object";
    case OBJSTORE_EPROTO: return "unexpected answer from the store";
    case OBJSTORE_EIO: return "local I/O error";
    case OBJSTORE_EREJECTED: return "store refused the request";
    }
    return "unknown error";
}

bool objstore_err_transient(enum objstore_err err)
{
    return err == OBJSTORE_ECONNECT || err == OBJSTORE_EBUSY;
}

const char *objstore_status_text(const struct objstore_status *st, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return buf;
    if (!st) {
        snprintf(buf, cap, "no status");
        return buf;
    }
    snprintf(buf, cap, "%s%ld%s%s%s%s (after %u attempt%s%s%s)", st->http ? "HTTP " : "no answer",
             st->http ? st->http : 0L, st->code[0] ? " " : "", st->code,
             st->message[0] ? ": " : "", st->message, st->attempts, st->attempts == 1 ? "" : "s",
             st->request_id[0] ? ", request id " : "", st->request_id);
    if (!st->http) { /* "no answer0": drop the number */
        char *z = strstr(buf, "no answer0");
        if (z)
            memmove(z + 9, z + 10, strlen(z + 10) + 1);
    }
    return buf;
}

/* ------------------------------------------------------------------ config */

#define OFF(f) offsetof(struct objstore_cfg, f)
const struct conf_item objstore_conf_items[] = {
    { "url", CONF_STR, OFF(url), "", 0, 0,
      "store endpoint, https://host[:port]; empty: no store (archives stay local)" },
    { "bucket", CONF_STR, OFF(bucket), "srtprec", 0, 0, "bucket of the archives" },
    { "region", CONF_STR, OFF(region), "us-east-1", 0, 0, "SigV4 region" },
    { "access-key-file", CONF_STR, OFF(access_key_file), "", 0, 0,
      "file (mode 0600) with the access key on line 1 and the secret on line 2" },
    { "ca", CONF_STR, OFF(ca), "", 0, 0, "CA file for the store's certificate; empty: system CAs" },
    { "prefix", CONF_STR, OFF(prefix), "", 0, 0, "prefix of every object key (e.g. site-a/)" },
    { "part-size", CONF_UINT, OFF(part_size), "8388608", OBJSTORE_PART_MIN, OBJSTORE_PART_MAX,
      "multipart part size in bytes; smaller archives take one PUT" },
    { "upload-retries", CONF_UINT, OFF(retries), "4", 0, 20,
      "retries of one request on 5xx or a connection error" },
    { "backoff-min-ms", CONF_UINT, OFF(backoff_min_ms), "200", 1, 60000, "first retry wait" },
    { "backoff-max-ms", CONF_UINT, OFF(backoff_max_ms), "10000", 1, 600000, "longest retry wait" },
    { "timeout", CONF_UINT, OFF(timeout_s), "30", 1, 3600,
      "seconds a request may stall (connect, or no byte moving) before it fails" },
    { "lab-plain-http", CONF_BOOL, OFF(lab_plain_http), "no", 0, 0,
      "allow an http:// url (tests only: archives then travel in clear)" },
    { "keep-local", CONF_BOOL, OFF(keep_local), "no", 0, 0,
      "recorder: keep the local archive once the store confirmed its upload" },
    { "upload-retry-min-ms", CONF_UINT, OFF(upload_retry_min_ms), "1000", 10, 3600000,
      "recorder: first wait after a failed upload (doubles per failure)" },
    { "upload-retry-max-ms", CONF_UINT, OFF(upload_retry_max_ms), "300000", 10, 3600000,
      "recorder: longest wait between upload tries while the store fails" },
    { "upload-threads", CONF_UINT, OFF(upload_threads), "2", 1, 8,
      "recorder: archives uploaded in parallel (a store's cost per object bounds one stream)" },
    { "object-lock-mode", CONF_STR, OFF(object_lock_mode), "governance", 0, 0,
      "recorder: with a bucket that has Object Lock, each upload's retention mode: governance, "
      "compliance (no one, not even the root account, can shorten it) or off" },
    { "retention-days", CONF_UINT, OFF(retention_days), "0", 0, 36500,
      "recorder: Object Lock: each upload retained until its recording's start + this many "
      "days (keep it equal to the retention job's --older-than); 0: none of its own" },
};
#undef OFF
const size_t objstore_conf_n_items = SR_ARRAY_LEN(objstore_conf_items);

enum sr_err objstore_cfg_load(struct objstore_cfg *cfg, const char *path, char *why, size_t whylen)
{
    char arg[CONF_STR_MAX + 16];
    char prog[] = "srtprec";
    char *argv[] = { prog, arg, NULL };
    int shown = 0;
    enum sr_err err;

    if (!cfg || !path)
        return SR_EINVAL;
    snprintf(arg, sizeof(arg), "--config=%s", path);
    err = conf_load(objstore_conf_items, objstore_conf_n_items, cfg, "store", 2, argv, &shown, why,
                    whylen);
    if (err)
        return err;
    return cfg->url[0] ? SR_OK : SR_ENOTFOUND;
}

/* ------------------------------------------------------------------ helpers */

static void sha256_hex(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    unsigned dl = 0;

    EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
    sr_hex_encode(d, sizeof(d), out);
}

static void bin_hex(const uint8_t *d, size_t n, char *out)
{
    sr_hex_encode(d, n, out);
}

static bool bucket_ok(const char *b)
{
    size_t n = strlen(b);

    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
              b[i] == '.'))
            return false;
    return true;
}

static bool key_ok(const char *key)
{
    size_t n = key ? strlen(key) : 0;

    if (n == 0 || n > OBJSTORE_KEY_MAX || key[0] == '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return false;
    return true;
}

/* RFC 3986 unreserved stay, '/' stays in a key (SigV4 signs the path as sent). */
static bool url_escape(const char *in, bool keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
                     *p == '~' || (keep_slash && *p == '/');
        if (o + (plain ? 1 : 3) >= cap)
            return false;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return true;
}

/* The key file: key on line 1, secret on line 2.  Refused when anyone but
 * the owner may read it: the secret must not leak through a config review. */
static enum objstore_err read_key_file(struct objstore *s, const char *path, char *why, size_t wl)
{
    char buf[KEY_FILE_MAX + 1];
    struct stat sb;
    ssize_t n;
    int fd;
    enum objstore_err err = OBJSTORE_EINVAL;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(why, wl, "access-key-file %s: %s", path, strerror(errno));
        return OBJSTORE_EINVAL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(why, wl, "access-key-file %s: not a regular file", path);
        goto out;
    }
    if (sb.st_mode & 077) {
        snprintf(why, wl, "access-key-file %s: mode %03o, must be 0600 or stricter", path,
                 (unsigned)(sb.st_mode & 0777));
        goto out;
    }
    n = read(fd, buf, KEY_FILE_MAX);
    if (n < 0) {
        snprintf(why, wl, "access-key-file %s: %s", path, strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    {
        struct slice cur = slice_of(buf, (size_t)n);
        struct slice k = slice_trim(slice_split(&cur, '\n'));
        struct slice sec = slice_trim(slice_split(&cur, '\n'));
        if (k.len == 0 || sec.len == 0 || !slice_copy_cstr(k, s->access, sizeof(s->access)) ||
            !slice_copy_cstr(sec, s->secret, sizeof(s->secret))) {
            snprintf(why, wl, "access-key-file %s: want the access key on line 1 and the secret on line 2",
                     path);
            goto out;
        }
    }
    err = OBJSTORE_OK;
out:
    sr_wipe(buf, sizeof(buf));
    close(fd);
    return err;
}

/* ------------------------------------------------------------------ libcurl edge */

struct cb_ctx {
    struct objstore *s;
    const struct objstore_req *rq;
    struct objstore_resp *rs;
    size_t up_off;
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct cb_ctx *c = arg;
    struct objstore_resp *rs = c->rs;
    size_t len = size * n;
    struct slice line = slice_trim(slice_of(p, len)), name, val;

    if (line.len >= 5 && memcmp(line.p, "HTTP/", 5) == 0) { /* a new answer (after 100) */
        rs->etag[0] = rs->meta_sha256[0] = rs->request_id[0] = '\0';
        rs->have_length = false;
        rs->range_total = 0;
        rs->mtime = 0;
        rs->lock_mode[0] = rs->lock_until[0] = '\0';
        return len;
    }
    val = line;
    name = slice_trim(slice_split(&val, ':'));
    val = slice_trim(val);
    if (slice_eq_nocase(name, SLICE_LIT("ETag"))) {
        if (val.len >= 2 && val.p[0] == '"' && val.p[val.len - 1] == '"') {
            val.p++;
            val.len -= 2;
        }
        slice_copy_cstr(val, rs->etag, sizeof(rs->etag));
    } else if (slice_eq_nocase(name, SLICE_LIT("x-amz-meta-sha256"))) {
        slice_copy_cstr(val, rs->meta_sha256, sizeof(rs->meta_sha256));
    } else if (slice_eq_nocase(name, SLICE_LIT("x-amz-object-lock-mode"))) {
        slice_copy_cstr(val, rs->lock_mode, sizeof(rs->lock_mode));
    } else if (slice_eq_nocase(name, SLICE_LIT("x-amz-object-lock-retain-until-date"))) {
        slice_copy_cstr(val, rs->lock_until, sizeof(rs->lock_until));
    } else if (slice_eq_nocase(name, SLICE_LIT("x-amz-request-id"))) {
        slice_copy_cstr(val, rs->request_id, sizeof(rs->request_id));
    } else if (slice_eq_nocase(name, SLICE_LIT("Content-Length"))) {
        rs->have_length = slice_to_u64(val, UINT64_MAX / 2, &rs->content_length);
    } else if (slice_eq_nocase(name, SLICE_LIT("Content-Range"))) {
        long slash = slice_find(val, '/');
        uint64_t t;
        if (slash >= 0 &&
            slice_to_u64(slice_of(val.p + slash + 1, val.len - (size_t)slash - 1), UINT64_MAX / 2, &t))
            rs->range_total = t;
    } else if (slice_eq_nocase(name, SLICE_LIT("Last-Modified"))) {
        char d[64];
        if (slice_copy_cstr(val, d, sizeof(d))) {
            time_t t = curl_getdate(d, NULL);
            rs->mtime = t > 0 ? (int64_t)t : 0;
        }
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct cb_ctx *c = arg;
    struct objstore_resp *rs = c->rs;
    size_t len = size * n;
    long code = 0;

    curl_easy_getinfo(c->s->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300 && c->rq->sink) {
        if (!c->rq->sink(p, len, c->rq->sink_arg)) {
            rs->sink_stopped = true;
            return 0; /* CURLE_WRITE_ERROR */
        }
        rs->delivered += len;
        return len;
    }
    /* Error documents and XML answers are small; past the bound, drop. */
    size_t room = OBJSTORE_XML_MAX - rs->body_len;
    size_t take = len < room ? len : room;
    memcpy(rs->body + rs->body_len, p, take);
    rs->body_len += take;
    rs->body[rs->body_len] = '\0';
    return len;
}

static size_t on_upload(char *p, size_t size, size_t n, void *arg)
{
    struct cb_ctx *c = arg;
    size_t want = size * n, left = c->rq->body_len - c->up_off;
    size_t take = want < left ? want : left;

    if (take)
        memcpy(p, c->rq->body + c->up_off, take);
    c->up_off += take;
    return take;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct cb_ctx *c = arg;

    (void)dt, (void)dn, (void)ut, (void)un;
    return c->s->hooks.cancelled(c->s->hooks.arg) ? 1 : 0;
}

/* Rewinding for a redirect or an auth round: start the body again. */
static int on_seek(void *arg, curl_off_t off, int origin)
{
    struct cb_ctx *c = arg;

    if (origin != SEEK_SET || off < 0 || (uint64_t)off > c->rq->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    c->up_off = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static bool add_hdr(struct objstore *s, const char *name, const char *v)
{
    char line[512];
    struct curl_slist *l;

    snprintf(line, sizeof(line), "%s:%s%s", name, v[0] ? " " : "", v);
    l = curl_slist_append(s->hdrs, line);
    if (!l)
        return false;
    s->hdrs = l;
    return true;
}

static enum objstore_err curl_transport(void *arg, const struct objstore_req *rq,
                                        struct objstore_resp *rs)
{
    struct objstore *s = arg;
    struct cb_ctx c = { .s = s, .rq = rq, .rs = rs };
    char url[URL_MAX], ekey[3 * OBJSTORE_KEY_MAX + 1], range[64], errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = s->curl;
    CURLcode cc;
    int n;

    if (rq->key && !url_escape(rq->key, true, ekey, sizeof(ekey)))
        return OBJSTORE_EINVAL;
    n = snprintf(url, sizeof(url), "%s/%s%s%s%s%s", s->cfg.url, s->cfg.bucket, rq->key ? "/" : "",
                 rq->key ? ekey : "", rq->query ? "?" : "", rq->query ? rq->query : "");
    if (n < 0 || (size_t)n >= sizeof(url))
        return OBJSTORE_EINVAL;

    curl_easy_reset(h);
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    if (!add_hdr(s, "x-amz-content-sha256", rq->body_sha256 ? rq->body_sha256 : empty_sha256) ||
        (rq->meta_sha256 && !add_hdr(s, "x-amz-meta-sha256", rq->meta_sha256)) ||
        (rq->content_md5 && !add_hdr(s, "Content-MD5", rq->content_md5)) ||
        (rq->lock_mode && !add_hdr(s, "x-amz-object-lock-mode", rq->lock_mode)) ||
        (rq->lock_until && !add_hdr(s, "x-amz-object-lock-retain-until-date", rq->lock_until)) ||
        (strcmp(rq->method, "POST") == 0 && !add_hdr(s, "Content-Type", "application/xml")))
        return OBJSTORE_ENOMEM;
    if (rq->range) {
        if (rq->range_len == UINT64_MAX)
            snprintf(range, sizeof(range), "%" PRIu64 "-", rq->range_off);
        else
            snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, rq->range_off,
                     rq->range_off + rq->range_len - 1);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    /* Set apart, so the colon in a Swift key ("account:user") is not split. */
    curl_easy_setopt(h, CURLOPT_USERNAME, s->access);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->cfg.ca[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, s->cfg.ca);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, s->cfg.lab_plain_http ? "https,http" : "https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)s->cfg.timeout_s);
    /* A stall, not a slow store, is what fails: under 1 KB/s for timeout s. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)s->cfg.timeout_s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    if (s->hooks.cancelled) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &c);
    }
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(h, CURLOPT_READDATA, &c);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &c);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    }

    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->http);
    if (cc == CURLE_OK)
        return OBJSTORE_OK;
    snprintf(rs->errtext, sizeof(rs->errtext), "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    if (rs->sink_stopped)
        return OBJSTORE_EIO;
    rs->http = 0; /* a broken answer is no answer */
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return OBJSTORE_ETLS;
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
        return OBJSTORE_EINVAL;
    default:
        return OBJSTORE_ECONNECT;
    }
}

/* ------------------------------------------------------------------ create */

enum objstore_err objstore_create(struct objstore **out, const struct objstore_cfg *cfg,
                                  const struct objstore_hooks *hooks, char *why, size_t whylen)
{
    struct objstore *s;
    enum objstore_err err = OBJSTORE_EINVAL;
    char dummy[8];

    if (!why) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    why[0] = '\0';
    if (!out || !cfg)
        return OBJSTORE_EINVAL;
    if (strncmp(cfg->url, "https://", 8) != 0 &&
        !(cfg->lab_plain_http && strncmp(cfg->url, "http://", 7) == 0)) {
        snprintf(why, whylen, "[store] url must be https:// (got '%.200s')", cfg->url);
        return OBJSTORE_EINVAL;
    }
    if (!bucket_ok(cfg->bucket)) {
        snprintf(why, whylen, "[store] bucket '%.64s': 3-63 of a-z 0-9 . -", cfg->bucket);
        return OBJSTORE_EINVAL;
    }
    if (!cfg->region[0] || strlen(cfg->region) > 64 || strpbrk(cfg->region, ":/ ")) {
        snprintf(why, whylen, "[store] region '%.64s' is not a region name", cfg->region);
        return OBJSTORE_EINVAL;
    }
    if (cfg->part_size < OBJSTORE_PART_MIN || cfg->part_size > OBJSTORE_PART_MAX ||
        cfg->backoff_min_ms == 0 || cfg->backoff_max_ms < cfg->backoff_min_ms ||
        cfg->timeout_s == 0) {
        snprintf(why, whylen, "[store] part-size, backoff or timeout out of range");
        return OBJSTORE_EINVAL;
    }
    if (!objstore_lock_mode_of(cfg) && strcasecmp(cfg->object_lock_mode, "off") != 0) {
        snprintf(why, whylen, "[store] object-lock-mode '%.32s': governance, compliance or off",
                 cfg->object_lock_mode);
        return OBJSTORE_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return OBJSTORE_ENOMEM;
    s->cfg = *cfg;
    {
        size_t ul = strlen(s->cfg.url);
        while (ul > 0 && s->cfg.url[ul - 1] == '/')
            s->cfg.url[--ul] = '\0';
    }
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%.64s:s3", cfg->region);
    if (hooks)
        s->hooks = *hooks;
    s->prng = sr_now_us() ^ (uint64_t)(uintptr_t)s;
    s->rs = malloc(sizeof(*s->rs));
    if (!s->rs) {
        err = OBJSTORE_ENOMEM;
        goto fail;
    }
    if (!cfg->access_key_file[0]) {
        snprintf(why, whylen, "[store] access-key-file is required");
        goto fail;
    }
    if ((err = read_key_file(s, cfg->access_key_file, why, whylen)))
        goto fail;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(s->curl = curl_easy_init())) {
        snprintf(why, whylen, "libcurl initialisation failed");
        err = OBJSTORE_ENOMEM;
        goto fail;
    }
    s->transport = curl_transport;
    s->transport_arg = s;
    *out = s;
    return OBJSTORE_OK;
fail:
    objstore_destroy(s);
    return err;
}

void objstore_destroy(struct objstore *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->hdrs);
    sr_wipe(s->secret, sizeof(s->secret));
    free(s->rs);
    free(s->part);
    free(s);
}

void objstore_set_transport(struct objstore *s, objstore_transport_fn *fn, void *arg)
{
    s->transport = fn;
    s->transport_arg = arg;
}

/* ------------------------------------------------------------------ retries */

static uint32_t rnd32(struct objstore *s)
{
    if (s->hooks.random)
        return s->hooks.random(s->hooks.arg);
    s->prng ^= s->prng << 13; /* xorshift64: jitter needs no secrecy */
    s->prng ^= s->prng >> 7;
    s->prng ^= s->prng << 17;
    return (uint32_t)(s->prng >> 32);
}

static void pause_ms(struct objstore *s, unsigned ms)
{
    if (s->hooks.sleep_ms) {
        s->hooks.sleep_ms(s->hooks.arg, ms);
        return;
    }
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Wait before retry n (0-based): min(max, min * 2^n), times [0.5, 1). */
static unsigned backoff_ms(struct objstore *s, unsigned n)
{
    uint64_t w = s->cfg.backoff_min_ms;

    for (unsigned i = 0; i < n && w < s->cfg.backoff_max_ms; i++)
        w *= 2;
    if (w > s->cfg.backoff_max_ms)
        w = s->cfg.backoff_max_ms;
    return (unsigned)(w / 2 + (w - w / 2) * (uint64_t)rnd32(s) / ((uint64_t)UINT32_MAX + 1));
}

static enum objstore_err err_of_status(long http, const char *code)
{
    if (http >= 200 && http < 300)
        return OBJSTORE_OK;
    if (strcmp(code, "BadDigest") == 0 || strcmp(code, "InvalidDigest") == 0 ||
        strcmp(code, "XAmzContentSHA256Mismatch") == 0)
        return OBJSTORE_EINTEGRITY;
    if (http == 403 || http == 401)
        return OBJSTORE_EAUTH;
    if (http == 404)
        return OBJSTORE_ENOTFOUND;
    if (http == 416)
        return OBJSTORE_ERANGE;
    if (http == 500 || http == 502 || http == 503 || http == 504)
        return OBJSTORE_EBUSY;
    return OBJSTORE_EREJECTED;
}

static void status_from(struct objstore_status *st, const struct objstore_resp *rs)
{
    struct objstore_xml x;

    st->http = rs->http;
    st->code[0] = st->message[0] = '\0';
    snprintf(st->request_id, sizeof(st->request_id), "%s", rs->request_id);
    if (!rs->http) {
        snprintf(st->message, sizeof(st->message), "%s", rs->errtext);
        return;
    }
    if ((rs->http < 200 || rs->http >= 300) && rs->body_len &&
        objstore_xml_parse(rs->body, rs->body_len, &x) == SR_OK && strcmp(x.root, "Error") == 0) {
        snprintf(st->code, sizeof(st->code), "%s", x.code);
        snprintf(st->message, sizeof(st->message), "%s", x.message);
        if (x.request_id[0])
            snprintf(st->request_id, sizeof(st->request_id), "%s", x.request_id);
    }
}

/* One request with its retries.  The answer stays in s->rs.  A GET into a
 * sink resumes after what it delivered; *delivered counts all of it. */
static enum objstore_err request(struct objstore *s, struct objstore_req *rq,
                                 struct objstore_status *st, uint64_t *delivered)
{
    struct objstore_resp *rs = s->rs;
    uint64_t got = 0;
    enum objstore_err err;

    memset(st, 0, sizeof(*st));
    for (unsigned attempt = 0;; attempt++) {
        memset(rs, 0, offsetof(struct objstore_resp, body));
        rs->body[0] = '\0';
        rs->body_len = 0;
        rs->delivered = 0;
        rs->sink_stopped = false;
        rs->errtext[0] = '\0';
        st->attempts++;
        err = s->transport(s->transport_arg, rq, rs);
        got += rs->delivered;
        if (rq->sink && rs->delivered) { /* a retry asks only for the rest */
            rq->range = true;
            rq->range_off += rs->delivered;
            if (rq->range_len != UINT64_MAX)
                rq->range_len -= rs->delivered;
        }
        status_from(st, rs);
        if (err == OBJSTORE_OK)
            err = err_of_status(rs->http, st->code);
        if (!objstore_err_transient(err) || attempt >= s->cfg.retries ||
            (s->hooks.cancelled && s->hooks.cancelled(s->hooks.arg)))
            break;
        pause_ms(s, backoff_ms(s, attempt));
    }
    if (delivered)
        *delivered = got;
    return err;
}

/* ------------------------------------------------------------------ operations */

static struct objstore_status *st_or(struct objstore_status *st, struct objstore_status *tmp)
{
    return st ? st : tmp;
}

enum objstore_err objstore_head(struct objstore *s, const char *key, struct objstore_info *info,
                                struct objstore_status *st)
{
    struct objstore_status tmp;
    struct objstore_req rq = { .method = "HEAD", .key = key };
    enum objstore_err err;

    if (!s || !key_ok(key))
        return OBJSTORE_EINVAL;
    err = request(s, &rq, st_or(st, &tmp), NULL);
    if (err == OBJSTORE_OK && info) {
        memset(info, 0, sizeof(*info));
        info->size = s->rs->content_length;
        snprintf(info->etag, sizeof(info->etag), "%s", s->rs->etag);
        snprintf(info->sha256, sizeof(info->sha256), "%s", s->rs->meta_sha256);
        info->mtime = s->rs->mtime;
        snprintf(info->lock_mode, sizeof(info->lock_mode), "%s", s->rs->lock_mode);
        snprintf(info->lock_until, sizeof(info->lock_until), "%s", s->rs->lock_until);
    }
    return err;
}

enum objstore_err objstore_get(struct objstore *s, const char *key, uint64_t offset, uint64_t len,
                               objstore_data_fn *fn, void *arg, uint64_t *total,
                               struct objstore_status *st)
{
    struct objstore_status tmp;
    struct objstore_req rq = { .method = "GET", .key = key, .sink = fn, .sink_arg = arg,
                               .range_len = UINT64_MAX };
    enum objstore_err err;

    if (total)
        *total = 0;
    if (!s || !key_ok(key) || !fn)
        return OBJSTORE_EINVAL;
    if (len == 0)
        return OBJSTORE_OK;
    if (offset != 0 || len != UINT64_MAX) {
        if (len != UINT64_MAX && offset > UINT64_MAX - len)
            return OBJSTORE_EINVAL;
        rq.range = true;
        rq.range_off = offset;
        rq.range_len = len;
    }
    err = request(s, &rq, st_or(st, &tmp), NULL);
    if (total)
        *total = s->rs->range_total ? s->rs->range_total
                 : s->rs->http == 200 && s->rs->have_length ? s->rs->content_length : 0;
    return err;
}

enum objstore_err objstore_delete(struct objstore *s, const char *key, struct objstore_status *st)
{
    struct objstore_status tmp;
    struct objstore_req rq = { .method = "DELETE", .key = key };
    enum objstore_err err;

    if (!s || !key_ok(key))
        return OBJSTORE_EINVAL;
    err = request(s, &rq, st_or(st, &tmp), NULL);
    return err == OBJSTORE_ENOTFOUND && strcmp(st_or(st, &tmp)->code, "NoSuchBucket") != 0
               ? OBJSTORE_OK : err;
}

enum objstore_err objstore_bucket_create(struct objstore *s, struct objstore_status *st)
{
    struct objstore_status tmp, *sp = st_or(st, &tmp);
    struct objstore_req rq = { .method = "PUT" };
    enum objstore_err err;

    if (!s)
        return OBJSTORE_EINVAL;
    err = request(s, &rq, sp, NULL);
    if (err == OBJSTORE_EREJECTED && strcmp(sp->code, "BucketAlreadyOwnedByYou") == 0)
        return OBJSTORE_OK;
    return err;
}

enum objstore_err objstore_lock_probe(struct objstore *s, struct objstore_lock *lock,
                                      struct objstore_status *st)
{
    struct objstore_status tmp, *sp = st_or(st, &tmp);
    struct objstore_req rq = { .method = "GET", .query = "object-lock=" };
    struct objstore_xml x;
    enum objstore_err err;

    if (!s || !lock)
        return OBJSTORE_EINVAL;
    memset(lock, 0, sizeof(*lock));
    err = request(s, &rq, sp, NULL);
    /* S3 without a lock: 404 ObjectLockConfigurationNotFoundError. */
    if (err == OBJSTORE_ENOTFOUND && strcmp(sp->code, "ObjectLockConfigurationNotFoundError") == 0)
        return OBJSTORE_OK;
    if (err)
        return err;
    if (objstore_xml_parse(s->rs->body, s->rs->body_len, &x) != SR_OK)
        return OBJSTORE_EPROTO;
    if (strcmp(x.root, "ObjectLockConfiguration") != 0)
        return OBJSTORE_OK; /* Swift: a listing, i.e. no lock */
    lock->enabled = strcmp(x.lock_enabled, "Enabled") == 0;
    snprintf(lock->mode, sizeof(lock->mode), "%s", x.mode);
    lock->days = x.days;
    return OBJSTORE_OK;
}

/* Content-MD5's value: base64 of the MD5 (25 bytes with the terminator). */
static void md5_b64(const void *p, size_t n, char out[32])
{
    uint8_t md5[16];
    unsigned dl = 0;

    EVP_Digest(p, n, md5, &dl, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md5, sizeof(md5));
}

const char *objstore_lock_mode_of(const struct objstore_cfg *cfg)
{
    const char *m = cfg ? cfg->object_lock_mode : "off";

    if (!m[0] || strcasecmp(m, "governance") == 0)
        return "GOVERNANCE";
    if (strcasecmp(m, "compliance") == 0)
        return "COMPLIANCE";
    return NULL;
}

const char *objstore_lock_date(int64_t until, char *buf, size_t cap)
{
    time_t t = (time_t)until;
    struct tm tm;

    if (!cap)
        return buf;
    buf[0] = '\0';
    if (gmtime_r(&t, &tm))
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int64_t objstore_lock_date_parse(const char *text)
{
    struct tm tm;
    const char *e;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (!text || !(e = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm)))
        return 0;
    if (*e == '.') /* fractional seconds: the lock is to the second */
        for (e++; *e >= '0' && *e <= '9'; e++) {
        }
    if (strcmp(e, "Z") != 0 && strcmp(e, "+00:00") != 0)
        return 0;
    t = timegm(&tm);
    return t > 0 ? (int64_t)t : 0;
}

bool objstore_retained(struct objstore *s, const char *key, int64_t now,
                       struct objstore_info *info)
{
    struct objstore_status st;

    if (objstore_head(s, key, info, &st) != OBJSTORE_OK || !info->lock_until[0])
        return false;
    return objstore_lock_date_parse(info->lock_until) > now;
}

enum objstore_err objstore_legal_hold(struct objstore *s, const char *key, bool on,
                                      struct objstore_status *st)
{
    struct objstore_status tmp;
    char body[160], body_hash[65], md5b64[32];
    int n;
    struct objstore_req rq = { .method = "PUT", .key = key, .query = "legal-hold=",
                               .body_sha256 = body_hash, .content_md5 = md5b64 };

    if (!s || !key_ok(key))
        return OBJSTORE_EINVAL;
    n = snprintf(body, sizeof(body),
                 "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>%s</Status>"
                 "</LegalHold>", on ? "ON" : "OFF");
    rq.body = (const uint8_t *)body;
    rq.body_len = (size_t)n;
    sha256_hex(body, rq.body_len, body_hash);
    md5_b64(body, rq.body_len, md5b64);
    return request(s, &rq, st_or(st, &tmp), NULL);
}

/* One body: its SHA-256 for the signature, its MD5 for the ETag check.
 * lk: the lock headers of a single PUT (their date already formatted), or
 * a part of a locked multipart upload (mode and date NULL): both send
 * Content-MD5. */
struct put_lock {
    const char *mode, *until;
};
static enum objstore_err put_body(struct objstore *s, const char *key, const char *query,
                                  const uint8_t *p, size_t n, const char *meta,
                                  const struct put_lock *lk, struct objstore_status *st)
{
    char body_hash[65], md5hex[33], md5b64[32];
    uint8_t md5[16];
    unsigned dl = 0;
    struct objstore_req rq = { .method = "PUT", .key = key, .query = query, .body = p,
                               .body_len = n, .body_sha256 = body_hash, .meta_sha256 = meta,
                               .content_md5 = lk ? md5b64 : NULL,
                               .lock_mode = lk ? lk->mode : NULL,
                               .lock_until = lk ? lk->until : NULL };
    enum objstore_err err;

    sha256_hex(p, n, body_hash);
    if (lk)
        md5_b64(p, n, md5b64);
    EVP_Digest(p, n, md5, &dl, EVP_md5(), NULL);
    bin_hex(md5, sizeof(md5), md5hex);
    err = request(s, &rq, st, NULL);
    if (err)
        return err;
    if (!s->rs->etag[0])
        return OBJSTORE_EPROTO;
    if (strcasecmp(s->rs->etag, md5hex) != 0) {
        snprintf(st->message, sizeof(st->message), "ETag %s, sent MD5 %s", s->rs->etag, md5hex);
        return OBJSTORE_EINTEGRITY;
    }
    return OBJSTORE_OK;
}

enum objstore_err objstore_put_mem(struct objstore *s, const char *key, const void *data,
                                   size_t len, struct objstore_info *info,
                                   struct objstore_status *st)
{
    struct objstore_status tmp;
    char hash[65];
    enum objstore_err err;

    if (!s || !key_ok(key) || (!data && len))
        return OBJSTORE_EINVAL;
    sha256_hex(data ? data : "", len, hash);
    err = put_body(s, key, NULL, data ? data : (const void *)"", len, hash, NULL, st_or(st, &tmp));
    if (err == OBJSTORE_OK && info) {
        memset(info, 0, sizeof(*info));
        info->size = len;
        snprintf(info->etag, sizeof(info->etag), "%s", s->rs->etag);
        memcpy(info->sha256, hash, sizeof(hash));
    }
    return err;
}

static bool read_full(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static void abort_upload(struct objstore *s, const char *key, const char *query_id)
{
    struct objstore_status st;
    struct objstore_req rq = { .method = "DELETE", .key = key, .query = query_id };

    request(s, &rq, &st, NULL);
}

enum objstore_err objstore_put_file(struct objstore *s, const char *key, const char *path,
                                    const char *sha256_hex_want, struct objstore_info *info,
                                    struct objstore_status *st)
{
    return objstore_put_file_retained(s, key, path, sha256_hex_want, NULL, info, st);
}

enum objstore_err objstore_put_file_retained(struct objstore *s, const char *key, const char *path,
                                             const char *sha256_hex_want,
                                             const struct objstore_retain *rt,
                                             struct objstore_info *info,
                                             struct objstore_status *st)
{
    char until[40];
    const struct put_lock lock = { rt ? rt->mode : NULL, until }, part_lock = { NULL, NULL };
    struct objstore_status tmp, *sp = st_or(st, &tmp);
    char hash[65], q[1024], eid[3 * sizeof(((struct objstore_xml *)0)->upload_id)];
    char *complete = NULL;
    uint8_t (*md5s)[16] = NULL;
    uint8_t digest[32];
    unsigned dl = 0;
    EVP_MD_CTX *whole = NULL;
    struct stat sb;
    uint64_t size, nparts;
    enum objstore_err err = OBJSTORE_EIO;
    bool initiated = false;
    int fd;

    if (!s || !key_ok(key) || !path || (rt && (!rt->mode || rt->until <= 0)))
        return OBJSTORE_EINVAL;
    if (rt)
        objstore_lock_date(rt->until, until, sizeof(until));
    memset(sp, 0, sizeof(*sp));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(sp->message, sizeof(sp->message), "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return OBJSTORE_EIO;
    }
    size = (uint64_t)sb.st_size;
    if (!s->part && !(s->part = malloc(s->cfg.part_size))) {
        err = OBJSTORE_ENOMEM;
        goto out;
    }
    whole = EVP_MD_CTX_new();
    if (!whole || !EVP_DigestInit_ex(whole, EVP_sha256(), NULL)) {
        err = OBJSTORE_ENOMEM;
        goto out;
    }

    if (size < s->cfg.part_size) { /* one PUT */
        if (!read_full(fd, s->part, (size_t)size)) {
            snprintf(sp->message, sizeof(sp->message), "%s: short read", path);
            goto out;
        }
        sha256_hex(s->part, (size_t)size, hash);
        if (sha256_hex_want && sha256_hex_want[0] && strcasecmp(hash, sha256_hex_want) != 0) {
            snprintf(sp->message, sizeof(sp->message), "%s: SHA-256 %s, index says %s", path,
                     hash, sha256_hex_want);
            err = OBJSTORE_EINTEGRITY;
            goto out;
        }
        err = put_body(s, key, NULL, s->part, (size_t)size, hash, rt ? &lock : NULL, sp);
        goto done;
    }

    nparts = (size + s->cfg.part_size - 1) / s->cfg.part_size;
    if (nparts > OBJSTORE_MAX_PARTS) {
        snprintf(sp->message, sizeof(sp->message), "%s: over %u parts of %lu bytes", path,
                 (unsigned)OBJSTORE_MAX_PARTS, s->cfg.part_size);
        err = OBJSTORE_EINVAL;
        goto out;
    }
    md5s = calloc((size_t)nparts, sizeof(*md5s));
    /* <Part><PartNumber>10000</PartNumber><ETag>"32 hex"</ETag></Part> */
    complete = malloc((size_t)nparts * 80 + 128);
    if (!md5s || !complete) {
        err = OBJSTORE_ENOMEM;
        goto out;
    }
    /* The whole file's hash is known only at the end; x-amz-meta-sha256 says
     * what the index says, and the end checks the file agrees. */
    {
        struct objstore_req rq = { .method = "POST", .key = key, .query = "uploads=",
                                   .meta_sha256 = sha256_hex_want && sha256_hex_want[0]
                                                      ? sha256_hex_want : NULL,
                                   .lock_mode = rt ? lock.mode : NULL,
                                   .lock_until = rt ? lock.until : NULL };
        struct objstore_xml x;
        if ((err = request(s, &rq, sp, NULL)))
            goto out;
        if (objstore_xml_parse(s->rs->body, s->rs->body_len, &x) != SR_OK || !x.upload_id[0]) {
            err = OBJSTORE_EPROTO;
            snprintf(sp->message, sizeof(sp->message), "no UploadId in the answer");
            goto out;
        }
        if (!url_escape(x.upload_id, false, eid, sizeof(eid))) {
            err = OBJSTORE_EPROTO;
            goto out;
        }
        initiated = true;
    }
    {
        size_t cl = (size_t)snprintf(complete, 128, "<CompleteMultipartUpload>");
        for (uint64_t i = 0; i < nparts; i++) {
            size_t n = (size_t)(i + 1 < nparts ? s->cfg.part_size : size - i * s->cfg.part_size);
            char md5hex[33];
            if (!read_full(fd, s->part, n)) {
                snprintf(sp->message, sizeof(sp->message), "%s: short read", path);
                err = OBJSTORE_EIO;
                goto out;
            }
            EVP_DigestUpdate(whole, s->part, n);
            EVP_Digest(s->part, n, md5s[i], &dl, EVP_md5(), NULL);
            snprintf(q, sizeof(q), "partNumber=%" PRIu64 "&uploadId=%s", i + 1, eid);
            if ((err = put_body(s, key, q, s->part, n, NULL, rt ? &part_lock : NULL, sp)))
                goto out;
            bin_hex(md5s[i], 16, md5hex);
            cl += (size_t)sprintf(complete + cl, "<Part><PartNumber>%" PRIu64
                                  "</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1, md5hex);
        }
        cl += (size_t)sprintf(complete + cl, "</CompleteMultipartUpload>");
        EVP_DigestFinal_ex(whole, digest, &dl);
        bin_hex(digest, 32, hash);
        if (sha256_hex_want && sha256_hex_want[0] && strcasecmp(hash, sha256_hex_want) != 0) {
            snprintf(sp->message, sizeof(sp->message), "%s: SHA-256 %s, index says %s", path,
                     hash, sha256_hex_want);
            err = OBJSTORE_EINTEGRITY;
            goto out;
        }
        char body_hash[65], want_etag[48];
        uint8_t mm[16];
        struct objstore_xml x;
        sha256_hex(complete, cl, body_hash);
        snprintf(q, sizeof(q), "uploadId=%s", eid);
        struct objstore_req rq = { .method = "POST", .key = key, .query = q,
                                   .body = (const uint8_t *)complete, .body_len = cl,
                                   .body_sha256 = body_hash };
        if ((err = request(s, &rq, sp, NULL)))
            goto out;
        /* S3 may answer 200 with an Error document (a failure after the
         * status line went out). */
        if (objstore_xml_parse(s->rs->body, s->rs->body_len, &x) != SR_OK) {
            err = OBJSTORE_EPROTO;
            snprintf(sp->message, sizeof(sp->message), "CompleteMultipartUpload: unreadable answer");
            goto out;
        }
        if (strcmp(x.root, "Error") == 0) {
            snprintf(sp->code, sizeof(sp->code), "%s", x.code);
            snprintf(sp->message, sizeof(sp->message), "%s", x.message);
            err = strcmp(x.code, "InternalError") == 0 || strcmp(x.code, "SlowDown") == 0 ||
                          strcmp(x.code, "ServiceUnavailable") == 0
                      ? OBJSTORE_EBUSY : OBJSTORE_EREJECTED;
            goto out;
        }
        EVP_Digest(md5s, (size_t)nparts * 16, mm, &dl, EVP_md5(), NULL);
        bin_hex(mm, 16, want_etag);
        snprintf(want_etag + 32, sizeof(want_etag) - 32, "-%" PRIu64, nparts);
        if (strcasecmp(x.etag, want_etag) != 0) {
            snprintf(sp->message, sizeof(sp->message), "ETag %s, parts' MD5s give %s", x.etag,
                     want_etag);
            initiated = false; /* completed: the object must go, not the upload */
            objstore_delete(s, key, &tmp);
            err = OBJSTORE_EINTEGRITY;
            goto out;
        }
        snprintf(s->rs->etag, sizeof(s->rs->etag), "%s", x.etag);
        initiated = false;
    }
done:
    if (err == OBJSTORE_OK && info) {
        memset(info, 0, sizeof(*info));
        info->size = size;
        snprintf(info->etag, sizeof(info->etag), "%s", s->rs->etag);
        memcpy(info->sha256, hash, sizeof(hash));
    }
out:
    if (initiated && err != OBJSTORE_OK) {
        snprintf(q, sizeof(q), "uploadId=%s", eid);
        abort_upload(s, key, q);
    }
    EVP_MD_CTX_free(whole);
    free(md5s);
    free(complete);
    close(fd);
    return err;
}

/* ------------------------------------------------------------------ locations */

enum objstore_err objstore_list(struct objstore *s, const char *prefix, objstore_list_fn *fn,
                                void *arg, struct objstore_status *st)
{
    struct objstore_status tmp, *sp = st_or(st, &tmp);
    struct objstore_list_page *pg = NULL;
    char eprefix[3 * OBJSTORE_KEY_MAX + 1], etoken[3 * OBJSTORE_LIST_TOKEN_MAX + 1] = "";
    char q[sizeof(eprefix) + sizeof(etoken) + 96];
    enum objstore_err err = OBJSTORE_EINVAL;

    if (!s || !fn || !url_escape(prefix ? prefix : "", false, eprefix, sizeof(eprefix)))
        return OBJSTORE_EINVAL;
    if (!(pg = malloc(sizeof(*pg))))
        return OBJSTORE_ENOMEM;
    for (unsigned page = 0; page < 1000000; page++) {
        /* Parameters in SigV4's canonical (sorted) order. */
        struct objstore_req rq = { .method = "GET", .query = q };
        int n = snprintf(q, sizeof(q), "%s%s%slist-type=2&max-keys=%d&prefix=%s",
                         etoken[0] ? "continuation-token=" : "", etoken, etoken[0] ? "&" : "",
                         OBJSTORE_LIST_PAGE_MAX, eprefix);
        if (n < 0 || (size_t)n >= sizeof(q))
            goto out;
        if ((err = request(s, &rq, sp, NULL)))
            goto out;
        err = OBJSTORE_EPROTO;
        if (objstore_list_parse(s->rs->body, s->rs->body_len, pg) != SR_OK) {
            snprintf(sp->message, sizeof(sp->message), "the listing's page %u is not a "
                     "ListBucketResult this client reads (malformed or over its bounds)", page + 1);
            goto out;
        }
        for (size_t i = 0; i < pg->n; i++)
            if (!fn(pg->entries[i].key, pg->entries[i].size, arg)) {
                err = OBJSTORE_EIO;
                goto out;
            }
        err = OBJSTORE_OK;
        if (!pg->truncated)
            goto out;
        if (!url_escape(pg->next_token, false, etoken, sizeof(etoken))) {
            err = OBJSTORE_EPROTO;
            goto out;
        }
    }
    err = OBJSTORE_EPROTO;
    snprintf(sp->message, sizeof(sp->message), "the listing did not end after 1000000 pages");
out:
    free(pg);
    return err;
}

const char *objstore_location(const struct objstore *s, const char *key, char *buf, size_t cap)
{
    snprintf(buf, cap, "s3://%s/%s", s->cfg.bucket, key);
    return buf;
}

const char *objstore_location_key(const struct objstore *s, const char *location)
{
    size_t bl = strlen(s->cfg.bucket);

    if (!location || strncmp(location, "s3://", 5) != 0 ||
        strncmp(location + 5, s->cfg.bucket, bl) != 0 || location[5 + bl] != '/' ||
        !key_ok(location + 6 + bl))
        return NULL;
    return location + 6 + bl;
}
