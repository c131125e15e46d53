import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { cgroupLeaves, cgroupSupport, v2Dir } from '../helpers/cgroups.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { alive, cli, FIXTURES, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

const support = cgroupSupport();
if (!support.ok) console.warn(`cgroup tests skipped: ${support.reason}`);

const leafDir = v2Dir;
/** Every pid in a leaf, given the record's cgroup path. */
const pidsIn = (cgroup: string): number[] => {
  try {
    return readFileSync(join(leafDir(cgroup), 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};
const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
};

describe.skipIf(!support.ok)('cgroup mode', () => {
  const prefix = randomPrefix();
  const env = testEnv(testRedisUrl(), prefix);
  let worker: TestWorker;
  let c: ReapqClient;
  beforeAll(async () => {
    worker = await startWorker(env, 'h-cg', ['--containment', 'cgroup']);
    c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  });
  afterAll(async () => {
    for (const r of await c.list()) if (r.state === 'running' || r.state === 'stopping') await c.stop(r.id, { graceMs: 200 });
    for (const r of await c.list())
      await c.waitFor(r.id, ['stopped', 'exited', 'failed', 'lost'], { timeoutMs: 10_000 }).catch(() => undefined);
    await c.close();
    expect(await worker.stop()).toBe(0);
  });

  it('runs each process in its own leaf cgroup, entered before the program ran, and says so', async () => {
    const rec = await c.start({ command: ['sh', '-c', 'sleep 300 & exec sleep 301'] });
    const running = await c.waitFor(rec.id, 'running');
    expect(running.containment).toBe('cgroup');
    expect(running.cgroup).toMatch(new RegExp(`/${prefix}@h-cg/${rec.id}@${running.runId}$`));
    expect(readFileSync(`/proc/${running.pid}/cgroup`, 'utf8')).toContain(`0::${running.cgroup}\n`);
    await until(() => pidsIn(running.cgroup!).length === 2, 5000, 'both sleeps in the leaf');
    const shown = JSON.parse((await cli(env, ['show', rec.id, '--json'])).stdout);
    expect(shown.containment).toBe('cgroup');
    const hosts = JSON.parse((await cli(env, ['hosts', '--json'])).stdout);
    expect(hosts[0].containment).toMatchObject({ mode: 'cgroup', kill: 'cgroup.kill' });
    expect((await cli(env, ['stop', rec.id, '--wait'])).code).toBe(0);
    expect(existsSync(leafDir(running.cgroup!))).toBe(false);
  });

  it('leaves no env-clearing setsid double fork behind after stop --wait', async () => {
    const rec = await c.start({ command: ['sh', '-c', "setsid env -i sh -c 'sleep 5001 & exit' & exec sleep 5000"] });
    const running = await c.waitFor(rec.id, 'running');
    const escaped = await until(() => pidsIn(running.cgroup!).find((p) => cmdline(p) === 'sleep 5001'), 5000, 'the detached sleep 5001');
    // No cookie: process mode has no way to tell it belongs here.
    expect(proc.cookie(escaped, 'REAPQ_PROCESS_ID')).toBeNull();
    const stop = await cli(env, ['stop', rec.id, '--wait']);
    expect(stop.code).toBe(0);
    expect(alive([escaped])).toEqual([]);
    expect((await c.get(rec.id))?.endReason).toBe('stopped');
  });

  it('kills an env-clearing TERM-ignoring setsid child with its parent alive, after the grace period', async () => {
    const rec = await c.start({ command: [join(FIXTURES, 'escaper-ignores-term.sh')] });
    const running = await c.waitFor(rec.id, 'running');
    const stubborn = await until(() => pidsIn(running.cgroup!).find((p) => cmdline(p).includes('trap')), 5000, 'the TERM-ignoring child');
    const stop = await cli(env, ['stop', rec.id, '--grace-ms', '300', '--wait']);
    expect(stop.code).toBe(0);
    expect(alive([stubborn])).toEqual([]);
    const done = await c.get(rec.id);
    expect(done?.endReason).toBe('killed');
    expect(existsSync(leafDir(running.cgroup!))).toBe(false);
  });

  it('records a missing binary as a failed start and leaves no cgroup for it', async () => {
    const missing = await c.start({ command: ['/nonexistent/reapq-test-binary'] });
    await expect(c.waitFor(missing.id, 'running')).rejects.toThrow(/command not found/);
    // Removed in the background once the failure is recorded.
    await until(() => cgroupLeaves(prefix).every((l) => !l.leaf.includes(`/${missing.id}@`)), 5000, 'its leaf removed');
  });
});
