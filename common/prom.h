/** @file prom.h  Prometheus text exposition (format 0.0.4) and health files.
 *
 * Every srtprec metric is written through this writer, so the format rules
 * (one HELP and TYPE per family before its samples, escaped label values,
 * the daemon's up / build_info / ready families) live in one place.
 *
 * Daemons without HTTP (recorder, keyagent) publish their metrics as a text
 * file replaced by rename() (prom_file_replace): that file is also their
 * health report.  It carries srtprec_<daemon>_up, _ready and one
 * srtprec_<daemon>_health_check{check="..."} sample per readiness check,
 * and srtprec-api's /healthz, `srtprec health` and node_exporter's textfile
 * collector read it (docs/deploy.md, "Health").  A file that stops changing
 * is stale: prom_file_health() judges it by its modification time.
 *
 * Errors are sticky: once an append fails (the buffer's maximum) every later
 * call does nothing and prom_end() returns the first error.
 */
#ifndef SR_PROM_H
#define SR_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "err.h"

struct prom {
    struct buf *b; /**< borrowed */
    enum sr_err err;
};

/** One readiness check: a short snake_case name and whether it passes. */
struct prom_check {
    const char *name;
    bool ok;
};

void prom_init(struct prom *p, struct buf *b);
/** HELP and TYPE lines of family name; type is "counter" or "gauge". */
void prom_family(struct prom *p, const char *name, const char *type, const char *help);
/** One sample of a family already started; labels is NULL or a label set
 *  written by the caller without braces (its values must need no escape). */
void prom_sample(struct prom *p, const char *name, const char *labels, uint64_t v);
/** One sample with a single label whose value is escaped (any bytes). */
void prom_sample1(struct prom *p, const char *name, const char *label, const char *value,
                  uint64_t v);
/** One sample with labels kv[0]=kv[1], kv[2]=kv[3], ... (pairs of them), values escaped. */
void prom_sample_kv(struct prom *p, const char *name, const char *const *kv, size_t pairs,
                    uint64_t v);
/** A family with one unlabelled sample. */
void prom_counter(struct prom *p, const char *name, const char *help, uint64_t v);
void prom_gauge(struct prom *p, const char *name, const char *help, uint64_t v);
/** srtprec_<daemon>_up (1 while running, 0 in the last file a stopping
 *  daemon writes), srtprec_<daemon>_build_info{version}, and
 *  srtprec_<daemon>_start_time_seconds. */
void prom_daemon(struct prom *p, const char *daemon, bool up, time_t started);
/** srtprec_<daemon>_health_check{check} per check and srtprec_<daemon>_ready
 *  (1 when up and every check passes).  Returns that readiness. */
bool prom_health(struct prom *p, const char *daemon, bool up, const struct prom_check *checks,
                 size_t n);
/** The first error of the calls above (SR_OK if none). */
enum sr_err prom_end(const struct prom *p);

/** The version srtprec was built as (meson's project version). */
const char *prom_version(void);

/** Replace path with the bytes of b: written to "<path>.tmp" (mode 0640:
 *  group read for the scraper) and renamed, so a reader never sees half of it. */
enum sr_err prom_file_replace(const char *path, const struct buf *b);

/** What a daemon's metrics file says about its health. */
struct prom_file_health {
    bool present; /**< the file exists and could be read */
    bool fresh;   /**< modified at most max_age_ms ago */
    bool up;      /**< srtprec_<daemon>_up 1 */
    bool ready;   /**< srtprec_<daemon>_ready 1 */
    uint64_t age_ms; /**< since its last modification (0 if absent) */
};
/** Read at most 256 KiB of path and judge it at wall-clock time now_ms (ms
 *  since the epoch); text, if not NULL, gets the file's bytes appended.
 *  SR_OK when judged (see the fields), SR_EIO when it cannot be read,
 *  SR_EPARSE when it is larger or not printable text. */
enum sr_err prom_file_health(const char *path, const char *daemon, uint64_t max_age_ms,
                             uint64_t now_ms, struct prom_file_health *out, struct buf *text);
/** The value of the unlabelled sample `name` in exposition text (p, len):
 *  true and *v set when found as an integer. */
bool prom_text_value(const char *p, size_t len, const char *name, uint64_t *v);

#endif
