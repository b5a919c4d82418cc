#!/usr/bin/env python3
"""Drive the auditor page in headless Chromium over the DevTools protocol.

    web_driver.py CHROMIUM BASE_URL TOKEN RECORDING_ID EXPECT_SECONDS WORKDIR \
                  LEGAL_TOKEN SECOND_ID ARTEFACT_DIR

TOKEN may list, export, download archives and read access history (walt);
LEGAL_TOKEN may list and set legal holds only (lex).  SECOND_ID is the later
recording (remote party Agent2).  Screenshots go to ARTEFACT_DIR.

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

chromium, base, token, rec_id, expect_s, work, legal_token, rec2, shots = sys.argv[1:10]
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


ROWS = "[...document.querySelectorAll('#results tbody tr')].map(x => x.dataset.id)"


def rows_are(b, want, what):
    try:
        got = b.wait_for("(() => { const r = %s; return JSON.stringify(r) === %s ? r : null; })()"
                         % (ROWS, json.dumps(json.dumps(want, separators=(',', ':')))), what)
    except TimeoutError:
        got = b.eval(ROWS)
    return tap(got == want, '%s (%s)' % (what, got))


def click(b, elid):
    b.eval("document.getElementById(%s).click(); true" % json.dumps(elid))


def setv(b, elid, value):
    b.eval("(() => { const e = document.getElementById(%s); e.value = %s;"
           " e.dispatchEvent(new Event('change')); return true; })()"
           % (json.dumps(elid), json.dumps(value)))


def visible(b, elid):
    return b.eval("(() => { const e = document.getElementById(%s); return !!e &&"
                  " e.offsetParent !== null && !e.closest('[hidden]'); })()" % json.dumps(elid))


def screenshot(b, width, name):
    import base64
    b.send('Emulation.setDeviceMetricsOverride', {'width': width, 'height': 1000,
                                                  'deviceScaleFactor': 1, 'mobile': False})
    time.sleep(0.4)  # layout and the waveform's redraw on resize
    h = b.eval("Math.ceil(document.documentElement.scrollHeight)")
    b.send('Emulation.setDeviceMetricsOverride', {'width': width, 'height': max(600, min(h, 4000)),
                                                  'deviceScaleFactor': 1, 'mobile': False})
    time.sleep(0.3)
    png = base64.b64decode(b.send('Page.captureScreenshot', {'format': 'png'})['data'])
    path = os.path.join(shots, name)
    with open(path, 'wb') as f:
        f.write(png)
    tap(png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10000,
        'screenshot %s at %d px (%d bytes)' % (name, width, len(png)))
    print('# screenshot: %s' % path)


# WCAG 2.1 contrast of every visible text element against its first opaque
# background up the tree (alpha composited on white is not needed: the page
# uses opaque backgrounds).
CONTRAST = r"""(() => {
  const lum = (c) => { const v = c.match(/[\d.]+/g).slice(0, 3).map(Number).map((x) => {
    x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bg = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
    const m = c.match(/[\d.]+/g); if (m && (m.length < 4 || Number(m[3]) > 0.9)) return c; }
    return 'rgb(255, 255, 255)'; };
  const bad = [];
  let n = 0;
  for (const e of document.querySelectorAll('body *')) {
    if (!e.offsetParent || ['SCRIPT', 'STYLE', 'CANVAS', 'AUDIO'].includes(e.tagName)) continue;
    const own = [...e.childNodes].some((t) => t.nodeType === 3 && t.textContent.trim());
    if (!own) continue;
    n++;
    const a = lum(getComputedStyle(e).color), c = lum(bg(e));
    const r = (Math.max(a, c) + 0.05) / (Math.min(a, c) + 0.05);
    if (r < 4.5) bad.push(e.tagName + '#' + e.id + '.' + e.className + ' ' + r.toFixed(2));
  }
  return { n, bad };
})()"""


def hold_status(b, cond):
    """The hold status text once cond (JS, on t) holds, or as it is at the timeout."""
    get = "document.getElementById('hold-status').textContent"
    try:
        return b.wait_for("(() => { const t = %s; return %s ? t : null; })()" % (get, cond),
                          'hold status')
    except TimeoutError:
        return b.eval(get)


def sign_in(b, tok):
    b.eval("sessionStorage.clear(); true")
    b.send('Page.navigate', {'url': base + '/'})
    b.wait_for("document.readyState === 'complete' && !!document.getElementById('token')"
               " && !document.getElementById('signin-box').hidden", 'the sign-in form')
    b.eval("document.getElementById('token').value = %s;"
           "document.getElementById('signin').click(); true" % json.dumps(tok))
    b.wait_for("!document.getElementById('app').hidden", 'sign-in')


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
    b.send('Emulation.setDeviceMetricsOverride', {'width': 1400, 'height': 1000,
                                                  'deviceScaleFactor': 1, 'mobile': False})
    b.send('Page.navigate', {'url': base + '/'})
    b.wait_for("document.readyState === 'complete' && !!document.getElementById('token')",
               'the page')
    tap(True, 'page loads')
    screenshot(b, 800, 'signin-800.png')

    # ---- walt: lister, auditor, archivist
    sign_in(b, token)
    tap(b.eval("sessionStorage.getItem('srtprec.token') === %s" % json.dumps(token)),
        'signed in; token kept in sessionStorage')
    tap(token not in b.eval('location.href'), 'token not in the URL')
    who = b.wait_for("document.getElementById('user-name').textContent || null", 'user name')
    roles = b.eval("document.getElementById('user-roles').textContent")
    tap(who == 'walt' and visible(b, 'user') and roles == 'lister, archivist, auditor',
        'the signed-in user and roles are shown (%s: %s)' % (who, roles))
    tz = b.eval("Intl.DateTimeFormat().resolvedOptions().timeZone")
    tap(tz in ('Asia/Kolkata', 'Asia/Calcutta'), 'the browser runs in local time Asia/Kolkata (%s)' % tz)

    # Newest first by default, both rows; then oldest first.
    rows_are(b, [rec2, rec_id], 'signing in lists newest first')
    q = b.eval("document.getElementById('results').dataset.query")
    tap('sort=-start' in q, 'the listing asked for sort=-start (%s)' % q)
    tap(b.eval("document.getElementById('th-start').getAttribute('aria-sort')") == 'descending',
        'the Start column says descending (aria-sort)')
    click(b, 'sort-start')
    rows_are(b, [rec_id, rec2], 'the Start header flips to oldest first')
    tap(b.eval("document.getElementById('th-start').getAttribute('aria-sort')") == 'ascending',
        'aria-sort ascending')
    # Row contents: local start time, duration, parties, retention expiry.
    cells = b.eval("[...document.querySelectorAll('#results tbody tr')[0].cells].map(c => c.textContent)")
    meta = b.eval("fetch('/v1/recordings/%s', {headers: {Authorization: 'Bearer ' +"
                  " sessionStorage.getItem('srtprec.token')}}).then(r => r.json())" % rec_id)
    # the start in Asia/Kolkata (UTC+5:30), computed here, not by the page
    import datetime
    st = datetime.datetime.fromisoformat(meta['start'].replace('Z', '+00:00'))
    local = (st + datetime.timedelta(hours=5, minutes=30)).strftime('%Y-%m-%d %H:%M:%S')
    tap(cells[0] == local, 'start shown in local time (%s; UTC %s)' % (cells[0], meta['start']))
    tap(cells[1] == '0:05', 'duration shown (%s)' % cells[1])
    tap('alice' in cells[2] and 'bob' in cells[2] and '⇄' in cells[2], 'parties shown (%s)' % cells[2])
    exp = (st + datetime.timedelta(days=30, hours=5, minutes=30)).strftime('%Y-%m-%d')
    tap(cells[4] == exp, 'retention expiry shown (%s, expected %s)' % (cells[4], exp))

    # Paging: 10 per page is the smallest choice; use the API's limit through
    # the select's option value 10 with an extra option of 1 for this test.
    b.eval("(() => { const o = document.createElement('option'); o.value = o.textContent = '1';"
           " document.getElementById('limit').append(o); return true; })()")
    setv(b, 'limit', '1')
    rows_are(b, [rec_id], 'one per page: the first page')
    tap(b.eval("!document.getElementById('next').disabled && document.getElementById('prev').disabled"),
        'Next enabled, Previous disabled on page 1')
    click(b, 'next')
    rows_are(b, [rec2], 'Next: the second page')
    tap(b.eval("document.getElementById('page-no').textContent") == 'Page 2'
        and b.eval("document.getElementById('next').disabled"), 'page 2 of 2: Next disabled')
    click(b, 'prev')
    rows_are(b, [rec_id], 'Previous: back to page 1')
    setv(b, 'limit', '25')
    setv(b, 'sort', '-start')
    rows_are(b, [rec2, rec_id], 'Newest first again from the Order select')

    # Party search: substring, prefix, exact.
    def party(value, match, want, what):
        setv(b, 'party', value)
        setv(b, 'party-match', match)
        click(b, 'search-btn')
        rows_are(b, want, what)
    party('gent2', 'substring', [rec2], "party contains 'gent2': only the Agent2 call")
    party('ali', 'prefix', [rec2, rec_id], "party starts with 'ali': both alice calls")
    party('lice', 'prefix', [], "'lice' is no prefix: nothing")
    tap(visible(b, 'empty'), 'an empty result says so')
    party('sip:bob@example.net', 'exact', [rec_id], 'party is exactly sip:bob@example.net')
    setv(b, 'party', '')

    # Date and time pickers: local time in, UTC out.  From = the later call's
    # local start: only it matches; the request carries its UTC start.
    later = (st + datetime.timedelta(seconds=60, hours=5, minutes=30))
    setv(b, 'from-date', later.strftime('%Y-%m-%d'))
    setv(b, 'from-time', later.strftime('%H:%M:%S'))
    click(b, 'search-btn')
    rows_are(b, [rec2], 'from date and time (local) select the later call')
    q = b.eval("document.getElementById('results').dataset.query")
    want_utc = (st + datetime.timedelta(seconds=60)).strftime('from=%Y-%m-%dT%H%%3A%M%%3A%S')
    tap(want_utc in q, 'the request sent from as UTC (%s in %s)' % (want_utc, q))
    setv(b, 'from-date', '')
    setv(b, 'from-time', '')
    setv(b, 'to-date', st.strftime('%Y-%m-%d'))  # that whole local day
    click(b, 'search-btn')
    b.wait_for("document.getElementById('results').dataset.query.includes('to=')", 'to query')
    q = b.eval("document.getElementById('results').dataset.query")
    day_end = (datetime.datetime.strptime(st.strftime('%Y-%m-%d'), '%Y-%m-%d')
               + datetime.timedelta(hours=23, minutes=59, seconds=59) - datetime.timedelta(hours=5, minutes=30))
    tap(day_end.strftime('to=%Y-%m-%dT%H%%3A%M%%3A%S.999Z') in q,
        'a bare to date means the end of that local day, sent as UTC (%s)' % q)
    click(b, 'reset-btn')
    rows_are(b, [rec2, rec_id], 'Reset lists everything again')
    b.wait_for("document.getElementById('results').dataset.loaded === 'sort=-start&limit=25'",
               'the reset listing')
    b.send('Page.bringToFront')

    # Keyboard: focus the second row, Enter opens it.
    b.eval("document.querySelectorAll('#results tbody tr')[0].focus(); true")
    b.send('Input.dispatchKeyEvent', {'type': 'keyDown', 'key': 'ArrowDown', 'code': 'ArrowDown',
                                      'windowsVirtualKeyCode': 40})
    b.send('Input.dispatchKeyEvent', {'type': 'keyUp', 'key': 'ArrowDown', 'code': 'ArrowDown',
                                      'windowsVirtualKeyCode': 40})
    focused = b.eval("document.activeElement.dataset ? document.activeElement.dataset.id : null")
    tap(focused == rec_id, 'ArrowDown moves the focus to the next row (%s)' % focused)
    for t in ('keyDown', 'keyUp'):
        b.send('Input.dispatchKeyEvent', {'type': t, 'key': 'Enter', 'code': 'Enter',
                                          'windowsVirtualKeyCode': 13, 'text': '\r' if t == 'keyDown' else ''})
    meta = b.wait_for("(() => { const d = document.getElementById('detail');"
                      " if (d.hidden || document.getElementById('detail-id').textContent !== %s) return null;"
                      " const o = {};"
                      " for (const e of document.querySelectorAll('#meta dd')) o[e.dataset.key] = e.textContent;"
                      " return o; })()" % json.dumps(rec_id), 'metadata')
    tap(True, 'Enter on a focused row opens it')
    tap(meta.get('call_id') == 'e2e-call-1@example.net' and meta.get('state') == 'complete'
        and meta.get('duration') == '0:05', 'metadata shown (%s, %s, %s)'
        % (meta.get('call_id'), meta.get('state'), meta.get('duration')))
    tap(meta.get('retention', '').startswith(exp), 'retention expiry in the detail (%s)' % meta.get('retention'))

    # What walt may do: play, WAV, archive, access history; no legal hold form.
    tap(visible(b, 'play') and visible(b, 'download-wav') and visible(b, 'download-wav-mixed')
        and visible(b, 'download-archive') and visible(b, 'access-box'),
        'auditor+archivist: play, both WAVs, archive and access history shown')
    tap(not visible(b, 'hold-form') and not visible(b, 'hold-box'),
        'no legal-hold role: no hold controls')
    tap(meta.get('parties', '').startswith('sip:alice@example.net [local], sip:bob@example.net [remote]'),
        'every party the index holds, with roles (%s)' % meta.get('parties'))

    # Who sends each stream, from /metadata (on demand: an audited decryption).
    click(b, 'siprec-show')
    senders = b.wait_for("(() => { const r = document.querySelectorAll('#siprec-out tbody tr');"
                         " if (r.length < 2) return null;"
                         " return Array.from(r).map(t => t.children[2].textContent + ' ' +"
                         " t.children[3].textContent); })()", 'the streams table')
    tap(senders[:2] == ['send sip:alice@example.net', 'recv sip:bob@example.net'],
        'streams with direction and sender (%s)' % senders)

    # Waveform from /waveform, drawn on the canvas.
    try:
        pts = b.wait_for("(() => { const c = document.getElementById('waveform');"
                         " return !c.hidden && c.dataset.points ? c.dataset.points : null; })()",
                         'waveform', timeout=20)
    except TimeoutError:
        pts = None
    inked = b.eval("(() => { const c = document.getElementById('waveform');"
                   " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                   " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()")
    tap(pts == '600' and inked > 1000, 'waveform drawn: %s points, %s pixels inked' % (pts, inked))

    # Play stereo, then mixed: the audio element gets a blob: URL of the call's length.
    for layout in ('stereo', 'mixed'):
        setv(b, 'layout', layout)
        click(b, 'play')
        dur = b.wait_for("(() => { const a = document.getElementById('audio');"
                         " return a.src.startsWith('blob:') && isFinite(a.duration) && a.duration > 0"
                         " ? a.duration : null; })()", 'audio duration', timeout=30)
        tap(abs(dur - expect_s) < 0.05, 'play %s: duration %.3f s matches the call (%.3f s)'
            % (layout, dur, expect_s))
    src = b.eval("document.getElementById('audio').src")
    tap(src.startswith('blob:') and token not in src, 'audio source is a blob: URL')

    # Downloads: names from Content-Disposition (date, parties, id).
    click(b, 'download-wav')
    time.sleep(0.5)
    click(b, 'download-wav-mixed')
    time.sleep(0.5)
    click(b, 'download-archive')

    def saved(ext):
        return sorted(f for f in os.listdir(dl)
                      if f.endswith(('_%s.%s' % (rec_id[:8], ext), '_%s_mixed.%s' % (rec_id[:8], ext))))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (len(saved('wav')) >= 2 and saved('srec')):
        time.sleep(0.1)
    have = sorted(os.listdir(dl))
    tap(len(saved('wav')) >= 2 and saved('srec') and all('_alice_bob_' in f for f in have),
        'downloads named with date and parties (%s)' % have)
    chans = []
    for f in saved('wav'):
        with open(os.path.join(dl, f), 'rb') as fh:
            head = fh.read(44)
        chans.append(head[22] if head[:4] == b'RIFF' and head[8:12] == b'WAVE' else -1)
        print('# downloaded %s: %d bytes' % (f, os.path.getsize(os.path.join(dl, f))))
    tap(sorted(chans) == [1, 2], 'stereo and mixed WAVs: RIFF/WAVE with 2 and 1 channels (%s)' % chans)

    # Access history: walt's export is listed.
    try:
        acc = b.wait_for("(() => { const r = [...document.querySelectorAll('#access tbody tr')]"
                         ".filter(x => x.dataset.who === 'walt' && x.dataset.route === 'export');"
                         " return r.length ? r.length : null; })()", 'access history', timeout=10)
    except TimeoutError:
        acc = 0
    tap(acc and acc >= 1, 'access history shows walt playing it (%s export records)' % acc)

    c = b.eval(CONTRAST)
    tap(c['n'] > 30 and not c['bad'], 'WCAG AA: %d text elements at 4.5:1 or more %s'
        % (c['n'], c['bad'][:5]))
    screenshot(b, 1400, 'console-1400.png')
    screenshot(b, 800, 'console-800.png')
    b.send('Emulation.setDeviceMetricsOverride', {'width': 1400, 'height': 1000,
                                                  'deviceScaleFactor': 1, 'mobile': False})

    # CSP: an inline script injected into the page must not run.
    ran = b.eval("(() => { const s = document.createElement('script');"
                 " s.textContent = 'window.__csp_broken = true'; document.body.appendChild(s);"
                 " return !!window.__csp_broken; })()")
    tap(ran is False, 'the Content-Security-Policy blocks inline script')

    # ---- lex: lister and legal hold only
    click(b, 'signout')
    tap(b.eval("!document.getElementById('signin-box').hidden && !sessionStorage.getItem('srtprec.token')"),
        'Sign out forgets the token')
    sign_in(b, legal_token)
    b.wait_for("document.getElementById('user-name').textContent === 'lex'", 'lex signed in')
    b.wait_for("document.querySelectorAll('#results tbody tr').length === 2", 'lex listing')
    b.eval("document.querySelector('#results tbody tr[data-id=\"%s\"]').click(); true" % rec_id)
    b.wait_for("!document.getElementById('detail').hidden && document.getElementById('detail-id').textContent === %s"
               % json.dumps(rec_id), 'detail for lex')
    tap(not visible(b, 'player') and not visible(b, 'downloads') and not visible(b, 'access-box'),
        'lister+legal-hold: no play, download or access history')
    tap(visible(b, 'hold-form'), 'legal-hold role: the hold form is shown')
    setv(b, 'hold-case', 'CASE-2026-7')
    setv(b, 'hold-reason', 'litigation')
    click(b, 'hold-set')
    txt = hold_status(b, "t.startsWith('On hold')")
    tap('CASE-2026-7' in txt and 'litigation' in txt and 'set by lex' in txt,
        'hold placed: case, reason, who, when shown (%s)' % txt)
    tap(visible(b, 'detail-hold-badge') and visible(b, 'hold-clear') and not visible(b, 'hold-form'),
        'held: badge and Release shown, the form hidden')
    ret = b.eval("(() => { for (const e of document.querySelectorAll('#meta dd'))"
                 " if (e.dataset.key === 'retention') return e.textContent; })()")
    tap(ret == 'never while on legal hold', 'retention expiry under hold (%s)' % ret)
    b.wait_for("(() => { const r = document.querySelector('#results tbody tr[data-id=\"%s\"]');"
               " return r && r.querySelector('.retention').textContent === 'held'; })()" % rec_id,
               'row says held')
    tap(True, 'the row says held')
    screenshot(b, 1400, 'console-hold-1400.png')
    click(b, 'hold-clear')
    txt = hold_status(b, "t === 'Not on hold.'")
    tap(txt == 'Not on hold.' and visible(b, 'hold-form'), 'hold released (%s)' % txt)


if __name__ == '__main__':
    main()
