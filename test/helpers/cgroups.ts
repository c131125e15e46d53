import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { chooseLayout } from '../../src/worker/cgroup/layout.js';
import { parseFlatKeyed, parseMountinfo, parsePids, parseProcCgroup } from '../../src/worker/cgroup/mountinfo.js';

/** The hierarchies test workers make their subtrees in (they run in this process's cgroups). */
export function cgroupHomes(): string[] {
  const layout = chooseLayout(
    parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')),
    parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')),
  );
  const out: string[] = [];
  if (layout.v2?.writable) out.push(layout.v2.home);
  for (const h of Object.values(layout.v1)) if (h.writable) out.push(h.home);
  return out;
}

/** The directory of a cgroup path (as /proc/<pid>/cgroup and the record name it) in the v2 hierarchy. */
export function v2Dir(path: string): string {
  const layout = chooseLayout(
    parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')),
    parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')),
  );
  if (!layout.v2) throw new Error('no cgroup v2 hierarchy');
  return join(layout.v2.mountPoint, path);
}

/** Whether this host can run the cgroup-mode tests, or why not. */
export function cgroupSupport(): { ok: true } | { ok: false; reason: string } {
  const layout = chooseLayout(
    parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')),
    parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')),
  );
  if (!layout.v2) return { ok: false, reason: 'no cgroup v2 hierarchy is mounted' };
  if (!layout.v2.writable) return { ok: false, reason: `cgroup v2 at ${layout.v2.mountPoint} is read-only` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root' };
  return { ok: true };
}

/** Both containment modes, for describe.each: cgroup mode with why it is skipped here, or null. */
export function containmentModes() {
  const support = cgroupSupport();
  return [
    { mode: 'process', skip: null },
    { mode: 'cgroup', skip: support.ok ? null : support.reason },
  ] as const;
}

const dirs = (d: string): string[] => {
  try {
    return readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
};

export interface CgroupLeak {
  leaf: string;
  pids: number[];
}

/** Leaf cgroups of this run's subtrees (`<prefix>@<host>/<id>@<run>`), with the pids in them. */
export function cgroupLeaves(marker: string): CgroupLeak[] {
  const out: CgroupLeak[] = [];
  for (const home of cgroupHomes())
    for (const sub of dirs(home).filter((n) => n.startsWith(marker)))
      for (const leaf of dirs(join(home, sub)).filter((n) => n.includes('@'))) {
        const dir = join(home, sub, leaf);
        let procs: number[] = [];
        try {
          procs = parsePids(readFileSync(join(dir, 'cgroup.procs'), 'utf8'));
        } catch {
          // A leaf its worker removed between the listing and the read is no leak.
          if (!existsSync(dir)) continue;
        }
        out.push({ leaf: dir, pids: procs });
      }
  return out;
}

/** Kills what lives in a leaf (cgroup.kill where there is one, else each pid). */
function killLeaf(l: CgroupLeak): void {
  if (l.pids.length === 0) return;
  try {
    writeFileSync(join(l.leaf, 'cgroup.kill'), '1');
  } catch {
    for (const p of l.pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/** Kills what lives in this run's leaves. */
export function killCgroupLeaves(marker: string): void {
  for (const l of cgroupLeaves(marker)) killLeaf(l);
}

/** Whether a subtree's name is a worker's of this prefix and host: `<prefix>@<host>@<fleet>` (or an older release's `<prefix>@<host>`). */
const subtreeOf = (name: string, prefix: string, hostId: string) =>
  name === `${prefix}@${hostId}` || name.startsWith(`${prefix}@${hostId}@`);

/** One worker's subtree (`<prefix>@<host>@<fleet>`) in each hierarchy test workers use, where it exists. */
export function subtreeDirs(prefix: string, hostId: string): string[] {
  return cgroupHomes().flatMap((h) =>
    dirs(h)
      .filter((n) => subtreeOf(n, prefix, hostId))
      .map((n) => join(h, n)),
  );
}

/** Kills what lives in one worker's leaves; returns how many leaves still had processes. */
export function killSubtree(prefix: string, hostId: string): number {
  const leaves = cgroupLeaves(`${prefix}@${hostId}`).filter(
    (l) => subtreeOf(basename(dirname(l.leaf)), prefix, hostId) && l.pids.length > 0,
  );
  for (const l of leaves) killLeaf(l);
  return leaves.length;
}

/** Removes this run's subtrees, leaves first; returns the leaves that were still there. */
export function removeCgroups(marker: string): string[] {
  const left: string[] = [];
  for (const home of cgroupHomes())
    for (const sub of dirs(home).filter((n) => n.startsWith(marker))) {
      for (const leaf of dirs(join(home, sub))) {
        const dir = join(home, sub, leaf);
        if (leaf.includes('@')) left.push(dir);
        try {
          rmdirSync(dir);
        } catch {
          // populated still: reported
        }
      }
      try {
        rmdirSync(join(home, sub));
      } catch {
        // reported through its leaves
      }
    }
  return left;
}

export function populatedLeaf(dir: string): boolean {
  try {
    return parseFlatKeyed(readFileSync(join(dir, 'cgroup.events'), 'utf8')).populated === 1;
  } catch {
    return false;
  }
}
