import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { startLocalRedis, type LocalRedis } from '../../src/dev/local-redis.js';
import { randomPrefix } from '../helpers/redis.js';
import { carriersOf, FIXTURES, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';
import { tempDir } from '../helpers/cleanup.js';

// A Redis of this file's own, with AOF on, so it can be stopped and restarted on the same port.
const dataDir = tempDir('aof');
let redis: LocalRedis;
let w: TestWorker;
let c: ReapqClient;
const prefix = randomPrefix();

beforeAll(async () => {
  redis = await startLocalRedis({ dataDir });
  w = await startWorker(testEnv(redis.url, prefix), 'h-outage');
  c = new ReapqClient({ redisUrl: redis.url, prefix, env: {} });
});
afterAll(async () => {
  await c.close();
  await w.stop();
  await redis.stop();
});

async function restartRedis(downMs: number): Promise<void> {
  const port = redis.port;
  await redis.stop();
  await new Promise((r) => setTimeout(r, downMs));
  redis = await startLocalRedis({ dataDir, port });
}

/** Whether a producer call went through (a retry loop's positive signal). */
const accepted = (call: Promise<unknown>) =>
  call.then(
    () => true,
    () => false,
  );

const spawnedCount = async (id: string) => (await c.events(id)).filter((e) => e.event.type === 'spawned').length;

describe('Redis restarted or away', () => {
  it('loses no start and no stop across a Redis restart, and runs nothing twice', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await c.start({ id: `r-${i}`, command: [join(FIXTURES, 'tree.sh')] })).id);
    await restartRedis(300);
    for (let i = 10; i < 20; i++) ids.push((await c.start({ id: `r-${i}`, command: [join(FIXTURES, 'tree.sh')] })).id);
    for (const id of ids) await c.waitFor(id, 'running', { timeoutMs: 20_000 });
    for (const id of ids.slice(0, 10)) await c.stop(id, { graceMs: 2000 });
    await restartRedis(300);
    for (const id of ids.slice(10)) await c.stop(id, { graceMs: 2000 });
    for (const id of ids) expect((await c.waitFor(id, 'stopped', { timeoutMs: 20_000 })).state).toBe('stopped');
    for (const id of ids) expect(await spawnedCount(id)).toBe(1);
    for (const id of ids) expect(carriersOf(id)).toEqual([]);
  });

  it('keeps processes running while Redis is away, fails producers fast, and catches up', async () => {
    const rec = await c.start({ id: 'away', command: ['sleep', '1000'] });
    const running = await c.waitFor(rec.id, 'running');
    const pids = carriersOf(rec.id);
    expect(pids).toHaveLength(1);
    const port = redis.port;
    const seen = w.output().length;
    await redis.stop();
    // A clear error, not a hang: a hang would fail this test on its timeout.
    await expect(c.get(rec.id)).rejects.toThrow();
    // The worker saw the outage (positive signal) and left its process alone.
    await until(() => w.output().slice(seen).includes('Redis unreachable'), 10_000, 'the worker to notice the outage');
    expect(carriersOf(rec.id)).toEqual(pids);
    redis = await startLocalRedis({ dataDir, port });
    await until(() => w.output().slice(seen).includes('Redis reachable again'), 15_000, 'the worker to reconnect');
    // After catching up: the same process, never respawned.
    await until(async () => (await c.get(rec.id).catch(() => null))?.state === 'running', 10_000, 'Redis back');
    expect((await c.get(rec.id)).pid).toBe(running.pid);
    expect(carriersOf(rec.id)).toEqual(pids);
    expect(await spawnedCount(rec.id)).toBe(1);
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped', { timeoutMs: 15_000 });
    expect(carriersOf(rec.id)).toEqual([]);
    expect(w.child.exitCode).toBeNull(); // the worker rode it out
  });

  it('a client whose first calls meet the crash works again after it; starts and stops retried by id across crashes run once and end stopped', async () => {
    // A client with no queue built yet: its first start is the one that meets the outage.
    const fresh = new ReapqClient({ redisUrl: redis.url, prefix, env: {} });
    try {
      const ids = Array.from({ length: 20 }, (_, i) => `crash-${i}`);
      // Some of these fail with the crash, some are recorded first: the retries below tell.
      const first = ids.map((id) => fresh.start({ id, command: ['sleep', '1000'] }).catch(() => undefined));
      const port = redis.port;
      await redis.stop();
      await Promise.all(first);
      // A BullMQ queue first built while Redis is away keeps its failed start-up: this
      // builds the start queue then (admin reads go through the same queues as starts).
      await expect(fresh.admin.queueCounts()).rejects.toThrow();
      redis = await startLocalRedis({ dataDir, port });
      // The producer retries every id until it is accepted, as a backend does: the same
      // client, no restart, and a start that was recorded before the crash is not run twice.
      for (const id of ids) {
        await until(() => accepted(fresh.start({ id, command: ['sleep', '1000'] })), 20_000, `start ${id} accepted`);
      }
      for (const id of ids) await fresh.waitFor(id, 'running', { timeoutMs: 20_000 });
      for (const id of ids) expect(await spawnedCount(id)).toBe(1);
      // And a crash in the middle of a burst of stops: every stop retried by id until accepted.
      const stops = ids.map((id) => fresh.stop(id).catch(() => undefined));
      await redis.stop();
      await Promise.all(stops);
      redis = await startLocalRedis({ dataDir, port });
      for (const id of ids) await until(() => accepted(fresh.stop(id)), 20_000, `stop ${id} accepted`);
      for (const id of ids) expect((await fresh.waitFor(id, 'stopped', { timeoutMs: 20_000 })).state).toBe('stopped');
      for (const id of ids) expect(carriersOf(id)).toEqual([]);
    } finally {
      await fresh.close();
    }
  });
});
