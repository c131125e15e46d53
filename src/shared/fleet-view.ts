import type { Redis } from 'ioredis';
import { z } from 'zod';
import { systemClock, type Clock } from './clock.js';
import { DEPLOY_EVENT_TYPES } from './deploy.js';
import { BASELINE_VERSION, isReader, NOT_READ, versionKey, writeVersions, type Reader } from './event-versions.js';
import { EVENT_TYPES } from './events.js';
import { BATCH_JOBS } from './jobs.js';
import { readHostsAt } from './hosts.js';
import type { Keys } from './keys.js';
import { decodeStoredOrNull } from './stored.js';

/** Per event type, the version a writer stores it at; a type not named is stored at the baseline. */
export type WriteVersionMap = Readonly<Record<string, number>>;

/** Where an EventStore learns the version to store each type at: a value, or a promise of one the first time. */
export interface WriteVersionSource {
  current(): WriteVersionMap | Promise<WriteVersionMap>;
}

/**
 * Every event type a worker announces and a writer chooses a version for: process events,
 * then deploy events (`deploy.<type>`), then the batched jobs it reads (BATCH_JOBS).
 */
export const VERSIONED_TYPES: readonly string[] = [...EVENT_TYPES, ...DEPLOY_EVENT_TYPES.map((t) => versionKey(t, 'deploy')), BATCH_JOBS];

const StoredFleetVersions = z.record(z.string(), z.number().int().nonnegative());

/**
 * What the fleet pass stores for every writer: per type, the version every live worker
 * reads (writeVersions), only the types not at the baseline, so it stays a few bytes however
 * many hosts there are and a writer's read of it costs the same in a fleet of 2 or 200.
 */
export function encodeFleetVersions(hosts: readonly Reader[], now: number): string {
  const all = fleetVersions(hosts, now);
  // BATCH_JOBS is always said: a value stored by a release before it omits it, and a writer
  // reads that omission as "not every worker reads batches".
  return JSON.stringify(Object.fromEntries(Object.entries(all).filter(([t, v]) => v !== BASELINE_VERSION || t === BATCH_JOBS)));
}

/**
 * Per versioned type, what every live worker reads. With no live worker, any release
 * reads the baseline of an event, but batched jobs wait for a worker that says it reads
 * them: the first to come may be of a release before them.
 */
export function fleetVersions(hosts: readonly Reader[], now: number): Record<string, number> {
  const all = writeVersions(VERSIONED_TYPES, hosts, now);
  return hosts.some((h) => isReader(h, now)) ? all : { ...all, [BATCH_JOBS]: NOT_READ };
}

/** Whether a writer may hand the fleet batched jobs: only when the fleet's versions say every live worker reads them. */
export function fleetReadsBatches(versions: WriteVersionMap): boolean {
  return (versions[BATCH_JOBS] ?? NOT_READ) >= BASELINE_VERSION;
}

/** The stored fleet versions; an unreadable value means the baseline of every type. */
export function decodeFleetVersions(json: string | null): WriteVersionMap {
  return decodeStoredOrNull(StoredFleetVersions, json, 'fleet versions') ?? {};
}

/** The fleet pass's once per interval: what writers store until the next one (kept 3 intervals: a pass may be late). */
export async function publishFleetVersions(
  redis: Redis,
  keys: Keys,
  hosts: readonly Reader[],
  now: number,
  intervalMs: number,
): Promise<void> {
  await redis.set(keys.fleetVersions, encodeFleetVersions(hosts, now), 'PX', 3 * intervalMs);
}

/**
 * A writer's cached copy of the fleet's versions, read again at most once per heartbeat
 * period so that appends gain no Redis round trip:
 * - the first write of a process waits for the first read (every write of a burst shares it);
 * - a copy older than one period serves the write and is read again in the background;
 * - a copy older than three periods (the fleet may have changed entirely meanwhile) is
 *   read again before the write, which happens only after an idle spell.
 */
export class FleetView implements WriteVersionSource {
  private versions: WriteVersionMap | null = null;
  private readAt = 0;
  private reading: Promise<WriteVersionMap> | null = null;

  constructor(
    private readonly read: () => Promise<WriteVersionMap>,
    private readonly periodMs: number,
    private readonly now: () => number = Date.now,
    /** Told when a background read fails (the copy then stays as it was until the next write tries again). */
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  current(): WriteVersionMap | Promise<WriteVersionMap> {
    const age = this.now() - this.readAt;
    if (this.versions === null || age >= 3 * this.periodMs) return this.refresh();
    if (age >= this.periodMs && !this.reading) this.refresh().catch((err: unknown) => this.onError(err as Error));
    return this.versions;
  }

  /** Reads now (one read at a time: concurrent callers share it). */
  refresh(): Promise<WriteVersionMap> {
    this.reading ??= (async () => {
      // Dated from before the read: what it returns is at least this fresh.
      const at = this.now();
      try {
        const versions = await this.read();
        this.versions = versions;
        this.readAt = at;
        return versions;
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }
}

/**
 * A writer's view of what the fleet pass stored, read again every periodMs (the heartbeat
 * period): the copy's age is measured on the monotonic clock.
 */
export function fleetView(
  redis: Redis,
  keys: Keys,
  periodMs: number,
  onError?: (err: Error) => void,
  clock: Clock = systemClock,
): FleetView {
  return new FleetView(
    async () => {
      const stored = await redis.get(keys.fleetVersions);
      if (stored !== null) return decodeFleetVersions(stored);
      // No fleet pass of this release lately (none live, the fleet just started, or workers of
      // an earlier release held the pass): the heartbeats themselves, until the key is back.
      const { now, hosts } = await readHostsAt(redis, keys.hosts);
      return fleetVersions(hosts, now);
    },
    periodMs,
    () => clock.mono(),
    onError,
  );
}
