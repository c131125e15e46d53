/** Page /: services, hosts, counts by state, processes, recent drift and restarts, BullMQ queues. */
import { humanMs } from '../../../shared/duration.js';
import type { GlobalEvent } from '../../../shared/event-store.js';
import type { ReapqEvent } from '../../../shared/events.js';
import type { HostInfo } from '../../../shared/hosts.js';
import type { ProcessRecord } from '../../../shared/record.js';
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

const procs = new Map<string, ProcessRecord>();
let recent: GlobalEvent[] = [];
let live = false;
let pending = new Set<string>();
let flushTimer: ReturnType<typeof setTimeout> | null = null;

function hostState(h: HostInfo): string {
  if (!h.alive) return 'dead';
  return h.state === 'draining' ? 'draining' : 'alive';
}

function byStateThenNewest(a: ProcessRecord, b: ProcessRecord): number {
  const rank = STATES_BY_ATTENTION.indexOf(a.state) - STATES_BY_ATTENTION.indexOf(b.state);
  return rank || (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0);
}

function renderProcs(): void {
  const list = Array.from(procs.values()).sort(byStateThenNewest);
  const counts = new Map<string, number>();
  for (const p of list) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  $('counts').replaceChildren(
    ...STATES_BY_ATTENTION.map((s) => {
      const n = counts.get(s) ?? 0;
      const c = el('span', s + ' ' + n, 'count st-' + s + (n ? '' : ' zero'));
      c.dataset.state = s;
      return c;
    }),
  );
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
        cell(commandLine(p.command), 'cmd'),
      );
      return tr;
    }),
  );
  $('procs-empty').hidden = list.length > 0;
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
        cell(humanMs(Date.now() - h.at) + ' ago'),
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
        cell(q.host === null ? 'any worker (starts)' : q.host),
        cell(q.counts.waiting, 'num'),
        cell(q.counts.active, 'num'),
        cell(q.counts.delayed, 'num'),
        cell(q.counts.failed, q.counts.failed ? 'num bad' : 'num'),
      );
      return tr;
    }),
  );
}

async function refreshProcs(): Promise<void> {
  try {
    const list = await api<ProcessRecord[]>('/v1/processes');
    procs.clear();
    for (const p of list) procs.set(p.id, p);
    renderProcs();
    showError(null);
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
  touch(g.processId);
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
    if (ticks % 3 === 0) void refreshQueues();
    if (!live) void refreshProcs();
    else renderProcs(); // ages move on
  }, POLL_MS);
}

void main();
