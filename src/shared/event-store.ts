import type { Redis } from 'ioredis';
import { ConflictError, NotFoundError } from './errors.js';
import { decodeEvent, withVersion, type EventDraft, type ReapqEvent, type StoredEvent } from './events.js';
import type { Keys } from './keys.js';
import { ProcessRecordSchema, type ProcessRecord } from './record.js';
import { reduce } from './reducer.js';

/**
 * Appends events and stores the projection in one atomic step, guarded by the expected
 * version. KEYS: record, stream, global stream, all-index, old host index, new host index.
 * ARGV: expected version, record JSON, global max, createdAt score, id, old host, new host,
 * then one JSON per event. Stream entry ids are `<version>-0`, so a stream is its own
 * version counter and XRANGE from a version resumes exactly.
 */
const APPEND_LUA = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
local n = #ARGV - 7
for i = 1, n do
  local v = cur + i
  redis.call('XADD', KEYS[2], v .. '-0', 'e', ARGV[7 + i])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[5], 'v', v, 'e', ARGV[7 + i])
end
redis.call('HSET', KEYS[1], 'v', cur + n, 'r', ARGV[2])
if cur == 0 then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5]) end
if ARGV[6] ~= ARGV[7] then
  if ARGV[6] ~= '' then redis.call('SREM', KEYS[5], ARGV[5]) end
  if ARGV[7] ~= '' then redis.call('SADD', KEYS[6], ARGV[5]) end
end
return {1, cur + n}
`;

const REMOVE_LUA = `
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[7])
redis.call('ZREM', KEYS[4], ARGV[2])
if ARGV[3] ~= '' then redis.call('SREM', KEYS[5], ARGV[2]) end
return 1
`;

/** Moves a stream's entries to the archive list, guarded by the record's version. */
const COMPACT_LUA = `
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return -1 end
local rows = redis.call('XRANGE', KEYS[2], '-', '+')
for _, row in ipairs(rows) do
  local f = row[2]
  for i = 1, #f, 2 do
    if f[i] == 'e' then redis.call('RPUSH', KEYS[3], string.match(row[1], '^(%d+)-') .. ' ' .. f[i + 1]) end
  end
end
redis.call('DEL', KEYS[2])
return #rows
`;

/** Decides what to append given the current record; null or [] means nothing to do. */
export type Decide = (current: ProcessRecord | null) => EventDraft[] | null;

export interface AppendResult {
  record: ProcessRecord | null;
  /** Events appended by this call (empty when decide declined). */
  appended: ReapqEvent[];
}

export interface GlobalEvent {
  streamId: string;
  processId: string;
  version: number;
  event: ReapqEvent;
}

export class EventStore {
  private readonly maxAttempts = 50;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly globalMax = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    redis.defineCommand('reapqAppend', { numberOfKeys: 6, lua: APPEND_LUA });
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
      if (!fresh || fresh.length === 0) return { record: current, appended: [] };
      const events = fresh.map((e) => withVersion(e, this.now()));
      let rec = current;
      for (const e of events) {
        const res = reduce(rec, e, id);
        if (!res.ok) throw new Error(`rejected ${e.type} for ${id}: ${res.error}`);
        rec = res.record;
      }
      const next = rec!;
      const oldHost = current?.host ?? '';
      const newHost = next.host ?? '';
      const [ok] = (await (this.redis as unknown as AppendCommand).reapqAppend(
        this.keys.record(id),
        this.keys.stream(id),
        this.keys.globalStream,
        this.keys.allIndex,
        this.keys.hostIndex(oldHost),
        this.keys.hostIndex(newHost),
        String(current?.version ?? 0),
        JSON.stringify(next),
        String(this.globalMax),
        String(Date.parse(next.createdAt)),
        id,
        oldHost,
        newHost,
        ...events.map((e) => JSON.stringify(e)),
      )) as [number, number];
      if (ok === 1) return { record: next, appended: events };
      // Lost the race: back off a little so a crowd of writers does not spin in lockstep.
      if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
    }
    throw new ConflictError(`could not append to ${id}: ${this.maxAttempts} conflicting writers in a row`);
  }

  async get(id: string): Promise<ProcessRecord | null> {
    const json = await this.redis.hget(this.keys.record(id), 'r');
    return json === null ? null : parseRecord(json);
  }

  async mustGet(id: string): Promise<ProcessRecord> {
    const rec = await this.get(id);
    if (!rec) throw new NotFoundError(id);
    return rec;
  }

  async getMany(ids: readonly string[]): Promise<ProcessRecord[]> {
    if (ids.length === 0) return [];
    const out: ProcessRecord[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const pipe = this.redis.pipeline();
      for (const id of chunk) pipe.hget(this.keys.record(id), 'r');
      const res = (await pipe.exec()) ?? [];
      for (const [err, json] of res) if (!err && typeof json === 'string') out.push(parseRecord(json));
    }
    return out;
  }

  /** Every record, oldest first. */
  async all(): Promise<ProcessRecord[]> {
    return this.getMany(await this.redis.zrange(this.keys.allIndex, '0', '-1'));
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
    const old = archived.map(fromArchive).filter((e) => e.version > afterVersion);
    const all = [...old, ...rows.map(([sid, fields]) => toStored(sid, fields))];
    return count ? all.slice(0, count) : all;
  }

  /**
   * Moves a finished record's events from its stream to a compact list (a few hundred
   * bytes instead of a stream node of several KB). Readers see no difference; a later
   * event starts a new stream. Returns false if the record changed meanwhile.
   */
  async compact(rec: ProcessRecord): Promise<boolean> {
    const moved = await this.redis.eval(COMPACT_LUA, 3, this.keys.record(rec.id), this.keys.stream(rec.id), this.keys.archive(rec.id), String(rec.version));
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
    return rows.map(([streamId, f]) => {
      const m = fieldMap(f);
      return { streamId, processId: m.id ?? '', version: Number(m.v), event: decodeEvent(m.e ?? '') };
    });
  }

  /**
   * Deletes a record with its streams and index entries, only if it is still at the
   * version the caller judged (a restart scheduled meanwhile keeps it). True if deleted.
   */
  async remove(rec: ProcessRecord): Promise<boolean> {
    const res = await this.redis.eval(
      REMOVE_LUA, 7,
      this.keys.record(rec.id), this.keys.stream(rec.id), this.keys.logs(rec.id), this.keys.allIndex,
      this.keys.hostIndex(rec.host ?? ''), this.keys.hostIndex(''), this.keys.archive(rec.id),
      String(rec.version), rec.id, rec.host ?? '',
    );
    return res === 1;
  }
}

interface AppendCommand {
  reapqAppend(...args: string[]): Promise<unknown>;
}

function parseRecord(json: string): ProcessRecord {
  return ProcessRecordSchema.parse(JSON.parse(json));
}

function fieldMap(fields: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]!] = fields[i + 1]!;
  return m;
}

function fromArchive(line: string): StoredEvent {
  const sp = line.indexOf(' ');
  const version = Number(line.slice(0, sp));
  return { id: `${version}-0`, version, event: decodeEvent(line.slice(sp + 1)) };
}

function toStored(streamId: string, fields: string[]): StoredEvent {
  return { id: streamId, version: Number(streamId.split('-')[0]), event: decodeEvent(fieldMap(fields).e ?? '') };
}
