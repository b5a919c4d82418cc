/** @file pktbuild.h  Hand-built frames for the decapsulation tests: layers
 *  are prepended inside out (payload first, link header last), each with
 *  exactly the fields decap.c reads, so a test can also break one. */
#ifndef SR_PKTBUILD_H
#define SR_PKTBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct pk {
    uint8_t b[8192];
    size_t start, end;
};

static inline uint8_t *pk_pre(struct pk *k, size_t n)
{
    k->start -= n;
    memset(k->b + k->start, 0, n);
    return k->b + k->start;
}

static inline void pk_init(struct pk *k, const void *data, size_t len)
{
    k->start = k->end = 4096;
    memcpy(k->b + k->start, data, len);
    k->end += len;
}

static inline size_t pk_len(const struct pk *k)
{
    return k->end - k->start;
}

static inline const uint8_t *pk_data(const struct pk *k)
{
    return k->b + k->start;
}

static inline void pk_put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void pk_put32(uint8_t *p, uint32_t v)
{
    pk_put16(p, v >> 16);
    pk_put16(p + 2, v & 0xffff);
}

static inline uint16_t pk_csum(const uint8_t *p, size_t len)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static inline void pk_udp(struct pk *k, unsigned sport, unsigned dport)
{
    size_t len = pk_len(k) + 8;
    uint8_t *p = pk_pre(k, 8);
    pk_put16(p, sport);
    pk_put16(p + 2, dport);
    pk_put16(p + 4, (unsigned)len);
}

/** fo: the flags+offset field (0x2000 MF, offset in 8-byte units). */
static inline void pk_ip4(struct pk *k, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                          unsigned id, unsigned fo)
{
    size_t len = pk_len(k) + 20;
    uint8_t *p = pk_pre(k, 20);
    p[0] = 0x45;
    pk_put16(p + 2, (unsigned)len);
    pk_put16(p + 4, id);
    pk_put16(p + 6, fo);
    p[8] = 64;
    p[9] = proto;
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
    pk_put16(p + 10, pk_csum(p, 20));
}

static inline void pk_ip6(struct pk *k, const uint8_t src[16], const uint8_t dst[16], uint8_t nh)
{
    size_t len = pk_len(k);
    uint8_t *p = pk_pre(k, 40);
    p[0] = 0x60;
    pk_put16(p + 4, (unsigned)len);
    p[6] = nh;
    p[7] = 64;
    memcpy(p + 8, src, 16);
    memcpy(p + 24, dst, 16);
}

/** An extension header of 8 * units bytes (hop-by-hop, routing, dest opts). */
static inline void pk_ext6(struct pk *k, uint8_t nh, unsigned units)
{
    uint8_t *p = pk_pre(k, 8 * (size_t)units);
    p[0] = nh;
    p[1] = (uint8_t)(units - 1);
    if (units * 8 > 2) {
        p[2] = 1; /* PadN over the rest */
        p[3] = (uint8_t)(units * 8 - 4);
    }
}

static inline void pk_frag6(struct pk *k, uint8_t nh, unsigned off, bool more, uint32_t id)
{
    uint8_t *p = pk_pre(k, 8);
    p[0] = nh;
    pk_put16(p + 2, (off & 0xfff8) | (more ? 1 : 0));
    pk_put32(p + 4, id);
}

static inline void pk_vlan(struct pk *k, unsigned vid, unsigned inner_type)
{
    uint8_t *p = pk_pre(k, 4);
    pk_put16(p, vid);
    pk_put16(p + 2, inner_type);
}

static inline void pk_eth(struct pk *k, unsigned type)
{
    uint8_t *p = pk_pre(k, 14);
    memcpy(p, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
    pk_put16(p + 12, type);
}

/** flags: 0x8000 C, 0x2000 K, 0x1000 S (plus anything to break it). */
static inline void pk_gre(struct pk *k, unsigned flags, unsigned proto, uint32_t key, uint32_t seq)
{
    size_t hl = 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
    uint8_t *p = pk_pre(k, hl), *q = p + 4;
    pk_put16(p, flags);
    pk_put16(p + 2, proto);
    if (flags & 0x8000)
        q += 4;
    if (flags & 0x2000) {
        pk_put32(q, key);
        q += 4;
    }
    if (flags & 0x1000)
        pk_put32(q, seq);
    if (flags & 0x8000)
        pk_put16(p + 4, pk_csum(p, pk_len(k)));
}

static inline void pk_erspan2(struct pk *k, unsigned session)
{
    uint8_t *p = pk_pre(k, 8);
    p[0] = 0x10;
    pk_put16(p + 2, session & 0x3ff);
}

static inline void pk_erspan3(struct pk *k, unsigned session, unsigned ft, bool o)
{
    uint8_t *p = pk_pre(k, o ? 20 : 12);
    p[0] = 0x20;
    pk_put16(p + 2, session & 0x3ff);
    pk_put32(p + 4, 0x12345678);
    p[10] = (uint8_t)((ft & 0x1f) << 2);
    p[11] = o ? 1 : 0;
}

static inline void pk_vxlan(struct pk *k, uint32_t vni)
{
    uint8_t *p = pk_pre(k, 8);
    p[0] = 0x08;
    pk_put32(p + 4, vni << 8);
}

static inline void pk_sll(struct pk *k, unsigned proto)
{
    uint8_t *p = pk_pre(k, 16);
    pk_put16(p + 2, 1);  /* ARPHRD_ETHER */
    pk_put16(p + 4, 6);
    pk_put16(p + 14, proto);
}

static inline void pk_sll2(struct pk *k, unsigned proto)
{
    uint8_t *p = pk_pre(k, 20);
    pk_put16(p, proto);
    pk_put32(p + 4, 1);
    pk_put16(p + 8, 1);
    p[11] = 6;
}

static inline void pk_null(struct pk *k, uint32_t af, bool net_order)
{
    uint8_t *p = pk_pre(k, 4);
    if (net_order) {
        pk_put32(p, af);
    } else {
        p[0] = (uint8_t)af;
        p[1] = (uint8_t)(af >> 8);
        p[2] = (uint8_t)(af >> 16);
        p[3] = (uint8_t)(af >> 24);
    }
}

#endif
