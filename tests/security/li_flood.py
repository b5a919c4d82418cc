#!/usr/bin/env python3
"""li_flood.py HOST PORT PKI N HOLD_S: one allow-listed lawful-intercept
subscriber (the CA's intruder certificate) tries to take every subscription
slot: N TLS connections, one SUBSCRIBE each.  Prints "ok=A busy=B other=C"
once every SUBSCRIBE is answered (200, 503, anything else), then keeps the
connections (answering NOTIFYs with 200) for HOLD_S seconds and exits.
Bounded: 5 s per answer, HOLD_S at the end."""
import select, socket, ssl, sys, time

host, port, pki, n, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(pki + "/ca.crt")
ctx.load_cert_chain(pki + "/intruder.crt", pki + "/intruder.key")

def subscribe(i):
    return ("SUBSCRIBE sips:%s:%d SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKli%d\r\n"
            "From: <sip:intruder@example.net>;tag=li%d\r\nTo: <sips:%s:%d>\r\nCall-ID: li-%d\r\n"
            "CSeq: 1 SUBSCRIBE\r\nEvent: srtp\r\nAccept: application/srtp-keys+xml\r\n"
            "Contact: <sips:li@127.0.0.1:1;transport=tls>\r\nExpires: 600\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n" % (host, port, i, i, host, port, i)).encode()

def answer_notifies(t, buf):
    """200 to every complete NOTIFY in buf; returns the rest."""
    while b"\r\n\r\n" in buf:
        head, rest = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith((b"content-length:", b"l:")):
                length = int(line.split(b":", 1)[1])
        if len(rest) < length:
            break
        buf = rest[length:]
        lines = head.split(b"\r\n")
        if lines[0].startswith(b"NOTIFY"):
            keep = [l for l in lines[1:] if l.lower().split(b":")[0] in (b"via", b"from", b"to", b"call-id", b"cseq")]
            t.sendall(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n")
    return buf

conns, counts = [], {"ok": 0, "busy": 0, "other": 0}
for i in range(n):
    try:
        s = socket.create_connection((host, port), timeout=5)
        t = ctx.wrap_socket(s, server_hostname="keyagent.example")
        t.settimeout(5)
        t.sendall(subscribe(i))
        data = b""
        while b"\r\n" not in data:
            chunk = t.recv(4096)
            if not chunk:
                break
            data += chunk
        code = data.split(b" ", 2)[1] if data.startswith(b"SIP/2.0 ") else b""
        counts["ok" if code == b"200" else "busy" if code == b"503" else "other"] += 1
        conns.append([t, data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""])
    except (OSError, ssl.SSLError):
        counts["other"] += 1
print("ok=%(ok)d busy=%(busy)d other=%(other)d" % counts, flush=True)
end = time.monotonic() + hold
for c in conns:
    c[0].setblocking(False)
while time.monotonic() < end and conns:
    r, _, _ = select.select([c[0] for c in conns], [], [], 0.1)
    for c in conns:
        if c[0] in r:
            try:
                chunk = c[0].recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            except OSError:
                chunk = b""
            if not chunk:
                conns.remove(c); c[0].close(); continue
            c[1] = answer_notifies(c[0], c[1] + chunk)
