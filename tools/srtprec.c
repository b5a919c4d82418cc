/** @file srtprec.c  The archive CLI: verify, info, export, list, retention, hold, recover.
 *
 *   srtprec verify [--cert=C --key=K] [--signer=S [--index=DB] [--ledger=L]] FILE
 *   srtprec verify-log --log=FILE [--tag=TAG] [--anchor=HEAD]
 *   srtprec info   --cert=C --key=K FILE
 *   srtprec export --cert=C --key=K --format=wav|ogg|opus [--stream=N] FILE OUT  (OUT "-" = stdout)
 *   srtprec list   --index=DB [--party=AOR] [--call-id=ID] [--from=US] [--to=US] [--limit=N]
 *   srtprec retention --index=DB --log=FILE --older-than=DAYS|--before=US [--dry-run]
 *                     [--dir=ARCHIVE_DIR]  (default: "archive" beside the index)
 *                     [--signer=S [--ledger=L]]
 *   srtprec hold   --index=DB ID on|off
 *   srtprec recover --index=DB --dir=DIR
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chainlog.h"
#include "log.h"
#include "slice.h"
#include "stor.h"
#include "util.h"

enum {
    MAX_POS = 4,
    EXIT_RECOVERED = 3,
    EXIT_UNSIGNED = 4,
    EXIT_FORGED = 5,
    EXIT_SWAPPED = 6,
    EXIT_DELETED = 7,
};

struct opts {
    const char *cert, *key, *format, *index, *party, *call_id, *log, *dir, *signer, *ledger,
        *tag, *anchor;
    uint64_t from, to, limit, stream, older_days, before;
    bool dry_run;
    const char *pos[MAX_POS];
    size_t n_pos;
};

static int usage(void)
{
    fputs("usage: srtprec verify [--cert=C --key=K] [--signer=S [--index=DB] [--ledger=L]]"
          " FILE\n"
          "       srtprec verify-log --log=FILE [--tag=DEL1|SEAL1|A1|D2] [--anchor=HEAD]\n"
          "       srtprec info --cert=C --key=K FILE\n"
          "       srtprec export --cert=C --key=K --format=wav|ogg|opus [--stream=N] FILE OUT\n"
          "       srtprec list --index=DB [--party=AOR] [--call-id=ID] [--from=US] [--to=US]"
          " [--limit=N]\n"
          "       srtprec retention --index=DB --log=FILE (--older-than=DAYS | --before=US)"
          " [--dry-run] [--signer=S [--ledger=L]] [--dir=ARCHIVE_DIR]\n"
          "       srtprec hold --index=DB ID on|off\n"
          "       srtprec recover --index=DB --dir=DIR\n",
          stderr);
    return 2;
}

static bool opt_str(const char *arg, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || arg[n] != '=')
        return false;
    *out = arg + n + 1;
    return true;
}

static bool parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (a[0] != '-' || a[1] != '-' || !a[2]) {
            if (o->n_pos == MAX_POS)
                return false;
            o->pos[o->n_pos++] = a;
            continue;
        }
        if (opt_str(a, "--cert", &o->cert) || opt_str(a, "--key", &o->key) ||
            opt_str(a, "--format", &o->format) || opt_str(a, "--index", &o->index) ||
            opt_str(a, "--party", &o->party) || opt_str(a, "--call-id", &o->call_id) ||
            opt_str(a, "--log", &o->log) || opt_str(a, "--dir", &o->dir) ||
            opt_str(a, "--signer", &o->signer) || opt_str(a, "--ledger", &o->ledger) ||
            opt_str(a, "--tag", &o->tag) || opt_str(a, "--anchor", &o->anchor))
            continue;
        if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = true;
            continue;
        }
        if (opt_str(a, "--stream", &v) && slice_to_u64(slice_cstr(v), 1023, &o->stream))
            continue;
        if (opt_str(a, "--older-than", &v) &&
            slice_to_u64(slice_cstr(v), 36500, &o->older_days))
            continue;
        if (opt_str(a, "--before", &v) && slice_to_u64(slice_cstr(v), UINT64_MAX, &o->before))
            continue;
        if (opt_str(a, "--from", &v) && slice_to_u64(slice_cstr(v), UINT64_MAX, &o->from))
            continue;
        if (opt_str(a, "--to", &v) && slice_to_u64(slice_cstr(v), UINT64_MAX, &o->to))
            continue;
        if (opt_str(a, "--limit", &v) && slice_to_u64(slice_cstr(v), 1000000, &o->limit))
            continue;
        fprintf(stderr, "srtprec: unknown or malformed option %s\n", a);
        return false;
    }
    return true;
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

    if (!o->cert || !o->key || o->n_pos != 1)
        return usage();
    err = stor_reader_open(r, o->pos[0], o->cert, o->key, &why);
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

static int read_tally(struct stor_reader *r, const char *file, struct tally *t, uint64_t *total)
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
    }
    if (err != SR_ECLOSED) {
        fprintf(stderr, "%s: FAILED: %s (%s)\n", file, why ? why : sr_strerror(err),
                sr_strerror(err));
        return 1;
    }
    return 0;
}

/* The seal ledger beside the index unless --ledger names one. */
static const char *ledger_of(const struct opts *o, char *buf, size_t len)
{
    if (o->ledger)
        return o->ledger[0] ? o->ledger : NULL;
    if (!o->index || (size_t)snprintf(buf, len, "%s.seals", o->index) >= len)
        return NULL;
    return buf;
}

/* --signer: signature, the index row's hash and the seal ledger; no
 * private key needed.  0 authentic, else the verdict's exit status. */
static int check_authn(const struct opts *o)
{
    static const int status[] = { [STOR_AUTHN_OK] = 0,         [STOR_AUTHN_UNSIGNED] = EXIT_UNSIGNED,
                                  [STOR_AUTHN_FORGED] = EXIT_FORGED, [STOR_AUTHN_SWAPPED] = EXIT_SWAPPED,
                                  [STOR_AUTHN_DELETED] = EXIT_DELETED, [STOR_AUTHN_ERROR] = 1 };
    struct stor_check_cfg cc = { o->signer, NULL, NULL, NULL };
    struct stor_record *row = NULL;
    char lbuf[4200], msg[1024];
    enum stor_authn a;

    cc.ledger = ledger_of(o, lbuf, sizeof(lbuf));
    if (o->index) {
        /* The row of the recording the file name says this is. */
        const char *base = strrchr(o->pos[0], '/');
        char id[STOR_ID_HEX];
        struct stor_index *ix;
        enum sr_err err;
        base = base ? base + 1 : o->pos[0];
        snprintf(id, sizeof(id), "%.32s", base);
        if ((err = stor_index_open(&ix, o->index))) {
            fprintf(stderr, "%s: FAILED: %s\n", o->index, sr_strerror(err));
            return 1;
        }
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

static int cmd_verify(const struct opts *o)
{
    struct stor_reader *r;
    struct tally t = { 0 };
    uint64_t total;
    int rc, authn = 0;

    if (o->n_pos != 1 || (!o->signer && (!o->cert || !o->key)) || (!o->cert != !o->key))
        return usage();
    if (o->signer) {
        authn = check_authn(o);
        if ((authn && authn != EXIT_UNSIGNED) || !o->cert)
            return authn;
    }
    if ((rc = open_archive(o, &r)))
        return rc;
    rc = read_tally(r, o->pos[0], &t, &total);
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

static int cmd_verify_log(const struct opts *o)
{
    struct chainlog_verdict v = { 0 };
    const char *tag = o->tag, *what = NULL;
    char first[CHAINLOG_TAG_MAX + 2] = "";
    enum sr_err err;

    if (!o->log || o->n_pos)
        return usage();
    if (!tag) {
        /* The tag of the first line; one of ours, or the file is not. */
        FILE *f = fopen(o->log, "r");
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
        fprintf(stderr, "%s: FAILED: record tag '%s' is not one srtprec writes (DEL1, SEAL1, A1, "
                        "D2)\n", o->log, tag);
        return 1;
    }
    err = chainlog_verify(o->log, tag[0] ? tag : NULL, o->anchor, &v);
    if (err) {
        fprintf(stderr, "%s: BROKEN %s: line %zu: %s (%zu whole records before it)\n", o->log,
                what ? what : "log", v.bad_line, v.why && *v.why ? v.why : sr_strerror(err),
                v.records);
        return 1;
    }
    printf("INTACT %s: %s, %zu records, head %s%s\n", o->log, what ? what : "empty log",
           v.records, v.head, o->anchor ? ", passes through the anchor" : "");
    return 0;
}

static int cmd_info(const struct opts *o)
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
    rc = read_tally(r, o->pos[0], &t, &total);
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
               "\n",
               i, s->direction == STOR_DIR_SEND ? "send" : "recv", s->ssrc, s->payload_type,
               s->codec[0] ? s->codec : "?", s->clock_rate, s->label, i < t.cap ? t.n[i] : 0);
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

static bool to_fd(const void *data, size_t len, void *arg)
{
    return sr_write_all(*(int *)arg, data, len) == SR_OK;
}

static int cmd_export(const struct opts *o)
{
    char tmp[4096];
    const char *why = NULL, *out;
    bool to_stdout;
    enum sr_err err;
    int fd, n;

    if (!o->cert || !o->key || !o->format || o->n_pos != 2 ||
        (strcmp(o->format, "wav") != 0 && strcmp(o->format, "ogg") != 0 &&
         strcmp(o->format, "opus") != 0))
        return usage();
    out = o->pos[1];
    to_stdout = strcmp(out, "-") == 0;
    if (to_stdout) {
        fd = STDOUT_FILENO;
    } else {
        /* Written aside and renamed only when the archive checked out. */
        n = snprintf(tmp, sizeof(tmp), "%s.part", out);
        if (n < 0 || (size_t)n >= sizeof(tmp))
            return usage();
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(stderr, "srtprec: %s: %s\n", tmp, strerror(errno));
            return 1;
        }
    }
    if (strcmp(o->format, "wav") == 0)
        err = stor_export_wav(o->pos[0], o->cert, o->key, to_fd, &fd, &why);
    else if (strcmp(o->format, "opus") == 0)
        err = stor_export_opus(o->pos[0], o->cert, o->key, (unsigned)o->stream, to_fd, &fd,
                               &why);
    else
        err = stor_export_ogg(o->pos[0], o->cert, o->key, to_fd, &fd, &why);
    if (!to_stdout) {
        if (!err && fsync(fd) != 0)
            err = SR_EIO;
        if (close(fd) != 0 && !err)
            err = SR_EIO;
        if (!err && rename(tmp, out) != 0)
            err = SR_EIO;
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

static int cmd_list(const struct opts *o)
{
    struct stor_index *ix;
    struct stor_query q = { 0 };
    char last[STOR_ID_HEX] = "", after[STOR_ID_HEX];
    uint64_t left = o->limit ? o->limit : UINT64_MAX;
    enum sr_err err;

    if (!o->index || o->n_pos)
        return usage();
    if ((err = stor_index_open(&ix, o->index))) {
        fprintf(stderr, "%s: FAILED: %s\n", o->index, sr_strerror(err));
        return 1;
    }
    q.from_wall_us = o->from;
    q.to_wall_us = o->to;
    q.party = o->party;
    q.call_id = o->call_id;
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
        fprintf(stderr, "%s: FAILED: %s\n", o->index, sr_strerror(err));
        return 1;
    }
    return 0;
}

static int cmd_retention(const struct opts *o)
{
    struct stor_retention_cfg rc = { 0 };
    struct stor_retention_stats st;
    char lbuf[4200], dbuf[4200];
    struct stor_index *ix;
    enum sr_err err;

    if (!o->index || !o->log || o->n_pos || (!o->older_days == !o->before))
        return usage();
    rc.before_wall_us = o->before ? o->before
                                  : sr_wall_us() - o->older_days * 86400ull * 1000000ull;
    rc.log_path = o->log;
    rc.dry_run = o->dry_run;
    rc.signer_pub = o->signer;
    rc.ledger = o->signer ? ledger_of(o, lbuf, sizeof(lbuf)) : NULL;
    /* Files are <dir>/<id>.srec, never the index's path (the API's default
     * archive-dir is the same: "archive" beside the index). */
    if (o->dir) {
        rc.archive_dir = o->dir;
    } else {
        const char *slash = strrchr(o->index, '/');
        int n = slash ? (int)(slash - o->index) : 1;
        snprintf(dbuf, sizeof(dbuf), "%.*s/archive", n, slash ? o->index : ".");
        rc.archive_dir = dbuf;
    }
    if ((err = stor_index_open(&ix, o->index))) {
        fprintf(stderr, "%s: FAILED: %s\n", o->index, sr_strerror(err));
        return 1;
    }
    err = stor_retention(ix, &rc, &st);
    stor_index_close(ix);
    printf("%s %zu recordings, %zu on legal hold kept, %zu archive files already missing, "
           "%zu not authentic kept, %zu naming another file kept\n",
           o->dry_run ? "would delete" : "deleted", st.deleted, st.held, st.missing_files,
           st.refused, st.path_mismatch);
    if (err) {
        fprintf(stderr, "retention: FAILED: %s (deletion log %s)\n", sr_strerror(err), o->log);
        return 1;
    }
    return 0;
}

static int cmd_hold(const struct opts *o)
{
    struct stor_index *ix;
    enum sr_err err;

    if (!o->index || o->n_pos != 2 ||
        (strcmp(o->pos[1], "on") != 0 && strcmp(o->pos[1], "off") != 0))
        return usage();
    if ((err = stor_index_open(&ix, o->index))) {
        fprintf(stderr, "%s: FAILED: %s\n", o->index, sr_strerror(err));
        return 1;
    }
    err = stor_index_set_hold(ix, o->pos[0], strcmp(o->pos[1], "on") == 0);
    stor_index_close(ix);
    if (err) {
        fprintf(stderr, "%s: FAILED: %s\n", o->pos[0], sr_strerror(err));
        return 1;
    }
    return 0;
}

static int cmd_recover(const struct opts *o)
{
    struct stor_recover_stats st;
    struct stor_index *ix;
    enum sr_err err;

    if (!o->index || !o->dir || o->n_pos)
        return usage();
    if ((err = stor_index_open(&ix, o->index))) {
        fprintf(stderr, "%s: FAILED: %s\n", o->index, sr_strerror(err));
        return 1;
    }
    err = stor_recover(o->dir, ix, &st);
    stor_index_close(ix);
    printf("recovered %zu, damaged %zu, index rows repaired %zu, sealed archives indexed %zu\n",
           st.recovered, st.damaged, st.index_fixed, st.reconciled);
    if (err) {
        fprintf(stderr, "recover: FAILED: %s\n", sr_strerror(err));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;

    log_setup(LOG_LVL_WARN, "srtprec", 0);
    if (argc < 2 || !parse_opts(argc, argv, &o))
        return usage();
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(&o);
    if (strcmp(argv[1], "verify-log") == 0)
        return cmd_verify_log(&o);
    if (strcmp(argv[1], "info") == 0)
        return cmd_info(&o);
    if (strcmp(argv[1], "export") == 0)
        return cmd_export(&o);
    if (strcmp(argv[1], "list") == 0)
        return cmd_list(&o);
    if (strcmp(argv[1], "retention") == 0)
        return cmd_retention(&o);
    if (strcmp(argv[1], "hold") == 0)
        return cmd_hold(&o);
    if (strcmp(argv[1], "recover") == 0)
        return cmd_recover(&o);
    return usage();
}
