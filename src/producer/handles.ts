import { activeOf } from '../shared/deploy.js';
import { DeployStore } from '../shared/deploy-store.js';
import { InputError, NotFoundError } from '../shared/errors.js';
import { isLive } from '../shared/event-store.js';
import { parseInput } from '../shared/input.js';
import { readHosts } from '../shared/hosts.js';
import { hostLookup } from '../shared/pinned-host.js';
import { newId } from '../shared/ids.js';
import { ProcessIdSchema, type ProcessRecord, type StartSpecSchema } from '../shared/record.js';
import type { z } from 'zod';
import { requestStart, requestStop } from '../shared/requests.js';
import { internalsOf, type ReapqClient } from './client.js';

/**
 * Names as handles: wherever an id is taken, a service name (its replicas) or a process
 * `--name` that one live record carries does as well. The decision is pure
 * (resolveHandle); what it decides from is read from Redis by lookupHandle.
 */
export type Handle =
  | { kind: 'process'; handle: string; id: string }
  /** A service: the replicas of its active revision, then those a deploy under way brings in. */
  | { kind: 'service'; handle: string; service: string; processes: string[] };

export type Resolution = Handle | { kind: 'ambiguous'; handle: string; ids: string[] } | { kind: 'none'; handle: string };

/** What a handle may name. */
export interface HandleFacts {
  /** Whether a record has the handle as its id. */
  isId: boolean;
  /** The service of that name (processes: its replicas), or null. */
  service: { name: string; processes: string[] } | null;
  /** Live records whose name is the handle. */
  named: ReadonlyArray<{ id: string; service: string | null }>;
}

/**
 * An id names its record, always (ids are unique by construction). Otherwise a service
 * name and the live records of that name are the candidates; the service's own replicas
 * (a deploy given `--name`) do not compete with it. More than one candidate: ambiguous,
 * listing every id it could mean.
 */
export function resolveHandle(handle: string, f: HandleFacts): Resolution {
  if (f.isId) return { kind: 'process', handle, id: handle };
  const others = f.named.filter((n) => !f.service || n.service !== f.service.name).map((n) => n.id);
  if (f.service && others.length === 0) return { kind: 'service', handle, service: f.service.name, processes: f.service.processes };
  if (!f.service && others.length === 1) return { kind: 'process', handle, id: others[0]! };
  if (!f.service && others.length === 0) return { kind: 'none', handle };
  return { kind: 'ambiguous', handle, ids: [...(f.service?.processes ?? []), ...others].sort() };
}

/** A handle that names more than one thing: bad input (exit 2, HTTP 400) listing the ids to use instead. */
export class AmbiguousHandleError extends InputError {
  constructor(
    readonly handle: string,
    readonly ids: string[],
  ) {
    super(`${handle} is ambiguous: it names ${ids.length ? ids.join(', ') : 'a service with no replicas and a process'}; use an id`);
  }
}

/** The handle's target; NotFoundError (`no process with id X`) when it names nothing, AmbiguousHandleError when more than one. */
export function mustBeOne(r: Resolution): Handle {
  if (r.kind === 'none') throw new NotFoundError(r.handle);
  if (r.kind === 'ambiguous') throw new AmbiguousHandleError(r.handle, r.ids);
  return r;
}

/** Reads what a handle may name: the record by that id, the service, and the live records of that name (every host's live index and the pending ones). */
export async function lookupHandle(client: ReapqClient, handle: string): Promise<HandleFacts> {
  const { store, keys, connection } = internalsOf(client);
  const isId = ProcessIdSchema.safeParse(handle).success && (await store.get(handle).catch(() => null)) !== null;
  if (isId) return { isId, service: null, named: [] };
  const deploys = new DeployStore(connection, keys);
  let service: HandleFacts['service'] = null;
  const all = ProcessIdSchema.safeParse(handle).success ? await deploys.ofService(handle) : [];
  if (all.length > 0) {
    const active = activeOf([...all].reverse());
    const last = all.at(-1)!;
    const coming = last.state === 'running' || last.state === 'rolling_back' ? last.processes : [];
    service = { name: handle, processes: [...new Set([...(active?.processes ?? []), ...coming])] };
  }
  const hosts = await readHosts(connection, keys.hosts);
  const live: ProcessRecord[] = [];
  for (const h of hosts) live.push(...(await store.readLive(h.hostId)).records);
  live.push(...(await store.getMany(await store.pendingIds())).filter(isLive));
  const named = [...new Map(live.filter((r) => r.name === handle).map((r) => [r.id, { id: r.id, service: r.service }])).values()];
  return { isId, service, named };
}

export async function resolve(client: ReapqClient, handle: string): Promise<Handle> {
  if (typeof handle !== 'string' || handle.length === 0 || handle.length > 200)
    throw new InputError(`invalid id or name ${JSON.stringify(handle)}`);
  const r = resolveHandle(handle, await lookupHandle(client, handle));
  // A handle that is no valid id and names nothing is a malformed id, as before names were handles.
  if (r.kind === 'none') parseInput(ProcessIdSchema, handle, `invalid id ${JSON.stringify(handle)}`);
  return mustBeOne(r);
}

/** One log line of a process as its stream holds it: the entry id (`<ms>-<seq>`) orders lines across processes. */
export interface StampedLine {
  stamp: string;
  line: string;
}

const stampKey = (s: string): [number, number] => {
  const [ms, seq] = s.split('-');
  return [Number(ms), Number(seq ?? 0)];
};

/**
 * The last `lines` lines of several processes in the order they were shipped, each
 * prefixed with its process: `[web-r2-0] listening`. Pure.
 */
export function mergeLines(by: ReadonlyArray<{ id: string; lines: readonly StampedLine[] }>, lines: number, timestamps = false): string[] {
  const all = by.flatMap(({ id, lines: ls }) => ls.map((l) => ({ id, ...l, key: stampKey(l.stamp) })));
  all.sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.id.localeCompare(b.id));
  return all
    .slice(Math.max(0, all.length - lines))
    .map((l) => `${timestamps ? `${new Date(l.key[0]).toISOString()} ` : ''}[${l.id}] ${l.line}`);
}

/** The last `lines` lines of each process, merged (mergeLines). */
export async function mergedLogs(client: ReapqClient, ids: readonly string[], lines: number, timestamps = false): Promise<string[]> {
  if (lines <= 0) return [];
  const { connection, keys } = internalsOf(client);
  const by = await Promise.all(
    ids.map(async (id) => {
      const rows = await connection.xrevrange(keys.logs(id), '+', '-', 'COUNT', lines);
      return { id, lines: rows.reverse().map(([stamp, f]) => ({ stamp, line: f[f.indexOf('l') + 1] ?? '' })) };
    }),
  );
  return mergeLines(by, lines, timestamps);
}

/** The start spec a record was started with: what a restart of a plain process starts again. */
export function specOf(rec: ProcessRecord): Omit<z.output<typeof StartSpecSchema>, 'id'> {
  return {
    ...(rec.name === null ? {} : { name: rec.name }),
    command: rec.command,
    ...(rec.cwd === null ? {} : { cwd: rec.cwd }),
    env: rec.env,
    ...(rec.requestedPort === null ? {} : { port: rec.requestedPort }),
    restart: rec.restartPolicy,
    ...(rec.graceMs === null ? {} : { graceMs: rec.graceMs }),
    ...(rec.requestedHost === null ? {} : { host: rec.requestedHost }),
    ...(rec.ready === null ? {} : { ready: rec.ready }),
    ...(rec.limits?.memory == null ? {} : { memory: rec.limits.memory }),
    ...(rec.limits?.cpus == null ? {} : { cpus: rec.limits.cpus }),
    ...(rec.limits?.pidsMax == null ? {} : { pidsMax: rec.limits.pidsMax }),
    ...(rec.logs?.maxBytes == null ? {} : { logMaxBytes: rec.logs.maxBytes }),
    ...(rec.logs?.keep == null ? {} : { logKeep: rec.logs.keep }),
    ...(rec.logs?.gzip == null ? {} : { logGzip: rec.logs.gzip }),
    ...(rec.daemon ? { daemon: true } : {}),
    ...(rec.pidFile === null ? {} : { pidFile: rec.pidFile }),
  };
}

const GONE = ['stopped', 'exited', 'failed', 'lost'] as const;

/**
 * Restarts a plain process: stops it (its tree verified gone), then starts the same spec
 * as a new record whose `restartOf` names the old one, so the two histories link. The new
 * record keeps the name, so the name now resolves to it.
 */
export async function restartProcess(client: ReapqClient, id: string, timeoutMs = 60_000): Promise<ProcessRecord> {
  const { store, jobs, config, connection, keys } = internalsOf(client);
  const deps = { store, jobs, defaultGraceMs: config.defaultGraceMs, hosts: { of: hostLookup(connection, keys.hosts) } };
  const rec = await store.mustGet(id);
  if (rec.service) throw new InputError(`${id} is a replica of service ${rec.service}: restart the service (reapq restart ${rec.service})`);
  if (rec.desired === 'running' || !GONE.includes(rec.state as (typeof GONE)[number])) {
    await requestStop(deps, id);
    await client.waitFor(id, [...GONE], { timeoutMs });
  }
  return requestStart(deps, newId('p'), specOf(rec), { fresh: true, restartOf: id });
}
