/** @file metrics.c  The keyagent's counters and health as a Prometheus text file.
 *
 * The keyagent serves no HTTP (it holds live keys; see docs/architecture.md):
 * it writes its counters and readiness checks to a file that srtprec-api,
 * `srtprec health` or node_exporter's textfile collector reads
 * (docs/deploy.md, "Health").  common/prom.h writes the text and replaces
 * the file by rename(), so a reader never sees half of it.
 */
#include "buf.h"
#include "ka_priv.h"
#include "prom.h"
#include "util.h"

static const char *const refusal_name[KA_REFUSE_N] = {
    [KA_REFUSE_FORBIDDEN] = "forbidden",         [KA_REFUSE_BAD_EVENT] = "bad_event",
    [KA_REFUSE_NOT_ACCEPTABLE] = "not_acceptable", [KA_REFUSE_BAD_FILTER] = "bad_filter",
    [KA_REFUSE_BAD_REQUEST] = "bad_request",     [KA_REFUSE_OVERLOAD] = "overload",
};

enum sr_err ka_metrics_write(const struct ka_metrics *m, const struct ka_health *h,
                             size_t subscriptions, size_t calls, const char *path)
{
    const struct prom_check checks[] = {
        { "listener", h ? h->listener : false },
        { "control_socket", h ? h->control : false },
    };
    struct buf b;
    struct prom p;
    enum sr_err err;

    if (!m || !h || !path || !path[0])
        return SR_EINVAL;
    buf_init(&b, 64 * 1024);
    prom_init(&p, &b);
    prom_daemon(&p, "keyagent", h->up, h->started);
    prom_health(&p, "keyagent", h->up, checks, SR_ARRAY_LEN(checks));
    prom_gauge(&p, "srtprec_keyagent_subscriptions", "Active srtp subscriptions.", subscriptions);
    prom_gauge(&p, "srtprec_keyagent_calls", "Calls currently held.", calls);
    prom_counter(&p, "srtprec_keyagent_notifies_total", "NOTIFY requests sent.", m->notifies);
    prom_counter(&p, "srtprec_keyagent_disclosures_total",
                 "Call keys disclosed to a subscriber (one per subscriber and call per NOTIFY).",
                 m->disclosures);
    prom_counter(&p, "srtprec_keyagent_control_commands_total", "Control-socket commands applied.",
                 m->commands);
    prom_counter(&p, "srtprec_keyagent_control_errors_total", "Control-socket commands refused.",
                 m->command_errors);
    prom_family(&p, "srtprec_keyagent_refusals_total", "counter",
                "SUBSCRIBE requests refused, by reason.");
    for (size_t i = 0; i < KA_REFUSE_N; i++)
        prom_sample1(&p, "srtprec_keyagent_refusals_total", "reason", refusal_name[i],
                     m->refusals[i]);
    prom_counter(&p, "srtprec_keyagent_connections_evicted_total",
                 "Connections without a subscription closed to admit a newer one (connection "
                 "admission).",
                 m->conns_evicted);
    prom_counter(&p, "srtprec_keyagent_connections_refused_total",
                 "Connections refused: every slot held by authorised subscribers.",
                 m->conns_refused);
    err = prom_end(&p);
    if (!err)
        err = prom_file_replace(path, &b);
    buf_fini(&b);
    return err;
}
