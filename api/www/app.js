// srtprec console: list, search, play, download, legal hold, access history.
// - The bearer token lives in sessionStorage (this tab only) and is sent in
//   the Authorization header of fetch(); never in a URL, never in a cookie;
// - audio and downloads are fetched with that header and handed to the page
//   as blob: URLs (the CSP allows media from blob: only);
// - index values reach the DOM through textContent only;
// - what the token may do comes from GET /v1/me, so no button is shown that
//   the server would refuse;
// - times are shown in the browser's local time and sent as UTC (RFC 3339).
'use strict';

const $ = (id) => document.getElementById(id);
const KEY = 'srtprec.token';
const WAVE_POINTS = 600;

const state = {
  me: null,           // the /v1/me answer
  cursors: [''],      // cursors[i] = 'after' of page i ('' for the first)
  page: 0,
  next: null,         // the current page's next cursor
  rows: [],
  current: null,      // the recording shown in the detail panel
  audioUrl: null,
  audioKey: '',       // id + layout the audio element holds
  accessNext: null,
  seq: 0,             // the latest search; older answers are dropped
  wave: null,
};

function token() { return sessionStorage.getItem(KEY) || ''; }

function status(msg, error) {
  const s = $('status');
  s.textContent = msg || '';
  s.classList.toggle('error', !!error);
}

class HttpError extends Error {
  constructor(code, msg) { super(msg); this.code = code; }
}

async function api(path, opts) {
  opts = opts || {};
  const r = await fetch(path, {
    method: opts.method || 'GET',
    headers: { Authorization: 'Bearer ' + token() },
    cache: 'no-store',
  });
  if (r.status === 401) {
    signOut();
    throw new HttpError(401, 'the token was not accepted');
  }
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { const e = await r.json(); if (e.message) msg = e.message; } catch (_) { /* not JSON */ }
    throw new HttpError(r.status, msg);
  }
  return opts.raw ? r : r.json();
}

// ------------------------------------------------------------ formatting

const pad = (n, w) => String(n).padStart(w || 2, '0');

function localTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

function localDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
}

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.round(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  return (h ? h + ':' + pad(m) : m) + ':' + pad(s % 60);
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

// "sip:alice@example.net" -> "alice" (the full AOR stays in the title)
function user(aor) {
  const s = (aor || '').replace(/^(sips?|tel):/i, '');
  const at = s.indexOf('@');
  return at > 0 ? s.slice(0, at) : s || '?';
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// A date input and a time input (local) to UTC RFC 3339; '' when no date.
function toUtc(dateId, timeId, endOfDay) {
  const d = $(dateId).value, t = $(timeId).value;
  if (!d) return '';
  let when;
  if (t) when = new Date(d + 'T' + (t.length === 5 ? t + ':00' : t));
  else when = endOfDay ? new Date(d + 'T23:59:59.999') : new Date(d + 'T00:00:00');
  if (isNaN(when.getTime())) return '';
  if (t && endOfDay && t.length === 5) when = new Date(when.getTime() + 59999);
  return when.toISOString();
}

// ---------------------------------------------------------------- sign in

async function signIn(ev) {
  if (ev) ev.preventDefault();
  const t = $('token').value.trim();
  if (!t) return;
  sessionStorage.setItem(KEY, t);
  $('token').value = '';
  await start();
}

function signOut() {
  sessionStorage.removeItem(KEY);
  state.me = null;
  closeDetail();
  $('app').hidden = true;
  $('user').hidden = true;
  $('signin-box').hidden = false;
  $('token').focus();
}

async function start() {
  try {
    state.me = await api('/v1/me');
  } catch (e) {
    status('cannot sign in: ' + e.message, true);
    return;
  }
  $('signin-box').hidden = true;
  $('app').hidden = false;
  $('user').hidden = false;
  $('user-name').textContent = state.me.name;
  $('user-roles').textContent = state.me.roles.join(', ');
  document.body.dataset.can = Object.keys(state.me.can).filter((k) => state.me.can[k]).join(' ');
  status('');
  if (!state.me.can.list) {
    status('these credentials may not list recordings', true);
    return;
  }
  await search(0);
}

// ---------------------------------------------------------------- listing

function query(page) {
  const p = new URLSearchParams();
  const from = toUtc('from-date', 'from-time', false), to = toUtc('to-date', 'to-time', true);
  if (from) p.set('from', from);
  if (to) p.set('to', to);
  const party = $('party').value.trim();
  if (party) {
    p.set('party', party);
    if ($('party-match').value !== 'exact') p.set('party_match', $('party-match').value);
  }
  const cid = $('call_id').value.trim();
  if (cid) p.set('call_id', cid);
  p.set('sort', $('sort').value);
  p.set('limit', $('limit').value);
  if (state.cursors[page]) p.set('after', state.cursors[page]);
  return p.toString();
}

async function search(page) {
  if (page === 0) state.cursors = [''];
  const q = query(page), seq = ++state.seq;
  $('results').dataset.query = q;
  let body;
  try {
    body = await api('/v1/recordings?' + q);
  } catch (e) {
    if (seq === state.seq) status('search failed: ' + e.message, true);
    return;
  }
  if (seq !== state.seq) return; // a newer search was started meanwhile
  state.page = page;
  state.next = body.next || null;
  if (state.next) state.cursors[page + 1] = state.next;
  state.rows = body.recordings;
  renderRows();
  $('results').dataset.loaded = q; // what the rows show (tests wait on it)
  status(body.recordings.length + ' recording' + (body.recordings.length === 1 ? '' : 's') +
         (state.next ? ' on this page; more follow' : ''));
}

function renderRows() {
  const tb = document.querySelector('#results tbody');
  tb.replaceChildren();
  for (const r of state.rows) {
    const tr = document.createElement('tr');
    tr.dataset.id = r.id;
    tr.tabIndex = 0;
    tr.setAttribute('aria-label', 'Recording ' + user(r.local_aor) + ' and ' +
                    user(r.remote_aor) + ' at ' + localTime(r.start));
    if (state.current && state.current.id === r.id) tr.classList.add('selected');
    tr.append(el('td', localTime(r.start), 'nowrap'));
    tr.append(el('td', duration(r.duration_ms), 'num'));
    const parties = el('td', null, 'parties');
    parties.append(el('span', user(r.local_aor), 'party'), el('span', '⇄', 'dir'),
                   el('span', user(r.remote_aor), 'party'));
    parties.title = r.local_aor + ' ⇄ ' + r.remote_aor;
    tr.append(parties);
    const st = el('td');
    st.append(el('span', r.state, 'badge state-' + r.state));
    if (r.legal_hold) st.append(el('span', 'hold', 'badge hold'));
    tr.append(st);
    tr.append(el('td', r.legal_hold ? 'held' : r.retention_expires ? localDate(r.retention_expires) : '—', 'nowrap retention'));
    tr.addEventListener('click', () => open(r.id));
    tr.addEventListener('keydown', rowKey);
    tb.append(tr);
  }
  $('empty').hidden = state.rows.length > 0;
  $('prev').disabled = state.page === 0;
  $('next').disabled = !state.next;
  $('page-no').textContent = 'Page ' + (state.page + 1);
  const newest = $('sort').value === '-start';
  $('prev').textContent = newest ? '← Newer' : '← Earlier';
  $('next').textContent = newest ? 'Older →' : 'Later →';
  $('th-start').setAttribute('aria-sort', newest ? 'descending' : 'ascending');
  $('sort-arrow').textContent = newest ? '↓' : '↑';
  $('page-info').textContent = state.rows.length ? state.rows.length + ' shown' : '';
}

// Enter/Space opens a row; arrows move between rows.
function rowKey(ev) {
  const tr = ev.currentTarget;
  if (ev.key === 'Enter' || ev.key === ' ') {
    ev.preventDefault();
    open(tr.dataset.id);
  } else if (ev.key === 'ArrowDown' && tr.nextElementSibling) {
    ev.preventDefault();
    tr.nextElementSibling.focus();
  } else if (ev.key === 'ArrowUp' && tr.previousElementSibling) {
    ev.preventDefault();
    tr.previousElementSibling.focus();
  }
}

// ----------------------------------------------------------------- detail

function closeDetail() {
  state.current = null;
  $('detail').hidden = true;
  resetAudio();
}

function resetAudio() {
  const a = $('audio');
  a.pause();
  a.removeAttribute('src');
  if (state.audioUrl) URL.revokeObjectURL(state.audioUrl);
  state.audioUrl = null;
  state.audioKey = '';
}

async function open(id) {
  let r;
  try {
    r = await api('/v1/recordings/' + id);
  } catch (e) {
    status('cannot open: ' + e.message, true);
    return;
  }
  if (!state.current || state.current.id !== id) resetAudio();
  state.current = r;
  for (const tr of document.querySelectorAll('#results tbody tr'))
    tr.classList.toggle('selected', tr.dataset.id === id);
  renderDetail();
  $('detail').hidden = false;
  const can = state.me.can;
  const done = [];
  if (can.export && r.state !== 'recording') done.push(loadWaveform(r.id));
  if (can.access_history) done.push(loadAccess(true));
  await Promise.all(done);
}

function renderDetail() {
  const r = state.current, can = state.me.can;
  $('detail-parties').textContent = r.local_aor + ' ⇄ ' + r.remote_aor;
  $('detail-id').textContent = r.id;
  const sb = $('detail-state');
  sb.textContent = r.state;
  sb.className = 'badge state-' + r.state;
  $('detail-hold-badge').hidden = !r.legal_hold;
  const dl = $('meta');
  dl.replaceChildren();
  const rows = [
    ['start', 'Start', localTime(r.start) + ' (' + (r.start || '') + ')'],
    ['end', 'End', localTime(r.end)],
    ['duration', 'Duration', duration(r.duration_ms)],
    ['local_aor', 'Local party', r.local_aor],
    ['remote_aor', 'Remote party', r.remote_aor],
    ['parties', 'Every party', (r.parties || []).map(p =>
      p.aor + (p.name ? ' (' + p.name + ')' : '') + (p.role === 'participant' ? '' : ' [' + p.role + ']')).join(', ')],
    ['call_id', 'Call-ID', r.call_id],
    ['state', 'State', r.state],
    ['streams', 'Streams', String(r.streams)],
    ['bytes', 'Size', bytes(r.bytes)],
    ['source', 'Disclosed by', r.source],
    ['retention', 'Retention expires',
     r.legal_hold ? 'never while on legal hold'
       : r.retention_expires ? localTime(r.retention_expires)
       : state.me.retention_days ? 'not while recording' : 'no retention configured'],
  ];
  for (const [key, label, value] of rows) {
    const dd = el('dd', value);
    dd.dataset.key = key;
    dl.append(el('dt', label), dd);
  }
  const ended = r.state !== 'recording';
  $('player').hidden = !(can.export && ended);
  $('downloads').hidden = !((can.export || can.archive) && ended);
  for (const b of document.querySelectorAll('#downloads button'))
    b.hidden = !can[b.dataset.need];
  $('access-box').hidden = !can.access_history;
  $('siprec-box').hidden = !(can.siprec_metadata && ended);
  $('siprec-out').replaceChildren();
  $('hold-box').hidden = !can.legal_hold && !r.legal_hold;
  renderHold();
}

function renderHold() {
  const r = state.current, can = state.me.can, h = r.hold;
  const s = $('hold-status');
  s.replaceChildren();
  if (r.legal_hold) {
    s.append(el('strong', 'On hold'));
    if (h && h.case_id) s.append(' · case ', el('span', h.case_id, 'mono'));
    if (h && h.reason) s.append(' · ', el('span', h.reason));
    if (h && h.by) s.append(' · set by ', el('span', h.by));
    if (h && h.at) s.append(' on ', el('span', localTime(h.at)));
    s.append('. Retention will not delete it.');
  } else {
    s.append('Not on hold.');
  }
  s.classList.toggle('on', !!r.legal_hold);
  $('hold-form').hidden = !can.legal_hold || r.legal_hold;
  $('hold-clear').hidden = !can.legal_hold || !r.legal_hold;
}

async function setHold(ev) {
  ev.preventDefault();
  const r = state.current;
  const p = new URLSearchParams({ case: $('hold-case').value.trim() });
  const reason = $('hold-reason').value.trim();
  if (reason) p.set('reason', reason);
  await changeHold('PUT', '?' + p.toString());
}

async function changeHold(method, q) {
  const r = state.current;
  try {
    await api('/v1/recordings/' + r.id + '/legal-hold' + q, { method });
  } catch (e) {
    status('legal hold: ' + e.message, true);
    return;
  }
  $('hold-case').value = '';
  $('hold-reason').value = '';
  status(method === 'PUT' ? 'legal hold placed' : 'legal hold released');
  await open(r.id);
  await search(state.page);
}

// ------------------------------------------------------- SIPREC metadata

// On demand, not on open: it decrypts the archive and is an audited access.
async function loadSiprec() {
  const r = state.current, out = $('siprec-out');
  let m;
  status('decrypting…');
  try {
    m = await api('/v1/recordings/' + r.id + '/metadata');
  } catch (e) {
    status('metadata: ' + e.message, true);
    return;
  }
  status('');
  if (!state.current || state.current.id !== r.id) return;
  out.replaceChildren();
  const t = el('table'), head = el('tr');
  for (const h of ['Stream', 'Kind', 'Direction', 'Sent by', 'Codec', 'Label'])
    head.append(Object.assign(el('th', h), { scope: 'col' }));
  t.append(el('thead'), el('tbody'));
  t.tHead.append(head);
  for (const s of m.streams) {
    const tr = el('tr');
    tr.dataset.index = String(s.index);
    for (const v of [String(s.index), s.kind + (s.plain ? ' (plain)' : ''), s.direction,
                     (s.sender || '') + (s.sender_name ? ' (' + s.sender_name + ')' : ''), s.codec, s.label])
      tr.append(el('td', v));
    t.tBodies[0].append(tr);
  }
  const wrap = el('div', null, 'table-wrap');
  wrap.append(t);
  out.append(wrap);
  for (const p of m.parties)
    out.append(el('p', localTime(p.at) + ': parties now ' + p.local + ' ⇄ ' + p.remote, 'muted'));
  if (!m.documents.length) out.append(el('p', 'No RFC 7865 metadata documents in this archive.', 'muted'));
  for (const d of m.documents) {
    const det = el('details'), sum = el('summary', 'Document ' + d.index + ' · ' + localTime(d.at) +
                                          ' · ' + bytes(d.bytes));
    det.dataset.index = String(d.index);
    det.append(sum, el('pre', d.content, 'mono'));
    out.append(det);
  }
  if (state.me.can.access_history) loadAccess(true);
}

// -------------------------------------------------------------- playback

async function play() {
  const r = state.current, layout = $('layout').value, key = r.id + '/' + layout;
  const a = $('audio');
  if (state.audioKey !== key) {
    resetAudio();
    status('decrypting…');
    try {
      const resp = await api('/v1/recordings/' + r.id + '/export.wav?layout=' + layout, { raw: true });
      state.audioUrl = URL.createObjectURL(await resp.blob());
    } catch (e) {
      status('cannot play: ' + e.message, true);
      return;
    }
    state.audioKey = key;
    a.src = state.audioUrl;
    status('');
  }
  try { await a.play(); } catch (_) { /* the controls still work */ }
  if (state.me.can.access_history) loadAccess(true);
}

async function loadWaveform(id) {
  const c = $('waveform'), legend = $('wave-legend');
  c.hidden = true;
  legend.hidden = true;
  state.wave = null;
  let w;
  try {
    w = await api('/v1/recordings/' + id + '/waveform?points=' + WAVE_POINTS);
  } catch (e) {
    return; // 404 (an API without waveforms) or no decodable audio: no picture
  }
  if (!state.current || state.current.id !== id || !w.streams || !w.streams.length) return;
  state.wave = w;
  c.hidden = false;
  drawWaveform(c, w);
  c.dataset.streams = String(w.streams.length);
  c.dataset.points = String(w.streams[0].peaks.length);
  legend.replaceChildren();
  w.streams.forEach((s, i) => {
    const item = el('span', null, 'key key' + (i % 4));
    item.append(el('span', null, 'swatch'), el('span', (s.direction || '') + ' ' + (s.label || '#' + s.index) + (s.codec ? ' (' + s.codec + ')' : '')));
    legend.append(item);
  });
  legend.append(el('span', duration(w.duration_ms), 'muted'));
  legend.hidden = false;
}

const WAVE_COLOURS = ['#1f5fbf', '#b4441b', '#2f7d32', '#7b3fa0'];

function drawWaveform(c, w) {
  const ratio = window.devicePixelRatio || 1;
  const cssW = c.clientWidth || 900, cssH = 120;
  c.width = Math.round(cssW * ratio);
  c.height = Math.round(cssH * ratio);
  const g = c.getContext('2d');
  g.scale(ratio, ratio);
  g.clearRect(0, 0, cssW, cssH);
  const n = w.streams.length, band = cssH / n;
  w.streams.forEach((s, i) => {
    const mid = band * i + band / 2, peaks = s.peaks, step = cssW / peaks.length;
    g.fillStyle = WAVE_COLOURS[i % WAVE_COLOURS.length];
    for (let k = 0; k < peaks.length; k++) {
      const h = Math.max(1, peaks[k] * (band / 2 - 2));
      g.fillRect(k * step, mid - h, Math.max(1, step - 0.5), 2 * h);
    }
  });
}

// -------------------------------------------------------------- downloads

// suffix tells apart downloads the server names alike (stereo and mixed WAV).
async function download(path, fallback, suffix) {
  try {
    const resp = await api(path, { raw: true });
    const disp = resp.headers.get('Content-Disposition') || '';
    const m = /filename="([^"]+)"/.exec(disp);
    let name = m ? m[1] : fallback;
    if (suffix) name = name.replace(/(\.[a-z0-9]+)$/, suffix + '$1');
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    status('downloaded ' + name);
    if (state.me.can.access_history) loadAccess(true);
  } catch (e) {
    status('cannot download: ' + e.message, true);
  }
}

// --------------------------------------------------------- access history

const ROUTE_NAMES = {
  metadata: 'viewed details', export: 'played / downloaded WAV', export_ogg: 'downloaded Ogg',
  export_opus: 'downloaded Opus', archive: 'downloaded archive', waveform: 'viewed waveform',
  siprec_metadata: 'viewed SIPREC metadata',
  legal_hold: 'legal hold', access: 'viewed access history',
};

async function loadAccess(fresh) {
  const r = state.current;
  if (!r) return;
  const after = fresh ? 0 : state.accessNext;
  let body;
  try {
    body = await api('/v1/recordings/' + r.id + '/access?limit=50' + (after ? '&after=' + after : ''));
  } catch (e) {
    $('access-box').hidden = true;
    return;
  }
  if (!state.current || state.current.id !== r.id) return;
  const tb = document.querySelector('#access tbody');
  if (fresh) tb.replaceChildren();
  for (const a of body.records) {
    const tr = document.createElement('tr');
    tr.dataset.who = a.who;
    tr.dataset.route = a.route;
    let what = ROUTE_NAMES[a.route] || a.route;
    if (a.route === 'legal_hold')
      what = a.method === 'PUT' ? 'placed legal hold' : a.method === 'DELETE' ? 'released legal hold' : 'read legal hold';
    tr.append(el('td', localTime(a.time), 'nowrap'), el('td', a.who), el('td', what),
              el('td', a.status + (a.outcome === 'aborted' ? ' (aborted)' : ''), 'num'));
    tb.prepend(tr); // newest on top
  }
  state.accessNext = body.next || null;
  $('access-more').hidden = !state.accessNext;
}

// ------------------------------------------------------------------ wiring

function resetFilters() {
  for (const id of ['from-date', 'from-time', 'to-date', 'to-time', 'party', 'call_id'])
    $(id).value = '';
  $('party-match').value = 'substring';
  $('sort').value = '-start';
  search(0);
}

document.addEventListener('DOMContentLoaded', () => {
  try { $('tz-name').textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local'; }
  catch (_) { $('tz-name').textContent = 'local'; }
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  $('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); search(0); });
  $('reset-btn').addEventListener('click', resetFilters);
  $('sort').addEventListener('change', () => search(0));
  $('limit').addEventListener('change', () => search(0));
  $('sort-start').addEventListener('click', () => {
    $('sort').value = $('sort').value === '-start' ? 'start' : '-start';
    search(0);
  });
  $('prev').addEventListener('click', () => { if (state.page > 0) search(state.page - 1); });
  $('next').addEventListener('click', () => { if (state.next) search(state.page + 1); });
  $('play').addEventListener('click', play);
  $('siprec-show').addEventListener('click', loadSiprec);
  $('layout').addEventListener('change', () => { if (state.audioKey) play(); });
  $('download-wav').addEventListener('click', () =>
    download('/v1/recordings/' + state.current.id + '/export.wav?layout=stereo', state.current.id + '.wav'));
  $('download-wav-mixed').addEventListener('click', () =>
    download('/v1/recordings/' + state.current.id + '/export.wav?layout=mixed', state.current.id + '.wav', '_mixed'));
  $('download-archive').addEventListener('click', () =>
    download('/v1/recordings/' + state.current.id + '/archive', state.current.id + '.srec'));
  $('hold-form').addEventListener('submit', setHold);
  $('hold-clear').addEventListener('click', () => changeHold('DELETE', ''));
  $('access-more').addEventListener('click', () => loadAccess(false));
  window.addEventListener('resize', () => {
    if (state.wave && !$('waveform').hidden) drawWaveform($('waveform'), state.wave);
  });
  if (token()) start();
  else $('token').focus();
});
