/** @file test_objstore.c  objstore.c's logic above the HTTP edge, with a
 * scripted fake transport and an injected sleep and random source: which
 * answers are retried and how long each wait is, a ranged GET resumed
 * after a broken answer, a multipart upload's part and ETag checks, and
 * that every failed multipart upload is aborted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "digest.h"
#include "objstore_priv.h"
#include "tap.h"

enum { MAX_SCRIPT = 32, MAX_LOG = 64 };

/* One scripted answer: status (0 = transport error), S3 code, bytes the
 * sink gets before the answer breaks (GET), a body. */
struct answer {
    long http;
    enum objstore_err terr;
    const char *code;
    const char *body;
    size_t deliver; /* GET: bytes handed to the sink */
    bool wrong_etag;
};

struct fake {
    struct answer script[MAX_SCRIPT];
    size_t n_script, next;
    /* What was asked. */
    char method[MAX_LOG][8];
    char query[MAX_LOG][256];
    uint64_t range_off[MAX_LOG], range_len[MAX_LOG];
    bool range[MAX_LOG];
    size_t n_log;
    unsigned sleeps[MAX_LOG];
    size_t n_sleeps;
    uint32_t rnd;
    const uint8_t *object; /* GET source */
    char body[256], content_md5[32]; /* the last PUT's body (if small) and Content-MD5 */
    const char *head_until; /* every answer's x-amz-object-lock-retain-until-date; NULL none */
    char md5[MAX_LOG][32], lock_mode[MAX_LOG][16], lock_until[MAX_LOG][40]; /* per request */
};

static enum objstore_err fake_transport(void *arg, const struct objstore_req *rq,
                                        struct objstore_resp *rs)
{
    struct fake *f = arg;
    struct answer a = { .http = 200 };
    size_t i = f->n_log < MAX_LOG ? f->n_log++ : MAX_LOG - 1;

    snprintf(f->method[i], sizeof(f->method[i]), "%s", rq->method);
    snprintf(f->query[i], sizeof(f->query[i]), "%s", rq->query ? rq->query : "");
    f->range[i] = rq->range;
    snprintf(f->md5[i], sizeof(f->md5[i]), "%s", rq->content_md5 ? rq->content_md5 : "");
    snprintf(f->lock_mode[i], sizeof(f->lock_mode[i]), "%s", rq->lock_mode ? rq->lock_mode : "");
    snprintf(f->lock_until[i], sizeof(f->lock_until[i]), "%s", rq->lock_until ? rq->lock_until : "");
    if (rq->body && rq->body_len < sizeof(f->body))
        snprintf(f->body, sizeof(f->body), "%.*s", (int)rq->body_len, (const char *)rq->body);
    snprintf(f->content_md5, sizeof(f->content_md5), "%s", rq->content_md5 ? rq->content_md5 : "");
    f->range_off[i] = rq->range_off;
    f->range_len[i] = rq->range_len;
    if (f->next < f->n_script)
        a = f->script[f->next++];
    if (a.deliver && rq->sink) {
        rs->http = 206;
        if (rq->sink(f->object + rq->range_off, a.deliver, rq->sink_arg))
            rs->delivered = a.deliver;
    }
    if (a.terr != OBJSTORE_OK) {
        rs->http = 0;
        snprintf(rs->errtext, sizeof(rs->errtext), "fake transport error");
        return a.terr;
    }
    rs->http = a.http;
    if (f->head_until) {
        snprintf(rs->lock_until, sizeof(rs->lock_until), "%s", f->head_until);
        snprintf(rs->lock_mode, sizeof(rs->lock_mode), "GOVERNANCE");
    }
    if (strcmp(rq->method, "PUT") == 0 && a.http == 200) {
        test_md5_hex(rq->body ? (const void *)rq->body : "", rq->body_len, rs->etag);
        if (a.wrong_etag)
            rs->etag[0] = rs->etag[0] == '0' ? '1' : '0';
    }
    if (a.code)
        snprintf(rs->body, sizeof(rs->body),
                 "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>%s</Code>"
                 "<Message>scripted</Message><RequestId>tx1</RequestId></Error>", a.code);
    else if (a.body)
        snprintf(rs->body, sizeof(rs->body), "%s", a.body);
    rs->body_len = strlen(rs->body);
    if (rq->sink && a.http == 206 && !a.deliver) { /* the rest of the range */
        if (rq->sink(f->object + rq->range_off, (size_t)rq->range_len, rq->sink_arg))
            rs->delivered = rq->range_len;
    }
    return OBJSTORE_OK;
}

static void fake_sleep(void *arg, unsigned ms)
{
    struct fake *f = arg;

    if (f->n_sleeps < MAX_LOG)
        f->sleeps[f->n_sleeps++] = ms;
}

static uint32_t fake_random(void *arg)
{
    return ((struct fake *)arg)->rnd;
}

static char keyfile[64];

static struct objstore *store_for(struct fake *f, unsigned retries)
{
    struct objstore_cfg cfg = { .part_size = OBJSTORE_PART_MIN, .retries = retries,
                                .backoff_min_ms = 100, .backoff_max_ms = 1000, .timeout_s = 5 };
    struct objstore_hooks hooks = { .sleep_ms = fake_sleep, .random = fake_random, .arg = f };
    struct objstore *s = NULL;
    char why[256];

    snprintf(cfg.url, sizeof(cfg.url), "https://store.invalid");
    snprintf(cfg.bucket, sizeof(cfg.bucket), "bucket");
    snprintf(cfg.region, sizeof(cfg.region), "us-east-1");
    snprintf(cfg.access_key_file, sizeof(cfg.access_key_file), "%s", keyfile);
    if (objstore_create(&s, &cfg, &hooks, why, sizeof(why)) != OBJSTORE_OK) {
        tap_diag("create: %s", why);
        return NULL;
    }
    objstore_set_transport(s, fake_transport, f);
    return s;
}

static void retries_503_then_ok(void)
{
    struct fake f = { .script = { { 503, 0, "SlowDown", NULL, 0, false },
                                  { 503, 0, "SlowDown", NULL, 0, false },
                                  { 200, 0, NULL, NULL, 0, false } },
                      .n_script = 3, .rnd = 0 };
    struct objstore *s = store_for(&f, 4);
    struct objstore_status st;
    struct objstore_info info;

    tap_ok(objstore_head(s, "k", &info, &st) == OBJSTORE_OK && st.attempts == 3,
           "503 SlowDown twice, then 200: OK after 3 attempts");
    /* Random 0: each wait is half its step (100 ms, 200 ms steps). */
    tap_ok(f.n_sleeps == 2 && f.sleeps[0] == 50 && f.sleeps[1] == 100,
           "waits 50, 100 ms with the lowest jitter (got %u, %u)", f.sleeps[0], f.sleeps[1]);
    objstore_destroy(s);
}

static void retries_exhausted(void)
{
    struct fake f = { .n_script = 8, .rnd = UINT32_MAX };
    struct objstore_status st;
    struct objstore_info info;
    char txt[512];

    for (size_t i = 0; i < 8; i++)
        f.script[i] = (struct answer){ 503, 0, "ServiceUnavailable", NULL, 0, false };
    struct objstore *s = store_for(&f, 5);
    enum objstore_err e = objstore_head(s, "k", &info, &st);
    tap_ok(e == OBJSTORE_EBUSY && st.attempts == 6 && st.http == 503 &&
               strcmp(st.code, "ServiceUnavailable") == 0,
           "always 503: EBUSY after 1 + 5 attempts, the store's code kept");
    /* Steps 100, 200, 400, 800, 1000 (capped); highest jitter just under each. */
    bool grow = f.n_sleeps == 5;
    unsigned step[] = { 100, 200, 400, 800, 1000 };
    for (size_t i = 0; grow && i < 5; i++)
        grow = f.sleeps[i] < step[i] && f.sleeps[i] >= step[i] - 1;
    tap_ok(grow, "exponential waits capped at backoff-max (%u %u %u %u %u)", f.sleeps[0],
           f.sleeps[1], f.sleeps[2], f.sleeps[3], f.sleeps[4]);
    objstore_status_text(&st, txt, sizeof(txt));
    tap_ok(strstr(txt, "503 ServiceUnavailable") && strstr(txt, "6 attempts"),
           "status text names the code and attempts: %s", txt);
    objstore_destroy(s);
}

static void final_errors_not_retried(void)
{
    struct fake f = { .script = { { 403, 0, "AccessDenied", NULL, 0, false } }, .n_script = 1 };
    struct objstore *s = store_for(&f, 4);
    struct objstore_status st;
    struct objstore_info info;

    tap_ok(objstore_head(s, "k", &info, &st) == OBJSTORE_EAUTH && st.attempts == 1 && f.n_sleeps == 0,
           "403 is final: one attempt, no wait");
    f = (struct fake){ .script = { { 0, OBJSTORE_ETLS, NULL, NULL, 0, false } }, .n_script = 1 };
    tap_ok(objstore_head(s, "k", &info, &st) == OBJSTORE_ETLS && st.attempts == 1,
           "a TLS failure is final");
    f = (struct fake){ .script = { { 0, OBJSTORE_ECONNECT, NULL, NULL, 0, false },
                                   { 500, 0, "InternalError", NULL, 0, false },
                                   { 200, 0, NULL, NULL, 0, false } },
                       .n_script = 3 };
    tap_ok(objstore_head(s, "k", &info, &st) == OBJSTORE_OK && st.attempts == 3 && f.n_sleeps == 2,
           "a connection error and a 500 are retried");
    f = (struct fake){ .script = { { 404, 0, "NoSuchKey", NULL, 0, false } }, .n_script = 1 };
    tap_ok(objstore_delete(s, "k", &st) == OBJSTORE_OK, "DELETE of a missing key is OK");
    objstore_destroy(s);
}

struct sink {
    uint8_t buf[4096];
    size_t len;
};

static bool collect(const void *p, size_t n, void *arg)
{
    struct sink *k = arg;

    if (k->len + n > sizeof(k->buf))
        return false;
    memcpy(k->buf + k->len, p, n);
    k->len += n;
    return true;
}

static void get_resumes(void)
{
    static uint8_t obj[4096];
    struct sink k = { .len = 0 };
    struct objstore_status st;

    for (size_t i = 0; i < sizeof(obj); i++)
        obj[i] = (uint8_t)(i * 7);
    struct fake f = { .script = { { 0, OBJSTORE_ECONNECT, NULL, NULL, 300, false },
                                  { 206, 0, NULL, NULL, 0, false } },
                      .n_script = 2, .object = obj };
    struct objstore *s = store_for(&f, 3);
    enum objstore_err e = objstore_get(s, "k", 1000, 1000, collect, &k, NULL, &st);
    tap_ok(e == OBJSTORE_OK && k.len == 1000 && memcmp(k.buf, obj + 1000, 1000) == 0,
           "a GET broken after 300 bytes resumes: 1000 bytes, each once, in order");
    tap_ok(f.n_log == 2 && f.range_off[1] == 1300 && f.range_len[1] == 700,
           "the retry asks for bytes 1300-1999 only");
    objstore_destroy(s);
}

static void write_big(const char *path, size_t n)
{
    FILE *fp = fopen(path, "wb");

    for (size_t i = 0; i < n; i++)
        fputc((int)(i * 31 >> 3) & 0xff, fp);
    fclose(fp);
}

static size_t count_method(const struct fake *f, const char *m, const char *qpfx)
{
    size_t c = 0;

    for (size_t i = 0; i < f->n_log; i++)
        if (strcmp(f->method[i], m) == 0 && strncmp(f->query[i], qpfx, strlen(qpfx)) == 0)
            c++;
    return c;
}

static const char initiate[] =
    "<?xml version=\"1.0\"?><InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Bucket>bucket</Bucket><Key>k</Key><UploadId>id/with+odd=chars</UploadId>"
    "</InitiateMultipartUploadResult>";

static void multipart(const char *path)
{
    struct objstore_status st;
    struct objstore_info info;
    enum objstore_err e;

    /* A part refused for good: the upload is aborted. */
    struct fake f = { .script = { { 200, 0, NULL, initiate, 0, false },
                                  { 200, 0, NULL, NULL, 0, false },
                                  { 400, 0, "EntityTooSmall", NULL, 0, false },
                                  { 204, 0, NULL, NULL, 0, false } },
                      .n_script = 4 };
    struct objstore *s = store_for(&f, 2);
    e = objstore_put_file(s, "k", path, NULL, &info, &st);
    tap_ok(e == OBJSTORE_EREJECTED && strcmp(st.code, "EntityTooSmall") == 0,
           "a refused part fails the upload (%s)", objstore_strerror(e));
    tap_ok(count_method(&f, "DELETE", "uploadId=id%2Fwith%2Bodd%3Dchars") == 1,
           "and it is aborted with its (escaped) upload id");
    tap_ok(count_method(&f, "PUT", "partNumber=2&uploadId=id%2Fwith") == 1, "part 2 was tried");

    /* A part whose ETag is not its MD5. */
    f = (struct fake){ .script = { { 200, 0, NULL, initiate, 0, false },
                                   { 200, 0, NULL, NULL, 0, true } },
                       .n_script = 2 };
    e = objstore_put_file(s, "k", path, NULL, &info, &st);
    tap_ok(e == OBJSTORE_EINTEGRITY && count_method(&f, "DELETE", "uploadId=") == 1,
           "a part ETag that is not its MD5: EINTEGRITY, aborted");

    /* 503 on a part, retried; then a Complete answered 200 with an Error. */
    f = (struct fake){ .script = { { 200, 0, NULL, initiate, 0, false },
                                   { 503, 0, "SlowDown", NULL, 0, false },
                                   { 200, 0, NULL, NULL, 0, false },
                                   { 200, 0, NULL, NULL, 0, false },
                                   { 200, 0, NULL, NULL, 0, false },
                                   { 200, 0, NULL,
                                     "<Error><Code>InternalError</Code><Message>x</Message></Error>",
                                     0, false } },
                       .n_script = 6 };
    e = objstore_put_file(s, "k", path, NULL, &info, &st);
    tap_ok(e == OBJSTORE_EBUSY && count_method(&f, "PUT", "partNumber=1&") == 2,
           "part 1 retried after 503; an Error inside Complete's 200 is EBUSY");
    tap_ok(count_method(&f, "DELETE", "uploadId=") == 1, "and the upload is aborted");

    /* Complete's ETag not the parts' MD5s: the object is deleted. */
    f = (struct fake){ .script = { { 200, 0, NULL, initiate, 0, false },
                                   { 200, 0, NULL, NULL, 0, false },
                                   { 200, 0, NULL, NULL, 0, false },
                                   { 200, 0, NULL, NULL, 0, false },
                                   { 200, 0, NULL,
                                     "<CompleteMultipartUploadResult><ETag>&quot;0123-3&quot;</ETag>"
                                     "</CompleteMultipartUploadResult>", 0, false } },
                       .n_script = 5 };
    e = objstore_put_file(s, "k", path, NULL, &info, &st);
    tap_ok(e == OBJSTORE_EINTEGRITY && count_method(&f, "DELETE", "") == 1 &&
               count_method(&f, "DELETE", "uploadId=") == 0,
           "a Complete ETag that is not the MD5 of the parts' MD5s: the object is deleted");
    objstore_destroy(s);
}

/* The Object Lock legal hold: PUT ?legal-hold with the XML S3 wants and
 * the Content-MD5 it requires. */
static void legal_hold(void)
{
    struct fake f = { .n_script = 2, .script = { { .http = 200 }, { .http = 200 } } };
    struct objstore *s = store_for(&f, 0);
    unsigned char md5[16], b64[32];
    unsigned dl = 0;

    tap_ok(s && objstore_legal_hold(s, "a/b.srec", true, NULL) == OBJSTORE_OK &&
               strcmp(f.method[0], "PUT") == 0 && strcmp(f.query[0], "legal-hold=") == 0 &&
               strstr(f.body, "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                              "<Status>ON</Status></LegalHold>"),
           "legal hold ON: PUT ?legal-hold with the LegalHold document");
    EVP_Digest(f.body, strlen(f.body), md5, &dl, EVP_md5(), NULL);
    EVP_EncodeBlock(b64, md5, sizeof(md5));
    tap_ok(strcmp(f.content_md5, (const char *)b64) == 0, "with Content-MD5 of the body (%s)",
           f.content_md5);
    tap_ok(objstore_legal_hold(s, "a/b.srec", false, NULL) == OBJSTORE_OK &&
               strstr(f.body, "<Status>OFF</Status>"),
           "legal hold OFF");
    objstore_destroy(s);
}

/* Object Lock retention on upload: the mode and date headers on the PUT
 * (or a multipart upload's initiation) and Content-MD5 on every body; none
 * of it without a retention. */
static void retained(const char *big, const char *small)
{
    struct fake f = { .n_script = 0 };
    struct objstore *s = store_for(&f, 0);
    const struct objstore_retain rt = { .mode = "COMPLIANCE", .until = 1800000000 };
    unsigned char md5[16], b64[32];
    unsigned dl = 0;

    tap_ok(s && objstore_put_file_retained(s, "a.srec", small, NULL, &rt, NULL, NULL) == OBJSTORE_OK &&
               f.n_log == 1 && strcmp(f.lock_mode[0], "COMPLIANCE") == 0 &&
               strcmp(f.lock_until[0], "2027-01-15T08:00:00Z") == 0,
           "a retained PUT sends the lock mode and the retain-until date (%s)", f.lock_until[0]);
    EVP_Digest("small object", 12, md5, &dl, EVP_md5(), NULL);
    EVP_EncodeBlock(b64, md5, sizeof(md5));
    tap_ok(strcmp(f.md5[0], (const char *)b64) == 0, "with the body's Content-MD5 (%s)", f.md5[0]);
    f = (struct fake){ .n_script = 0 };
    tap_ok(objstore_put_file(s, "a.srec", small, NULL, NULL, NULL) == OBJSTORE_OK && f.n_log == 1 &&
               !f.lock_mode[0][0] && !f.lock_until[0][0] && !f.md5[0][0],
           "a PUT without a retention: no lock headers, no Content-MD5");

    f = (struct fake){ .script = { { 200, 0, NULL, initiate, 0, false } }, .n_script = 1 };
    objstore_put_file_retained(s, "k", big, NULL, &rt, NULL, NULL);
    bool parts_md5 = f.n_log >= 4;
    for (size_t i = 1; i < 4 && i < f.n_log; i++)
        parts_md5 = parts_md5 && strcmp(f.method[i], "PUT") == 0 && f.md5[i][0] && !f.lock_mode[i][0];
    tap_ok(strcmp(f.method[0], "POST") == 0 && strcmp(f.query[0], "uploads=") == 0 &&
               strcmp(f.lock_mode[0], "COMPLIANCE") == 0 &&
               strcmp(f.lock_until[0], "2027-01-15T08:00:00Z") == 0 && parts_md5,
           "multipart: the initiation carries the lock, each part its Content-MD5");
    tap_ok(objstore_put_file_retained(s, "k", small, NULL,
                                      &(struct objstore_retain){ .mode = NULL, .until = 1 }, NULL,
                                      NULL) == OBJSTORE_EINVAL,
           "a retention without a mode is refused");

    tap_ok(objstore_lock_date_parse("2027-01-15T08:00:00.000Z") == 1800000000 &&
               objstore_lock_date_parse("2027-01-15T08:00:00Z") == 1800000000 &&
               objstore_lock_date_parse("2027-01-15 08:00") == 0 &&
               objstore_lock_date_parse("2027-01-15T08:00:00+02:00") == 0,
           "retain-until dates as S3 writes them parse; others are not dates");
    struct objstore_info info;
    f = (struct fake){ .n_script = 3, .head_until = "2027-01-15T08:00:00.000Z",
                       .script = { { .http = 200 }, { .http = 200 }, { .http = 404 } } };
    bool before = objstore_retained(s, "a.srec", 1800000000 - 1, &info);
    tap_ok(before && strcmp(f.method[0], "HEAD") == 0 && strcmp(info.lock_mode, "GOVERNANCE") == 0 &&
               !objstore_retained(s, "a.srec", 1800000000, &info) &&
               !objstore_retained(s, "a.srec", 0, &info),
           "retained: a retain-until after now; not at or past it, nor without the object");
    struct objstore_cfg c = { .object_lock_mode = "" };
    const char *g = objstore_lock_mode_of(&c);
    snprintf(c.object_lock_mode, sizeof(c.object_lock_mode), "compliance");
    const char *k = objstore_lock_mode_of(&c);
    snprintf(c.object_lock_mode, sizeof(c.object_lock_mode), "off");
    tap_ok(g && strcmp(g, "GOVERNANCE") == 0 && k && strcmp(k, "COMPLIANCE") == 0 &&
               !objstore_lock_mode_of(&c),
           "object-lock-mode: governance by default, compliance, off");
    objstore_destroy(s);
}

int main(void)
{
    char dir[] = "/tmp/test_objstore.XXXXXX", path[128], small[128];
    FILE *kf;

    if (!mkdtemp(dir))
        return 1;
    snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
    kf = fopen(keyfile, "w");
    fputs("AKID\nSECRET\n", kf);
    fclose(kf);
    chmod(keyfile, 0600);
    snprintf(path, sizeof(path), "%s/big", dir);
    write_big(path, 3 * OBJSTORE_PART_MIN - 1000); /* 3 parts */
    snprintf(small, sizeof(small), "%s/small", dir);
    kf = fopen(small, "w");
    fputs("small object", kf);
    fclose(kf);

    retries_503_then_ok();
    retries_exhausted();
    final_errors_not_retried();
    get_resumes();
    multipart(path);
    legal_hold();
    retained(path, small);

    unlink(path);
    unlink(small);
    unlink(keyfile);
    rmdir(dir);
    return tap_done();
}
