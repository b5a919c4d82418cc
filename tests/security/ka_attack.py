#!/usr/bin/env python3
"""Connection-exhaustion attackers against the keyagent (issue 13, item 3).

ka_attack.py HOST PORT PKI SECONDS: for SECONDS, keep up to 1,000 idle TCP
connections, 100 slowloris TLS connections (the CA's intruder certificate,
one SUBSCRIBE byte every 0.5 s) and 100 TLS connections that send SUBSCRIBEs
and never read the 403s.  Closed connections are reopened (paced: a real
attacker retries).  Prints counts on exit.  Bounded: stops by itself."""
import select, socket, ssl, sys, time

host, port, pki, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(pki + "/ca.crt")
ctx.load_cert_chain(pki + "/intruder.crt", pki + "/intruder.key")

def sub(i, n):
    return ("SUBSCRIBE sips:%s:%d SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bK%d-%d\r\n"
            "From: <sip:intruder@example.net>;tag=%d\r\nTo: <sips:%s:%d>\r\nCall-ID: atk-%d-%d\r\n"
            "CSeq: %d SUBSCRIBE\r\nEvent: srtp\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            % (host, port, i, n, i, host, port, i, n, n + 1)).encode()

def tcp():
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex((host, port))
    return s

def tls():
    s = socket.create_connection((host, port), timeout=2)
    t = ctx.wrap_socket(s, server_hostname="keyagent.example")
    t.setblocking(False)
    return t

idle, slow, deaf = [], [], []
stats = {"idle_opened": 0, "slow_opened": 0, "deaf_opened": 0, "subscribes": 0, "errors": 0}
end = time.monotonic() + secs
tick = 0
while time.monotonic() < end:
    tick += 1
    # pace: at most 100 new idle and 10 new TLS connections per 50 ms round
    for _ in range(100):
        if len(idle) >= 1000:
            break
        try:
            idle.append(tcp()); stats["idle_opened"] += 1
        except OSError:
            stats["errors"] += 1; break
    for pool, key in ((slow, "slow_opened"), (deaf, "deaf_opened")):
        for _ in range(5):
            if len(pool) >= 100:
                break
            try:
                pool.append([tls(), 0]); stats[key] += 1
            except (OSError, ssl.SSLError):
                stats["errors"] += 1; break
    # drop what the keyagent closed (readable at EOF); idle ones never send
    for pool in (idle,):
        r, _, _ = select.select(pool, [], [], 0) if pool else ([], [], [])
        for s in r:
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    raise OSError
            except (OSError, BlockingIOError):
                pool.remove(s); s.close()
    for entry in list(slow):
        t, n = entry
        try:
            if tick % 10 == 0:
                t.send(sub(id(t) % 100000, 0)[n % 200:n % 200 + 1]); entry[1] += 1
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except OSError:
            slow.remove(entry); t.close()
    for entry in list(deaf):
        t, n = entry
        try:
            for _ in range(20):
                t.send(sub(id(t) % 100000, entry[1])); entry[1] += 1; stats["subscribes"] += 1
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except OSError:
            deaf.remove(entry); t.close()
    time.sleep(0.05)
print(" ".join("%s=%d" % kv for kv in sorted(stats.items())), flush=True)
