#!/usr/bin/python3
"""Write pcap files of UDP datagrams in every encapsulation srtprec's
decapsulation handles (recorder/decap.h, docs/capture.md), each with a JSON
sidecar of what decap must make of every frame.  Built with scapy (Debian
python3-scapy), an implementation independent of decap.c.

    gen_pcaps.py OUTDIR [--payloads FILE] [--src4 A --dst4 B --src6 A --dst6 B
                        --sport N --dport N] [--corpus DIR] [--stamp FILE]

OUTDIR/<case>.pcap and OUTDIR/<case>.json for each case below.  --payloads:
a file of datagram payloads, one hex string per line (for instance SRTP
packets a test made with a known key); by default, RTP-shaped payloads of
varying length.  Every case carries all the payloads, in order, from
(src, sport) to (dst, dport) -- IPv4 or IPv6 addresses as the case says --
so a replay (srtprec-recorder --capture-file) must record each of them once
per time it appears as "udp" below.  Frames are 20 ms apart from
2026-01-01T00:00:00Z.  --corpus DIR also writes one libFuzzer seed per case
in tests/fuzz/fuzz_decap.c's record format, and three fragment sequences
for its reassembly limits (frag_overlap, frag_timeout, frag_budget).

Cases: plain (Ethernet IPv4), plain6 (Ethernet IPv6), vlan (802.1Q), qinq
(802.1ad S-tag + 802.1Q C-tag), sll (Linux cooked v1, IPv4), sll2 (Linux
cooked v2, IPv6), gre (GRE carrying IPv4), gre_teb (GRE with checksum, key
and sequence carrying Ethernet), erspan2 (type II, inner 802.1Q), erspan3
(type III), vxlan (UDP 4789, inner IPv6), ip6ext (hop-by-hop, routing and
destination options), ip4frag and ip6frag (every datagram in fragments, odd
ones in reverse order, the first fragment of the first datagram twice:
"frag_dup"), dup (every frame twice, as a mirror port showing ingress and
egress: both are "udp"; telling them apart is the engine's job), noise
(ARP, TCP and ICMP between the datagrams: refused, counted).

The sidecar: {"linktype": N, "frames": [{"verdict": NAME, and for "udp":
"src", "sport", "dst", "dport", "payload" (hex), "path" (decap_path_name
list), "vlan" (list, outer first), "tunnel_id"}]}.
"""
import argparse
import json
import os
import struct
import sys

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, fragment,
                       fragment6)
from scapy.layers.inet6 import PadN
from scapy.layers.l2 import GRE, CookedLinux, CookedLinuxV2
from scapy.layers.vxlan import VXLAN
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III

T0 = 1767225600  # 2026-01-01T00:00:00Z
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
TAP4_A, TAP4_B = "203.0.113.1", "203.0.113.2"        # a mirror's tunnel endpoints
TAP6_A, TAP6_B = "2001:db8:ffff::1", "2001:db8:ffff::2"
LINKTYPES = {"en10mb": 1, "sll": 113, "sll2": 276}
FUZZ_DLT = {1: 0, 113: 1, 276: 2}  # index in fuzz_decap.c's dlts[]


def default_payloads():
    out = []
    for i in range(12):
        n = 40 + 37 * i  # 40..447 bytes: every one long enough to fragment below
        hdr = struct.pack("!BBHII", 0x80, 0, 1000 + i, 160 * i, 0x1234abcd)
        out.append(hdr + bytes((i * 31 + j) & 0xff for j in range(n - len(hdr))))
    return out


class Case:
    def __init__(self, name, linktype="en10mb"):
        self.name, self.linktype, self.frames, self.expect = name, LINKTYPES[linktype], [], []

    def add(self, frame, verdict, **exp):
        self.frames.append(bytes(frame))
        self.expect.append(dict(verdict=verdict, **exp))


def udp_expect(f, payload, v6, path=(), vlan=(), tunnel_id=0):
    src, dst = (f.src6, f.dst6) if v6 else (f.src4, f.dst4)
    return dict(src=src, sport=f.sport, dst=dst, dport=f.dport, payload=payload.hex(),
                path=sorted(path), vlan=list(vlan), tunnel_id=tunnel_id)


def inner(f, payload, v6, ident=1):
    ip = IPv6(src=f.src6, dst=f.dst6) if v6 else IP(src=f.src4, dst=f.dst4, id=ident)
    return ip / UDP(sport=f.sport, dport=f.dport) / payload


def simple(name, f, payloads, wrap, v6=False, path=(), vlan=(), tunnel_id=0, linktype="en10mb"):
    c = Case(name, linktype)
    for p in payloads:
        c.add(wrap(inner(f, p, v6)), "udp", **udp_expect(f, p, v6, path, vlan, tunnel_id))
    return c


def eth(pkt, v6=False):
    return Ether(src=MAC_A, dst=MAC_B, type=0x86DD if v6 else 0x0800) / pkt


def outer4(proto_pkt):
    return Ether(src=MAC_A, dst=MAC_B) / IP(src=TAP4_A, dst=TAP4_B) / proto_pkt


def frag_case(name, f, payloads, v6):
    c = Case(name)
    for i, p in enumerate(payloads):
        pkt = inner(f, p, v6, 0x100 + i)
        size = max(16, (len(p) // 2) // 8 * 8)
        if v6:
            pkt = IPv6(src=f.src6, dst=f.dst6) / IPv6ExtHdrFragment(id=0x10000 + i) / \
                UDP(sport=f.sport, dport=f.dport) / p
            frags = fragment6(pkt, size + 48 + 8)
        else:
            frags = fragment(pkt, fragsize=size)
        if len(frags) < 2:
            sys.exit(f"gen_pcaps: {name}: payload {i} of {len(p)} bytes did not fragment")
        if i % 2:
            frags = list(reversed(frags))
        for j, fr in enumerate(frags):
            frame = eth(fr, v6)
            if j == len(frags) - 1:
                c.add(frame, "udp", **udp_expect(f, p, v6, ["frag"] + (["ip6ext"] if v6 else [])))
            else:
                c.add(frame, "need_more")
            if i == 0 and j == 0:
                c.add(frame, "frag_dup")
    return c


def cases(f, payloads):
    yield simple("plain", f, payloads, eth)
    yield simple("plain6", f, payloads, lambda p: eth(p, True), v6=True)
    yield simple("vlan", f, payloads, lambda p: Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=100) / p,
                 path=["vlan"], vlan=[100])
    yield simple("qinq", f, payloads,
                 lambda p: Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / p,
                 path=["vlan", "qinq"], vlan=[10, 20])
    yield simple("sll", f, payloads, lambda p: CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6,
                                                           proto=0x0800) / p,
                 path=["sll"], linktype="sll")
    yield simple("sll2", f, payloads, lambda p: CookedLinuxV2(proto=0x86DD, ifindex=1,
                                                              lladdrtype=772, pkttype=0) / p,
                 v6=True, path=["sll"], linktype="sll2")
    yield simple("gre", f, payloads, lambda p: outer4(GRE(proto=0x0800) / p), path=["gre"])
    yield simple("gre_teb", f, payloads,
                 lambda p: outer4(GRE(chksum_present=1, key_present=1, seqnum_present=1, key=0xabcd,
                                      seqence_number=7, proto=0x6558) / eth(p)),
                 path=["gre"], tunnel_id=0xabcd)
    yield simple("erspan2", f, payloads,
                 lambda p: outer4(GRE(seqnum_present=1, proto=0x88BE) / ERSPAN_II(ver=1, session_id=321) /
                                  Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=55) / p),
                 path=["gre", "erspan2", "vlan"], vlan=[55], tunnel_id=321)
    yield simple("erspan3", f, payloads,
                 lambda p: outer4(GRE(seqnum_present=1, proto=0x22EB) / ERSPAN_III(session_id=777) / eth(p)),
                 path=["gre", "erspan3"], tunnel_id=777)
    yield simple("vxlan", f, payloads,
                 lambda p: outer4(UDP(sport=49152, dport=4789) / VXLAN(vni=0x1234, flags=0x08) / eth(p, True)),
                 v6=True, path=["vxlan"], tunnel_id=0x1234)
    yield simple("ip6ext", f, payloads,
                 lambda p: eth(IPv6(src=f.src6, dst=f.dst6) / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)]) /
                               IPv6ExtHdrRouting(addresses=[], segleft=0) /
                               IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 12)]) / p[UDP], True),
                 v6=True, path=["ip6ext"])
    yield frag_case("ip4frag", f, payloads, False)
    yield frag_case("ip6frag", f, payloads, True)
    c = Case("dup")
    for p in payloads:
        for _ in range(2):
            c.add(eth(inner(f, p, False)), "udp", **udp_expect(f, p, False))
    yield c
    c = Case("noise")
    for i, p in enumerate(payloads):
        noise = [(Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=f.src4, pdst=f.dst4), "unsupp_ethertype"),
                 (eth(IP(src=f.src4, dst=f.dst4) / TCP(sport=5060, dport=5060) / b"INVITE"), "not_udp"),
                 (eth(IP(src=f.src4, dst=f.dst4) / ICMP() / b"ping"), "not_udp")][i % 3]
        c.add(noise[0], noise[1])
        c.add(eth(inner(f, p, False)), "udp", **udp_expect(f, p, False))
    yield c


def write(outdir, corpus, c):
    path = os.path.join(outdir, c.name + ".pcap")
    with open(path, "wb") as w:  # classic pcap, microsecond timestamps
        w.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, c.linktype))
        for i, fr in enumerate(c.frames):
            us = i * 20000
            w.write(struct.pack("<IIII", T0 + us // 1000000, us % 1000000, len(fr), len(fr)) + fr)
    with open(os.path.join(outdir, c.name + ".json"), "w") as j:
        json.dump({"linktype": c.linktype, "frames": c.expect}, j, indent=1)
    if corpus:
        with open(os.path.join(corpus, c.name), "wb") as s:
            for fr in c.frames[:6]:
                s.write(struct.pack("!BBH", FUZZ_DLT[c.linktype], 1, len(fr)) + fr)


def fuzz_seeds(corpus, f, payloads):
    """Fragment sequences for fuzz_decap's reassembly limits (4 datagrams,
    8 fragments each, 50 ms): an overlap, a timeout, a full table."""
    p = payloads[-1]
    frags = fragment(inner(f, p, False, 0x200), fragsize=16)
    def rec(frame, step=1):
        frame = bytes(frame)
        return struct.pack("!BBH", FUZZ_DLT[1], step, len(frame)) + frame
    over = IP(bytes(frags[1]))
    over.frag -= 1
    del over.chksum
    seeds = {
        "frag_overlap": rec(eth(frags[0])) + rec(eth(over)) + rec(eth(frags[1])),
        "frag_timeout": rec(eth(frags[0])) + rec(eth(frags[1]), 60) + rec(eth(frags[-1])),
        "frag_budget": b"".join(rec(eth(fragment(inner(f, p, False, 0x300 + i), fragsize=16)[0]))
                                for i in range(6)) + b"".join(rec(eth(x)) for x in frags),
    }
    for name, data in seeds.items():
        with open(os.path.join(corpus, name), "wb") as fp:
            fp.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--payloads")
    ap.add_argument("--src4", default="192.0.2.1")
    ap.add_argument("--dst4", default="198.51.100.7")
    ap.add_argument("--src6", default="2001:db8::1")
    ap.add_argument("--dst6", default="2001:db8::ab:2")
    ap.add_argument("--sport", type=int, default=5004)
    ap.add_argument("--dport", type=int, default=6006)
    ap.add_argument("--corpus")
    ap.add_argument("--stamp")
    f = ap.parse_args()
    if f.payloads:
        with open(f.payloads) as fp:
            payloads = [bytes.fromhex(line.strip()) for line in fp if line.strip()]
        if not payloads or min(map(len, payloads)) < 16:
            sys.exit("gen_pcaps: --payloads needs datagrams of at least 16 bytes (they are fragmented)")
    else:
        payloads = default_payloads()
    os.makedirs(f.outdir, exist_ok=True)
    if f.corpus:
        os.makedirs(f.corpus, exist_ok=True)
    names = []
    for c in cases(f, payloads):
        write(f.outdir, f.corpus, c)
        names.append(c.name)
    if f.corpus:
        fuzz_seeds(f.corpus, f, payloads)
    if f.stamp:
        with open(f.stamp, "w") as s:
            s.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main()
