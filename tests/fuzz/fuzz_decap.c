/** @file fuzz_decap.c  Decapsulation (recorder/decap.h) of a sequence of
 *  frames on one struct decap, so reassembly state carries across frames.
 *
 * Input: records of [linktype selector u8][clock step u8, ms][length u16 BE]
 * [bytes]; a short last record takes what is left.  Checks decap's own
 * invariants: one verdict per frame, a datagram inside its frame unless it
 * was reassembled, held bytes within the budget, nothing held past the
 * timeout once ticked. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int dlts[] = {
    DECAP_DLT_EN10MB, DECAP_DLT_LINUX_SLL, DECAP_DLT_LINUX_SLL2, DECAP_DLT_RAW, DECAP_DLT_IPV4,
    DECAP_DLT_IPV6, DECAP_DLT_NULL, DECAP_DLT_LOOP, DECAP_LINKTYPE_RAW, 7,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct decap_cfg cfg = { .max_datagrams = 4, .max_frags = 8, .max_bytes = 16384,
                             .timeout_us = 50000, .max_depth = 3 };
    struct decap *d;
    struct decap_stats st;
    uint64_t now = 1000000, frames = 0, sum = 0;
    volatile uint8_t sink = 0;

    if (decap_create(&d, &cfg) != SR_OK)
        abort();
    while (size >= 4) {
        size_t len = (size_t)data[2] << 8 | data[3];
        int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
        uint8_t *frame;
        struct decap_udp u;
        enum decap_verdict v;

        now += (uint64_t)data[1] * 1000;
        data += 4;
        size -= 4;
        if (len > size)
            len = size;
        /* A private copy of exactly len bytes, so ASan sees any overread. */
        frame = malloc(len ? len : 1);
        if (!frame)
            abort();
        memcpy(frame, data, len);
        v = decap_frame(d, dlt, frame, len, now, &u);
        frames++;
        if ((unsigned)v >= DECAP_VERDICTS || v == DECAP_FRAG_TIMEOUT)
            abort();
        if (v == DECAP_UDP) {
            bool inside = u.payload >= frame && u.payload + u.len <= frame + len;
            if (u.len > 65535 || (!inside && !(u.path & DECAP_P_FRAG)) || u.nvlan > 2 ||
                u.depth > cfg.max_depth || u.path >> DECAP_PATH_BITS)
                abort();
            for (size_t i = 0; i < u.len; i++) /* every byte readable */
                sink ^= u.payload[i];
        }
        free(frame);
        decap_stats(d, &st);
        if (st.frag_bytes > cfg.max_bytes || st.frag_datagrams > cfg.max_datagrams)
            abort();
        data += len;
        size -= len;
    }
    if (decap_tick(d, now + cfg.timeout_us) != UINT64_MAX)
        abort();
    decap_stats(d, &st);
    for (int i = 0; i < DECAP_VERDICTS; i++)
        if (i != DECAP_FRAG_TIMEOUT)
            sum += st.verdicts[i];
    if (sum != frames || st.frag_datagrams != 0)
        abort();
    decap_destroy(d);
    (void)sink;
    return 0;
}
