import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';

/**
 * Logs one line per Redis outage, not one per reconnect attempt (processes keep running
 * meanwhile), and says whether Redis is down now, so queue errors are not logged again.
 */
export function watchRedis(redis: Redis, log: Logger): { readonly down: boolean } {
  const state = { down: false };
  redis.on('error', (err) => {
    if (!state.down) log.error({ err: err.message }, 'Redis unreachable: processes keep running, retrying with backoff');
    state.down = true;
  });
  redis.on('ready', () => {
    if (state.down) log.info('Redis reachable again: catching up');
    state.down = false;
  });
  return state;
}

/**
 * With REAPQ_REDIS_WAIT_REPLICAS, says so at boot when the master has fewer replicas than
 * that: every append then fails until enough connect. (On a Cluster the INFO comes from one
 * node, not necessarily the master of the prefix's slot; the check is then skipped.)
 */
export async function warnOnFewReplicas(redis: Redis, wanted: number, log: Logger): Promise<void> {
  if (wanted === 0 || (redis as unknown as { isCluster?: boolean }).isCluster) return;
  const info = await redis.info('replication').catch(() => '');
  const connected = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? NaN);
  if (connected < wanted)
    log.warn(
      { connectedReplicas: connected, waitReplicas: wanted },
      'the Redis master has fewer replicas than REAPQ_REDIS_WAIT_REPLICAS: every record append fails until enough are connected',
    );
}
