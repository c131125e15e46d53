import type { Redis } from 'ioredis';
import { every, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { SELF_STOP_LOOK_MS, selfStopDue } from './at-most-one.js';

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

export interface LeaseWatchDeps {
  clock: Clock;
  hostId: string;
  /** The host's ttl: the fleet reads it lost this long after its last beat. */
  ttlMs: number;
  /** When (monotonic ms) the newest beat Redis took was sent. */
  lastBeatSent: () => number | null;
  /** Stops this host's at-most-one copies without Redis; resolves with their ids once gone. */
  stopCopies: (why: string) => Promise<string[]>;
  log: Logger;
}

/**
 * How a worker learns it may have lost its lease: no beat taken by Redis for the ttl since
 * the newest one was sent (a partition that holds packets raises no error, so an error
 * count would not do). From then on its at-most-one copies are stopped (src/worker/at-most-one.ts),
 * looked at every SELF_STOP_LOOK_MS; the other copies keep running, as without the flag.
 */
export function watchLease(d: LeaseWatchDeps): { cancel(): void } {
  let busy = false;
  return every(
    d.clock,
    SELF_STOP_LOOK_MS,
    () => {
      const last = d.lastBeatSent();
      if (busy || !selfStopDue({ lastBeatSent: last, now: d.clock.mono(), ttlMs: d.ttlMs })) return;
      busy = true;
      const secs = Math.round((d.clock.mono() - last!) / 1000);
      const why = `host ${d.hostId} had no heartbeat taken by Redis for ${secs} s, so its lease may have lapsed: it stopped this at-most-one copy itself`;
      void d
        .stopCopies(why)
        .then(
          (ids) => {
            if (ids.length > 0)
              d.log.warn({ processIds: ids, sinceBeatMs: d.clock.mono() - last! }, 'lease may have lapsed: at-most-one copies stopped');
          },
          (err: Error) => d.log.error({ err: err.message }, 'stopping at-most-one copies failed: trying again'),
        )
        .finally(() => (busy = false));
    },
    // What keeps a worker running is its queues and its processes, not this timer.
    { unref: true },
  );
}
