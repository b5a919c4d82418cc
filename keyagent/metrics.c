/** @file metrics.c  The keyagent's counters as a Prometheus text file.
 *
 * The keyagent serves no HTTP (it holds live keys; see docs/architecture.md):
 * it writes its counters to a file that srtprec-api or node_exporter's
 * textfile collector reads.  The file is replaced by rename(), so a reader
 * never sees half of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ka_priv.h"
#include "log.h"
#include "util.h"

static const char *const refusal_name[KA_REFUSE_N] = {
    [KA_REFUSE_FORBIDDEN] = "forbidden",         [KA_REFUSE_BAD_EVENT] = "bad_event",
    [KA_REFUSE_NOT_ACCEPTABLE] = "not_acceptable", [KA_REFUSE_BAD_FILTER] = "bad_filter",
    [KA_REFUSE_BAD_REQUEST] = "bad_request",     [KA_REFUSE_OVERLOAD] = "overload",
};

enum sr_err ka_metrics_write(const struct ka_metrics *m, size_t subscriptions, size_t calls,
                             const char *path)
{
    char tmp[4096 + 8];
    struct buf b;
    enum sr_err err;
    int fd;

    if (!m || !path || !path[0] || strlen(path) > 4096)
        return SR_EINVAL;
    buf_init(&b, 64 * 1024);
    err = buf_printf(&b,
                     "# HELP srtprec_keyagent_subscriptions Active srtp subscriptions.\n"
                     "# TYPE srtprec_keyagent_subscriptions gauge\n"
                     "srtprec_keyagent_subscriptions %zu\n"
                     "# HELP srtprec_keyagent_calls Calls currently held.\n"
                     "# TYPE srtprec_keyagent_calls gauge\n"
                     "srtprec_keyagent_calls %zu\n"
                     "# HELP srtprec_keyagent_notifies_total NOTIFY requests sent.\n"
                     "# TYPE srtprec_keyagent_notifies_total counter\n"
                     "srtprec_keyagent_notifies_total %llu\n"
                     "# HELP srtprec_keyagent_disclosures_total Call keys disclosed to a subscriber "
                     "(one per subscriber and call per NOTIFY).\n"
                     "# TYPE srtprec_keyagent_disclosures_total counter\n"
                     "srtprec_keyagent_disclosures_total %llu\n"
                     "# HELP srtprec_keyagent_control_commands_total Control-socket commands "
                     "applied.\n"
                     "# TYPE srtprec_keyagent_control_commands_total counter\n"
                     "srtprec_keyagent_control_commands_total %llu\n"
                     "# HELP srtprec_keyagent_control_errors_total Control-socket commands "
                     "refused.\n"
                     "# TYPE srtprec_keyagent_control_errors_total counter\n"
                     "srtprec_keyagent_control_errors_total %llu\n"
                     "# HELP srtprec_keyagent_refusals_total SUBSCRIBE requests refused, by "
                     "reason.\n"
                     "# TYPE srtprec_keyagent_refusals_total counter\n",
                     subscriptions, calls, (unsigned long long)m->notifies,
                     (unsigned long long)m->disclosures, (unsigned long long)m->commands,
                     (unsigned long long)m->command_errors);
    for (size_t i = 0; i < KA_REFUSE_N && !err; i++)
        err = buf_printf(&b, "srtprec_keyagent_refusals_total{reason=\"%s\"} %llu\n",
                         refusal_name[i], (unsigned long long)m->refusals[i]);
    if (!err)
        err = buf_printf(&b,
                         "# HELP srtprec_keyagent_connections_evicted_total Connections without "
                         "a subscription closed to admit a newer one (connection admission).\n"
                         "# TYPE srtprec_keyagent_connections_evicted_total counter\n"
                         "srtprec_keyagent_connections_evicted_total %llu\n"
                         "# HELP srtprec_keyagent_connections_refused_total Connections refused: "
                         "every slot held by authorised subscribers.\n"
                         "# TYPE srtprec_keyagent_connections_refused_total counter\n"
                         "srtprec_keyagent_connections_refused_total %llu\n",
                         (unsigned long long)m->conns_evicted,
                         (unsigned long long)m->conns_refused);
    if (err)
        goto out;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640); /* group: the scraper */
    if (fd < 0) {
        log_debug("metrics file %s: %s", tmp, strerror(errno));
        err = SR_EIO;
        goto out;
    }
    err = sr_write_all(fd, b.p, b.len);
    if (close(fd) != 0 && !err)
        err = SR_EIO;
    if (!err && rename(tmp, path) != 0) {
        log_debug("metrics file %s: %s", path, strerror(errno));
        err = SR_EIO;
    }
    if (err)
        unlink(tmp);
out:
    buf_fini(&b);
    return err;
}
