import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadBullmq } from './bullmq-loader.js';
import { startJobId } from './jobs.js';
import type { Keys } from './keys.js';
import type { ProcessRecord } from './record.js';

let QueueClass: typeof Queue | null = null;
const loadQueue = (): typeof Queue => (QueueClass ??= loadBullmq().Queue);

/** Finished jobs go; failed ones stay a while for `reapq queues` and a human to look at. */
const KEEP = { removeOnComplete: true, removeOnFail: 1000 } as const;

/**
 * Every job reapq puts on a queue, and the queues it puts them on (one BullMQ Queue per
 * name on one connection), for the client and the worker alike.
 */
export class JobQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    private readonly keys: Keys,
  ) {}

  /** The queue of that name: a host's queue, the shared start queue, the deploy queue. */
  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new (loadQueue())(name, { connection: this.connection, prefix: this.keys.bullPrefix });
      q.on('error', () => undefined); // surfaces as a rejected call
      this.queues.set(name, q);
    }
    return q;
  }

  /**
   * Runs fn on a queue. A BullMQ Queue whose start-up failed while Redis was away keeps
   * that failure, so a queue whose call failed is dropped and the next call builds a fresh
   * one on the same connection: whoever holds this recovers whenever the outage hit.
   */
  async on<T>(name: string, fn: (q: Queue) => Promise<T>): Promise<T> {
    const q = this.queue(name);
    try {
      return await fn(q);
    } catch (err) {
      if (this.queues.get(name) === q) this.queues.delete(name);
      void q.close().catch(() => undefined);
      throw err;
    }
  }

  /** Where a record's start job goes: the host it asked for, or the shared start queue. */
  private startQueue(rec: ProcessRecord): string {
    return rec.requestedHost ? this.keys.hostQueue(rec.requestedHost) : this.keys.startQueue;
  }

  /** Where the start job of the record's current run goes: its queue and id. */
  startJobOf(rec: ProcessRecord): { queue: string; jobId: string } {
    return { queue: this.startQueue(rec), jobId: startJobId(rec.id, rec.restarts) };
  }

  /**
   * Moves a delayed job to waiting now, if it is still delayed and was fetched no more than
   * `attemptsStarted` times (not fetched and delayed again since). False when it was not.
   */
  async promoteIfDelayed(job: { queue: string; jobId: string; attemptsStarted: number }): Promise<boolean> {
    const found = await this.on(job.queue, (q) => q.getJob(job.jobId));
    if (!found || found.attemptsStarted !== job.attemptsStarted || !(await found.isDelayed())) return false;
    // Promoted meanwhile (by BullMQ, or another worker): nothing is left to do.
    return found.promote().then(
      () => true,
      () => false,
    );
  }

  /** The start job of the record's current run; its id makes a second one for the same run a no-op. */
  async enqueueStart(rec: ProcessRecord, delayMs = 0): Promise<void> {
    await this.on(this.startQueue(rec), (q) =>
      q.add('start', { id: rec.id }, { ...KEEP, jobId: startJobId(rec.id, rec.restarts), delay: delayMs }),
    );
  }

  /** A stop job on the queue of the host that holds the record. */
  async enqueueStop(rec: ProcessRecord & { host: string }): Promise<void> {
    await this.on(this.keys.hostQueue(rec.host), (q) => q.add('stop', { id: rec.id }, KEEP));
  }

  /** Removes the start job of the record's current run if it is still queued (a start stopped before it ran). */
  async withdrawStart(rec: ProcessRecord): Promise<void> {
    await this.on(this.startQueue(rec), (q) => q.remove(startJobId(rec.id, rec.restarts)));
  }

  /**
   * Level-triggered repair of a pending record whose start job is gone (a Redis crash
   * between the append and the enqueue, a job failed by hand): its job is put back. True
   * when it was.
   */
  async ensureStart(rec: ProcessRecord): Promise<boolean> {
    const job = await this.on(this.startQueue(rec), (q) => q.getJob(startJobId(rec.id, rec.restarts)));
    if (job) {
      const state = await job.getState();
      if (state !== 'failed' && state !== 'completed' && state !== 'unknown') return false;
      await job.remove().catch(() => undefined);
    }
    await this.enqueueStart(rec);
    return true;
  }

  /** A job that runs the service's queued deploys; jobId keeps a repeated enqueue of one deploy single. */
  async enqueueDeploy(service: string, jobId: string): Promise<void> {
    await this.on(this.keys.deployQueue, (q) => q.add('deploy', { service }, { ...KEEP, jobId }));
  }

  async close(): Promise<void> {
    const all = [...this.queues.values()];
    this.queues.clear();
    await Promise.all(all.map((q) => q.close()));
  }
}
