import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { enterTest, leaveFile, leaveTest } from './cleanup.js';
import { runMarker } from './run-marker.js';

export interface Leaks {
  carriers: string[];
  zombies: number[];
}

/**
 * Processes this run is answerable for: live ones whose owner (`REAPQ_OWNER`, set by the
 * worker that started them) begins with this run's marker, and zombie children of this
 * test process. Processes of other reapq instances on the machine are not counted.
 */
export function leaks(marker = runMarker()): Leaks {
  const carriers: string[] = [];
  const zombies: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat = '';
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    const ppid = Number(rest[1]);
    if (state === 'Z' && ppid === process.pid) zombies.push(Number(name));
    if (state === 'Z') continue;
    let env = '';
    try {
      env = readFileSync(`/proc/${name}/environ`, 'utf8');
    } catch {
      continue; // unreadable or gone: not ours
    }
    const owner = /(?:^|\0)REAPQ_OWNER=([^\0]*)/.exec(env)?.[1];
    if (owner === undefined || !owner.startsWith(marker)) continue;
    const id = /(?:^|\0)REAPQ_PROCESS_ID=([^\0]*)/.exec(env)?.[1] ?? '';
    carriers.push(`${name}:${id} ${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}`);
  }
  return { carriers, zombies };
}

/** Waits up to 6 s for processes being stopped to go; what is left is killed and returned. */
export async function settleAndKill(marker = runMarker()): Promise<Leaks> {
  let found = leaks(marker);
  for (let i = 0; i < 60 && (found.carriers.length > 0 || found.zombies.length > 0); i++) {
    await new Promise((r) => setTimeout(r, 100));
    found = leaks(marker);
  }
  // Kill leftovers so one test's leak is reported once, by that test, not by every later one.
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
  expect(found, 'processes left behind by this test').toEqual({ carriers: [], zombies: [] });
});

afterAll(async () => {
  await leaveFile();
  const found = await settleAndKill();
  expect(found, 'processes left behind by this test file').toEqual({ carriers: [], zombies: [] });
});
