/** @file metrics.c  Request counters and their Prometheus text exposition. */
#include <inttypes.h>

#include "api_priv.h"
#include "util.h"

/* The statuses this daemon sends; anything else lands in the last slot. */
static const unsigned status_slot[API_STATUS_SLOTS - 1] = { 200, 304, 400, 401, 403,
                                                            404, 405, 409, 500, 503, 206 };

static size_t slot_of(unsigned status)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(status_slot); i++)
        if (status_slot[i] == status)
            return i;
    return API_STATUS_SLOTS - 1;
}

void api_metrics_count(struct api_metrics *m, enum api_route r, unsigned status, uint64_t bytes)
{
    if ((unsigned)r >= API_ROUTE_COUNT)
        r = API_ROUTE_NONE;
    atomic_fetch_add_explicit(&m->requests[r][slot_of(status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes[r], bytes, memory_order_relaxed);
    if (status == 401)
        atomic_fetch_add_explicit(&m->auth_fail, 1, memory_order_relaxed);
}

enum sr_err api_metrics_render(struct api_metrics *m, struct buf *b)
{
    enum sr_err err;

    err = buf_printf(b, "# HELP srtprec_api_requests_total HTTP requests by route and status.\n"
                        "# TYPE srtprec_api_requests_total counter\n");
    for (unsigned r = 0; !err && r < API_ROUTE_COUNT; r++) {
        for (size_t s = 0; !err && s < API_STATUS_SLOTS; s++) {
            uint64_t v = atomic_load_explicit(&m->requests[r][s], memory_order_relaxed);
            if (v == 0)
                continue;
            if (s < SR_ARRAY_LEN(status_slot))
                err = buf_printf(b, "srtprec_api_requests_total{route=\"%s\",status=\"%u\"} %" PRIu64 "\n",
                                 api_route_name((enum api_route)r), status_slot[s], v);
            else
                err = buf_printf(b, "srtprec_api_requests_total{route=\"%s\",status=\"other\"} %" PRIu64 "\n",
                                 api_route_name((enum api_route)r), v);
        }
    }
    if (!err)
        err = buf_printf(b, "# HELP srtprec_api_bytes_total Response body bytes served by route.\n"
                            "# TYPE srtprec_api_bytes_total counter\n");
    for (unsigned r = 0; !err && r < API_ROUTE_COUNT; r++)
        err = buf_printf(b, "srtprec_api_bytes_total{route=\"%s\"} %" PRIu64 "\n",
                         api_route_name((enum api_route)r),
                         atomic_load_explicit(&m->bytes[r], memory_order_relaxed));
    if (!err)
        err = buf_printf(b, "# HELP srtprec_api_auth_failures_total Requests refused with 401.\n"
                            "# TYPE srtprec_api_auth_failures_total counter\n"
                            "srtprec_api_auth_failures_total %" PRIu64 "\n",
                         atomic_load_explicit(&m->auth_fail, memory_order_relaxed));
    return err;
}
