import { linuxProcessTable, type ProcessTable } from './proc/table.js';
import { cookieCandidates, COOKIE, OWNER, treeMembers, type Cookie, type Identity } from './tree.js';

/** Signals and the process table: the only side effects the killer and reconciler have. */
export interface HostOs {
  readonly selfPid: number;
  readonly table: ProcessTable;
  /** false when nothing received it (ESRCH). */
  kill(pid: number, signal: NodeJS.Signals): boolean;
}

export const linuxOs: HostOs = {
  selfPid: process.pid,
  table: linuxProcessTable,
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
    if (id !== null) out.set(pid, { id, owner: os.table.cookie(pid, OWNER) });
  }
  return out;
}

/** The live members of one managed tree, found from its group, session, ancestry and cookie. */
export function findTree(os: HostOs, ident: Identity, owner: string): number[] {
  const procs = os.table.list();
  const cookies = readCookies(os, cookieCandidates(procs, [ident], os.selfPid));
  return treeMembers(ident, procs, cookies, os.selfPid, owner);
}
