import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import {
  carriersOf,
  cmdlineOf,
  FIXTURES,
  innerPid,
  PID_NAMESPACE,
  startWorker,
  testEnv,
  until,
  type TestWorker,
} from '../helpers/workers.js';

const prefix = randomPrefix();
let c: ReapqClient;
let w: TestWorker;

/** Zombies whose parent is pid, seen from the outer namespace. */
function zombiesOf(ppid: number): number[] {
  return proc
    .list()
    .filter((s) => s.state === 'Z' && s.ppid === ppid)
    .map((s) => s.pid);
}

beforeAll(async () => {
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  w = await startWorker(testEnv(testRedisUrl(), prefix), 'h-pid1', [], PID_NAMESPACE);
});
afterAll(async () => {
  await c.close();
  if (w.child.exitCode === null) {
    process.kill(innerPid(w), 'SIGKILL'); // PID 1 gone: the kernel empties its namespace
    await w.stop();
  }
});

describe('worker as PID 1 of a PID namespace', () => {
  it('runs as PID 1', async () => {
    const inner = readFileSync(`/proc/${innerPid(w)}/status`, 'utf8');
    expect(inner).toMatch(/NSpid:\s+\d+\s+1\n/);
  });

  it('reaps dozens of short-lived orphans: zero zombies remain', async () => {
    const pid1 = innerPid(w);
    const rec = await c.start({ command: [join(FIXTURES, 'orphan-spawner.sh'), '60'] });
    await c.waitFor(rec.id, 'running');
    // The spawner makes 60 orphans that die within 50 ms; each becomes a zombie child of PID 1.
    // Done when the spawner has exec'd its final `sleep 1000` and no orphan is left (one may
    // end between the listing and the read of its command line).
    const onlyFinalSleep = () => {
      const pids = carriersOf(rec.id);
      return pids.length === 1 && cmdlineOf(pids[0]!) === 'sleep\u00001000\u0000';
    };
    await until(onlyFinalSleep, 15_000, 'orphans made and gone');
    // An orphan's sleep can still end after that on a loaded machine: its zombie is reaped within the sweep's second.
    await until(() => zombiesOf(pid1).length === 0, 5000, 'zero zombies');
    // The leader's exit status still arrives (from the forker, which spawned it): the reaper
    // reaps only what it inherits, never a child Node waits for.
    await c.stop(rec.id, { graceMs: 1000 });
    const done = await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
    expect(done.signal).toBe('SIGTERM');
    expect(carriersOf(rec.id)).toEqual([]);
    expect(zombiesOf(pid1)).toEqual([]);
  });

  it('shuts down on SIGTERM as PID 1', async () => {
    // unshare does not forward signals: the worker itself gets it, as from a container engine.
    process.kill(innerPid(w), 'SIGTERM');
    const code = await w.stop();
    expect(code).toBe(0);
  });
});
