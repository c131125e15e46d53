import type { Redis } from 'ioredis';
import {
  ConflictError,
  CorruptDataError,
  CorruptRecordError,
  InputError,
  NotFoundError,
  ReplicationError,
  StaleRunError,
} from './errors.js';
import { BASELINE_VERSION } from './event-versions.js';
import type { WriteVersionSource } from './fleet-view.js';
import { decodeEvent, encodeEvent, withVersion, type EventDraft, type EventType, type ReapqEvent, type StoredEvent } from './events.js';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';
import { ProcessRecordSchema, type ProcessRecord } from './record.js';
import { projectionDiff } from './fsck.js';
import { isLive, isStaleRunError, reduce, staleRun } from './reducer.js';
import { decodeStored, type Decoded } from './stored.js';
import { streamField, streamVersion } from './stream-fields.js';

export { isLive };

// The scripts, each with its KEYS and ARGV written down, are in lua/ at the package root.
const APPEND_LUA = luaScript('append.lua');

const REMOVE_LUA = luaScript('remove.lua');

const COMPACT_LUA = luaScript('compact.lua');

/** Decides what to append given the current record; null or [] means nothing to do. */
export type Decide = (current: ProcessRecord | null) => EventDraft[] | null;

export interface AppendResult {
  record: ProcessRecord | null;
  /** Events appended by this call (empty when decide declined). */
  appended: ReapqEvent[];
}

/** Creation order of a page: oldest first (the default) or newest first. */
export const PAGE_ORDERS = ['oldest', 'newest'] as const;
export type PageOrder = (typeof PAGE_ORDERS)[number];

export interface GlobalEvent {
  streamId: string;
  processId: string;
  version: number;
  event: ReapqEvent;
}

/**
 * How many replicas must confirm an append (Redis WAIT) before transact returns, and for
 * how long to wait. Redis replicates asynchronously: without it, an append the master
 * acknowledged and died before sending is lost in a failover (SCALING.md, "What a failover
 * costs").
 */
export interface Replication {
  replicas: number;
  timeoutMs: number;
}

export class EventStore {
  private readonly maxAttempts = 50;
  /**
   * Where appends go. WAIT counts what the connection itself wrote and blocks it while it
   * waits, so with replicas to wait for the appends get a connection of their own: reads,
   * heartbeats and queue calls on the shared one never queue behind a WAIT.
   */
  private readonly writer: Redis;
  /**
   * The version each event type is stored at: the baseline, which every release reads,
   * until writeFor gives the fleet's view (a rolling upgrade must not write what a worker
   * still running the previous release would refuse).
   */
  private versions: WriteVersionSource = { current: () => ({}) };

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly globalMax = 100_000,
    private readonly now: () => number = Date.now,
    /** Told of every corrupt record or stream met, with one line naming it. */
    private readonly onCorrupt?: (id: string, problem: string) => void,
    private readonly replication: Replication = { replicas: 0, timeoutMs: 0 },
  ) {
    this.writer = replication.replicas > 0 ? redis.duplicate() : redis;
    // Its failures reach callers as rejected appends.
    if (this.writer !== redis) this.writer.on('error', () => undefined);
    for (const r of new Set([redis, this.writer])) r.defineCommand('reapqAppend', { numberOfKeys: 12, lua: APPEND_LUA });
  }

  /** Stores each event type at the version the source says (src/shared/fleet-view.ts: what every live worker reads). */
  writeFor(source: WriteVersionSource): this {
    this.versions = source;
    return this;
  }

  /** An event's JSON at the version the fleet reads (for a write outside transact); NotInOlderVersionError when it cannot read it. */
  async encode(e: ReapqEvent): Promise<string> {
    const versions = await this.versions.current();
    return encodeEvent(e, (type) => versions[type] ?? BASELINE_VERSION);
  }

  /** Closes the append connection, if the store has one of its own (the shared one is the caller's). */
  async close(): Promise<void> {
    if (this.writer !== this.redis) await this.writer.quit().catch(() => this.writer.disconnect());
  }

  /**
   * Read, decide, append; on a version conflict read again and let decide see the new
   * record. This is how two writers of one record serialize without a lock: the loser
   * re-decides on the winner's result, so no event is lost and none interleaves.
   * An event the reducer rejects is a bug in the decider, reported as an Error.
   */
  async transact(id: string, decide: Decide, known?: ProcessRecord | null): Promise<AppendResult> {
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      // A caller that just read or wrote the record saves the read; the version check
      // still guards the append, and a stale guess only costs one retry.
      const current = attempt === 0 && known !== undefined ? known : await this.get(id);
      const fresh = decide(current);
      if (!fresh || fresh.length === 0) {
        // A retry of an append that fewer replicas confirmed finds it on the master: it is
        // done only once they have it. WAIT counts what this connection wrote, and after a
        // reconnect it wrote nothing (Redis 7.0 then counts no replica, but that is the
        // server's choice), so a write of the mark goes first: a replica that holds the
        // mark holds the record written before it.
        if (this.replication.replicas > 0) await this.confirm(id, this.writer.pipeline().set(this.keys.replicaMark, id, 'PX', 60_000));
        return { record: current, appended: [] };
      }
      const events = fresh.map((e) => withVersion(e, this.now()));
      // Cached by the source: a promise (one read) only for a process's first write or after
      // an idle spell, so the hot path waits on nothing here.
      const asked = this.versions.current();
      const versions = asked instanceof Promise ? await asked : asked;
      const writeVersion = (type: EventType) => versions[type] ?? BASELINE_VERSION;
      // Throws NotInOlderVersionError, before anything is stored, for what a live worker cannot read.
      const encoded = events.map((e) => encodeEvent(e, writeVersion));
      let rec = current;
      for (const e of events) {
        const res = reduce(rec, e, id);
        if (!res.ok) {
          if (isStaleRunError(res.error)) throw new StaleRunError(id, res.error);
          throw new Error(`rejected ${e.type} for ${id}: ${res.error}`);
        }
        rec = res.record;
      }
      const next = rec!;
      const oldHost = current?.host ?? '';
      const newHost = next.host ?? '';
      const about = events.find((e) => 'run' in e && e.run !== undefined && e.type !== 'spawn_begun') as { run?: string } | undefined;
      const [ok, , quarantined] = await this.append(id, [
        this.keys.record(id),
        this.keys.stream(id),
        this.keys.globalStream,
        this.keys.allIndex,
        this.keys.hostIndex(oldHost),
        this.keys.hostIndex(newHost),
        this.keys.pendingIndex,
        this.keys.liveIndex(oldHost),
        this.keys.liveIndex(newHost),
        this.keys.counts,
        this.keys.endedIndex(oldHost),
        this.keys.endedIndex(newHost),
        String(current?.version ?? 0),
        JSON.stringify(next),
        String(this.globalMax),
        String(Date.parse(next.createdAt)),
        id,
        oldHost,
        newHost,
        about?.run ?? '',
        next.runId !== (current?.runId ?? null) ? (next.runId ?? '') : '',
        next.state === 'pending' ? '1' : '0',
        isLive(next) ? '1' : '0',
        current ? countsField(current) : '',
        countsField(next),
        String(this.now()),
        current?.state === 'pending' ? '1' : '0',
        current && isLive(current) ? '1' : '0',
        ...encoded,
      ]);
      if (ok === 1) {
        if (quarantined === 1) this.onCorrupt?.(id, `event stream of ${id} is corrupt: moved aside to ${this.keys.corruptStream(id)}`);
        return { record: next, appended: events };
      }
      if (ok === 2) throw new StaleRunError(id, staleRun(about?.run ?? '', current?.runId ?? null));
      // Lost the race: back off a little so a crowd of writers does not spin in lockstep.
      if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
    }
    throw new ConflictError(`could not append to ${id}: ${this.maxAttempts} conflicting writers in a row`);
  }

  /**
   * The append script; with replicas to wait for, followed by WAIT in the same pipeline (one
   * round trip, and on a Cluster the keyless WAIT goes to the node of the record's slot).
   */
  private async append(id: string, args: string[]): Promise<[number, number, number?]> {
    if (this.replication.replicas === 0)
      return (await (this.redis as unknown as AppendCommand).reapqAppend(...args)) as [number, number, number?];
    const pipe = this.writer.pipeline() as unknown as AppendPipeline;
    let out: [number, number, number?] | undefined;
    await this.confirm(id, pipe.reapqAppend(...args), (res) => {
      if (!res) throw new Error(`no reply to the append to ${id}`);
      const [err, value] = res;
      if (err) throw err;
      out = value as [number, number, number?];
      // Nothing written (a lost race, a stale run): nothing to wait for.
      return out[0] === 1;
    });
    return out!;
  }

  /** Runs the pipeline with WAIT at its end; throws ReplicationError when fewer replicas than asked confirmed. */
  private async confirm(
    id: string,
    pipe: { call(...a: Array<string | number>): unknown; exec(): Promise<Array<[Error | null, unknown]> | null> },
    wrote: (first: [Error | null, unknown] | undefined) => boolean = () => true,
  ): Promise<void> {
    const { replicas, timeoutMs } = this.replication;
    pipe.call('WAIT', replicas, timeoutMs);
    const res = (await pipe.exec()) ?? [];
    if (!wrote(res[0])) return;
    const [err, acked] = res.at(-1) ?? [new Error('no reply to WAIT'), 0];
    if (err) throw err;
    if (Number(acked) < replicas) throw new ReplicationError(id, replicas, Number(acked), timeoutMs);
  }

  /** The record, or null; a corrupt one throws CorruptRecordError naming it. */
  async get(id: string): Promise<ProcessRecord | null> {
    const json = await this.redis.hget(this.keys.record(id), 'r');
    if (json === null) return null;
    const res = parseRecord(id, json);
    if (!res.ok) throw new CorruptRecordError(id, res.problem);
    return res.value;
  }

  async mustGet(id: string): Promise<ProcessRecord> {
    const rec = await this.get(id);
    if (!rec) throw new NotFoundError(id);
    return rec;
  }

  /**
   * Records by id, parsed one by one: a corrupt one is left out and reported (onCorrupt
   * and `corrupt`), never allowed to fail the read of the others.
   */
  async readMany(ids: readonly string[]): Promise<{ records: ProcessRecord[]; corrupt: Corrupt[] }> {
    const records: ProcessRecord[] = [];
    const corrupt: Corrupt[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const pipe = this.redis.pipeline();
      for (const id of chunk) pipe.hget(this.keys.record(id), 'r');
      const res = (await pipe.exec()) ?? [];
      res.forEach(([err, json], j) => {
        if (err) throw err;
        if (typeof json !== 'string') return;
        const parsed = parseRecord(chunk[j]!, json);
        if (parsed.ok) records.push(parsed.value);
        else corrupt.push({ id: chunk[j]!, problem: parsed.problem });
      });
    }
    for (const c of corrupt) this.onCorrupt?.(c.id, `record of ${c.id} is corrupt: ${c.problem}`);
    return { records, corrupt };
  }

  async getMany(ids: readonly string[]): Promise<ProcessRecord[]> {
    return (await this.readMany(ids)).records;
  }

  /** Ids of records waiting for a start. */
  async pendingIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.pendingIndex);
  }

  /** Every record, oldest first. */
  async all(): Promise<ProcessRecord[]> {
    return this.getMany(await this.redis.zrange(this.keys.allIndex, '0', '-1'));
  }

  /** Ids whose current or last host is hostId. */
  async hostIds(hostId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.hostIndex(hostId));
  }

  /**
   * Records live on a host (not final, or a restart or a kill still to come; see
   * Keys.liveIndex): what reconcile, recovery and the fleet pass need, at a cost that
   * follows what runs there, not the host's history. The first call on a Redis written by
   * an older version builds the indexes from every record once; an append racing that
   * build can only leave an extra id, which the filter here drops (and the index with it).
   */
  async liveOfHost(hostId: string): Promise<ProcessRecord[]> {
    return (await this.readLive(hostId)).records;
  }

  /**
   * Records that stopped being live on a host at or after sinceMs (its ended index), read
   * by the periodic sweep of finished records; older entries, which earlier sweeps read,
   * are dropped from the index. Records ended before the index existed are not in it: the
   * boot pass and an operator's pass read every record of the host.
   */
  async readEnded(hostId: string, sinceMs: number): Promise<{ records: ProcessRecord[]; corrupt: Corrupt[] }> {
    const key = this.keys.endedIndex(hostId);
    const [ids] = await Promise.all([
      this.redis.zrangebyscore(key, String(sinceMs), '+inf'),
      this.redis.zremrangebyscore(key, '-inf', `(${sinceMs}`),
    ]);
    return this.readMany(ids);
  }

  /** liveOfHost, with the corrupt records it met named (as readMany does). */
  async readLive(hostId: string): Promise<{ records: ProcessRecord[]; corrupt: Corrupt[] }> {
    if ((await this.redis.exists(this.keys.liveIndexBuilt)) === 0) await this.buildLiveIndexes();
    const key = this.keys.liveIndex(hostId);
    const { records: recs, corrupt } = await this.readMany(await this.redis.smembers(key));
    const live = recs.filter((r) => r.host === hostId && isLive(r));
    if (live.length < recs.length) {
      const keep = new Set(live.map((r) => r.id));
      const stale = recs.filter((r) => !keep.has(r.id)).map((r) => r.id);
      // Removed only if still not live: an append may have made it live meanwhile.
      for (const id of stale) await this.redis.eval(UNLIST_LUA, 2, key, this.keys.record(id), id, hostId);
    }
    return { records: live, corrupt };
  }

  private async buildLiveIndexes(): Promise<void> {
    for (const r of await this.all()) if (r.host && isLive(r)) await this.redis.sadd(this.keys.liveIndex(r.host), r.id);
    await this.redis.set(this.keys.liveIndexBuilt, '1');
  }

  /**
   * Ids after (score, id) in the index's order, for a cursor whose record was removed.
   * Records created in the same millisecond share a score and sort by id (the reverse for
   * newest first): those up to the cursor's id were on earlier pages, the rest were not.
   */
  private async after(score: number, id: string, limit: number, newest: boolean): Promise<string[]> {
    const key = this.keys.allIndex;
    const ties = await this.redis.zcount(key, String(score), String(score));
    const rows = newest
      ? await this.redis.zrevrangebyscore(key, String(score), '-inf', 'WITHSCORES', 'LIMIT', 0, limit + ties)
      : await this.redis.zrangebyscore(key, String(score), '+inf', 'WITHSCORES', 'LIMIT', 0, limit + ties);
    const out: string[] = [];
    for (let i = 0; i + 1 < rows.length && out.length < limit; i += 2) {
      const member = rows[i]!;
      if (Number(rows[i + 1]) === score && (newest ? member >= id : member <= id)) continue;
      out.push(member);
    }
    return out;
  }

  /**
   * One page of records in creation order, oldest first (or newest first with
   * order 'newest'): `limit` records after the cursor ('' or undefined: from the start),
   * and the cursor of the next page (null after the last). A page costs O(log n + limit)
   * whatever the history: the cursor is the last id and its score, so a record removed
   * meanwhile (prune) does not shift the next page. A cursor is a position in the index,
   * the same in both orders: read newest first, it names where the older records begin.
   */
  async page(
    cursor: string | undefined,
    limit: number,
    order: PageOrder = 'oldest',
  ): Promise<{ records: ProcessRecord[]; corrupt: Corrupt[]; cursor: string | null }> {
    const key = this.keys.allIndex;
    const newest = order === 'newest';
    const range = (start: number, stop: number) =>
      newest ? this.redis.zrevrange(key, start, stop) : this.redis.zrange(key, String(start), String(stop));
    let ids: string[];
    if (!cursor) ids = await range(0, limit - 1);
    else {
      const { score, id } = decodeCursor(cursor);
      const rank = newest ? await this.redis.zrevrank(key, id) : await this.redis.zrank(key, id);
      ids = rank !== null ? await range(rank + 1, rank + limit) : await this.after(score, id, limit, newest);
    }
    const { records, corrupt } = await this.readMany(ids);
    const last = ids.at(-1);
    if (ids.length < limit || last === undefined) return { records, corrupt, cursor: null };
    const score = await this.redis.zscore(key, last);
    return { records, corrupt, cursor: encodeCursor(Number(score ?? 0), last) };
  }

  /**
   * Records by state and host (`host` '' until one takes the record), from the counts the
   * append keeps: one HGETALL whatever the history. Built from the records, in one atomic
   * script, the first time on a Redis written by an older version.
   */
  async counts(): Promise<Array<{ state: string; host: string; count: number }>> {
    if ((await this.redis.exists(this.keys.countsBuilt)) === 0)
      await this.redis.eval(BUILD_COUNTS_LUA, 4, this.keys.allIndex, this.keys.counts, this.keys.countsBuilt, this.keys.record(''));
    const raw = await this.redis.hgetall(this.keys.counts);
    return Object.entries(raw).map(([field, n]) => {
      const sp = field.indexOf(' ');
      return { state: field.slice(0, sp), host: field.slice(sp + 1), count: Number(n) };
    });
  }

  /** Records whose current or last host is hostId. */
  async ofHost(hostId: string): Promise<ProcessRecord[]> {
    const recs = await this.getMany(await this.redis.smembers(this.keys.hostIndex(hostId)));
    return recs.filter((r) => r.host === hostId);
  }

  /** Events of one process after a version (0: all). */
  async readEvents(id: string, afterVersion = 0, count?: number): Promise<StoredEvent[]> {
    const args: [string, string, string] = [this.keys.stream(id), `${afterVersion + 1}-0`, '+'];
    const [archived, rows] = await Promise.all([
      this.redis.lrange(this.keys.archive(id), 0, -1),
      count ? this.redis.xrange(...args, 'COUNT', count) : this.redis.xrange(...args),
    ]);
    try {
      const old = archived.map(fromArchive).filter((e) => e.version > afterVersion);
      const all = [...old, ...rows.map(([sid, fields]) => toStored(sid, fields))];
      return count ? all.slice(0, count) : all;
    } catch (err) {
      if (!(err instanceof CorruptDataError)) throw err;
      throw new CorruptRecordError(id, err.problem, 'event stream');
    }
  }

  /**
   * Moves a finished record's events from its stream to a compact list (a few hundred
   * bytes instead of a stream node of several KB). Readers see no difference; a later
   * event starts a new stream. Returns false if the record changed meanwhile.
   */
  async compact(rec: ProcessRecord): Promise<boolean> {
    const moved = await this.redis.eval(
      COMPACT_LUA,
      3,
      this.keys.record(rec.id),
      this.keys.stream(rec.id),
      this.keys.archive(rec.id),
      String(rec.version),
    );
    return Number(moved) >= 0;
  }

  /** Whether the record's events still sit in a stream. */
  async hasStream(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.stream(id))) === 1;
  }

  /** Waits up to blockMs for events after a version; needs a connection of its own. */
  static async blockRead(conn: Redis, keys: Keys, id: string, afterVersion: number, blockMs: number): Promise<StoredEvent[]> {
    const res = await conn.xread('BLOCK', blockMs, 'STREAMS', keys.stream(id), `${afterVersion}-0`);
    if (!res) return [];
    return res.flatMap(([, rows]) => rows.map(([sid, fields]) => toStored(sid, fields)));
  }

  /** One entry of a process's stream (as XREAD returns it) as a stored event. */
  static decodeEntry(streamId: string, fields: string[]): StoredEvent {
    return toStored(streamId, fields);
  }

  /** One item of a record's archive list (`<version> <json>`) as a stored event. */
  static decodeArchived(line: string): StoredEvent {
    return fromArchive(line);
  }

  /**
   * The record as its events say, when the projection differs from it (each differing field
   * a line), checked before a destructive action: a projection restored from an older
   * snapshot or edited by hand must not be what a kill is decided on. null when they agree,
   * or when the events cannot tell (none kept, or they do not fold).
   */
  async disagreement(rec: ProcessRecord): Promise<{ folded: ProcessRecord; diff: string[] } | null> {
    let folded: ProcessRecord | null;
    try {
      folded = await this.rebuild(rec.id);
    } catch {
      return null;
    }
    if (!folded) return null;
    const diff = projectionDiff(rec, folded);
    return diff.length > 0 ? { folded, diff } : null;
  }

  /** The record as its stream alone says it is. */
  async rebuild(id: string): Promise<ProcessRecord | null> {
    let rec: ProcessRecord | null = null;
    for (const { event, version } of await this.readEvents(id)) {
      const res = reduce(rec, event, id);
      if (!res.ok) throw new Error(`stream of ${id} does not fold at version ${version}: ${res.error}`);
      rec = res.record;
    }
    return rec;
  }

  /** Fleet-wide events after a stream id ('0' for the oldest kept). */
  async readGlobal(afterStreamId = '0', count = 1000): Promise<GlobalEvent[]> {
    const rows = await this.redis.xrange(this.keys.globalStream, afterStreamId === '0' ? '-' : `(${afterStreamId}`, '+', 'COUNT', count);
    return rows.map(([streamId, f]) => EventStore.decodeGlobal(streamId, f));
  }

  /** One entry of the global stream (as XRANGE or XREAD returns it); throws on one it cannot decode. */
  static decodeGlobal(streamId: string, fields: string[]): GlobalEvent {
    const event = decodeEvent(streamField(fields, 'e') ?? '');
    return { streamId, processId: streamField(fields, 'id') ?? '', version: Number(streamField(fields, 'v')), event };
  }

  /** decodeGlobal for a reader that skips what it cannot decode (an entry of a newer schema, a broken one). */
  static decodeGlobalOrNull(streamId: string, fields: string[]): GlobalEvent | null {
    try {
      return EventStore.decodeGlobal(streamId, fields);
    } catch (err) {
      if (err instanceof CorruptDataError) return null;
      throw err;
    }
  }

  /**
   * Deletes a record with its streams, index entries and usage reading, only if it is
   * still at the version the caller judged (a restart scheduled meanwhile keeps it), so a
   * pruned record leaves no key behind. True if deleted.
   */
  async remove(rec: ProcessRecord): Promise<boolean> {
    const res = await this.redis.eval(
      REMOVE_LUA,
      12,
      this.keys.record(rec.id),
      this.keys.stream(rec.id),
      this.keys.logs(rec.id),
      this.keys.allIndex,
      this.keys.hostIndex(rec.host ?? ''),
      this.keys.pendingIndex,
      this.keys.archive(rec.id),
      this.keys.liveIndex(rec.host ?? ''),
      this.keys.counts,
      this.keys.usage,
      this.keys.corruptStream(rec.id),
      this.keys.endedIndex(rec.host ?? ''),
      String(rec.version),
      rec.id,
      rec.host ?? '',
      countsField(rec),
    );
    return res === 1;
  }
}

const UNLIST_LUA = luaScript('unlist.lua');

const BUILD_COUNTS_LUA = luaScript('build-counts.lua');

function countsField(r: ProcessRecord): string {
  return `${r.state} ${r.host ?? ''}`;
}

/** A list cursor: `<createdAt score>.<id>`, base64url so it is one opaque token. */
function encodeCursor(score: number, id: string): string {
  return Buffer.from(`${score}.${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { score: number; id: string } {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const dot = raw.indexOf('.');
  const score = Number(raw.slice(0, dot));
  if (dot < 1 || !Number.isFinite(score) || raw.length === dot + 1)
    throw new InputError(`invalid cursor ${JSON.stringify(cursor)}: use the cursor a previous page returned`);
  return { score, id: raw.slice(dot + 1) };
}

interface AppendCommand {
  reapqAppend(...args: string[]): Promise<unknown>;
}

interface AppendPipeline {
  reapqAppend(...args: string[]): AppendPipeline;
  call(...args: Array<string | number>): AppendPipeline;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

export interface Corrupt {
  id: string;
  problem: string;
}

function parseRecord(id: string, json: string): Decoded<ProcessRecord> {
  const res = decodeStored(ProcessRecordSchema, json, 'record');
  if (res.ok && res.value.id !== id) return { ok: false, problem: `holds the record of ${JSON.stringify(res.value.id)}` };
  return res;
}

function fromArchive(line: string): StoredEvent {
  const sp = line.indexOf(' ');
  const version = Number(line.slice(0, sp));
  return { id: `${version}-0`, version, event: decodeEvent(line.slice(sp + 1)) };
}

function toStored(streamId: string, fields: string[]): StoredEvent {
  return { id: streamId, version: streamVersion(streamId), event: decodeEvent(streamField(fields, 'e') ?? '') };
}
