import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ReapqClient, RedisRefusedError } from '../../src/index.js';
import { startLocalRedis, type LocalRedis } from '../../src/dev/local-redis.js';
import { buildServer } from '../../src/producer/http/server.js';
import { explainRefusal } from '../../src/producer/refusals.js';
import { refusalOf } from '../../src/shared/errors.js';
import { randomPrefix } from '../helpers/redis.js';
import { replicaSynced } from '../helpers/redis-ha.js';
import { cli, testEnv, until } from '../helpers/workers.js';

// A Redis of this file's own: at maxmemory it would refuse the writes of every other file too.
const prefix = randomPrefix();
let redis: LocalRedis;
let probe: Redis;
let c: ReapqClient;

beforeAll(async () => {
  redis = await startLocalRedis({});
  probe = new Redis(redis.url);
  c = new ReapqClient({ redisUrl: redis.url, prefix, env: {} });
});
afterAll(async () => {
  await c?.close();
  probe?.disconnect();
  await redis?.stop();
});

const OOM =
  /^Redis is out of memory \(\S+ used of maxmemory \S+, maxmemory-policy noeviction\) and refused the call: free memory \(reapq prune, or whatever else fills this Redis\) or raise maxmemory$/;

/** Runs fn with Redis at a maxmemory below what it holds, then gives it its memory back. */
async function atMaxmemory(fn: () => Promise<void>): Promise<void> {
  await probe.config('SET', 'maxmemory', '1');
  try {
    await fn();
  } finally {
    await probe.config('SET', 'maxmemory', '0');
  }
}

describe('Redis refusals', () => {
  it('out of memory: a typed error saying what to do from the client, exit 1 with one line, HTTP 503; nothing half-written', async () => {
    const before = await c.start({ id: 'before', command: ['sleep', '1000'] });
    const app = buildServer(c);
    try {
      await atMaxmemory(async () => {
        // One call at a time: a second one made up front could be refused before anything
        // awaits it, an unhandled rejection that fails the run.
        for (const call of [() => c.start({ id: 'refused', command: ['sleep', '1000'] }), () => c.stop(before.id)]) {
          const err = await call().then(
            () => null,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(RedisRefusedError);
          expect((err as RedisRefusedError).refusal).toBe('oom');
          expect((err as Error).message).toMatch(OOM);
          expect(String((err as RedisRefusedError).redisError)).toMatch(/OOM command not allowed when used memory > 'maxmemory'/);
        }
        const r = await cli(testEnv(redis.url, prefix), ['start', '--id', 'refused-cli', '--', 'sleep', '1000']);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr.trim().replace(/^reapq: /, '')).toMatch(OOM);
        const res = await app.inject({ method: 'POST', url: '/v1/processes', payload: { id: 'refused-http', command: ['sleep', '1000'] } });
        expect(res.statusCode, res.body).toBe(503);
        expect(res.json().error).toMatch(OOM);
      });
    } finally {
      await app.close();
    }
    for (const id of ['refused', 'refused-cli', 'refused-http']) await expect(c.get(id)).rejects.toBeInstanceOf(NotFoundError);
    expect(await c.get(before.id)).toMatchObject({ state: 'pending', desired: 'running' });
    // With its memory back, Redis takes the same calls.
    expect((await c.stop(before.id)).state).toBe('stopped');
    expect((await c.start({ id: 'refused', command: ['sleep', '1000'] })).state).toBe('pending');
    await c.stop('refused');
  });

  it('a read-only replica: a typed error naming the master, exit 1 with one line', async () => {
    const replica = await startLocalRedis({});
    const rc = new ReapqClient({ redisUrl: replica.url, prefix, env: {} });
    try {
      const rp = new Redis(replica.url);
      await rp.replicaof('127.0.0.1', redis.port);
      rp.disconnect();
      await until(() => replicaSynced(replica.port), 10_000, 'the replica to sync');
      const err = await rc.start({ command: ['sleep', '1000'] }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RedisRefusedError);
      expect((err as Error).message).toBe(
        'Redis answered as a read-only replica and refused the write: point REDIS_URL at the master (a redis+sentinel:// URL follows failovers)',
      );
      const r = await cli(testEnv(replica.url, prefix), ['start', '--', 'sleep', '1000']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toBe(`reapq: ${(err as Error).message}\n`);
    } finally {
      await rc.close();
      await replica.stop();
    }
  });

  it('names a script Redis no longer holds and a failed save; leaves every other error as it is', async () => {
    const noscript = await probe.evalsha('0'.repeat(40), 0).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refusalOf(noscript)).toBe('noscript');
    expect(((await explainRefusal(noscript, probe)) as Error).message).toMatch(
      /^Redis no longer holds a script reapq loaded .*: retry it$/,
    );
    // Redis's MISCONF reply, word for word (a failed RDB save cannot be caused from here).
    const misconf = new Error(
      "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.",
    );
    expect(((await explainRefusal(misconf, probe)) as RedisRefusedError).refusal).toBe('misconf');
    const wrongType = await probe
      .set(`${prefix}:x`, '1')
      .then(() => probe.lpush(`${prefix}:x`, 'y'))
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(refusalOf(wrongType)).toBeNull();
    expect(await explainRefusal(wrongType, probe)).toBe(wrongType);
  });
});
