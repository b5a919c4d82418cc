/* Fuzz target: subscriber filters.  The input is parsed as a SUBSCRIBE
 * filter body (application/srtp-filter) and, NUL-terminated, as an allow
 * list with per-entry filters; each result is matched against a dialog. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ka_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sipev_dialog proto = { .call_id = "c1@x",
                                               .local_aor = "sip:agent@cc.example",
                                               .remote_aor = "sip:target@pstn.example;user=phone" };
    struct ka_filter *f = malloc(sizeof(*f));
    struct ka_authz *az = malloc(sizeof(*az));
    struct sipev_dialog *d = malloc(sizeof(*d));
    char *list = malloc(size + 1);
    const char *why = NULL;

    if (!f || !az || !d || !list)
        goto out;
    *d = proto;
    if (ka_filter_parse_body(f, slice_of((const char *)data, size), &why) == SR_OK)
        (void)ka_filter_match(f, d);
    else if (!why || !why[0] || f->n != 0)
        __builtin_trap(); /* a refusal carries a reason and leaves no filter */
    memcpy(list, data, size);
    list[size] = '\0';
    if (ka_authz_parse(az, list, &why) == SR_OK)
        for (size_t i = 0; i < az->n; i++)
            (void)ka_filter_match(&az->filter[i], d);
out:
    free(f);
    free(az);
    free(d);
    free(list);
    return 0;
}
