import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { chooseLayout } from './cgroup/layout.js';
import { parseMountinfo, parseProcCgroup } from './cgroup/mountinfo.js';
import { leafNames } from './cgroup/subtree.js';
import { readCookies, type HostOs } from './host-os.js';
import { belonging, type Self } from './tree.js';

const read = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};

/**
 * The v2 directory of the worker's cgroup subtree (`<prefix>@<host>`), found the way
 * probeCgroups made it: below the worker's own cgroup, or, once the worker moved itself
 * into the subtree's `worker` leaf, the parent of that leaf. Null without a v2 hierarchy.
 */
export function subtreeDir(
  subtreeName: string,
  mountinfo = read('/proc/self/mountinfo'),
  selfCgroup = read('/proc/self/cgroup'),
): string | null {
  if (mountinfo === null || selfCgroup === null) return null;
  const home = chooseLayout(parseMountinfo(mountinfo), parseProcCgroup(selfCgroup)).v2?.home;
  if (!home) return null;
  return basename(home) === 'worker' && basename(dirname(home)) === subtreeName ? dirname(home) : join(home, subtreeName);
}

/** What a host stop may stop: this host of this fleet, and the ids its worker held (an older release's runs it adopted carry no fleet). */
export interface HostStopScope {
  me: Self;
  /** The v2 directory of this fleet's subtree of the host. */
  subtree: string | null;
  heldIds: ReadonlySet<string>;
}

/**
 * Every live process of this host's trees: in a leaf of its subtree, or carrying its
 * cookie (this fleet's, or no fleet's with an id the worker held). Another fleet's
 * processes with the same prefix and host id are not this host's to stop.
 */
export function hostMembers(os: HostOs, scope: HostStopScope): number[] {
  const { subtree, me } = scope;
  const found = new Set<number>();
  if (subtree)
    for (const leaf of leafNames([subtree]))
      for (const pid of (read(join(subtree, leaf, 'cgroup.procs')) ?? '').split('\n')) if (/^\d+$/.test(pid)) found.add(Number(pid));
  const all = os.table.list().map((p) => p.pid);
  for (const [pid, c] of readCookies(os, all)) {
    const whose = belonging(c, me);
    if (whose === 'ours' || (whose === 'legacy' && scope.heldIds.has(c.id))) found.add(pid);
  }
  found.delete(os.selfPid);
  // Zombies are dead already: whoever inherits them when this worker exits reaps them.
  return [...found].filter((pid) => os.table.stat(pid)?.state !== 'Z');
}

/**
 * A host stop (the worker's stop signal under systemd, README "Boot"): after the worker has
 * drained, every process of its trees gets SIGTERM, then SIGKILL after the grace, and is
 * verified gone. Records are left as they are: the next worker of this host (after a
 * `systemctl start` or a reboot) finds the processes gone and their restart policies decide,
 * as PM2's resurrect would. Returns the pids still alive at the end (none, unless unkillable).
 */
export async function stopHostTrees(
  os: HostOs,
  scope: HostStopScope,
  graceMs: number,
  sleep: (ms: number) => Promise<void>,
): Promise<{ signalled: number; left: number[] }> {
  // Waiting reads only the pids signalled (a full scan reads every environ on the host);
  // a full scan again before SIGKILL and at the end catches what forked meanwhile.
  const settle = async (pids: number[], ms: number) => {
    for (let waited = 0; waited < ms; waited += 50) {
      if (pids.every((pid) => (os.table.stat(pid)?.state ?? 'Z') === 'Z')) return;
      await sleep(50);
    }
  };
  const first = hostMembers(os, scope);
  for (const pid of first) os.kill(pid, 'SIGTERM');
  await settle(first, graceMs);
  const rest = hostMembers(os, scope);
  for (const pid of rest) os.kill(pid, 'SIGKILL');
  await settle(rest, 5_000);
  return { signalled: new Set([...first, ...rest]).size, left: hostMembers(os, scope) };
}
