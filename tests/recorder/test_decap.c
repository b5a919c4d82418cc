/** @file test_decap.c  Decapsulation (recorder/decap.h) from hand-built
 *  frames: every layer, every refusal, truncation at every offset against a
 *  guard page, and fragment reassembly (orders, duplicates, overlap, timeout
 *  on a fake clock, budgets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decap.h"
#include "guard.h"
#include "pktbuild.h"
#include "tap.h"

static const uint8_t A4[4] = { 192, 0, 2, 1 }, B4[4] = { 198, 51, 100, 7 };
static const uint8_t A6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t B6[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, [15] = 2 };
static const char PAYLOAD[] = "\x80\x00\x12\x34 an RTP-shaped payload of some length";
#define PLEN (sizeof(PAYLOAD) - 1)

static struct decap *mk(const struct decap_cfg *cfg)
{
    struct decap_cfg def = { 0 };
    struct decap *d = NULL;
    if (decap_create(&d, cfg ? cfg : &def) != SR_OK)
        abort();
    return d;
}

static bool mapped_is(const struct rec_flow *f, const uint8_t a[4], unsigned port)
{
    static const uint8_t pre[12] = { [10] = 0xff, [11] = 0xff };
    return !memcmp(f->addr, pre, 12) && !memcmp(f->addr + 12, a, 4) && f->port == port;
}

static bool v6_is(const struct rec_flow *f, const uint8_t a[16], unsigned port)
{
    return !memcmp(f->addr, a, 16) && f->port == port;
}

/* UDP 5004 -> 6006 with PAYLOAD, in IPv4 or IPv6. */
static void udp4(struct pk *k)
{
    pk_init(k, PAYLOAD, PLEN);
    pk_udp(k, 5004, 6006);
    pk_ip4(k, A4, B4, 17, 1, 0);
}

static void udp6(struct pk *k)
{
    pk_init(k, PAYLOAD, PLEN);
    pk_udp(k, 5004, 6006);
    pk_ip6(k, A6, B6, 17);
}

static enum decap_verdict run(struct decap *d, int dlt, const struct pk *k, struct decap_udp *u)
{
    memset(u, 0xa5, sizeof(*u));
    return decap_frame(d, dlt, pk_data(k), pk_len(k), 0, u);
}

static bool payload_ok(const struct decap_udp *u)
{
    return u->len == PLEN && !memcmp(u->payload, PAYLOAD, PLEN);
}

/* ------------------------------------------------------------ the layers */

static void layers(void)
{
    struct decap *d = mk(NULL);
    struct decap_udp u;
    struct pk k;
    enum decap_verdict v;

    udp4(&k);
    pk_eth(&k, 0x0800);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && mapped_is(&u.src, A4, 5004) &&
           mapped_is(&u.dst, B4, 6006) && u.path == 0 && u.nvlan == 0 && u.depth == 0 &&
           u.tunnel_id == 0 && u.src.ssrc == 0, "Ethernet IPv4 UDP: payload, v4-mapped addresses, ports");

    /* Ethernet pads short frames: the IP total length decides. */
    udp4(&k);
    pk_eth(&k, 0x0800);
    memset(k.b + k.end, 0, 6);
    k.end += 6;
    tap_ok(run(d, DECAP_DLT_EN10MB, &k, &u) == DECAP_UDP && payload_ok(&u), "Ethernet padding trimmed");

    udp6(&k);
    pk_eth(&k, 0x86DD);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && v6_is(&u.src, A6, 5004) && v6_is(&u.dst, B6, 6006),
           "Ethernet IPv6 UDP");

    udp4(&k);
    pk_vlan(&k, 0x2000 | 42, 0x0800); /* PCP bits set: VID only */
    pk_eth(&k, 0x8100);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == DECAP_P_VLAN && u.nvlan == 1 && u.vlan[0] == 42,
           "802.1Q: VLAN id 42");

    udp6(&k);
    pk_vlan(&k, 200, 0x86DD);
    pk_vlan(&k, 100, 0x8100);
    pk_eth(&k, 0x88A8);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == (DECAP_P_VLAN | DECAP_P_QINQ) && u.nvlan == 2 &&
           u.vlan[0] == 100 && u.vlan[1] == 200, "QinQ 0x88a8 + 0x8100: S-tag 100, C-tag 200");

    udp4(&k);
    pk_vlan(&k, 7, 0x0800);
    pk_vlan(&k, 6, 0x8100);
    pk_eth(&k, 0x8100);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && (u.path & DECAP_P_QINQ) && u.vlan[0] == 6 && u.vlan[1] == 7,
           "two stacked 0x8100 tags");

    udp4(&k);
    pk_sll(&k, 0x0800);
    v = run(d, DECAP_DLT_LINUX_SLL, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == DECAP_P_SLL && mapped_is(&u.dst, B4, 6006), "SLL");

    udp4(&k);
    pk_vlan(&k, 9, 0x0800);
    pk_sll(&k, 0x8100);
    v = run(d, DECAP_DLT_LINUX_SLL, &k, &u);
    tap_ok(v == DECAP_UDP && u.nvlan == 1 && u.vlan[0] == 9, "SLL with a VLAN tag libpcap put back");

    udp6(&k);
    pk_sll2(&k, 0x86DD);
    v = run(d, DECAP_DLT_LINUX_SLL2, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == DECAP_P_SLL && v6_is(&u.src, A6, 5004), "SLL2");

    static const int raws[] = { DECAP_DLT_RAW, DECAP_DLT_RAW_BSD, DECAP_LINKTYPE_RAW };
    for (size_t i = 0; i < 3; i++) {
        udp4(&k);
        tap_ok(run(d, raws[i], &k, &u) == DECAP_UDP && payload_ok(&u), "raw IPv4 (linktype %d)", raws[i]);
        udp6(&k);
        tap_ok(run(d, raws[i], &k, &u) == DECAP_UDP && payload_ok(&u), "raw IPv6 (linktype %d)", raws[i]);
    }
    udp4(&k);
    tap_ok(run(d, DECAP_DLT_IPV4, &k, &u) == DECAP_UDP && payload_ok(&u), "DLT_IPV4");
    udp6(&k);
    tap_ok(run(d, DECAP_DLT_IPV6, &k, &u) == DECAP_UDP && payload_ok(&u), "DLT_IPV6");

    udp4(&k);
    pk_null(&k, 2, false);
    tap_ok(run(d, DECAP_DLT_NULL, &k, &u) == DECAP_UDP && payload_ok(&u), "DLT_NULL, little-endian AF_INET");
    udp6(&k);
    pk_null(&k, 30, true);
    tap_ok(run(d, DECAP_DLT_NULL, &k, &u) == DECAP_UDP && payload_ok(&u), "DLT_NULL, big-endian AF_INET6 (macOS)");
    udp6(&k);
    pk_null(&k, 24, true);
    tap_ok(run(d, DECAP_DLT_LOOP, &k, &u) == DECAP_UDP && payload_ok(&u), "DLT_LOOP AF_INET6 (OpenBSD)");

    /* IPv6 extension headers: hop-by-hop, routing, destination options, AH, an atomic fragment. */
    pk_init(&k, PAYLOAD, PLEN);
    pk_udp(&k, 5004, 6006);
    pk_frag6(&k, 17, 0, false, 99);  /* atomic: RFC 6946 */
    {
        uint8_t *ah = pk_pre(&k, 16);
        ah[0] = 44;
        ah[1] = 2; /* (2 + 2) * 4 = 16 bytes */
    }
    pk_ext6(&k, 51, 2);          /* destination options -> AH */
    pk_ext6(&k, 60, 1);          /* routing -> destination options */
    pk_ext6(&k, 43, 3);          /* hop-by-hop -> routing */
    pk_ip6(&k, A6, B6, 0);
    pk_eth(&k, 0x86DD);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == DECAP_P_IP6EXT && v6_is(&u.dst, B6, 6006),
           "IPv6 hop-by-hop, routing, destination options, AH, atomic fragment");

    /* GRE: plain IPv4, then with checksum, key and sequence carrying Ethernet. */
    udp4(&k);
    pk_gre(&k, 0, 0x0800, 0, 0);
    pk_ip4(&k, B4, A4, 47, 2, 0);
    pk_eth(&k, 0x0800);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == DECAP_P_GRE && u.depth == 1 &&
           mapped_is(&u.src, A4, 5004), "GRE carrying IPv4: inner addresses");

    udp6(&k);
    pk_vlan(&k, 33, 0x86DD);
    pk_eth(&k, 0x8100);
    pk_gre(&k, 0x8000 | 0x2000 | 0x1000, 0x6558, 0xdeadbeef, 7);
    pk_ip4(&k, B4, A4, 47, 3, 0);
    pk_vlan(&k, 500, 0x0800);
    pk_eth(&k, 0x8100);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == (DECAP_P_GRE | DECAP_P_VLAN) &&
           u.tunnel_id == 0xdeadbeef && u.nvlan == 1 && u.vlan[0] == 33 && v6_is(&u.src, A6, 5004),
           "GRE C+K+S, transparent Ethernet bridging: key, the inner frame's VLAN");

    udp4(&k);
    pk_gre(&k, 0, 0x0800, 0, 0);
    pk_ip6(&k, B6, A6, 47);
    tap_ok(run(d, DECAP_DLT_RAW, &k, &u) == DECAP_UDP && payload_ok(&u), "GRE over IPv6");

    /* ERSPAN I, II, III. */
    udp4(&k);
    pk_eth(&k, 0x0800);
    pk_gre(&k, 0, 0x88BE, 0, 0);
    pk_ip4(&k, B4, A4, 47, 4, 0);
    pk_eth(&k, 0x0800);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == (DECAP_P_GRE | DECAP_P_ERSPAN1), "ERSPAN type I");

    udp4(&k);
    pk_vlan(&k, 12, 0x0800);
    pk_eth(&k, 0x8100);
    pk_erspan2(&k, 321);
    pk_gre(&k, 0x1000, 0x88BE, 0, 1);
    pk_ip4(&k, B4, A4, 47, 5, 0);
    pk_eth(&k, 0x0800);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == (DECAP_P_GRE | DECAP_P_ERSPAN2 | DECAP_P_VLAN) &&
           u.tunnel_id == 321 && u.vlan[0] == 12, "ERSPAN type II: session 321");

    udp6(&k);
    pk_eth(&k, 0x86DD);
    pk_erspan3(&k, 1000, 0, false);
    pk_gre(&k, 0x1000, 0x22EB, 0, 1);
    pk_ip6(&k, B6, A6, 47);
    pk_eth(&k, 0x86DD);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == (DECAP_P_GRE | DECAP_P_ERSPAN3) && u.tunnel_id == 1000,
           "ERSPAN type III (Ethernet frame)");

    udp4(&k);
    pk_erspan3(&k, 5, 2, true);
    pk_gre(&k, 0x1000, 0x22EB, 0, 1);
    pk_ip4(&k, B4, A4, 47, 6, 0);
    v = run(d, DECAP_DLT_RAW, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && mapped_is(&u.src, A4, 5004),
           "ERSPAN type III, IP frame type, platform subheader");

    /* VXLAN, and IP-in-IP. */
    udp4(&k);
    pk_vlan(&k, 77, 0x0800);
    pk_eth(&k, 0x8100);
    pk_vxlan(&k, 0x123456);
    pk_udp(&k, 40000, 4789);
    pk_ip4(&k, B4, A4, 17, 7, 0);
    pk_vlan(&k, 3000, 0x0800);
    pk_eth(&k, 0x8100);
    v = run(d, DECAP_DLT_EN10MB, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == (DECAP_P_VXLAN | DECAP_P_VLAN) &&
           u.tunnel_id == 0x123456 && u.depth == 1 && u.nvlan == 1 && u.vlan[0] == 77 &&
           mapped_is(&u.src, A4, 5004), "VXLAN: VNI, inner VLAN and addresses");

    udp6(&k);
    pk_ip4(&k, B4, A4, 41, 8, 0);
    v = run(d, DECAP_DLT_RAW, &k, &u);
    tap_ok(v == DECAP_UDP && payload_ok(&u) && u.path == DECAP_P_IPIP && v6_is(&u.src, A6, 5004), "IPv6 in IPv4");
    udp4(&k);
    pk_ip6(&k, B6, A6, 4);
    tap_ok(run(d, DECAP_DLT_RAW, &k, &u) == DECAP_UDP && payload_ok(&u), "IPv4 in IPv6");
    decap_destroy(d);

    /* Another VXLAN port; 4789 is then plain UDP. */
    struct decap_cfg c = { .vxlan_port = 8472 };
    d = mk(&c);
    pk_init(&k, "\x08\0\0\0\0\0\x01\0", 8);
    pk_udp(&k, 1, 4789);
    pk_ip4(&k, A4, B4, 17, 9, 0);
    tap_ok(run(d, DECAP_DLT_RAW, &k, &u) == DECAP_UDP && u.len == 8 && u.dst.port == 4789,
           "vxlan_port 8472: UDP to 4789 is a datagram");
    decap_destroy(d);
}

/* ------------------------------------------------------------ refusals */

static unsigned n_expect;

static void expect(struct decap *d, int dlt, struct pk *k, enum decap_verdict want, const char *what)
{
    struct decap_udp u;
    enum decap_verdict v = run(d, dlt, k, &u);
    n_expect++;
    tap_ok(v == want, "%s: %s (got %s)", what, decap_verdict_name(want), decap_verdict_name(v));
}

static void refusals(void)
{
    struct decap *d = mk(NULL);
    struct decap_stats st;
    struct pk k;

    udp4(&k);
    expect(d, 9999, &k, DECAP_UNSUPP_LINKTYPE, "linktype 9999");
    pk_init(&k, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08", 13);
    expect(d, DECAP_DLT_EN10MB, &k, DECAP_TRUNC_LINK, "13-byte Ethernet");
    pk_init(&k, "", 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_LINK, "empty raw frame");
    pk_init(&k, PAYLOAD, 10);
    expect(d, DECAP_DLT_LINUX_SLL2, &k, DECAP_TRUNC_LINK, "10-byte SLL2");
    udp4(&k);
    pk_eth(&k, 0x0806);
    expect(d, DECAP_DLT_EN10MB, &k, DECAP_UNSUPP_ETHERTYPE, "ARP");
    udp4(&k);
    pk_eth(&k, 0x0040);
    expect(d, DECAP_DLT_EN10MB, &k, DECAP_UNSUPP_ETHERTYPE, "an 802.3 length field");
    udp4(&k);
    pk_null(&k, 17, false);
    expect(d, DECAP_DLT_NULL, &k, DECAP_UNSUPP_ETHERTYPE, "DLT_NULL AF 17");
    pk_init(&k, "\x50", 1);
    expect(d, DECAP_DLT_RAW, &k, DECAP_UNSUPP_ETHERTYPE, "raw, IP version 5");
    pk_init(&k, "\x00\x05", 2);
    pk_eth(&k, 0x8100);
    expect(d, DECAP_DLT_EN10MB, &k, DECAP_TRUNC_VLAN, "half a VLAN tag");
    udp4(&k);
    pk_vlan(&k, 3, 0x0800);
    pk_vlan(&k, 2, 0x8100);
    pk_vlan(&k, 1, 0x8100);
    pk_eth(&k, 0x8100);
    expect(d, DECAP_DLT_EN10MB, &k, DECAP_TOO_DEEP, "three VLAN tags");

    /* GRE nested five times (the default max_depth is 4). */
    udp4(&k);
    for (int i = 0; i < 5; i++) {
        pk_gre(&k, 0, 0x0800, 0, 0);
        pk_ip4(&k, B4, A4, 47, (unsigned)i, 0);
    }
    expect(d, DECAP_DLT_RAW, &k, DECAP_TOO_DEEP, "GRE in GRE five deep");
    udp4(&k);
    for (int i = 0; i < 4; i++) {
        pk_gre(&k, 0, 0x0800, 0, 0);
        pk_ip4(&k, B4, A4, 47, (unsigned)i, 0);
    }
    expect(d, DECAP_DLT_RAW, &k, DECAP_UDP, "GRE in GRE four deep");

    pk_init(&k, "\x45\0\0\x14", 4);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_IP4, "4 bytes of IPv4");
    udp4(&k);
    k.b[k.start] = 0x44;
    expect(d, DECAP_DLT_IPV4, &k, DECAP_BAD_IP4, "IPv4 version 4 with IHL 4");
    udp4(&k);
    k.b[k.start] = 0x55;
    expect(d, DECAP_DLT_IPV4, &k, DECAP_BAD_IP4, "version 5 through DLT_IPV4");
    udp4(&k);
    k.b[k.start] = 0x4f; /* a 60-byte header */
    k.end = k.start + 40;
    expect(d, DECAP_DLT_IPV4, &k, DECAP_TRUNC_IP4, "IHL 15 in a 40-byte frame");
    udp4(&k);
    pk_put16(k.b + k.start + 2, 19);
    expect(d, DECAP_DLT_IPV4, &k, DECAP_BAD_IP4, "total length 19");
    udp4(&k);
    pk_put16(k.b + k.start + 2, (unsigned)pk_len(&k) + 1);
    expect(d, DECAP_DLT_IPV4, &k, DECAP_TRUNC_IP4, "total length one past the frame");
    udp4(&k);
    k.b[k.start + 8]--; /* TTL changed, checksum not */
    expect(d, DECAP_DLT_IPV4, &k, DECAP_BAD_IP4_CSUM, "IPv4 header checksum");

    pk_init(&k, "\x60\0\0\0\0\x08\x11\x40", 8);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_IP6, "8 bytes of IPv6");
    udp6(&k);
    k.b[k.start] = 0x70;
    expect(d, DECAP_DLT_IPV6, &k, DECAP_BAD_IP6, "version 7 through DLT_IPV6");
    udp6(&k);
    pk_put16(k.b + k.start + 4, 0);
    expect(d, DECAP_DLT_IPV6, &k, DECAP_BAD_IP6, "payload length 0 (jumbogram)");
    udp6(&k);
    pk_put16(k.b + k.start + 4, (unsigned)pk_len(&k) - 39);
    expect(d, DECAP_DLT_IPV6, &k, DECAP_TRUNC_IP6, "payload length one past the frame");
    pk_init(&k, "\x11\x04\0\0", 4); /* dest opts claiming 40 bytes */
    pk_ip6(&k, A6, B6, 60);
    expect(d, DECAP_DLT_IPV6, &k, DECAP_TRUNC_IP6_EXT, "extension header shorter than 8 bytes");
    pk_init(&k, "\x11\x04\0\0\0\0\0\0", 8);
    pk_ip6(&k, A6, B6, 60);
    expect(d, DECAP_DLT_IPV6, &k, DECAP_TRUNC_IP6_EXT, "extension header past the payload");
    pk_init(&k, PAYLOAD, PLEN);
    pk_udp(&k, 1, 2);
    pk_ext6(&k, 17, 1);
    for (int i = 0; i < 8; i++)
        pk_ext6(&k, 60, 1);
    pk_ip6(&k, A6, B6, 60);
    expect(d, DECAP_DLT_IPV6, &k, DECAP_IP6_EXT_CHAIN, "nine destination options headers");
    pk_init(&k, PAYLOAD, PLEN);
    pk_udp(&k, 1, 2);
    pk_ext6(&k, 17, 1);
    pk_ext6(&k, 0, 1);
    pk_ip6(&k, A6, B6, 60);
    expect(d, DECAP_DLT_IPV6, &k, DECAP_IP6_EXT_CHAIN, "hop-by-hop after destination options");
    pk_init(&k, PAYLOAD, PLEN);
    pk_ip6(&k, A6, B6, 59);
    expect(d, DECAP_DLT_IPV6, &k, DECAP_NOT_UDP, "IPv6 no next header");
    pk_init(&k, PAYLOAD, PLEN);
    pk_ip4(&k, A4, B4, 6, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_NOT_UDP, "TCP");
    pk_init(&k, PAYLOAD, 12);
    pk_ip4(&k, A4, B4, 1, 1, 0x2000);
    expect(d, DECAP_DLT_RAW, &k, DECAP_NOT_UDP, "an ICMP fragment is not held");

    pk_init(&k, "\x13\x8c\x17", 3);
    pk_ip4(&k, A4, B4, 17, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_UDP, "3 bytes of UDP");
    udp4(&k);
    pk_put16(k.b + k.start + 20 + 4, 4);
    expect(d, DECAP_DLT_RAW, &k, DECAP_BAD_UDP, "UDP length 4");
    udp4(&k);
    pk_put16(k.b + k.start + 20 + 4, (unsigned)pk_len(&k) - 20 + 1);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_UDP, "UDP length one past the IP payload");

    pk_init(&k, "\0\0", 2);
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_GRE, "2 bytes of GRE");
    pk_init(&k, "\0\0\0\0", 4);
    pk_gre(&k, 0x2000, 0x0800, 1, 0);
    k.start += 4;
    k.b[k.start] = 0x20; k.b[k.start + 1] = 0; pk_put16(k.b + k.start + 2, 0x0800);
    k.end = k.start + 6;
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_GRE, "GRE key flag, 6 bytes");
    udp4(&k);
    pk_gre(&k, 1, 0x0800, 0, 0);
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_BAD_GRE, "GRE version 1 (PPTP)");
    udp4(&k);
    pk_gre(&k, 0x4000, 0x0800, 0, 0);
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_BAD_GRE, "GRE routing flag");
    udp4(&k);
    pk_gre(&k, 0x8000, 0x0800, 0, 0);
    k.b[k.start + 4] ^= 1;
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_BAD_GRE_CSUM, "GRE checksum");
    udp4(&k);
    pk_gre(&k, 0, 0x8847, 0, 0);
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_UNSUPP_GRE_PROTO, "GRE carrying MPLS");

    pk_init(&k, "\x10\0\0", 3);
    pk_gre(&k, 0x1000, 0x88BE, 0, 1);
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_ERSPAN, "3 bytes of ERSPAN II");
    udp4(&k);
    pk_eth(&k, 0x0800);
    pk_erspan3(&k, 1, 0, false);
    pk_gre(&k, 0x1000, 0x88BE, 0, 1);
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_BAD_ERSPAN, "a type III header under 0x88BE");
    udp4(&k);
    pk_erspan3(&k, 1, 0, false);
    k.b[k.start + 11] = 1; /* O set, no subheader */
    k.end = k.start + 12;
    pk_gre(&k, 0x1000, 0x22EB, 0, 1);
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_ERSPAN, "ERSPAN III O flag without its subheader");
    udp4(&k);
    pk_erspan3(&k, 1, 3, false);
    pk_gre(&k, 0x1000, 0x22EB, 0, 1);
    pk_ip4(&k, B4, A4, 47, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_BAD_ERSPAN, "ERSPAN III frame type 3");

    pk_init(&k, "\x08\0\0\0", 4);
    pk_udp(&k, 1, 4789);
    pk_ip4(&k, B4, A4, 17, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_TRUNC_VXLAN, "4 bytes of VXLAN");
    udp4(&k);
    pk_eth(&k, 0x0800);
    pk_vxlan(&k, 1);
    k.b[k.start] = 0;
    pk_udp(&k, 1, 4789);
    pk_ip4(&k, B4, A4, 17, 1, 0);
    expect(d, DECAP_DLT_RAW, &k, DECAP_BAD_VXLAN, "VXLAN I flag clear");

    decap_stats(d, &st);
    uint64_t sum = 0;
    for (int i = 0; i < DECAP_VERDICTS; i++)
        sum += st.verdicts[i];
    tap_ok(sum == n_expect && st.verdicts[DECAP_UDP] == 1 && st.verdicts[DECAP_BAD_ERSPAN] == 2 &&
           st.verdicts[DECAP_TRUNC_IP6_EXT] == 2,
           "every frame counted once, by verdict (%llu)", (unsigned long long)sum);
    for (int i = 0; i < DECAP_VERDICTS; i++)
        if (!strcmp(decap_verdict_name((enum decap_verdict)i), "unknown"))
            tap_ok(0, "verdict %d has a name", i);
    tap_ok(!strcmp(decap_verdict_name(DECAP_VERDICTS), "unknown") &&
           !strcmp(decap_path_name(DECAP_P_ERSPAN3), "erspan3") && !strcmp(decap_path_name(3), "unknown"),
           "names");
    decap_destroy(d);
}

/* ------------------------------------------------------------ guard page */

/* Every encapsulation, each at the end of a page: whole, it decapsulates;
 * cut at any offset, it is refused (and nothing past the cut is read). */
static void guard_truncations(void)
{
    struct decap *d = mk(NULL);
    struct { struct pk k; int dlt; const char *what; } *f = calloc(12, sizeof(*f));
    size_t n = 0;
    struct decap_udp u;

    udp4(&f[n].k); pk_vlan(&f[n].k, 1, 0x0800); pk_vlan(&f[n].k, 2, 0x8100); pk_eth(&f[n].k, 0x88A8);
    f[n].dlt = DECAP_DLT_EN10MB; f[n++].what = "QinQ IPv4";
    udp6(&f[n].k); pk_sll(&f[n].k, 0x86DD); f[n].dlt = DECAP_DLT_LINUX_SLL; f[n++].what = "SLL IPv6";
    udp4(&f[n].k); pk_sll2(&f[n].k, 0x0800); f[n].dlt = DECAP_DLT_LINUX_SLL2; f[n++].what = "SLL2";
    udp6(&f[n].k); pk_null(&f[n].k, 10, false); f[n].dlt = DECAP_DLT_NULL; f[n++].what = "NULL";
    pk_init(&f[n].k, PAYLOAD, PLEN); pk_udp(&f[n].k, 1, 2); pk_ext6(&f[n].k, 17, 2); pk_ext6(&f[n].k, 60, 1);
    pk_ip6(&f[n].k, A6, B6, 0); f[n].dlt = DECAP_DLT_RAW; f[n++].what = "IPv6 extension headers";
    udp4(&f[n].k); pk_eth(&f[n].k, 0x0800); pk_gre(&f[n].k, 0xB000, 0x6558, 5, 6);
    pk_ip4(&f[n].k, B4, A4, 47, 1, 0); pk_eth(&f[n].k, 0x0800); f[n].dlt = DECAP_DLT_EN10MB; f[n++].what = "GRE C K S";
    udp4(&f[n].k); pk_eth(&f[n].k, 0x0800); pk_erspan2(&f[n].k, 9); pk_gre(&f[n].k, 0x1000, 0x88BE, 0, 1);
    pk_ip4(&f[n].k, B4, A4, 47, 1, 0); f[n].dlt = DECAP_DLT_RAW; f[n++].what = "ERSPAN II";
    udp6(&f[n].k); pk_erspan3(&f[n].k, 9, 2, true); pk_gre(&f[n].k, 0x1000, 0x22EB, 0, 1);
    pk_ip6(&f[n].k, B6, A6, 47); f[n].dlt = DECAP_DLT_RAW; f[n++].what = "ERSPAN III IP";
    udp4(&f[n].k); pk_eth(&f[n].k, 0x0800); pk_vxlan(&f[n].k, 1); pk_udp(&f[n].k, 9, 4789);
    pk_ip6(&f[n].k, B6, A6, 17); pk_eth(&f[n].k, 0x86DD); f[n].dlt = DECAP_DLT_EN10MB; f[n++].what = "VXLAN over IPv6";
    udp4(&f[n].k); pk_ip6(&f[n].k, B6, A6, 4); pk_null(&f[n].k, 30, true); f[n].dlt = DECAP_DLT_LOOP; f[n++].what = "IPIP";

    for (size_t i = 0; i < n; i++) {
        size_t len = pk_len(&f[i].k), bad = 0;
        const uint8_t *g = (const uint8_t *)guard_copy(pk_data(&f[i].k), len);
        bool whole = decap_frame(d, f[i].dlt, g, len, 0, &u) == DECAP_UDP && payload_ok(&u);
        for (size_t cut = 0; cut < len; cut++) {
            g = (const uint8_t *)guard_copy(pk_data(&f[i].k), cut);
            enum decap_verdict v = decap_frame(d, f[i].dlt, g, cut, 0, &u);
            if (v == DECAP_UDP || v == DECAP_NEED_MORE)
                bad++;
        }
        tap_ok(whole && !bad, "guard page: %s (%zu bytes) whole decapsulates, all %zu cuts refused",
               f[i].what, len, len);
    }
    free(f);
    decap_destroy(d);
}

/* ------------------------------------------------------------ fragments */

/* The UDP datagram (header + payload) of `plen` bytes that fragments carry. */
static size_t datagram(uint8_t *out, size_t plen)
{
    struct pk k;
    uint8_t pl[4096];
    for (size_t i = 0; i < plen; i++)
        pl[i] = (uint8_t)(i * 7 + 3);
    pk_init(&k, pl, plen);
    pk_udp(&k, 5004, 6006);
    memcpy(out, pk_data(&k), pk_len(&k));
    return pk_len(&k);
}

static void frag4(struct pk *k, const uint8_t *dg, size_t off, size_t len, bool more, unsigned id)
{
    pk_init(k, dg + off, len);
    pk_ip4(k, A4, B4, 17, id, (unsigned)(off / 8) | (more ? 0x2000 : 0));
    pk_eth(k, 0x0800);
}

static void frag6(struct pk *k, const uint8_t *dg, size_t off, size_t len, bool more, uint32_t id)
{
    pk_init(k, dg + off, len);
    pk_frag6(k, 17, (unsigned)off, more, id);
    pk_ip6(k, A6, B6, 44);
}

static bool dg_ok(const struct decap_udp *u, const uint8_t *dg, size_t dglen)
{
    return u->len == dglen - 8 && !memcmp(u->payload, dg + 8, dglen - 8) && u->dst.port == 6006 &&
           (u->path & DECAP_P_FRAG);
}

static enum decap_verdict feed(struct decap *d, int dlt, const struct pk *k, uint64_t now,
                               struct decap_udp *u)
{
    return decap_frame(d, dlt, pk_data(k), pk_len(k), now, u);
}

static void fragments(void)
{
    uint8_t dg[3000];
    size_t dglen = datagram(dg, 2000), cuts[] = { 0, 800, 1600, dglen };
    struct decap *d = mk(NULL);
    struct decap_udp u;
    struct decap_stats st;
    struct pk k;
    static const int orders[][3] = { { 0, 1, 2 }, { 2, 1, 0 }, { 1, 2, 0 }, { 2, 0, 1 } };

    for (size_t o = 0; o < 4; o++) {
        enum decap_verdict v[3];
        for (int j = 0; j < 3; j++) {
            int i = orders[o][j];
            frag4(&k, dg, cuts[i], cuts[i + 1] - cuts[i], i < 2, 100 + (unsigned)o);
            v[j] = feed(d, DECAP_DLT_EN10MB, &k, 1000, &u);
        }
        tap_ok(v[0] == DECAP_NEED_MORE && v[1] == DECAP_NEED_MORE && v[2] == DECAP_UDP && dg_ok(&u, dg, dglen) &&
               mapped_is(&u.src, A4, 5004), "IPv4 three fragments, order %d%d%d", orders[o][0],
               orders[o][1], orders[o][2]);
        for (int j = 0; j < 3; j++) {
            int i = orders[o][j];
            frag6(&k, dg, cuts[i], cuts[i + 1] - cuts[i], i < 2, 0x10000 + (uint32_t)o);
            v[j] = feed(d, DECAP_DLT_RAW, &k, 1000, &u);
        }
        tap_ok(v[0] == DECAP_NEED_MORE && v[1] == DECAP_NEED_MORE && v[2] == DECAP_UDP && dg_ok(&u, dg, dglen) &&
               v6_is(&u.src, A6, 5004), "IPv6 three fragments, order %d%d%d", orders[o][0], orders[o][1],
               orders[o][2]);
    }
    decap_stats(d, &st);
    tap_ok(st.reassembled == 8 && st.frag_datagrams == 0 && st.verdicts[DECAP_NEED_MORE] == 16,
           "8 datagrams reassembled, none left in flight");
    /* The reassembled payload stays valid until the next frame; then its bytes are released. */
    tap_ok(st.frag_bytes > 0, "the last datagram's buffer is held until the next frame");
    udp4(&k);
    feed(d, DECAP_DLT_RAW, &k, 1000, &u);
    decap_stats(d, &st);
    tap_ok(st.frag_bytes == 0, "and released by it");

    /* Duplicates: the same fragment twice is counted and ignored. */
    frag4(&k, dg, 0, 800, true, 200);
    feed(d, DECAP_DLT_EN10MB, &k, 1000, &u);
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 1000, &u) == DECAP_FRAG_DUP, "IPv4 duplicate fragment");
    frag4(&k, dg, 800, 800, true, 200);
    feed(d, DECAP_DLT_EN10MB, &k, 1000, &u);
    frag4(&k, dg, 1600, dglen - 1600, false, 200);
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 1000, &u) == DECAP_UDP && dg_ok(&u, dg, dglen),
           "the datagram still completes");
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 1000, &u) == DECAP_NEED_MORE,
           "a duplicate after completion starts a new datagram (it will time out)");

    /* Overlap: the datagram is dropped (RFC 5722). */
    frag6(&k, dg, 0, 800, true, 300);
    feed(d, DECAP_DLT_RAW, &k, 1000, &u);
    frag6(&k, dg, 400, 800, true, 300);
    tap_ok(feed(d, DECAP_DLT_RAW, &k, 1000, &u) == DECAP_FRAG_OVERLAP, "IPv6 overlapping fragment");
    frag6(&k, dg, 800, 800, true, 300);
    tap_ok(feed(d, DECAP_DLT_RAW, &k, 1000, &u) == DECAP_NEED_MORE, "the dropped datagram starts afresh");
    {
        uint8_t alt[3000];
        memcpy(alt, dg, dglen);
        alt[900] ^= 0xff;
        frag6(&k, alt, 800, 800, true, 300);
        tap_ok(feed(d, DECAP_DLT_RAW, &k, 1000, &u) == DECAP_FRAG_OVERLAP,
               "same offset and length, other bytes: an overlap, not a duplicate");
    }
    frag4(&k, dg, 0, 804, true, 301);
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 1000, &u) == DECAP_BAD_FRAG, "non-final fragment of 804 bytes");
    frag4(&k, dg, 800, 800, false, 302);
    feed(d, DECAP_DLT_EN10MB, &k, 1000, &u);
    frag4(&k, dg, 1600, 400, true, 302);
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 1000, &u) == DECAP_BAD_FRAG, "a fragment past the final one");
    pk_init(&k, dg, 24);
    pk_ip4(&k, A4, B4, 17, 303, 0x2000 | 8189);
    tap_ok(feed(d, DECAP_DLT_RAW, &k, 1000, &u) == DECAP_FRAG_TOO_BIG, "offset 65512 + 24 bytes: past 65535");
    frag4(&k, dg, 1600, 408, false, 302);
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 1000, &u) == DECAP_BAD_FRAG, "a second final fragment, another end");

    /* Timeout on a fake clock: decap_tick expires, and says when next. */
    decap_destroy(d);
    struct decap_cfg c = { .timeout_us = 1000000, .max_datagrams = 2, .max_bytes = 4096 };
    d = mk(&c);
    frag4(&k, dg, 0, 800, true, 400);
    feed(d, DECAP_DLT_EN10MB, &k, 10000000, &u);
    tap_ok(decap_tick(d, 10500000) == 11000000, "next expiry at first fragment + timeout");
    frag4(&k, dg, 800, 800, true, 400);
    feed(d, DECAP_DLT_EN10MB, &k, 10999999, &u);
    tap_ok(decap_tick(d, 11000000) == UINT64_MAX, "expired at the timeout");
    decap_stats(d, &st);
    tap_ok(st.verdicts[DECAP_FRAG_TIMEOUT] == 1 && st.frag_datagrams == 0 && st.frag_bytes == 0,
           "one timeout counted, its bytes freed");
    frag4(&k, dg, 1600, dglen - 1600, false, 400);
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 11000001, &u) == DECAP_NEED_MORE,
           "the last fragment after the timeout does not complete it");
    frag4(&k, dg, 0, 800, true, 401);
    feed(d, DECAP_DLT_EN10MB, &k, 13000000, &u); /* lazy expiry of 400 inside decap_frame */
    decap_stats(d, &st);
    tap_ok(st.verdicts[DECAP_FRAG_TIMEOUT] == 2 && st.frag_datagrams == 1, "lazy expiry in decap_frame");

    /* Budgets: two datagrams in flight, 4096 bytes. */
    frag4(&k, dg, 0, 800, true, 402);
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 13000000, &u) == DECAP_NEED_MORE, "second datagram in flight");
    frag4(&k, dg, 0, 800, true, 403);
    tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 13000000, &u) == DECAP_FRAG_BUDGET, "third: no slot");
    frag4(&k, dg, 1600, dglen - 1600, false, 402); /* total 2008 for 402 */
    feed(d, DECAP_DLT_EN10MB, &k, 13000000, &u);
    frag4(&k, dg, 1600, dglen - 1600, false, 401);
    feed(d, DECAP_DLT_EN10MB, &k, 13000000, &u);
    frag4(&k, dg, 800, 800, true, 401);
    enum decap_verdict vb = feed(d, DECAP_DLT_EN10MB, &k, 13000000, &u);
    decap_stats(d, &st);
    tap_ok((vb == DECAP_UDP || vb == DECAP_FRAG_BUDGET) && st.frag_bytes <= 4096,
           "byte budget never exceeded (%llu)", (unsigned long long)st.frag_bytes);
    {
        uint8_t big[3000];
        size_t bl = datagram(big, 2900);
        decap_destroy(d);
        struct decap_cfg c2 = { .max_bytes = 2048 };
        d = mk(&c2);
        frag4(&k, big, 0, 1496, true, 500);
        feed(d, DECAP_DLT_EN10MB, &k, 0, &u);
        frag4(&k, big, 1496, bl - 1496, false, 500);
        tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 0, &u) == DECAP_FRAG_BUDGET, "2908-byte datagram, 2048-byte budget");
        decap_stats(d, &st);
        tap_ok(st.frag_dropped == 1 && st.frag_datagrams == 0 && st.frag_bytes == 0, "dropped, bytes freed");
        decap_destroy(d);
        struct decap_cfg c3 = { .max_size = 1500 };
        d = mk(&c3);
        frag4(&k, big, 1496, bl - 1496, false, 501);
        tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 0, &u) == DECAP_FRAG_TOO_BIG, "max_size 1500");
        decap_destroy(d);
        struct decap_cfg c4 = { .max_frags = 2 };
        d = mk(&c4);
        for (int i = 0; i < 2; i++) {
            frag4(&k, big, (size_t)i * 8, 8, true, 502);
            feed(d, DECAP_DLT_EN10MB, &k, 0, &u);
        }
        frag4(&k, big, 16, 8, true, 502);
        tap_ok(feed(d, DECAP_DLT_EN10MB, &k, 0, &u) == DECAP_FRAG_BUDGET, "max_frags 2: the third fragment");
    }

    /* Fragmented outer IP carrying GRE carrying Ethernet carrying IPv6 fragments. */
    decap_destroy(d);
    d = mk(NULL);
    {
        struct pk inner;
        uint8_t outer[4][2048];
        size_t olen[4], ol = 0;
        uint8_t whole[8192];
        size_t wl;
        enum decap_verdict vs[4];
        /* Two inner IPv6 fragments, each GRE/Ethernet-wrapped; the first's outer IPv4 is fragmented. */
        for (int i = 0; i < 2; i++) {
            frag6(&inner, dg, i ? 1000 : 0, i ? dglen - 1000 : 1000, !i, 77);
            pk_eth(&inner, 0x86DD);
            pk_gre(&inner, 0x2000, 0x6558, 42, 0);
            if (i == 0) {
                wl = pk_len(&inner);
                memcpy(whole, pk_data(&inner), wl);
                for (size_t off = 0; off < wl; off += 600) {
                    size_t n = wl - off > 600 ? 600 : wl - off;
                    pk_init(&k, whole + off, n);
                    pk_ip4(&k, B4, A4, 47, 9, (unsigned)(off / 8) | (off + n < wl ? 0x2000 : 0));
                    memcpy(outer[ol], pk_data(&k), pk_len(&k));
                    olen[ol++] = pk_len(&k);
                }
            } else {
                pk_ip4(&inner, B4, A4, 47, 10, 0);
                memcpy(outer[ol], pk_data(&inner), pk_len(&inner));
                olen[ol++] = pk_len(&inner);
            }
        }
        for (size_t i = 0; i < ol; i++)
            vs[i] = decap_frame(d, DECAP_DLT_RAW, outer[i], olen[i], 0, &u);
        tap_ok(ol == 3 && vs[0] == DECAP_NEED_MORE && vs[1] == DECAP_NEED_MORE && vs[2] == DECAP_UDP &&
               dg_ok(&u, dg, dglen) && u.tunnel_id == 42 && (u.path & DECAP_P_GRE) && v6_is(&u.src, A6, 5004),
               "outer IPv4 fragments of GRE, inner IPv6 fragments: reassembled at both layers");
        (void)vs[3];
    }
    decap_destroy(d);
}

int main(void)
{
    struct decap *d;
    struct decap_cfg bad = { .max_depth = 17 };
    tap_ok(decap_create(&d, &bad) == SR_EINVAL && decap_create(NULL, &bad) == SR_EINVAL,
           "create refuses max_depth 17 and a NULL out");
    decap_destroy(NULL);
    layers();
    refusals();
    guard_truncations();
    fragments();
    return tap_done();
}
