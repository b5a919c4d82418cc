#!/usr/bin/env python3
"""tls_probe.py HOST PORT CA CERT KEY: one SUBSCRIBE to the keyagent over
mutual TLS with the given client certificate.  Prints the SIP status code of
the answer ("200", "403", ...) or "refused" when the keyagent ended the TLS
session instead (handshake alert, or closed before any answer: with TLS 1.3
the client learns of a refused certificate only on its first read).  Bounded:
a 5 s timeout on every step."""
import socket, ssl, sys

host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
msg = ("SUBSCRIBE sips:%s:%d SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKprobe1\r\n"
       "From: <sip:recorder@example.net>;tag=probe\r\nTo: <sips:%s:%d>\r\nCall-ID: probe-1\r\n"
       "CSeq: 1 SUBSCRIBE\r\nEvent: srtp\r\nAccept: application/srtp-keys+xml\r\n"
       "Contact: <sips:probe@127.0.0.1:1;transport=tls>\r\nExpires: 60\r\nMax-Forwards: 70\r\n"
       "Content-Length: 0\r\n\r\n" % (host, port, host, port)).encode()
try:
    with socket.create_connection((host, port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="keyagent.example") as t:
            t.settimeout(5)
            t.sendall(msg)
            data = b""
            while b"\r\n" not in data:
                chunk = t.recv(4096)
                if not chunk:
                    break
                data += chunk
except (ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
    print("refused (%s)" % e)
    sys.exit(0)
line = data.split(b"\r\n", 1)[0].decode("ascii", "replace")
parts = line.split(" ")
print(parts[1] if len(parts) > 2 and parts[0] == "SIP/2.0" else "refused (closed: %r)" % line)
