import { systemClock } from '../shared/clock.js';
import { z } from 'zod';
import {
  activeOf,
  atMostOneRefusal,
  DEFAULT_DEPLOY_TIMEOUT_MS,
  DeployRequestSchema,
  FINAL_DEPLOY_STATES,
  revisionStatus,
  serviceHealth,
  ServiceNameSchema,
  strategyFor,
  type RevisionStatus,
  type ServiceHealth,
  type DeployRecord,
  type DeployKind,
  type DeployRequest,
  type Strategy,
} from '../shared/deploy.js';
import { DeployStore, ServiceNotFoundError, type StoredDeployEvent } from '../shared/deploy-store.js';
import { InputError, TimeoutError } from '../shared/errors.js';
import type { EventStore } from '../shared/event-store.js';
import { newId } from '../shared/ids.js';
import type { JobQueues } from '../shared/job-queues.js';
import type { DaemonAsk } from '../shared/daemon.js';
import { parseInput } from '../shared/input.js';
import type { Keys } from '../shared/keys.js';
import { ProcessIdSchema, type ProcessRecord, type State } from '../shared/record.js';
import { oversize, type SpecLimits } from '../shared/spec-size.js';
import type { StreamReader } from './stream-reader.js';

export interface ServiceProcess {
  id: string;
  host: string | null;
  port: number | null;
  state: State | 'gone';
}

/** A service as `reapq services` shows it: what serves it, how well, and how its last deploy went. */
export interface ServiceInfo {
  name: string;
  active: { revision: number; deploy: string; processes: ServiceProcess[] } | null;
  lastDeploy: { id: string; revision: number; kind: DeployKind; state: DeployRecord['state']; reason: string | null } | null;
  /** `serving`: every desired replica of the active revision ready; `degraded` (with the reason); `none`. */
  health: ServiceHealth;
  reason: string | null;
  /** Desired, ready and failing replicas of the active revision, and of the one a deploy under way brings in. */
  revisions: RevisionStatus[];
}

export interface ApplyResult {
  service: string;
  action: 'deployed' | 'unchanged' | 'stopped';
  deploy: DeployRecord | null;
}

/** JSON with keys sorted: two specs that say the same thing compare equal. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );
}

export interface ServiceDetail extends ServiceInfo {
  /** Every deploy of the service, newest first. */
  deploys: DeployRecord[];
}

const StrictDeploy = DeployRequestSchema.strict();
const ScaleSchema = z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1');
const FINAL_EVENTS: ReadonlySet<string> = new Set(['succeeded', 'rolled_back', 'superseded']);

interface Parts {
  store: EventStore;
  keys: Keys;
  limits: SpecLimits;
  deploys: DeployStore;
  jobs: JobQueues;
  streams: () => StreamReader;
  /** Refuses (InputError) a daemon no host that may take it can follow. */
  checkDaemon: (spec: DaemonAsk, what: string) => Promise<void>;
}

/** The client's deploy calls (ReapqClient delegates to these). */
export class Deploys {
  constructor(private readonly p: Parts) {}

  /** Queues a deploy of a service; resolves with its record (state `queued`) once recorded and enqueued. */
  async deploy(req: DeployRequest, cause: string | null = null): Promise<DeployRecord> {
    const r = parseInput(StrictDeploy, req, 'invalid deploy');
    const { service, strategy, replicas, timeoutMs, ...spec } = r;
    if (replicas !== undefined && replicas > this.p.limits.maxReplicas)
      throw new InputError(`invalid deploy: replicas: at most ${this.p.limits.maxReplicas} (REAPQ_MAX_REPLICAS)`);
    const tooBig = oversize(this.p.limits, spec.command, spec.env ?? {}) ?? atMostOneRefusal(spec, replicas ?? 1);
    if (tooBig) throw new InputError(`invalid deploy: ${tooBig}`);
    await this.p.checkDaemon(spec, 'invalid deploy');
    return this.request(service, 'deploy', spec, strategy ?? 'start-first', replicas ?? 1, timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS, cause);
  }

  private async request(
    service: string,
    kind: DeployKind,
    spec: Record<string, unknown> | null,
    asked: Strategy,
    replicas: number,
    timeoutMs: number,
    cause: string | null,
  ): Promise<DeployRecord> {
    const revision = await this.p.deploys.nextRevision(service);
    const id = newId('d');
    const run = strategyFor(spec, asked, spec ? await this.activeSpec(service) : null);
    const note = run.note === null ? {} : { note: run.note };
    const rec = await this.p.deploys.transact(id, (cur) =>
      cur ? null : [{ type: 'requested', service, revision, kind, spec, strategy: run.strategy, replicas, timeoutMs, cause, ...note }],
    );
    await this.p.jobs.enqueueDeploy(service, id);
    return rec!;
  }

  /** The spec of the revision serving a service now (null: none). */
  private async activeSpec(service: string): Promise<Record<string, unknown> | null> {
    return activeOf([...(await this.p.deploys.ofService(service))].reverse())?.spec ?? null;
  }

  async get(id: string): Promise<DeployRecord> {
    parseInput(ProcessIdSchema, id, `invalid deploy id ${JSON.stringify(id)}`);
    return this.p.deploys.mustGet(id);
  }

  /** A deploy's events so far, after a version (0: all). */
  async events(id: string, afterVersion = 0): Promise<StoredDeployEvent[]> {
    await this.get(id);
    return this.p.deploys.readEvents(id, afterVersion);
  }

  /** The deploy's events from a version on, as they are appended; ends after the final one (or when the signal aborts). */
  async *follow(id: string, afterVersion = 0, signal?: AbortSignal): AsyncGenerator<StoredDeployEvent> {
    const rec = await this.get(id);
    let after = afterVersion;
    if (FINAL_DEPLOY_STATES.has(rec.state) && rec.version <= after) return;
    // Subscribed before the catch-up read, so nothing appended in between is missed.
    const sub = this.p.streams().subscribe(this.p.keys.deployStream(id), `${after}-0`);
    try {
      let batch = await this.p.deploys.readEvents(id, after);
      for (;;) {
        for (const e of batch) {
          if (e.version <= after) continue;
          after = e.version;
          yield e;
          if (FINAL_EVENTS.has(e.event.type)) return;
        }
        if (signal?.aborted || sub.closed) return;
        const got = await sub.next(5000, signal);
        batch = got.map((x) => DeployStore.decodeEntry(x.id, x.fields));
      }
    } finally {
      sub.close();
    }
  }

  /** Resolves with the deploy once it is over (succeeded, rolled_back or superseded): look at `state`. */
  async waitFor(id: string, opts: { timeoutMs?: number } = {}): Promise<DeployRecord> {
    const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
    const deadline = systemClock.mono() + timeoutMs;
    let rec = await this.get(id);
    const sub = this.p.streams().subscribe(this.p.keys.deployStream(id), `${rec.version}-0`);
    try {
      while (!FINAL_DEPLOY_STATES.has(rec.state)) {
        const left = deadline - systemClock.mono();
        if (left <= 0) throw new TimeoutError(`timed out waiting for deploy ${id}; it is ${rec.state}`, timeoutMs);
        if (sub.closed) throw new TimeoutError(`client closed while waiting for deploy ${id}`, timeoutMs);
        await sub.next(Math.min(left, 5000));
        rec = await this.p.deploys.mustGet(id);
      }
      return rec;
    } finally {
      sub.close();
    }
  }

  private async deploysOf(name: string): Promise<DeployRecord[]> {
    parseInput(ServiceNameSchema, name, `invalid service ${JSON.stringify(name)}`);
    const all = await this.p.deploys.ofService(name);
    if (all.length === 0) throw new ServiceNotFoundError(name);
    return all;
  }

  private async info(name: string, all: DeployRecord[]): Promise<ServiceInfo> {
    const active = activeOf([...all].reverse());
    const last = all.at(-1) ?? null;
    const coming = last && (last.state === 'running' || last.state === 'rolling_back') && last.kind === 'deploy' ? last : null;
    const ids = [...(active?.processes ?? []), ...(coming?.processes ?? [])];
    const got = ids.length > 0 ? await this.p.store.getMany(ids) : [];
    const recs = new Map<string, ProcessRecord | null>(ids.map((id) => [id, got.find((x) => x.id === id) ?? null]));
    const processes: ServiceProcess[] = (active?.processes ?? []).map((id) => {
      const r = recs.get(id);
      return { id, host: r?.host ?? null, port: r?.port ?? null, state: r?.state ?? 'gone' };
    });
    const revisions: RevisionStatus[] = [];
    if (active) revisions.push(revisionStatus({ ...active, role: 'active', desired: active.processes.length }, recs));
    if (coming)
      revisions.push(
        revisionStatus(
          { revision: coming.revision, deploy: coming.id, role: 'deploying', desired: coming.replicas, processes: coming.processes },
          recs,
        ),
      );
    return {
      name,
      active: active ? { revision: active.revision, deploy: active.deploy, processes } : null,
      lastDeploy: last ? { id: last.id, revision: last.revision, kind: last.kind, state: last.state, reason: last.reason } : null,
      ...serviceHealth(active ? revisions[0]! : null),
      revisions,
    };
  }

  async services(): Promise<ServiceInfo[]> {
    const names = await this.p.deploys.serviceNames();
    return Promise.all(names.map(async (n) => this.info(n, await this.p.deploys.ofService(n))));
  }

  async service(name: string): Promise<ServiceDetail> {
    const all = await this.deploysOf(name);
    return { ...(await this.info(name, all)), deploys: [...all].reverse() };
  }

  /** Deploys the spec of the revision that served before the active one. */
  async rollback(name: string): Promise<DeployRecord> {
    const all = await this.deploysOf(name);
    const active = activeOf([...all].reverse());
    if (!active) throw new Error(`${name} has no active revision to roll back from`);
    const made = all.find((d) => d.id === active.deploy);
    const before = made?.previous;
    if (!made || !before) throw new Error(`${name} has no revision before r${active.revision} to roll back to`);
    const from = all.find((d) => d.id === before.deploy);
    return this.again(name, before.spec, from ?? made, `rollback to r${before.revision}`);
  }

  /** A start-first deploy of the active revision's spec: every replica replaced, one at a time. */
  async restart(name: string): Promise<DeployRecord> {
    const all = await this.deploysOf(name);
    const active = activeOf([...all].reverse());
    if (!active) throw new Error(`${name} has no active revision to restart`);
    const made = all.find((d) => d.id === active.deploy)!;
    // As many replicas as serve now: a scale since the deploy changed the count, not the spec.
    const like = { ...made, strategy: 'start-first' as const, replicas: active.processes.length };
    return this.again(name, active.spec, like, `restart of r${active.revision}`);
  }

  /**
   * Queues a scale of the active revision to `replicas` (after the deploys queued before
   * it): the replicas that serve are left alone; more are started with the same spec, or
   * the highest-numbered ones are stopped.
   */
  async scale(name: string, replicas: number): Promise<DeployRecord> {
    const n = parseInput(ScaleSchema, replicas, 'invalid scale: replicas');
    if (n > this.p.limits.maxReplicas)
      throw new InputError(`invalid scale: replicas: at most ${this.p.limits.maxReplicas} (REAPQ_MAX_REPLICAS)`);
    const all = await this.deploysOf(name);
    const active = activeOf([...all].reverse());
    const queued = all.filter((d) => !FINAL_DEPLOY_STATES.has(d.state) && d.kind !== 'scale');
    if (queued.length === 0 && !active) throw new Error(`${name} has no active revision to scale`);
    // The revision it scales is the active one or one a deploy queued before it brings in.
    const refused = [active?.spec, ...queued.map((d) => d.spec)].map((s) => atMostOneRefusal(s, n)).find((r) => r !== null);
    if (refused) throw new InputError(`invalid scale: ${refused}`);
    // New replicas have as long to become ready as the revision's deploy gave its own.
    const timeoutMs = all.find((d) => d.id === active?.deploy)?.timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
    return this.request(name, 'scale', null, 'start-first', n, timeoutMs, `scale to ${n}`);
  }

  private again(name: string, spec: Record<string, unknown>, like: DeployRecord, cause: string): Promise<DeployRecord> {
    return this.deploy(
      {
        ...(spec as Omit<DeployRequest, 'service'>),
        service: name,
        strategy: like.strategy,
        replicas: like.replicas,
        timeoutMs: like.timeoutMs,
      },
      cause,
    );
  }

  /**
   * Brings services to what a file says (an ecosystem file): every entry is validated
   * first (one bad entry: InputError naming it, nothing deployed); a service whose spec,
   * strategy or replicas differ from its active revision's is deployed, the others are
   * left alone; with `prune`, services not in the file that still serve are stopped.
   */
  async apply(entries: readonly unknown[], opts: { prune?: boolean } = {}): Promise<ApplyResult[]> {
    const reqs = entries.map((e, i) => {
      const name = (e as { service?: unknown } | null)?.service;
      const label = typeof name === 'string' ? `invalid apply entry ${JSON.stringify(name)}` : `invalid apply entry ${i + 1}`;
      const r = parseInput(StrictDeploy, e, label);
      if (r.replicas !== undefined && r.replicas > this.p.limits.maxReplicas)
        throw new InputError(`${label}: replicas: at most ${this.p.limits.maxReplicas} (REAPQ_MAX_REPLICAS)`);
      const refused = atMostOneRefusal(r, r.replicas ?? 1);
      if (refused) throw new InputError(`${label}: ${refused}`);
      return r;
    });
    for (const r of reqs) await this.p.checkDaemon(r, `invalid apply entry ${JSON.stringify(r.service)}`);
    const dup = reqs.find((r, i) => reqs.findIndex((x) => x.service === r.service) !== i);
    if (dup) throw new InputError(`invalid apply file: service ${JSON.stringify(dup.service)} appears twice`);
    const out: ApplyResult[] = [];
    for (const r of reqs) {
      const all = await this.p.deploys.ofService(r.service);
      const active = activeOf([...all].reverse());
      const made = active ? all.find((d) => d.id === active.deploy) : undefined;
      const { service, strategy, replicas, timeoutMs, ...spec } = r;
      const same =
        active &&
        made &&
        stable(active.spec) === stable(spec) &&
        made.strategy === strategyFor(spec, strategy ?? 'start-first', made.previous?.spec ?? null).strategy &&
        active.processes.length === (replicas ?? 1);
      if (same) out.push({ service, action: 'unchanged', deploy: null });
      else
        out.push({ service, action: 'deployed', deploy: await this.deploy({ ...spec, service, strategy, replicas, timeoutMs }, 'apply') });
    }
    if (opts.prune) {
      const keep = new Set(reqs.map((r) => r.service));
      for (const name of await this.p.deploys.serviceNames()) {
        if (keep.has(name) || !activeOf([...(await this.p.deploys.ofService(name))].reverse())) continue;
        out.push({ service: name, action: 'stopped', deploy: await this.stop(name) });
      }
    }
    return out;
  }

  /** Queues the stop of a service's active revision, after any deploy before it. */
  async stop(name: string): Promise<DeployRecord> {
    await this.deploysOf(name);
    return this.request(name, 'stop', null, 'start-first', 0, DEFAULT_DEPLOY_TIMEOUT_MS, 'stop');
  }
}
