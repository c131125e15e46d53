import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { freePort, startLocalRedis, type LocalRedis } from '../../src/dev/local-redis.js';
import { randomPrefix } from '../helpers/redis.js';
import { carriersOf, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';
import { tempDir } from '../helpers/cleanup.js';

// A master and one Sentinel of this file's own: reapq finds the master through the Sentinel.
let master: LocalRedis;
let sentinel: ChildProcess;
let sentinelPort: number;
const dir = tempDir('sentinel');
let w: TestWorker;
let c: ReapqClient;
const prefix = randomPrefix();

beforeAll(async () => {
  master = await startLocalRedis({});
  sentinelPort = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor reapqmaster 127.0.0.1 ${master.port} 1\n`);
  sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const probe = new Redis({ port: sentinelPort, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  probe.on('error', () => undefined);
  await until(
    async () => {
      const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', 'reapqmaster').catch(() => null)) as string[] | null;
      return addr?.[1] === String(master.port);
    },
    10_000,
    'sentinel knows the master',
  );
  probe.disconnect();
  const url = `redis+sentinel://127.0.0.1:${sentinelPort}/reapqmaster`;
  w = await startWorker(testEnv(url, prefix), 'h-sentinel');
  c = new ReapqClient({ redisUrl: url, prefix, env: {} });
});
afterAll(async () => {
  await c?.close();
  if (w) expect(await w.stop()).toBe(0);
  sentinel?.kill('SIGTERM');
  if (sentinel && sentinel.exitCode === null) await new Promise((r) => sentinel.once('exit', r));
  await master?.stop();
});

describe('Redis behind Sentinel', () => {
  it('runs unchanged with the master found through Sentinel', async () => {
    const rec = await c.start({ command: ['sleep', '1000'] });
    const running = await c.waitFor(rec.id, 'running');
    expect(running.host).toBe('h-sentinel');
    expect(carriersOf(rec.id)).toHaveLength(1);
    // The data lives on the master the Sentinel pointed at.
    const direct = new Redis(master.url);
    expect(await direct.hexists(internalsOf(c).keys.record(rec.id), 'r')).toBe(1);
    direct.disconnect();
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
    expect(carriersOf(rec.id)).toEqual([]);
    expect(await internalsOf(c).store.rebuild(rec.id)).toEqual(await c.get(rec.id));
  });
});
