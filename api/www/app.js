// srtprec auditor page.  No framework, no build step.  Rules:
// - the token lives in sessionStorage (this tab only) and travels only in the
//   Authorization header of fetch(); never in a URL, never in a cookie;
// - audio is fetched with that header and handed to <audio> as a blob: URL,
//   which is the only media source the Content-Security-Policy allows;
// - text from the index (SIP peers' data) is inserted with textContent only.
'use strict';

const KEY = 'srtprec.token';
const $ = (id) => document.getElementById(id);
let nextCursor = null;
let current = null;   // metadata of the open recording
let wavUrl = null;    // object URL of its decoded audio

function token() { return sessionStorage.getItem(KEY) || ''; }

function status(msg, isError) {
  const s = $('status');
  s.textContent = msg;
  s.className = isError ? 'error' : '';
}

async function api(path, asBlob) {
  const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token() },
                                cache: 'no-store', credentials: 'omit' });
  if (r.status === 401) {
    signOut();
    throw new Error('token not accepted');
  }
  if (!r.ok) {
    let why = r.status + ' ' + r.statusText;
    try { const e = await r.json(); why = e.message || e.error || why; } catch (e) { /* not JSON */ }
    throw new Error(why);
  }
  return asBlob ? r.blob() : r.json();
}

function showSignedIn(on) {
  $('signin-box').hidden = on;
  $('app').hidden = !on;
  $('signout').hidden = !on;
}

function signOut() {
  sessionStorage.removeItem(KEY);
  if (wavUrl) URL.revokeObjectURL(wavUrl);
  wavUrl = null;
  current = null;
  $('results').tBodies[0].replaceChildren();
  $('detail').hidden = true;
  showSignedIn(false);
}

function cell(tr, text) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  tr.appendChild(td);
}

function searchParams() {
  const p = new URLSearchParams();
  for (const k of ['from', 'to', 'party', 'call_id']) {
    const v = $(k).value.trim();
    if (v) p.set(k, v);
  }
  p.set('limit', '50');
  return p;
}

async function search(more) {
  const p = searchParams();
  if (more && nextCursor) p.set('after', nextCursor);
  status('searching…');
  try {
    const body = await api('/v1/recordings?' + p.toString());
    const tb = $('results').tBodies[0];
    if (!more) tb.replaceChildren();
    for (const r of body.recordings) {
      const tr = document.createElement('tr');
      tr.dataset.id = r.id;
      cell(tr, r.start); cell(tr, r.end); cell(tr, r.local_aor); cell(tr, r.remote_aor);
      cell(tr, r.state); cell(tr, r.streams);
      tr.addEventListener('click', () => open(r.id, tr));
      tb.appendChild(tr);
    }
    nextCursor = body.next || null;
    $('more').hidden = !nextCursor;
    status(tb.rows.length + ' recording(s)');
  } catch (e) {
    status('search failed: ' + e.message, true);
  }
}

async function open(id, tr) {
  for (const row of $('results').tBodies[0].rows) row.classList.remove('selected');
  if (tr) tr.classList.add('selected');
  if (wavUrl) URL.revokeObjectURL(wavUrl);
  wavUrl = null;
  $('audio').removeAttribute('src');
  try {
    current = await api('/v1/recordings/' + encodeURIComponent(id));
  } catch (e) {
    status('cannot open ' + id + ': ' + e.message, true);
    return;
  }
  $('detail-id').textContent = current.id;
  const dl = $('meta');
  dl.replaceChildren();
  for (const k of ['call_id', 'local_aor', 'remote_aor', 'local_tag', 'remote_tag', 'source',
                   'start', 'end', 'state', 'legal_hold', 'streams', 'packets', 'bytes']) {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = current[k] === null || current[k] === undefined ? '—' : String(current[k]);
    dd.dataset.key = k;
    dl.append(dt, dd);
  }
  $('detail').hidden = false;
  status('recording ' + current.id);
}

async function wav() {
  if (!wavUrl) {
    status('decrypting…');
    const blob = await api('/v1/recordings/' + current.id + '/export.wav', true);
    wavUrl = URL.createObjectURL(blob);
  }
  return wavUrl;
}

function save(url, name) {
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

async function play() {
  try {
    const audio = $('audio');
    audio.src = await wav();
    await audio.play().catch(() => { /* autoplay policy: the controls still work */ });
    status('playing ' + current.id);
  } catch (e) {
    status('cannot play: ' + e.message, true);
  }
}

async function downloadWav() {
  try {
    save(await wav(), current.id + '.wav');
    status('downloaded ' + current.id + '.wav');
  } catch (e) {
    status('cannot download: ' + e.message, true);
  }
}

async function downloadArchive() {
  try {
    const blob = await api('/v1/recordings/' + current.id + '/archive', true);
    const url = URL.createObjectURL(blob);
    save(url, current.id + '.srec');
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    status('downloaded ' + current.id + '.srec');
  } catch (e) {
    status('cannot download: ' + e.message, true);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem(KEY, t);
    try {
      await api('/v1/recordings?limit=1');
    } catch (e) {
      sessionStorage.removeItem(KEY);
      status('sign-in failed: ' + e.message, true);
      return;
    }
    showSignedIn(true);
    search(false);
  });
  $('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); search(false); });
  $('more').addEventListener('click', () => search(true));
  $('signout').addEventListener('click', signOut);
  $('play').addEventListener('click', play);
  $('download-wav').addEventListener('click', downloadWav);
  $('download-archive').addEventListener('click', downloadArchive);
  if (token()) {
    showSignedIn(true);
    search(false);
  }
});
