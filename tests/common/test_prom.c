/* common/prom.h: the exposition writer (families, escaping, sticky errors),
 * the daemon and health families, the text reader, and the metrics file as
 * a health report judged by its age at an injected wall-clock time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prom.h"
#include "tap.h"

static void writer(void)
{
    struct buf b;
    struct prom p;
    const char *const kv[] = { "keyagent", "a\"b\\c\nd", "state", "active" };

    buf_init(&b, 4096);
    prom_init(&p, &b);
    prom_counter(&p, "x_total", "Things.", 7);
    prom_family(&p, "y", "gauge", "Labelled.");
    prom_sample_kv(&p, "y", kv, 2, 1);
    prom_sample1(&p, "y", "k", "\x01tab\t", 2);
    buf_append(&b, "", 1);
    tap_ok(prom_end(&p) == SR_OK, "writes without error");
    tap_ok(strstr(b.p, "# HELP x_total Things.\n# TYPE x_total counter\nx_total 7\n") == b.p,
           "counter: HELP, TYPE, sample");
    tap_ok(strstr(b.p, "y{keyagent=\"a\\\"b\\\\c\\nd\",state=\"active\"} 1\n") != NULL,
           "label values escape quote, backslash, newline");
    tap_ok(strstr(b.p, "y{k=\"?tab?\"} 2\n") != NULL, "other control bytes become '?'");
    buf_fini(&b);

    buf_init(&b, 40);
    prom_init(&p, &b);
    prom_counter(&p, "a_total", "A.", 1);
    prom_counter(&p, "b_total", "B, which no longer fits.", 2);
    tap_ok(prom_end(&p) == SR_ELIMIT, "the buffer's maximum is a sticky error");
    buf_fini(&b);
}

static void health(void)
{
    struct buf b;
    struct prom p;
    uint64_t v = 0;
    const struct prom_check ok2[] = { { "a", true }, { "b", true } };
    const struct prom_check bad[] = { { "a", true }, { "b", false } };

    buf_init(&b, 8192);
    prom_init(&p, &b);
    prom_daemon(&p, "t", true, 1700000000);
    tap_ok(prom_health(&p, "t", true, ok2, 2), "every check passes: ready");
    tap_ok(prom_text_value(b.p, b.len, "srtprec_t_up", &v) && v == 1, "up 1");
    tap_ok(prom_text_value(b.p, b.len, "srtprec_t_ready", &v) && v == 1, "ready 1");
    tap_ok(prom_text_value(b.p, b.len, "srtprec_t_start_time_seconds", &v) && v == 1700000000,
           "start time");
    tap_ok(strstr(b.p, "srtprec_t_build_info{version=\"") != NULL, "build_info with a version");
    tap_ok(strstr(b.p, "srtprec_t_health_check{check=\"b\"} 1\n") != NULL, "a check sample");
    buf_reset(&b);
    tap_ok(!prom_health(&p, "t", true, bad, 2), "a failing check: not ready");
    tap_ok(prom_text_value(b.p, b.len, "srtprec_t_ready", &v) && v == 0, "ready 0");
    buf_reset(&b);
    tap_ok(!prom_health(&p, "t", false, ok2, 2), "not up: not ready whatever the checks");
    buf_fini(&b);

    tap_ok(!prom_text_value("srtprec_t_up_x 1\n", 17, "srtprec_t_up", &v),
           "a longer name does not match");
    tap_ok(!prom_text_value("srtprec_t_up 1.5\n", 17, "srtprec_t_up", &v), "not an integer");
    tap_ok(!prom_text_value("srtprec_t_up{a=\"b\"} 1\n", 22, "srtprec_t_up", &v),
           "labelled samples are not the unlabelled one");
    tap_ok(prom_text_value("# c\nsrtprec_t_up 0", 18, "srtprec_t_up", &v) && v == 0,
           "the last line without a newline");
}

static void file(void)
{
    char dir[] = "/tmp/test_prom.XXXXXX", path[64];
    struct prom_file_health h;
    struct buf b, keep;
    struct prom p;
    struct stat st;
    uint64_t mtime_ms;
    const struct prom_check c[] = { { "x", true } };

    if (!mkdtemp(dir)) {
        tap_ok(false, "mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/d.prom", dir);
    tap_ok(prom_file_health(path, "d", 1000, 0, &h, NULL) == SR_EIO && !h.present,
           "a missing file: SR_EIO, not present");
    buf_init(&b, 4096);
    prom_init(&p, &b);
    prom_daemon(&p, "d", true, 1);
    prom_health(&p, "d", true, c, 1);
    tap_ok(prom_file_replace(path, &b) == SR_OK, "file replaced");
    tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "mode 0640");
    mtime_ms = (uint64_t)st.st_mtim.tv_sec * 1000u + (uint64_t)st.st_mtim.tv_nsec / 1000000u;
    buf_init(&keep, 4096);
    tap_ok(prom_file_health(path, "d", 1000, mtime_ms + 999, &h, &keep) == SR_OK && h.present &&
               h.fresh && h.up && h.ready && h.age_ms == 999,
           "999 ms old with max age 1000: fresh, up, ready");
    tap_ok(keep.len == b.len && memcmp(keep.p, b.p, b.len) == 0, "its text kept");
    tap_ok(prom_file_health(path, "d", 1000, mtime_ms + 1001, &h, NULL) == SR_OK && h.present &&
               !h.fresh && h.up,
           "1001 ms old: stale");
    tap_ok(prom_file_health(path, "other", 1000, mtime_ms, &h, NULL) == SR_OK && !h.up && !h.ready,
           "another daemon's name: neither up nor ready");
    buf_reset(&b);
    buf_append(&b, "srtprec_d_up 1\n\x01", 16);
    prom_file_replace(path, &b);
    tap_ok(prom_file_health(path, "d", 1000, 0, &h, NULL) == SR_EPARSE, "a control byte: SR_EPARSE");
    buf_fini(&b);
    buf_fini(&keep);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    writer();
    health();
    file();
    return tap_done();
}
