import type { ReapqEvent } from './events.js';
import { LIVE_STATES, ProcessRecordSchema, type ProcessRecord } from './record.js';
import { fold, isLive } from './reducer.js';
import { decodeStored } from './stored.js';

/**
 * What `reapq fsck` compares, as plain data: the store as one read saw it, the records as
 * their events say they are, and what disagrees (with the writes that would make it agree).
 * Pure: the shell (src/producer/fsck.ts) reads Redis into a StoreSnapshot and applies the
 * plan; nothing here knows a key name.
 */

export interface RecordSnapshot {
  id: string;
  /** The projection as stored (the record hash's `r`), null when there is none. */
  projection: string | null;
  /** The record hash's `v` (0 when absent) and `run` fields. */
  hashVersion: number;
  hashRun: string | null;
  /** The events in order, read and upcast, or why they could not be. */
  events: ReapqEvent[] | { error: string };
  /** Score in the index of every record, null when absent. */
  score: number | null;
}

export type Heartbeat = 'alive' | 'down' | 'expired';

export interface HostSnapshot {
  hostIndex: string[];
  live: string[];
  ended: string[];
  /** Port lease hash: port -> process id. */
  ports: Record<string, string>;
  /** Its heartbeat's state, null when it has none. */
  heartbeat: Heartbeat | null;
}

export interface StoreSnapshot {
  /** Every id any index or lease names. */
  records: RecordSnapshot[];
  hosts: Record<string, HostSnapshot>;
  pending: string[];
  /** The counts hash; null when it was never built (it is built on first read). */
  counts: Record<string, number> | null;
  /** Whether the live indexes were built (they are on first read). */
  liveBuilt: boolean;
  /** State of the start job of each pending record (BullMQ's name), null when there is none. */
  startJobs: Record<string, string | null>;
}

/** Which structure an index write goes to. */
export type IndexRef = { index: 'all' | 'pending' } | { index: 'host' | 'live' | 'ended' | 'ports'; host: string };

export type IndexOp =
  | { op: 'sadd' | 'srem' | 'zrem'; ref: IndexRef; member: string }
  | { op: 'zadd'; ref: IndexRef; member: string; score: number }
  /** Port leases: removed only if still held by `value`, set only if free. */
  | { op: 'hdel-if' | 'hsetnx'; ref: IndexRef; field: string; value: string };

export interface Problem {
  /** The process id, or `counts`. */
  id: string;
  kind:
    | 'projection'
    | 'unreadable'
    | 'no-record'
    | 'all-index'
    | 'host-index'
    | 'live-index'
    | 'ended-index'
    | 'pending-index'
    | 'lease'
    | 'port'
    | 'no-start-job'
    | 'no-way-forward'
    | 'count';
  /** What disagrees. */
  what: string;
  /** What the events say. */
  events: string;
  /** Whether --repair rewrites it. */
  repairable: boolean;
}

/**
 * The writes that make one record agree with its events, fenced: applied only while the
 * record hash is still at hashVersion and its events end at eventsVersion.
 */
export interface RecordRepair {
  id: string;
  hashVersion: number;
  eventsVersion: number;
  /** The record as its events say; null for an id that has no record and no events (only index entries to drop). */
  record: ProcessRecord | null;
  /** Counts field of the projection as stored, null when it was not a readable record. */
  oldCountsField: string | null;
  /** Whether the projection itself (or its version or run fields) must be rewritten. */
  rewrite: boolean;
  ops: IndexOp[];
  /** The pending record has no start job: put it back (as the fleet pass would). */
  enqueueStart: boolean;
  /** One line per change, for the `repaired` event. */
  changed: string[];
}

export interface FsckPlan {
  problems: Problem[];
  repairs: RecordRepair[];
  /** The counts hash disagrees with the records: recount it. */
  recount: boolean;
  records: number;
}

/** Job states in which a start job will still run. */
const JOB_WILL_RUN = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

export function countsField(r: ProcessRecord): string {
  return `${r.state} ${r.host ?? ''}`;
}

/** Compares every record with its events and every index, count and lease with the records. */
export function compareStore(s: StoreSnapshot): FsckPlan {
  const problems: Problem[] = [];
  const repairs: RecordRepair[] = [];
  const member = memberships(s);
  const tally = new Map<string, number>();
  // An id only an index or a lease names is judged as one with no record and no events.
  const seen = new Set(s.records.map((r) => r.id));
  const strays = [...member.keys()].filter((id) => !seen.has(id));
  const nothing = (id: string): RecordSnapshot => ({ id, projection: null, hashVersion: 0, hashRun: null, events: [], score: null });
  for (const snap of [...s.records, ...strays.map(nothing)]) {
    const judged = judgeRecord(s, snap, member.get(snap.id) ?? emptyMembership());
    problems.push(...judged.problems);
    if (judged.repair) repairs.push(judged.repair);
    if (judged.counted) tally.set(judged.counted, (tally.get(judged.counted) ?? 0) + 1);
  }
  const countProblems = s.counts ? compareCounts(s.counts, tally) : [];
  problems.push(...countProblems);
  return { problems, repairs, recount: countProblems.length > 0, records: s.records.length + strays.length };
}

interface Membership {
  host: Set<string>;
  live: Set<string>;
  ended: Set<string>;
  /** host -> ports leased to the id there. */
  leases: Map<string, string[]>;
  pending: boolean;
}

const emptyMembership = (): Membership => ({ host: new Set(), live: new Set(), ended: new Set(), leases: new Map(), pending: false });

/** For each id, the hosts whose indexes and leases name it: one pass over the indexes. */
function memberships(s: StoreSnapshot): Map<string, Membership> {
  const m = new Map<string, Membership>();
  const of = (id: string): Membership => {
    let x = m.get(id);
    if (!x) m.set(id, (x = emptyMembership()));
    return x;
  };
  for (const [h, hs] of Object.entries(s.hosts)) {
    for (const id of hs.hostIndex) of(id).host.add(h);
    for (const id of hs.live) of(id).live.add(h);
    for (const id of hs.ended) of(id).ended.add(h);
    for (const [port, id] of Object.entries(hs.ports)) {
      const l = of(id).leases;
      l.set(h, [...(l.get(h) ?? []), port]);
    }
  }
  for (const id of s.pending) of(id).pending = true;
  return m;
}

interface Judged {
  problems: Problem[];
  repair: RecordRepair | null;
  /** Counts field the record should be counted under, null when it is not a record. */
  counted: string | null;
}

function judgeRecord(s: StoreSnapshot, snap: RecordSnapshot, m: Membership): Judged {
  const { id } = snap;
  const stored = parseProjection(id, snap.projection);
  if (!Array.isArray(snap.events)) {
    const what = `events cannot be read: ${snap.events.error}`;
    return { problems: [{ id, kind: 'unreadable', what, events: 'unreadable', repairable: false }], repair: null, counted: stored.field };
  }
  let truth: ProcessRecord | null;
  try {
    truth = fold(snap.events, id);
  } catch (err) {
    const what = (err as Error).message;
    return { problems: [{ id, kind: 'unreadable', what, events: 'do not fold', repairable: false }], repair: null, counted: stored.field };
  }
  if (!truth && snap.projection !== null) {
    const what = `has a projection${stored.record ? '' : ` (unreadable: ${stored.problem})`} but no events`;
    return { problems: [{ id, kind: 'unreadable', what, events: 'none', repairable: false }], repair: null, counted: stored.field };
  }
  const said = truth ? `${truth.state} on ${truth.host ?? 'no host'}, version ${truth.version}` : 'no such process';
  const out: Problem[] = [];
  const changed: string[] = [];
  const add = (kind: Problem['kind'], what: string, repairable = true) => {
    out.push({ id, kind, what, events: said, repairable });
    if (repairable) changed.push(what);
  };
  const rewrite = truth ? compareProjection(snap, stored, truth, add) : false;
  const ops = indexOps(s, id, snap, truth, m, add);
  const enqueueStart = truth ? wayForward(s, truth, add) : false;
  const repairable = rewrite || ops.length > 0 || enqueueStart;
  const repair: RecordRepair | null = repairable
    ? {
        id,
        hashVersion: snap.hashVersion,
        eventsVersion: truth?.version ?? 0,
        record: truth,
        oldCountsField: stored.field,
        rewrite,
        ops,
        enqueueStart,
        changed,
      }
    : null;
  return { problems: out, repair, counted: truth ? countsField(truth) : null };
}

type Add = (kind: Problem['kind'], what: string, repairable?: boolean) => void;

interface Stored {
  record: ProcessRecord | null;
  problem: string | null;
  field: string | null;
}

function parseProjection(id: string, json: string | null): Stored {
  if (json === null) return { record: null, problem: null, field: null };
  const d = decodeStored(ProcessRecordSchema, json, 'record');
  if (!d.ok) return { record: null, problem: d.problem, field: null };
  if (d.value.id !== id) return { record: null, problem: `holds the record of ${JSON.stringify(d.value.id)}`, field: null };
  return { record: d.value, problem: null, field: countsField(d.value) };
}

/** Whether the projection must be rewritten; each difference is one line. */
function compareProjection(snap: RecordSnapshot, stored: Stored, truth: ProcessRecord, add: Add): boolean {
  let n = 0;
  const diff: Add = (kind, what) => {
    n++;
    add(kind, what);
  };
  if (snap.projection === null) diff('no-record', 'projection missing');
  else if (!stored.record) diff('projection', `projection unreadable: ${stored.problem}`);
  else {
    for (const line of projectionDiff(stored.record, truth)) diff('projection', `projection ${line}`);
  }
  if (snap.hashVersion !== truth.version) diff('projection', `record version field: ${snap.hashVersion}, events say ${truth.version}`);
  if (truth.runId !== null && snap.hashRun !== truth.runId)
    diff('projection', `record run field: ${snap.hashRun ?? 'none'}, events say ${truth.runId}`);
  return n > 0;
}

/** Each field where a stored record differs from its fold: `<field>: <stored>, events say <folded>`. */
export function projectionDiff(stored: ProcessRecord, truth: ProcessRecord): string[] {
  const out: string[] = [];
  for (const key of Object.keys(truth) as Array<keyof ProcessRecord>) {
    const a = JSON.stringify(stored[key]);
    const b = JSON.stringify(truth[key]);
    if (a !== b) out.push(`${key}: ${clip(a)}, events say ${clip(b)}`);
  }
  return out;
}

/** The index and lease writes that make them agree with the record (truth null: drop every entry). */
function indexOps(s: StoreSnapshot, id: string, snap: RecordSnapshot, truth: ProcessRecord | null, m: Membership, add: Add): IndexOp[] {
  const ops: IndexOp[] = [];
  const host = truth?.host ?? null;
  const score = truth ? Date.parse(truth.createdAt) : null;
  if (score !== snap.score) {
    if (score === null) ops.push({ op: 'zrem', ref: { index: 'all' }, member: id });
    else ops.push({ op: 'zadd', ref: { index: 'all' }, member: id, score });
    add(
      'all-index',
      score === null
        ? 'index of every record: names it'
        : `index of every record: ${snap.score === null ? 'missing' : `score ${snap.score}, not ${score}`}`,
    );
  }
  const set = (kind: 'host' | 'live', h: string, want: boolean, have: boolean, label: string) => {
    if (want === have) return;
    ops.push({ op: want ? 'sadd' : 'srem', ref: { index: kind, host: h }, member: id });
    add(kind === 'host' ? 'host-index' : 'live-index', `${label} of ${h}: ${want ? 'missing' : 'names it'}`);
  };
  const live = truth !== null && isLive(truth);
  for (const h of new Set([...m.host, ...(host ? [host] : [])])) set('host', h, h === host, m.host.has(h), 'host index');
  if (s.liveBuilt)
    for (const h of new Set([...m.live, ...(host && live ? [host] : [])])) set('live', h, h === host && live, m.live.has(h), 'live index');
  for (const h of m.ended) {
    if (truth !== null && !(h === host && live)) continue;
    ops.push({ op: 'zrem', ref: { index: 'ended', host: h }, member: id });
    add('ended-index', `ended index of ${h}: names it${truth ? ' while it is live there' : ''}`);
  }
  const pending = truth?.state === 'pending';
  if (pending !== m.pending) {
    ops.push({ op: pending ? 'sadd' : 'srem', ref: { index: 'pending' }, member: id });
    add('pending-index', `pending set: ${pending ? 'missing' : 'names it'}`);
  }
  ops.push(...leaseOps(s, id, truth, m, add));
  return ops;
}

/**
 * A port lease is held by a record that is live on that host with that port, or pending
 * (a worker leases the port just before it appends the spawn that names it).
 */
function leaseOps(s: StoreSnapshot, id: string, truth: ProcessRecord | null, m: Membership, add: Add): IndexOp[] {
  const ops: IndexOp[] = [];
  const holds = (h: string, port: string) =>
    truth !== null && isLive(truth) && (truth.state === 'pending' || (truth.host === h && truth.port === Number(port)));
  for (const [h, ports] of m.leases) {
    for (const port of ports) {
      if (holds(h, port)) continue;
      ops.push({ op: 'hdel-if', ref: { index: 'ports', host: h }, field: port, value: id });
      add(
        'lease',
        `port ${port} of ${h} is leased to it, which ${truth ? `is ${truth.state} on ${truth.host ?? 'no host'}${truth.port !== null ? ` with port ${truth.port}` : ''}` : 'does not exist'}`,
      );
    }
  }
  if (truth && LIVE_STATES.has(truth.state) && truth.requestedPort === 'auto' && truth.port !== null && truth.host) {
    const holder = s.hosts[truth.host]?.ports[String(truth.port)];
    if (holder === undefined) {
      ops.push({ op: 'hsetnx', ref: { index: 'ports', host: truth.host }, field: String(truth.port), value: id });
      add('port', `port ${truth.port} on ${truth.host}: not leased to it`);
    } else if (holder !== id) add('port', `port ${truth.port} on ${truth.host}: leased to ${holder}`, false);
  }
  return ops;
}

/** A record that is not done has a way forward: a start job, or a host that serves it or will be found lost. */
function wayForward(s: StoreSnapshot, truth: ProcessRecord, add: Add): boolean {
  if (truth.state === 'pending') {
    const job = s.startJobs[truth.id] ?? null;
    if (job !== null && JOB_WILL_RUN.has(job)) return false;
    add('no-start-job', `pending with ${job === null ? 'no start job' : `its start job ${job}`}`);
    return true;
  }
  if (!isLive(truth) || truth.host === null) return false;
  // alive: it serves it; down: its next worker adopts it; expired: the fleet pass marks it lost.
  if (s.hosts[truth.host]?.heartbeat) return false;
  add('no-way-forward', `${truth.state} on ${truth.host}, which has no heartbeat: no worker serves it or marks it lost`, false);
  return false;
}

function compareCounts(counts: Record<string, number>, tally: Map<string, number>): Problem[] {
  const out: Problem[] = [];
  for (const field of new Set([...Object.keys(counts), ...tally.keys()])) {
    const have = counts[field] ?? 0;
    const want = tally.get(field) ?? 0;
    if (have === want) continue;
    const [state, host] = [field.slice(0, field.indexOf(' ')), field.slice(field.indexOf(' ') + 1)];
    out.push({
      id: 'counts',
      kind: 'count',
      what: `${state} on ${host || 'no host'}: counted ${have}`,
      events: `${want} record${want === 1 ? '' : 's'}`,
      repairable: true,
    });
  }
  return out;
}

const clip = (s: string | undefined): string => (s === undefined ? 'absent' : s.length > 80 ? `${s.slice(0, 77)}...` : s);
