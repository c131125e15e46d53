import { z } from 'zod';
import { currentVersion, downcast, upcast, versionKey, type RawEvent } from './event-versions.js';
import { mustDecodeStored } from './stored.js';
import { FINAL_STATES, ProcessIdSchema, StartSpecSchema, type ProcessRecord, type RestartPolicy } from './record.js';

/**
 * Deploys: a queued, event-sourced operation on a service. Pure: schemas, events and the
 * reducer that folds a deploy's events into its record (the projection stored beside its
 * stream). The planner (src/worker/deploy/plan.ts) reads the record and the processes it
 * names and says what to do next; the runner carries that out and appends the events.
 *
 *   queued  -> running (began), superseded (a newer deploy of the service was queued)
 *   running -> succeeded, rolling_back (rollback_begun)
 *   rolling_back -> rolled_back
 *
 * A `stop` deploy (reapq stop --service) is the same queue and record with no new revision:
 * it stops the active one and leaves the service with none. A `scale` deploy (reapq scale)
 * keeps the active revision and its replicas, and starts more of them or stops the
 * highest-numbered ones: its `previous` is the revision it scales, its `processes` the
 * replicas it added. Like a stop, it takes a number of the service's sequence (its
 * `revision`), which orders it among the deploys; the revision that serves keeps its own.
 */
export const DEPLOY_STATES = ['queued', 'running', 'rolling_back', 'succeeded', 'rolled_back', 'superseded'] as const;
export type DeployState = (typeof DEPLOY_STATES)[number];
export const FINAL_DEPLOY_STATES: ReadonlySet<DeployState> = new Set(['succeeded', 'rolled_back', 'superseded']);

export const STRATEGIES = ['start-first', 'stop-first'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Replicas of a deploy when the environment does not say (REAPQ_MAX_REPLICAS). */
export const DEFAULT_MAX_REPLICAS = 16;
export const DEFAULT_DEPLOY_TIMEOUT_MS = 60_000;

export const DEPLOY_KINDS = ['deploy', 'stop', 'scale'] as const;
export type DeployKind = (typeof DEPLOY_KINDS)[number];

/**
 * A service name follows the id rules, shorter: process ids of its replicas are
 * `<service>-r<revision>-<replica>` and must stay within 128 characters.
 */
export const ServiceNameSchema = ProcessIdSchema.refine((s) => s.length <= 96, 'at most 96 characters');

/** What a revision runs: a start spec without id (replicas get theirs from the deploy). */
export const RevisionSpecSchema = StartSpecSchema.omit({ id: true }).extend({
  /**
   * At most one copy runs at any moment, partitions included (as Nomad's
   * stop_after_client_disconnect): a host cut from Redis stops the replica itself once its
   * lease may have lapsed, and no other host starts it before that stop is over
   * (src/worker/at-most-one.ts). One replica only, deployed stop-first. Without it a cut
   * host keeps serving, and another host starts a second copy once the lease lapsed.
   */
  atMostOne: z.boolean().optional(),
});
export type RevisionSpec = z.output<typeof RevisionSpecSchema>;

/**
 * A replica restarts on failure unless its revision says otherwise: a service is meant to
 * keep serving, so a replica killed or crashed after its deploy succeeded comes back
 * (with the worker's backoff; a crash loop gives up and the service shows degraded).
 */
export const REPLICA_RESTART_DEFAULT: RestartPolicy = 'on-failure';

/** The spec a replica's process is started with: the revision's, with the replica restart default. */
export function replicaSpec(spec: Record<string, unknown>): Record<string, unknown> {
  return { ...spec, restart: (spec.restart as RestartPolicy | undefined) ?? REPLICA_RESTART_DEFAULT };
}

/**
 * The port every replica of a revision holds when it is fixed (a number in the spec, or a
 * readiness port with no allocated one): the same on each, unlike `port: 'auto'`.
 */
export function fixedPort(spec: Record<string, unknown>): number | null {
  if (typeof spec.port === 'number') return spec.port;
  const readyPort = (spec.ready as { port?: unknown } | undefined)?.port;
  return spec.port !== 'auto' && typeof readyPort === 'number' ? readyPort : null;
}

/**
 * The strategy a deploy runs with: stop-first whatever was asked when the port is fixed,
 * since the new replica cannot bind it while the old one holds it (and a readiness check
 * on it would be answered by the old one); the note says so on the record.
 */
export function strategyFor(
  spec: Record<string, unknown> | null,
  asked: Strategy,
  previous: Record<string, unknown> | null = null,
): { strategy: Strategy; note: string | null } {
  // The revision going out counts too: start-first would run its one copy beside the new one.
  if (asked !== 'stop-first' && (spec?.atMostOne === true || previous?.atMostOne === true))
    return {
      strategy: 'stop-first',
      note: `at most one copy: deployed stop-first, not ${asked} (start-first runs two copies for a while)`,
    };
  const port = spec ? fixedPort(spec) : null;
  if (port === null || asked === 'stop-first') return { strategy: asked, note: null };
  return { strategy: 'stop-first', note: `port ${port} is fixed: deployed stop-first, not ${asked} (a fixed port cannot be held twice)` };
}

/**
 * Why a count of replicas cannot serve a spec that asks for at most one copy (null: it
 * can): one copy at most is one replica.
 */
export function atMostOneRefusal(spec: Record<string, unknown> | null | undefined, replicas: number): string | null {
  if (spec?.atMostOne !== true || replicas <= 1) return null;
  return `replicas: ${replicas} with atMostOne: a service that runs at most one copy has one replica`;
}

/** What a producer asks for: `client.deploy(...)`, the HTTP body (with the name in the path), an apply entry. */
export const DeployRequestSchema = RevisionSpecSchema.extend({
  service: ServiceNameSchema,
  strategy: z.enum(STRATEGIES, { message: `must be one of ${STRATEGIES.join(', ')}` }).optional(),
  replicas: z.number().int().min(1, 'must be at least 1').optional(),
  /** How long each replica has to become ready (its readiness check, or running). */
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
});
export type DeployRequest = z.input<typeof DeployRequestSchema>;

/** The revision that serves a service: its number, the deploy that made it, its spec, its processes. */
export const ActiveSchema = z.object({
  revision: z.number().int(),
  deploy: z.string(),
  spec: z.record(z.string(), z.unknown()),
  processes: z.array(z.string()),
});
export type Active = z.infer<typeof ActiveSchema>;

/**
 * `v` is the version of the event type's shape, as for process events: versions and the
 * upcasting of older ones live in src/shared/event-versions.ts (as `deploy.<type>`).
 */
const base = { v: z.number().int().positive(), at: z.number().int().nonnegative() };
const proc = { process: z.string(), replica: z.number().int().nonnegative() };

export const DeployEventSchema = z.discriminatedUnion('type', [
  z.object({
    ...base,
    type: z.literal('requested'),
    service: z.string(),
    revision: z.number().int().positive(),
    kind: z.enum(DEPLOY_KINDS),
    spec: z.record(z.string(), z.unknown()).nullable(),
    strategy: z.enum(STRATEGIES),
    replicas: z.number().int().nonnegative(),
    timeoutMs: z.number().int().positive(),
    /** Why it was asked for, when not a plain deploy: `rollback of r3`, `restart`. */
    cause: z.string().nullable(),
    /** What the deploy does otherwise than asked, and why (a fixed port runs stop-first). */
    note: z.string().optional(),
  }),
  /** A runner took it; `previous` is what served the service at that moment. */
  z.object({ ...base, type: z.literal('began'), previous: ActiveSchema.nullable(), runner: z.string() }),
  z.object({ ...base, type: z.literal('superseded'), by: z.string() }),
  /** A replica's process record was requested. */
  z.object({ ...base, type: z.literal('revision_started'), ...proc }),
  z.object({ ...base, type: z.literal('replica_ready'), ...proc }),
  /** A process of the previous revision was stopped, its tree verified gone. */
  z.object({ ...base, type: z.literal('previous_stopped'), ...proc }),
  z.object({ ...base, type: z.literal('rollback_begun'), reason: z.string() }),
  /** A replica of the previous revision the rollback started again (it had been stopped already). */
  z.object({ ...base, type: z.literal('previous_restarted'), ...proc }),
  z.object({ ...base, type: z.literal('succeeded') }),
  z.object({ ...base, type: z.literal('rolled_back') }),
]);
export type DeployEvent = z.infer<typeof DeployEventSchema>;
/** Every deploy event type this release knows. */
export const DEPLOY_EVENT_TYPES: readonly DeployEvent['type'][] = DeployEventSchema.options.map((o) => o.shape.type.value);
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type DeployEventDraft = DistributiveOmit<DeployEvent, 'v' | 'at'> & { at?: number };

export const DeployRecordSchema = z.object({
  id: z.string(),
  service: z.string(),
  revision: z.number().int(),
  kind: z.enum(DEPLOY_KINDS),
  state: z.enum(DEPLOY_STATES),
  spec: z.record(z.string(), z.unknown()).nullable(),
  strategy: z.enum(STRATEGIES),
  replicas: z.number().int(),
  timeoutMs: z.number().int(),
  cause: z.string().nullable(),
  /** What it does otherwise than asked, and why (a fixed port runs stop-first); null when nothing. */
  note: z.string().nullable().default(null),
  /** What served the service when the deploy began (null before, or for a first deploy). */
  previous: ActiveSchema.nullable(),
  /** Process ids of the new revision, by replica. */
  processes: z.array(z.string()),
  /** When each replica's process was requested (epoch ms), by replica: its readiness deadline counts from it. */
  startedAt: z.array(z.number().int()),
  ready: z.array(z.string()),
  previousStopped: z.array(z.string()),
  /** Replicas of the previous revision the rollback started again in place of stopped ones. */
  restored: z.array(z.string()),
  reason: z.string().nullable(),
  supersededBy: z.string().nullable(),
  runner: z.string().nullable(),
  /** What serves the service once the deploy is over (null while it runs, or after a stop). */
  active: ActiveSchema.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  endedAt: z.string().nullable(),
  version: z.number().int(),
});
export type DeployRecord = z.infer<typeof DeployRecordSchema>;

/**
 * Process id of a replica of a revision. A restored replica gets the deploy's number as
 * suffix (`-re<n>`), a replica a scale added gets the scale's (`-s<n>`): an id is never
 * used twice, though a replica number may be (scaled down, then up again).
 */
export function replicaId(service: string, revision: number, replica: number, by?: number, tag: 're' | 's' = 're'): string {
  return `${service}-r${revision}-${replica}${by === undefined ? '' : `-${tag}${by}`}`;
}

/** Replica number of the next process a deploy starts: a scale numbers its new replicas after the ones it keeps. */
export function nextReplica(d: Pick<DeployRecord, 'kind' | 'previous' | 'processes'>): number {
  return (d.kind === 'scale' ? (d.previous?.processes.length ?? 0) : 0) + d.processes.length;
}

export type DeployReduceResult = { ok: true; record: DeployRecord } | { ok: false; error: string };

/** Folds one event into a deploy record; an event that does not fit its state is refused with a reason. */
// eslint-disable-next-line max-lines-per-function -- table-shaped: one case per deploy event type
export function reduceDeploy(prev: DeployRecord | null, e: DeployEvent, id: string): DeployReduceResult {
  const at = new Date(e.at).toISOString();
  if (prev === null) {
    if (e.type !== 'requested') return fail(`${e.type} on a deploy that was never requested`);
    return ok({
      id,
      service: e.service,
      revision: e.revision,
      kind: e.kind,
      state: 'queued',
      spec: e.spec,
      strategy: e.strategy,
      replicas: e.replicas,
      timeoutMs: e.timeoutMs,
      cause: e.cause,
      note: e.note ?? null,
      previous: null,
      processes: [],
      startedAt: [],
      ready: [],
      previousStopped: [],
      restored: [],
      reason: null,
      supersededBy: null,
      runner: null,
      active: null,
      createdAt: at,
      updatedAt: at,
      endedAt: null,
      version: 1,
    });
  }
  const r: DeployRecord = { ...prev, updatedAt: at, version: prev.version + 1 };
  const need = (...states: DeployState[]) => (states.includes(prev.state) ? null : `${e.type} is not allowed in state ${prev.state}`);
  const add = (list: string[], p: string) => (list.includes(p) ? list : [...list, p]);
  const end = (state: DeployState) => {
    r.state = state;
    r.endedAt = at;
  };
  let bad: string | null = null;
  switch (e.type) {
    case 'requested':
      return fail(`deploy ${id} already exists`);
    case 'began':
      if ((bad = need('queued'))) return fail(bad);
      r.state = 'running';
      r.previous = e.previous;
      r.runner = e.runner;
      return ok(r);
    case 'superseded':
      if ((bad = need('queued'))) return fail(bad);
      r.supersededBy = e.by;
      r.reason = `superseded by ${e.by}`;
      end('superseded');
      return ok(r);
    case 'revision_started':
      if ((bad = need('running'))) return fail(bad);
      if (e.replica !== nextReplica(prev)) return fail(`replica ${e.replica} started out of order (next is ${nextReplica(prev)})`);
      r.processes = [...prev.processes, e.process];
      r.startedAt = [...prev.startedAt, e.at];
      return ok(r);
    case 'replica_ready':
      if ((bad = need('running'))) return fail(bad);
      if (!prev.processes.includes(e.process)) return fail(`${e.process} is not a replica of this deploy`);
      r.ready = add(prev.ready, e.process);
      return ok(r);
    case 'previous_stopped':
      if ((bad = need('running', 'rolling_back'))) return fail(bad);
      r.previousStopped = add(prev.previousStopped, e.process);
      return ok(r);
    case 'rollback_begun':
      if ((bad = need('running'))) return fail(bad);
      r.state = 'rolling_back';
      r.reason = e.reason;
      return ok(r);
    case 'previous_restarted':
      if ((bad = need('rolling_back'))) return fail(bad);
      r.restored = add(prev.restored, e.process);
      return ok(r);
    case 'succeeded':
      if ((bad = need('running'))) return fail(bad);
      end('succeeded');
      r.active = succeededActive(prev);
      return ok(r);
    case 'rolled_back':
      if ((bad = need('rolling_back'))) return fail(bad);
      end('rolled_back');
      r.active = prev.previous === null ? null : { ...prev.previous, processes: rolledBackReplicas(prev, prev.previous) };
      return ok(r);
  }
}

/** What serves once a deploy succeeded: its revision, nothing after a stop, the scaled revision after a scale. */
function succeededActive(d: DeployRecord): Active | null {
  if (d.kind === 'scale') {
    if (!d.previous) return null;
    const kept = d.previous.processes.filter((p) => !d.previousStopped.includes(p));
    return { ...d.previous, processes: [...kept, ...d.processes] };
  }
  if (d.kind === 'stop' || d.spec === null) return null;
  return { revision: d.revision, deploy: d.id, spec: d.spec, processes: d.processes };
}

/**
 * The previous revision's replicas once a rollback is over: each one the rollback started
 * again in its place (all of them under stop-first; any whose stop was asked for), else
 * the one that was never stopped. A stopped one with nothing in its place is left out.
 */
function rolledBackReplicas(d: DeployRecord, previous: Active): string[] {
  const out: string[] = [];
  previous.processes.forEach((p, i) => {
    const again = replicaId(d.service, previous.revision, i, d.revision);
    if (d.restored.includes(again)) out.push(again);
    else if (!d.previousStopped.includes(p)) out.push(p);
  });
  return out;
}

export function foldDeploy(events: Iterable<DeployEvent>, id: string): DeployRecord | null {
  let rec: DeployRecord | null = null;
  for (const e of events) {
    const res = reduceDeploy(rec, e, id);
    if (!res.ok) throw new Error(`deploy ${id} does not fold at version ${(rec?.version ?? 0) + 1}: ${res.error}`);
    rec = res.record;
  }
  return rec;
}

/**
 * What serves a service, from its deploys newest first: the `active` of the newest deploy
 * that ran to its end (superseded ones never ran). Null when none did, or after a stop.
 */
export function activeOf(deploysNewestFirst: readonly DeployRecord[]): Active | null {
  for (const d of deploysNewestFirst) if (d.state === 'succeeded' || d.state === 'rolled_back') return d.active;
  return null;
}

/** How one replica stands: serving, on its way up, failing (ended, restarting, given up, gone), or being stopped. */
export type ReplicaCondition = 'ready' | 'starting' | 'failing' | 'stopping';

export function replicaCondition(rec: ProcessRecord | null | undefined): { condition: ReplicaCondition; why: string | null } {
  if (!rec) return { condition: 'failing', why: 'its record is gone' };
  if (rec.desired === 'stopped') return { condition: 'stopping', why: null };
  if (rec.state === 'running') return { condition: 'ready', why: null };
  const ended = FINAL_STATES.has(rec.state);
  if (!ended && !(rec.state === 'pending' && rec.restarts > 0)) return { condition: 'starting', why: null };
  const cause = rec.error ?? (rec.exitCode !== null ? `exit code ${rec.exitCode}` : rec.signal ? `signal ${rec.signal}` : rec.endReason);
  const what = ended ? rec.state : `restarting (attempt ${rec.restarts})`;
  return { condition: 'failing', why: `${what}${cause ? `: ${cause}` : ''}` };
}

/** Desired, ready and failing replicas of one revision, and why the first failing one fails. */
export interface RevisionStatus {
  revision: number;
  deploy: string;
  /** `active`: serves the service; `deploying`: the revision a deploy under way brings in. */
  role: 'active' | 'deploying';
  desired: number;
  ready: number;
  starting: number;
  failing: number;
  reason: string | null;
}

export function revisionStatus(
  of: { revision: number; deploy: string; role: RevisionStatus['role']; desired: number; processes: readonly string[] },
  recs: ReadonlyMap<string, ProcessRecord | null>,
): RevisionStatus {
  const s: RevisionStatus = {
    revision: of.revision,
    deploy: of.deploy,
    role: of.role,
    desired: of.desired,
    ready: 0,
    starting: 0,
    failing: 0,
    reason: null,
  };
  for (const id of of.processes) {
    const c = replicaCondition(recs.get(id));
    if (c.condition === 'ready') s.ready++;
    else if (c.condition === 'starting') s.starting++;
    else if (c.condition === 'failing') {
      s.failing++;
      s.reason ??= `${id} ${c.why}`;
    }
  }
  return s;
}

/**
 * A service's health from its active revision: `serving` (every desired replica ready),
 * `degraded` (fewer ready than desired), `none` (no active revision: never deployed,
 * stopped, or its first deploy under way). The reason of a degraded service names a
 * failing replica and why (a crash loop says so), or what is missing.
 */
export type ServiceHealth = 'serving' | 'degraded' | 'none';

export function serviceHealth(active: RevisionStatus | null): { health: ServiceHealth; reason: string | null } {
  if (!active) return { health: 'none', reason: null };
  if (active.ready >= active.desired) return { health: 'serving', reason: null };
  const starting = active.starting ? `, ${active.starting} starting` : '';
  return { health: 'degraded', reason: active.reason ?? `${active.ready} of ${active.desired} replicas ready${starting}` };
}

/**
 * Parses a deploy event read from Redis into the current shape of its type, upcasting an
 * older version; a newer version or an unknown type is a CorruptDataError that names it.
 */
export function decodeDeployEvent(json: string): DeployEvent {
  return mustDecodeStored(DeployEventSchema, json, 'deploy event', { upcast: (raw) => upcast(raw, 'deploy') });
}

/** A new deploy event, stamped with the current version of its type. */
export function withDeployVersion(e: DeployEventDraft, now: number): DeployEvent {
  return { ...e, at: e.at ?? now, v: currentVersion(versionKey(e.type, 'deploy')) } as DeployEvent;
}

/** A deploy event's JSON as stored, at the version of its type that writeVersion (by versionKey) asks for. */
export function encodeDeployEvent(e: DeployEvent, writeVersion: (key: string) => number): string {
  const key = versionKey(e.type, 'deploy');
  return JSON.stringify(downcast(e as unknown as RawEvent, writeVersion(key), 'deploy'));
}

const ok = (record: DeployRecord): DeployReduceResult => ({ ok: true, record });
const fail = (error: string): DeployReduceResult => ({ ok: false, error });
