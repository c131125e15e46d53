import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { onCleanup } from '../helpers/cleanup.js';
import { cgroupHomes, cgroupLeaves, cgroupSupport, subtreeDirs, v2Dir } from '../helpers/cgroups.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { stopEverything } from '../helpers/client.js';
import { alive, cli, FIXTURES, parentOf, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

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

/**
 * A worker started with `args` and a client on a fresh prefix for the enclosing describe
 * block, handed to `use` once up; afterwards what still runs is stopped, then the worker,
 * which must exit cleanly.
 */
function modeWorker(hostId: string, args: string[], use: (w: TestWorker, c: ReapqClient) => void) {
  const prefix = randomPrefix();
  const env = testEnv(testRedisUrl(), prefix);
  let w: TestWorker | undefined;
  let c: ReapqClient | undefined;
  beforeAll(async () => {
    w = await startWorker(env, hostId, args);
    c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
    use(w, c);
  });
  afterAll(() => stopEverything(c, w));
  return { prefix, env };
}

describe.skipIf(!support.ok)('cgroup mode', () => {
  let worker: TestWorker;
  let c: ReapqClient;
  const { prefix, env } = modeWorker('h-cg', ['--containment', 'cgroup', '--forkers', '2'], (w, cl) => ([worker, c] = [w, cl]));

  it('runs each process in its own leaf cgroup, entered before the program ran, and says so', async () => {
    const rec = await c.start({ command: ['sh', '-c', 'sleep 300 & exec sleep 301'] });
    const running = await c.waitFor(rec.id, 'running');
    expect(running.containment).toBe('cgroup');
    expect(running.cgroup).toMatch(new RegExp(`/${prefix}@h-cg@[0-9a-z]{12}/${rec.id}@${running.runId}$`));
    expect(readFileSync(`/proc/${running.pid}/cgroup`, 'utf8')).toContain(`0::${running.cgroup}\n`);
    await until(() => pidsIn(running.cgroup!).length === 2, 5000, 'both sleeps in the leaf');
    const shown = JSON.parse((await cli(env, ['show', rec.id, '--json'])).stdout);
    expect(shown.containment).toBe('cgroup');
    const hosts = JSON.parse((await cli(env, ['hosts', '--json'])).stdout);
    expect(hosts[0].containment).toMatchObject({ mode: 'cgroup', kill: 'cgroup.kill' });
    expect((await cli(env, ['stop', rec.id, '--wait'])).code).toBe(0);
    expect(existsSync(leafDir(running.cgroup!))).toBe(false);
  });

  it('spawns a burst through both forkers, each child in its own leaf, and no stop kills a forker', async () => {
    const forkers = () =>
      readFileSync(`/proc/${worker.child.pid}/task/${worker.child.pid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .map(Number)
        .filter((p) => cmdline(p).includes('forker-main.js'));
    const before = forkers();
    expect(before).toHaveLength(2);
    // Between spawns of a burst a forker moves from leaf to leaf; it must be home after it.
    const recs = await Promise.all(Array.from({ length: 20 }, () => c.start({ command: ['sleep', '1000'] })));
    const running = await Promise.all(recs.map((r) => c.waitFor(r.id, 'running')));
    const parents = new Set(running.map((r) => parentOf(r.pid!)));
    expect([...parents].sort()).toEqual([...before].sort());
    await until(() => running.every((r) => pidsIn(r.cgroup!).join() === String(r.pid)), 5000, 'every leaf holding only its sleep');
    await Promise.all(running.map((r) => c.stop(r.id, { graceMs: 200 })));
    for (const r of running) expect((await c.waitFor(r.id, 'stopped')).endReason).toBe('stopped');
    expect(forkers()).toEqual(before);
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

  it('re-adopts its cgroups after a SIGKILL: the restarted worker still stops the detached, cookie-less descendant', async () => {
    // A deployment of its own: no other worker may take the host over while it is down.
    const prefix2 = randomPrefix();
    const env2 = testEnv(testRedisUrl(), prefix2);
    const c2 = new ReapqClient({ redisUrl: testRedisUrl(), prefix: prefix2, env: {} });
    onCleanup(() => c2.close());
    let w = await startWorker(env2, 'h-cg2', ['--containment', 'cgroup']);
    const rec = await c2.start({ command: ['sh', '-c', "setsid env -i sh -c 'sleep 5003 & exit' & exec sleep 5002"] });
    const running = await c2.waitFor(rec.id, 'running');
    const escaped = await until(() => pidsIn(running.cgroup!).find((p) => cmdline(p) === 'sleep 5003'), 5000, 'the detached sleep');
    await w.kill();
    w = await startWorker(env2, 'h-cg2', ['--containment', 'cgroup']);
    await until(async () => (await c2.events(rec.id)).some((e) => e.event.type === 'adopted'), 10_000, 'adopted');
    expect(alive([running.pid!, escaped])).toEqual([running.pid, escaped]);
    expect((await cli(env2, ['stop', rec.id, '--wait'])).code).toBe(0);
    expect(alive([running.pid!, escaped])).toEqual([]);
    expect(existsSync(leafDir(running.cgroup!))).toBe(false);
    expect(await w.stop()).toBe(0);
  });

  it('kills and removes a leftover cgroup no live run claims, and records the drift on its record', async () => {
    const rec = await c.start({ command: ['sleep', '300'] });
    const running = await c.waitFor(rec.id, 'running');
    // A leaf of a run that is not the record's current one, holding a cookie-less process.
    const ghost = join(leafDir(running.cgroup!), '..', `${rec.id}@oldrun`);
    const stray = spawn('sleep', ['5004'], { env: {}, stdio: 'ignore', detached: true });
    onCleanup(() => void stray.kill('SIGKILL'));
    // Made and filled in one go: the worker's passes (every 500 ms) remove an empty leftover
    // leaf, and a pass may fall between the two steps; then the leaf is made again.
    await until(
      () => {
        try {
          mkdirSync(ghost, { recursive: true });
          writeFileSync(join(ghost, 'cgroup.procs'), String(stray.pid));
          return readFileSync(join(ghost, 'cgroup.procs'), 'utf8').trim() !== '';
        } catch {
          return false;
        }
      },
      5000,
      'the stray in its leaf',
    );
    const reconciled = await cli(env, ['reconcile', '--json']);
    expect(reconciled.code).toBe(0);
    await until(() => !existsSync(ghost), 10_000, 'the leftover leaf removed');
    await until(() => stray.exitCode !== null || stray.signalCode !== null, 5000, 'the stray killed');
    const drift = (await c.events(rec.id)).map((e) => e.event).find((e) => e.type === 'drift');
    expect(drift).toMatchObject({ kind: 'orphan', detail: expect.stringContaining('@oldrun of run oldrun held 1 processes') });
    // The live run was left alone.
    expect((await c.get(rec.id)).state).toBe('running');
    expect(alive([running.pid!])).toEqual([running.pid]);
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
  });

  it('removes its subtree when it exits with no process left, an empty leaf it did not make included', async () => {
    // A deployment of its own, with no reconcile pass after boot (a pass removes an empty leftover leaf itself).
    const prefix3 = randomPrefix();
    const env3 = testEnv(testRedisUrl(), prefix3, { REAPQ_RECONCILE_MS: '600000' });
    const c3 = new ReapqClient({ redisUrl: testRedisUrl(), prefix: prefix3, env: {} });
    onCleanup(() => c3.close());
    const w = await startWorker(env3, 'h-cg3', ['--containment', 'cgroup']);
    const rec = await c3.start({ command: ['sleep', '300'] });
    await c3.waitFor(rec.id, 'running');
    await c3.stop(rec.id, { graceMs: 200 });
    await c3.waitFor(rec.id, 'stopped');
    const subtrees = subtreeDirs(prefix3, 'h-cg3');
    expect(subtrees.length).toBeGreaterThan(0);
    // What a killed worker's run leaves once its processes are gone: an empty leaf in each hierarchy.
    for (const d of subtrees) mkdirSync(join(d, `${rec.id}@killedrun`));
    expect(await w.stop()).toBe(0);
    expect(subtrees.filter((d) => existsSync(d))).toEqual([]);
  });

  it('records a missing binary as a failed start and leaves no cgroup for it', async () => {
    const missing = await c.start({ command: ['/nonexistent/reapq-test-binary'] });
    await expect(c.waitFor(missing.id, 'running')).rejects.toThrow(/command not found/);
    // Removed in the background once the failure is recorded.
    await until(() => cgroupLeaves(prefix).every((l) => !l.leaf.includes(`/${missing.id}@`)), 5000, 'its leaf removed');
  });
});

describe.skipIf(!support.ok)('cgroup limits', () => {
  let c: ReapqClient;
  const { env } = modeWorker('h-lim', ['--containment', 'cgroup'], (_w, cl) => (c = cl));

  it('ends a process past --memory 64M with reason oom, the limit on the record, and restarts it by policy', async () => {
    // tail keeps the one endless "line" of /dev/zero in memory: it grows until the OOM killer.
    const started = await cli(env, ['start', '--memory', '64M', '--restart', 'on-failure', '--json', '--', 'tail', '/dev/zero']);
    expect(started.code).toBe(0);
    const id = JSON.parse(started.stdout).id as string;
    await until(async () => (await c.events(id)).some((e) => e.event.type === 'restart_scheduled'), 20_000, 'a restart after the OOM kill');
    const events = (await c.events(id)).map((e) => e.event);
    const oom = events.find((e) => e.type === 'oom');
    expect(oom).toMatchObject({ type: 'oom', limit: 64 * 1024 * 1024 });
    const spawned = events.find((e) => e.type === 'spawned');
    expect(spawned).toMatchObject({ limits: { memory: 64 * 1024 * 1024, cpus: null, pidsMax: null } });
    // The first run's end, as the record had it before the restart: its reason is oom.
    const { fold } = await import('../../src/shared/reducer.js');
    const ended = fold(
      events.slice(
        0,
        events.findIndex((e) => e.type === 'restart_scheduled'),
      ),
      id,
    )!;
    expect(ended.endReason).toBe('oom');
    expect(ended.error).toMatch(/OOM killer at its memory limit of 67108864 bytes/);
    await c.stop(id, { graceMs: 200 });
    await c.waitFor(id, ['stopped', 'failed'], { timeoutMs: 20_000 });
  });

  it('never lets a fork loop under --pids-max 50 hold more than 50 processes', async () => {
    const started = await cli(env, [
      'start',
      '--pids-max',
      '50',
      '--json',
      '--',
      // bash retries a fork that fails with EAGAIN and goes on (dash gives up and exits).
      'bash',
      '-c',
      'while :; do sleep 30 & done',
    ]);
    expect(started.code).toBe(0);
    const rec = await c.waitFor(JSON.parse(started.stdout).id as string, 'running');
    let most = 0;
    // The loop hits the limit (fork fails with EAGAIN) and keeps trying; count while it does.
    await until(
      () => {
        most = Math.max(most, pidsIn(rec.cgroup!).length);
        return most >= 50 || null;
      },
      10_000,
      'the loop at its limit',
    );
    for (let i = 0; i < 20; i++) most = Math.max(most, pidsIn(rec.cgroup!).length);
    expect(most).toBe(50);
    expect((await cli(env, ['stop', rec.id, '--wait'])).code).toBe(0);
    expect(pidsIn(rec.cgroup!)).toEqual([]);
  });

  it('shows usage from the reconcile pass: show --json and the CPU and MEM columns of ls', async () => {
    // A busy loop for CPU time and a shell holding ~8 MB in a variable, then sleeping.
    const rec = await c.start({
      command: [
        'sh',
        '-c',
        'x=$(head -c 8000000 /dev/zero | tr "\\0" a); i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 300',
      ],
    });
    await c.waitFor(rec.id, 'running');
    const usage = await until(
      async () => {
        const shown = JSON.parse((await cli(env, ['show', rec.id, '--json'])).stdout);
        return shown.usage && shown.usage.cpuMs > 0 ? shown.usage : null;
      },
      15_000,
      'usage with CPU time',
    );
    expect(usage).toMatchObject({ pids: expect.any(Number), memoryBytes: expect.any(Number), memoryPeakBytes: expect.any(Number) });
    expect(usage.memoryPeakBytes).toBeGreaterThanOrEqual(usage.memoryBytes);
    const ls = await cli(env, ['ls']);
    const [head, ...rows] = ls.stdout.trim().split('\n');
    expect(head).toMatch(/\bCPU\s+MEM\b/);
    expect(rows.find((r) => r.startsWith(rec.id))).toMatch(/\d(ms|\.\d+s)\s+\d+(\.\d)?[KMG]?\s/);
    // reapq top, piped: one plain table (no escape codes) with the process and its figures.
    const top = await cli(env, ['top']);
    expect(top.code).toBe(0);
    expect(top.stdout).not.toMatch(/\x1b/);
    expect(top.stdout.split('\n')[1]).toMatch(/^ID\s+NAME\s+HOST\s+PID\s+CPU%\s+CPU\s+MEM\s+PEAK/);
    expect(top.stdout.split('\n').find((l) => l.startsWith(rec.id))).toMatch(/h-lim\s+\d+\s+-\s+\d/);
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
  });

  it('refuses bad limits with one line (exit 2), and runs a --cpus 0.5 process with its quota', async () => {
    const bad = await cli(env, ['start', '--memory', 'lots', '--', 'true']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--memory/);
    expect((await cli(env, ['start', '--cpus', '-1', '--', 'true'])).code).toBe(2);
    expect((await cli(env, ['start', '--pids-max', '0', '--', 'true'])).code).toBe(2);
    const rec = await c.start({ command: ['sleep', '300'], cpus: 0.5 });
    const running = await c.waitFor(rec.id, 'running');
    expect(running.limits).toEqual({ memory: null, cpus: 0.5, pidsMax: null });
    const line = readFileSync(`/proc/${running.pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => /:cpu(,|:)/.test(l));
    // Hybrid: the v1 cpu hierarchy enforces it; pure v2: cpu.max in the leaf.
    if (line) {
      const cpuRoot = cgroupHomes().find((h) => h.endsWith('/cpu'));
      if (cpuRoot) expect(readFileSync(join(cpuRoot, line.split(':')[2]!, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
    } else expect(readFileSync(join(leafDir(running.cgroup!), 'cpu.max'), 'utf8').trim()).toBe('50000 100000');
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
  });
});

describe('process mode (--containment process)', () => {
  let c: ReapqClient;
  const { env } = modeWorker('h-proc', ['--containment', 'process'], (_w, cl) => (c = cl));

  it('says so, and fails a start that asks for a limit with the reason instead of running it unlimited', async () => {
    const hosts = JSON.parse((await cli(env, ['hosts', '--json'])).stdout);
    expect(hosts[0].containment).toMatchObject({ mode: 'process', limits: [] });
    const rec = await c.start({ command: ['sleep', '300'], memory: '64M' });
    await expect(c.waitFor(rec.id, 'running')).rejects.toThrow(/cannot enforce memory: host h-proc runs in process mode/);
    expect((await c.get(rec.id)).pid).toBeNull();
  });

  it('kills an env-clearing TERM-ignoring setsid child with its parent alive, found by ancestry', async () => {
    const rec = await c.start({ command: [join(FIXTURES, 'escaper-ignores-term.sh')] });
    const running = await c.waitFor(rec.id, 'running');
    expect(running.containment).toBe('process');
    expect(running.cgroup).toBeNull();
    const stubborn = await until(
      () => proc.list().find((p) => p.ppid === running.pid && p.sid !== running.sid && cmdline(p.pid).includes('trap')),
      5000,
      'the TERM-ignoring child',
    );
    expect((await cli(env, ['stop', rec.id, '--grace-ms', '300', '--wait'])).code).toBe(0);
    expect(alive([stubborn.pid])).toEqual([]);
    expect((await c.get(rec.id)).endReason).toBe('killed');
  });
});

describe('reapq worker --containment', () => {
  it('refuses an unknown mode with one line, exit 2', async () => {
    const env = testEnv(testRedisUrl(), randomPrefix());
    const r = await cli(env, ['worker', '--host-id', 'h-bad', '--containment', 'jail']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('reapq: --containment must be auto, cgroup or process, not "jail"');
  });
});
