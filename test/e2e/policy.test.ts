import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { carriersOf, cli, useWorker } from '../helpers/workers.js';

const t = useWorker('h-policy', {
  REAPQ_ALLOWED_COMMANDS: 'sleep,/bin/true',
  REAPQ_ALLOWED_CWDS: '/tmp',
  REAPQ_RUN_AS: '65534:65534',
});
const env = t.env;

const uidOf = (pid: number) => /Uid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];

describe('worker policy', () => {
  it('runs an allowed command as the configured user', async () => {
    const rec = await t.client.start({ command: ['sleep', '1000'], cwd: '/tmp' });
    await t.client.waitFor(rec.id, 'running');
    const [pid] = carriersOf(rec.id);
    expect(uidOf(pid!)).toBe('65534');
    await t.client.stop(rec.id);
    await t.client.waitFor(rec.id, 'stopped');
  });

  it.each([
    [{ command: ['sh', '-c', 'sleep 1000'], cwd: '/tmp' }, /command sh is not in REAPQ_ALLOWED_COMMANDS/],
    [{ command: ['sleep', '1000'], cwd: '/etc' }, /cwd/],
    [{ command: ['sleep', '1000'], cwd: '/tmp/../etc' }, /cwd/],
    [{ command: ['sleep', '1000'], cwd: '/tmp', env: { LD_PRELOAD: '/tmp/evil.so' } }, /LD_PRELOAD/],
  ])('refuses %j and records why', async (spec, reason) => {
    const rec = await t.client.start(spec);
    await expect(t.client.waitFor(rec.id, 'running')).rejects.toThrow(reason);
    const failed = await t.client.get(rec.id);
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
