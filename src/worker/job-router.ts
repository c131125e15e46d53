import { DelayedError, type Job } from 'bullmq';
import type { Clock } from '../shared/clock.js';
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
        const n = Number((job.data as { deferrals?: unknown }).deferrals ?? 0) || 0;
        await job.updateData({ ...(job.data as object), deferrals: n + 1 });
        await this.later(job, Math.min(500 * 2 ** n, 30_000), token);
      }
    } finally {
      this.reserved--;
    }
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
