import { describe, expect, it } from 'vitest';
import { useClientAndRedis } from '../helpers/client.js';
import { alive, cli, startWorker, until } from '../helpers/workers.js';

const { env, keys, c, redis } = useClientAndRedis();
const HOST = 'h-refold';

describe('a record that disagrees with its events', () => {
  it('never causes a kill: the controller decides on the events instead', async () => {
    const w = await startWorker(env, HOST);
    // The worker announces the event versions it reads; hosts shows them and what the fleet reads.
    const hosts = await cli(env, ['hosts']);
    expect(hosts.stdout).toMatch(/EVENTS\n.*v1, deploy.requested v2, drift v2, start_requested v2\n/);
    expect(hosts.stdout).toMatch(/\nevents every live worker reads: v1, deploy.requested v2, drift v2, start_requested v2\n$/);
    expect(JSON.parse((await cli(env, ['hosts', '--json'])).stdout)[0].events).toMatchObject({ start_requested: 2, repaired: 1 });
    const rec = await c.start({ command: ['sleep', '300'] });
    const { pid } = await c.waitFor(rec.id, 'running');
    // What a projection restored from another snapshot could say, at the same version: a
    // SIGKILL stop was asked for. Its events say it runs and nobody asked.
    const raw = JSON.parse((await redis.hget(keys.record(rec.id), 'r'))!);
    await redis.hset(
      keys.record(rec.id),
      'r',
      JSON.stringify({ ...raw, state: 'stopping', desired: 'stopped', stopSignal: 'SIGKILL', graceMs: 0, killDeadline: Date.now() }),
    );
    await c.admin.reconcile({ host: HOST });
    await until(() => w.output().includes('record disagrees with its events'), 10_000, 'the controller to check the events');
    expect(w.output()).toMatch(/"differs":\["state: \\"stopping\\", events say \\"running\\""/);
    // A second pass sees the same and still kills nothing.
    await c.admin.reconcile({ host: HOST });
    expect(alive([pid!])).toEqual([pid!]);
    expect((await c.events(rec.id)).map((e) => e.event.type)).toEqual(['start_requested', 'spawn_begun', 'spawned']);

    const fixed = await c.admin.fsck({ repair: true });
    expect(fixed.repaired).toEqual([rec.id]);
    await c.stop(rec.id, { graceMs: 1000 });
    expect((await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 })).endReason).toBe('stopped');
    expect(alive([pid!])).toEqual([]);
    expect(await w.stop()).toBe(0);
  });
});
