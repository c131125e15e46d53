import { nanoid } from 'nanoid';
import { activeOf, FINAL_DEPLOY_STATES, RevisionSpecSchema, type DeployRecord } from '../../shared/deploy.js';
import type { DeployStore } from '../../shared/deploy-store.js';
import type { EventStore } from '../../shared/event-store.js';
import { parseInput } from '../../shared/input.js';
import { every, type Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { JobQueues } from '../../shared/job-queues.js';
import type { ProcessRecord } from '../../shared/record.js';
import { requestStart, requestStop } from '../../shared/requests.js';
import { namedProcesses, pickNext, planDeploy, type DeployAction } from './plan.js';

export interface DeployRunnerDeps {
  deploys: DeployStore;
  store: EventStore;
  log: Logger;
  /** Who runs (`<prefix>/<host>`): written on the deploy when it begins. */
  owner: string;
  /** Where its replicas' start and stop jobs go: the same requests a client writes. */
  jobs: JobQueues;
  defaultGraceMs: number;
  clock: Clock;
  /** How long a runner's lease on a service lasts unless renewed: the wait of whoever comes after a crash. */
  leaseMs?: number;
  /** How often a waiting deploy looks at its processes again. */
  pollMs?: number;
}

/** The lease was lost (expired while this runner was stalled): someone else may run the service now. */
class LeaseLost extends Error {}

/**
 * Carries deploys out. One runner at a time per service holds the service's lease (a
 * Redis key with a ttl, renewed while it works); it runs the service's deploys one after
 * the other until none is left: an unfinished one first (its runner died), then the
 * newest queued one, superseding the older queued ones. Each step is: read the deploy and
 * the processes it names, ask the pure planner, carry out what it says, append the event.
 * A runner that dies leaves the record as far as it got; the next one resumes from there.
 */
export class DeployRunner {
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private closed = false;
  /** Each new replica's start (`<deploy>:<replica>:<recorded start>`) on this runner's monotonic clock. */
  private readonly startedMono = new Map<string, number>();

  constructor(private readonly deps: DeployRunnerDeps) {
    this.leaseMs = deps.leaseMs ?? 5000;
    this.pollMs = deps.pollMs ?? 200;
  }

  close(): void {
    this.closed = true;
  }

  /**
   * Level-triggered repair: a service whose newest deploy is not over and that no runner
   * holds gets a deploy job again (a producer that died between recording a deploy and
   * enqueueing it, a job removed by hand). True for each service it enqueued.
   */
  async sweep(pass: number): Promise<string[]> {
    const out: string[] = [];
    for (const service of await this.deps.deploys.serviceNames()) {
      const last = await this.deps.deploys.newest(service);
      if (!last || FINAL_DEPLOY_STATES.has(last.state) || (await this.deps.deploys.leaseHeld(service))) continue;
      // Its own job id: the deploy's first job may have failed and be kept as failed.
      await this.deps.jobs.enqueueDeploy(service, `${last.id}.sweep${pass}`);
      out.push(service);
    }
    return out;
  }

  /** Runs a service's deploys; 'busy' when another runner holds its lease (the job comes back later). */
  async runService(service: string): Promise<'done' | 'busy' | 'closed'> {
    const token = `${this.deps.owner}/${nanoid(8)}`;
    if (!(await this.deps.deploys.acquire(service, token, this.leaseMs))) return 'busy';
    const log = this.deps.log.child({ service });
    let lost = false;
    const renew = every(this.deps.clock, Math.max(50, Math.floor(this.leaseMs / 4)), () => {
      this.deps.deploys.renew(service, token, this.leaseMs).then(
        (ok) => (lost ||= !ok),
        () => undefined, // Redis away: the next renewal tries again, or the lease runs out
      );
    });
    const held = () => {
      if (lost) throw new LeaseLost(`lease on ${service} lost`);
      return !this.closed;
    };
    try {
      while (held()) {
        const all = await this.deps.deploys.ofService(service);
        const { run, supersede } = pickNext(all);
        for (const s of supersede) {
          await this.deps.deploys.transact(s.id, (cur) => (cur?.state === 'queued' ? [{ type: 'superseded', by: s.by }] : null));
          log.info({ deployId: s.id, by: s.by }, 'deploy superseded');
        }
        if (!run) return 'done';
        const others = all.filter((x) => x.id !== run.id).reverse();
        const end = await this.drive(run, others, held, log);
        if (!end) return 'closed';
      }
      return 'closed';
    } catch (err) {
      if (err instanceof LeaseLost) {
        log.warn('deploy lease lost: leaving the service to the runner that took it');
        return 'done';
      }
      throw err;
    } finally {
      renew.cancel();
      await this.deps.deploys.release(service, token).catch(() => undefined);
    }
  }

  /** Drives one deploy to its end; null when the runner is closing. */
  private async drive(
    start: DeployRecord,
    othersNewestFirst: DeployRecord[],
    held: () => boolean,
    log: Logger,
  ): Promise<DeployRecord | null> {
    let d = start;
    const dlog = log.child({ deployId: d.id, revision: d.revision });
    if (d.state === 'queued') {
      const previous = activeOf(othersNewestFirst);
      d = (await this.deps.deploys.transact(d.id, (cur) =>
        cur?.state === 'queued' ? [{ type: 'began', previous, runner: this.deps.owner }] : null,
      ))!;
      dlog.info({ previous: previous?.revision ?? null, strategy: d.strategy, replicas: d.replicas }, 'deploy began');
    } else dlog.info({ state: d.state }, 'resuming a deploy left unfinished');
    while (!FINAL_DEPLOY_STATES.has(d.state)) {
      if (!held()) return null;
      const ids = namedProcesses(d);
      const recs = await this.deps.store.getMany(ids);
      const seen = new Map<string, ProcessRecord | null>(ids.map((id) => [id, recs.find((r) => r.id === id) ?? null]));
      const actions = planDeploy(this.steady(d), seen, this.deps.clock.now());
      if (actions.length === 0) {
        await this.deps.clock.sleep(this.pollMs);
        d = await this.deps.deploys.mustGet(d.id);
        continue;
      }
      for (const a of actions) d = await this.carryOut(d, a, dlog);
    }
    dlog.info({ state: d.state, reason: d.reason }, `deploy ${d.state}`);
    for (const k of this.startedMono.keys()) if (k.startsWith(`${d.id}:`)) this.startedMono.delete(k);
    return d;
  }

  /**
   * The deploy with each new replica's start moved to where it stands on the wall clock now,
   * counted from when this runner first saw it on the monotonic clock: its wait to be ready
   * (timeoutMs) is then neither cut nor stretched by a step of the wall clock. The start
   * itself is wall time on the record (another runner may have begun the wait).
   */
  private steady(d: DeployRecord): DeployRecord {
    const [now, mono] = [this.deps.clock.now(), this.deps.clock.mono()];
    const startedAt = d.startedAt.map((at, i) => {
      const key = `${d.id}:${i}:${at}`;
      let m = this.startedMono.get(key);
      if (m === undefined) this.startedMono.set(key, (m = mono - Math.max(0, now - at)));
      return Math.round(now - (mono - m));
    });
    return { ...d, startedAt };
  }

  private async carryOut(d: DeployRecord, a: DeployAction, log: Logger): Promise<DeployRecord> {
    switch (a.kind) {
      case 'append': {
        const next = (await this.deps.deploys.transact(d.id, () => [a.event]))!;
        log.info({ step: a.event.type, ...('process' in a.event ? { processId: a.event.process } : {}) }, `deploy step ${a.event.type}`);
        return next;
      }
      case 'start': {
        const spec = parseInput(RevisionSpecSchema, a.spec, `spec of deploy ${d.id}`);
        // Idempotent by id: a runner that died between this and the event below repeats both.
        await requestStart(this.deps, a.process, spec, { of: { service: d.service, revision: a.revision } });
        return this.carryOut(d, { kind: 'append', event: a.then }, log);
      }
      case 'stop': {
        await requestStop(this.deps, a.process);
        log.info({ processId: a.process }, 'deploy stopping a process');
        return d;
      }
    }
  }
}
