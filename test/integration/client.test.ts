import { afterAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { InputError, NotFoundError } from '../../src/shared/errors.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, handled, startWorker, testEnv } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';

const clients: ReapqClient[] = [];
const client = (prefix: string) => {
  const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  clients.push(c);
  return c;
};
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

describe('client without a worker', () => {
  it('makes a repeated id one process with one start job', async () => {
    const c = client(randomPrefix());
    const a = await c.start({ id: 'web-1', command: ['sleep', '100'] });
    const b = await c.start({ id: 'web-1', command: ['sleep', '100'] });
    expect(b).toEqual(a);
    expect(a.state).toBe('pending');
    expect(a.desired).toBe('running');
    expect((await c.events('web-1')).length).toBe(1);
    expect(await internalsOf(c).queue(internalsOf(c).keys.startQueue).getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  it('rejects bad input with a reason and writes nothing', async () => {
    const c = client(randomPrefix());
    await expect(c.start({ command: [] })).rejects.toThrow(InputError);
    await expect(c.start({ command: ['x'], graceMs: -1 })).rejects.toThrow(/graceMs/);
    await expect(c.start({ id: '42', command: ['x'] })).rejects.toThrow(/plain integer/);
    await expect(c.start({ id: 'a:b', command: ['x'] })).rejects.toThrow(/letters, digits/);
    await expect(c.stop('nope')).rejects.toThrow(NotFoundError);
    await expect(c.stop('nope', { signal: 'SIGFOO' })).rejects.toThrow(/signal/);
    expect(await c.list()).toEqual([]);
  });

  it('lets a stop that arrives while the start is queued win', async () => {
    const prefix = randomPrefix();
    const c = client(prefix);
    const rec = await c.start({ id: 'queued', command: ['sleep', '100'] });
    const stopped = await c.stop(rec.id);
    expect(stopped.state).toBe('stopped');
    expect(stopped.desired).toBe('stopped');
    // A worker that comes up afterwards must not run it, even if the job were still there.
    const job = await internalsOf(c).queue(internalsOf(c).keys.startQueue).add('start', { id: rec.id });
    const w = await startWorker(testEnv(testRedisUrl(), prefix), 'h-queued');
    try {
      // The worker has handled that job (and would have spawned by then), not just had time to.
      await handled(job);
      expect(carriersOf(rec.id)).toEqual([]);
      expect((await c.get(rec.id)).state).toBe('stopped');
      expect((await c.events(rec.id)).map((e) => e.event.type)).toEqual(['start_requested', 'stop_requested']);
    } finally {
      expect(await w.stop()).toBe(0);
    }
  });
});

describe('requests issued together', () => {
  /** Jobs added to a queue by name, as BullMQ's own event stream of the queue tells. */
  async function added(c: ReapqClient, queue: string): Promise<Record<string, number>> {
    const { connection, keys } = internalsOf(c);
    const out: Record<string, number> = {};
    for (const [, fields] of await connection.xrange(`${keys.bullPrefix}:${queue}:events`, '-', '+')) {
      const f = Object.fromEntries(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : [])));
      if (f.event === 'added') out[f.name!] = (out[f.name!] ?? 0) + 1;
    }
    return out;
  }

  it('share a few jobs, and each start still runs and each stop still ends its process', async () => {
    const prefix = randomPrefix();
    const c = client(prefix);
    const w = await startWorker(testEnv(testRedisUrl(), prefix), 'h-together');
    try {
      const recs = await Promise.all(Array.from({ length: 40 }, () => c.start({ command: ['sleep', '1000'] })));
      const ran = await Promise.all(recs.map((r) => c.waitFor(r.id, 'running')));
      expect(new Set(ran.map((r) => r.pid)).size).toBe(40);
      const starts = await added(c, internalsOf(c).keys.startQueue);
      expect(starts.starts, 'starts jobs').toBeGreaterThan(0);
      expect((starts.starts ?? 0) + (starts.start ?? 0)).toBeLessThan(40);

      await Promise.all(recs.map((r) => c.stop(r.id)));
      const ended = await Promise.all(recs.map((r) => c.waitFor(r.id, ['stopped', 'exited'])));
      expect(ended.filter((r) => r.state !== 'stopped')).toEqual([]);
      for (const r of ran) expect(carriersOf(r.id)).toEqual([]);
      const stops = await added(c, internalsOf(c).keys.hostQueue('h-together'));
      expect(stops.stops, 'stops jobs').toBeGreaterThan(0);
      expect((stops.stops ?? 0) + (stops.stop ?? 0)).toBeLessThan(40);
    } finally {
      expect(await w.stop()).toBe(0);
    }
  });
});
