import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { cgroupLeaves, killCgroupLeaves, removeCgroups } from './cgroups.js';
import { enterTest, leaveFile, leaveTest, removeTempDirs } from './cleanup.js';
import { runMarker } from './run-marker.js';

export interface Leaks {
  carriers: string[];
  zombies: number[];
  /** Leaf cgroups of this run's workers with processes in them (cgroup mode finds what the cookie misses). */
  cgroups: string[];
}

/**
 * Processes this run is answerable for: live ones whose owner (`REAPQ_OWNER`, set by the
 * worker that started them) begins with this run's marker, and zombie children of this
 * test process. Processes of other reapq instances on the machine are not counted.
 */
export function leaks(marker = runMarker()): Leaks {
  const carriers: string[] = [];
  const zombies: number[] = [];
  for (const s of proc.list()) {
    if (s.state === 'Z') {
      if (s.ppid === process.pid) zombies.push(s.pid);
      continue;
    }
    // null: unreadable or gone, so not ours
    const owner = proc.cookie(s.pid, 'REAPQ_OWNER');
    if (owner === null || !owner.startsWith(marker)) continue;
    carriers.push(`${s.pid}:${proc.cookie(s.pid, 'REAPQ_PROCESS_ID') ?? ''} ${s.comm}`);
  }
  const cgroups = cgroupLeaves(marker)
    .filter((l) => l.pids.length > 0)
    .map((l) => `${l.leaf}: ${l.pids.join(',')}`);
  return { carriers, zombies, cgroups };
}

/** Waits up to 6 s for processes being stopped to go; what is left is killed and returned. */
export async function settleAndKill(marker = runMarker()): Promise<Leaks> {
  let found = leaks(marker);
  for (let i = 0; i < 60 && (found.carriers.length > 0 || found.zombies.length > 0 || found.cgroups.length > 0); i++) {
    await new Promise((r) => setTimeout(r, 100));
    found = leaks(marker);
  }
  // Kill leftovers so one test's leak is reported once, by that test, not by every later one.
  killCgroupLeaves(marker);
  for (const c of found.carriers) {
    try {
      process.kill(Number(c.split(':')[0]), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return found;
}

beforeEach(() => {
  enterTest();
});

afterEach(async () => {
  // The test's own workers go first (a failed test may have left one mid-work), then the check.
  await leaveTest();
  const found = await settleAndKill();
  expect(found, 'processes left behind by this test').toEqual({ carriers: [], zombies: [], cgroups: [] });
});

afterAll(async () => {
  await leaveFile();
  const found = await settleAndKill();
  // Before the checks, so a failed one still leaves nothing in the temp dir.
  const stuckDirs = removeTempDirs();
  expect(found, 'processes left behind by this test file').toEqual({ carriers: [], zombies: [], cgroups: [] });
  // The workers are gone: their subtrees go, and nothing of them may be left populated.
  const stuck = removeCgroups(runMarker()).filter((d) => cgroupLeaves(runMarker()).some((l) => l.leaf === d));
  expect(stuck, 'cgroups left behind by this test file').toEqual([]);
  expect(stuckDirs, 'temp dirs that could not be removed').toEqual([]);
});
