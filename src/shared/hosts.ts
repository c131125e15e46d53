import type { Redis } from 'ioredis';
import { z } from 'zod';
import { decodeStoredOrNull } from './stored.js';

/** What a worker writes into the hosts hash on every heartbeat. */
export const HeartbeatSchema = z.object({
  hostId: z.string(),
  pid: z.number().int(),
  version: z.string(),
  state: z.enum(['up', 'draining', 'down']),
  load: z.number().int(),
  capacity: z.number().int().nullable(),
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
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;
export type HostInfo = Heartbeat & { alive: boolean };

/**
 * A host is alive while its last beat is younger than its ttl. A host that shut down
 * cleanly says `down`: its processes are still running, waiting for its next worker, so
 * it is not alive but not lost either.
 */
export function liveness(h: Heartbeat, now: number): 'alive' | 'down' | 'expired' {
  if (h.state === 'down') return 'down';
  // A draining host is alive: it still heartbeats and serves its processes.
  return now - h.at < h.ttlMs ? 'alive' : 'expired';
}

export async function readHosts(redis: Redis, key: string, now = Date.now()): Promise<HostInfo[]> {
  const all = await redis.hgetall(key);
  const out: HostInfo[] = [];
  for (const v of Object.values(all)) {
    // A heartbeat that does not parse is skipped: its host's next beat rewrites it.
    const hb = decodeStoredOrNull(HeartbeatSchema, v, 'heartbeat');
    if (hb) out.push({ ...hb, alive: liveness(hb, now) === 'alive' });
  }
  return out.sort((a, b) => a.hostId.localeCompare(b.hostId));
}
