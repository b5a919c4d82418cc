#!/usr/bin/python3
"""A small client of rtpengine's ng control protocol, for tools/bench_peer_rtpengine.sh.

The ng protocol is a cookie, a space and a bencoded dictionary over UDP; the
reply carries the same cookie.  Subcommands:

  setup  --ng IP:PORT --streams N --sink IP:PORT --out FILE [--suite S]
         One rtpengine call per stream: an offer from "A" (RTP/SAVP, SDES
         a=crypto under a fresh random master key) asking rtpengine to offer
         plain RTP/AVP to "B", then B's plain answer whose address is the
         sink.  rtpengine therefore decrypts what A sends to the port it
         allocated for A and forwards plain RTP to the sink.  FILE gets one
         line per stream: hex master key (16 + 14 bytes), the ip:port where
         A must send, the call-id (mode 0600: the keys are in it).
  totals --ng IP:PORT --in FILE
         Queries every call (ng "query") and prints packets=N bytes=N
         errors=N summed over what rtpengine received from the A side.
  delete --ng IP:PORT --in FILE
         Deletes every call (a benchmark must leave nothing behind).
  ping   --ng IP:PORT [--wait SECONDS]
         Until rtpengine answers "pong" (exit 1 if it does not in time).
  sink   --listen IP:PORT --stop-file F --out FILE
         Receives and counts datagrams until F exists (then drains 0.5 s);
         writes packets=N to FILE.

Standard library only; run with /usr/bin/python3 or any python3.
"""
import argparse
import base64
import os
import select
import socket
import sys
import time


def bencode(v):
    if isinstance(v, bytes):
        return str(len(v)).encode() + b":" + v
    if isinstance(v, str):
        return bencode(v.encode())
    if isinstance(v, bool):
        raise TypeError("bencode: no booleans")
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, (list, tuple)):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        out = b"d"
        for k in sorted(v, key=lambda s: s.encode() if isinstance(s, str) else s):
            out += bencode(k) + bencode(v[k])
        return out + b"e"
    raise TypeError("bencode: %r" % type(v))


def bdecode(b, i=0):
    """Returns (value, next index); strings come back as str when UTF-8."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while b[i:i + 1] != b"e":
            x, i = bdecode(b, i)
            out.append(x)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while b[i:i + 1] != b"e":
            k, i = bdecode(b, i)
            out[k], i = bdecode(b, i)
        return out, i + 1
    if c.isdigit():
        j = b.index(b":", i)
        n = int(b[i:j])
        s = b[j + 1:j + 1 + n]
        if len(s) != n:
            raise ValueError("bdecode: short string")
        try:
            return s.decode(), j + 1 + n
        except UnicodeDecodeError:
            return s, j + 1 + n
    raise ValueError("bdecode: unexpected %r at %d" % (c, i))


def hostport(s):
    h, _, p = s.rpartition(":")
    return h, int(p)


class Ng:
    def __init__(self, addr, timeout=5.0):
        self.addr = hostport(addr)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.n = 0

    def call(self, cmd):
        """One request, retried twice on a lost datagram (rtpengine caches
        replies by cookie, so a retry is not a second command)."""
        self.n += 1
        cookie = b"%d_%d" % (os.getpid(), self.n)
        msg = cookie + b" " + bencode(cmd)
        for _ in range(3):
            self.sock.sendto(msg, self.addr)
            try:
                while True:
                    data = self.sock.recv(65536)
                    c, _, body = data.partition(b" ")
                    if c == cookie:
                        reply, _ = bdecode(body)
                        return reply
            except socket.timeout:
                continue
        raise RuntimeError("ng: no reply to %s" % cmd.get("command"))


def sdp(port, proto, crypto=None, direction="sendonly"):
    lines = [
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
        "m=audio %d %s 0" % (port, proto), "a=rtpmap:0 PCMU/8000", "a=" + direction,
    ]
    if crypto:
        lines.append("a=crypto:1 %s inline:%s" % crypto)
    return "\r\n".join(lines) + "\r\n"


def sdp_port(text):
    for line in text.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise ValueError("no m=audio in rtpengine's SDP")


def check(reply, what):
    if reply.get("result") != "ok":
        raise RuntimeError("%s: %s" % (what, reply.get("error-reason", reply)))
    return reply


def cmd_setup(a):
    ng = Ng(a.ng)
    sink_ip, sink_port = hostport(a.sink)
    rows = []
    tag = "%x" % int(time.time() * 1000)
    for j in range(a.streams):
        master = os.urandom(30)
        cid = "bench-%s-%d" % (tag, j)
        offer = check(ng.call({
            "command": "offer", "call-id": cid, "from-tag": "a%d" % j,
            # The port A says it receives on: nothing is sent to A (B is silent).
            "sdp": sdp(9, "RTP/SAVP", (a.suite, base64.b64encode(master).decode())),
            "transport-protocol": "RTP/AVP", "ICE": "remove",
        }), "offer %d" % j)
        sdp_port(offer["sdp"])  # rtpengine's port for B: B never sends
        answer = check(ng.call({
            "command": "answer", "call-id": cid, "from-tag": "a%d" % j, "to-tag": "b%d" % j,
            "sdp": sdp(sink_port, "RTP/AVP", direction="recvonly").replace(
                "c=IN IP4 127.0.0.1", "c=IN IP4 " + sink_ip),
            "ICE": "remove",
        }), "answer %d" % j)
        rows.append("%s\t127.0.0.1:%d\t%s\n" % (master.hex(), sdp_port(answer["sdp"]), cid))
    fd = os.open(a.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(rows)
    return 0


def read_calls(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t")[2] for line in f if line.strip()]


def stream_totals(reply):
    """Packets, bytes, errors that rtpengine received from tag a* (A)."""
    p = b = e = 0
    for tag, t in reply.get("tags", {}).items():
        if not str(tag).startswith("a"):
            continue
        for m in t.get("medias", []):
            for s in m.get("streams", []):
                st = s.get("stats", {})
                p += st.get("packets", 0)
                b += st.get("bytes", 0)
                e += st.get("errors", 0)
    return p, b, e


def cmd_totals(a):
    ng = Ng(a.ng)
    p = b = e = 0
    for cid in read_calls(a.inp):
        r = check(ng.call({"command": "query", "call-id": cid}), "query " + cid)
        dp, db, de = stream_totals(r)
        p, b, e = p + dp, b + db, e + de
    print("packets=%d bytes=%d errors=%d" % (p, b, e))
    return 0


def cmd_delete(a):
    ng = Ng(a.ng)
    bad = 0
    for cid in read_calls(a.inp):
        if ng.call({"command": "delete", "call-id": cid}).get("result") != "ok":
            bad += 1
    if bad:
        print("delete: %d calls not deleted" % bad, file=sys.stderr)
    return 1 if bad else 0


def cmd_ping(a):
    deadline = time.monotonic() + a.wait
    while time.monotonic() < deadline:
        try:
            if Ng(a.ng, timeout=0.2).call({"command": "ping"}).get("result") == "pong":
                return 0
        except (RuntimeError, OSError):
            time.sleep(0.1)
    return 1


def cmd_sink(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # root: past rmem_max; the sink must not be where packets are lost
        s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    s.bind(hostport(a.listen))
    s.setblocking(False)
    buf = bytearray(2048)
    n = 0
    stop_at = None
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        if stop_at is None and os.path.exists(a.stop_file):
            stop_at = time.monotonic() + 0.5
        if stop_at is not None and time.monotonic() > stop_at:
            break
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            continue
        try:
            while True:
                s.recv_into(buf)
                n += 1
        except BlockingIOError:
            pass
    with open(a.out, "w") as f:
        f.write("packets=%d\n" % n)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--ng", required=True)
    s.add_argument("--streams", type=int, required=True)
    s.add_argument("--sink", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--suite", default="AES_CM_128_HMAC_SHA1_80")
    for name in ("totals", "delete"):
        s = sub.add_parser(name)
        s.add_argument("--ng", required=True)
        s.add_argument("--in", dest="inp", required=True)
    s = sub.add_parser("ping")
    s.add_argument("--ng", required=True)
    s.add_argument("--wait", type=float, default=10)
    s = sub.add_parser("sink")
    s.add_argument("--listen", required=True)
    s.add_argument("--stop-file", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--max-seconds", type=float, default=600)
    a = p.parse_args()
    return {"setup": cmd_setup, "totals": cmd_totals, "delete": cmd_delete, "ping": cmd_ping,
            "sink": cmd_sink}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
