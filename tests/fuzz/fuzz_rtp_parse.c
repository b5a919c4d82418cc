/** @file fuzz_rtp_parse.c  RTP and RTCP header parsing on arbitrary bytes.
 *  Checks the parser's own invariants, not just the absence of crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly size bytes, so ASan sees any overread. */
    uint8_t *p = malloc(size ? size : 1);
    struct rec_rtp v;
    struct rec_rtcp c;
    const char *why;

    if (!p)
        return 0;
    if (size)
        memcpy(p, data, size);
    for (int enc = 0; enc < 2; enc++) {
        why = NULL;
        if (rec_rtp_parse(p, size, enc, &v, &why) == SR_OK) {
            const uint8_t *end = (const uint8_t *)v.payload.p + v.payload.len + v.pad_len;
            if (end != p + size || v.hdr_len > size || v.cc > 15 ||
                (const uint8_t *)v.payload.p != p + v.hdr_len || rec_pkt_is_rtcp(p, size))
                abort();
        } else if (!why) {
            abort();
        }
        why = NULL;
        if (rec_rtcp_parse(p, size, enc, &c, &why) == SR_OK) {
            if (!rec_pkt_is_rtcp(p, size) || c.n_parts < 1 || c.n_parts > REC_RTCP_MAX_PARTS)
                abort();
        } else if (!why) {
            abort();
        }
    }
    free(p);
    return 0;
}
