import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { startJobId } from '../../src/shared/jobs.js';
import { useClientAndRedis } from '../helpers/client.js';
import { alive, cli, hostThatNeverTakes, startWorker, until } from '../helpers/workers.js';

const { env, keys, c, redis } = useClientAndRedis();
const HOST = 'h-fsck';

describe('reapq fsck', () => {
  it('names each planted disagreement, --repair fixes each from the events, a second fsck is clean, every process still runs', async () => {
    const w1 = await startWorker(env, HOST);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await c.start({ command: ['sleep', '300'], port: 'auto' })).id);
    const pids: number[] = [];
    for (const id of ids) pids.push((await c.waitFor(id, 'running')).pid!);
    // Pinned to a host no worker serves: it stays pending, its start job waiting.
    await hostThatNeverTakes(c, 'nobody');
    const pend = await c.start({ command: ['sleep', '300'], host: 'nobody' });
    // The live indexes are built by the first host pass after boot's (fsck checks them only
    // once built): without one, the live-index plant below would go unseen.
    await until(async () => (await redis.exists(keys.liveIndexBuilt)) === 1, 10_000, 'a host pass to build the live indexes');
    expect(await w1.stop()).toBe(0);
    const [a, b] = ids as [string, string];

    // The worker is stopped: nothing but fsck touches the store from here. The counts are
    // built on their first read (fsck builds them if never read, which would hide the plant).
    await c.admin.counts();
    const rec = JSON.parse((await redis.hget(keys.record(a), 'r'))!);
    await redis.hset(keys.record(a), 'r', JSON.stringify({ ...rec, state: 'exited' }));
    await redis.srem(keys.liveIndex(HOST), b);
    await redis.hincrby(keys.counts, `running ${HOST}`, 1);
    const q = new Queue(keys.hostQueue('nobody'), { connection: redis, prefix: keys.bullPrefix });
    expect(await q.remove(startJobId(pend.id, 0))).toBe(1);
    await q.close();
    await redis.hset(keys.ports(HOST), '41999', 'p-nobody-holds-this');

    const first = await cli(env, ['fsck']);
    expect(first.code).toBe(1);
    expect(first.stderr, first.stdout).toBe('reapq: fsck: 5 problems\n');
    const lines = first.stdout.trim().split('\n');
    expect(lines.slice(0, -1).sort()).toEqual(
      [
        `${a} projection: projection state: "exited", events say "running" (events: running on ${HOST}, version 3)`,
        `${b} live-index: live index of ${HOST}: missing (events: running on ${HOST}, version 3)`,
        `${pend.id} no-start-job: pending with no start job (events: pending on no host, version 1)`,
        `p-nobody-holds-this lease: port 41999 of ${HOST} is leased to it, which does not exist (events: no such process)`,
        `counts count: running on ${HOST}: counted 4 (events: 3 records)`,
      ].sort(),
    );
    expect(lines.at(-1)).toMatch(/^\d+ records, 5 problems in \d+ ms$/);

    const json = await cli(env, ['fsck', '--json']);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as { problems: unknown[] }).problems).toHaveLength(5);

    const fix = await cli(env, ['fsck', '--repair']);
    expect(fix.stderr).toBe('');
    expect(fix.code).toBe(0);
    expect(fix.stdout).toMatch(/5 problems in \d+ ms; 4 records repaired, 0 moved on meanwhile/);
    expect(fix.stdout.split('\n').filter((l) => l.endsWith('[repaired]'))).toHaveLength(5);

    const second = await cli(env, ['fsck']);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toMatch(/^\d+ records, 0 problems in \d+ ms\n$/);
    expect((await c.admin.fsck()).problems).toEqual([]);

    // What the repair wrote, and what it left alone: every process still runs, untouched.
    expect(alive(pids)).toEqual(pids);
    expect((await c.get(a)).state).toBe('running');
    const repaired = (await c.events(a)).at(-1)!.event;
    expect(repaired).toMatchObject({ type: 'repaired', changed: ['projection state: "exited", events say "running"'] });
    expect(await redis.sismember(keys.liveIndex(HOST), b)).toBe(1);
    expect(await redis.hget(keys.ports(HOST), '41999')).toBeNull();
    expect((await c.admin.counts()).filter((n) => n.host === HOST && n.count !== 0)).toEqual([{ state: 'running', host: HOST, count: 3 }]);
    expect((await c.get(pend.id)).state).toBe('pending');
    const q2 = new Queue(keys.hostQueue('nobody'), { connection: redis, prefix: keys.bullPrefix });
    expect(await q2.getJobState(startJobId(pend.id, 0))).toBe('waiting');
    await q2.close();

    // The next worker adopts the repaired records as any others, and stops them on request.
    const w2 = await startWorker(env, HOST);
    await c.stop(pend.id);
    for (const id of ids) await c.stop(id, { graceMs: 1000 });
    for (const id of ids) expect((await c.waitFor(id, 'stopped', { timeoutMs: 10_000 })).state).toBe('stopped');
    expect(alive(pids)).toEqual([]);
    expect(await w2.stop()).toBe(0);
  });
});
