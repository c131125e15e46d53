/**
 * Page /: services, hosts, counts by state, processes, recent drift and restarts, BullMQ
 * queues. The process table holds the newest page of records and the older pages asked
 * for, never the whole history; the counts by state come from the server.
 */
import { bytes, cpuTime, humanMs } from '../../../shared/duration.js';
import type { GlobalEvent } from '../../../shared/event-store.js';
import type { ReapqEvent } from '../../../shared/events.js';
import type { HostInfo } from '../../../shared/hosts.js';
import type { ProcessRecord } from '../../../shared/record.js';
import type { UsageEntry } from '../../../shared/usage.js';
import type { Page } from '../../client.js';
import type { CountsBody } from '../processes.js';
import { STATES_BY_ATTENTION } from '../../../shared/states.js';
import type { RecentFeed } from '../dashboard-feed.js';
import type { QueueCounts } from '../queues.js';
import type { ServiceInfo } from '../../deploys.js';
import {
  $,
  api,
  ApiError,
  apiPost,
  apiPath,
  canStream,
  cell,
  commandLine,
  el,
  follow,
  linkCell,
  POLL_MS,
  processHref,
  setLive,
  showError,
  since,
  summary,
  when,
} from './common.js';
import { NOTABLE_TYPES } from './notable.js';

/** Records per page of the process table. */
const PAGE = 50;
/** Records on screen: the newest `pages` pages, plus any created since. */
let procs = new Map<string, ProcessRecord>();
let pages = 1;
/** Cursor of the next older page; null once the oldest record is on screen. */
let older: string | null = null;
let counts: CountsBody | null = null;
let usage = new Map<string, UsageEntry>();
let recent: GlobalEvent[] = [];
let live = false;
let pending = new Set<string>();
let flushTimer: ReturnType<typeof setTimeout> | null = null;
let countsTimer: ReturnType<typeof setTimeout> | null = null;
/** Page loads one at a time, so a refresh and an "older" click cannot interleave. */
let loads: Promise<void> = Promise.resolve();

function hostState(h: HostInfo): string {
  if (!h.alive) return 'dead';
  return h.state === 'draining' ? 'draining' : 'alive';
}

/** The index's order, newest first: creation time, then id (as ZREVRANGE breaks ties). */
function newestFirst(a: ProcessRecord, b: ProcessRecord): number {
  const at = Date.parse(b.createdAt) - Date.parse(a.createdAt);
  return at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The newer of two readings of one record. */
function newer(have: ProcessRecord | undefined, rec: ProcessRecord): ProcessRecord {
  return have && have.version > rec.version ? have : rec;
}

function renderCounts(): void {
  const by = counts?.byState ?? {};
  $('counts').replaceChildren(
    ...STATES_BY_ATTENTION.map((s) => {
      const n = by[s] ?? 0;
      const c = el('span', s + ' ' + n, 'count st-' + s + (n ? '' : ' zero'));
      c.dataset.state = s;
      return c;
    }),
  );
  $('shown').textContent = counts ? procs.size + ' of ' + counts.total : '';
}

/** CPU time and memory of the record's current run, once its worker has read them. */
function usageCells(p: ProcessRecord): HTMLTableCellElement[] {
  const u = usage.get(p.id);
  if (!u || u.run !== p.runId) return [cell(null, 'num cpu'), cell(null, 'num mem')];
  return [cell(cpuTime(u.cpuMs), 'num cpu'), cell(u.memoryBytes === null ? null : bytes(u.memoryBytes), 'num mem')];
}

function renderProcs(): void {
  const list = Array.from(procs.values()).sort(newestFirst);
  renderCounts();
  $('procs').replaceChildren(
    ...list.map((p) => {
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
        ...usageCells(p),
        cell(commandLine(p.command), 'cmd'),
      );
      return tr;
    }),
  );
  $('procs-empty').hidden = list.length > 0;
  $('older').hidden = older === null;
}

/** Services with their active revision and last deploy; restart, rollback and stop after a confirm. */
function renderServices(list: ServiceInfo[]): void {
  $('services').replaceChildren(
    ...list.map((s) => {
      const tr = el('tr');
      tr.dataset.service = s.name;
      const procsCell = el('td');
      for (const p of s.active?.processes ?? []) {
        const a = el('a', p.id + ' ' + (p.host ?? '-') + ':' + (p.port ?? '-') + ' ' + p.state, 'st-' + p.state);
        a.href = processHref(p.id);
        procsCell.append(a, el('br'));
      }
      const d = s.lastDeploy;
      const last = d ? d.id + ' r' + d.revision + ' ' + d.state + (d.reason ? ' (' + d.reason + ')' : '') : '-';
      const actions = el('td');
      for (const action of ['restart', 'rollback', 'stop'] as const) {
        const b = el('button', action);
        b.type = 'button';
        b.dataset.action = action;
        b.disabled = !s.active;
        b.addEventListener('click', () => {
          if (!confirm(action + ' ' + s.name + '?')) return;
          apiPost('/v1/services/' + encodeURIComponent(s.name) + '/' + action).then(refreshServices, showError);
        });
        actions.append(b, ' ');
      }
      actions.append(scaleButton(s));
      tr.append(
        cell(s.name, 'name'),
        cell(s.active ? 'r' + s.active.revision : '-'),
        procsCell,
        cell(last, 'detail deploy-' + (d?.state ?? 'none')),
        actions,
      );
      return tr;
    }),
  );
  $('services-empty').hidden = list.length > 0;
}

/** Asks for a replica count and scales the active revision to it. */
function scaleButton(s: ServiceInfo): HTMLButtonElement {
  const b = el('button', 'scale');
  b.type = 'button';
  b.dataset.action = 'scale';
  b.disabled = !s.active;
  b.addEventListener('click', () => {
    const answer = prompt('replicas of ' + s.name + ' (now ' + (s.active?.processes.length ?? 0) + ')');
    if (answer === null || answer.trim() === '') return;
    const replicas = Number(answer);
    if (!Number.isInteger(replicas) || replicas < 1) return showError('replicas must be a whole number, at least 1: ' + answer);
    apiPost('/v1/services/' + encodeURIComponent(s.name) + '/scale', { replicas }).then(refreshServices, showError);
  });
  return b;
}

async function refreshServices(): Promise<void> {
  try {
    renderServices(await api<ServiceInfo[]>('/v1/services'));
  } catch (e) {
    showError(e);
  }
}

function renderHosts(hosts: HostInfo[]): void {
  $('hosts').replaceChildren(
    ...hosts.map((h) => {
      const tr = el('tr');
      tr.dataset.host = h.hostId;
      const state = hostState(h);
      tr.append(
        cell(h.hostId),
        cell(state, 'hstate h-' + state),
        cell(h.load + ' / ' + (h.capacity === null ? 'unlimited' : h.capacity)),
        cell(humanMs(Math.max(0, h.ageMs)) + ' ago'),
        cell(h.version),
      );
      tr.title = 'heartbeat state ' + h.state + ', pid ' + h.pid;
      return tr;
    }),
  );
  $('hosts-empty').hidden = hosts.length > 0;
}

function recentDetail(e: ReapqEvent): string {
  switch (e.type) {
    case 'drift':
      return e.kind + ': ' + e.detail + (e.pids.length ? ' (pids ' + e.pids.join(',') + ')' : '');
    case 'restart_scheduled':
      return 'restart #' + e.attempt + ' in ' + humanMs(e.delayMs);
    case 'gave_up':
    case 'lost':
    case 'start_failed':
      return e.reason;
    default:
      return summary(e);
  }
}

function renderRecent(): void {
  $('recent').replaceChildren(
    ...recent.map((g) => {
      const li = el('li');
      li.dataset.type = g.event.type;
      const a = el('a', g.processId);
      a.href = processHref(g.processId);
      const type = el('span', g.event.type, 'ev ev-' + g.event.type);
      li.append(el('time', when(g.event.at)), ' ', type, ' ', a, ' ', el('span', recentDetail(g.event), 'detail'));
      return li;
    }),
  );
  $('recent-empty').hidden = recent.length > 0;
}

function renderQueues(queues: QueueCounts[]): void {
  $('queues').replaceChildren(
    ...queues.map((q) => {
      const tr = el('tr');
      tr.dataset.queue = q.name;
      tr.append(
        cell(q.name),
        cell(q.host !== null ? q.host : q.name === 'deploy' ? 'any worker (deploys)' : 'any worker (starts)'),
        cell(q.counts.waiting, 'num'),
        cell(q.counts.active, 'num'),
        cell(q.counts.delayed, 'num'),
        cell(q.counts.failed, q.counts.failed ? 'num bad' : 'num'),
      );
      return tr;
    }),
  );
}

function pagePath(cursor: string | null): string {
  return '/v1/processes?order=newest&limit=' + PAGE + (cursor === null ? '' : '&cursor=' + encodeURIComponent(cursor));
}

function serially(load: () => Promise<void>): Promise<void> {
  loads = loads.then(load, load);
  return loads;
}

/** Reads the pages on screen again (newest first), then the counts and the usage. */
function refreshProcs(): Promise<void> {
  return serially(async () => {
    try {
      const fresh = new Map<string, ProcessRecord>();
      let cursor: string | null = null;
      for (let i = 0; i < pages; i++) {
        const page: Page = await api<Page>(pagePath(cursor));
        for (const r of page.records) fresh.set(r.id, newer(procs.get(r.id), r));
        cursor = page.cursor;
        if (cursor === null) break;
      }
      // A record the live feed put on top while the pages were read stays there: its next
      // events only reach records on screen.
      const top = Array.from(fresh.values()).sort(newestFirst)[0];
      for (const [id, r] of procs) if (!fresh.has(id) && (!top || newestFirst(r, top) < 0)) fresh.set(id, r);
      procs = fresh;
      older = cursor;
      renderProcs();
      showError(null);
    } catch (e) {
      showError(e);
    }
    await Promise.all([refreshCounts(), refreshUsage()]);
  });
}

/** The "older" button: the page below the ones on screen. */
function loadOlder(): Promise<void> {
  return serially(async () => {
    if (older === null) return;
    try {
      const page = await api<Page>(pagePath(older));
      for (const r of page.records) procs.set(r.id, newer(procs.get(r.id), r));
      older = page.cursor;
      pages++;
      renderProcs();
    } catch (e) {
      showError(e);
    }
    await refreshUsage();
  });
}

async function refreshCounts(): Promise<void> {
  try {
    counts = await api<CountsBody>('/v1/counts');
    renderCounts();
  } catch (e) {
    showError(e);
  }
}

/** Counts change with every event, on screen or not: read again at most every 250 ms. */
function countsSoon(): void {
  if (countsTimer !== null) return;
  countsTimer = setTimeout(() => {
    countsTimer = null;
    void refreshCounts();
  }, 250);
}

/** The last usage reading of each record on screen in cgroup mode: one read per 500. */
async function refreshUsage(): Promise<void> {
  const ids = Array.from(procs.values())
    .filter((p) => p.containment === 'cgroup')
    .map((p) => p.id);
  try {
    const next = new Map<string, UsageEntry>();
    for (let i = 0; i < ids.length; i += 500) {
      const got = await api<Record<string, UsageEntry>>('/v1/usage?ids=' + ids.slice(i, i + 500).join(','));
      for (const [id, u] of Object.entries(got)) next.set(id, u);
    }
    usage = next;
    renderProcs();
  } catch (e) {
    showError(e);
  }
}

async function refreshHosts(): Promise<void> {
  try {
    renderHosts(await api<HostInfo[]>('/v1/hosts'));
  } catch (e) {
    showError(e);
  }
}

async function refreshQueues(): Promise<void> {
  try {
    renderQueues(await api<QueueCounts[]>('/v1/queues'));
  } catch (e) {
    showError(e);
  }
}

/** Fetches the records the live feed named, at most every 100 ms, keeping the newest version. */
function touch(id: string): void {
  pending.add(id);
  if (flushTimer === null) flushTimer = setTimeout(() => void flush(), 100);
}

async function flush(): Promise<void> {
  const ids = Array.from(pending);
  pending = new Set();
  await Promise.all(
    ids.map(async (id) => {
      try {
        const rec = await api<ProcessRecord>(apiPath(id));
        const have = procs.get(id);
        if (!have || have.version <= rec.version) procs.set(id, rec);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) procs.delete(id);
        else showError(e);
      }
    }),
  );
  flushTimer = null;
  if (pending.size) flushTimer = setTimeout(() => void flush(), 100);
  renderProcs();
}

function onFleetEvent(g: GlobalEvent): void {
  if (NOTABLE_TYPES.has(g.event.type)) {
    recent.unshift(g);
    recent = recent.slice(0, 50);
    renderRecent();
  }
  // A record on screen follows its events; a new one (its first event) goes on top; an
  // older record not on screen stays off it, or the table would grow with the history.
  if (procs.has(g.processId) || g.version === 1) touch(g.processId);
  countsSoon();
}

async function main(): Promise<void> {
  setLive(false);
  let cursor: string | null = null;
  try {
    const feed = await api<RecentFeed>('/v1/dashboard/recent');
    cursor = feed.cursor;
    recent = feed.events;
    renderRecent();
  } catch (e) {
    showError(e);
  }
  void refreshHosts();
  void refreshQueues();
  void refreshServices();
  $('older').addEventListener('click', () => void loadOlder());
  if (canStream) {
    follow<GlobalEvent>('/v1/events' + (cursor === null ? '' : '?after=' + encodeURIComponent(cursor)), {
      // Fetched after the stream is up, so nothing between the two is missed.
      onOpen() {
        live = true;
        setLive(true);
        void refreshProcs();
      },
      onEvent: onFleetEvent,
      onDown() {
        live = false;
        setLive(false);
      },
    });
  } else {
    await refreshProcs();
  }
  let ticks = 0;
  setInterval(() => {
    ticks++;
    void refreshHosts();
    void refreshServices();
    if (ticks % 3 === 0) {
      void refreshQueues();
      void refreshCounts(); // a prune changes them without an event
    }
    if (!live) void refreshProcs();
    else void refreshUsage(); // re-renders: ages move on, and usage is read each reconcile pass
  }, POLL_MS);
}

void main();
