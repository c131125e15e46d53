import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReplicationError } from '../../src/shared/errors.js';
import {
  accepted,
  burstAcrossFailover,
  crash,
  cutReplicas,
  expectRanOnceAndStopped,
  markedSleep,
  spawnCounts,
  startHaCluster,
  stopAllAndWait,
  useHaWorker,
} from '../helpers/redis-ha.js';
import { until } from '../helpers/workers.js';
import { tempDir } from '../helpers/cleanup.js';

// 3 masters and 3 replicas of this file's own, one cluster per scenario. Every key of a
// prefix is in one slot (keys.ts): the master of that slot is the one that matters.
const dir = tempDir('failover');

/** A cluster with a worker and a client on it, for one describe block. */
const useCluster = (hostId: string, extraEnv: Record<string, string> = {}) =>
  useHaWorker(() => startHaCluster({ nodeTimeoutMs: 1000 }), hostId, extraEnv);

describe('Redis Cluster failover', () => {
  const s = useCluster('h-failover');

  it("the master of reapq's slot killed in the middle of a burst: its replica takes over, every accepted start runs once, every tree ends stopped", async () => {
    const { ha: cluster, w, c } = s;
    const marker = join(dir, 'burst');
    const owner = await cluster.ownerOf(s.tag);
    const replicas = await cluster.replicasOf(owner);
    expect(replicas).toHaveLength(1);
    const workerPid = w.child.pid;
    const burst = await burstAcrossFailover(c, {
      n: 40,
      idPrefix: 'k',
      marker,
      kill: () => crash(owner),
      promoted: async () => (await cluster.ownerOf(s.tag).catch(() => null))?.port === replicas[0]!.port,
    });
    // Its replica, not a restart, serves the slot now.
    expect((await cluster.ownerOf(s.tag)).port).toBe(replicas[0]!.port);
    await expectRanOnceAndStopped(c, burst.ids, marker, w, workerPid);
    console.log(
      `cluster failover: replica took the slot over ${burst.promotedMs} ms after the kill, starts refused for ${burst.refusedMs} ms, ${burst.retried} calls retried`,
    );
  }, 120_000);
});

describe('REAPQ_REDIS_WAIT_REPLICAS=1 on a Cluster', () => {
  const s = useCluster('h-waits', { REAPQ_REDIS_WAIT_REPLICAS: '1', REAPQ_REDIS_WAIT_TIMEOUT_MS: '300' });

  it("waits on the master of reapq's slot: with its replica cut off a start is refused (another master would confirm it), accepted again once it is back", async () => {
    const { ha: cluster, w, c } = s;
    const marker = join(dir, 'waits');
    const owner = await cluster.ownerOf(s.tag);
    await c.start(markedSleep('kept', marker));
    await c.waitFor('kept', 'running');
    const thaw = await cutReplicas({ master: owner, replicas: await cluster.replicasOf(owner) });
    try {
      await expect(c.start(markedSleep('retried', marker))).rejects.toThrow(ReplicationError);
    } finally {
      thaw();
    }
    await until(() => accepted(c.start(markedSleep('retried', marker))), 20_000, 'the retried start to be accepted');
    await c.waitFor('retried', 'running', { timeoutMs: 20_000 });
    await stopAllAndWait(c, ['kept', 'retried'], marker);
    expect(spawnCounts(marker)).toEqual(
      new Map([
        ['kept', 1],
        ['retried', 1],
      ]),
    );
    expect(w.child.exitCode).toBeNull();
    expect(w.output()).not.toMatch(/unhandled rejection|uncaught|"level":60/i);
  }, 90_000);
});
