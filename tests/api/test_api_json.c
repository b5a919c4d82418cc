/** @file test_api_json.c  Error bodies, non-UTF-8 strings, metrics text. */
#include <string.h>

#include "api_priv.h"
#include "tap.h"

int main(void)
{
    char *s;
    json_t *j;
    struct api_metrics *m;
    struct buf b;

    s = api_json_error("bad_parameter", "unknown parameter", "so\"rt");
    tap_ok(s && strcmp(s, "{\"error\":\"bad_parameter\",\"message\":\"unknown parameter\","
                          "\"param\":\"so\\\"rt\"}") == 0,
           "error body: %s", s ? s : "(null)");
    free(s);
    s = api_json_error("x", "y", NULL);
    tap_ok(s && strstr(s, "param") == NULL, "no param key when none");
    free(s);

    j = api_json_str("caf\xc3\xa9");
    tap_ok(j && strcmp(json_string_value(j), "caf\xc3\xa9") == 0, "valid UTF-8 kept");
    json_decref(j);
    j = api_json_str("bad\xff\xfe");
    tap_ok(j && strcmp(json_string_value(j), "bad??") == 0, "invalid UTF-8 degraded");
    json_decref(j);
    j = api_json_str(NULL);
    tap_ok(j && strcmp(json_string_value(j), "") == 0, "NULL is empty");
    json_decref(j);

    m = calloc(1, sizeof(*m));
    api_metrics_count(m, API_ROUTE_LIST, 200, 100);
    api_metrics_count(m, API_ROUTE_LIST, 200, 50);
    api_metrics_count(m, API_ROUTE_EXPORT, 401, 10);
    api_metrics_count(m, API_ROUTE_EXPORT, 418, 0);
    api_metrics_count(m, (enum api_route)99, 200, 0);
    buf_init(&b, 64 * 1024);
    tap_ok(api_metrics_render(m, &b) == SR_OK && buf_append(&b, "", 1) == SR_OK, "renders");
    tap_ok(strstr(b.p, "srtprec_api_requests_total{route=\"list\",status=\"200\"} 2\n") != NULL,
           "list 200 counted twice");
    tap_ok(strstr(b.p, "srtprec_api_bytes_total{route=\"list\"} 150\n") != NULL, "bytes summed");
    tap_ok(strstr(b.p, "{route=\"export\",status=\"other\"} 1\n") != NULL, "odd status in other");
    tap_ok(strstr(b.p, "{route=\"none\",status=\"200\"} 1\n") != NULL, "bad route clamped");
    tap_ok(strstr(b.p, "srtprec_api_auth_failures_total 1\n") != NULL, "401 counted");
    buf_fini(&b);
    free(m);
    return tap_done();
}
