import { DelayedError, type Job } from 'bullmq';
import type { Clock } from '../shared/clock.js';
import type { StartEntry } from '../shared/job-queues.js';
import { parseJob } from '../shared/jobs.js';
import type { Logger } from '../shared/logger.js';
import type { Controller } from './controller/controller.js';
import type { DeployRunner } from './deploy/runner.js';
import type { DueJobs } from './due-jobs.js';
import type { ReconcilePasses } from './passes.js';
import type { ClusterReport } from './reconcile/lost-hosts.js';

/** How long a start or deploy handed back waits before a worker fetches it again. */
const HAND_BACK_MS = 250;

export interface RouterDeps {
  controller: Pick<Controller, 'load' | 'start' | 'stop'>;
  deploys: Pick<DeployRunner, 'runService'>;
  passes: Pick<ReconcilePasses, 'run'>;
  /** The fleet pass; a scheduled one holds its lock for holdMs. */
  clusterPass: (opts: { holdMs?: number }) => Promise<ClusterReport | null>;
  /** Live processes this host takes before leaving starts to other hosts. */
  maxProcesses: number;
  draining: () => boolean;
  /** How long a stop job waits for its stop to be done. */
  stopBoundMs: number;
  reconcileMs: number;
  /** Promotes what it hands back when due on the monotonic clock, whatever the wall clock did. */
  due: Pick<DueJobs, 'watch'>;
  /** Puts starts of a batch back on a queue as a job of their own (JobQueues.addStarts): its id. */
  requeueStarts: (queue: string, entries: StartEntry[], delayMs: number, deferrals: number) => Promise<string>;
  /** The entries whose record still waits for that very start (pending, wanted running, same run); unreadable ones kept. */
  stillWanted: (entries: StartEntry[]) => Promise<StartEntry[]>;
  log: Logger;
  clock: Clock;
}

/**
 * What each job means to this worker: a start (unless the host is full or drained), a
 * stop, a service's deploys, or a reconcile pass (host, then fleet). Jobs carry only ids;
 * the controller reads the record and decides.
 */
export class JobRouter {
  /** Starts taken and not yet counted in the controller's load. */
  private reserved = 0;

  constructor(private readonly deps: RouterDeps) {}

  readonly handle = async (job: Job, token?: string): Promise<unknown> => {
    const parsed = parseJob(job.name, job.data);
    switch (parsed.name) {
      case 'start':
        return this.start(job, parsed.data.id, token);
      case 'stop':
        await this.deps.controller.stop(parsed.data.id, this.deps.stopBoundMs);
        return null;
      case 'starts':
        return this.starts(job, parsed.data.starts, token);
      case 'stops':
        return this.stops(parsed.data.ids);
      case 'deploy':
        // Another runner holds the service (or this worker is closing): the job comes back
        // and finds the service's deploys as far as they got.
        if ((await this.deps.deploys.runService(parsed.data.service)) !== 'done' && token) await this.later(job, HAND_BACK_MS, token);
        return null;
      case 'reconcile':
        return this.reconcile(parsed.data.full === true);
    }
  };

  private async start(job: Job, id: string, token: string | undefined): Promise<null> {
    const { controller, maxProcesses } = this.deps;
    // Counted before the first await: concurrent start jobs must not all see room.
    if ((controller.load + this.reserved >= maxProcesses || this.deps.draining()) && token)
      // Full or drained: hand the start back so a host with room takes it. (A paused
      // worker may still hold one job it fetched before the pause.)
      await this.later(job, HAND_BACK_MS, token);
    this.reserved++;
    try {
      const out = await controller.start(id, job.id);
      if (out.kind === 'deferred' && token) {
        // Retryable (no free port now): the job waits and comes back, with backoff.
        const n = deferralsOf(job);
        await job.updateData({ ...(job.data as object), deferrals: n + 1 });
        await this.later(job, Math.min(500 * 2 ** n, 30_000), token);
      }
    } finally {
      this.reserved--;
    }
    return null;
  }

  /**
   * Starts requested together: this host takes those it has room for and puts the rest back
   * first, for any host (should it die meanwhile, the batch comes back whole, and each
   * record says whether its start already ran). A start that found no free port goes back
   * on its own with the single start's backoff.
   */
  private async starts(job: Job, entries: StartEntry[], token: string | undefined): Promise<null> {
    const { controller, maxProcesses } = this.deps;
    const room = this.deps.draining() ? 0 : Math.max(0, maxProcesses - controller.load - this.reserved);
    if (room === 0 && token) return this.handBack(job, entries, token);
    const take = token ? entries.slice(0, room) : entries;
    // Counted before the first await, as a single start is.
    this.reserved += take.length;
    try {
      if (take.length < entries.length) await this.requeue(job.queueName, entries.slice(take.length), HAND_BACK_MS, 0);
    } catch (err) {
      this.reserved -= take.length;
      throw err;
    }
    const done = await Promise.allSettled(
      take.map(async (e) => {
        try {
          return { e, out: await controller.start(e.id, e.job) };
        } finally {
          this.reserved--;
        }
      }),
    );
    const deferred = done.flatMap((d) => (d.status === 'fulfilled' && d.value.out.kind === 'deferred' ? [d.value.e] : []));
    const n = deferralsOf(job);
    if (deferred.length > 0) await this.requeue(job.queueName, deferred, Math.min(500 * 2 ** n, 30_000), n + 1);
    const failed = done.find((d) => d.status === 'rejected');
    if (failed) throw failed.reason;
    return null;
  }

  /**
   * A full or drained host hands a batch back, less the starts nobody waits for any more: a
   * single start's job is withdrawn by its stop, a start inside a batch cannot be, and would
   * otherwise come back every 250 ms for as long as no host has room.
   */
  private async handBack(job: Job, entries: StartEntry[], token: string): Promise<null> {
    const wanted = await this.deps.stillWanted(entries);
    if (wanted.length === entries.length) return this.later(job, HAND_BACK_MS, token);
    if (wanted.length > 0) await this.requeue(job.queueName, wanted, HAND_BACK_MS, deferralsOf(job));
    this.deps.log.info(
      { withdrawn: entries.length - wanted.length, kept: wanted.length },
      'starts no longer wanted left out of a batch handed back',
    );
    return null;
  }

  private async requeue(queue: string, entries: StartEntry[], delayMs: number, deferrals: number): Promise<void> {
    const jobId = await this.deps.requeueStarts(queue, entries, delayMs, deferrals);
    this.deps.due.watch({ queue, jobId, attemptsStarted: 0 }, delayMs);
  }

  /** Stops requested together, carried out side by side; the job fails with the first that failed, once all are done. */
  private async stops(ids: string[]): Promise<null> {
    const done = await Promise.allSettled(ids.map((id) => this.deps.controller.stop(id, this.deps.stopBoundMs)));
    const failed = done.find((d) => d.status === 'rejected');
    if (failed) throw failed.reason;
    return null;
  }

  /** Puts the job back for later; BullMQ's DelayedError says the handler let go of it. */
  private async later(job: Job, ms: number, token: string): Promise<never> {
    // BullMQ takes a wall-clock timestamp: its delayed set is scored by time since the epoch.
    await job.moveToDelayed(this.deps.clock.now() + ms, token);
    if (job.id) this.deps.due.watch({ queue: job.queueName, jobId: job.id, attemptsStarted: job.attemptsStarted }, ms);
    throw new DelayedError();
  }

  private async reconcile(full: boolean): Promise<unknown> {
    const report = await this.deps.passes.run(full);
    const cluster = await this.deps.clusterPass(full ? {} : { holdMs: this.deps.reconcileMs }).catch((err) => {
      this.deps.log.warn({ err: (err as Error).message }, 'cluster pass failed');
      return null;
    });
    return { ...report, cluster };
  }
}

/** How often the job's starts found no free port (data a producer never sets; anything else reads as none). */
function deferralsOf(job: Job): number {
  return Number((job.data as { deferrals?: unknown }).deferrals ?? 0) || 0;
}
