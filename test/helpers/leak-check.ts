import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, expect } from 'vitest';

/**
 * Runs after every test file: fails the file if any process carrying the cookie is alive
 * anywhere on the machine, or if this test process has a zombie child. Processes being
 * stopped get a short while to go, so the check waits for the host to settle first.
 */
export function leaks(): { carriers: string[]; zombies: number[] } {
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
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'utf8');
      const m = /(?:^|\0)REAPQ_PROCESS_ID=([^\0]*)/.exec(env);
      if (m) carriers.push(`${name}:${m[1]} ${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}`);
    } catch {
      // unreadable or gone: not ours
    }
  }
  return { carriers, zombies };
}

afterAll(async () => {
  let found = leaks();
  for (let i = 0; i < 60 && (found.carriers.length > 0 || found.zombies.length > 0); i++) {
    await new Promise((r) => setTimeout(r, 100));
    found = leaks();
  }
  expect(found, 'processes left behind by this test file').toEqual({ carriers: [], zombies: [] });
});
