/** @file metrics.c  Request counters and their Prometheus text exposition. */
#include <inttypes.h>

#include <stdio.h>

#include "api_priv.h"
#include "prom.h"
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
    struct prom p;
    char labels[96];

    prom_init(&p, b);
    prom_family(&p, "srtprec_api_requests_total", "counter", "HTTP requests by route and status.");
    for (unsigned r = 0; r < API_ROUTE_COUNT; r++) {
        for (size_t s = 0; s < API_STATUS_SLOTS; s++) {
            uint64_t v = atomic_load_explicit(&m->requests[r][s], memory_order_relaxed);
            if (v == 0)
                continue;
            if (s < SR_ARRAY_LEN(status_slot))
                snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%u\"",
                         api_route_name((enum api_route)r), status_slot[s]);
            else
                snprintf(labels, sizeof(labels), "route=\"%s\",status=\"other\"",
                         api_route_name((enum api_route)r));
            prom_sample(&p, "srtprec_api_requests_total", labels, v);
        }
    }
    prom_family(&p, "srtprec_api_bytes_total", "counter", "Response body bytes served by route.");
    for (unsigned r = 0; r < API_ROUTE_COUNT; r++)
        prom_sample1(&p, "srtprec_api_bytes_total", "route", api_route_name((enum api_route)r),
                     atomic_load_explicit(&m->bytes[r], memory_order_relaxed));
    prom_counter(&p, "srtprec_api_auth_failures_total", "Requests refused with 401.",
                 atomic_load_explicit(&m->auth_fail, memory_order_relaxed));
    return prom_end(&p);
}
