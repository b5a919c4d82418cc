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
    uint8_t page[PAGE_MAX]; /* a page split across inputs, gathered */
    size_t fill;
    bool framing_only;   /* stor_pagecheck_framing_only: find pages, check nothing else */
    struct pc_serial *s;
    size_t n_s;
    size_t live;         /* serials between BOS and EOS */
    bool data_started;   /* a non-BOS page in the current chain link */
    uint64_t pages;
    char why[160];
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum sr_err stor_pagecheck_create(struct stor_pagecheck **out)
{
    struct stor_pagecheck *pc = calloc(1, sizeof(*pc));

    if (!pc)
        return SR_ENOMEM;
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

static enum sr_err check_page(struct stor_pagecheck *pc, const uint8_t *p, size_t len,
                              const char **why)
{
    static const uint8_t zero[4];
    uint32_t serial = le32(p + 14), seq = le32(p + 18), want = le32(p + 22), crc;
    int64_t granule = (int64_t)((uint64_t)le32(p + 6) | (uint64_t)le32(p + 10) << 32);
    unsigned flags = p[5], nseg = p[26];
    struct pc_serial *s = NULL;

    if (pc->framing_only) {
        pc->pages++;
        return SR_OK;
    }
    /* The CRC is computed with its own field zero; the page is the
     * caller's (zero-copy), so the field is skipped rather than cleared. */
    crc = stor_ogg_crc(0, p, 22);
    crc = stor_ogg_crc(crc, zero, sizeof(zero));
    crc = stor_ogg_crc(crc, p + 26, len - 26);
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

/* Bytes page p needs in all, of which have are present; 0 while the
 * header or lacing is incomplete (the header gives the lacing count, the
 * lacing the body length). */
static size_t page_need(const uint8_t *p, size_t have)
{
    size_t need = PAGE_HDR;

    if (have < PAGE_HDR)
        return 0;
    need += p[26];
    if (have < need)
        return 0;
    for (unsigned i = 0; i < p[26]; i++)
        need += p[PAGE_HDR + i];
    return need;
}

void stor_pagecheck_framing_only(struct stor_pagecheck *pc)
{
    pc->framing_only = true;
}

enum sr_err stor_pagecheck_next(struct stor_pagecheck *pc, const uint8_t **in, size_t *in_len,
                                const uint8_t **page, size_t *page_len, const char **why)
{
    enum sr_err err;
    size_t need;

    *page = NULL;
    *page_len = 0;
    /* A page wholly inside the input is checked where it lies: most are,
     * and copying each into the gather buffer cost as much as the CRC. */
    if (pc->fill == 0 && *in_len >= 4) {
        if (memcmp(*in, "OggS", 4) != 0)
            return fail(pc, why, "no capture pattern where a page should start", 0);
        need = page_need(*in, *in_len);
        if (need && need <= *in_len) {
            if ((err = check_page(pc, *in, need, why)))
                return err;
            *page = *in;
            *page_len = need;
            *in += need;
            *in_len -= need;
            return SR_OK;
        }
    }
    for (;;) {
        size_t take;
        need = page_need(pc->page, pc->fill);
        if (need && pc->fill == need) {
            if ((err = check_page(pc, pc->page, need, why)))
                return err;
            *page = pc->page;
            *page_len = need;
            pc->fill = 0;
            return SR_OK;
        }
        if (!*in_len)
            return SR_OK;
        if (!need)
            need = pc->fill < PAGE_HDR ? PAGE_HDR : PAGE_HDR + pc->page[26];
        take = need - pc->fill < *in_len ? need - pc->fill : *in_len;
        memcpy(pc->page + pc->fill, *in, take);
        pc->fill += take;
        *in += take;
        *in_len -= take;
        if (pc->fill >= 4 && pc->fill - take < 4 && memcmp(pc->page, "OggS", 4) != 0)
            return fail(pc, why, "no capture pattern where a page should start", 0);
    }
}

enum sr_err stor_pagecheck_feed(struct stor_pagecheck *pc, const uint8_t *p, size_t len,
                                const char **why)
{
    const uint8_t *page;
    size_t page_len;
    enum sr_err err;

    do {
        if ((err = stor_pagecheck_next(pc, &p, &len, &page, &page_len, why)))
            return err;
    } while (page);
    return SR_OK;
}

enum sr_err stor_pagecheck_end(struct stor_pagecheck *pc, bool allow_open, const char **why)
{
    if (allow_open)
        return SR_OK;
    if (pc->fill)
        return fail(pc, why, "plaintext ends inside a page", 0);
    if (pc->framing_only)
        return SR_OK;
    for (size_t i = 0; i < pc->n_s; i++)
        if (!pc->s[i].ended)
            return fail(pc, why, "logical stream has no EOS page", pc->s[i].serial);
    return SR_OK;
}
