import { readFileSync } from 'node:fs';
import { parseProcCgroup } from './cgroup/mountinfo.js';
import { linuxProcessTable, type ProcessTable } from './proc/table.js';
import { cookieCandidates, COOKIE, FLEET, leaderAlive, OWNER, RUN, treeMembers, type Cookie, type Identity, type Self } from './tree.js';

/** Signals and the process table: the only side effects the killer and reconciler have. */
export interface HostOs {
  readonly selfPid: number;
  readonly table: ProcessTable;
  /** false when nothing received it (ESRCH). */
  kill(pid: number, signal: NodeJS.Signals): boolean;
  /** Whether a pid (or with a negative number, a process group) exists, zombies included. */
  exists(pid: number): boolean;
}

export const linuxOs: HostOs = {
  selfPid: process.pid,
  table: linuxProcessTable,
  exists(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  kill(pid, signal) {
    try {
      process.kill(pid, signal);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw err;
    }
  },
};

/** Reads the cookies of the given pids (the expensive part: one environ read each). */
export function readCookies(os: HostOs, pids: Iterable<number>): Map<number, Cookie> {
  const out = new Map<number, Cookie>();
  for (const pid of pids) {
    const id = os.table.cookie(pid, COOKIE);
    if (id !== null)
      out.set(pid, { id, owner: os.table.cookie(pid, OWNER), run: os.table.cookie(pid, RUN), fleet: os.table.cookie(pid, FLEET) });
  }
  return out;
}

/** The live members of one managed tree, found from its group, session, ancestry and cookie. */
export function findTree(os: HostOs, ident: Identity, me: Self): number[] {
  const procs = os.table.list();
  const cookies = readCookies(os, cookieCandidates(procs, [ident], os.selfPid));
  return treeMembers(ident, procs, cookies, os.selfPid, me);
}

/**
 * The same tree found without scanning /proc: walk down from the recorded leader and from
 * the worker's own children (where orphans and escaped descendants land while the worker
 * is their subreaper). Cost follows the tree and the worker's children, not the host's
 * process count. Only valid for trees this worker spawned while a subreaper: an adopted
 * tree's orphans went to init, out of reach of this walk.
 */
export function findTreeFast(os: HostOs, ident: Identity, otherLeaders: ReadonlySet<number>): number[] {
  const found = new Map<number, number>();
  const queue: number[] = [];
  const consider = (pid: number, mustMatch: boolean): void => {
    if (found.has(pid) || pid === os.selfPid) return;
    const s = os.table.stat(pid);
    if (!s || s.state === 'Z' || s.startTime < ident.startTime) return;
    if (mustMatch && s.pgid !== ident.pgid && s.sid !== ident.sid && os.table.cookie(pid, COOKIE) !== ident.id) return;
    found.set(pid, s.startTime);
    queue.push(pid);
  };
  if (leaderAlive(ident, os.table.stat(ident.pid))) consider(ident.pid, false);
  for (const c of os.table.children(os.selfPid)) if (!otherLeaders.has(c)) consider(c, true);
  while (queue.length > 0) for (const c of os.table.children(queue.pop()!)) consider(c, false);
  return [...found.keys()].sort((a, b) => a - b);
}

/** Pids as a report names them: command and v2 cgroup (as /proc/PID/cgroup names it); gone ones are left out. */
export function describeProcs(os: HostOs, pids: readonly number[]): Array<{ pid: number; comm: string; cgroup: string | null }> {
  const out: Array<{ pid: number; comm: string; cgroup: string | null }> = [];
  for (const pid of pids) {
    const s = os.table.stat(pid);
    if (!s || s.state === 'Z') continue;
    let cgroup: string | null = null;
    try {
      cgroup = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).find((c) => c.hierarchy === 0)?.path ?? null;
    } catch {
      // gone meanwhile, or not ours to read
    }
    out.push({ pid, comm: s.comm, cgroup });
  }
  return out;
}
