/** @file srtprec.c  The archive CLI: verify, verify-log, info, export, list, retention, hold,
 *  recover; health of the daemons from their metrics files.
 *
 * The commands, their options and help are the table cmds[] (srtprec --help,
 * srtprec COMMAND --help); TIME options take sr_time_parse's grammar (RFC
 * 3339 date-time, a bare date, or epoch seconds).  Help goes to stdout with
 * exit 0; every usage error names the argument at fault, on stderr.
 *
 * Exit status: 0 success, 1 the archive or index has a problem (printed on
 * stderr), 2 usage, 3 (verify, info) the archive was recovered after a
 * crash: every chunk is authentic but the writer never sealed it, so it
 * may end early; with --signer, 4 the archive is unsigned, 5 forged, 6
 * swapped, 7 deleted (docs/archive-format.md, "Signature file").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chainlog.h"
#include "buf.h"
#include "log.h"
#include "prom.h"
#include "slice.h"
#include "objstore.h"
#include "store_recover.h"
#include "stor.h"
#include "util.h"
#include "version.h"

enum {
    MAX_POS = 8, /* health takes several files */
    EXIT_USAGE = 2,
    EXIT_RECOVERED = 3,
    EXIT_UNSIGNED = 4,
    EXIT_FORGED = 5,
    EXIT_SWAPPED = 6,
    EXIT_DELETED = 7,
};

enum opt_id {
    O_CERT, O_KEY, O_FORMAT, O_STREAM, O_FORCE, O_INDEX, O_PARTY, O_CALL_ID, O_FROM, O_TO,
    O_LIMIT, O_LOG, O_OLDER, O_BEFORE, O_DRY_RUN, O_DIR, O_SIGNER, O_LEDGER, O_TAG, O_ANCHOR,
    O_DELETIONS, O_LAYOUT, O_MAX_AGE, O_MATCH, O_STORE, O_RECORDER, O_COUNT
};
#define BIT(o) (1u << (o))

static const struct opt_spec {
    const char *name;
    const char *arg; /* NULL: a flag without a value */
    const char *help;
} opt_specs[O_COUNT] = {
    [O_CERT] = { "cert", "FILE", "auditor certificate (PEM), a recipient of the archive" },
    [O_KEY] = { "key", "FILE", "its private key (PEM)" },
    [O_FORMAT] = { "format", "wav|ogg|opus", "wav: G.711 and Opus decoded (8 kHz, or 48 kHz "
                   "with Opus), stereo (send left,\n      recv right), mixed with --layout, or "
                   "mono with --stream; ogg: the decrypted RTP-in-Ogg\n      archive content; "
                   "opus: one Opus stream as Ogg Opus (RFC 7845)" },
    [O_STREAM] = { "stream", "N", "only stream N (0..1023, as `srtprec info` numbers them); "
                   "opus: default the first Opus stream" },
    [O_LAYOUT] = { "layout", "stereo|mixed", "wav: a channel per direction (default), or one "
                   "channel, every stream summed" },
    [O_FORCE] = { "force", NULL, "replace OUT if it exists (refused otherwise)" },
    [O_INDEX] = { "index", "DB", "the recording index (SQLite file or PostgreSQL conninfo); must exist, except for recover" },
    [O_PARTY] = { "party", "AOR", "recordings with this party (any the call ever had: its "
                  "local and remote AORs,\n      SIPREC participants, earlier parties)" },
    [O_MATCH] = { "party-match", "exact|prefix|substring", "how --party matches: the whole AOR "
                  "(default), or the AOR without\n      sip:/sips:/tel: beginning with or "
                  "containing it, case-insensitive" },
    [O_CALL_ID] = { "call-id", "ID", "recordings of this SIP Call-ID" },
    [O_FROM] = { "from", "TIME", "started at or after TIME" },
    [O_TO] = { "to", "TIME", "started at or before TIME (a bare date: the end of that day)" },
    [O_LIMIT] = { "limit", "N", "at most N rows (1..1000000)" },
    [O_LOG] = { "log", "FILE", "the hash-chained deletion log to append to" },
    [O_OLDER] = { "older-than", "DAYS", "recordings that started more than DAYS days ago" },
    [O_BEFORE] = { "before", "TIME", "recordings that started before TIME" },
    [O_DRY_RUN] = { "dry-run", NULL, "count, delete nothing" },
    [O_DIR] = { "dir", "DIR", "the archive directory (retention: default 'archive' beside the "
                "index; files are DIR/<id>.srec)" },
    [O_SIGNER] = { "signer", "CERT", "the recorder's signing certificate: check signature, the "
                   "index row's hash and the seal ledger" },
    [O_LEDGER] = { "ledger", "FILE", "the seal ledger (default: the index path + .seals; empty: "
                   "none)" },
    [O_TAG] = { "tag", "DEL1|SEAL1|A1|D2", "the log's record tag (default: its first line's)" },
    [O_ANCHOR] = { "anchor", "HEAD", "a head logged earlier: also catches lines cut from the end" },
    [O_DELETIONS] = { "deletions", "FILE", "the retention deletion log (DEL1): deletions it records are not reported" },
    [O_STORE] = { "store", "CONF", "srtprec.conf whose [store] section names the object store "
                  "(the recorder's):\n      retention deletes store copies of expired recordings "
                  "too (without it rows with one are kept);\n      recover rebuilds rows from "
                  "the store's archives; reindex reads archives not in --dir from it" },
    [O_RECORDER] = { "recorder", "ID", "retention: only rows of this recorder-id (a box's own, in "
                     "an index the fleet shares);\n      recover: the recorder-id of rows it "
                     "creates from the store" },
    [O_MAX_AGE] = { "max-age", "SECONDS", "a metrics file unchanged for longer is stale (1..86400, "
                    "default 30: the API's daemon-metrics-max-age-ms)" },
};

static const char time_help[] =
    "TIME is an RFC 3339 date-time (2026-12-02T10:00:00Z, 2026-12-02T11:00:00+01:00),\n"
    "a date (2026-12-02: the whole UTC day) or Unix epoch seconds (1796209200).\n";

struct opts {
    const char *v[O_COUNT]; /* the value as given; "" for a flag */
    uint64_t from, to, limit, stream, older_days, before, max_age;
    const char *pos[MAX_POS];
    size_t n_pos;
};

struct cmd;
typedef int cmd_fn(const struct cmd *c, const struct opts *o);

static const struct cmd {
    const char *name;
    const char *args;    /* positional arguments, for the synopsis */
    size_t min_pos, max_pos;
    unsigned opts, required;
    const char *summary;
    bool times;          /* takes a TIME */
    cmd_fn *run;
} *find_cmd(const char *name);

static void synopsis(FILE *f, const struct cmd *c)
{
    fprintf(f, "srtprec %s", c->name);
    for (int i = 0; i < O_COUNT; i++) {
        const struct opt_spec *s = &opt_specs[i];
        bool req = c->required & BIT(i);
        if (!(c->opts & BIT(i)))
            continue;
        fprintf(f, " %s--%s%s%s%s", req ? "" : "[", s->name, s->arg ? "=" : "",
                s->arg ? s->arg : "", req ? "" : "]");
    }
    fprintf(f, "%s%s\n", c->args[0] ? " " : "", c->args);
}

static void cmd_help(FILE *f, const struct cmd *c)
{
    fputs("usage: ", f);
    synopsis(f, c);
    fprintf(f, "\n%s\n\n", c->summary);
    for (int i = 0; i < O_COUNT; i++)
        if (c->opts & BIT(i))
            fprintf(f, "  --%s%s%s\n      %s\n", opt_specs[i].name, opt_specs[i].arg ? "=" : "",
                    opt_specs[i].arg ? opt_specs[i].arg : "", opt_specs[i].help);
    fputs("  --help\n      this text\n", f);
    if (c->times)
        fprintf(f, "\n%s", time_help);
}

/* A usage error names the argument at fault; exit status 2. */
static int usage_error(const struct cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct cmd *c, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "srtprec%s%s: ", c ? " " : "", c ? c->name : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'srtprec %s%s--help'.\n", c ? c->name : "", c ? " " : "");
    return EXIT_USAGE;
}

static const char *time_error = "not an RFC 3339 date-time, a date (YYYY-MM-DD) or epoch seconds";

/* The value of one option, checked; NULL when good, else why not. */
static const char *opt_value(enum opt_id id, const char *v, struct opts *o)
{
    uint64_t max = 0, *num = NULL;

    switch (id) {
    case O_STREAM: num = &o->stream, max = 1023; break;
    case O_OLDER: num = &o->older_days, max = 36500; break;
    case O_LIMIT: num = &o->limit, max = 1000000; break;
    case O_MAX_AGE: num = &o->max_age, max = 86400; break;
    case O_FROM:
        return sr_time_parse(slice_cstr(v), SR_TIME_FIRST, &o->from) ? NULL : time_error;
    case O_TO:
        return sr_time_parse(slice_cstr(v), SR_TIME_LAST, &o->to) ? NULL : time_error;
    case O_BEFORE:
        return sr_time_parse(slice_cstr(v), SR_TIME_FIRST, &o->before) ? NULL : time_error;
    case O_FORMAT:
        return strcmp(v, "wav") == 0 || strcmp(v, "ogg") == 0 || strcmp(v, "opus") == 0
                   ? NULL
                   : "expected wav, ogg or opus";
    case O_LAYOUT:
        return strcmp(v, "stereo") == 0 || strcmp(v, "mixed") == 0 ? NULL
                                                                    : "expected stereo or mixed";
    default:
        return v[0] ? NULL : "empty value";
    }
    if (!slice_to_u64(slice_cstr(v), max, num) ||
        ((id == O_LIMIT || id == O_MAX_AGE) && *num == 0)) {
        static char why[64];
        snprintf(why, sizeof(why), "expected a number %s..%" PRIu64,
                 id == O_LIMIT || id == O_MAX_AGE ? "1" : "0", max);
        return why;
    }
    return NULL;
}

/* 0: parsed; 1: help was printed (exit 0); else an exit status. */
static int parse_opts(const struct cmd *c, int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *eq, *v, *bad;
        size_t nlen;
        int id = -1;

        if (a[0] != '-' || a[1] != '-' || !a[2] || strcmp(a, "-") == 0) {
            if (o->n_pos == c->max_pos)
                return usage_error(c, "unexpected argument '%s' (%s takes %s)", a, c->name,
                                   c->max_pos ? c->args : "no positional arguments");
            o->pos[o->n_pos++] = a;
            continue;
        }
        if (strcmp(a, "--help") == 0)
            return cmd_help(stdout, c), 1;
        eq = strchr(a, '=');
        nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        for (int k = 0; k < O_COUNT; k++)
            if (strlen(opt_specs[k].name) == nlen && strncmp(a + 2, opt_specs[k].name, nlen) == 0)
                id = k;
        if (id < 0)
            return usage_error(c, "unknown option '%.*s'", (int)nlen + 2, a);
        if (!(c->opts & BIT(id)))
            return usage_error(c, "--%s is not an option of %s", opt_specs[id].name, c->name);
        if (o->v[id])
            return usage_error(c, "--%s given twice", opt_specs[id].name);
        if (!opt_specs[id].arg) {
            if (eq)
                return usage_error(c, "--%s takes no value", opt_specs[id].name);
            o->v[id] = "";
            continue;
        }
        if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return usage_error(c, "--%s needs a value (--%s=%s)", opt_specs[id].name,
                               opt_specs[id].name, opt_specs[id].arg);
        }
        if ((bad = opt_value((enum opt_id)id, v, o)))
            return usage_error(c, "--%s '%s': %s", opt_specs[id].name, v, bad);
        o->v[id] = v;
    }
    for (int k = 0; k < O_COUNT; k++)
        if ((c->required & BIT(k)) && !o->v[k])
            return usage_error(c, "--%s is required", opt_specs[k].name);
    if (o->n_pos < c->min_pos)
        return usage_error(c, "missing %s", c->args);
    return 0;
}

static void print_counts(FILE *f, const struct stor_counts *c)
{
    fprintf(f,
            "packets=%" PRIu64 " auth_fail=%" PRIu64 " replay=%" PRIu64 " malformed=%" PRIu64
            " overload=%" PRIu64 " encrypted_kept=%" PRIu64,
            c->packets, c->auth_fail, c->replay, c->malformed, c->overload, c->encrypted_kept);
}

static int open_archive(const struct opts *o, struct stor_reader **r)
{
    const char *why = NULL;
    enum sr_err err;

    err = stor_reader_open(r, o->pos[0], o->v[O_CERT], o->v[O_KEY], &why);
    if (err) {
        fprintf(stderr, "%s: FAILED: %s (%s)\n", o->pos[0], why ? why : sr_strerror(err),
                sr_strerror(err));
        return 1;
    }
    return 0;
}

/* Per-stream packet counts, grown as streams appear. */
struct tally {
    uint64_t *n;
    size_t cap;
};

/* A parties or metadata record (told after the header, e.g. SIPREC
 * metadata in a re-INVITE): printed as it is read. */
static void parties_print(struct stor_reader *r, unsigned idx, const struct stor_pkt *p)
{
    const struct stor_stream_info *si = stor_reader_stream(r, idx);
    struct stor_call_info ci;
    char when[64];

    if (si && strcmp(si->codec, STOR_METADATA_CODEC) == 0) {
        sr_wall_fmt(p->arrival_wall_us, when, sizeof(when));
        printf("metadata:   %zu bytes (from %s; srtprec metadata prints it)\n", p->payload_len,
               when);
        return;
    }
    if (!si || strcmp(si->codec, STOR_PARTIES_CODEC) != 0)
        return;
    sr_wall_fmt(p->arrival_wall_us, when, sizeof(when));
    if (stor_parties_parse(p->payload, p->payload_len, &ci) == SR_OK)
        printf("parties:    %s -> %s (from %s)\n", ci.local_aor, ci.remote_aor, when);
    else
        printf("parties:    (a malformed record at %s)\n", when);
}

static int read_tally(struct stor_reader *r, const char *file, struct tally *t, uint64_t *total,
                      bool show_parties)
{
    const char *why = NULL;
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    *total = 0;
    while ((err = stor_reader_next(r, &idx, &p, &why)) == SR_OK) {
        if (idx >= t->cap) {
            size_t cap = (size_t)idx + 16;
            uint64_t *nn = realloc(t->n, cap * sizeof(*nn));
            if (!nn) {
                fprintf(stderr, "srtprec: out of memory\n");
                return 1;
            }
            memset(nn + t->cap, 0, (cap - t->cap) * sizeof(*nn));
            t->n = nn;
            t->cap = cap;
        }
        t->n[idx]++;
        (*total)++;
        if (show_parties)
            parties_print(r, idx, &p);
    }
    if (err != SR_ECLOSED) {
        fprintf(stderr, "%s: FAILED: %s (%s)\n", file, why ? why : sr_strerror(err),
                sr_strerror(err));
        return 1;
    }
    return 0;
}

/* "<index>: FAILED: why" on stderr, the index without any password; 1. */
static int index_failed(const struct opts *o, const char *why)
{
    char desc[256];

    fprintf(stderr, "%s: FAILED: %s\n", stor_index_describe(o->v[O_INDEX], desc, sizeof(desc)),
            why);
    return 1;
}

/* The seal ledger beside the index unless --ledger names one. */
static const char *ledger_of(const struct opts *o, char *buf, size_t len)
{
    if (o->v[O_LEDGER])
        return o->v[O_LEDGER][0] ? o->v[O_LEDGER] : NULL;
    if (!o->v[O_INDEX] || !stor_index_is_file(o->v[O_INDEX]) ||
        (size_t)snprintf(buf, len, "%s.seals", o->v[O_INDEX]) >= len)
        return NULL;
    return buf;
}

static int open_index(const struct opts *o, enum stor_index_mode mode, struct stor_index **ix);

/* --signer: signature, the index row's hash and the seal ledger; no
 * private key needed.  0 authentic, else the verdict's exit status. */
static int check_authn(const struct opts *o)
{
    static const int status[] = { [STOR_AUTHN_OK] = 0,         [STOR_AUTHN_UNSIGNED] = EXIT_UNSIGNED,
                                  [STOR_AUTHN_FORGED] = EXIT_FORGED, [STOR_AUTHN_SWAPPED] = EXIT_SWAPPED,
                                  [STOR_AUTHN_DELETED] = EXIT_DELETED, [STOR_AUTHN_ERROR] = 1 };
    struct stor_check_cfg cc = { o->v[O_SIGNER], NULL, NULL, NULL, NULL };
    struct stor_record *row = NULL;
    char lbuf[4200], msg[1024];
    enum stor_authn a;

    cc.ledger = ledger_of(o, lbuf, sizeof(lbuf));
    if (o->v[O_INDEX]) {
        /* The row of the recording the file name says this is. */
        const char *base = strrchr(o->pos[0], '/');
        char id[STOR_ID_HEX];
        struct stor_index *ix;
        base = base ? base + 1 : o->pos[0];
        snprintf(id, sizeof(id), "%.32s", base);
        if (open_index(o, STOR_INDEX_READ_ONLY, &ix))
            return 1;
        row = malloc(sizeof(*row));
        if (row && stor_index_get(ix, id, row) == SR_OK)
            cc.expected_sha256 = row->sha256;
        stor_index_close(ix);
    }
    a = stor_archive_check(o->pos[0], &cc, msg, sizeof(msg));
    free(row);
    fprintf(a == STOR_AUTHN_OK || a == STOR_AUTHN_UNSIGNED ? stdout : stderr, "%s: %s\n",
            o->pos[0], msg);
    return status[a];
}

static int cmd_verify(const struct cmd *cmd, const struct opts *o)
{
    struct stor_reader *r;
    struct tally t = { 0 };
    uint64_t total;
    int rc, authn = 0;

    if (!o->v[O_SIGNER] && (!o->v[O_CERT] || !o->v[O_KEY]))
        return usage_error(cmd, "--cert and --key are required (or --signer alone)");
    if (!o->v[O_CERT] != !o->v[O_KEY])
        return usage_error(cmd, "--%s needs --%s", o->v[O_CERT] ? "cert" : "key",
                           o->v[O_CERT] ? "key" : "cert");
    if ((o->v[O_INDEX] || o->v[O_LEDGER]) && !o->v[O_SIGNER])
        return usage_error(cmd, "--%s is only used with --signer",
                           o->v[O_INDEX] ? "index" : "ledger");
    if (o->v[O_SIGNER]) {
        authn = check_authn(o);
        if ((authn && authn != EXIT_UNSIGNED) || !o->v[O_CERT])
            return authn;
    }
    if ((rc = open_archive(o, &r)))
        return rc;
    rc = read_tally(r, o->pos[0], &t, &total, false);
    if (!rc && stor_reader_recovery(r)) {
        const struct stor_recovery *rv = stor_reader_recovery(r);
        char last[64], at[64];
        sr_wall_fmt(rv->last_write_wall_us, last, sizeof(last));
        sr_wall_fmt(rv->recovered_wall_us, at, sizeof(at));
        printf("RECOVERED %s id=%s streams=%zu chunks=%" PRIu64 " read_packets=%" PRIu64
               ": every chunk is authentic, but the recorder stopped without sealing the "
               "archive (no trailer: completeness cannot be proven); last write %s, recovered "
               "%s, %" PRIu64 " torn bytes cut\n",
               o->pos[0], stor_reader_id(r), stor_reader_n_streams(r), rv->data_chunks, total,
               last, at, rv->torn_bytes);
        rc = EXIT_RECOVERED;
    } else if (!rc) {
        printf("OK %s id=%s streams=%zu chunks=%" PRIu64 " read_packets=%" PRIu64 " end=%s ",
               o->pos[0], stor_reader_id(r), stor_reader_n_streams(r), stor_reader_chunks(r),
               total, stor_end_name(stor_reader_end(r)));
        print_counts(stdout, stor_reader_counts(r));
        printf("\n");
    }
    free(t.n);
    stor_reader_close(r);
    return rc ? rc : authn;
}

/* The hash-chained logs srtprec writes, by their record tag. */
static const struct {
    const char *tag, *what;
} log_kinds[] = {
    { "DEL1", "retention deletion log" },
    { STOR_LEDGER_TAG, "recorder seal ledger" },
    { "A1", "API access audit log" },
    { "D2", "keyagent disclosure log" },
};

static int cmd_verify_log(const struct cmd *cmd, const struct opts *o)
{
    struct chainlog_verdict v = { 0 };
    const char *tag = o->v[O_TAG], *what = NULL, *log = o->v[O_LOG];
    char first[CHAINLOG_TAG_MAX + 2] = "";
    enum sr_err err;

    if (!tag) {
        /* The tag of the first line; one of ours, or the file is not. */
        FILE *f = fopen(log, "r");
        int ch;
        size_t n = 0;
        while (f && (ch = fgetc(f)) != EOF && ch != '\t' && ch != '\n' && n < sizeof(first) - 1)
            first[n++] = (char)ch;
        first[n] = 0;
        if (f)
            fclose(f);
        tag = first;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(log_kinds); i++)
        if (strcmp(tag, log_kinds[i].tag) == 0)
            what = log_kinds[i].what;
    if (!what && tag[0]) {
        if (o->v[O_TAG])
            return usage_error(cmd, "--tag '%s': not one srtprec writes (DEL1, SEAL1, A1, D2)",
                               tag);
        fprintf(stderr, "%s: FAILED: record tag '%s' is not one srtprec writes (DEL1, SEAL1, A1, "
                        "D2)\n", log, tag);
        return 1;
    }
    err = chainlog_verify(log, tag[0] ? tag : NULL, o->v[O_ANCHOR], &v);
    if (err) {
        fprintf(stderr, "%s: BROKEN %s: line %zu: %s (%zu whole records before it)\n", log,
                what ? what : "log", v.bad_line, v.why && *v.why ? v.why : sr_strerror(err),
                v.records);
        return 1;
    }
    printf("INTACT %s: %s, %zu records, head %s%s\n", log, what ? what : "empty log",
           v.records, v.head, o->v[O_ANCHOR] ? ", passes through the anchor" : "");
    return 0;
}

/* verify-seals: every sealed archive the ledger knows, checked where it
 * must be (<dir>/<id>.srec); deletions the deletion log records are told
 * apart from the others. */
struct sweep {
    const struct opts *o;
    struct stor_index *ix;
    char (*gone)[STOR_ID_HEX]; /* ids the deletion log records, sorted */
    size_t n_gone, bad;
    size_t n[STOR_AUTHN_ERROR + 1], by_retention;
    struct stor_record *row;
};

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool gone_add(struct sweep *sw, const char *id, size_t *cap)
{
    if (sw->n_gone == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        char(*ng)[STOR_ID_HEX] = realloc(sw->gone, nc * sizeof(*ng));
        if (!ng)
            return false;
        sw->gone = ng;
        *cap = nc;
    }
    snprintf(sw->gone[sw->n_gone++], STOR_ID_HEX, "%s", id);
    return true;
}

static int load_deletions(struct sweep *sw, const char *path)
{
    struct chainlog_verdict v;
    char line[CHAINLOG_LINE_MAX + 1];
    size_t cap = 0;
    FILE *f;

    if (chainlog_verify(path, "DEL1", NULL, &v) != SR_OK) {
        fprintf(stderr, "%s: FAILED: deletion log: line %zu: %s\n", path, v.bad_line,
                v.why && *v.why ? v.why : "unreadable");
        return 1;
    }
    if (!(f = fopen(path, "r")))
        return 1;
    while (fgets(line, sizeof(line), f)) {
        struct chainlog_record r;
        const char *why;
        char id[STOR_ID_HEX];
        size_t n = strlen(line), used;
        if (n && line[n - 1] == '\n')
            line[--n] = 0;
        if (!chainlog_line_parse(slice_of(line, n), &r, &why))
            continue;
        for (size_t i = 0; i < r.n_fields; i++)
            if (slice_eq(r.name[i], slice_cstr("id")) &&
                chainlog_value_decode(r.value[i], id, sizeof(id), &used) && !gone_add(sw, id, &cap)) {
                fclose(f);
                fprintf(stderr, "srtprec: out of memory\n");
                return 1;
            }
    }
    fclose(f);
    qsort(sw->gone, sw->n_gone, sizeof(*sw->gone), id_cmp);
    return 0;
}

static bool sweep_one(const char *id, const char *sha, void *arg)
{
    struct sweep *sw = arg;
    /* The ledger's hash is what the seal recorded: the check compares the
     * file against it (one ledger pass for the whole sweep). */
    struct stor_check_cfg cc = { sw->o->v[O_SIGNER], id, sha, NULL, "the seal ledger" };
    char path[4200], msg[1024];
    enum stor_authn a;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s.srec", sw->o->v[O_DIR], id) >= sizeof(path))
        return false;
    if (sw->ix && stor_index_get(sw->ix, id, sw->row) == SR_OK && sw->row->sha256[0] &&
        strcmp(sw->row->sha256, sha) != 0) {
        printf("SWAPPED %s: the index row's SHA-256 %s is not the seal ledger's %s\n", id,
               sw->row->sha256, sha);
        sw->n[STOR_AUTHN_SWAPPED]++;
        sw->bad++;
        return true;
    }
    a = stor_archive_check(path, &cc, msg, sizeof(msg));
    if (a == STOR_AUTHN_DELETED &&
        bsearch(id, sw->gone, sw->n_gone, sizeof(*sw->gone), id_cmp)) {
        sw->by_retention++;
        return true;
    }
    sw->n[a]++;
    if (a != STOR_AUTHN_OK) {
        printf("%s: %s\n", id, msg);
        sw->bad++;
    }
    return true;
}

static int cmd_verify_seals(const struct cmd *cmd, const struct opts *o)
{
    struct sweep sw = { .o = o };
    char lbuf[4200];
    const char *ledger = ledger_of(o, lbuf, sizeof(lbuf)), *why = "";
    enum sr_err err;
    int rc = 0;

    (void)cmd;
    if (!ledger) {
        fprintf(stderr, "srtprec verify-seals: no seal ledger: give --ledger or --index\n");
        return EXIT_USAGE;
    }
    if (o->v[O_DELETIONS] && load_deletions(&sw, o->v[O_DELETIONS]) != 0) {
        free(sw.gone);
        return 1;
    }
    if (o->v[O_INDEX] && (err = stor_index_open(&sw.ix, o->v[O_INDEX]))) {
        free(sw.gone);
        return index_failed(o, sr_strerror(err));
    }
    sw.row = malloc(sizeof(*sw.row));
    if (!sw.row)
        err = SR_ENOMEM;
    else
        err = stor_ledger_each(ledger, sweep_one, &sw, &why);
    if (err) {
        fprintf(stderr, "%s: FAILED: seal ledger: %s\n", ledger, why);
        rc = 1;
    } else {
        printf("%zu seals: %zu authentic, %zu deleted by retention (logged), %zu deleted, %zu "
               "forged, %zu swapped, %zu not checkable\n",
               sw.n[STOR_AUTHN_OK] + sw.by_retention + sw.bad, sw.n[STOR_AUTHN_OK],
               sw.by_retention, sw.n[STOR_AUTHN_DELETED], sw.n[STOR_AUTHN_FORGED],
               sw.n[STOR_AUTHN_SWAPPED], sw.n[STOR_AUTHN_ERROR] + sw.n[STOR_AUTHN_UNSIGNED]);
        rc = sw.bad ? 1 : 0;
    }
    stor_index_close(sw.ix);
    free(sw.row);
    free(sw.gone);
    return rc;
}

static int cmd_info(const struct cmd *cmd, const struct opts *o)
{
    struct stor_reader *r;
    struct tally t = { 0 };
    const struct stor_call_info *c;
    char when[64];
    uint64_t total;
    int rc = open_archive(o, &r);

    if (rc)
        return rc;
    c = stor_reader_call(r);
    sr_wall_fmt(c->start_wall_us, when, sizeof(when));
    printf("id:         %s\ncall-id:    %s\nlocal:      %s;tag=%s\nremote:     %s;tag=%s\n"
           "source:     %s\nstart:      %s\n",
           stor_reader_id(r), c->call_id, c->local_aor, c->local_tag, c->remote_aor,
           c->remote_tag, c->source, when);
    rc = read_tally(r, o->pos[0], &t, &total, true);
    if (!rc) {
        sr_wall_fmt(stor_reader_end_wall_us(r), when, sizeof(when));
        if (stor_reader_recovery(r)) {
            printf("recovered:  last write %s (the recorder stopped; sealed by recovery)\n",
                   when);
            rc = EXIT_RECOVERED;
        } else {
            printf("sealed:     %s (%s)\n", when,
                   stor_reader_end(r) == STOR_END_SHUTDOWN
                       ? "cut by shutdown: the recorder stopped while the call went on"
                       : "the call ended");
        }
    }
    for (size_t i = 0; i < stor_reader_n_streams(r); i++) {
        const struct stor_stream_info *s = stor_reader_stream(r, i);
        printf("stream %zu:   %s ssrc=%08" PRIx32 " pt=%u codec=%s rate=%u label=%s packets=%" PRIu64
               "%s\n",
               i, s->direction == STOR_DIR_SEND ? "send" : "recv", s->ssrc, s->payload_type,
               s->codec[0] ? s->codec : "?", s->clock_rate, s->label, i < t.cap ? t.n[i] : 0,
               s->plain ? " plain-rtp (recorded as received, never authenticated)" : "");
    }
    if (rc == 0) {
        printf("counts:     ");
        print_counts(stdout, stor_reader_counts(r));
        printf("\n");
    }
    free(t.n);
    stor_reader_close(r);
    return rc;
}

/* srtprec metadata FILE [N]: the SIPREC metadata records (docs/archive-
 * format.md, "Metadata records").  Record N is written only once the whole
 * archive has checked out, so nothing unauthenticated reaches stdout. */
static int cmd_metadata(const struct cmd *cmd, const struct opts *o)
{
    struct stor_reader *r;
    const char *why = NULL;
    struct stor_pkt p;
    unsigned idx, want = 0, n = 0;
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    bool one = o->n_pos == 2;
    enum sr_err err;
    int rc;

    if (one) {
        char *end;
        unsigned long v = strtoul(o->pos[1], &end, 10);
        if (!o->pos[1][0] || *end || v > 1000000)
            return usage_error(cmd, "'%s': expected a record number (0, 1, ...)", o->pos[1]);
        want = (unsigned)v;
    }
    if ((rc = open_archive(o, &r)))
        return rc;
    while ((err = stor_reader_next(r, &idx, &p, &why)) == SR_OK) {
        const struct stor_stream_info *si = stor_reader_stream(r, idx);
        char when[64];
        if (!si || strcmp(si->codec, STOR_METADATA_CODEC) != 0)
            continue;
        if (!one) {
            sr_wall_fmt(p.arrival_wall_us, when, sizeof(when));
            printf("%u\t%s\t%zu\n", n, when, p.payload_len);
        } else if (n == want && !doc && p.payload_len) {
            doc = malloc(p.payload_len);
            if (!doc) {
                fprintf(stderr, "srtprec: out of memory\n");
                stor_reader_close(r);
                return 1;
            }
            memcpy(doc, p.payload, p.payload_len);
            doc_len = p.payload_len;
        }
        n++;
    }
    if (err != SR_ECLOSED) {
        fprintf(stderr, "%s: FAILED: %s (%s)\n", o->pos[0], why ? why : sr_strerror(err),
                sr_strerror(err));
        rc = 1;
    } else if (one && !doc) {
        fprintf(stderr, "%s: no metadata record %u (it holds %u)\n", o->pos[0], want, n);
        rc = 1;
    } else if (one && sr_write_all(STDOUT_FILENO, doc, doc_len) != SR_OK) {
        fprintf(stderr, "srtprec: stdout: %s\n", strerror(errno));
        rc = 1;
    }
    free(doc);
    stor_reader_close(r);
    return rc;
}

static bool to_fd(const void *data, size_t len, void *arg)
{
    return sr_write_all(*(int *)arg, data, len) == SR_OK;
}

/* Where OUT goes: written to OUT.part and put in place only when the
 * archive checked out; without --force, link(2) puts it there only if OUT
 * does not exist (atomically: no check-then-rename race). */
static enum sr_err place_output(const char *tmp, const char *out, bool force, const char **why)
{
    if (force) {
        if (rename(tmp, out) == 0)
            return SR_OK;
    } else if (link(tmp, out) == 0) {
        unlink(tmp);
        return SR_OK;
    } else if (errno == EEXIST) {
        *why = "output exists (--force replaces it)";
        return SR_ESTATE;
    }
    *why = strerror(errno);
    return SR_EIO;
}

static enum sr_err run_export(const struct opts *o, int *fd, const char **why)
{
    const char *in = o->pos[0], *cert = o->v[O_CERT], *key = o->v[O_KEY], *fmt = o->v[O_FORMAT];
    bool one = o->v[O_STREAM] != NULL, mixed = o->v[O_LAYOUT] && o->v[O_LAYOUT][0] == 'm';
    unsigned idx = (unsigned)o->stream;

    if (strcmp(fmt, "wav") == 0)
        return one     ? stor_export_wav_stream(in, cert, key, idx, to_fd, fd, why)
               : mixed ? stor_export_wav_mixed(in, cert, key, to_fd, fd, why)
                       : stor_export_wav(in, cert, key, to_fd, fd, why);
    if (strcmp(fmt, "opus") == 0)
        return stor_export_opus(in, cert, key, one ? idx : STOR_STREAM_FIRST_OPUS, to_fd, fd, why);
    return one ? stor_export_ogg_stream(in, cert, key, idx, to_fd, fd, why)
               : stor_export_ogg(in, cert, key, to_fd, fd, why);
}

static int cmd_export(const struct cmd *cmd, const struct opts *o)
{
    char tmp[4096];
    const char *why = NULL, *out = o->pos[1];
    bool to_stdout = strcmp(out, "-") == 0, force = o->v[O_FORCE] != NULL;
    struct stat sb;
    enum sr_err err;
    int fd, n;

    if (o->v[O_LAYOUT] && (strcmp(o->v[O_FORMAT], "wav") != 0 || o->v[O_STREAM]))
        return usage_error(cmd, "--layout: only for --format=wav without --stream");
    if (to_stdout) {
        fd = STDOUT_FILENO;
    } else {
        /* Refused before the work; place_output checks again, atomically. */
        if (!force && lstat(out, &sb) == 0) {
            fprintf(stderr, "srtprec export: %s: output exists (--force replaces it)\n", out);
            return 1;
        }
        n = snprintf(tmp, sizeof(tmp), "%s.part", out);
        if (n < 0 || (size_t)n >= sizeof(tmp))
            return usage_error(cmd, "OUT '%s': path too long", out);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(stderr, "srtprec export: %s: %s\n", tmp, strerror(errno));
            return 1;
        }
    }
    err = run_export(o, &fd, &why);
    if (!to_stdout) {
        if (!err && fsync(fd) != 0)
            err = SR_EIO, why = "fsync failed";
        if (close(fd) != 0 && !err)
            err = SR_EIO, why = "close failed";
        if (!err && (err = place_output(tmp, out, force, &why))) {
            unlink(tmp);
            fprintf(stderr, "srtprec export: %s: %s\n", out, why);
            return 1;
        }
        if (err)
            unlink(tmp);
    }
    if (err) {
        fprintf(stderr, "%s: FAILED: %s (%s)\n", o->pos[0], why ? why : sr_strerror(err),
                sr_strerror(err));
        return 1;
    }
    return 0;
}

/* The index must exist: a misspelt path is an error, not a new empty index. */
static int open_index(const struct opts *o, enum stor_index_mode mode, struct stor_index **ix)
{
    enum sr_err err = stor_index_open_mode(ix, o->v[O_INDEX], mode);

    if (err == SR_ENOTFOUND)
        return index_failed(o, "no such index");
    if (err)
        return index_failed(o, sr_strerror(err));
    return 0;
}

static bool list_one(const struct stor_record *rec, void *arg)
{
    char when[64];

    sr_wall_fmt(rec->call.start_wall_us, when, sizeof(when));
    printf("%s %s %-9s%s call-id=%s local=%s remote=%s streams=%u packets=%" PRIu64
           " bytes=%" PRIu64 " %s\n",
           rec->id, when, stor_state_name(rec->state),
           rec->hold ? " HOLD" : "",
           rec->call.call_id, rec->call.local_aor, rec->call.remote_aor, rec->n_streams,
           rec->packets, rec->bytes, rec->path);
    snprintf(arg, STOR_ID_HEX, "%s", rec->id);
    return true;
}

static int cmd_list(const struct cmd *cmd, const struct opts *o)
{
    struct stor_index *ix;
    struct stor_query q = { 0 };
    char last[STOR_ID_HEX] = "", after[STOR_ID_HEX];
    uint64_t left = o->limit ? o->limit : UINT64_MAX;
    enum sr_err err;

    if (o->v[O_FROM] && o->v[O_TO] && o->from > o->to)
        return usage_error(cmd, "--from '%s' is after --to '%s'", o->v[O_FROM], o->v[O_TO]);
    if (o->v[O_MATCH]) {
        if (!o->v[O_PARTY])
            return usage_error(cmd, "--party-match needs --party");
        if (!strcmp(o->v[O_MATCH], "prefix"))
            q.party_match = STOR_PARTY_PREFIX;
        else if (!strcmp(o->v[O_MATCH], "substring"))
            q.party_match = STOR_PARTY_SUBSTRING;
        else if (strcmp(o->v[O_MATCH], "exact") != 0)
            return usage_error(cmd, "--party-match must be exact, prefix or substring");
    }
    if (open_index(o, STOR_INDEX_READ_ONLY, &ix))
        return 1;
    /* 0 means "open" to storage: the epoch itself is 1 us later. */
    q.from_wall_us = o->v[O_FROM] && !o->from ? 1 : o->from;
    q.to_wall_us = o->v[O_TO] && !o->to ? 1 : o->to;
    q.party = o->v[O_PARTY];
    q.call_id = o->v[O_CALL_ID];
    /* Page with the cursor so a large index never sits in memory. */
    for (;;) {
        q.limit = left < 500 ? (size_t)left : 500;
        memcpy(after, last, sizeof(after));
        q.after_id = after[0] ? after : NULL;
        if ((err = stor_index_search(ix, &q, list_one, last)))
            break;
        if (strcmp(after, last) == 0)
            break;
        left -= q.limit; /* an upper bound: a short page ends the loop next time */
        if (!left)
            break;
    }
    stor_index_close(ix);
    if (err) {
        return index_failed(o, sr_strerror(err));
    }
    return 0;
}

/* Whether S3 Object Lock still retains key: then why says until when. */
static bool store_locked(struct objstore *s, const char *key, char *why, size_t whylen)
{
    struct objstore_info info;

    if (!objstore_retained(s, key, (int64_t)(sr_wall_us() / 1000000u), &info))
        return false;
    snprintf(why, whylen, "locked until %s (Object Lock %s)", info.lock_until,
             info.lock_mode[0] ? info.lock_mode : "retention");
    return true;
}

/* Retention's store deleter (stor_store_delete_fn) on storage/objstore.h:
 * the archive's object, then its signature's.  An object Object Lock still
 * retains is kept (SR_ESTATE), asked before the DELETE: on a versioned
 * bucket S3 answers a plain DELETE of a locked object with a delete marker,
 * which would hide the retained version rather than fail; and a DELETE
 * refused (AccessDenied) is asked again, since that is how a store with
 * the lock on the current version says it. */
static enum sr_err store_delete(void *arg, const char *location, char *why, size_t whylen)
{
    struct objstore *s = arg;
    const char *key = objstore_location_key(s, location);
    struct objstore_status st = { 0 };
    char sig[OBJSTORE_KEY_MAX + 8], detail[512];
    enum objstore_err e;

    if (!key) {
        snprintf(why, whylen, "%s is not in the configured bucket", location);
        return SR_EINVAL;
    }
    if (store_locked(s, key, why, whylen))
        return SR_ESTATE;
    e = objstore_delete(s, key, &st);
    if (e == OBJSTORE_OK) {
        snprintf(sig, sizeof(sig), "%s.sig", key);
        e = objstore_delete(s, sig, &st);
    }
    if (e == OBJSTORE_OK)
        return SR_OK;
    if (e == OBJSTORE_EAUTH && store_locked(s, key, why, whylen))
        return SR_ESTATE;
    snprintf(why, whylen, "%s: %s", objstore_strerror(e),
             objstore_status_text(&st, detail, sizeof(detail)));
    return objstore_err_transient(e) ? SR_EAGAIN : SR_EIO;
}

/* Files are <dir>/<id>.srec, never the index's path (the API's default
 * archive-dir is the same: "archive" beside the index).  NULL (after a
 * message): a PostgreSQL index and no --dir. */
static const char *archive_dir_of(const struct cmd *cmd, const struct opts *o, char *buf,
                                  size_t cap)
{
    const char *index = o->v[O_INDEX], *slash;
    int n;

    if (o->v[O_DIR])
        return o->v[O_DIR];
    if (!stor_index_is_file(index)) {
        fprintf(stderr, "%s: the index is PostgreSQL: --dir is required\n", cmd->name);
        return NULL;
    }
    slash = strrchr(index, '/');
    n = slash ? (int)(slash - index) : 1;
    snprintf(buf, cap, "%.*s/archive", n, slash ? index : ".");
    return buf;
}

/* --store CONF: a client on the [store] section; NULL after a message. */
static struct objstore *store_of(const struct cmd *cmd, const struct opts *o,
                                 struct objstore_cfg *sc)
{
    struct objstore *store = NULL;
    char why[512] = "";
    enum sr_err err = objstore_cfg_load(sc, o->v[O_STORE], why, sizeof(why));

    if (err == SR_ENOTFOUND)
        snprintf(why, sizeof(why), "no [store] url in %s", o->v[O_STORE]);
    if (err || objstore_create(&store, sc, NULL, why, sizeof(why)) != OBJSTORE_OK) {
        fprintf(stderr, "%s: --store: %s\n", cmd->name, why);
        return NULL;
    }
    return store;
}

static int cmd_retention(const struct cmd *cmd, const struct opts *o)
{
    struct stor_retention_cfg rc = { 0 };
    struct stor_retention_stats st;
    char lbuf[4200], dbuf[4200];
    struct stor_index *ix;
    struct objstore *store = NULL;
    enum sr_err err;

    if (!o->v[O_OLDER] == !o->v[O_BEFORE])
        return usage_error(cmd, "exactly one of --older-than and --before is required");
    rc.before_wall_us = o->v[O_BEFORE] ? o->before
                                       : sr_wall_us() - o->older_days * 86400ull * 1000000ull;
    rc.log_path = o->v[O_LOG];
    rc.dry_run = o->v[O_DRY_RUN] != NULL;
    rc.recorder = o->v[O_RECORDER];
    if (o->v[O_LEDGER] && !o->v[O_SIGNER])
        return usage_error(cmd, "--ledger is only used with --signer");
    rc.signer_pub = o->v[O_SIGNER];
    rc.ledger = o->v[O_SIGNER] ? ledger_of(o, lbuf, sizeof(lbuf)) : NULL;
    if (!(rc.archive_dir = archive_dir_of(cmd, o, dbuf, sizeof(dbuf))))
        return 2;
    if (o->v[O_STORE]) {
        struct objstore_cfg sc;
        if (!(store = store_of(cmd, o, &sc)))
            return 1;
        rc.store_delete = store_delete;
        rc.store_arg = store;
    }
    if (open_index(o, STOR_INDEX_EXISTING, &ix)) {
        objstore_destroy(store);
        return 1;
    }
    err = stor_retention(ix, &rc, &st);
    stor_index_close(ix);
    objstore_destroy(store);
    printf("%s %zu recordings, %zu on legal hold kept, %zu archive files already missing, "
           "%zu not authentic kept, %zu naming another file kept; %zu store copies deleted, %zu "
           "with a store copy kept (no --store), %zu kept by the store's Object Lock\n",
           rc.dry_run ? "would delete" : "deleted", st.deleted, st.held, st.missing_files,
           st.refused, st.path_mismatch, st.store_deleted, st.store_kept, st.store_locked);
    if (err) {
        fprintf(stderr, "retention: FAILED: %s (deletion log %s)\n", sr_strerror(err), rc.log_path);
        return 1;
    }
    return 0;
}

static int cmd_hold(const struct cmd *cmd, const struct opts *o)
{
    struct stor_index *ix;
    enum sr_err err;

    if (strcmp(o->pos[1], "on") != 0 && strcmp(o->pos[1], "off") != 0)
        return usage_error(cmd, "'%s': expected on or off", o->pos[1]);
    if (open_index(o, STOR_INDEX_EXISTING, &ix))
        return 1;
    err = stor_index_set_hold(ix, o->pos[0], strcmp(o->pos[1], "on") == 0);
    stor_index_close(ix);
    if (err) {
        fprintf(stderr, "%s: FAILED: %s\n", o->pos[0], sr_strerror(err));
        return 1;
    }
    return 0;
}

/* recover --store: rows from the store's PREFIX<id>.srec objects, naming
 * DIR/<id>.srec (store_recover.h). */
static int recover_store(const struct cmd *cmd, const struct opts *o, struct stor_index *ix)
{
    struct store_recover_cfg rc = { .recorder = o->v[O_RECORDER] };
    struct store_recover_stats st;
    struct objstore_cfg sc;
    struct objstore *store;
    char dbuf[4200];
    enum sr_err err;

    if (!(rc.archive_dir = archive_dir_of(cmd, o, dbuf, sizeof(dbuf))))
        return 2;
    if (!(store = store_of(cmd, o, &sc)))
        return 1;
    rc.prefix = sc.prefix;
    err = store_recover(store, ix, &rc, &st);
    objstore_destroy(store);
    printf("store: %zu archives listed: rows created %zu, located %zu, skipped (located "
           "already) %zu, failed %zu; without a .sig object %zu\n",
           st.listed, st.created, st.located, st.skipped, st.failed, st.unsigned_);
    if (err || st.failed) {
        fprintf(stderr, "recover: store: FAILED: %s\n",
                err ? sr_strerror(err) : "archives left without a located row (above)");
        return 1;
    }
    return 0;
}

static int cmd_recover(const struct cmd *cmd, const struct opts *o)
{
    struct stor_recover_stats st;
    struct stor_index *ix;
    enum sr_err err;
    int rc = 0;

    if (!o->v[O_DIR] && !o->v[O_STORE])
        return usage_error(cmd, "--dir is required (without --store)");
    if (o->v[O_RECORDER] && !o->v[O_STORE])
        return usage_error(cmd, "--recorder is only used with --store");
    /* Creating the index is right here: recovery rebuilds rows from the archives. */
    if ((err = stor_index_open(&ix, o->v[O_INDEX]))) {
        return index_failed(o, sr_strerror(err));
    }
    /* The local archives first (a partial one is sealed there), unless only
     * the store is asked for. */
    if (o->v[O_DIR] && (!o->v[O_STORE] || access(o->v[O_DIR], F_OK) == 0)) {
        err = stor_recover(o->v[O_DIR], ix, &st);
        printf("recovered %zu, damaged %zu, index rows repaired %zu, sealed archives indexed "
               "%zu\n", st.recovered, st.damaged, st.index_fixed, st.reconciled);
        if (err) {
            fprintf(stderr, "recover: FAILED: %s\n", sr_strerror(err));
            rc = 1;
        }
    }
    if (o->v[O_STORE]) {
        int r = recover_store(cmd, o, ix);
        rc = rc ? rc : r;
    }
    stor_index_close(ix);
    return rc;
}

/* srtprec reindex: rows without a Call-ID (recovery or reconciliation
 * filled them from a format 2 header, whose call information is sealed)
 * get it from the archive, read with a recipient key: Call-ID, parties,
 * tags and source.  The rest of the row (state, counts, hash, hold) stays. */
static bool collect_id(const struct stor_record *rec, void *arg)
{
    struct buf *ids = arg;

    return buf_append(ids, rec->id, STOR_ID_HEX) == SR_OK;
}

static int cmd_reindex(const struct cmd *cmd, const struct opts *o)
{
    struct stor_query q = { .call_id = "" };
    struct stor_record *rec = malloc(sizeof(*rec));
    struct stor_index *ix = NULL;
    struct objstore *store = NULL;
    struct objstore_cfg sc;
    struct buf ids;
    size_t filled = 0, failed = 0, n;
    enum sr_err err = SR_ENOMEM;

    buf_init(&ids, (size_t)1 << 30);
    if (!rec)
        goto out;
    if ((o->v[O_STORE] && !(store = store_of(cmd, o, &sc))) ||
        open_index(o, STOR_INDEX_EXISTING, &ix)) {
        objstore_destroy(store);
        free(rec);
        buf_fini(&ids);
        return 1;
    }
    /* Ids first, then the writes: a row filled leaves the query's set. */
    q.limit = 10000;
    if ((err = stor_index_search(ix, &q, collect_id, &ids)))
        goto out;
    n = ids.len / STOR_ID_HEX;
    for (size_t i = 0; i < n; i++) {
        const char *id = (const char *)ids.p + i * STOR_ID_HEX;
        struct stor_reader *r = NULL;
        const char *why = NULL, *src, *key;
        char path[PATH_MAX], tmp[PATH_MAX] = "", fwhy[sizeof(rec->location) + 512], hash[65];
        uint64_t start;
        snprintf(path, sizeof(path), "%s/%s.srec", o->v[O_DIR], id);
        if (stor_index_get(ix, id, rec) != SR_OK || rec->call.call_id[0])
            continue;
        src = path;
        /* Not on local disk but in the store: read a fetched copy. */
        if (store && rec->location[0] && access(path, F_OK) != 0) {
            if (!(key = objstore_location_key(store, rec->location)))
                snprintf(fwhy, sizeof(fwhy), "%s is not in the configured bucket", rec->location);
            if (!key || !store_recover_fetch(store, key, NULL, tmp, sizeof(tmp), hash, fwhy,
                                             sizeof(fwhy))) {
                fprintf(stderr, "%s: %s\n", rec->location, fwhy);
                if (tmp[0])
                    unlink(tmp);
                failed++;
                continue;
            }
            src = tmp;
        }
        err = stor_reader_open(&r, src, o->v[O_CERT], o->v[O_KEY], &why);
        if (err) {
            fprintf(stderr, "%s: %s (%s)\n", src == tmp ? rec->location : path,
                    why ? why : sr_strerror(err), sr_strerror(err));
            if (tmp[0])
                unlink(tmp);
            failed++;
            continue;
        }
        start = rec->call.start_wall_us;
        rec->call = *stor_reader_call(r);
        rec->call.start_wall_us = start;
        stor_reader_close(r);
        if (tmp[0])
            unlink(tmp);
        if ((err = stor_index_put(ix, rec))) {
            fprintf(stderr, "%s: index update failed: %s\n", id, sr_strerror(err));
            failed++;
            continue;
        }
        printf("%s call-id=%s local=%s remote=%s\n", id, rec->call.call_id, rec->call.local_aor,
               rec->call.remote_aor);
        filled++;
    }
    err = SR_OK;
    printf("rows filled %zu, failed %zu\n", filled, failed);
out:
    stor_index_close(ix);
    objstore_destroy(store);
    free(rec);
    buf_fini(&ids);
    if (err)
        return index_failed(o, sr_strerror(err));
    return failed ? 1 : 0;
}

/* ------------------------------------------------------------------ health */

/* Which daemon wrote a metrics file: the one whose srtprec_<daemon>_up it has. */
static const char *daemon_of(const struct buf *text)
{
    static const char *const daemons[] = { "recorder", "keyagent", "api" };
    char name[64];
    uint64_t v;

    for (size_t i = 0; i < SR_ARRAY_LEN(daemons); i++) {
        snprintf(name, sizeof(name), "srtprec_%s_up", daemons[i]);
        if (prom_text_value(text->p, text->len, name, &v))
            return daemons[i];
    }
    return NULL;
}

/* The checks a file reports failing: srtprec_<daemon>_health_check{check="X"} 0. */
static void print_failing(const struct buf *text, const char *daemon)
{
    char prefix[96];
    size_t plen, n = 0;

    plen = (size_t)snprintf(prefix, sizeof(prefix), "srtprec_%s_health_check{check=\"", daemon);
    for (const char *l = text->p, *end = text->p + text->len; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l)), *q;
        size_t len = nl ? (size_t)(nl - l) : (size_t)(end - l);

        if (len > plen + 4 && memcmp(l, prefix, plen) == 0 &&
            (q = memchr(l + plen, '"', len - plen)) && q + 4 <= l + len &&
            memcmp(q, "\"} 0", 4) == 0 && (q + 4 == l + len || q[4] == ' '))
            printf("%s%.*s", n++ ? ", " : ": failing ", (int)(q - l - plen), l + plen);
        l += len + 1;
    }
}

/* Each file as srtprec-api's /healthz judges it (docs/deploy.md, "Health"):
 * present, fresh, up and ready; one line per file on stdout. */
static int cmd_health(const struct cmd *cmd, const struct opts *o)
{
    uint64_t max_age_ms = (o->v[O_MAX_AGE] ? o->max_age : 30) * 1000u;
    int rc = 0;

    (void)cmd;
    for (size_t i = 0; i < o->n_pos; i++) {
        struct prom_file_health h;
        struct buf text;
        const char *daemon;
        enum sr_err err;

        buf_init(&text, 256 * 1024 + 1); /* the most prom_file_health reads */
        err = prom_file_health(o->pos[i], "recorder", max_age_ms, sr_wall_us() / 1000u, &h, &text);
        daemon = err ? NULL : daemon_of(&text);
        if (daemon && strcmp(daemon, "recorder") != 0) {
            buf_reset(&text);
            err = prom_file_health(o->pos[i], daemon, max_age_ms, sr_wall_us() / 1000u, &h,
                                   &text);
        }
        if (err) {
            printf("%s: unreadable (%s)\n", o->pos[i],
                   err == SR_EIO ? strerror(errno) : "not a metrics file");
            rc = 1;
        } else if (!daemon) {
            printf("%s: not a srtprec metrics file (no srtprec_<daemon>_up)\n", o->pos[i]);
            rc = 1;
        } else if (!h.fresh) {
            printf("%s %s: STALE (unchanged for %" PRIu64 " s, more than %" PRIu64
                   " s: stopped or hung)\n",
                   daemon, o->pos[i], h.age_ms / 1000u, max_age_ms / 1000u);
            rc = 1;
        } else if (!h.up) {
            printf("%s %s: STOPPED (its last file says up 0)\n", daemon, o->pos[i]);
            rc = 1;
        } else if (!h.ready) {
            printf("%s %s: NOT READY (age %" PRIu64 " s)", daemon, o->pos[i], h.age_ms / 1000u);
            print_failing(&text, daemon);
            putchar('\n');
            rc = 1;
        } else {
            printf("%s %s: ready (age %" PRIu64 " s)\n", daemon, o->pos[i], h.age_ms / 1000u);
        }
        buf_fini(&text);
    }
    return rc;
}

#define ARCHIVE_OPTS (BIT(O_CERT) | BIT(O_KEY))
static const struct cmd cmds[] = {
    { "verify", "FILE", 1, 1, ARCHIVE_OPTS | BIT(O_SIGNER) | BIT(O_INDEX) | BIT(O_LEDGER), 0,
      "Check every chunk, the trailer and the plaintext hash of an archive (--cert and\n"
      "--key), its signature, index hash and seal (--signer), or both.\n"
      "Exit 0: sealed and intact; 1: a defect (named on stderr); 3: recovered after a\n"
      "crash (every chunk authentic, but the recorder never sealed it); with --signer\n"
      "4 unsigned, 5 forged, 6 swapped, 7 deleted.", false, cmd_verify },
    { "verify-log", "", 0, 0, BIT(O_LOG) | BIT(O_TAG) | BIT(O_ANCHOR), BIT(O_LOG),
      "Check a hash-chained log srtprec writes (DEL1 deletions, SEAL1 seal ledger,\n"
      "A1 API audit, D2 disclosures): INTACT and its head (exit 0) or BROKEN at a line\n"
      "(exit 1).", false, cmd_verify_log },
    { "verify-seals", "", 0, 0,
      BIT(O_DIR) | BIT(O_SIGNER) | BIT(O_INDEX) | BIT(O_LEDGER) | BIT(O_DELETIONS),
      BIT(O_DIR) | BIT(O_SIGNER),
      "Check every seal the ledger records: <dir>/<id>.srec against the ledger's hash\n"
      "and the index row's, its signature; deletions the deletion log records are told\n"
      "apart.  Exit 0: every other archive authentic; 1: one is not (listed).", false,
      cmd_verify_seals },
    { "info", "FILE", 1, 1, ARCHIVE_OPTS, ARCHIVE_OPTS,
      "Print an archive's call, streams and counts (exit codes as verify).", false, cmd_info },
    { "metadata", "FILE [N]", 1, 2, ARCHIVE_OPTS, ARCHIVE_OPTS,
      "List the SIPREC metadata records of an archive (number, time, bytes), or write\n"
      "record N, the RFC 7865 document as the client sent it, to stdout once the whole\n"
      "archive checked out.", false, cmd_metadata },
    { "export", "FILE OUT", 2, 2,
      ARCHIVE_OPTS | BIT(O_FORMAT) | BIT(O_STREAM) | BIT(O_LAYOUT) | BIT(O_FORCE),
      ARCHIVE_OPTS | BIT(O_FORMAT),
      "Decrypt an archive to OUT (\"-\" = stdout).  OUT appears only once the whole\n"
      "archive checked out, and never replaces a file without --force.", false, cmd_export },
    { "list", "", 0, 0,
      BIT(O_INDEX) | BIT(O_PARTY) | BIT(O_MATCH) | BIT(O_CALL_ID) | BIT(O_FROM) | BIT(O_TO) |
          BIT(O_LIMIT),
      BIT(O_INDEX), "List recordings from the index (opened read-only), oldest first.", true,
      cmd_list },
    { "retention", "", 0, 0,
      BIT(O_INDEX) | BIT(O_LOG) | BIT(O_OLDER) | BIT(O_BEFORE) | BIT(O_DRY_RUN) | BIT(O_SIGNER) |
          BIT(O_LEDGER) | BIT(O_DIR) | BIT(O_STORE) | BIT(O_RECORDER),
      BIT(O_INDEX) | BIT(O_LOG),
      "Delete recordings older than --older-than or --before (one of them), except those\n"
      "on legal hold, logging each deletion; with --signer, archives that are not\n"
      "authentic are kept as evidence.", true, cmd_retention },
    { "hold", "ID on|off", 2, 2, BIT(O_INDEX), BIT(O_INDEX),
      "Set or clear a recording's legal hold.", false, cmd_hold },
    { "recover", "", 0, 0, BIT(O_INDEX) | BIT(O_DIR) | BIT(O_STORE) | BIT(O_RECORDER),
      BIT(O_INDEX),
      "Seal archives a crashed recorder left partial in --dir and repair their index\n"
      "rows (the index is created if missing).  With --store, also rebuild the rows of\n"
      "the store's PREFIX<id>.srec objects that have none (fetched, indexed like a\n"
      "local archive, located; rows name DIR/<id>.srec, DIR by default \"archive\"\n"
      "beside an SQLite index) and locate rows that lack it; --recorder sets the\n"
      "recorder-id of rows created.  Exit 1 if any archive failed (reasons on stderr).",
      false, cmd_recover },
    { "reindex", "", 0, 0, BIT(O_INDEX) | BIT(O_DIR) | ARCHIVE_OPTS | BIT(O_STORE),
      BIT(O_INDEX) | BIT(O_DIR) | ARCHIVE_OPTS,
      "Fill index rows that have no Call-ID (recovered or reconciled from a format 2\n"
      "archive, whose header seals it) from DIR/<id>.srec, read with a recipient key:\n"
      "Call-ID, parties, tags, source.  With --store, a row whose file is not in DIR\n"
      "but has a location is read from a copy fetched from the store (0600, removed\n"
      "after).  Exit 1 if an archive cannot be read.", false,
      cmd_reindex },
    { "health", "METRICS-FILE...", 1, MAX_POS, BIT(O_MAX_AGE), 0,
      "Judge each daemon by its metrics file (recorder's or keyagent's metrics-file),\n"
      "as srtprec-api's /healthz does: ready when the file is fresh, says up and\n"
      "ready; otherwise STALE, STOPPED or NOT READY with the failing checks.\n"
      "One line per file.  Exit 0: every daemon ready; 1: one is not.", false,
      cmd_health },
};

static const struct cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(cmds); i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

static void main_help(FILE *f)
{
    fputs("usage: srtprec COMMAND [OPTION...] [ARG...]\n"
          "       srtprec COMMAND --help | srtprec --help | srtprec --version\n\n"
          "Commands:\n", f);
    for (size_t i = 0; i < SR_ARRAY_LEN(cmds); i++) {
        fputs("  ", f);
        synopsis(f, &cmds[i]);
    }
    fputs("\nOptions take --name=VALUE or --name VALUE.  Exit status: 0 success, 1 the\n"
          "archive, index or output has a problem (on stderr), 2 usage, 3 (verify, info)\n"
          "the archive was recovered after a crash, 4..7 (verify --signer) unsigned,\n"
          "forged, swapped, deleted.\n", f);
    fputs(time_help, f);
}

int main(int argc, char **argv)
{
    const struct cmd *c;
    struct opts o;
    int rc;

    log_setup(LOG_LVL_WARN, "srtprec", 0);
    if (argc < 2)
        return main_help(stderr), EXIT_USAGE;
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2 && strcmp(argv[1], "help") == 0 && (c = find_cmd(argv[2])))
            return cmd_help(stdout, c), 0;
        return main_help(stdout), 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return sr_version_print(stdout, "srtprec"), 0;
    if (!(c = find_cmd(argv[1])))
        return usage_error(NULL, "unknown command '%s'", argv[1]);
    rc = parse_opts(c, argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    return c->run(c, &o);
}
