import { afterAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { prunable, prune } from '../../src/shared/prune.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { cli, testEnv } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';
import { writeUsage } from '../../src/shared/usage.js';

const clients: ReapqClient[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

describe('retention', () => {
  it('prunes finished records with their streams and never a live or restartable one', async () => {
    const prefix = randomPrefix();
    const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
    clients.push(c);
    const done = await c.start({ id: 'done', command: ['x'] });
    await c.stop(done.id); // pending -> stopped: finished
    const { connection: redis, keys } = internalsOf(c);
    await redis.xadd(keys.logs('done'), '*', 'l', 'bye', 'pos', '0');
    await c.start({ id: 'waiting', command: ['x'] }); // pending: live
    // What a worker leaves of a run: its last cgroup usage reading, and a stream the append
    // had to move aside.
    const reading = { run: 'r1', host: 'h', cpuMs: 5, memoryBytes: 1024, memoryPeakBytes: 2048, pids: 1, at: Date.now() };
    await writeUsage(redis, keys.usage, [
      ['done', reading],
      ['waiting', reading],
    ]);
    await redis.xadd(keys.corruptStream('done'), '1-0', 'e', 'not json');
    await new Promise((r) => setTimeout(r, 20));

    const stopped = await c.get('done');
    expect(prunable(stopped, Date.now())).toBe(true);
    expect(prunable(stopped, Date.parse(stopped.endedAt!) - 1)).toBe(false); // not old enough
    expect(prunable({ ...stopped, state: 'exited', desired: 'running', restartPolicy: 'always' }, Date.now())).toBe(false);
    expect(prunable({ ...stopped, killPending: [123] }, Date.now())).toBe(false);

    const r = await cli(testEnv(testRedisUrl(), prefix), ['prune', '--older-than', '0s', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ removed: ['done'] });
    expect((await c.list()).map((x) => x.id)).toEqual(['waiting']);
    for (const k of [keys.record('done'), keys.stream('done'), keys.logs('done'), keys.corruptStream('done')])
      expect(await redis.exists(k)).toBe(0);
    // Nothing of the pruned record is left under the prefix; the live one keeps its reading.
    expect(await redis.keys(`${keys.tag}:*done*`)).toEqual([]);
    expect(await redis.hexists(keys.usage, 'done')).toBe(0);
    expect(await redis.hexists(keys.usage, 'waiting')).toBe(1);
    expect(await prune(internalsOf(c).store, Date.now())).toEqual([]);
    expect((await cli(testEnv(testRedisUrl(), prefix), ['prune', '--older-than', 'soon'])).code).toBe(2);
  });

  it('keeps a record that changed after it was judged', async () => {
    const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix: randomPrefix(), env: {} });
    clients.push(c);
    await c.start({ id: 'moving', command: ['x'] });
    const judged = await c.stop('moving');
    await internalsOf(c).store.transact('moving', () => [{ type: 'drift', kind: 'orphan', detail: 'late news', pids: [] }]);
    expect(await internalsOf(c).store.remove(judged)).toBe(false);
    expect((await c.get('moving')).version).toBe(judged.version + 1);
  });
});
