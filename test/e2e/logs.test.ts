import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { cli, FIXTURES, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

const prefix = randomPrefix();
const env = testEnv(testRedisUrl(), prefix, { REAPQ_LOG_MAX_BYTES: '4096', REAPQ_LOG_LINES: '100' });
let w: TestWorker;
let c: ReapqClient;
beforeAll(async () => {
  w = await startWorker(env, 'h-logs');
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
});
afterAll(async () => {
  await c.close();
  expect(await w.stop()).toBe(0);
});

describe('process logs', () => {
  it('keeps stdout and stderr readable from anywhere with reapq logs', async () => {
    const rec = await c.start({ command: ['npm', 'run', 'start'], cwd: join(FIXTURES, 'app'), port: 'auto', ready: { kind: 'log', pattern: 'listening' } });
    await c.waitFor(rec.id, 'running', { timeoutMs: 15_000 });
    await until(async () => (await c.logs(rec.id)).includes('listening'), 5000, 'line shipped');
    // Another data dir: this CLI has no local file to read, only Redis.
    const r = await cli({ ...env, REAPQ_DATA_DIR: '/nonexistent' }, ['logs', rec.id, '--lines', '50']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('listening');
    expect(r.stdout).toContain('node server.js'); // npm's own banner, on stdout or stderr
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
  });

  it('bounds the log: the file is rotated and Redis keeps the last lines', async () => {
    const rec = await c.start({ command: ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; echo done; exec sleep 1000'] });
    await c.waitFor(rec.id, 'running');
    await until(async () => (await c.logs(rec.id, 1))[0] === 'done', 10_000, 'all lines shipped');
    const last = await c.logs(rec.id, 3);
    expect(last).toEqual(['line 2998', 'line 2999', 'done']);
    const kept = await c.connection.xlen(c.keys.logs(rec.id));
    expect(kept).toBeLessThan(400); // capped near REAPQ_LOG_LINES (approximate trimming)
    const file = join(env.REAPQ_DATA_DIR!, 'logs', `${rec.id}.log`);
    await until(() => existsSync(`${file}.1`), 2000, 'rotation');
    expect(statSync(file).size).toBeLessThan(3000 * 10);
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
  });
});
