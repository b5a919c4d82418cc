/** @file prom.c  Prometheus text exposition and the metrics file as a health report. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prom.h"
#include "util.h"

#ifndef PROM_VERSION
#error "PROM_VERSION: meson passes the project version"
#endif

enum { FILE_MAX = 256 * 1024 };

void prom_init(struct prom *p, struct buf *b)
{
    p->b = b;
    p->err = SR_OK;
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
    if (!p->err)
        p->err = buf_printf(p->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_sample(struct prom *p, const char *name, const char *labels, uint64_t v)
{
    if (p->err)
        return;
    if (labels && labels[0])
        p->err = buf_printf(p->b, "%s{%s} %" PRIu64 "\n", name, labels, v);
    else
        p->err = buf_printf(p->b, "%s %" PRIu64 "\n", name, v);
}

/* Label values escape backslash, double quote and line feed (the text format's
 * rules); other control bytes cannot occur in a valid exposition, so they
 * become '?' rather than break the file. */
static void escaped(struct prom *p, const char *value)
{
    for (const char *c = value; *c && !p->err; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '\\' || u == '"')
            p->err = buf_printf(p->b, "\\%c", u);
        else if (u == '\n')
            p->err = buf_append(p->b, "\\n", 2);
        else
            p->err = buf_append(p->b, u < 0x20 || u == 0x7f ? "?" : c, 1);
    }
}

void prom_sample_kv(struct prom *p, const char *name, const char *const *kv, size_t pairs,
                    uint64_t v)
{
    if (!p->err)
        p->err = buf_printf(p->b, "%s{", name);
    for (size_t i = 0; i < pairs && !p->err; i++) {
        p->err = buf_printf(p->b, "%s%s=\"", i ? "," : "", kv[2 * i]);
        escaped(p, kv[2 * i + 1]);
        if (!p->err)
            p->err = buf_append(p->b, "\"", 1);
    }
    if (!p->err)
        p->err = buf_printf(p->b, "} %" PRIu64 "\n", v);
}

void prom_sample1(struct prom *p, const char *name, const char *label, const char *value,
                  uint64_t v)
{
    const char *const kv[] = { label, value };

    prom_sample_kv(p, name, kv, 1, v);
}

void prom_counter(struct prom *p, const char *name, const char *help, uint64_t v)
{
    prom_family(p, name, "counter", help);
    prom_sample(p, name, NULL, v);
}

void prom_gauge(struct prom *p, const char *name, const char *help, uint64_t v)
{
    prom_family(p, name, "gauge", help);
    prom_sample(p, name, NULL, v);
}

const char *prom_version(void)
{
    return PROM_VERSION;
}

void prom_daemon(struct prom *p, const char *daemon, bool up, time_t started)
{
    char name[96];

    snprintf(name, sizeof(name), "srtprec_%s_up", daemon);
    prom_gauge(p, name, "1 while the daemon runs; 0 in the last metrics a stopping daemon writes.",
               up);
    snprintf(name, sizeof(name), "srtprec_%s_build_info", daemon);
    prom_family(p, name, "gauge", "Always 1; the version srtprec was built as.");
    prom_sample1(p, name, "version", PROM_VERSION, 1);
    snprintf(name, sizeof(name), "srtprec_%s_start_time_seconds", daemon);
    prom_gauge(p, name, "When the daemon started, seconds since the epoch.",
               started > 0 ? (uint64_t)started : 0);
}

bool prom_health(struct prom *p, const char *daemon, bool up, const struct prom_check *checks,
                 size_t n)
{
    char name[96];
    bool ready = up;

    snprintf(name, sizeof(name), "srtprec_%s_health_check", daemon);
    prom_family(p, name, "gauge", "Readiness checks: 1 passes, 0 fails (docs/deploy.md, Health).");
    for (size_t i = 0; i < n; i++) {
        prom_sample1(p, name, "check", checks[i].name, checks[i].ok);
        ready = ready && checks[i].ok;
    }
    snprintf(name, sizeof(name), "srtprec_%s_ready", daemon);
    prom_gauge(p, name, "1 when the daemon is up and every health check passes.", ready);
    return ready;
}

enum sr_err prom_end(const struct prom *p)
{
    return p->err;
}

enum sr_err prom_file_replace(const char *path, const struct buf *b)
{
    char tmp[4096 + 8];
    enum sr_err err;
    int fd;

    if (!path || !path[0] || strlen(path) > 4096)
        return SR_EINVAL;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return sr_err_from_errno(errno);
    err = sr_write_all(fd, b->p ? b->p : "", b->len);
    if (close(fd) != 0 && !err)
        err = SR_EIO;
    if (!err && rename(tmp, path) != 0)
        err = sr_err_from_errno(errno);
    if (err)
        unlink(tmp);
    return err;
}

bool prom_text_value(const char *p, size_t len, const char *name, uint64_t *v)
{
    size_t nlen = strlen(name);

    for (size_t i = 0; i < len;) {
        const char *nl = memchr(p + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - p) : len;
        if (end - i > nlen + 1 && memcmp(p + i, name, nlen) == 0 && p[i + nlen] == ' ') {
            uint64_t x = 0;
            size_t j = i + nlen + 1, digits = 0;
            for (; j < end && p[j] >= '0' && p[j] <= '9' && digits < 19; j++, digits++)
                x = x * 10 + (uint64_t)(p[j] - '0');
            if (digits && j == end) {
                *v = x;
                return true;
            }
        }
        i = end + 1;
    }
    return false;
}

enum sr_err prom_file_health(const char *path, const char *daemon, uint64_t max_age_ms,
                             uint64_t now_ms, struct prom_file_health *out, struct buf *keep)
{
    char name[96];
    struct stat st;
    char *text = NULL;
    size_t len;
    uint64_t mtime_ms, v;
    enum sr_err err = SR_OK;
    FILE *f;

    memset(out, 0, sizeof(*out));
    f = fopen(path, "re");
    if (!f)
        return SR_EIO;
    if (fstat(fileno(f), &st) != 0 || !(text = malloc(FILE_MAX + 1))) {
        err = !text ? SR_ENOMEM : SR_EIO;
        goto out;
    }
    len = fread(text, 1, FILE_MAX + 1, f);
    if (ferror(f)) {
        err = SR_EIO;
        goto out;
    }
    if (len > FILE_MAX)
        err = SR_EPARSE;
    for (size_t i = 0; i < len && !err; i++)
        if (text[i] != '\n' && (text[i] < 0x20 || text[i] >= 0x7f))
            err = SR_EPARSE;
    if (err)
        goto out;
    out->present = true;
    mtime_ms = (uint64_t)st.st_mtim.tv_sec * 1000u + (uint64_t)st.st_mtim.tv_nsec / 1000000u;
    out->age_ms = now_ms > mtime_ms ? now_ms - mtime_ms : 0;
    out->fresh = out->age_ms <= max_age_ms;
    snprintf(name, sizeof(name), "srtprec_%s_up", daemon);
    out->up = prom_text_value(text, len, name, &v) && v == 1;
    snprintf(name, sizeof(name), "srtprec_%s_ready", daemon);
    out->ready = prom_text_value(text, len, name, &v) && v == 1;
    if (keep)
        err = buf_append(keep, text, len);
out:
    free(text);
    fclose(f);
    return err;
}
