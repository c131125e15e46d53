import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { randomPrefix } from '../helpers/redis.js';
import { burstAcrossFailover, crash, expectRanOnceAndStopped, startSentinelSet, type SentinelSet } from '../helpers/redis-ha.js';
import { startWorker, testEnv, type TestWorker } from '../helpers/workers.js';

// A master, its replica and three Sentinels of this file's own; reapq reaches the master
// only through the Sentinels, and the master is SIGKILLed in the middle of a burst.
let ha: SentinelSet;
let w: TestWorker;
let c: ReapqClient;
const prefix = randomPrefix();
const dir = mkdtempSync(join(tmpdir(), 'reapq-failover-'));

beforeAll(async () => {
  ha = await startSentinelSet({ sentinels: 3, downAfterMs: 500, failoverTimeoutMs: 3000 });
  w = await startWorker(testEnv(ha.url, prefix), 'h-failover');
  c = new ReapqClient({ redisUrl: ha.url, prefix, env: {} });
}, 60_000);
afterAll(async () => {
  await c?.close();
  if (w) expect(await w.stop()).toBe(0);
  await ha?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('Sentinel failover', () => {
  it('a master killed in the middle of a burst: the replica is promoted, every accepted start runs once, every tree ends stopped', async () => {
    const marker = join(dir, 'spawned');
    const oldMaster = ha.master.port;
    const workerPid = w.child.pid;
    const burst = await burstAcrossFailover(c, { n: 40, idPrefix: 's', marker, kill: () => crash(ha.master) });
    // Sentinel, not a restart, brought the service back: the replica is the master now.
    expect(await ha.masterPort()).toBe(ha.replica.port);
    expect(oldMaster).not.toBe(ha.replica.port);
    // The same worker carried every start to running, across the failover.
    await expectRanOnceAndStopped(c, burst.ids, marker, w, workerPid);
    console.log(`sentinel failover: starts refused for ${burst.refusedMs} ms after the kill, ${burst.retried} calls retried`);
  }, 120_000);
});
