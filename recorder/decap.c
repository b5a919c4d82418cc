/** @file decap.c  Frames to UDP datagrams (decap.h).  Each layer checks its
 *  own length before reading and hands the next one a (pointer, length) it
 *  has trimmed to what its header declares. */
#include "decap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ipfrag.h"

#define MAX_VLAN_TAGS 2
#define MAX_IP6_EXT 8
#define MAX_DEPTH_LIMIT 16

enum {
    ET_IP4 = 0x0800, ET_IP6 = 0x86DD, ET_VLAN = 0x8100, ET_QINQ = 0x88A8, ET_QINQ_OLD = 0x9100,
    ET_TEB = 0x6558, ET_ERSPAN2 = 0x88BE, ET_ERSPAN3 = 0x22EB,
};
enum {
    IPP_HOPOPT = 0, IPP_IPIP = 4, IPP_UDP = 17, IPP_IP6 = 41, IPP_ROUTING = 43, IPP_FRAG = 44,
    IPP_GRE = 47, IPP_AH = 51, IPP_DSTOPTS = 60,
};

struct decap {
    struct decap_cfg cfg;
    struct ipfrag *frag;
    struct decap_stats st;
};

/** One frame's walk: where it is and what it has seen. */
struct walk {
    struct decap *d;
    uint64_t now_us;
    unsigned depth;
    struct decap_udp u;
};

static const char *const verdict_names[DECAP_VERDICTS] = {
    [DECAP_UDP] = "udp",
    [DECAP_NEED_MORE] = "need_more",
    [DECAP_UNSUPP_LINKTYPE] = "unsupp_linktype",
    [DECAP_TRUNC_LINK] = "trunc_link",
    [DECAP_UNSUPP_ETHERTYPE] = "unsupp_ethertype",
    [DECAP_TRUNC_VLAN] = "trunc_vlan",
    [DECAP_TOO_DEEP] = "too_deep",
    [DECAP_TRUNC_IP4] = "trunc_ip4",
    [DECAP_BAD_IP4] = "bad_ip4",
    [DECAP_BAD_IP4_CSUM] = "bad_ip4_csum",
    [DECAP_TRUNC_IP6] = "trunc_ip6",
    [DECAP_BAD_IP6] = "bad_ip6",
    [DECAP_TRUNC_IP6_EXT] = "trunc_ip6_ext",
    [DECAP_IP6_EXT_CHAIN] = "ip6_ext_chain",
    [DECAP_NOT_UDP] = "not_udp",
    [DECAP_TRUNC_UDP] = "trunc_udp",
    [DECAP_BAD_UDP] = "bad_udp",
    [DECAP_BAD_FRAG] = "bad_frag",
    [DECAP_FRAG_DUP] = "frag_dup",
    [DECAP_FRAG_OVERLAP] = "frag_overlap",
    [DECAP_FRAG_TOO_BIG] = "frag_too_big",
    [DECAP_FRAG_BUDGET] = "frag_budget",
    [DECAP_FRAG_TIMEOUT] = "frag_timeout",
    [DECAP_TRUNC_GRE] = "trunc_gre",
    [DECAP_BAD_GRE] = "bad_gre",
    [DECAP_BAD_GRE_CSUM] = "bad_gre_csum",
    [DECAP_UNSUPP_GRE_PROTO] = "unsupp_gre_proto",
    [DECAP_TRUNC_ERSPAN] = "trunc_erspan",
    [DECAP_BAD_ERSPAN] = "bad_erspan",
    [DECAP_TRUNC_VXLAN] = "trunc_vxlan",
    [DECAP_BAD_VXLAN] = "bad_vxlan",
};

static const char *const path_names[DECAP_PATH_BITS] = {
    "vlan", "qinq", "gre", "erspan1", "erspan2", "erspan3", "vxlan", "ipip", "ip6ext", "frag", "sll",
};

const char *decap_verdict_name(enum decap_verdict v)
{
    return (unsigned)v < DECAP_VERDICTS ? verdict_names[v] : "unknown";
}

const char *decap_path_name(enum decap_path bit)
{
    for (unsigned i = 0; i < DECAP_PATH_BITS; i++)
        if ((unsigned)bit == 1u << i)
            return path_names[i];
    return "unknown";
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/** The Internet checksum's folded one's-complement sum (RFC 1071). */
static uint16_t csum_fold(const uint8_t *p, size_t len)
{
    uint64_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += be16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static void v4_mapped(uint8_t out[16], const uint8_t *a)
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 10 + 2, a, 4);
}

static enum decap_verdict ether(struct walk *w, const uint8_t *p, size_t len);
static enum decap_verdict l3(struct walk *w, uint16_t type, const uint8_t *p, size_t len);
static enum decap_verdict ip4(struct walk *w, const uint8_t *p, size_t len);
static enum decap_verdict ip6(struct walk *w, const uint8_t *p, size_t len);

/** One more nested encapsulation (tunnel or IP-in-IP). */
static bool deeper(struct walk *w)
{
    return ++w->depth <= w->d->cfg.max_depth;
}

static enum decap_verdict vxlan(struct walk *w, const uint8_t *p, size_t len)
{
    if (!deeper(w))
        return DECAP_TOO_DEEP;
    if (len < 8)
        return DECAP_TRUNC_VXLAN;
    if (!(p[0] & 0x08))
        return DECAP_BAD_VXLAN;
    w->u.path |= DECAP_P_VXLAN;
    w->u.tunnel_id = be32(p + 4) >> 8;
    return ether(w, p + 8, len - 8);
}

static enum decap_verdict udp(struct walk *w, const uint8_t src[16], const uint8_t dst[16],
                              const uint8_t *p, size_t len)
{
    size_t ulen;

    if (len < 8)
        return DECAP_TRUNC_UDP;
    ulen = be16(p + 4);
    if (ulen < 8)
        return DECAP_BAD_UDP;
    if (ulen > len)
        return DECAP_TRUNC_UDP;
    if (be16(p + 2) == w->d->cfg.vxlan_port)
        return vxlan(w, p + 8, ulen - 8);
    memcpy(w->u.src.addr, src, 16);
    memcpy(w->u.dst.addr, dst, 16);
    w->u.src.port = be16(p);
    w->u.dst.port = be16(p + 2);
    w->u.payload = p + 8;
    w->u.len = ulen - 8;
    return DECAP_UDP;
}

static enum decap_verdict erspan2(struct walk *w, const uint8_t *p, size_t len)
{
    if (len < 8)
        return DECAP_TRUNC_ERSPAN;
    if (p[0] >> 4 != 1)
        return DECAP_BAD_ERSPAN;
    w->u.path |= DECAP_P_ERSPAN2;
    w->u.tunnel_id = be16(p + 2) & 0x3ff;
    return ether(w, p + 8, len - 8);
}

/** Type III: word 3 is SGT(16) P(1) FT(5) HW-ID(6) D(1) Gra(2) O(1). */
static enum decap_verdict erspan3(struct walk *w, const uint8_t *p, size_t len)
{
    size_t hl = 12;
    unsigned ft;

    if (len < hl)
        return DECAP_TRUNC_ERSPAN;
    if (p[0] >> 4 != 2)
        return DECAP_BAD_ERSPAN;
    if (p[11] & 1)
        hl += 8;
    if (len < hl)
        return DECAP_TRUNC_ERSPAN;
    ft = (p[10] >> 2) & 0x1f;
    w->u.path |= DECAP_P_ERSPAN3;
    w->u.tunnel_id = be16(p + 2) & 0x3ff;
    p += hl;
    len -= hl;
    if (ft == 0)
        return ether(w, p, len);
    if (ft != 2)
        return DECAP_BAD_ERSPAN;
    if (len == 0)
        return DECAP_TRUNC_IP4;
    return p[0] >> 4 == 6 ? ip6(w, p, len) : ip4(w, p, len);
}

static enum decap_verdict gre(struct walk *w, const uint8_t *p, size_t len)
{
    uint16_t flags, proto;
    size_t hl = 4;

    if (!deeper(w))
        return DECAP_TOO_DEEP;
    if (len < 4)
        return DECAP_TRUNC_GRE;
    flags = be16(p);
    proto = be16(p + 2);
    /* C, K and S only (RFC 2784 reserved0, RFC 2890); version 0. */
    if (flags & 0x4FFF)
        return DECAP_BAD_GRE;
    hl += (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
    if (len < hl)
        return DECAP_TRUNC_GRE;
    if ((flags & 0x8000) && csum_fold(p, len) != 0xffff)
        return DECAP_BAD_GRE_CSUM;
    w->u.path |= DECAP_P_GRE;
    w->u.tunnel_id = flags & 0x2000 ? be32(p + 4 + (flags & 0x8000 ? 4 : 0)) : 0;
    p += hl;
    len -= hl;
    switch (proto) {
    case ET_IP4:
        return ip4(w, p, len);
    case ET_IP6:
        return ip6(w, p, len);
    case ET_TEB:
        return ether(w, p, len);
    case ET_ERSPAN2:
        if (!(flags & 0x1000)) { /* type I: no sequence number, no header */
            w->u.path |= DECAP_P_ERSPAN1;
            return ether(w, p, len);
        }
        return erspan2(w, p, len);
    case ET_ERSPAN3:
        return erspan3(w, p, len);
    default:
        return DECAP_UNSUPP_GRE_PROTO;
    }
}

/** What an IP layer carries, from src to dst. */
static enum decap_verdict ip_payload(struct walk *w, uint8_t proto, const uint8_t src[16],
                                     const uint8_t dst[16], const uint8_t *p, size_t len)
{
    switch (proto) {
    case IPP_UDP:
        return udp(w, src, dst, p, len);
    case IPP_GRE:
        return gre(w, p, len);
    case IPP_IPIP:
    case IPP_IP6:
        if (!deeper(w))
            return DECAP_TOO_DEEP;
        w->u.path |= DECAP_P_IPIP;
        return proto == IPP_IPIP ? ip4(w, p, len) : ip6(w, p, len);
    default:
        return DECAP_NOT_UDP;
    }
}

/** Protocols worth reassembling: what could carry a UDP datagram. */
static bool frag_carrier(uint8_t proto)
{
    return proto == IPP_UDP || proto == IPP_GRE || proto == IPP_IPIP || proto == IPP_IP6 ||
           proto == IPP_DSTOPTS || proto == IPP_ROUTING;
}

static enum decap_verdict reassemble(struct walk *w, const struct ipfrag_key *k,
                                     const struct ipfrag_in *in, const uint8_t **p, size_t *len,
                                     uint8_t *nh)
{
    enum decap_verdict v;

    if (!frag_carrier(in->nh))
        return DECAP_NOT_UDP;
    v = ipfrag_add(w->d->frag, k, in, w->now_us, p, len, nh);
    if (v == DECAP_UDP)
        w->u.path |= DECAP_P_FRAG;
    return v;
}

static enum decap_verdict ip4(struct walk *w, const uint8_t *p, size_t len)
{
    size_t ihl, tot;
    uint16_t fo;
    uint8_t src[16], dst[16], proto;

    if (len < 20)
        return DECAP_TRUNC_IP4;
    ihl = (size_t)(p[0] & 0x0f) * 4;
    tot = be16(p + 2);
    if (p[0] >> 4 != 4 || ihl < 20)
        return DECAP_BAD_IP4;
    if (len < ihl)
        return DECAP_TRUNC_IP4;
    if (tot < ihl)
        return DECAP_BAD_IP4;
    if (tot > len)
        return DECAP_TRUNC_IP4;
    if (csum_fold(p, ihl) != 0xffff)
        return DECAP_BAD_IP4_CSUM;
    v4_mapped(src, p + 12);
    v4_mapped(dst, p + 16);
    proto = p[9];
    fo = be16(p + 6);
    if (fo & 0x3fff) { /* MF or an offset */
        struct ipfrag_key k = { .id = be16(p + 4), .proto = proto };
        struct ipfrag_in in = { .off = (uint32_t)(fo & 0x1fff) * 8, .more = fo & 0x2000,
                                .nh = proto, .data = p + ihl, .len = tot - ihl };
        const uint8_t *dp;
        size_t dl;
        uint8_t nh;
        enum decap_verdict v;

        if (proto == IPP_DSTOPTS || proto == IPP_ROUTING)
            return DECAP_NOT_UDP;
        memcpy(k.src, src, 16);
        memcpy(k.dst, dst, 16);
        v = reassemble(w, &k, &in, &dp, &dl, &nh);
        return v == DECAP_UDP ? ip_payload(w, proto, src, dst, dp, dl) : v;
    }
    return ip_payload(w, proto, src, dst, p + ihl, tot - ihl);
}

/** The extension header chain from nh at p, then what it carries.
 *  Hop-by-hop only first; once reassembled, no further fragment header. */
static enum decap_verdict ip6_chain(struct walk *w, const uint8_t src[16], const uint8_t dst[16],
                                    uint8_t nh, const uint8_t *p, size_t len, bool reassembled)
{
    for (unsigned n = 0;; n++) {
        size_t hl;

        if (nh != IPP_HOPOPT && nh != IPP_ROUTING && nh != IPP_DSTOPTS && nh != IPP_AH &&
            nh != IPP_FRAG)
            return ip_payload(w, nh, src, dst, p, len);
        if (n == MAX_IP6_EXT || (nh == IPP_HOPOPT && (n > 0 || reassembled)))
            return DECAP_IP6_EXT_CHAIN;
        if (len < 8)
            return DECAP_TRUNC_IP6_EXT;
        w->u.path |= DECAP_P_IP6EXT;
        if (nh == IPP_FRAG) {
            uint16_t fo = be16(p + 2);
            struct ipfrag_key k = { .id = be32(p + 4), .v6 = 1 };
            struct ipfrag_in in = { .off = fo & 0xfff8, .more = fo & 1, .nh = p[0],
                                    .data = p + 8, .len = len - 8 };
            enum decap_verdict v;

            if (in.off == 0 && !in.more) { /* atomic fragment (RFC 6946) */
                nh = p[0];
                p += 8;
                len -= 8;
                continue;
            }
            if (reassembled)
                return DECAP_BAD_FRAG;
            memcpy(k.src, src, 16);
            memcpy(k.dst, dst, 16);
            v = reassemble(w, &k, &in, &p, &len, &nh);
            if (v != DECAP_UDP)
                return v;
            reassembled = true;
            continue;
        }
        hl = nh == IPP_AH ? ((size_t)p[1] + 2) * 4 : ((size_t)p[1] + 1) * 8;
        if (len < hl)
            return DECAP_TRUNC_IP6_EXT;
        nh = p[0];
        p += hl;
        len -= hl;
    }
}

static enum decap_verdict ip6(struct walk *w, const uint8_t *p, size_t len)
{
    size_t plen;

    if (len < 40)
        return DECAP_TRUNC_IP6;
    if (p[0] >> 4 != 6)
        return DECAP_BAD_IP6;
    plen = be16(p + 4);
    if (plen == 0)
        return DECAP_BAD_IP6;
    if (40 + plen > len)
        return DECAP_TRUNC_IP6;
    return ip6_chain(w, p + 8, p + 24, p[6], p + 40, plen, false);
}

/** An ethertype's payload: VLAN tags (at most two), then IP. */
static enum decap_verdict l3(struct walk *w, uint16_t type, const uint8_t *p, size_t len)
{
    w->u.nvlan = 0;
    while (type == ET_VLAN || type == ET_QINQ || type == ET_QINQ_OLD) {
        if (w->u.nvlan == MAX_VLAN_TAGS)
            return DECAP_TOO_DEEP;
        if (len < 4)
            return DECAP_TRUNC_VLAN;
        w->u.vlan[w->u.nvlan++] = be16(p) & 0x0fff;
        w->u.path |= DECAP_P_VLAN | (type != ET_VLAN || w->u.nvlan == 2 ? DECAP_P_QINQ : 0);
        type = be16(p + 2);
        p += 4;
        len -= 4;
    }
    if (type == ET_IP4)
        return ip4(w, p, len);
    if (type == ET_IP6)
        return ip6(w, p, len);
    return DECAP_UNSUPP_ETHERTYPE;
}

static enum decap_verdict ether(struct walk *w, const uint8_t *p, size_t len)
{
    if (len < 14)
        return DECAP_TRUNC_LINK;
    return l3(w, be16(p + 12), p + 14, len - 14);
}

/** BSD loopback: an address family, host order in DLT_NULL (either host's). */
static enum decap_verdict loopback(struct walk *w, bool net_order, const uint8_t *p, size_t len)
{
    uint32_t af;

    if (len < 4)
        return DECAP_TRUNC_LINK;
    af = be32(p);
    if (!net_order && af > 0xffff)
        af = (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
    if (af == 2)
        return ip4(w, p + 4, len - 4);
    if (af == 10 || af == 24 || af == 28 || af == 30) /* Linux, NetBSD/OpenBSD, FreeBSD, macOS */
        return ip6(w, p + 4, len - 4);
    return DECAP_UNSUPP_ETHERTYPE;
}

static enum decap_verdict linklayer(struct walk *w, int dlt, const uint8_t *p, size_t len)
{
    switch (dlt) {
    case DECAP_DLT_EN10MB:
        return ether(w, p, len);
    case DECAP_DLT_LINUX_SLL:
        if (len < 16)
            return DECAP_TRUNC_LINK;
        w->u.path |= DECAP_P_SLL;
        return l3(w, be16(p + 14), p + 16, len - 16);
    case DECAP_DLT_LINUX_SLL2:
        if (len < 20)
            return DECAP_TRUNC_LINK;
        w->u.path |= DECAP_P_SLL;
        return l3(w, be16(p), p + 20, len - 20);
    case DECAP_DLT_RAW:
    case DECAP_DLT_RAW_BSD:
    case DECAP_LINKTYPE_RAW:
        if (len == 0)
            return DECAP_TRUNC_LINK;
        if (p[0] >> 4 == 4)
            return ip4(w, p, len);
        if (p[0] >> 4 == 6)
            return ip6(w, p, len);
        return DECAP_UNSUPP_ETHERTYPE;
    case DECAP_DLT_IPV4:
        return ip4(w, p, len);
    case DECAP_DLT_IPV6:
        return ip6(w, p, len);
    case DECAP_DLT_NULL:
    case DECAP_DLT_LOOP:
        return loopback(w, dlt == DECAP_DLT_LOOP, p, len);
    default:
        return DECAP_UNSUPP_LINKTYPE;
    }
}

enum decap_verdict decap_frame(struct decap *d, int dlt, const uint8_t *frame, size_t len,
                               uint64_t now_us, struct decap_udp *out)
{
    struct walk w = { .d = d, .now_us = now_us };
    enum decap_verdict v;

    ipfrag_release_done(d->frag);
    ipfrag_expire(d->frag, now_us);
    v = frame || !len ? linklayer(&w, dlt, frame, len) : DECAP_TRUNC_LINK;
    d->st.verdicts[v]++;
    if (v == DECAP_UDP) {
        w.u.depth = (uint8_t)w.depth;
        *out = w.u;
    }
    return v;
}

uint64_t decap_tick(struct decap *d, uint64_t now_us)
{
    return ipfrag_expire(d->frag, now_us);
}

enum sr_err decap_create(struct decap **out, const struct decap_cfg *cfg)
{
    struct decap *d;
    struct ipfrag_cfg fc;
    enum sr_err err;

    if (!out || !cfg || cfg->max_depth > MAX_DEPTH_LIMIT)
        return SR_EINVAL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return SR_ENOMEM;
    d->cfg = *cfg;
    if (!d->cfg.max_datagrams)
        d->cfg.max_datagrams = 64;
    if (!d->cfg.max_frags)
        d->cfg.max_frags = 64;
    if (!d->cfg.max_bytes)
        d->cfg.max_bytes = 1u << 20;
    if (!d->cfg.max_size || d->cfg.max_size > 65535)
        d->cfg.max_size = 65535;
    if (!d->cfg.timeout_us)
        d->cfg.timeout_us = 5000000;
    if (!d->cfg.max_depth)
        d->cfg.max_depth = 4;
    if (!d->cfg.vxlan_port)
        d->cfg.vxlan_port = 4789;
    fc = (struct ipfrag_cfg){ .max_datagrams = d->cfg.max_datagrams, .max_frags = d->cfg.max_frags,
                              .max_bytes = d->cfg.max_bytes, .max_size = d->cfg.max_size,
                              .timeout_us = d->cfg.timeout_us,
                              .max_done = d->cfg.max_depth + 2 };
    err = ipfrag_create(&d->frag, &fc);
    if (err != SR_OK) {
        free(d);
        return err;
    }
    *out = d;
    return SR_OK;
}

void decap_destroy(struct decap *d)
{
    if (!d)
        return;
    ipfrag_destroy(d->frag);
    free(d);
}

void decap_stats(const struct decap *d, struct decap_stats *out)
{
    struct ipfrag_stats fs;

    *out = d->st;
    ipfrag_stats(d->frag, &fs);
    out->verdicts[DECAP_FRAG_TIMEOUT] = fs.expired;
    out->reassembled = fs.reassembled;
    out->frag_dropped = fs.dropped;
    out->frag_datagrams = fs.datagrams;
    out->frag_bytes = fs.bytes;
}
