import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { cgroupSupport, v2Dir } from '../helpers/cgroups.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { alive, FIXTURES, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

const support = cgroupSupport();
if (!support.ok) console.warn(`root tenant test skipped: ${support.reason}`);

const cgroupOf = (pid: number) => {
  try {
    return /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
};
const argv = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
};

describe.skipIf(!support.ok)('a root tenant that leaves its cgroup leaf', () => {
  const prefix = randomPrefix();
  const env = testEnv(testRedisUrl(), prefix);
  let w: TestWorker;
  let c: ReapqClient;
  beforeAll(async () => {
    w = await startWorker(env, 'h-root-tenant', ['--containment', 'cgroup']);
    c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  });
  afterAll(async () => {
    await c?.close();
    if (w) expect(await w.stop()).toBe(0);
  });

  it('is never recorded stopped while its leader or its double-forked escapee lives, and ends with nothing alive', async () => {
    // Unique to this test: the escapee is found by its argument, having no cookie, group or session of the run.
    const seconds = String(100_000 + (process.pid % 50_000));
    const rec = await c.start({
      command: [join(FIXTURES, 'root-tenant-escapes.sh')],
      env: { CGROUP_ROOT: v2Dir('/'), ESCAPEE_SECONDS: seconds },
    });
    const running = await c.waitFor(rec.id, 'running');
    expect(running.containment).toBe('cgroup');
    const leader = running.pid!;
    const escapee = await until(
      () => proc.list().find((s) => s.state !== 'Z' && s.sid === s.pid && argv(s.pid).join(' ') === `sleep ${seconds}`)?.pid,
      5000,
      'the escapee in a session of its own',
    );
    // Preconditions: both left the leaf for the root cgroup; the escapee has no cookie.
    await until(() => cgroupOf(leader) === '/' && argv(leader)[0] === 'sleep', 5000, 'the leader out of its leaf');
    expect(cgroupOf(escapee)).toBe('/');
    expect(proc.cookie(escapee, 'REAPQ_PROCESS_ID')).toBeNull();

    await c.stop(rec.id, { graceMs: 500 });
    const ended = await c.waitFor(rec.id, ['stopped', 'exited', 'failed', 'lost'], { timeoutMs: 15_000 });
    // The record said final: nothing of the tree may be alive at that moment.
    expect(alive([leader, escapee]), `${ended.state}: ${JSON.stringify(ended)}`).toEqual([]);
    expect(ended.state).toBe('stopped');
    // Both were found outside the leaf, named on the record, and signalled by their identity.
    const events = (await c.events(rec.id)).map((e) => e.event);
    const signalled = events.flatMap((e) => (e.type === 'signal_sent' ? e.pids : []));
    expect(signalled).toEqual(expect.arrayContaining([leader, escapee]));
    // Each named once (at one sighting, or the leader first when the escapee was not forked yet).
    const named = events.flatMap((e) => (e.type === 'drift' && e.kind === 'escaped' ? [e] : []));
    // (The double fork's middle process may be seen outside too, before it exits.)
    const namedPids = named.flatMap((e) => e.pids);
    expect(namedPids).toEqual(expect.arrayContaining([leader, escapee]));
    expect(new Set(namedPids).size).toBe(namedPids.length);
    for (const e of named) expect(e.detail).toMatch(new RegExp(`^\\d outside its cgroup ${running.cgroup}: pid \\d+ \\([^)]+\\) in /`));
  });
});
