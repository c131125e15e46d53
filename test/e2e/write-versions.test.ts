import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { makeKeys } from '../../src/shared/keys.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { alive, startWorker, testEnv, until } from '../helpers/workers.js';

const prefix = randomPrefix();
const keys = makeKeys(prefix);
const env = testEnv(testRedisUrl(), prefix);
const OLD = 'h-old-release';
let redis: Redis;
const clients: ReapqClient[] = [];
// A writer as an api or a backend runs it, on the test's heartbeat period.
const client = () => {
  const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: { REAPQ_HEARTBEAT_MS: '500' } });
  clients.push(c);
  return c;
};

/** The heartbeat a worker of the release before versioned events wrote: no `events` field, so it reads v1 of every type. */
const oldBeat = (state: 'up' | 'down') =>
  JSON.stringify({ hostId: OLD, pid: 1, version: '0.9.0', state, load: 0, capacity: null, at: Date.now(), ttlMs: 600_000, counters: {} });

/** The version a record's start_requested is stored at, as an older reader would meet it. */
async function storedVersion(id: string): Promise<number> {
  const [[, fields]] = (await redis.xrange(keys.stream(id), '-', '+', 'COUNT', 1)) as [[string, string[]]];
  const e = JSON.parse(fields[fields.indexOf('e') + 1]!) as { type: string; v: number };
  expect(e.type).toBe('start_requested');
  return e.v;
}

/** The version a deploy's requested event is stored at. */
async function storedRequest(deployId: string): Promise<{ v: number; kind: string }> {
  const [[, fields]] = (await redis.xrange(keys.deployStream(deployId), '-', '+', 'COUNT', 1)) as [[string, string[]]];
  return JSON.parse(fields[fields.indexOf('e') + 1]!) as { v: number; kind: string };
}

const started: string[] = [];
/** Starts through c until one is stored at version v (the writer's copy of the fleet is at most a period old). */
async function startsAt(c: ReapqClient, v: number, what: string): Promise<void> {
  await until(
    async () => {
      const r = await c.start({ command: ['sleep', '300'] });
      started.push(r.id);
      return (await storedVersion(r.id)) === v;
    },
    10_000,
    what,
  );
}

/** Restarts the service until a replica's start_requested, written by the worker's deploy runner, is stored at v. */
async function replicaAt(c: ReapqClient, v: number): Promise<void> {
  await until(
    async () => {
      const d = await c.restartService('web');
      expect((await storedRequest(d.id)).v).toBe(v);
      const done = await c.waitForDeploy(d.id, { timeoutMs: 20_000 });
      expect(done.state).toBe('succeeded');
      return (await storedVersion(done.processes[0]!)) === v;
    },
    20_000,
    `a replica stored at v${v}`,
  );
}

beforeAll(() => {
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await redis.quit();
});

describe('writers honour the fleet', () => {
  it('write start_requested v1 while a worker that reads only v1 is live, v2 once only v2 readers are', async () => {
    const w = await startWorker(env, 'h-new-release');
    const c = client();
    // Only this release's worker: the client and the worker's deploy runner write v2.
    await startsAt(c, 2, 'a start stored at v2 with only v2 readers');
    const d = await c.deploy({ service: 'web', command: ['sleep', '300'], replicas: 1 });
    const first = await c.waitForDeploy(d.id, { timeoutMs: 20_000 });
    expect(first.state).toBe('succeeded');
    expect(await storedVersion(first.processes[0]!)).toBe(2);

    // A worker of the release before versioned events joins (its heartbeat, as it wrote it).
    await redis.hset(keys.hosts, OLD, oldBeat('up'));
    await startsAt(c, 1, 'a start stored at v1 while a v1 reader is live');
    // From now on every writer writes v1: a fresh client at once, the deploy runner too.
    const fresh = client();
    const a = await fresh.start({ command: ['sleep', '300'] });
    started.push(a.id);
    expect(await storedVersion(a.id)).toBe(1);
    await replicaAt(c, 1);
    // A scale is a deploy request v1 cannot say: refused, nothing stored.
    await expect(c.scale('web', 2)).rejects.toThrow(
      'a scale needs every live worker to read deploy event requested v2, and the fleet does not say so (yet): upgrade the workers that reapq hosts shows on v1, or retry once the fleet pass has run (REAPQ_RECONCILE_MS)',
    );
    expect((await c.service('web')).deploys.every((d) => d.kind !== 'scale')).toBe(true);
    // The newer reader reads the older shape as its own.
    expect(await c.waitFor(a.id, 'running', { timeoutMs: 15_000 })).toMatchObject({ service: null, revision: null, limits: null });

    // The last old worker is gone: v2 again.
    await redis.hset(keys.hosts, OLD, oldBeat('down'));
    await startsAt(c, 2, 'a start stored at v2 once the v1 reader is gone');
    const b = await client().start({ command: ['sleep', '300'] });
    started.push(b.id);
    expect(await storedVersion(b.id)).toBe(2);
    await replicaAt(c, 2);
    const scaled = await c.scale('web', 2);
    expect(await storedRequest(scaled.id)).toMatchObject({ v: 2, kind: 'scale' });
    expect((await c.waitForDeploy(scaled.id, { timeoutMs: 20_000 })).state).toBe('succeeded');

    const pids: number[] = [];
    for (const id of started) pids.push((await c.waitFor(id, 'running', { timeoutMs: 15_000 })).pid!);
    // Every record reads back whole, whatever shape its first event was stored in.
    for (const id of started) expect((await c.events(id))[0]!.event).toMatchObject({ type: 'start_requested', v: 2 });
    const s = await c.stopService('web');
    expect((await c.waitForDeploy(s.id, { timeoutMs: 20_000 })).state).toBe('succeeded');
    for (const id of started) await c.stop(id, { graceMs: 1000 });
    for (const id of started) await c.waitFor(id, 'stopped', { timeoutMs: 15_000 });
    expect(alive(pids)).toEqual([]);
    expect(w.output()).not.toContain('corrupt data');
    expect(await w.stop()).toBe(0);
  });
});
