import type { Redis } from 'ioredis';
import { z } from 'zod';
import { humanMs } from './duration.js';
import { luaScript } from './lua.js';
import { decodeStoredOrNull } from './stored.js';

const READ_HOSTS_LUA = luaScript('read-hosts.lua');

/** What a worker writes into the hosts hash on every heartbeat. */
export const HeartbeatSchema = z.object({
  hostId: z.string(),
  pid: z.number().int(),
  version: z.string(),
  state: z.enum(['up', 'draining', 'down']),
  load: z.number().int(),
  capacity: z.number().int().nullable(),
  /** When the beat was written, on Redis' clock (lua/heartbeat.lua); older workers wrote their own. */
  at: z.number().int(),
  ttlMs: z.number().int().positive(),
  /** Monotonic counters of this worker since it started, for /metrics. */
  counters: z.record(z.string(), z.number()).default({}),
  /** How the host contains its processes and which limits it can enforce (absent from older workers). */
  containment: z
    .object({
      mode: z.enum(['cgroup', 'process']),
      reason: z.string().nullable(),
      limits: z.array(z.enum(['memory', 'cpus', 'pidsMax'])),
      kill: z.enum(['cgroup.kill', 'freeze']).nullable(),
    })
    .optional(),
  /**
   * Per event type, the newest version this worker reads (src/shared/event-versions.ts):
   * what a writer may use while it runs. Absent from workers before per-type versions.
   */
  events: z.record(z.string(), z.number().int().positive()).optional(),
  /**
   * This worker's wall clock minus Redis' (ms), as it measured at its previous beat. Liveness
   * never uses it; it is shown because the timestamps people read come from that clock.
   * Absent from older workers and from a worker's first beat.
   */
  clockOffsetMs: z.number().int().optional(),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;
/** A heartbeat as read: alive or not, and its age (ms), both on Redis' clock. */
export type HostInfo = Heartbeat & { alive: boolean; ageMs: number };

/** A worker's clock further than this from Redis' is logged at boot and noted by `reapq hosts`. */
export const CLOCK_SKEW_WARN_MS = 1000;

/** `reapq hosts`' CLOCK column: 'ok' within CLOCK_SKEW_WARN_MS of Redis, else how far and which way. */
export function clockNote(offsetMs: number | undefined): string {
  if (offsetMs === undefined) return '-';
  if (Math.abs(offsetMs) <= CLOCK_SKEW_WARN_MS) return 'ok';
  // Whole seconds: a measure good to a round trip should not read as 59m59s.
  return `${humanMs(Math.round(Math.abs(offsetMs) / 1000) * 1000)} ${offsetMs > 0 ? 'ahead' : 'behind'}`;
}

/**
 * A host is alive while its last beat is younger than its ttl, `now` and `at` both on
 * Redis' clock. A host that shut down
 * cleanly says `down`: its processes are still running, waiting for its next worker, so
 * it is not alive but not lost either.
 */
export function liveness(h: Pick<Heartbeat, 'state' | 'at' | 'ttlMs'>, now: number): 'alive' | 'down' | 'expired' {
  if (h.state === 'down') return 'down';
  // A draining host is alive: it still heartbeats and serves its processes.
  return now - h.at < h.ttlMs ? 'alive' : 'expired';
}

/**
 * Every heartbeat (or those of `only`), judged against Redis' time read in the same script
 * (lua/read-hosts.lua): never against this machine's clock, which may be hours off the writer's.
 */
export async function readHostsAt(redis: Redis, key: string, only: readonly string[] = []): Promise<{ now: number; hosts: HostInfo[] }> {
  const [now, ...flat] = (await redis.eval(READ_HOSTS_LUA, 1, key, ...only)) as [number, ...string[]];
  const hosts: HostInfo[] = [];
  for (let i = 1; i < flat.length; i += 2) {
    // A heartbeat that does not parse is skipped: its host's next beat rewrites it.
    const hb = decodeStoredOrNull(HeartbeatSchema, flat[i]!, 'heartbeat');
    if (hb) hosts.push({ ...hb, alive: liveness(hb, now) === 'alive', ageMs: now - hb.at });
  }
  return { now, hosts: hosts.sort((a, b) => a.hostId.localeCompare(b.hostId)) };
}

export async function readHosts(redis: Redis, key: string): Promise<HostInfo[]> {
  return (await readHostsAt(redis, key)).hosts;
}
