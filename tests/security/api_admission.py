#!/usr/bin/env python3
"""Attacks on srtprec-api's admission and exports (issue 13 items 3 and 9).

  api_admission.py PORT CA TOKEN_A TOKEN_B ID MODE
MODE slowloris: 4 addresses (127.0.0.2-5) x 16 TLS connections trickling one
  header byte a second, plus 16 idle TCP connections from 127.0.0.6, while
  the auditor on 127.0.0.1 (TOKEN_B) asks for metadata: each answer within
  BOUND_S.  MODE slowexport: 8 exports by TOKEN_A read at ~4 KiB/s while
  TOKEN_B's metadata requests each answer within 100 ms.
Prints TAP lines (no plan; the shell script counts).  Bounded: every socket
has a timeout and every loop a count.
"""
import socket, ssl, sys, threading, time

port, ca, tok_a, tok_b, rid, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
port = int(port)
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
n = 0
failed = 0

def ok(cond, what):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, what), flush=True)
    if not cond:
        failed += 1

def tls(src="127.0.0.1", timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
    return ctx.wrap_socket(s)

def get(path, tok, timeout=5.0):
    """One GET on a fresh connection: (status, seconds)."""
    t0 = time.monotonic()
    s = tls(timeout=timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n"
               % (path, tok)).encode())
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    # the whole body: metadata is small
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
    s.close()
    dt = time.monotonic() - t0
    try:
        return int(data.split(b" ", 2)[1]), dt
    except (IndexError, ValueError):
        return 0, dt

class KeepAlive:
    """One TLS connection reused for every request, so the timing measures
    the server's answer, not a handshake."""
    def __init__(self, tok):
        self.tok, self.s, self.buf = tok, tls(timeout=5.0), b""
    def get(self, path):
        t0 = time.monotonic()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                        % (path, self.tok)).encode())
        while b"\r\n\r\n" not in self.buf and len(self.buf) < 65536:
            chunk = self.s.recv(4096)
            if not chunk:
                return 0, time.monotonic() - t0
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(rest) < length:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.buf = rest[length:]
        return int(head.split(b" ", 2)[1]), time.monotonic() - t0

stop = threading.Event()

def trickler(src, held):
    """One slowloris connection: reconnects when closed, one byte a second."""
    req = b"GET /v1/recordings HTTP/1.1\r\nHost: x\r\nX-a: " + b"a" * 200
    for _ in range(100):  # bounded reconnects
        if stop.is_set():
            return
        try:
            s = tls(src, timeout=3.0)
        except OSError:
            time.sleep(0.2)
            continue
        try:
            for i in range(len(req)):
                if stop.is_set():
                    break
                s.send(req[i:i + 1])
                held[0] += 1
                time.sleep(1.0)
        except OSError:
            pass
        finally:
            s.close()

def idler(src):
    for _ in range(100):
        if stop.is_set():
            return
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(src, 0))
            s.recv(1)  # returns when the server closes it
            s.close()
        except OSError:
            time.sleep(0.2)

if mode == "slowloris":
    bound = 2.0
    held = [0]
    threads = []
    for a in range(2, 6):
        for _ in range(16):
            threads.append(threading.Thread(target=trickler, args=("127.0.0.%d" % a, held), daemon=True))
    for _ in range(16):
        threads.append(threading.Thread(target=idler, args=("127.0.0.6",), daemon=True))
    for t in threads:
        t.start()
    time.sleep(2.0)  # the flood is in place
    worst, codes = 0.0, []
    for i in range(8):  # 8 requests over ~8 s: across header-timeout expiries
        code, dt = get("/v1/recordings/" + rid, tok_b, timeout=bound + 3)
        codes.append(code)
        worst = max(worst, dt)
        time.sleep(1.0)
    ok(all(c == 200 for c in codes), "auditor's metadata requests during the flood: all 200 (%s)" % codes)
    ok(worst < bound, "each within %.1f s (worst %.3f s)" % (bound, worst))
    ok(held[0] > 0, "the flood was sending (%d header bytes)" % held[0])
    stop.set()
elif mode == "slowexport":
    started = []
    def slow_export():
        try:
            s = tls(timeout=30)
            s.sendall(("GET /v1/recordings/%s/export.wav HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\nConnection: close\r\n\r\n" % (rid, tok_a)).encode())
            got = 0
            for _ in range(150):  # ~15 s at most, 4 KiB a tenth of a second at most
                if stop.is_set():
                    break
                chunk = s.recv(400)
                if not chunk:
                    break
                if got == 0:
                    started.append(1)
                got += len(chunk)
                time.sleep(0.1)
            s.close()
        except OSError:
            pass
    ex = [threading.Thread(target=slow_export, daemon=True) for _ in range(8)]
    for t in ex:
        t.start()
    for _ in range(50):
        if len(started) == 8:
            break
        time.sleep(0.1)
    ok(len(started) == 8, "eight exports are streaming (%d)" % len(started))
    worst, codes = 0.0, []
    ka = KeepAlive(tok_b)
    for i in range(20):
        code, dt = ka.get("/v1/recordings/" + rid)
        codes.append(code)
        worst = max(worst, dt)
        time.sleep(0.05)
    ok(all(c == 200 for c in codes), "another auditor's metadata: all 200")
    ok(worst < 0.100, "each within 100 ms during the slow exports (worst %.1f ms)" % (worst * 1000))
    ok(all(t.is_alive() for t in ex), "the exports are still running (slow readers)")
    stop.set()
elif mode == "deadline":
    # 10 connections trickling one byte every 0.5 s: each is closed by the
    # server within header-timeout (3 s) + the 200 ms sweep + slack, although
    # every byte would have restarted MHD's own connection-timeout.
    lasted = []
    def one():
        s = tls("127.0.0.2", timeout=3.0)
        t0 = time.monotonic()
        req = b"GET /v1/recordings HTTP/1.1\r\nHost: x\r\nX-a: " + b"a" * 100
        for i in range(40):  # 20 s at most
            try:
                s.send(req[i:i + 1])
                s.settimeout(0.5)
                if s.recv(1) == b"":
                    break
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                break
        lasted.append(time.monotonic() - t0)
        s.close()
    ts = [threading.Thread(target=one, daemon=True) for _ in range(10)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(25)
    ok(len(lasted) == 10 and max(lasted) < 4.5 and min(lasted) > 2.5,
       "10 trickling connections closed at the 3 s header deadline (%s s)"
       % ", ".join("%.1f" % x for x in sorted(lasted)))
sys.exit(1 if failed else 0)
