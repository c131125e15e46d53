/** Page /processes/:id: the record, its event history (live) and its log tail. */
import type { StoredEvent } from '../../../shared/events.js';
import type { ProcessRecord } from '../../../shared/record.js';
import { FINAL_STATES } from '../../../shared/states.js';
import {
  $,
  api,
  ApiError,
  apiPath,
  apiText,
  canStream,
  cell,
  commandLine,
  el,
  follow,
  POLL_MS,
  setLive,
  showError,
  since,
  summary,
  when,
} from './common.js';

const ID = document.body.dataset.id ?? '';
let rec: ProcessRecord | null = null;
let lastVersion = 0;
let live = false;
let recordTimer: ReturnType<typeof setTimeout> | null = null;
let gone = false;

const FIELDS: Array<[string, (r: ProcessRecord) => unknown]> = [
  ['id', (r) => r.id],
  ['name', (r) => r.name],
  ['state', (r) => r.state],
  ['desired', (r) => r.desired],
  ['host', (r) => r.host],
  ['pid', (r) => r.pid],
  ['pgid', (r) => r.pgid],
  ['port', (r) => r.port],
  ['command', (r) => commandLine(r.command)],
  ['cwd', (r) => r.cwd],
  ['env', (r) => Object.keys(r.env ?? {}).join(', ')],
  ['restart policy', (r) => r.restartPolicy],
  ['restarts', (r) => r.restarts],
  ['exit code', (r) => r.exitCode],
  ['signal', (r) => r.signal],
  ['end reason', (r) => r.endReason],
  ['error', (r) => r.error],
  ['created', (r) => r.createdAt && when(r.createdAt) + ' (' + since(r.createdAt) + ' ago)'],
  ['started', (r) => r.startedAt && when(r.startedAt)],
  ['ready', (r) => r.readyAt && when(r.readyAt)],
  ['ended', (r) => r.endedAt && when(r.endedAt)],
  ['updated', (r) => when(r.updatedAt)],
  ['version', (r) => r.version],
];

function renderRecord(r: ProcessRecord): void {
  $('record').replaceChildren(
    ...FIELDS.map(([label, get]) => {
      const tr = el('tr');
      tr.dataset.field = label;
      tr.append(el('th', label), cell(get(r), label === 'state' ? 'state st-' + r.state : ''));
      return tr;
    }),
  );
  $('heading-state').textContent = r.state;
  $('heading-state').className = 'state st-' + r.state;
  $('heading-name').textContent = r.name ? ' ' + r.name : '';
}

function addEvents(list: StoredEvent[]): void {
  const rows = [];
  for (const s of list) {
    if (s.version <= lastVersion) continue;
    lastVersion = s.version;
    const tr = el('tr');
    tr.dataset.type = s.event.type;
    tr.append(
      cell(s.version, 'num'),
      cell(when(s.event.at)),
      cell(s.event.type, 'ev ev-' + s.event.type),
      cell(summary(s.event), 'detail'),
    );
    rows.push(tr);
  }
  if (rows.length) $('events').append(...rows);
  $('events-empty').hidden = lastVersion > 0;
}

async function refreshRecord(): Promise<void> {
  try {
    const r = await api<ProcessRecord>(apiPath(ID));
    if (!rec || r.version >= rec.version) {
      rec = r;
      renderRecord(r);
    }
    showError(null);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      gone = true;
      $('missing').hidden = false;
    }
    showError(e);
  }
}

function recordSoon(): void {
  if (recordTimer !== null) return;
  recordTimer = setTimeout(() => {
    recordTimer = null;
    void refreshRecord();
  }, 100);
}

async function pollEvents(): Promise<void> {
  try {
    addEvents(await api<StoredEvent[]>(apiPath(ID) + '/events?after=' + lastVersion));
  } catch (e) {
    showError(e);
  }
}

async function refreshLogs(): Promise<void> {
  try {
    const pre = $('logs');
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const text = await apiText(apiPath(ID) + '/logs?lines=200');
    pre.textContent = text || '(no output)';
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    $('logs-at').textContent = 'read ' + new Date().toLocaleTimeString();
  } catch (e) {
    showError(e);
  }
}

async function main(): Promise<void> {
  setLive(false);
  await refreshRecord();
  if (gone) return;
  void refreshLogs();
  if (canStream) {
    follow<StoredEvent>(apiPath(ID) + '/events', {
      onOpen() {
        live = true;
        setLive(true);
      },
      onEvent(s) {
        addEvents([s]);
        recordSoon();
      },
      onDown() {
        live = false;
        setLive(false);
      },
    });
  } else {
    await pollEvents();
  }
  let ticks = 0;
  setInterval(() => {
    ticks++;
    if (!live) {
      void pollEvents();
      void refreshRecord();
    } else if (rec) renderRecord(rec); // ages move on
    // The log tail: every 2 s while the process may write, every 10 s once it is done.
    if (!rec || !FINAL_STATES.has(rec.state) || ticks % 5 === 0) void refreshLogs();
  }, POLL_MS);
}

void main();
