/** @file pagecheck.c  The project's own Ogg page checks (RFC 3533), independent of libogg.
 *
 * oggz-validate exits 0 on a page with a bad CRC and does not look at chain
 * links after the first (PEERS.md), and libogg's ogg_sync_pageout skips
 * garbage silently; so verify runs every plaintext byte through these
 * checks as well.  Incremental: pages may be split across chunks anyhow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stor_priv.h"
#include "util.h"

enum {
    PAGE_HDR = 27,
    PAGE_MAX = PAGE_HDR + 255 + 255 * 255,
    MAX_SERIALS = STOR_MAX_SERIALS, /* serials remembered over all chain links */
    F_CONT = 1,
    F_BOS = 2,
    F_EOS = 4,
};

struct pc_serial {
    uint32_t serial;
    uint32_t seq;        /* of the last page */
    int64_t granule;     /* highest granule so far, -1 before any */
    bool ended;          /* EOS seen */
    bool open_packet;    /* the last page ended inside a packet (lacing 255) */
};

struct stor_pagecheck {
    uint8_t page[PAGE_MAX];
    size_t fill;
    uint32_t crc[8][256]; /* slicing-by-8 tables; crc[0] is the bytewise one */
    struct pc_serial *s;
    size_t n_s;
    size_t live;         /* serials between BOS and EOS */
    bool data_started;   /* a non-BOS page in the current chain link */
    uint64_t pages;
    char why[160];
};

static void crc_init(uint32_t t[8][256])
{
    /* Ogg's CRC-32: polynomial 0x04c11db7, not reflected, initial 0. */
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t r = i << 24;
        for (int k = 0; k < 8; k++)
            r = r & 0x80000000u ? (r << 1) ^ 0x04c11db7u : r << 1;
        t[0][i] = r;
    }
    /* t[k][i]: the CRC of byte i followed by k zero bytes. */
    for (int k = 1; k < 8; k++)
        for (uint32_t i = 0; i < 256; i++)
            t[k][i] = t[k - 1][i] << 8 ^ t[0][t[k - 1][i] >> 24];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Eight bytes per step (slicing-by-8): a bytewise loop cost more than the
 * AES-GCM decryption of the same bytes.  Still our own code, independent of
 * the libogg check it doubles. */
static uint32_t crc_update(uint32_t t[8][256], uint32_t crc, const uint8_t *p, size_t len)
{
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t a = crc ^ be32(p), b = be32(p + 4);
        crc = t[7][a >> 24] ^ t[6][a >> 16 & 0xff] ^ t[5][a >> 8 & 0xff] ^ t[4][a & 0xff] ^
              t[3][b >> 24] ^ t[2][b >> 16 & 0xff] ^ t[1][b >> 8 & 0xff] ^ t[0][b & 0xff];
    }
    for (; len; p++, len--)
        crc = crc << 8 ^ t[0][(crc >> 24 ^ *p) & 0xff];
    return crc;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum sr_err stor_pagecheck_create(struct stor_pagecheck **out)
{
    struct stor_pagecheck *pc = calloc(1, sizeof(*pc));

    if (!pc)
        return SR_ENOMEM;
    crc_init(pc->crc);
    *out = pc;
    return SR_OK;
}

void stor_pagecheck_destroy(struct stor_pagecheck *pc)
{
    if (!pc)
        return;
    sr_wipe(pc->page, sizeof(pc->page));
    free(pc->s);
    free(pc);
}

static enum sr_err fail(struct stor_pagecheck *pc, const char **why, const char *what,
                        uint32_t serial)
{
    snprintf(pc->why, sizeof(pc->why), "page %llu (serial %08x): %s",
             (unsigned long long)pc->pages, serial, what);
    *why = pc->why;
    return SR_EPARSE;
}

static enum sr_err check_page(struct stor_pagecheck *pc, size_t len, const char **why)
{
    uint8_t *p = pc->page;
    uint32_t serial = le32(p + 14), seq = le32(p + 18), want = le32(p + 22), crc;
    int64_t granule = (int64_t)((uint64_t)le32(p + 6) | (uint64_t)le32(p + 10) << 32);
    unsigned flags = p[5], nseg = p[26];
    struct pc_serial *s = NULL;

    memset(p + 22, 0, 4); /* the CRC is computed with its own field zero */
    crc = crc_update(pc->crc, 0, p, len);
    if (crc != want)
        return fail(pc, why, "CRC mismatch", serial);
    if (p[4] != 0)
        return fail(pc, why, "stream structure version is not 0", serial);
    if (flags & ~(unsigned)(F_CONT | F_BOS | F_EOS))
        return fail(pc, why, "unknown header flags", serial);
    for (size_t i = 0; i < pc->n_s; i++)
        if (pc->s[i].serial == serial)
            s = &pc->s[i];
    if (flags & F_BOS) {
        struct pc_serial *ns;
        if (s)
            return fail(pc, why, "BOS for a serial already seen", serial);
        if (pc->live && pc->data_started)
            return fail(pc, why, "BOS after data pages of the chain link", serial);
        if (pc->n_s >= MAX_SERIALS)
            return fail(pc, why, "too many logical streams", serial);
        ns = realloc(pc->s, (pc->n_s + 1) * sizeof(*ns));
        if (!ns)
            return SR_ENOMEM;
        pc->s = ns;
        s = &ns[pc->n_s++];
        memset(s, 0, sizeof(*s));
        s->serial = serial;
        s->seq = seq;
        s->granule = -1;
        pc->live++;
        if (flags & F_CONT)
            return fail(pc, why, "BOS page continues a packet", serial);
    } else {
        if (!s)
            return fail(pc, why, "page before its BOS", serial);
        if (s->ended)
            return fail(pc, why, "page after EOS", serial);
        if (seq != s->seq + 1)
            return fail(pc, why, "page sequence number skips (lost or reordered page)", serial);
        s->seq = seq;
        if (((flags & F_CONT) != 0) != s->open_packet)
            return fail(pc, why, "continuation flag disagrees with the previous page", serial);
        pc->data_started = true;
    }
    if (granule != -1) {
        if (granule < s->granule)
            return fail(pc, why, "granule position decreases", serial);
        s->granule = granule;
    }
    s->open_packet = nseg > 0 && p[PAGE_HDR + nseg - 1] == 255;
    if (flags & F_EOS) {
        s->ended = true;
        if (--pc->live == 0)
            pc->data_started = false; /* the next BOS starts a new chain link */
    }
    pc->pages++;
    return SR_OK;
}

/* Bytes the page being gathered needs in all; *complete once that is final
 * (the header gives the lacing count, the lacing the body length). */
static size_t page_need(const struct stor_pagecheck *pc, bool *complete)
{
    size_t need = PAGE_HDR;

    *complete = false;
    if (pc->fill < PAGE_HDR)
        return need;
    need += pc->page[26];
    if (pc->fill < need)
        return need;
    for (unsigned i = 0; i < pc->page[26]; i++)
        need += pc->page[PAGE_HDR + i];
    *complete = true;
    return need;
}

enum sr_err stor_pagecheck_feed(struct stor_pagecheck *pc, const uint8_t *p, size_t len,
                                const char **why)
{
    for (;;) {
        bool complete;
        size_t need = page_need(pc, &complete), take;
        enum sr_err err;

        if (complete && pc->fill == need) {
            if ((err = check_page(pc, pc->fill, why)))
                return err;
            pc->fill = 0;
            continue;
        }
        if (!len)
            return SR_OK;
        take = need - pc->fill < len ? need - pc->fill : len;
        memcpy(pc->page + pc->fill, p, take);
        pc->fill += take;
        p += take;
        len -= take;
        if (pc->fill >= 4 && pc->fill - take < 4 && memcmp(pc->page, "OggS", 4) != 0)
            return fail(pc, why, "no capture pattern where a page should start", 0);
    }
}

enum sr_err stor_pagecheck_end(struct stor_pagecheck *pc, bool allow_open, const char **why)
{
    if (allow_open)
        return SR_OK;
    if (pc->fill)
        return fail(pc, why, "plaintext ends inside a page", 0);
    for (size_t i = 0; i < pc->n_s; i++)
        if (!pc->s[i].ended)
            return fail(pc, why, "logical stream has no EOS page", pc->s[i].serial);
    return SR_OK;
}
