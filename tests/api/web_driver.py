#!/usr/bin/env python3
"""Drive the auditor page in headless Chromium over the DevTools protocol.

    web_driver.py CHROMIUM BASE_URL TOKEN RECORDING_ID EXPECT_SECONDS WORKDIR

Chromium runs with --remote-debugging-pipe: CDP messages are NUL-terminated
JSON on fds 3 (to the browser) and 4 (from it), so no port is opened and no
third-party driver (Debian has no playwright) is needed.  Prints TAP lines
"ok N - ..." / "not ok N - ..." (no plan: the caller counts) and exits 0.
Every wait is bounded; the browser is killed on exit.
"""
import json
import os
import subprocess
import sys
import time

chromium, base, token, rec_id, expect_s, work = sys.argv[1:7]
expect_s = float(expect_s)
n = 0


def tap(cond, what):
    global n
    n += 1
    print('%s %d - %s' % ('ok' if cond else 'not ok', n, what), flush=True)
    return cond


class Browser:
    def __init__(self):
        to_r, to_w = os.pipe()      # we write commands, chromium reads fd 3
        from_r, from_w = os.pipe()  # chromium writes fd 4, we read
        profile = os.path.join(work, 'profile')
        args = [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--user-data-dir=' + profile,
                '--remote-debugging-pipe', '--ignore-certificate-errors',
                '--autoplay-policy=no-user-gesture-required', '--mute-audio', 'about:blank']

        def child_fds():
            # dup first: dup2(3, 3) would keep the pipe's close-on-exec flag
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen(args, preexec_fn=child_fds,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(work, 'chromium.log'), 'wb'),
                                     close_fds=False)
        os.close(to_r)
        os.close(from_w)
        self.w = to_w
        self.r = from_r
        self.buf = b''
        self.next_id = 0
        self.events = []
        self.session = None

    def _read_msg(self, deadline):
        import select
        while b'\0' not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('no message from chromium')
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 65536)
                if not chunk:
                    raise EOFError('chromium closed the pipe')
                self.buf += chunk
        msg, self.buf = self.buf.split(b'\0', 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True, timeout=20):
        self.next_id += 1
        m = {'id': self.next_id, 'method': method, 'params': params or {}}
        if session and self.session:
            m['sessionId'] = self.session
        os.write(self.w, json.dumps(m).encode() + b'\0')
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_msg(deadline)
            if msg.get('id') == self.next_id:
                if 'error' in msg:
                    raise RuntimeError('%s: %s' % (method, msg['error']))
                return msg.get('result', {})
            self.events.append(msg)

    def eval(self, expr, timeout=20):
        r = self.send('Runtime.evaluate', {'expression': expr, 'awaitPromise': True,
                                           'returnByValue': True}, timeout=timeout)
        if 'exceptionDetails' in r:
            raise RuntimeError('JS: %s' % r['exceptionDetails'].get('text'))
        return r['result'].get('value')

    def wait_for(self, expr, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                v = self.eval(expr)
            except RuntimeError:
                v = None
            if v:
                return v
            time.sleep(0.1)
        raise TimeoutError('waiting for ' + what)

    def close(self):
        try:
            self.send('Browser.close', session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    b = Browser()
    try:
        run(b)
    except Exception as e:  # a failure is a TAP line, not a traceback
        tap(False, 'driver: %s: %s' % (type(e).__name__, e))
    finally:
        b.close()


def run(b):
    target = b.send('Target.createTarget', {'url': 'about:blank'}, session=False)['targetId']
    b.session = b.send('Target.attachToTarget', {'targetId': target, 'flatten': True},
                       session=False)['sessionId']
    dl = os.path.join(work, 'downloads')
    os.makedirs(dl, exist_ok=True)
    b.send('Browser.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': dl},
           session=False)
    b.send('Page.enable')
    b.send('Runtime.enable')
    b.send('Page.navigate', {'url': base + '/'})
    b.wait_for("document.readyState === 'complete' && !!document.getElementById('token')",
               'the page')
    tap(True, 'page loads')

    # Sign in: the token is typed into the form, never put in a URL.
    b.eval("document.getElementById('token').value = %s;"
           "document.getElementById('signin').click(); true" % json.dumps(token))
    b.wait_for("!document.getElementById('app').hidden", 'sign-in')
    tap(b.eval("sessionStorage.getItem('srtprec.token') === %s" % json.dumps(token)),
            'signed in; token kept in sessionStorage')
    tap(token not in b.eval('location.href'), 'token not in the URL')

    # Signing in lists everything; a search by Call-ID then narrows it to one.
    b.wait_for("document.querySelectorAll('#results tbody tr').length > 0", 'first listing')
    first = b.eval("document.querySelectorAll('#results tbody tr').length")
    tap(first >= 2, 'signing in lists the recordings (%s)' % first)
    b.eval("document.getElementById('call_id').value = 'e2e-call-1@example.net';"
           "document.getElementById('search-btn').click(); true")
    try:
        rows = b.wait_for("(() => { const r = [...document.querySelectorAll('#results tbody tr')];"
                          " return r.length === 1 ? r.map(x => x.dataset.id) : null; })()",
                          'one result')
    except TimeoutError:
        rows = b.eval("[...document.querySelectorAll('#results tbody tr')].map(x => x.dataset.id)")
    tap(rows == [rec_id], 'search by Call-ID finds exactly the recording (%s)' % rows)
    b.eval("document.querySelector('#results tbody tr').click(); true")
    meta = b.wait_for("(() => { const d = document.getElementById('detail');"
                      " if (d.hidden) return null; const o = {};"
                      " for (const e of document.querySelectorAll('#meta dd')) o[e.dataset.key] = e.textContent;"
                      " return o; })()", 'metadata')
    tap(meta.get('call_id') == 'e2e-call-1@example.net' and meta.get('state') == 'complete',
        'metadata shown (%s, %s)' % (meta.get('call_id'), meta.get('state')))

    # Play: the audio element gets a blob: URL and reports the call's length.
    b.eval("document.getElementById('play').click(); true")
    dur = b.wait_for("(() => { const a = document.getElementById('audio');"
                     " return a.src.startsWith('blob:') && isFinite(a.duration) && a.duration > 0"
                     " ? a.duration : null; })()", 'audio duration', timeout=30)
    tap(abs(dur - expect_s) < 0.05, 'audio duration %.3f s matches the call (%.3f s)'
        % (dur, expect_s))
    src = b.eval("document.getElementById('audio').src")
    tap(src.startswith('blob:') and token not in src, 'audio source is a blob: URL')

    # Download the WAV and the archive.
    b.eval("document.getElementById('download-wav').click(); true")
    b.eval("document.getElementById('download-archive').click(); true")
    want = {rec_id + '.wav', rec_id + '.srec'}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        have = set(os.listdir(dl))
        if want <= have:
            break
        time.sleep(0.1)
    have = set(os.listdir(dl))
    tap(want <= have, 'downloads saved (%s)' % sorted(have))
    wav = os.path.join(dl, rec_id + '.wav')
    if os.path.exists(wav):
        with open(wav, 'rb') as f:
            head = f.read(12)
        tap(head[:4] == b'RIFF' and head[8:12] == b'WAVE', 'downloaded WAV is RIFF/WAVE')
    else:
        tap(False, 'downloaded WAV is RIFF/WAVE')
    for name in want & have:
        print('# downloaded %s: %d bytes' % (name, os.path.getsize(os.path.join(dl, name))))

    # CSP: an inline script injected into the page must not run.
    ran = b.eval("(() => { const s = document.createElement('script');"
                 " s.textContent = 'window.__csp_broken = true'; document.body.appendChild(s);"
                 " return !!window.__csp_broken; })()")
    tap(ran is False, 'the Content-Security-Policy blocks inline script')


if __name__ == '__main__':
    main()
