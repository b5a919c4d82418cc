/** @file test_pagecheck.c  Our own Ogg page framing and checks, and the page CRC, against
 *  pages libogg builds: whole, split at every byte, corrupted, cut, reordered. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ogg/ogg.h>

#include "stor_priv.h"
#include "tap.h"

enum { MAX_BYTES = 1 << 20 };

struct stream {
    uint8_t *buf;
    size_t len;
    size_t pages;
    size_t page_off[256]; /* where each page starts */
};

/* Two logical streams, interleaved the way the writer interleaves calls'
 * streams: BOS pages first, data pages of both, EOS pages. */
static void build(struct stream *st)
{
    ogg_stream_state os[2];
    ogg_page og;
    uint8_t pkt[700];

    st->buf = malloc(MAX_BYTES);
    st->len = 0;
    st->pages = 0;
    for (int s = 0; s < 2; s++)
        ogg_stream_init(&os[s], 0x1000 + s);
    for (int n = 0; n < 60; n++) {
        for (int s = 0; s < 2; s++) {
            size_t len = n == 0 ? 20 : (size_t)(37 * n % 600 + 1);
            ogg_packet op = { .packet = pkt, .bytes = (long)len, .b_o_s = n == 0,
                              .e_o_s = n == 59, .granulepos = n * 160, .packetno = n };
            for (size_t i = 0; i < len; i++)
                pkt[i] = (uint8_t)(n * 31 + s * 7 + i);
            ogg_stream_packetin(&os[s], &op);
            while (n == 0 || n % 7 == 0 || n == 59 ? ogg_stream_flush(&os[s], &og)
                                                   : ogg_stream_pageout(&os[s], &og)) {
                st->page_off[st->pages++] = st->len;
                memcpy(st->buf + st->len, og.header, (size_t)og.header_len);
                st->len += (size_t)og.header_len;
                memcpy(st->buf + st->len, og.body, (size_t)og.body_len);
                st->len += (size_t)og.body_len;
            }
        }
    }
    for (int s = 0; s < 2; s++)
        ogg_stream_clear(&os[s]);
}

/* Feeds buf in pieces of `step` bytes (0: all at once); pages found. */
static enum sr_err feed(const uint8_t *buf, size_t len, size_t step, bool framing_only,
                        size_t *pages, const char **why)
{
    struct stor_pagecheck *pc;
    enum sr_err err = SR_OK;

    *pages = 0;
    if (stor_pagecheck_create(&pc))
        return SR_ENOMEM;
    if (framing_only)
        stor_pagecheck_framing_only(pc);
    for (size_t off = 0; off < len && !err;) {
        size_t n = step && step < len - off ? step : len - off;
        const uint8_t *in = buf + off, *page;
        size_t in_len = n, page_len;
        off += n;
        for (;;) {
            if ((err = stor_pagecheck_next(pc, &in, &in_len, &page, &page_len, why)))
                break;
            if (!page)
                break;
            if (page_len < 27 || memcmp(page, "OggS", 4) != 0) {
                *why = "returned page does not start with OggS";
                err = SR_EPARSE;
                break;
            }
            (*pages)++;
        }
    }
    if (!err)
        err = stor_pagecheck_end(pc, false, why);
    if (err && *why) { /* the reason lives in pc */
        static char keep[200];
        snprintf(keep, sizeof(keep), "%s", *why);
        *why = keep;
    }
    stor_pagecheck_destroy(pc);
    return err;
}

static void test_crc(const struct stream *st)
{
    bool same = true;
    uint32_t whole, split;
    static const uint8_t check[] = "123456789";

    /* CRC-32/OGG (alias CRC-32/MPEG-2 without init and xor-out) of the
     * standard check string. */
    tap_ok(stor_ogg_crc(0, check, 9) == 0x89a1897fu, "CRC of \"123456789\" is 0x89a1897f");
    for (size_t i = 0; i < st->pages; i++) {
        size_t start = st->page_off[i];
        size_t end = i + 1 < st->pages ? st->page_off[i + 1] : st->len;
        uint8_t page[70000];
        uint32_t want, got;
        memcpy(page, st->buf + start, end - start);
        want = (uint32_t)page[22] | (uint32_t)page[23] << 8 | (uint32_t)page[24] << 16 |
               (uint32_t)page[25] << 24;
        memset(page + 22, 0, 4);
        got = stor_ogg_crc(0, page, end - start);
        if (got != want) {
            tap_diag("page %zu: libogg %08x, ours %08x", i, want, got);
            same = false;
        }
    }
    tap_ok(same, "page CRCs agree with libogg's on all %zu pages", st->pages);
    whole = stor_ogg_crc(0, st->buf, st->len);
    split = stor_ogg_crc(stor_ogg_crc(0, st->buf, 1001), st->buf + 1001, st->len - 1001);
    tap_ok(whole == split, "CRC continues across a split");
}

int main(void)
{
    struct stream st;
    const char *why = NULL;
    size_t pages = 0;
    enum sr_err err;
    uint8_t *bad;
    bool all_splits = true;

    build(&st);
    test_crc(&st);
    {
        err = feed(st.buf, st.len, 0, false, &pages, &why);
        tap_ok(err == SR_OK && pages == st.pages, "whole input: %zu of %zu pages (%s)", pages,
               st.pages, why ? why : "ok");
    }
    for (size_t step = 1; step < 300; step += step < 30 ? 1 : 37) {
        why = NULL;
        if (feed(st.buf, st.len, step, false, &pages, &why) != SR_OK || pages != st.pages) {
            tap_diag("step %zu: %zu pages (%s)", step, pages, why ? why : "ok");
            all_splits = false;
        }
    }
    tap_ok(all_splits, "any split of the input: the same pages");

    bad = malloc(st.len);
    memcpy(bad, st.buf, st.len);
    bad[st.page_off[3] + 40] ^= 0x01; /* a body bit of page 3 */
    why = NULL;
    err = feed(bad, st.len, 0, false, &pages, &why);
    tap_ok(err == SR_EPARSE && why &&
               strstr(why, "page 3") && strstr(why, "CRC mismatch"),
           "a flipped body bit: CRC mismatch on page 3 (%s)", why ? why : "accepted");
    why = NULL;
    err = feed(bad, st.len, 0, true, &pages, &why);
    tap_ok(err == SR_OK && pages == st.pages,
           "framing only: the same bit passes (another pass checks it)");
    why = NULL;
    err = feed(bad, st.len, 5, false, &pages, &why);
    tap_ok(err == SR_EPARSE && why &&
               strstr(why, "CRC mismatch"),
           "the same split in 5-byte pieces: still named (%s)", why ? why : "accepted");

    memcpy(bad, st.buf, st.len);
    bad[st.page_off[5]] = 'X';
    why = NULL;
    err = feed(bad, st.len, 0, true, &pages, &why);
    tap_ok(err == SR_EPARSE && why &&
               strstr(why, "capture pattern"),
           "garbage where a page starts: refused even framing only (%s)", why ? why : "accepted");
    why = NULL;
    err = feed(bad, st.len, 3, false, &pages, &why);
    tap_ok(err == SR_EPARSE && why &&
               strstr(why, "capture pattern"),
           "garbage where a page starts, 3-byte pieces (%s)", why ? why : "accepted");

    why = NULL;
    err = feed(st.buf, st.len - 10, 0, false, &pages, &why);
    tap_ok(err == SR_EPARSE && why &&
               strstr(why, "ends inside a page"),
           "cut 10 bytes short: plaintext ends inside a page (%s)", why ? why : "accepted");
    why = NULL;
    err = feed(st.buf, st.len - 10, 0, true, &pages, &why);
    tap_ok(err == SR_EPARSE,
           "cut short: refused framing only too");
    why = NULL;
    err = feed(st.buf, st.page_off[st.pages - 1], 0, false, &pages, &why);
    tap_ok(err == SR_EPARSE && why &&
               strstr(why, "no EOS"),
           "last page missing: a stream has no EOS page (%s)", why ? why : "accepted");

    /* Two data pages of the same logical stream swapped. */
    {
        size_t a = 0, b = 0;
        for (size_t i = 2; i + 1 < st.pages && !b; i++)
            for (size_t j = i + 1; j + 1 < st.pages && !b; j++)
                if (memcmp(st.buf + st.page_off[i] + 14, st.buf + st.page_off[j] + 14, 4) == 0) {
                    a = i;
                    b = j;
                }
        size_t a0 = st.page_off[a], a1 = st.page_off[a + 1];
        size_t b0 = st.page_off[b], b1 = st.page_off[b + 1];
        memcpy(bad, st.buf, a0);
        memcpy(bad + a0, st.buf + b0, b1 - b0);
        memcpy(bad + a0 + (b1 - b0), st.buf + a1, b0 - a1);
        memcpy(bad + a0 + (b1 - b0) + (b0 - a1), st.buf + a0, a1 - a0);
        memcpy(bad + b1, st.buf + b1, st.len - b1);
        why = NULL;
        err = feed(bad, st.len, 0, false, &pages, &why);
        tap_ok(b && err == SR_EPARSE && why && strstr(why, "sequence"),
               "pages %zu and %zu of one stream swapped: the sequence skip is named (%s)", a, b,
               why ? why : "accepted");
    }
    /* A lacing count that claims more than the input holds. */
    memcpy(bad, st.buf, st.len);
    bad[26] = 255;
    why = NULL;
    err = feed(bad, 27 + 10, 0, false, &pages, &why);
    tap_ok(err == SR_EPARSE && pages == 0,
           "lacing longer than the input: no page, refused at the end");
    free(bad);
    free(st.buf);
    return tap_done();
}
