/* Fuzz target: the recording SDP offer (siprec/sdp.c) and its answer
 * (siprec/answer.c).  An offer that parses is answered, and the answer must
 * parse back as an SDP with the same number of m= lines, each recvonly or
 * inactive, with the picked crypto's suite. */
#include <stdint.h>
#include <string.h>

#include "siprec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fixed_rand(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    memset(out, 0x5a, len);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct siprec_sdp offer, back;
    const char *why = NULL;
    enum siprec_err e = siprec_sdp_parse(slice_of((const char *)data, size), &offer, &why);
    struct siprec_answer_cfg cfg = { .addr = "127.0.0.1", .sess_id = 1, .sess_version = 1,
                                     .rtcp_mux = true, .rand = fixed_rand };
    int chosen[SIPREC_SDP_MAX_MEDIA];
    struct buf out;

    if (e != SIPREC_OK) {
        if (!why || !why[0] || siprec_err_class(e) == SR_OK || offer.n_media)
            __builtin_trap();
        return 0;
    }
    for (size_t i = 0; i < offer.n_media; i++) {
        int pick = siprec_sdp_crypto_pick(&offer.media[i]);

        cfg.port[i] = (unsigned)(20000 + 2 * i);
        if (pick >= 0 && (offer.media[i].crypto[pick].n_keys == 0 ||
                          offer.media[i].crypto[pick].n_keys > SRTPKEY_MAX_KEYS ||
                          !srtpkey_suite_ok(offer.media[i].crypto[pick].suite)))
            __builtin_trap();
    }
    buf_init(&out, 65536);
    if (siprec_sdp_answer_print(&offer, &cfg, &out, chosen) == SIPREC_OK) {
        e = siprec_sdp_parse(slice_of(out.p, out.len), &back, &why);
        if (e != SIPREC_OK || back.n_media != offer.n_media)
            __builtin_trap();
        for (size_t i = 0; i < back.n_media; i++) {
            if (back.media[i].dir != SIPREC_DIR_RECVONLY && back.media[i].dir != SIPREC_DIR_INACTIVE)
                __builtin_trap();
            if (chosen[i] >= 0 && (back.media[i].n_crypto != 1 ||
                                   back.media[i].crypto[0].suite != offer.media[i].crypto[chosen[i]].suite))
                __builtin_trap();
        }
    }
    buf_fini(&out);
    siprec_sdp_wipe(&offer);
    siprec_sdp_wipe(&back);
    return 0;
}
