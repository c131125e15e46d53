import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { leaks } from '../helpers/leak-check.js';
import { runMarker } from '../helpers/run-marker.js';
import { alive, until } from '../helpers/workers.js';

function sleeper(env: Record<string, string>): ChildProcess {
  const { REAPQ_PROCESS_ID: _p, REAPQ_OWNER: _o, ...rest } = process.env;
  return spawn('sleep', ['600'], { env: { ...rest, ...env }, stdio: 'ignore' });
}

async function gone(c: ChildProcess): Promise<void> {
  if (c.exitCode === null && c.signalCode === null) {
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
  }
}

describe('leak check', () => {
  it("counts this run's processes and nothing another reapq instance runs", async () => {
    const foreignCookie = sleeper({ REAPQ_PROCESS_ID: 'x' });
    const foreignOwner = sleeper({ REAPQ_PROCESS_ID: 'web', REAPQ_OWNER: 'reapq/some-host' });
    const otherRun = sleeper({ REAPQ_PROCESS_ID: 'web', REAPQ_OWNER: 't-otherrun-abc/h1' });
    const ours = sleeper({ REAPQ_PROCESS_ID: 'mine', REAPQ_OWNER: `${runMarker()}abc/h1` });
    try {
      const all = [foreignCookie, foreignOwner, otherRun, ours].map((c) => c.pid!);
      await until(() => alive(all).length === 4, 5000, 'sleepers up');
      // exec replaces the environment only once sleep runs: wait until ours shows it.
      const found = await until(() => leaks().carriers.find((c) => c.startsWith(`${ours.pid}:`)), 5000, 'own carrier seen');
      expect(found).toBe(`${ours.pid}:mine sleep`);
      const pids = leaks().carriers.map((c) => Number(c.split(':')[0]));
      expect(pids).toEqual([ours.pid]);
    } finally {
      await Promise.all([foreignCookie, foreignOwner, otherRun, ours].map(gone));
    }
    expect(leaks().carriers).toEqual([]);
  });
});
