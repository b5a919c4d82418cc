/** @file log.c  stderr logger.
 *
 * The program name is set once in main before any thread starts and only
 * read afterwards: configuration, not shared mutable state.  The level may
 * change later (a daemon's SIGHUP reload), so it is an atomic.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct {
    atomic_int level; /* enum log_level */
    const char *program;
    int syslog_prefix;
} log_cfg = { LOG_LVL_NOTICE, "srtprec", 0 };

void log_setup(enum log_level level, const char *program, int prefix_syslog)
{
    atomic_store_explicit(&log_cfg.level, (int)level, memory_order_relaxed);
    log_cfg.program = program ? program : "srtprec";
    log_cfg.syslog_prefix = prefix_syslog;
}

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&log_cfg.level, (int)level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        enum log_level lvl;
    } tab[] = { { "error", LOG_LVL_ERR }, { "warn", LOG_LVL_WARN }, { "notice", LOG_LVL_NOTICE },
                { "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG } };

    for (size_t i = 0; name && i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strcmp(name, tab[i].name) == 0)
            return (int)tab[i].lvl;
    return -1;
}

/* Escape what the message's fields may carry (a peer's Call-ID, AOR, codec,
 * stream id): a control byte, DEL or a backslash becomes \xNN, so one call
 * is one line and a forged line cannot be injected.  Bytes >= 0x80 pass
 * (UTF-8 names stay readable).  Appends to line[n..cap); returns the new n,
 * never splitting an escape. */
static size_t log_escape(char *line, size_t n, size_t cap, const char *msg, size_t m)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < m && n < cap; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c >= 0x20 && c != 0x7f && c != '\\') {
            line[n++] = (char)c;
            continue;
        }
        if (cap - n < 4)
            break;
        line[n++] = '\\';
        line[n++] = 'x';
        line[n++] = hex[c >> 4];
        line[n++] = hex[c & 15];
    }
    return n;
}

void log_emit(enum log_level lvl, const char *module, const char *fmt, ...)
{
    static const char *names[] = { "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug" };
    char line[1024], msg[1024];
    size_t n = 0, m;
    va_list ap;
    struct timespec ts;
    struct tm tm;
    int r;

    if ((int)lvl > atomic_load_explicit(&log_cfg.level, memory_order_relaxed))
        return;
    if (log_cfg.syslog_prefix) {
        r = snprintf(line, sizeof(line), "<%d>", (int)lvl);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        r = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000);
    }
    n = r > 0 ? (size_t)r : 0;
    r = snprintf(line + n, sizeof(line) - n, "%s %s [%s] ", log_cfg.program, names[lvl], module);
    n += r > 0 ? (size_t)r : 0;
    if (n > sizeof(line) - 1)
        n = sizeof(line) - 1;
    va_start(ap, fmt);
    r = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m = r > 0 ? ((size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1) : 0;
    n = log_escape(line, n, sizeof(line) - 1, msg, m);
    /* One write per line keeps lines whole when threads log together. */
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}
