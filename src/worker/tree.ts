import type { ProcessRecord } from '../shared/record.js';
import type { ProcStat } from '../shared/proc-stat.js';
import { descendants } from './proc/parse.js';

/** Environment names that mark a managed process and its descendants. */
export const COOKIE = 'REAPQ_PROCESS_ID';
/** `<prefix>/<host id>`: two deployments or two hosts on one machine never claim each other's processes. */
export const OWNER = 'REAPQ_OWNER';
/** The run a process belongs to: leftovers of an earlier run are never mistaken for the current one. */
export const RUN = 'REAPQ_RUN_ID';
/**
 * The fleet that started it (keys.fleetId): two installations on one machine with the same
 * prefix and host id (two Redis servers) share REAPQ_OWNER, never this.
 */
export const FLEET = 'REAPQ_FLEET';

/** Who a worker is, as a process's cookie names it. */
export interface Self {
  /** `<prefix>/<host id>` */
  owner: string;
  fleet: string;
}

/**
 * Whose a cookie says a process is, to a worker: `ours` (this host of this fleet);
 * `legacy`, this host's, from a release before fleet ids (no REAPQ_FLEET), so it may be
 * another installation's as well: ours only where this fleet's Redis holds a record of its
 * id (ids are random: another Redis does not hold the same one); `foreign`, this host id
 * of another fleet, never touched; `other`, another host or prefix, none of this worker's
 * business. Pure.
 */
export function belonging(c: Cookie, me: Self): 'ours' | 'legacy' | 'foreign' | 'other' {
  if (c.owner !== null && c.owner !== me.owner) return 'other';
  if (c.fleet === undefined || c.fleet === null) return 'legacy';
  return c.fleet === me.fleet ? 'ours' : 'foreign';
}

/**
 * A carrier of a record's cookie counts as the record's: the id is this fleet's (it names
 * a record of this fleet's Redis), so without a fleet marker it is this fleet's run of an
 * older release; with another fleet's marker it is not, whatever id it carries.
 */
export function carries(c: Cookie, id: string, me: Self): boolean {
  if (c.id !== id) return false;
  const b = belonging(c, me);
  return b === 'ours' || b === 'legacy';
}

export interface Identity {
  id: string;
  pid: number;
  pgid: number;
  sid: number;
  startTime: number;
}

/** What a process carries in its environment, for those whose environment was read. */
export interface Cookie {
  id: string;
  owner: string | null;
  run?: string | null;
  /** REAPQ_FLEET; null or absent: started by a release before fleet ids. */
  fleet?: string | null;
}

/**
 * Processes whose environment is worth reading to find a tree's cookie-carriers. Reading
 * every environ on the host is what makes stop cost grow with unrelated processes, so only
 * the tree's group and session, the worker's own children (escaped descendants are
 * re-parented to it as subreaper) and their descendants are candidates.
 */
export function cookieCandidates(procs: readonly ProcStat[], groups: Iterable<Identity>, selfPid: number): Set<number> {
  const pgids = new Set<number>();
  const sids = new Set<number>();
  for (const g of groups) {
    pgids.add(g.pgid);
    sids.add(g.sid);
  }
  const roots = new Set<number>();
  for (const p of procs) {
    if (p.pid === selfPid || p.state === 'Z') continue;
    if (pgids.has(p.pgid) || sids.has(p.sid) || p.ppid === selfPid) roots.add(p.pid);
  }
  for (const d of descendants(procs, roots)) roots.add(d);
  roots.delete(selfPid);
  return roots;
}

/**
 * The live processes that belong to a managed tree: its group and session (only while
 * they still belong to the recorded leader), every process carrying its cookie, and the
 * descendants of all of these. Zombies are dead already and only need reaping.
 *
 * A group or session is trusted only through its recorded leader: if a process with the
 * leader's pid is alive with another start time, the ids were reused and the group is
 * someone else's. Members must also have started no earlier than the leader, since a
 * group cannot hold processes older than its creation.
 */
export function treeMembers(
  ident: Identity,
  procs: readonly ProcStat[],
  cookies: ReadonlyMap<number, Cookie>,
  selfPid: number,
  me: Self,
): number[] {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const groupTrusted = leaderState(ident, byPid.get(ident.pid)) !== 'reused';
  const found = new Set<number>();
  for (const p of procs) {
    if (p.pid === selfPid || p.state === 'Z') continue;
    const inGroup = groupTrusted && (p.pgid === ident.pgid || p.sid === ident.sid) && p.startTime >= ident.startTime;
    const c = cookies.get(p.pid);
    const carrier = c !== undefined && carries(c, ident.id, me);
    if (inGroup || carrier) found.add(p.pid);
  }
  for (const d of descendants(procs, found)) {
    const p = byPid.get(d);
    if (p && p.state !== 'Z' && p.pid !== selfPid && p.startTime >= ident.startTime) found.add(d);
  }
  return [...found].sort((a, b) => a - b);
}

/**
 * The recorded leader, from what /proc shows at its pid: alive with its recorded start
 * time; gone (no such pid, or a zombie: it ended, only the reaping is due); or reused (the
 * pid belongs to a process that started at another time, so its group and session are
 * someone else's). The one answer to "is the leader still alive" in the worker.
 */
export function leaderState(ident: Pick<Identity, 'startTime'>, stat: ProcStat | null | undefined): 'alive' | 'gone' | 'reused' {
  if (!stat) return 'gone';
  if (stat.startTime !== ident.startTime) return 'reused';
  return stat.state === 'Z' ? 'gone' : 'alive';
}

/** True when the recorded leader is alive with the recorded identity. */
export function leaderAlive(ident: Pick<Identity, 'startTime'>, stat: ProcStat | null | undefined): boolean {
  return leaderState(ident, stat) === 'alive';
}

/** The recorded identity of a record's current run, once it was spawned. */
export function identityOf(rec: ProcessRecord): Identity | null {
  if (rec.pid === null || rec.pgid === null || rec.sid === null || rec.startTime === null) return null;
  return { id: rec.id, pid: rec.pid, pgid: rec.pgid, sid: rec.sid, startTime: rec.startTime };
}
