import { explainRefusals } from './refusals.js';
import { EventStore, type GlobalEvent } from '../shared/event-store.js';
import { readHosts } from '../shared/hosts.js';
import { parseInput } from '../shared/input.js';
import { prune } from '../shared/prune.js';
import { HostIdSchema, type ProcessRecord } from '../shared/record.js';
import type { ReconcileReport } from '../shared/reconcile-report.js';
import type { ClientInternals } from './client-internals.js';
import { fsck, type FsckResult } from './fsck.js';
import type { Subscription } from './stream-reader.js';
import { readUsage, type UsageEntry } from '../shared/usage.js';

/** The job states counted per queue (BullMQ's names). */
export const QUEUE_COUNT_TYPES = ['waiting', 'active', 'delayed', 'failed'] as const;

export interface QueueCounts {
  /** The BullMQ queue name (under the prefix's bull prefix). */
  name: string;
  /** The host whose queue this is; null for a queue any worker takes from (start, deploy). */
  host: string | null;
  counts: Record<(typeof QUEUE_COUNT_TYPES)[number], number>;
}

export interface StateCount {
  state: string;
  host: string;
  count: number;
}

const checkHost = (hostId: unknown): string => parseInput(HostIdSchema, hostId, `invalid host ${JSON.stringify(hostId)}`);

/**
 * What an operator does to the fleet, as `client.admin`: the CLI, the api and the dashboard
 * use these and nothing below them, so the client's connection and keys stay its own.
 */
export class Admin {
  constructor(private readonly c: ClientInternals) {}

  /** The host takes no new starts (within one heartbeat); its processes keep running. */
  async drain(hostId: string): Promise<void> {
    await this.c.connection.sadd(this.c.keys.drain, checkHost(hostId));
  }

  async undrain(hostId: string): Promise<void> {
    await this.c.connection.srem(this.c.keys.drain, checkHost(hostId));
  }

  /** Deletes finished records (with their events and logs) that ended before the cutoff (ms since the epoch). */
  prune(cutoff: number): Promise<string[]> {
    return prune(this.c.store, cutoff);
  }

  /**
   * Runs a reconcile pass on one host (or every live host) and returns the reports;
   * rejects with a TimeoutError when a host sends none within timeoutMs. bullmq's Job is
   * loaded on the first call, as the client loads its queues.
   */
  async reconcile(opts: { host?: string; timeoutMs?: number } = {}): Promise<ReconcileReport[]> {
    const hosts = opts.host ? [checkHost(opts.host)] : (await this.hostIds()).alive;
    if (hosts.length === 0) return [];
    const { requestReconcile } = await import('./reconcile-request.js');
    return Promise.all(hosts.map((h) => requestReconcile(this.c, h, opts.timeoutMs ?? 30_000)));
  }

  /**
   * Folds every record's events and compares them with its projection, the indexes, the
   * counts, the pending set, the port leases and each unfinished record's way forward; with
   * repair, rewrites what disagrees from the events (fenced by version, one record at a
   * time, each with a `repaired` event). Kills and starts nothing.
   */
  fsck(opts: { repair?: boolean } = {}): Promise<FsckResult> {
    return fsck(this.c, { repair: opts.repair === true });
  }

  /** Resolves when Redis answers PING within timeoutMs. */
  async ping(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.c.connection.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis did not answer PING within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Records per observed state and host, kept by the append itself (no scan). */
  counts(): Promise<StateCount[]> {
    return this.c.store.counts();
  }

  /**
   * The last cgroup usage reading of each id (one HMGET), whatever run it was of: compare
   * its `run` with the record's `runId` (client.usage does, given the records).
   */
  usageOf(ids: readonly string[]): Promise<Map<string, UsageEntry>> {
    return readUsage(this.c.connection, this.c.keys.usage, ids);
  }

  /** The records of a host that are not final (its live index). */
  live(hostId: string): Promise<ProcessRecord[]> {
    return this.c.store.liveOfHost(checkHost(hostId));
  }

  /** Job counts of the shared start and deploy queues and of every known host's queue. */
  async queueCounts(): Promise<QueueCounts[]> {
    const { all } = await this.hostIds();
    const targets = [
      { name: this.c.keys.startQueue, host: null as string | null },
      { name: this.c.keys.deployQueue, host: null as string | null },
      ...all.map((h) => ({ name: this.c.keys.hostQueue(h), host: h as string | null })),
    ];
    return Promise.all(
      targets.map(async ({ name, host }) => {
        const raw = await this.c.onQueue(name, (q) => q.getJobCounts(...QUEUE_COUNT_TYPES));
        const counts = Object.fromEntries(QUEUE_COUNT_TYPES.map((t) => [t, raw[t] ?? 0])) as QueueCounts['counts'];
        return { name, host, counts };
      }),
    );
  }

  /** Fleet-wide events after a stream id ('0' for the oldest kept), oldest first. */
  globalEvents(after = '0', limit = 1000): Promise<GlobalEvent[]> {
    return this.c.store.readGlobal(after, limit);
  }

  /**
   * Fleet-wide events before a stream id ('+' for the newest), newest first; an entry of a
   * newer schema, or a broken one, is skipped rather than failing the read.
   */
  async globalEventsBefore(
    before = '+',
    limit = 500,
  ): Promise<{ events: GlobalEvent[]; read: number; first: string | null; last: string | null }> {
    const rows = await this.c.connection.xrevrange(this.c.keys.globalStream, before, '-', 'COUNT', limit);
    const events: GlobalEvent[] = [];
    for (const [streamId, fields] of rows) {
      const e = EventStore.decodeGlobalOrNull(streamId, fields);
      if (e) events.push(e);
    }
    return { events, read: rows.length, first: rows[0]?.[0] ?? null, last: rows.at(-1)?.[0] ?? null };
  }

  /** The newest entry of the fleet stream ('0' when it is empty). */
  async latestGlobalId(): Promise<string> {
    const [last] = await this.c.connection.xrevrange(this.c.keys.globalStream, '+', '-', 'COUNT', 1);
    return last?.[0] ?? '0';
  }

  /** Fleet-wide events after a stream id as they are appended, through the client's one blocking reader. */
  subscribeGlobal(after: string): Subscription {
    return this.c.streams().subscribe(this.c.keys.globalStream, after);
  }

  private async hostIds(): Promise<{ all: string[]; alive: string[] }> {
    const hosts = await readHosts(this.c.connection, this.c.keys.hosts);
    return { all: hosts.map((h) => h.hostId), alive: hosts.filter((h) => h.alive).map((h) => h.hostId) };
  }
}

explainRefusals(Admin.prototype, (a) => a['c'].connection);
