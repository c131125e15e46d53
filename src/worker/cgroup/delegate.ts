import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hierarchy } from './layout.js';
import { parsePids } from './mountinfo.js';

const read = (f: string): string | null => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return null;
  }
};

/**
 * Enables memory, pids and cpu for the subtree where the v2 hierarchy offers them. A
 * non-root cgroup may delegate controllers only while it holds no process itself, so a
 * worker alone in its cgroup (a systemd service, a container) first moves itself into
 * the subtree's `worker` leaf. Returns the controllers the subtree's children get.
 */
export function delegateV2(v2: Hierarchy, sub: string, selfPid: number, problems: string[]): string[] {
  const offered = (read(join(v2.home, 'cgroup.controllers')) ?? '').split(/\s+/);
  const want = ['memory', 'pids', 'cpu'].filter((c) => offered.includes(c));
  if (want.length === 0) return [];
  const enable = (dir: string): string | null => {
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
      return null;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
  };
  const atRoot = v2.path === '/';
  let err = enable(v2.home);
  if (err === 'EBUSY' && !atRoot) {
    // Our own cgroup has processes (this worker; in a container also its init): they move
    // to a leaf of their own, `worker`, as systemd's delegation asks, and the subtree's
    // controllers can then be enabled. The worker goes first; the rest are its neighbours.
    try {
      const self = join(sub, 'worker');
      mkdirSync(self, { recursive: true });
      writeFileSync(join(self, 'cgroup.procs'), String(selfPid));
      for (let i = 0; i < 3 && err === 'EBUSY'; i++) {
        for (const pid of parsePids(read(join(v2.home, 'cgroup.procs')) ?? '')) {
          try {
            writeFileSync(join(self, 'cgroup.procs'), String(pid));
          } catch {
            // exited, or a kernel thread: try the rest
          }
        }
        err = enable(v2.home);
      }
    } catch (e) {
      err = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
  }
  if (err) {
    problems.push(`v2 controllers ${want.join(', ')} cannot be enabled below ${v2.home} (${err})`);
    return [];
  }
  // The subtree's own children: the leaves (and the worker's leaf, which needs none).
  const e2 = enable(sub);
  if (e2) {
    problems.push(`v2 controllers not enabled in ${sub} (${e2})`);
    return [];
  }
  const enabled = (read(join(sub, 'cgroup.subtree_control')) ?? '').split(/\s+/);
  return want.filter((c) => enabled.includes(c));
}
