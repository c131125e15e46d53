import type { Redis } from 'ioredis';
import { ConflictError, CorruptDataError, NotFoundError } from './errors.js';
import {
  decodeDeployEvent,
  DeployRecordSchema,
  encodeDeployEvent,
  withDeployVersion,
  reduceDeploy,
  type DeployEvent,
  type DeployEventDraft,
  type DeployRecord,
} from './deploy.js';
import { BASELINE_VERSION } from './event-versions.js';
import type { WriteVersionSource } from './fleet-view.js';
import type { Keys } from './keys.js';
import { decodeStored } from './stored.js';
import { streamField, streamVersion } from './stream-fields.js';

/**
 * Appends deploy events and stores the deploy's projection in one step, guarded by the
 * expected version, as the process store does. The first append also indexes the deploy
 * under its service.
 * KEYS: 1 deploy hash, 2 its stream, 3 the service's deploy index, 4 the services set.
 * ARGV: 1 expected version, 2 record JSON, 3 revision (score), 4 deploy id, 5 service,
 *       then one JSON per event. Returns {1, version} or {0, current version}.
 */
const APPEND_LUA = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
local n = #ARGV - 5
for i = 1, n do redis.call('XADD', KEYS[2], (cur + i) .. '-0', 'e', ARGV[5 + i]) end
redis.call('HSET', KEYS[1], 'v', cur + n, 'r', ARGV[2])
if cur == 0 then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
  redis.call('SADD', KEYS[4], ARGV[5])
end
return {1, cur + n}
`;

/** Renews or releases a lease only for the token that holds it. */
const RENEW_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`;

export class DeployNotFoundError extends NotFoundError {
  constructor(id: string) {
    super(id);
    this.message = `no deploy with id ${id}`;
  }
}

export class ServiceNotFoundError extends NotFoundError {
  constructor(name: string) {
    super(name);
    this.message = `no service ${name}`;
  }
}

export interface StoredDeployEvent {
  version: number;
  event: DeployEvent;
}

export class DeployStore {
  /** The version each deploy event type is stored at: the baseline until writeFor gives the fleet's view. */
  private versions: WriteVersionSource = { current: () => ({}) };

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores each deploy event type at the version the source says (what every live worker reads), as EventStore.writeFor. */
  writeFor(source: WriteVersionSource): this {
    this.versions = source;
    return this;
  }

  /** The next revision number of a service (1 for its first deploy). */
  async nextRevision(service: string): Promise<number> {
    return this.redis.hincrby(this.keys.serviceRevisions, service, 1);
  }

  /**
   * Read, decide, append; on a version conflict read again and decide again, so a deploy's
   * writers (its runner, a producer superseding) never interleave one history.
   */
  async transact(id: string, decide: (cur: DeployRecord | null) => DeployEventDraft[] | null): Promise<DeployRecord | null> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const cur = await this.get(id);
      const drafts = decide(cur);
      if (!drafts || drafts.length === 0) return cur;
      const events = drafts.map((e) => withDeployVersion(e, this.now()));
      const asked = this.versions.current();
      const versions = asked instanceof Promise ? await asked : asked;
      // What the fleet cannot read yet is refused here (NotInOlderVersionError), before anything is stored.
      const encoded = events.map((e) => encodeDeployEvent(e, (key) => versions[key] ?? BASELINE_VERSION));
      let rec = cur;
      for (const e of events) {
        const res = reduceDeploy(rec, e, id);
        if (!res.ok) throw new Error(`rejected deploy event ${e.type} for ${id}: ${res.error}`);
        rec = res.record;
      }
      const next = rec!;
      const [ok] = (await this.redis.eval(
        APPEND_LUA,
        4,
        this.keys.deploy(id),
        this.keys.deployStream(id),
        this.keys.serviceDeploys(next.service),
        this.keys.services,
        String(cur?.version ?? 0),
        JSON.stringify(next),
        String(next.revision),
        id,
        next.service,
        ...encoded,
      )) as [number, number];
      if (ok === 1) return next;
      if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * 20));
    }
    throw new ConflictError(`could not append to deploy ${id}: too many conflicting writers`);
  }

  async get(id: string): Promise<DeployRecord | null> {
    const json = await this.redis.hget(this.keys.deploy(id), 'r');
    return json === null ? null : parse(id, json);
  }

  async mustGet(id: string): Promise<DeployRecord> {
    const rec = await this.get(id);
    if (!rec) throw new DeployNotFoundError(id);
    return rec;
  }

  /** A service's deploys, oldest first (by revision). */
  async ofService(service: string): Promise<DeployRecord[]> {
    const ids = await this.redis.zrange(this.keys.serviceDeploys(service), '0', '-1');
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.keys.deploy(id), 'r');
    const rows = (await pipe.exec()) ?? [];
    const out: DeployRecord[] = [];
    rows.forEach(([err, json], i) => {
      if (err) throw err;
      if (typeof json === 'string') out.push(parse(ids[i]!, json));
    });
    return out;
  }

  /** A service's newest deploy, or null. */
  async newest(service: string): Promise<DeployRecord | null> {
    const [id] = await this.redis.zrange(this.keys.serviceDeploys(service), '-1', '-1');
    return id === undefined ? null : this.get(id);
  }

  async leaseHeld(service: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.serviceLease(service))) === 1;
  }

  async serviceNames(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.services)).sort();
  }

  async hasService(service: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.services, service)) === 1;
  }

  /** Events of a deploy after a version (0: all). */
  async readEvents(id: string, afterVersion = 0): Promise<StoredDeployEvent[]> {
    const rows = await this.redis.xrange(this.keys.deployStream(id), `${afterVersion + 1}-0`, '+');
    return rows.map(([sid, f]) => DeployStore.decodeEntry(sid, f));
  }

  static decodeEntry(streamId: string, fields: string[]): StoredDeployEvent {
    return { version: streamVersion(streamId), event: decodeDeployEvent(streamField(fields, 'e') ?? '') };
  }

  /** Takes a service's lease for token if nobody holds it. */
  async acquire(service: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.serviceLease(service), token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Extends the lease; false when it is no longer this token's (it expired and someone took it). */
  async renew(service: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW_LUA, 1, this.keys.serviceLease(service), token, String(ttlMs))) === 1;
  }

  async release(service: string, token: string): Promise<void> {
    await this.redis.eval(RENEW_LUA, 1, this.keys.serviceLease(service), token, '0');
  }
}

function parse(id: string, json: string): DeployRecord {
  const res = decodeStored(DeployRecordSchema, json, 'deploy record');
  if (!res.ok) throw new CorruptDataError(res.problem, `deploy ${id}`);
  return res.value;
}
