import type { Redis } from 'ioredis';
import { EventStore } from '../shared/event-store.js';
import { withVersion, type ReapqEvent } from '../shared/events.js';
import {
  compareStore,
  countsField,
  type FsckPlan,
  type HostSnapshot,
  type IndexRef,
  type Problem,
  type RecordRepair,
  type RecordSnapshot,
  type StoreSnapshot,
} from '../shared/fsck.js';
import { liveness, readHostsAt, type HostInfo } from '../shared/hosts.js';
import type { BatchedStarts } from '../shared/job-queues.js';
import type { Keys } from '../shared/keys.js';
import { luaScript } from '../shared/lua.js';
import type { ProcessRecord } from '../shared/record.js';
import { fold, reduce } from '../shared/reducer.js';
import type { ClientInternals } from './client-internals.js';

const REPAIR_LUA = luaScript('repair.lua');
const CHUNK = 500;

export interface FsckResult {
  /** Records read (every id an index or a lease names). */
  records: number;
  problems: Problem[];
  /** With repair: the ids rewritten, and those that moved on meanwhile (left for the next fsck). */
  repaired: string[];
  skipped: string[];
  /** With repair: whether the counts were recounted. */
  recounted: boolean;
  durationMs: number;
}

/**
 * Reads the whole store, compares it (src/shared/fsck.ts) and, with repair, rewrites what
 * disagrees, one record at a time, each fenced by its version. Never signals or spawns
 * anything: a repaired record is acted on by its worker as any other change.
 */
export async function fsck(c: ClientInternals, opts: { repair?: boolean; now?: () => number } = {}): Promise<FsckResult> {
  const now = opts.now ?? Date.now;
  const t0 = performance.now();
  const snapshot = await readSnapshot(c);
  const plan = compareStore(snapshot);
  const result: FsckResult = { records: plan.records, problems: plan.problems, repaired: [], skipped: [], recounted: false, durationMs: 0 };
  if (opts.repair) await applyPlan(c, plan, result, now);
  result.durationMs = Math.round(performance.now() - t0);
  return result;
}

async function readSnapshot(c: ClientInternals): Promise<StoreSnapshot> {
  const { connection: redis, keys } = c;
  // Counts never built are built now (from the records, atomically), then compared.
  if ((await redis.exists(keys.countsBuilt)) === 0) await c.store.counts();
  const [scored, pending, beats, counts, countsBuilt, liveBuilt] = await Promise.all([
    redis.zrange(keys.allIndex, '0', '-1', 'WITHSCORES'),
    redis.smembers(keys.pendingIndex),
    readHostsAt(redis, keys.hosts),
    redis.hgetall(keys.counts),
    redis.exists(keys.countsBuilt),
    redis.exists(keys.liveIndexBuilt),
  ]);
  const scores = new Map<string, number>();
  for (let i = 0; i + 1 < scored.length; i += 2) scores.set(scored[i]!, Number(scored[i + 1]));
  const heartbeats = beats.hosts;
  const hostIds = new Set(heartbeats.map((h) => h.hostId));
  const records = await readRecords(redis, keys, [...scores.keys(), ...pending], scores, hostIds);
  // Heartbeats are judged on Redis' clock, read with them.
  const hosts = await readHostIndexes(redis, keys, hostIds, heartbeats, beats.now);
  // Ids only an index or a lease names: read too, so their entries are judged.
  const known = new Set(records.map((r) => r.id));
  const strays = new Set<string>();
  for (const h of Object.values(hosts))
    for (const id of [...h.hostIndex, ...h.live, ...h.ended, ...Object.values(h.ports)]) if (!known.has(id)) strays.add(id);
  if (strays.size > 0) records.push(...(await readRecords(redis, keys, [...strays], scores, new Set())));
  return {
    records,
    hosts,
    pending,
    counts: countsBuilt ? Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, Number(n)])) : null,
    liveBuilt: liveBuilt === 1,
    startJobs: await readStartJobs(c, records),
  };
}

/** Each record's hash and events, CHUNK ids per round trip; hosts the records name are added to hostIds. */
async function readRecords(
  redis: Redis,
  keys: Keys,
  ids: string[],
  scores: Map<string, number>,
  hostIds: Set<string>,
): Promise<RecordSnapshot[]> {
  const unique = [...new Set(ids)];
  const out: RecordSnapshot[] = [];
  for (let i = 0; i < unique.length; i += CHUNK) {
    const chunk = unique.slice(i, i + CHUNK);
    const pipe = redis.pipeline();
    for (const id of chunk) {
      pipe.hmget(keys.record(id), 'v', 'r', 'run');
      pipe.lrange(keys.archive(id), 0, -1);
      pipe.xrange(keys.stream(id), '-', '+');
    }
    const res = (await pipe.exec()) ?? [];
    chunk.forEach((id, j) => {
      const [hash, archived, rows] = [0, 1, 2].map((k) => {
        const [err, value] = res[3 * j + k] ?? [new Error('no reply')];
        if (err) throw err;
        return value;
      }) as [Array<string | null>, string[], Array<[string, string[]]>];
      const snap: RecordSnapshot = {
        id,
        projection: hash[1] ?? null,
        hashVersion: Number(hash[0] ?? 0),
        hashRun: hash[2] ?? null,
        events: decodeAll(archived, rows),
        score: scores.get(id) ?? null,
      };
      for (const h of hostsNamed(snap)) hostIds.add(h);
      out.push(snap);
    });
  }
  return out;
}

function decodeAll(archived: string[], rows: Array<[string, string[]]>): ReapqEvent[] | { error: string } {
  try {
    return [...archived.map((line) => EventStore.decodeArchived(line)), ...rows.map(([sid, f]) => EventStore.decodeEntry(sid, f))].map(
      (s) => s.event,
    );
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Hosts a record names, in its projection or its events: their indexes are read too. */
function hostsNamed(s: RecordSnapshot): string[] {
  const out: string[] = [];
  if (Array.isArray(s.events)) for (const e of s.events) if ('host' in e && typeof e.host === 'string') out.push(e.host);
  try {
    const r = JSON.parse(s.projection ?? 'null') as { host?: unknown; requestedHost?: unknown } | null;
    for (const h of [r?.host, r?.requestedHost]) if (typeof h === 'string' && h) out.push(h);
  } catch {
    // A projection that is not JSON names no host; compareStore reports it.
  }
  return out;
}

async function readHostIndexes(
  redis: Redis,
  keys: Keys,
  hostIds: Set<string>,
  heartbeats: HostInfo[],
  now: number,
): Promise<Record<string, HostSnapshot>> {
  const beat = new Map(heartbeats.map((h) => [h.hostId, liveness(h, now)]));
  const hosts: Record<string, HostSnapshot> = {};
  for (const h of hostIds) {
    const [hostIndex, live, ended, ports] = await Promise.all([
      redis.smembers(keys.hostIndex(h)),
      redis.smembers(keys.liveIndex(h)),
      redis.zrange(keys.endedIndex(h), '0', '-1'),
      redis.hgetall(keys.ports(h)),
    ]);
    hosts[h] = { hostIndex, live, ended, ports, heartbeat: beat.get(h) ?? null };
  }
  return hosts;
}

/** The state of the start job of every record its events say is pending (`waiting` too for one in a `starts` job). */
async function readStartJobs(c: ClientInternals, records: RecordSnapshot[]): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  const batched: BatchedStarts = new Map();
  for (const s of records) {
    const rec = foldOrNull(s);
    if (rec?.state !== 'pending') continue;
    const { queue, jobId } = c.jobs.startJobOf(rec);
    const state = await c.onQueue(queue, (q) => q.getJobState(jobId));
    if (state !== 'unknown') out[rec.id] = state;
    else out[rec.id] = (await c.jobs.inBatch(queue, jobId, batched)) ? 'waiting' : null;
  }
  return out;
}

function foldOrNull(s: RecordSnapshot): ProcessRecord | null {
  if (!Array.isArray(s.events)) return null;
  try {
    return fold(s.events, s.id);
  } catch {
    return null;
  }
}

async function applyPlan(c: ClientInternals, plan: FsckPlan, result: FsckResult, now: () => number): Promise<void> {
  let moved = false;
  for (const r of plan.repairs) {
    if (await applyRepair(c, r, now())) {
      result.repaired.push(r.id);
      moved ||= r.rewrite && r.record !== null && r.oldCountsField !== countsField(r.record);
    } else result.skipped.push(r.id);
  }
  if (plan.recount || moved) {
    // The counts are rebuilt from the records, in one atomic script, on the next read.
    await c.connection.del(c.keys.countsBuilt);
    await c.store.counts();
    result.recounted = true;
  }
}

async function applyRepair(c: ClientInternals, r: RecordRepair, at: number): Promise<boolean> {
  const { keys } = c;
  let record: ProcessRecord | null = null;
  let event = '';
  if (r.record) {
    const e = withVersion({ type: 'repaired', changed: r.changed }, at);
    const res = reduce(r.record, e, r.id);
    if (!res.ok) throw new Error(`repaired event refused for ${r.id}: ${res.error}`);
    record = res.record;
    // 'repaired' is newer than some releases: refused (NotInOlderVersionError) while a live worker cannot read it.
    event = await c.store.encode(e);
  }
  const opKeys = r.ops.map((o) => keyOf(keys, o.ref));
  const opArgs = r.ops.flatMap((o) =>
    'member' in o ? [o.op, o.member, o.op === 'zadd' ? String(o.score) : ''] : [o.op, o.field, o.value],
  );
  const applied = await c.connection.eval(
    REPAIR_LUA,
    4 + opKeys.length,
    keys.record(r.id),
    keys.stream(r.id),
    keys.archive(r.id),
    keys.globalStream,
    ...opKeys,
    String(r.hashVersion),
    String(r.eventsVersion),
    record ? JSON.stringify(record) : '',
    String(record?.version ?? 0),
    record?.runId ?? '',
    event,
    r.id,
    String(c.config.globalEventsMax),
    ...opArgs,
  );
  if (Number(applied) !== 1) return false;
  // As the fleet pass does for a start gone astray.
  if (r.enqueueStart && record) await c.jobs.ensureStart(record);
  return true;
}

function keyOf(keys: Keys, ref: IndexRef): string {
  switch (ref.index) {
    case 'all':
      return keys.allIndex;
    case 'pending':
      return keys.pendingIndex;
    case 'host':
      return keys.hostIndex(ref.host);
    case 'live':
      return keys.liveIndex(ref.host);
    case 'ended':
      return keys.endedIndex(ref.host);
    case 'ports':
      return keys.ports(ref.host);
  }
}
