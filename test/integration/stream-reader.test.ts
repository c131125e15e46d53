import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { buildServer } from '../../src/producer/http/server.js';
import { startLocalRedis, type LocalRedis } from '../../src/dev/local-redis.js';
import { randomPrefix } from '../helpers/redis.js';
import { until } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';
import { tempDir } from '../helpers/cleanup.js';

// A Redis of this file's own: CLIENT LIST then counts only what this file opened, and it
// can be restarted (AOF on, same port) without disturbing other files.
const dataDir = tempDir('reader');
let redis: LocalRedis;
let admin: Redis;

beforeAll(async () => {
  redis = await startLocalRedis({ dataDir });
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});

/** Connections to this file's Redis other than the admin's own. */
async function connections(): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  const me = Number(await admin.client('ID'));
  return list
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith(`id=${me} `)).length;
}

describe('one blocking reader per process', () => {
  it('serves 1,000 concurrent waitFor on one client with at most 3 connections', async () => {
    const c = new ReapqClient({ redisUrl: redis.url, prefix: randomPrefix(), env: {} });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 1000; i++) ids.push((await c.start({ id: `w-${i}`, command: ['sleep', '1000'] })).id);
      const waits = ids.map((id) => c.waitFor(id, 'stopped', { timeoutMs: 60_000 }));
      await until(async () => internalsOf(c).streams().streams === 1000, 20_000, 'every waiter subscribed');
      expect(await connections()).toBeLessThanOrEqual(3);
      for (const id of ids) await c.stop(id);
      const done = await Promise.all(waits);
      expect(done.every((r) => r.state === 'stopped')).toBe(true);
      expect(internalsOf(c).streams().streams).toBe(0);
    } finally {
      await c.close();
    }
    await until(async () => (await connections()) === 0, 5000, 'the client to disconnect');
  });

  it('serves 500 SSE clients of one api with at most 3 connections, each getting its events', async () => {
    const c = new ReapqClient({ redisUrl: redis.url, prefix: randomPrefix(), env: {} });
    const app = buildServer(c, { rateLimitPerMinute: 0 });
    const reqs: ClientRequest[] = [];
    try {
      const ids: string[] = [];
      for (let i = 0; i < 500; i++) ids.push((await c.start({ id: `s-${i}`, command: ['sleep', '1000'] })).id);
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const seen = new Map<string, string>();
      await Promise.all(
        ids.map(
          (id) =>
            new Promise<void>((resolve, reject) => {
              const req = httpRequest(
                { host: '127.0.0.1', port, path: `/v1/processes/${id}/events`, headers: { accept: 'text/event-stream' }, agent: false },
                (res: IncomingMessage) => {
                  res.setEncoding('utf8');
                  res.on('data', (d: string) => {
                    seen.set(id, (seen.get(id) ?? '') + d);
                    if (seen.get(id)!.includes('start_requested')) resolve();
                  });
                },
              );
              req.on('error', reject);
              req.end();
              reqs.push(req);
            }),
        ),
      );
      expect(await connections()).toBeLessThanOrEqual(3);
      for (const id of ids.slice(0, 50)) await c.stop(id);
      await until(
        async () => ids.slice(0, 50).every((id) => seen.get(id)!.includes('stop_requested')),
        20_000,
        'stop events on the streams',
      );
      expect(ids.slice(50).some((id) => seen.get(id)!.includes('stop_requested'))).toBe(false);
    } finally {
      for (const r of reqs) r.destroy();
      await app.close();
      await c.close();
    }
  });

  it('keeps waiting across a Redis restart and sees what was written after it', async () => {
    const c = new ReapqClient({ redisUrl: redis.url, prefix: randomPrefix(), env: {} });
    const other = new ReapqClient({ redisUrl: redis.url, prefix: internalsOf(c).config.prefix, env: {} });
    try {
      await c.start({ id: 'across', command: ['sleep', '1000'] });
      const wait = c.waitFor('across', 'stopped', { timeoutMs: 60_000 });
      const lines: string[] = [];
      const ac = new AbortController();
      const follow = (async () => {
        for await (const e of c.follow('across', 0, ac.signal)) lines.push(e.event.type);
      })();
      await until(
        async () => internalsOf(c).streams().streams === 1 && lines.includes('start_requested'),
        10_000,
        'waiter and follower subscribed',
      );
      admin.disconnect();
      const port = redis.port;
      await redis.stop();
      redis = await startLocalRedis({ dataDir, port });
      admin = new Redis(redis.url);
      await until(async () => (await other.get('across').catch(() => null)) !== null, 15_000, 'Redis back');
      await other.stop('across');
      expect((await wait).state).toBe('stopped');
      await until(async () => lines.includes('stop_requested'), 15_000, 'the follower to see the stop');
      ac.abort();
      await follow;
    } finally {
      await c.close();
      await other.close();
    }
  });
});
