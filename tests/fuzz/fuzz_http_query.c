/** @file fuzz_http_query.c  The API's request-target parser: routing, the id
 *  check and the query string (percent-decoding, times, limits), as the daemon
 *  runs them on every raw target MHD hands over; the whole input is also
 *  parsed as a listing query and as a time, so every rule is reachable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_priv.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_target t;
    struct api_list_query q;
    struct api_query_err e;
    struct slice in;
    char *copy;
    uint64_t us;

    if (size > API_URI_MAX + 1)
        return 0;
    /* An exact-size heap copy so ASan sees any read past the end. */
    copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    in = slice_of(copy, size);

    api_target_parse(in, &t);
    (void)api_id_valid(t.id);
    if (api_query_parse(t.query, t.route, &q, &e) == SR_OK) {
        /* invariants the handlers rely on */
        if (q.limit < 1 || q.limit > API_LIMIT_MAX)
            abort();
        if (q.points < 1 || q.points > API_WAVE_POINTS_MAX || q.stream > 1023 ||
            (q.mixed && q.has_stream))
            abort();
        if (q.after[0] && !api_id_valid(slice_cstr(q.after)))
            abort();
        if (q.from_wall_us && q.to_wall_us && q.from_wall_us > q.to_wall_us)
            abort();
    } else if (!e.why || strlen(e.param) >= sizeof(e.param)) {
        abort();
    }
    (void)api_query_parse(in, API_ROUTE_LIST, &q, &e);
    (void)sr_time_parse(in, SR_TIME_FIRST, &us);
    (void)sr_time_parse(in, SR_TIME_LAST, &us);
    free(copy);
    return 0;
}
