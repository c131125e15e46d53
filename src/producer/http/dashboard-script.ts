/**
 * The dashboard's browser code, inlined into its pages (no build step). Rules it keeps:
 * every value from the api goes into the page with textContent or as an attribute
 * property, never as HTML; the token (when the api has one) is asked for once, kept in
 * sessionStorage and sent as a bearer header; live updates come from the SSE routes read
 * with fetch() (EventSource cannot send a header), and while a stream is down the page
 * polls every 2 s instead.
 *
 * Written with String.raw so "\n" reaches the browser as written; it must contain no
 * backtick and no dollar-brace.
 */

/** Helpers both pages use: elements, formatting, authorised fetch, the SSE reader. */
const COMMON = String.raw`
'use strict';
const $ = (id) => document.getElementById(id);
const ORDER = ['running', 'starting', 'pending', 'stopping', 'exited', 'failed', 'lost', 'stopped'];
const FINAL = new Set(['stopped', 'exited', 'failed', 'lost']);
const NOTABLE = new Set(['drift', 'restart_scheduled', 'gave_up', 'lost']);
const POLL_MS = 2000;
const TOKEN_KEY = 'reapqToken';
let token = sessionStorage.getItem(TOKEN_KEY) || '';
let tokenWaiters = [];

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function cell(value, cls) {
  return el('td', value === undefined || value === null || value === '' ? '-' : value, cls);
}
function linkCell(href, text) {
  const td = el('td');
  const a = el('a', text);
  a.href = href;
  td.appendChild(a);
  return td;
}
function processHref(id) { return '/processes/' + encodeURIComponent(id); }
function apiPath(id) { return '/v1/processes/' + encodeURIComponent(id); }
function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
function duration(ms) {
  if (!isFinite(ms)) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + 's';
  const m = Math.floor(s / 60);
  if (m < 60) return m + 'm ' + (s % 60) + 's';
  const h = Math.floor(m / 60);
  if (h < 24) return h + 'h ' + (m % 60) + 'm';
  return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
}
function since(iso) { return iso ? duration(Date.now() - Date.parse(iso)) : '-'; }
function when(at) {
  const d = new Date(at);
  return isNaN(d.getTime()) ? '-' : d.toLocaleString();
}
function commandLine(argv) {
  return (argv || []).map((a) => (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(a) ? a : "'" + a.replace(/'/g, "'\\''") + "'")).join(' ');
}
/** One line for an event: its fields but type/v/at; a start's env shows names only. */
function summary(e) {
  const parts = [];
  for (const k of Object.keys(e)) {
    if (k === 'v' || k === 'at' || k === 'type') continue;
    let v = e[k];
    if (v === null || v === undefined) continue;
    if (k === 'spec') {
      parts.push('command=' + commandLine(v.command));
      if (v.name !== null) parts.push('name=' + v.name);
      if (v.cwd !== null) parts.push('cwd=' + v.cwd);
      if (v.port !== null) parts.push('port=' + v.port);
      parts.push('restart=' + v.restart);
      if (v.host !== null) parts.push('host=' + v.host);
      const names = Object.keys(v.env || {});
      if (names.length) parts.push('env=' + names.join(','));
      continue;
    }
    if (Array.isArray(v)) { if (!v.length) continue; v = v.join(','); }
    else if (typeof v === 'object') v = JSON.stringify(v);
    parts.push(k + '=' + v);
  }
  return parts.join(' ');
}
function showError(e) { $('err').textContent = e ? (e.message || String(e)) : ''; }
function setLive(on) {
  const s = $('live');
  s.textContent = on ? 'live' : 'polling every 2 s';
  s.className = 'status ' + (on ? 'on' : 'off');
}

/** Resolves once the token form is submitted; concurrent callers share one prompt. */
function askToken(refused) {
  $('auth-msg').textContent = refused ? 'That token was refused.' : 'This api needs its token.';
  $('auth').hidden = false;
  $('token').focus();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}
$('auth').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('auth').hidden = true;
  const waiting = tokenWaiters;
  tokenWaiters = [];
  for (const f of waiting) f();
});
function headers(extra) {
  const h = Object.assign({}, extra);
  if (token) h.authorization = 'Bearer ' + token;
  return h;
}

/** GET path from the api: JSON, or text when asText. Asks for the token on a 401 and retries. */
async function api(path, asText) {
  for (;;) {
    const res = await fetch(path, { headers: headers({ accept: asText ? 'text/plain' : 'application/json' }), cache: 'no-store' });
    if (res.status === 401) { await askToken(Boolean(token)); continue; }
    if (!res.ok) {
      let msg = res.status + ' ' + res.statusText;
      try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
      const err = new Error(msg);
      err.status = res.status;
      throw err;
    }
    return asText ? res.text() : res.json();
  }
}

const canStream = typeof ReadableStream !== 'undefined' && typeof TextDecoderStream !== 'undefined';

/**
 * Follows an SSE route with fetch(), reconnecting after 2 s with Last-Event-ID.
 * onOpen when a stream is up, onEvent(data, id) per event, onDown when it is not.
 */
function follow(path, on) {
  let lastId = null;
  let closed = false;
  const ac = new AbortController();
  (async () => {
    while (!closed) {
      try {
        const h = headers({ accept: 'text/event-stream' });
        if (lastId !== null) h['last-event-id'] = lastId;
        const res = await fetch(path, { headers: h, cache: 'no-store', signal: ac.signal });
        if (res.status === 401) { on.onDown(); await askToken(Boolean(token)); continue; }
        if (!res.ok || !res.body) throw new Error('event stream answered ' + res.status);
        on.onOpen();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          buf += r.value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let id = null;
            let type = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line === '' || line[0] === ':') continue;
              const c = line.indexOf(':');
              const field = c < 0 ? line : line.slice(0, c);
              let value = c < 0 ? '' : line.slice(c + 1);
              if (value[0] === ' ') value = value.slice(1);
              if (field === 'id') id = value;
              else if (field === 'event') type = value;
              else if (field === 'data') data.push(value);
            }
            if (!data.length) continue;
            let parsed;
            try { parsed = JSON.parse(data.join('\n')); } catch (e) { continue; }
            if (type === 'error') throw new Error(parsed.error || 'event stream failed');
            if (id !== null) lastId = id;
            on.onEvent(parsed, id);
          }
        }
      } catch (e) {
        if (closed) return;
        showError(e);
      }
      on.onDown();
      await sleep(POLL_MS);
    }
  })();
  return { close() { closed = true; ac.abort(); } };
}
`;

/** Page /: hosts, counts by state, processes, recent drift and restarts, BullMQ queues. */
const INDEX = String.raw`
const procs = new Map();
let recent = [];
let live = false;
let pending = new Set();
let flushTimer = null;

function hostState(h) {
  if (!h.alive) return 'dead';
  return h.state === 'draining' ? 'draining' : 'alive';
}
function byStateThenNewest(a, b) {
  return ORDER.indexOf(a.state) - ORDER.indexOf(b.state) || (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0);
}

function renderProcs() {
  const list = Array.from(procs.values()).sort(byStateThenNewest);
  const counts = {};
  for (const p of list) counts[p.state] = (counts[p.state] || 0) + 1;
  $('counts').replaceChildren(...ORDER.map((s) => {
    const c = el('span', s + ' ' + (counts[s] || 0), 'count st-' + s + (counts[s] ? '' : ' zero'));
    c.dataset.state = s;
    return c;
  }));
  $('procs').replaceChildren(...list.map((p) => {
    const tr = el('tr');
    tr.dataset.id = p.id;
    tr.append(
      linkCell(processHref(p.id), p.id),
      cell(p.name, 'name'),
      cell(p.state, 'state st-' + p.state),
      cell(p.host),
      cell(p.pid),
      cell(p.port),
      cell(p.restarts),
      cell(since(p.createdAt)),
      cell(commandLine(p.command), 'cmd'),
    );
    return tr;
  }));
  $('procs-empty').hidden = list.length > 0;
}

function renderHosts(hosts) {
  $('hosts').replaceChildren(...hosts.map((h) => {
    const tr = el('tr');
    tr.dataset.host = h.hostId;
    const state = hostState(h);
    tr.append(
      cell(h.hostId),
      cell(state, 'hstate h-' + state),
      cell(h.load + ' / ' + (h.capacity === null ? 'unlimited' : h.capacity)),
      cell(duration(Date.now() - h.at) + ' ago'),
      cell(h.version),
    );
    tr.title = 'heartbeat state ' + h.state + ', pid ' + h.pid;
    return tr;
  }));
  $('hosts-empty').hidden = hosts.length > 0;
}

function recentDetail(e) {
  switch (e.type) {
    case 'drift': return e.kind + ': ' + e.detail + (e.pids && e.pids.length ? ' (pids ' + e.pids.join(',') + ')' : '');
    case 'restart_scheduled': return 'restart #' + e.attempt + ' in ' + (e.delayMs < 1000 ? e.delayMs + ' ms' : duration(e.delayMs));
    case 'gave_up': return e.reason;
    case 'lost': return e.reason;
    default: return summary(e);
  }
}
function renderRecent() {
  $('recent').replaceChildren(...recent.map((g) => {
    const li = el('li');
    li.dataset.type = g.event.type;
    const a = el('a', g.processId);
    a.href = processHref(g.processId);
    li.append(el('time', when(g.event.at)), ' ', el('span', g.event.type, 'ev ev-' + g.event.type), ' ', a, ' ', el('span', recentDetail(g.event), 'detail'));
    return li;
  }));
  $('recent-empty').hidden = recent.length > 0;
}

function renderQueues(queues) {
  $('queues').replaceChildren(...queues.map((q) => {
    const tr = el('tr');
    tr.dataset.queue = q.name;
    tr.append(
      cell(q.name),
      cell(q.host === null ? 'any worker (starts)' : q.host),
      cell(q.counts.waiting, 'num'),
      cell(q.counts.active, 'num'),
      cell(q.counts.delayed, 'num'),
      cell(q.counts.failed, q.counts.failed ? 'num bad' : 'num'),
    );
    return tr;
  }));
}

async function refreshProcs() {
  try {
    const list = await api('/v1/processes');
    procs.clear();
    for (const p of list) procs.set(p.id, p);
    renderProcs();
    showError(null);
  } catch (e) { showError(e); }
}
async function refreshHosts() {
  try { renderHosts(await api('/v1/hosts')); } catch (e) { showError(e); }
}
async function refreshQueues() {
  try { renderQueues(await api('/v1/queues')); } catch (e) { showError(e); }
}

/** Fetches the records the live feed named, at most every 100 ms, keeping the newest version. */
function touch(id) {
  pending.add(id);
  if (flushTimer === null) flushTimer = setTimeout(flush, 100);
}
async function flush() {
  const ids = Array.from(pending);
  pending = new Set();
  await Promise.all(ids.map(async (id) => {
    try {
      const rec = await api(apiPath(id));
      const have = procs.get(id);
      if (!have || have.version <= rec.version) procs.set(id, rec);
    } catch (e) {
      if (e.status === 404) procs.delete(id); else showError(e);
    }
  }));
  flushTimer = null;
  if (pending.size) flushTimer = setTimeout(flush, 100);
  renderProcs();
}

function onFleetEvent(g) {
  if (NOTABLE.has(g.event.type)) {
    recent.unshift(g);
    recent = recent.slice(0, 50);
    renderRecent();
  }
  touch(g.processId);
}

async function main() {
  setLive(false);
  let cursor = null;
  try {
    const feed = await api('/v1/dashboard/recent');
    cursor = feed.cursor;
    recent = feed.events;
    renderRecent();
  } catch (e) { showError(e); }
  refreshHosts();
  refreshQueues();
  if (canStream) {
    follow('/v1/events' + (cursor === null ? '' : '?after=' + encodeURIComponent(cursor)), {
      // Fetched after the stream is up, so nothing between the two is missed.
      onOpen() { live = true; setLive(true); refreshProcs(); },
      onEvent: onFleetEvent,
      onDown() { live = false; setLive(false); },
    });
  } else {
    await refreshProcs();
  }
  let ticks = 0;
  setInterval(() => {
    ticks++;
    refreshHosts();
    if (ticks % 3 === 0) refreshQueues();
    if (!live) refreshProcs(); else renderProcs(); // ages move on
  }, POLL_MS);
}
main();
`;

/** Page /processes/:id: the record, its event history (live) and its log tail. */
const PROCESS = String.raw`
const ID = document.body.dataset.id;
let rec = null;
let lastVersion = 0;
let live = false;
let recordTimer = null;
let gone = false;

const FIELDS = [
  ['id', (r) => r.id], ['name', (r) => r.name], ['state', (r) => r.state], ['desired', (r) => r.desired],
  ['host', (r) => r.host], ['pid', (r) => r.pid], ['pgid', (r) => r.pgid], ['port', (r) => r.port],
  ['command', (r) => commandLine(r.command)], ['cwd', (r) => r.cwd],
  ['env', (r) => Object.keys(r.env || {}).join(', ')],
  ['restart policy', (r) => r.restartPolicy], ['restarts', (r) => r.restarts],
  ['exit code', (r) => r.exitCode], ['signal', (r) => r.signal], ['end reason', (r) => r.endReason],
  ['error', (r) => r.error], ['created', (r) => r.createdAt && when(r.createdAt) + ' (' + since(r.createdAt) + ' ago)'],
  ['started', (r) => r.startedAt && when(r.startedAt)], ['ready', (r) => r.readyAt && when(r.readyAt)],
  ['ended', (r) => r.endedAt && when(r.endedAt)], ['updated', (r) => when(r.updatedAt)], ['version', (r) => r.version],
];

function renderRecord() {
  $('record').replaceChildren(...FIELDS.map(([label, get]) => {
    const tr = el('tr');
    tr.dataset.field = label;
    tr.append(el('th', label), cell(get(rec), label === 'state' ? 'state st-' + rec.state : ''));
    return tr;
  }));
  $('heading-state').textContent = rec.state;
  $('heading-state').className = 'state st-' + rec.state;
  $('heading-name').textContent = rec.name ? ' ' + rec.name : '';
}

function addEvents(list) {
  const rows = [];
  for (const s of list) {
    if (s.version <= lastVersion) continue;
    lastVersion = s.version;
    const tr = el('tr');
    tr.dataset.type = s.event.type;
    tr.append(cell(s.version, 'num'), cell(when(s.event.at)), cell(s.event.type, 'ev ev-' + s.event.type), cell(summary(s.event), 'detail'));
    rows.push(tr);
  }
  if (rows.length) $('events').append(...rows);
  $('events-empty').hidden = lastVersion > 0;
}

async function refreshRecord() {
  try {
    const r = await api(apiPath(ID));
    if (!rec || r.version >= rec.version) { rec = r; renderRecord(); }
    showError(null);
  } catch (e) {
    if (e.status === 404) { gone = true; $('missing').hidden = false; }
    showError(e);
  }
}
function recordSoon() {
  if (recordTimer === null) recordTimer = setTimeout(() => { recordTimer = null; refreshRecord(); }, 100);
}
async function pollEvents() {
  try { addEvents(await api(apiPath(ID) + '/events?after=' + lastVersion)); } catch (e) { showError(e); }
}
async function refreshLogs() {
  try {
    const pre = $('logs');
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const text = await api(apiPath(ID) + '/logs?lines=200', true);
    pre.textContent = text || '(no output)';
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    $('logs-at').textContent = 'read ' + new Date().toLocaleTimeString();
  } catch (e) { showError(e); }
}

async function main() {
  setLive(false);
  await refreshRecord();
  if (gone) return;
  refreshLogs();
  if (canStream) {
    follow(apiPath(ID) + '/events', {
      onOpen() { live = true; setLive(true); },
      onEvent(s) { addEvents([s]); recordSoon(); },
      onDown() { live = false; setLive(false); },
    });
  } else {
    await pollEvents();
  }
  let ticks = 0;
  setInterval(() => {
    ticks++;
    if (!live) { pollEvents(); refreshRecord(); }
    else if (rec) renderRecord(); // ages move on
    // The log tail: every 2 s while the process may write, every 10 s once it is done.
    if (!rec || !FINAL.has(rec.state) || ticks % 5 === 0) refreshLogs();
  }, POLL_MS);
}
main();
`;

export const INDEX_SCRIPT = COMMON + INDEX;
export const PROCESS_SCRIPT = COMMON + PROCESS;
