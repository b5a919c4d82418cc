/** @file audit.c  The hash-chained access audit log (common/chainlog.h, tag "A1").
 *
 * Two records per access to an authenticated route:
 *   ev=start  after authorisation, before any recording data leaves; a write
 *             failure refuses the request (503).  For recording content and
 *             changes (archive, export, legal hold, the audit itself) it is
 *             fdatasync'ed before the hook returns: no durable record, no data.
 *             Metadata start records are written but synced with the next
 *             content record, unless audit-sync=all: an fdatasync per metadata
 *             request caps the rate near 200/s on ext4 (docs/benchmarks.md),
 *             and a crash can then lose only the last metadata records, whose
 *             loss the chain shows against a logged head.
 *   ev=done   when the response ends: status, bytes, complete|aborted.  It is
 *             written at once and made durable with the next start record (or
 *             at shutdown), so a refusal (401/403) costs one write, no fsync.
 * Refusals before authorisation have only a done record.  req pairs the two.
 * One mutex serialises MHD's threads: chainlog objects are single-writer.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "chainlog.h"
#include "log.h"
#include "server_priv.h"
#include "util.h"

#define AUDIT_TAG "A1"

struct api_audit {
    pthread_mutex_t lock;
    struct chainlog *cl;
    bool broken;   /* an append failed: fail closed until restart */
    bool sync_all; /* fdatasync every start record, metadata too */
    _Atomic uint64_t failures;
};

enum sr_err api_audit_open(struct api_audit **out, const char *path, bool sync_all, char *why,
                           size_t whylen)
{
    struct chainlog_cfg cfg = { .path = path, .tag = AUDIT_TAG, .sync = CHAINLOG_SYNC_BATCH };
    struct chainlog_verdict v;
    struct api_audit *au;
    enum sr_err err;

    au = calloc(1, sizeof(*au));
    if (!au)
        return SR_ENOMEM;
    au->sync_all = sync_all;
    if (pthread_mutex_init(&au->lock, NULL) != 0) {
        free(au);
        return SR_ENOMEM;
    }
    err = chainlog_open(&au->cl, &cfg, &v);
    if (err) {
        if (err == SR_EAUTH)
            snprintf(why, whylen, "audit-log %s: broken chain at line %zu: %s (keep it as "
                     "evidence and start a new file)", path, v.bad_line, v.why);
        else
            snprintf(why, whylen, "audit-log %s: %s", path, sr_strerror(err));
        api_audit_close(au);
        return err;
    }
    log_notice("audit-log %s: %" PRIu64 " records, head %s", path, chainlog_records(au->cl),
               chainlog_head(au->cl));
    *out = au;
    return SR_OK;
}

void api_audit_close(struct api_audit *au)
{
    if (!au)
        return;
    if (au->cl) {
        /* the head goes to the daemon log too: an anchor against truncation */
        log_notice("audit-log closed: %" PRIu64 " records, head %s", chainlog_records(au->cl),
                   chainlog_head(au->cl));
        chainlog_close(au->cl);
    }
    pthread_mutex_destroy(&au->lock);
    free(au);
}

uint64_t api_audit_failures(const struct api_audit *au)
{
    return au ? atomic_load(&au->failures) : 0;
}

bool api_audit_hook(const struct api_access *a, void *arg)
{
    struct api_audit *au = arg;
    char req[24], status[16], bytes[24];
    bool start = a->phase == API_ACCESS_START;
    struct chainlog_field f[] = {
        { "ev", start ? "start" : "done" },
        { "req", req },
        { "who", a->who },
        { "auth", a->auth },
        { "client", a->client },
        { "method", a->method },
        { "route", a->route },
        { "id", a->id },
        { "status", status },
        { "bytes", bytes },
        { "outcome", start ? "" : a->completed ? "complete" : "aborted" },
        { "authn", a->authn ? a->authn : "" },
    };
    enum sr_err err;

    snprintf(req, sizeof(req), "%" PRIu64, a->req);
    snprintf(status, sizeof(status), "%u", a->status);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, a->bytes);
    pthread_mutex_lock(&au->lock);
    if (au->broken) {
        err = SR_ESTATE;
    } else {
        err = chainlog_append(au->cl, 0, f, SR_ARRAY_LEN(f));
        if (!err && start && (au->sync_all || strcmp(a->route, "metadata") != 0))
            err = chainlog_sync(au->cl);
        if (err && err != SR_EINVAL && err != SR_ELIMIT)
            au->broken = true;
    }
    pthread_mutex_unlock(&au->lock);
    if (err) {
        atomic_fetch_add(&au->failures, 1);
        log_error("audit-log: cannot record %s of req %s (%s): %s", start ? "start" : "end", req,
                  a->route, sr_strerror(err));
    }
    return err == SR_OK;
}

/* ------------------------------------------------------------------ query */

static json_t *record_to_json(const struct chainlog_record *r, uint64_t seq)
{
    json_t *o = json_object();
    char val[CHAINLOG_LINE_MAX], tbuf[40];
    size_t used;

    if (!o || json_object_set_new(o, "seq", json_integer((json_int_t)seq)) ||
        !slice_copy_cstr(r->time, tbuf, sizeof(tbuf)) ||
        json_object_set_new(o, "time", json_string(tbuf))) {
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < r->n_fields; i++) {
        char name[CHAINLOG_NAME_MAX + 1];
        if (!slice_copy_cstr(r->name[i], name, sizeof(name)) ||
            !chainlog_value_decode(r->value[i], val, sizeof(val), &used) ||
            json_object_set_new(o, name, api_json_str(val))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* Whether field name of r decodes to exactly want. */
static bool field_is(const struct chainlog_record *r, const char *name, const char *want)
{
    char val[CHAINLOG_LINE_MAX];
    size_t used;

    for (size_t i = 0; i < r->n_fields; i++)
        if (slice_eq(r->name[i], slice_cstr(name)))
            return chainlog_value_decode(r->value[i], val, sizeof(val), &used) &&
                   strcmp(val, want) == 0;
    return false;
}

/* The filters of /v1/audit: recording id, identity, time range. */
static bool record_matches(const struct chainlog_record *r, const struct api_list_query *q)
{
    uint64_t t;

    if (q->recording[0] && !field_is(r, "id", q->recording))
        return false;
    if (q->who[0] && !field_is(r, "who", q->who))
        return false;
    if (q->done_only && !field_is(r, "ev", "done"))
        return false;
    if (q->from_wall_us || q->to_wall_us) {
        if (!sr_wall_parse(r->time, SR_WALL_UTC_ONLY, &t))
            return false;
        if ((q->from_wall_us && t < q->from_wall_us) || (q->to_wall_us && t > q->to_wall_us))
            return false;
    }
    return true;
}

enum sr_err api_audit_query(const char *path, const struct api_list_query *q, json_t **out)
{
    uint64_t after = q->after_seq;
    size_t limit = q->limit;
    json_t *arr = json_array(), *body;
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    uint64_t last = 0;
    bool more = false;
    enum sr_err err = SR_OK;

    if (!arr || !f) {
        err = f ? SR_ENOMEM : SR_EIO;
        goto out;
    }
    /* A linear scan: the log is append-only text and the cursor is a seq.
     * The writer appends whole lines; a line without its LF is still being
     * written and ends the scan. */
    while ((len = getline(&line, &cap, f)) > 0) {
        struct chainlog_record r;
        const char *why;
        uint64_t seq;
        json_t *o;

        if (line[len - 1] != '\n')
            break;
        if (!chainlog_line_parse(slice_of(line, (size_t)len - 1), &r, &why) ||
            !slice_to_u64(r.seq, UINT64_MAX, &seq)) {
            err = SR_EPARSE;
            goto out;
        }
        if (seq <= after || !record_matches(&r, q))
            continue;
        if (n == limit) {
            more = true;
            break;
        }
        o = record_to_json(&r, seq);
        if (!o || json_array_append_new(arr, o)) {
            err = SR_ENOMEM;
            goto out;
        }
        last = seq;
        n++;
    }
out:
    free(line);
    if (f)
        fclose(f);
    if (err) {
        json_decref(arr);
        return err;
    }
    body = json_object();
    if (!body || json_object_set_new(body, "records", arr) ||
        (more && json_object_set_new(body, "next", json_integer((json_int_t)last)))) {
        json_decref(body);
        return SR_ENOMEM;
    }
    *out = body;
    return SR_OK;
}

/* -------------------------------------------------------------------- CSV */

/* The columns of format=csv: every field the hook writes, in its order. */
static const char *const csv_cols[] = { "seq",    "time",   "ev",     "req",   "who",
                                        "auth",   "client", "method", "route", "id",
                                        "status", "bytes",  "outcome", "authn" };

static bool put(struct buf *b, const char *p, size_t n)
{
    return buf_append(b, p, n) == SR_OK;
}

/* RFC 4180 field, always quoted; a leading = + - @ gets a ' so a
 * spreadsheet shows an identity instead of running it as a formula. */
static bool csv_field(struct buf *b, const char *v, bool last)
{
    bool ok = put(b, "\"", 1);

    if (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@')
        ok = ok && put(b, "'", 1);
    for (; ok && *v; v++)
        ok = *v == '"' ? put(b, "\"\"", 2) : put(b, v, 1);
    return ok && put(b, "\"", 1) && (last ? put(b, "\r\n", 2) : put(b, ",", 1));
}

char *api_audit_csv(json_t *body)
{
    json_t *recs = json_object_get(body, "records"), *r;
    size_t i, ncol = SR_ARRAY_LEN(csv_cols);
    struct buf b;
    bool ok = true;

    buf_init(&b, 64 * 1024 * 1024);
    for (size_t k = 0; ok && k < ncol; k++)
        ok = put(&b, csv_cols[k], strlen(csv_cols[k])) &&
             (k + 1 < ncol ? put(&b, ",", 1) : put(&b, "\r\n", 2));
    json_array_foreach(recs, i, r) {
        for (size_t k = 0; ok && k < ncol; k++) {
            json_t *v = json_object_get(r, csv_cols[k]);
            const char *text = json_is_string(v) ? json_string_value(v) : "";
            char num[24];
            if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                text = num;
            }
            ok = csv_field(&b, text, k + 1 == ncol);
        }
    }
    if (!ok || !put(&b, "", 1)) {
        buf_fini(&b);
        return NULL;
    }
    return b.p; /* the caller frees it */
}

/* ----------------------------------------------------------------- verify */

int api_audit_verify_main(const char *path, const char *anchor)
{
    struct chainlog_verdict v;
    enum sr_err err = chainlog_verify(path, AUDIT_TAG, anchor, &v);

    if (err == SR_OK) {
        printf("%s: intact, %zu records, head %s\n", path, v.records, v.head);
        return 0;
    }
    if (err == SR_EAUTH) {
        printf("%s: BROKEN at line %zu: %s (%zu records verified before it)\n", path,
               v.bad_line, v.why, v.records);
        return 1;
    }
    fprintf(stderr, "%s: %s: %s\n", path, v.why, sr_strerror(err));
    return 2;
}
