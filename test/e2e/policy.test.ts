import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, cli, startWorker, testEnv, type TestWorker } from '../helpers/workers.js';

const prefix = randomPrefix();
const env = testEnv(testRedisUrl(), prefix, {
  REAPQ_ALLOWED_COMMANDS: 'sleep,/bin/true',
  REAPQ_ALLOWED_CWDS: '/tmp',
  REAPQ_RUN_AS: '65534:65534',
});
let w: TestWorker;
let c: ReapqClient;
beforeAll(async () => {
  w = await startWorker(env, 'h-policy');
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
});
afterAll(async () => {
  await c.close();
  expect(await w.stop()).toBe(0);
});

const uidOf = (pid: number) => /Uid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];

describe('worker policy', () => {
  it('runs an allowed command as the configured user', async () => {
    const rec = await c.start({ command: ['sleep', '1000'], cwd: '/tmp' });
    await c.waitFor(rec.id, 'running');
    const [pid] = carriersOf(rec.id);
    expect(uidOf(pid!)).toBe('65534');
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
  });

  it.each([
    [{ command: ['sh', '-c', 'sleep 1000'], cwd: '/tmp' }, /command sh is not in REAPQ_ALLOWED_COMMANDS/],
    [{ command: ['sleep', '1000'], cwd: '/etc' }, /cwd/],
    [{ command: ['sleep', '1000'], cwd: '/tmp/../etc' }, /cwd/],
    [{ command: ['sleep', '1000'], cwd: '/tmp', env: { LD_PRELOAD: '/tmp/evil.so' } }, /LD_PRELOAD/],
  ])('refuses %j and records why', async (spec, reason) => {
    const rec = await c.start(spec);
    await expect(c.waitFor(rec.id, 'running')).rejects.toThrow(reason);
    const failed = await c.get(rec.id);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/^refused by policy:/);
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('stops the worker at boot with one line on a bad policy', async () => {
    const r = await cli({ ...env, REAPQ_RUN_AS: 'root' }, ['worker', '--host-id', 'h-bad']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^reapq: invalid REAPQ_RUN_AS="root"/);
  });
});
