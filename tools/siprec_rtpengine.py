#!/usr/bin/python3
"""rtpengine as a SIPREC recording client of srtprec-recorder (issue 15 item 5).

One call, end to end, on loopback:

  1. An SDES-SRTP call through rtpengine over its ng protocol: A offers
     RTP/SAVP with a fresh a=crypto key, B answers RTP/SAVP with its own.
  2. ng "subscribe request" with the "all" and "SIPREC" flags and
     transport-protocol RTP/SAVP: rtpengine's recording offer, one m= line
     per party (a=label, a=crypto under keys rtpengine generates).
  3. That SDP goes to srtprec in a SIPREC INVITE (multipart/mixed with RFC
     7865 metadata naming each label's party) over mutual TLS (Python's
     ssl, the SRC's client certificate); srtprec's 200 OK answer goes back
     to rtpengine as ng "subscribe answer"; ACK.
  4. ffmpeg sends each party's audio (PCMU, raw mu-law files made here:
     distinct tones) as SRTP under that party's key, 20 ms packets, to the
     port rtpengine gave it; rtpengine forks both to srtprec, re-encrypted.
  5. BYE to srtprec, ng "delete".

--out DIR gets <party>.ul (the payload bytes each party's tone is made of) and
manifest.tsv: party, aor, label, file.  Each party sends PREAMBLE_MS of
another tone before its <party>.ul: rtpengine 10.5 now and then does not
fork a stream's first packet to its subscriber (seen in about one run in
three under load: the recorder got 146 samples fewer of one party, counted
as received by rtpengine), and the test compares what follows, bit-exact.
Standard library plus ffmpeg.

usage: siprec_rtpengine.py --ng IP:PORT --srs IP:PORT --cert C --key K --ca CA
                           --out DIR [--duration-ms N]
"""
import argparse
import base64
import math
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtpengine_ng import Ng, check  # noqa: E402

PARTIES = (("caller", "sip:alice@callcentre.example", 697.0),
           ("called", "sip:bob@pstn.example", 1209.0))


def ulaw(sample):
    """G.711 mu-law of a 16-bit sample (the Sun reference algorithm)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


PREAMBLE_MS = 200


def tone(hz, ms):
    return bytes(ulaw(int(9000 * math.sin(2 * math.pi * hz * i / 8000.0))) for i in range(8 * ms))


def tone_file(path, hz, ms):
    """path: the tone; path + ".lead": a preamble of another tone; path + ".send": both."""
    data = tone(hz, ms)
    with open(path, "wb") as f:
        f.write(data)
    pre = tone(hz * 2 + 170, PREAMBLE_MS)
    with open(path + ".lead", "wb") as f:
        f.write(pre)
    with open(path + ".send", "wb") as f:
        f.write(pre + data)


def sdp(port, key):
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n"
            % (port, base64.b64encode(key).decode()))


def sdp_port(text):
    for line in text.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise ValueError("no m=audio in:\n" + text)


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def metadata(call_id, labels):
    """RFC 7865: one session, a participant per party, its stream by label."""
    parts, streams, assoc = [], [], []
    for i, (name, aor, label) in enumerate(labels):
        pid = base64.b64encode(("p-" + name).encode()).decode()
        sid = base64.b64encode(("s-" + label).encode()).decode()
        parts.append('<participant participant_id="%s"><nameID aor="%s"><name>%s</name>'
                     '</nameID></participant>' % (pid, aor, name))
        streams.append('<stream stream_id="%s" session_id="c2Vzcw=="><label>%s</label></stream>'
                       % (sid, label))
        assoc.append('<participantstreamassoc participant_id="%s"><send>%s</send>'
                     '</participantstreamassoc>' % (pid, sid))
    return ('<?xml version="1.0" encoding="UTF-8"?>\r\n'
            '<recording xmlns="urn:ietf:params:xml:ns:recording:1">'
            '<datamode>complete</datamode>'
            '<session session_id="c2Vzcw=="><sipSessionID>%s</sipSessionID></session>%s%s%s'
            '</recording>\r\n' % (call_id, "".join(parts), "".join(streams), "".join(assoc)))


class Sip:
    """Just enough SIP over one TLS connection: requests out, responses in."""

    def __init__(self, srs, cert, key, ca):
        host, port = srs.rsplit(":", 1)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ctx.check_hostname = False  # the SRS is pinned by the CA (its SAN is a SIP URI)
        raw = socket.create_connection((host, int(port)), timeout=10)
        self.local = "127.0.0.1:%d" % raw.getsockname()[1]
        self.s = ctx.wrap_socket(raw)
        self.buf = b""
        self.branch = 0

    def send(self, method, call_id, from_tag, to_tag, cseq, extra=(), ctype=None, body=b""):
        self.branch += 1
        lines = ["%s sip:srs@127.0.0.1 SIP/2.0" % method,
                 "Via: SIP/2.0/TLS %s;branch=z9hG4bK%s%d" % (self.local, from_tag, self.branch),
                 "Max-Forwards: 70",
                 "From: <sip:rtpengine-src@example.net>;tag=" + from_tag,
                 "To: <sip:srs@example.net>" + (";tag=" + to_tag if to_tag else ""),
                 "Call-ID: " + call_id, "CSeq: %d %s" % (cseq, method),
                 "Contact: <sip:src@%s;transport=tls>;+sip.src" % self.local]
        lines += list(extra)
        if ctype:
            lines.append("Content-Type: " + ctype)
        lines.append("Content-Length: %d" % len(body))
        self.s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def response(self):
        """The next final response: (status, headers dict lower-case, body)."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                d = self.s.recv(65536)
                if not d:
                    raise RuntimeError("SRS closed the connection")
                self.buf += d
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            hl = head.decode().split("\r\n")
            hdrs = {}
            for h in hl[1:]:
                k, _, v = h.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            n = int(hdrs.get("content-length", "0"))
            while len(rest) < n:
                d = self.s.recv(65536)
                if not d:
                    raise RuntimeError("SRS closed the connection")
                rest += d
            self.buf = rest[n:]
            status = int(hl[0].split()[1])
            if status >= 200:
                return status, hdrs, rest[:n].decode()


def ffmpeg_send(src, key, to_port, local_port):
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "mulaw", "-ar", "8000",
         "-ac", "1", "-i", src, "-c:a", "copy", "-payload_type", "0",
         "-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80",
         "-srtp_out_params", base64.b64encode(key).decode(), "-f", "rtp",
         "-sdp_file", os.devnull,
         "srtp://127.0.0.1:%d?localport=%d&pkt_size=172" % (to_port, local_port)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ng", required=True)
    ap.add_argument("--srs", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration-ms", type=int, default=2000)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ng = Ng(a.ng)
    cid = "rtpe-%s" % uuid.uuid4().hex[:12]
    ka, kb = os.urandom(30), os.urandom(30)
    pa, pb = free_udp_port(), free_udp_port()

    offer = check(ng.call({"command": "offer", "call-id": cid, "from-tag": "tagA",
                           "sdp": sdp(pa, ka), "ICE": "remove"}), "offer")
    to_b = sdp_port(offer["sdp"])           # where B sends (rtpengine's side towards B)
    answer = check(ng.call({"command": "answer", "call-id": cid, "from-tag": "tagA",
                            "to-tag": "tagB", "sdp": sdp(pb, kb), "ICE": "remove"}), "answer")
    to_a = sdp_port(answer["sdp"])          # where A sends

    sub = check(ng.call({"command": "subscribe request", "call-id": cid,
                         "flags": ["all", "SIPREC"], "transport-protocol": "RTP/SAVP",
                         "ICE": "remove"}), "subscribe request")
    rec_sdp, sub_tag = sub["sdp"], sub["to-tag"]
    labels = []
    for tm in sub.get("tag-medias", []):
        party = PARTIES[0] if tm.get("tag") == "tagA" else PARTIES[1]
        for m in tm.get("medias", []):
            labels.append((party[0], party[1], str(m.get("label"))))
    if len(labels) != 2:
        raise RuntimeError("subscribe request: expected two labelled medias, got %r" % sub)

    sip = Sip(a.srs, a.cert, a.key, a.ca)
    boundary = "rtpe-siprec-boundary"
    body = ("--%s\r\nContent-Type: application/sdp\r\n\r\n%s\r\n--%s\r\n"
            "Content-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session"
            "\r\n\r\n%s\r\n--%s--\r\n" % (boundary, rec_sdp, boundary, metadata(cid, labels),
                                          boundary)).encode()
    sip.send("INVITE", cid, "srcTag", None, 1, ["Require: siprec", "Supported: timer"],
             "multipart/mixed;boundary=\"%s\"" % boundary, body)
    status, hdrs, answer_sdp = sip.response()
    print("INVITE: %d" % status)
    if status != 200:
        print("warning: %s" % hdrs.get("warning", ""))
        return 1
    srs_tag = hdrs["to"].split("tag=")[1].split(";")[0]
    sip.send("ACK", cid, "srcTag", srs_tag, 1)
    check(ng.call({"command": "subscribe answer", "call-id": cid, "to-tag": sub_tag,
                   "sdp": answer_sdp, "ICE": "remove"}), "subscribe answer")

    files = {}
    for name, aor, hz in PARTIES:
        files[name] = os.path.join(a.out, name + ".ul")
        tone_file(files[name], hz, a.duration_ms)
    procs = [ffmpeg_send(files["caller"] + ".send", ka, to_a, pa),
             ffmpeg_send(files["called"] + ".send", kb, to_b, pb)]
    rc = 0
    for p in procs:
        rc |= p.wait(timeout=a.duration_ms / 1000.0 + 30)
    time.sleep(0.5)
    q = check(ng.call({"command": "query", "call-id": cid}), "query")
    sip.send("BYE", cid, "srcTag", srs_tag, 2)
    status, _, _ = sip.response()
    print("BYE: %d" % status)
    check(ng.call({"command": "delete", "call-id": cid}), "delete")
    with open(os.path.join(a.out, "manifest.tsv"), "w") as f:
        f.write("party\taor\tlabel\tfile\n")
        for name, aor, label in labels:
            f.write("%s\t%s\t%s\t%s.ul\n" % (name, aor, label, name))
    with open(os.path.join(a.out, "query.txt"), "w") as f:
        f.write(repr(q))
    print("call-id %s" % cid)
    return 0 if rc == 0 and status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
