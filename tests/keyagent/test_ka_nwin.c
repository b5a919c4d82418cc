/* The NOTIFY window (one client transaction per NOTIFY, matched by CSeq,
 * Timer F) and shared key bodies (composed = printed whole), without sockets:
 * times are passed, not waited for. */
#include <string.h>

#include "buf.h"
#include "ka_priv.h"
#include "tap.h"

enum { SEC = 1000000 };

static void window(void)
{
    struct ka_nwin w;
    uint64_t t0 = 1000 * (uint64_t)SEC;

    ka_nwin_init(&w);
    tap_ok(ka_nwin_may_send(&w) && ka_nwin_next_us(&w) == UINT64_MAX, "empty window: room, no timer");
    for (uint32_t c = 1; c <= KA_NOTIFY_WINDOW; c++)
        tap_ok(ka_nwin_start(&w, c, t0) == SR_OK, "NOTIFY %u outstanding", (unsigned)c);
    tap_ok(!ka_nwin_may_send(&w), "window of %d full: no new body", KA_NOTIFY_WINDOW);
    tap_ok(ka_nwin_next_us(&w) == t0 + 32ull * SEC, "Timer F is 64*T1 = 32 s over TLS");
    tap_ok(ka_nwin_start(&w, KA_NOTIFY_WINDOW + 1, t0) == SR_OK &&
           ka_nwin_outstanding(&w) == KA_NOTIFY_WINDOW + 1, "a split body may go past the window");
    tap_ok(ka_nwin_response(&w, 99, 200, t0) == KA_NWIN_IGNORED, "unknown CSeq ignored");
    tap_ok(ka_nwin_response(&w, 2, 100, t0) == KA_NWIN_PENDING &&
           ka_nwin_outstanding(&w) == KA_NOTIFY_WINDOW + 1, "1xx keeps the transaction");
    tap_ok(ka_nwin_response(&w, 2, 200, t0) == KA_NWIN_OK &&
           ka_nwin_outstanding(&w) == KA_NOTIFY_WINDOW, "2xx completes it (out of order)");
    tap_ok(ka_nwin_response(&w, 2, 200, t0) == KA_NWIN_IGNORED, "a second 2xx is ignored");
    tap_ok(ka_nwin_response(&w, 1, 200, t0) == KA_NWIN_OK && ka_nwin_response(&w, 3, 202, t0) ==
           KA_NWIN_OK && ka_nwin_may_send(&w), "room again once answered");
    tap_ok(!ka_nwin_tick(&w, t0 + 32ull * SEC - 1), "no timeout before Timer F");
    tap_ok(ka_nwin_response(&w, 5, 481, t0) == KA_NWIN_FAILED, "481 fails: end the subscription");
    tap_ok(ka_nwin_response(&w, 6, 500, t0) == KA_NWIN_FAILED, "any non-2xx final fails");
    ka_nwin_fini(&w);

    ka_nwin_init(&w);
    ka_nwin_start(&w, 10, t0);
    ka_nwin_start(&w, 11, t0 + 5ull * SEC);
    tap_ok(!ka_nwin_tick(&w, t0 + 31ull * SEC) && ka_nwin_outstanding(&w) == 2, "31 s: still waiting");
    tap_ok(ka_nwin_tick(&w, t0 + 32ull * SEC) && ka_nwin_outstanding(&w) == 1,
           "32 s: Timer F of the oldest fires");
    tap_ok(ka_nwin_next_us(&w) == t0 + 37ull * SEC, "the next one's Timer F is next");
    tap_ok(ka_nwin_response(&w, 10, 200, t0 + 33ull * SEC) == KA_NWIN_IGNORED,
           "a 2xx after Timer F is ignored");
    ka_nwin_fini(&w);
    ka_nwin_fini(NULL);
}

static void fill_dialog(struct sipev_dialog *d, const char *cid, uint8_t seed)
{
    struct sipev_stream *st = &d->streams[0];

    memset(d, 0, sizeof(*d));
    strcpy(d->call_id, cid);
    strcpy(d->local_tag, "lt");
    strcpy(d->remote_tag, "rt");
    strcpy(d->local_aor, "sip:alice@example.net");
    strcpy(d->remote_aor, "sip:bob@example.net");
    d->start_wall_us = 1700000000000000ull;
    d->n_streams = 1;
    strcpy(st->id, "a-1");
    strcpy(st->media, "audio");
    strcpy(st->codec, "PCMU");
    st->clock_rate = 8000;
    st->n_keys = 1;
    st->keys[0].suite = sipev_suite_parse(SLICE_LIT("AES_CM_128_HMAC_SHA1_80"));
    st->keys[0].master_len = 30;
    for (size_t i = 0; i < 30; i++)
        st->keys[0].master[i] = (uint8_t)(seed + i);
}

static void shared_body(void)
{
    struct sipev_keybody kb;
    struct sipev_dialog *d;
    struct buf whole, frag, scratch, composed;
    bool same = true;

    sipev_keybody_init(&kb);
    strcpy(kb.entity, "sip:keyagent@example.net");
    sipev_keybody_add_dialog(&kb, &d);
    fill_dialog(d, "call-1@x", 1);
    sipev_keybody_add_dialog(&kb, &d);
    fill_dialog(d, "call-2@x", 77);
    buf_init(&whole, SIPEV_MAX_MSG);
    buf_init(&frag, SIPEV_MAX_MSG);
    buf_init(&scratch, SIPEV_MAX_MSG);
    buf_init(&composed, SIPEV_MAX_MSG);
    tap_ok(ka_kb_fragment_print(&frag, &kb, &scratch) == SR_OK && frag.len > 0 && frag.p &&
           memmem(frag.p, frag.len, "<srtp-keys", 10) == NULL &&
           memmem(frag.p, frag.len, "</srtp-keys>", 12) == NULL, "fragment: dialogs only");
    for (int full = 0; full <= 1; full++)
        for (uint64_t v = 0; v < 1000000; v = v * 10 + 7) {
            kb.full = full;
            kb.version = v;
            buf_reset(&whole);
            buf_reset(&composed);
            if (sipev_keybody_print(&whole, &kb) != SR_OK ||
                ka_kb_compose(&composed, kb.entity, full, v, &frag) != SR_OK ||
                whole.len != composed.len || memcmp(whole.p, composed.p, whole.len) != 0)
                same = false;
        }
    tap_ok(same, "composed body = whole print, full and partial, versions 0..777777");
    kb.n_dialogs = 0;
    buf_reset(&frag);
    tap_ok(ka_kb_fragment_print(&frag, &kb, &scratch) == SR_OK && frag.len == 0,
           "no dialogs: empty fragment");
    buf_fini(&whole);
    buf_fini(&frag);
    buf_fini(&scratch);
    buf_fini(&composed);
    sipev_keybody_fini(&kb);
}

int main(void)
{
    window();
    shared_body();
    return tap_done();
}
