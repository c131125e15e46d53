import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { makeKeys } from '../../src/shared/keys.js';
import { randomPrefix } from '../helpers/redis.js';
import { burstAcrossFailover, crash, expectRanOnceAndStopped, startHaCluster, type HaCluster } from '../helpers/redis-ha.js';
import { startWorker, testEnv, type TestWorker } from '../helpers/workers.js';

// 3 masters and 3 replicas of this file's own. Every key of a prefix is in one slot
// (keys.ts): the master of that slot is SIGKILLed in the middle of a burst and its
// replica takes the slot over.
let cluster: HaCluster;
let w: TestWorker;
let c: ReapqClient;
const prefix = randomPrefix();
const dir = mkdtempSync(join(tmpdir(), 'reapq-failover-'));

beforeAll(async () => {
  cluster = await startHaCluster({ nodeTimeoutMs: 1000 });
  w = await startWorker(testEnv(cluster.url, prefix), 'h-failover');
  c = new ReapqClient({ redisUrl: cluster.url, prefix, env: {} });
}, 60_000);
afterAll(async () => {
  await c?.close();
  if (w) expect(await w.stop()).toBe(0);
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('Redis Cluster failover', () => {
  it("the master of reapq's slot killed in the middle of a burst: its replica takes over, every accepted start runs once, every tree ends stopped", async () => {
    const marker = join(dir, 'spawned');
    const tag = makeKeys(prefix).tag;
    const owner = await cluster.ownerOf(tag);
    const workerPid = w.child.pid;
    const burst = await burstAcrossFailover(c, { n: 40, idPrefix: 'k', marker, kill: () => crash(owner) });
    // A replica, not a restart, serves the slot now.
    const now = await cluster.ownerOf(tag);
    expect(now.port).not.toBe(owner.port);
    expect(cluster.nodes.slice(3).map((n) => n.port)).toContain(now.port);
    await expectRanOnceAndStopped(c, burst.ids, marker, w, workerPid);
    console.log(`cluster failover: starts refused for ${burst.refusedMs} ms after the kill, ${burst.retried} calls retried`);
  }, 120_000);
});
