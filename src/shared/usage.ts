import type { Redis } from 'ioredis';
import { z } from 'zod';
import { decodeStoredOrNull } from './stored.js';

/**
 * What a run's cgroup used, as its worker last read it (each reconcile pass, and once more
 * when the run is forgotten). One hash per deployment, field = process id: a read of any
 * page of records is one HMGET.
 */
export const UsageSchema = z.object({
  run: z.string(),
  host: z.string(),
  cpuMs: z.number().int().nonnegative(),
  memoryBytes: z.number().int().nonnegative().nullable(),
  memoryPeakBytes: z.number().int().nonnegative().nullable(),
  pids: z.number().int().nonnegative(),
  /** When it was read, epoch ms. */
  at: z.number().int(),
});
export type UsageEntry = z.infer<typeof UsageSchema>;

export async function writeUsage(redis: Redis, key: string, entries: ReadonlyArray<readonly [string, UsageEntry]>): Promise<void> {
  if (entries.length === 0) return;
  await redis.hset(key, Object.fromEntries(entries.map(([id, u]) => [id, JSON.stringify(u)])));
}

/** Usage of the given ids; an entry of another run than `runs` names (a restart since) is left out. */
export async function readUsage(
  redis: Redis,
  key: string,
  ids: readonly string[],
  runs?: ReadonlyMap<string, string | null>,
): Promise<Map<string, UsageEntry>> {
  const out = new Map<string, UsageEntry>();
  if (ids.length === 0) return out;
  const vals = await redis.hmget(key, ...ids);
  ids.forEach((id, i) => {
    // A reading that does not parse is left out: the next reconcile pass writes it again.
    const u = decodeStoredOrNull(UsageSchema, vals[i], 'usage');
    if (!u) return;
    if (runs && runs.has(id) && runs.get(id) !== u.run) return;
    out.set(id, u);
  });
  return out;
}
