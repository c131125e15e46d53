import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadBullmq } from './bullmq-loader.js';
import { Coalescer } from './coalesce.js';
import type { EventStore } from './event-store.js';
import { fleetReadsBatches, type WriteVersionSource } from './fleet-view.js';
import { BATCH_MAX, startJobId } from './jobs.js';
import type { Keys } from './keys.js';
import type { ProcessRecord } from './record.js';

let QueueClass: typeof Queue | null = null;
const loadQueue = (): typeof Queue => (QueueClass ??= loadBullmq().Queue);

/** Finished jobs go; failed ones stay a while for `reapq queues` and a human to look at. */
const KEEP = { removeOnComplete: true, removeOnFail: 1000 } as const;

/** One start of a `starts` job: the record, and the id its own start job would have (startJobId). */
export interface StartEntry {
  id: string;
  job: string;
}

/** Whether a record still waits for the start an entry of a `starts` job carries. */
export function wantsStart(rec: ProcessRecord, e: StartEntry): boolean {
  return rec.state === 'pending' && rec.desired === 'running' && startJobId(rec.id, rec.restarts) === e.job;
}

/** The entries whose record still waits for their start; a record that cannot be read keeps its entry (the fleet pass judges it). */
export async function stillWanted(store: Pick<EventStore, 'readMany'>, entries: StartEntry[]): Promise<StartEntry[]> {
  const { records, corrupt } = await store.readMany(entries.map((e) => e.id));
  const byId = new Map(records.map((r) => [r.id, r]));
  const unreadable = new Set(corrupt.map((c) => c.id));
  return entries.filter((e) => {
    const rec = byId.get(e.id);
    return rec ? wantsStart(rec, e) : unreadable.has(e.id);
  });
}

/** The starts inside `starts` jobs, by queue, read once per look over many records (JobQueues.batchedStarts). */
export type BatchedStarts = Map<string, Promise<Set<string>>>;

/**
 * Every job reapq puts on a queue, and the queues it puts them on (one BullMQ Queue per
 * name on one connection), for the client and the worker alike.
 */
export class JobQueues {
  private readonly queues = new Map<string, Queue>();
  private readonly startBatches = new Coalescer<StartEntry>(
    async (queue, entries) => void (await this.addStarts(queue, entries, 0)),
    BATCH_MAX,
  );
  private readonly stopBatches = new Coalescer<string>((queue, ids) => this.addStops(queue, ids), BATCH_MAX);

  constructor(
    private readonly connection: Redis,
    private readonly keys: Keys,
    /**
     * What the fleet's workers read: with it, starts and stops requested in one turn of the
     * event loop share a job once every live worker reads batched jobs; without it, one job each.
     */
    private readonly fleet?: WriteVersionSource,
  ) {}

  private async batching(): Promise<boolean> {
    return this.fleet !== undefined && fleetReadsBatches(await this.fleet.current());
  }

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

  /**
   * The start job of the record's current run; its id makes a second one for the same run a
   * no-op. Starts requested together go as one `starts` job (see Coalescer).
   */
  async enqueueStart(rec: ProcessRecord, delayMs = 0): Promise<void> {
    const entry = { id: rec.id, job: startJobId(rec.id, rec.restarts) };
    if (delayMs === 0 && (await this.batching())) return this.startBatches.add(this.startQueue(rec), entry);
    await this.addStarts(this.startQueue(rec), [entry], delayMs);
  }

  /**
   * One start is a `start` job under its own id; several are one `starts` job (a start in it
   * requested again later gets its own job, and the record decides which one spawns). The id
   * of the job added.
   */
  async addStarts(queue: string, entries: StartEntry[], delayMs: number, deferrals = 0): Promise<string> {
    const [first] = entries;
    // How often these starts found no free port: the next wait is longer (JobRouter).
    const more = deferrals > 0 ? { deferrals } : {};
    const job = await this.on(queue, (q) =>
      entries.length === 1
        ? q.add('start', { id: first!.id, ...more }, { ...KEEP, jobId: first!.job, delay: delayMs })
        : q.add('starts', { starts: entries, ...more }, { ...KEEP, delay: delayMs }),
    );
    return job.id!;
  }

  /** A stop job on the queue of the host that holds the record; stops requested together share one. */
  async enqueueStop(rec: ProcessRecord & { host: string }): Promise<void> {
    const queue = this.keys.hostQueue(rec.host);
    if (await this.batching()) return this.stopBatches.add(queue, rec.id);
    await this.addStops(queue, [rec.id]);
  }

  private async addStops(queue: string, ids: string[]): Promise<void> {
    await this.on(queue, (q) => (ids.length === 1 ? q.add('stop', { id: ids[0]! }, KEEP) : q.add('stops', { ids }, KEEP)));
  }

  /**
   * Whether a start job id is inside a `starts` job queued on the queue: its record has its
   * start job, though not under its own id. The queue's batches are read once per `batched`.
   */
  async inBatch(queue: string, jobId: string, batched: BatchedStarts): Promise<boolean> {
    let ids = batched.get(queue);
    if (!ids) batched.set(queue, (ids = this.batchedStarts(queue)));
    return (await ids).has(jobId);
  }

  /** The start job ids inside the `starts` jobs queued on a queue (waiting, delayed, active). */
  private async batchedStarts(queue: string): Promise<Set<string>> {
    const jobs = await this.on(queue, (q) => q.getJobs(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']));
    const out = new Set<string>();
    for (const j of jobs) {
      if (j?.name !== 'starts') continue;
      const starts = (j.data as { starts?: unknown }).starts;
      if (Array.isArray(starts)) for (const e of starts) if (typeof (e as StartEntry)?.job === 'string') out.add((e as StartEntry).job);
    }
    return out;
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
  async ensureStart(rec: ProcessRecord, batched: BatchedStarts = new Map()): Promise<boolean> {
    const queue = this.startQueue(rec);
    const jobId = startJobId(rec.id, rec.restarts);
    const job = await this.on(queue, (q) => q.getJob(jobId));
    if (job) {
      const state = await job.getState();
      if (state !== 'failed' && state !== 'completed' && state !== 'unknown') return false;
      await job.remove().catch(() => undefined);
    } else if (await this.inBatch(queue, jobId, batched)) return false;
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
