import { rm } from 'node:fs/promises';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { EventStore } from '../../src/shared/event-store.js';
import { makeKeys } from '../../src/shared/keys.js';
import { startLocalCluster, type LocalCluster } from '../helpers/local-cluster.js';
import { connect } from '../../src/shared/redis.js';
import { randomPrefix } from '../helpers/redis.js';
import { stopEverything } from '../helpers/client.js';
import { carriersOf, cli, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';

/**
 * reapq unchanged on a real 3-master Redis Cluster: a `reapq worker` process and a client
 * both reach it through REDIS_URL=redis+cluster://..., and everything of one prefix lives in
 * one hash slot (keys.ts), so the Lua append and BullMQ's scripts run on one node.
 */
const prefix = randomPrefix();
const hostId = 'h-cluster';
let cluster: LocalCluster;
let env: NodeJS.ProcessEnv;
let worker: TestWorker | undefined;
let c: ReapqClient | undefined;

beforeAll(async () => {
  cluster = await startLocalCluster({ nodes: 3 });
  env = testEnv(cluster.url, prefix);
  worker = await startWorker(env, hostId);
  c = new ReapqClient({ redisUrl: cluster.url, prefix, env: {} });
}, 60_000);

afterAll(async () => {
  try {
    await stopEverything(c, worker);
  } finally {
    await cluster?.stop();
    if (env?.REAPQ_DATA_DIR) await rm(env.REAPQ_DATA_DIR, { recursive: true, force: true });
  }
}, 60_000);

const client = (): ReapqClient => c!;

describe('Redis Cluster through redis+cluster://', () => {
  it('connects a Cluster whose blocking connection never gives up a request', async () => {
    const cmd = connect(cluster.url, 'command');
    const blocking = connect(cluster.url, 'blocking');
    try {
      expect(cmd).toBeInstanceOf(Cluster);
      expect((blocking as unknown as Cluster).options.redisOptions?.maxRetriesPerRequest).toBeNull();
      expect((cmd as unknown as Cluster).options.redisOptions?.maxRetriesPerRequest).toBe(3);
      expect(await blocking.ping()).toBe('PONG');
    } finally {
      cmd.disconnect();
      blocking.disconnect();
    }
  });

  it('runs every command reapq sends, on keys of one tag', async () => {
    const r = connect(cluster.url, 'command');
    const t = `{${randomPrefix()}}`;
    try {
      expect(await r.ping()).toBe('PONG');
      expect(await r.hset(`${t}:h`, 'a', '1', 'b', '2')).toBe(2);
      expect(await r.hget(`${t}:h`, 'a')).toBe('1');
      expect(await r.hgetall(`${t}:h`)).toEqual({ a: '1', b: '2' });
      expect(await r.hsetnx(`${t}:h`, 'a', 'x')).toBe(0);
      expect(await r.set(`${t}:lock`, 'me', 'PX', 5000, 'NX')).toBe('OK');
      expect(await r.set(`${t}:lock`, 'you', 'PX', 5000, 'NX')).toBeNull();
      expect(await r.eval(`return redis.call('HGET', KEYS[1], ARGV[1])`, 1, `${t}:h`, 'b')).toBe('2');
      // Lua across two slots is what the hash tag prevents: Redis refuses it.
      await expect(r.eval(`return redis.call('GET', KEYS[2])`, 2, `{a}x`, `{b}x`)).rejects.toThrow(/CROSSSLOT|different slots/);

      r.defineCommand('reapqTestPair', {
        numberOfKeys: 2,
        lua: `redis.call('SADD', KEYS[1], ARGV[1]); redis.call('ZADD', KEYS[2], 1, ARGV[1]); return 1`,
      });
      expect(await (r as unknown as { reapqTestPair(...a: string[]): Promise<number> }).reapqTestPair(`${t}:set`, `${t}:z`, 'm1')).toBe(1);
      expect(await r.smembers(`${t}:set`)).toEqual(['m1']);
      expect(await r.zrange(`${t}:z`, '0', '-1')).toEqual(['m1']);

      expect(await r.xadd(`${t}:s`, '1-0', 'e', 'one')).toBe('1-0');
      expect(await r.xrange(`${t}:s`, '-', '+')).toEqual([['1-0', ['e', 'one']]]);
      expect(await r.xrevrange(`${t}:s`, '+', '-', 'COUNT', 1)).toEqual([['1-0', ['e', 'one']]]);

      const pipe = r.pipeline();
      pipe.hget(`${t}:h`, 'a').hget(`${t}:h`, 'b').smembers(`${t}:set`);
      expect(await pipe.exec()).toEqual([
        [null, '1'],
        [null, '2'],
        [null, ['m1']],
      ]);
      const multi = r.multi();
      multi.del(`${t}:lock`, `${t}:s`).zrem(`${t}:z`, 'm1').srem(`${t}:set`, 'm1');
      expect(await multi.exec()).toEqual([
        [null, 2],
        [null, 1],
        [null, 1],
      ]);

      // XREAD BLOCK on a duplicate wakes when another connection appends: on its 5 s
      // timeout it would answer null, so the entry itself is the proof.
      const dup = r.duplicate();
      try {
        const read = dup.xread('BLOCK', 5000, 'STREAMS', `${t}:s2`, '0-0');
        setTimeout(() => void r.xadd(`${t}:s2`, '1-0', 'e', 'later'), 200);
        expect(await read).toEqual([[`${t}:s2`, [['1-0', ['e', 'later']]]]]);
      } finally {
        dup.disconnect();
      }
      expect(await r.quit()).toBe('OK');
    } finally {
      r.disconnect();
    }
  });

  it('starts, follows, reconciles and stops a process with nothing left', async () => {
    const rec = await client().start({ command: ['sleep', '1000'] });
    expect(rec.state).toBe('pending');
    const running = await client().waitFor(rec.id, 'running', { timeoutMs: 20_000 });
    expect(running.host).toBe(hostId);
    expect(running.pid).toBeGreaterThan(0);
    await until(() => carriersOf(rec.id).length >= 1, 5000, 'the sleep to carry its cookie');

    const types = (await client().events(rec.id)).map((e) => e.event.type);
    expect(types.slice(0, 3)).toEqual(['start_requested', 'spawn_begun', 'spawned']);
    const global = await internalsOf(client()).store.readGlobal('0');
    expect(global.filter((g) => g.processId === rec.id).map((g) => g.event.type)).toEqual(types);

    const report = await cli(env, ['reconcile', '--host', hostId, '--json']);
    expect(report.code, report.stderr).toBe(0);
    const parsed = JSON.parse(report.stdout) as { host: string; records: number; errors: string[] };
    expect(parsed.host).toBe(hostId);
    expect(parsed.records).toBeGreaterThanOrEqual(1);
    expect(parsed.errors).toEqual([]);

    // A blocking read on a connection of its own wakes on the stop's first event (on its
    // 5 s timeout it would return nothing).
    const conn = internalsOf(client()).connection.duplicate();
    try {
      const woke = EventStore.blockRead(conn, internalsOf(client()).keys, rec.id, running.version, 5000);
      await client().stop(rec.id, { graceMs: 2000 });
      const seen = await woke;
      expect(seen[0]?.event.type).toBe('stop_requested');
    } finally {
      conn.disconnect();
    }
    const done = await client().waitFor(rec.id, 'stopped', { timeoutMs: 15_000 });
    expect(done.endReason).toBe('stopped');
    expect(carriersOf(rec.id)).toEqual([]);
    expect(await internalsOf(client()).store.rebuild(rec.id)).toEqual(await client().get(rec.id));
    expect((await client().list({ host: hostId })).map((r) => r.id)).toContain(rec.id);
  });

  it('ships a process output to its log stream on the cluster', async () => {
    const rec = await client().start({ command: ['sh', '-c', 'echo hello from the cluster; exec sleep 1000'] });
    await client().waitFor(rec.id, 'running', { timeoutMs: 20_000 });
    const lines = await until(
      async () => {
        const l = await client().logs(rec.id);
        return l.length > 0 ? l : null;
      },
      10_000,
      'the line in the log stream',
    );
    expect(lines).toEqual(['hello from the cluster']);
    await client().stop(rec.id, { graceMs: 2000 });
    await client().waitFor(rec.id, 'stopped', { timeoutMs: 15_000 });
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('keeps every key of the prefix in the one slot of its tag, on one node', async () => {
    const conn = internalsOf(client()).connection as unknown as Cluster;
    const tagSlot = Number(await conn.cluster('KEYSLOT', makeKeys(prefix).tag));
    const found = new Map<string, number>();
    const masters = conn.nodes('master') as Redis[];
    expect(masters.length).toBe(3);
    for (const [i, node] of masters.entries()) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
        cursor = next;
        for (const k of keys) found.set(k, i);
      } while (cursor !== '0');
    }
    const keys = [...found.keys()];
    // Records, streams, indexes, heartbeats and BullMQ's queues all under the tag.
    expect(keys).toContain(makeKeys(prefix).hosts);
    expect(keys).toContain(makeKeys(prefix).globalStream);
    expect(keys.some((k) => k.startsWith(`${makeKeys(prefix).bullPrefix}:${makeKeys(prefix).hostQueue(hostId)}:`))).toBe(true);
    expect(keys.some((k) => k.endsWith(':events') && k.includes(':p:'))).toBe(true);
    expect(keys.some((k) => k.endsWith(':logs') && k.includes(':p:'))).toBe(true);
    expect(new Set(found.values()).size).toBe(1);
    for (const k of keys) expect(Number(await conn.cluster('KEYSLOT', k)), k).toBe(tagSlot);
  });

  it('left the worker without a Redis error in its log', () => {
    expect(worker!.output()).toContain('"worker ready"');
    expect(worker!.output()).not.toMatch(/queue error|heartbeat failed|cluster pass failed|CROSSSLOT|MOVED|CLUSTERDOWN/);
  });
});
