/** @file decap.h  Captured frames in, UDP datagrams out: the decapsulation
 *  of what a mirror port or a capture file carries (docs/capture.md,
 *  "Decapsulation").  Pure: no sockets, files, clocks or libpcap of its own;
 *  the caller passes the frame, its pcap linktype and a monotonic time.
 *
 * Layers, recursing up to max_depth nested encapsulations:
 * - link: Ethernet (DLT_EN10MB), Linux cooked capture v1 and v2
 *   (DLT_LINUX_SLL, DLT_LINUX_SLL2: the `any` device), raw IP (DLT_RAW,
 *   DLT_IPV4, DLT_IPV6), BSD loopback (DLT_NULL, DLT_LOOP);
 * - 802.1Q and QinQ tags (0x8100, 0x88a8, 0x9100), at most two;
 * - IPv4 (options skipped, header checksum checked) and IPv6 (hop-by-hop,
 *   routing, destination options and fragment headers, a bounded chain);
 * - IPv4 and IPv6 fragments of UDP, GRE or IP-in-IP, reassembled within
 *   fixed bounds: a fragment that overlaps another drops its datagram
 *   (RFC 5722), an exact duplicate is counted and ignored, a datagram not
 *   complete within timeout_us is dropped and counted;
 * - GRE (RFC 2784/2890: checksum, key and sequence allowed; routing,
 *   reserved bits or a version other than 0 refused) carrying IPv4, IPv6,
 *   Ethernet (0x6558, transparent Ethernet bridging) or ERSPAN;
 * - ERSPAN type I (0x88BE without a sequence number), type II (0x88BE, an
 *   8-byte header of version 1) and type III (0x22EB, a 12-byte header of
 *   version 2, plus its 8-byte platform subheader when O is set), carrying
 *   Ethernet (type III also IP, frame type 2);
 * - VXLAN (RFC 7348; UDP to vxlan_port, default 4789; I flag required)
 *   carrying Ethernet;
 * - IP-in-IP (protocol 4 and 41).
 * UDP checksums are not checked: a capture on a sending host sees them
 * before the NIC fills them in, and SRTP authenticates the payload anyway.
 *
 * Every frame gets exactly one verdict, counted in decap_stats.
 * Memory: the reassembly table and its per-datagram fragment lists are
 * allocated at create; fragment bytes are allocated as they come, within
 * max_bytes.  Nothing else is allocated per frame.
 *
 * Threads: none.  One struct decap per capture thread.
 */
#ifndef REC_DECAP_H
#define REC_DECAP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rec.h"

/** pcap linktypes (the DLT_* values of Linux's pcap/dlt.h, and LINKTYPE_*
 *  of capture files where they differ), so that decap needs no libpcap. */
enum {
    DECAP_DLT_NULL = 0,           /**< 4-byte address family, either byte order */
    DECAP_DLT_EN10MB = 1,
    DECAP_DLT_RAW = 12,           /**< Linux's DLT_RAW (also 14 on OpenBSD, 101 in files) */
    DECAP_DLT_RAW_BSD = 14,
    DECAP_LINKTYPE_RAW = 101,
    DECAP_DLT_LOOP = 108,         /**< 4-byte address family, network byte order */
    DECAP_DLT_LINUX_SLL = 113,
    DECAP_DLT_IPV4 = 228,
    DECAP_DLT_IPV6 = 229,
    DECAP_DLT_LINUX_SLL2 = 276,
};

/** One verdict per frame.  Append only: the names reach metrics. */
enum decap_verdict {
    DECAP_UDP = 0,           /**< a UDP datagram: *out is filled */
    DECAP_NEED_MORE,         /**< a fragment, held until its datagram completes */
    DECAP_UNSUPP_LINKTYPE,   /**< dlt not one of DECAP_DLT_* above */
    DECAP_TRUNC_LINK,        /**< shorter than its Ethernet/SLL/SLL2/NULL header */
    DECAP_UNSUPP_ETHERTYPE,  /**< ARP, LLC, MPLS, an address family other than IP... */
    DECAP_TRUNC_VLAN,        /**< ends inside an 802.1Q tag */
    DECAP_TOO_DEEP,          /**< more than two VLAN tags or max_depth encapsulations */
    DECAP_TRUNC_IP4,         /**< shorter than the IPv4 header or its total length */
    DECAP_BAD_IP4,           /**< version, IHL < 5, total length < header */
    DECAP_BAD_IP4_CSUM,      /**< IPv4 header checksum */
    DECAP_TRUNC_IP6,         /**< shorter than the IPv6 header or its payload length */
    DECAP_BAD_IP6,           /**< version, payload length 0 (jumbogram) */
    DECAP_TRUNC_IP6_EXT,     /**< ends inside an extension header */
    DECAP_IP6_EXT_CHAIN,     /**< more than 8 extension headers, or hop-by-hop not first */
    DECAP_NOT_UDP,           /**< TCP, ICMP, ESP, no next header... */
    DECAP_TRUNC_UDP,         /**< shorter than 8 bytes or the UDP length */
    DECAP_BAD_UDP,           /**< UDP length < 8 */
    DECAP_BAD_FRAG,          /**< a non-final fragment not a multiple of 8 bytes, an
                                  empty one, one past or disagreeing with the final */
    DECAP_FRAG_DUP,          /**< the same bytes at the same offset again: ignored */
    DECAP_FRAG_OVERLAP,      /**< overlaps a held fragment: the datagram is dropped */
    DECAP_FRAG_TOO_BIG,      /**< reassembled it would exceed max_size (or 65535) */
    DECAP_FRAG_BUDGET,       /**< no slot, fragment list or bytes left: refused
                                  (and its datagram dropped: it can no longer complete) */
    DECAP_FRAG_TIMEOUT,      /**< never returned: counted per datagram that expired */
    DECAP_TRUNC_GRE,
    DECAP_BAD_GRE,           /**< version, routing or reserved flags */
    DECAP_BAD_GRE_CSUM,
    DECAP_UNSUPP_GRE_PROTO,
    DECAP_TRUNC_ERSPAN,
    DECAP_BAD_ERSPAN,        /**< header version, type III frame type */
    DECAP_TRUNC_VXLAN,
    DECAP_BAD_VXLAN,         /**< I flag clear */
    DECAP_VERDICTS
};

/** A static snake_case name ("udp", "trunc_ip4"...); "unknown" out of range. */
const char *decap_verdict_name(enum decap_verdict v);

/** Layers a datagram came through (struct decap_udp.path). */
enum decap_path {
    DECAP_P_VLAN = 1u << 0,     /**< at least one 802.1Q tag */
    DECAP_P_QINQ = 1u << 1,     /**< two tags (or an 0x88a8 S-tag) */
    DECAP_P_GRE = 1u << 2,
    DECAP_P_ERSPAN1 = 1u << 3,
    DECAP_P_ERSPAN2 = 1u << 4,
    DECAP_P_ERSPAN3 = 1u << 5,
    DECAP_P_VXLAN = 1u << 6,
    DECAP_P_IPIP = 1u << 7,     /**< IPv4 or IPv6 inside IP */
    DECAP_P_IP6EXT = 1u << 8,   /**< IPv6 extension headers skipped */
    DECAP_P_FRAG = 1u << 9,     /**< some IP layer was reassembled from fragments */
    DECAP_P_SLL = 1u << 10,     /**< Linux cooked capture, v1 or v2 */
};
#define DECAP_PATH_BITS 11
/** The name of one path bit ("vlan", "gre"...); "unknown" otherwise. */
const char *decap_path_name(enum decap_path bit);

/** A datagram: payload points into the frame or into reassembly memory that
 *  decap owns, valid until the next decap_frame or decap_destroy. */
struct decap_udp {
    const uint8_t *payload;
    size_t len;
    struct rec_flow src, dst; /**< the innermost IP's addresses (IPv4 v4-mapped),
                                   UDP ports; ssrc 0 */
    uint32_t path;            /**< enum decap_path bits */
    uint16_t vlan[2];         /**< VIDs of the innermost Ethernet's tags, outer first */
    uint8_t nvlan;            /**< how many of vlan[] are set */
    uint8_t depth;            /**< encapsulations below the outermost IP (0: plain) */
    uint32_t tunnel_id;       /**< innermost tunnel's VXLAN VNI, ERSPAN session
                                   id or GRE key (0: none) */
};

struct decap_cfg {
    size_t max_datagrams;     /**< reassemblies in flight; 0: 64 */
    size_t max_frags;         /**< fragments held per datagram; 0: 64 */
    size_t max_bytes;         /**< fragment bytes held in all; 0: 1 MiB */
    size_t max_size;          /**< reassembled IP payload; 0 or more than 65535: 65535 */
    uint64_t timeout_us;      /**< from a datagram's first fragment; 0: 5 s */
    unsigned max_depth;       /**< nested encapsulations; 0: 4 */
    uint16_t vxlan_port;      /**< UDP destination port of VXLAN; 0: 4789 */
};

/** Counters by verdict, then reassembly gauges. */
struct decap_stats {
    uint64_t verdicts[DECAP_VERDICTS]; /**< frames; FRAG_TIMEOUT: datagrams expired */
    uint64_t reassembled;              /**< datagrams completed from fragments */
    uint64_t frag_dropped;             /**< datagrams dropped (overlap, budget, bad, too big) */
    uint64_t frag_datagrams, frag_bytes; /**< gauges: in flight now */
};

struct decap;

/** SR_OK, SR_EINVAL (NULL out or cfg), SR_ENOMEM. */
enum sr_err decap_create(struct decap **out, const struct decap_cfg *cfg);
/** NULL-safe; frees held fragments. */
void decap_destroy(struct decap *d);

/** Decapsulate one frame of linktype dlt.  now_us: monotonic, microseconds;
 *  reassemblies older than timeout_us expire first.  *out is set only on
 *  DECAP_UDP.  Reads frame[0..len) and nothing else. */
enum decap_verdict decap_frame(struct decap *d, int dlt, const uint8_t *frame, size_t len,
                               uint64_t now_us, struct decap_udp *out);

/** Expire reassemblies older than timeout_us.  Returns the next expiry
 *  (monotonic us), UINT64_MAX when nothing is held. */
uint64_t decap_tick(struct decap *d, uint64_t now_us);

void decap_stats(const struct decap *d, struct decap_stats *out);

#endif
