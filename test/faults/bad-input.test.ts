import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, hostThatNeverTakes, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';

const prefix = randomPrefix();
let w: TestWorker;
let c: ReapqClient;
const redis = new Redis(testRedisUrl());
beforeAll(async () => {
  w = await startWorker(testEnv(testRedisUrl(), prefix), 'h-bad');
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
});
afterAll(async () => {
  await c.close();
  await redis.quit();
  expect(await w.stop()).toBe(0);
});

/** Both copies were handled: no job of this name is left waiting, delayed or running on the queue. */
async function drained(queue: string, name: string): Promise<void> {
  const q = internalsOf(c).queue(queue);
  await until(
    async () => (await q.getJobs(['waiting', 'prioritized', 'delayed', 'active'])).every((j) => j.name !== name),
    10_000,
    `${name} jobs on ${queue}`,
  );
}

describe('duplicate, malformed and future input', () => {
  it('runs a start delivered twice once, and a stop delivered twice harmlessly', async () => {
    const rec = await c.start({ id: 'twice', command: ['sleep', '1000'] });
    await internalsOf(c).queue(internalsOf(c).keys.startQueue).add('start', { id: 'twice' }, { jobId: 'twice-again' });
    await c.waitFor(rec.id, 'running');
    await drained(internalsOf(c).keys.startQueue, 'start');
    expect(carriersOf('twice')).toHaveLength(1);
    await c.stop(rec.id);
    await internalsOf(c).queue(internalsOf(c).keys.hostQueue('h-bad')).add('stop', { id: 'twice' });
    await c.waitFor(rec.id, 'stopped');
    await drained(internalsOf(c).keys.hostQueue('h-bad'), 'stop');
    const types = (await c.events('twice')).map((e) => e.event.type);
    expect(types.filter((t) => t === 'spawned')).toHaveLength(1);
    expect(types.filter((t) => t === 'stopped')).toHaveLength(1);
  });

  it('fails malformed jobs with a clear reason and keeps serving', async () => {
    const q = internalsOf(c).queue(internalsOf(c).keys.hostQueue('h-bad'));
    const bad = [await q.add('stop', { id: 7 }), await q.add('start', null), await q.add('launch', { id: 'x' })];
    const ok = await c.start({ command: ['sleep', '1000'] });
    await c.waitFor(ok.id, 'running');
    const reasons = await Promise.all(
      bad.map(async (j) => {
        for (let i = 0; i < 50; i++) {
          const state = await j.getState();
          if (state === 'failed') return (await q.getJob(j.id!))?.failedReason;
          await new Promise((r) => setTimeout(r, 50));
        }
        return 'never failed';
      }),
    );
    expect(reasons[0]).toMatch(/malformed stop job: id/);
    expect(reasons[1]).toMatch(/malformed start job/);
    expect(reasons[2]).toMatch(/unknown job name "launch"/);
    await c.stop(ok.id);
    await c.waitFor(ok.id, 'stopped');
  });

  it('refuses an event from a newer schema or of an unknown type with a clear error, corrupting nothing', async () => {
    // Pinned to a host no worker serves, so nothing else writes to this record meanwhile.
    await hostThatNeverTakes(c, 'nobody');
    const rec = await c.start({ id: 'future', command: ['sleep', '1'], host: 'nobody' });
    await c.stop(rec.id);
    const before = await c.get(rec.id);
    await redis.xadd(
      internalsOf(c).keys.stream('future'),
      `${before.version + 1}-0`,
      'e',
      JSON.stringify({ v: 2, at: 1, type: 'teleported' }),
    );
    await expect(c.events('future')).rejects.toThrow(/schema version 2 is newer than this reapq understands/);
    await redis.xadd(
      internalsOf(c).keys.stream('future'),
      `${before.version + 2}-0`,
      'e',
      JSON.stringify({ v: 1, at: 1, type: 'teleported' }),
    );
    await expect(internalsOf(c).store.readEvents('future', before.version + 1)).rejects.toThrow(/invalid event of type teleported/);
    // The projection is untouched and still served.
    expect(await c.get('future')).toEqual(before);
  });
});
