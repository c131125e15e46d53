import type { ProcStat } from '../shared/proc-stat.js';
import { belonging, type Cookie, type Self } from './tree.js';

/**
 * Which run each child the worker inherited (as child subreaper) came from. Pure: plain
 * data from /proc in, one claim per child out, so every rule is a unit test.
 *
 * A child of the worker that the worker did not spawn itself can only descend from
 * something the worker spawned: a run's tree (the forker's children lead new sessions) or
 * one of the worker's own helpers (forkers, the dev's Redis), whose orphans stay in their
 * session. A daemon that forked, called setsid and wrote its title over its environment
 * shows none of its run's marks, so the evidence is taken in order of strength:
 *
 *   its cgroup is a run's leaf                       -> that run
 *   its cookie names a run held here                 -> that run
 *   another host's, prefix's or fleet's cookie       -> foreign: never touched
 *   its group or session is the run's                -> that run (started after the run's leader)
 *   it, or the leader of its group or session, was seen as the run's member (a double
 *   fork's middle process leads the session of the last)  -> that run
 *   started at or after a run's leader (same boot)   -> the latest such run (`start-time`); with
 *                                                       several, `of` says among how many
 *   nothing, while a spawn's leader is not known yet -> wait (it may be that spawn's)
 *   nothing                                          -> drift: an orphan of this host, killed
 *                                                       (one with a cookie is the reconcile plan's
 *                                                       to judge, a fleet-less one by its record)
 */

/** What the tie needs to know of a run this worker holds. */
export interface RunFacts {
  /** The controller's key for the run (the record id). */
  key: string;
  /** The record id its cookie carries. */
  id: string;
  runId: string | null;
  pgid: number;
  sid: number;
  /** The leader's start time (clock ticks since boot, /proc/PID/stat field 22). */
  startTime: number;
  /** The boot the run's start time counts from. */
  bootId: string;
  /** Members seen so far, pid -> start time: a later process whose group or session one of them leads is the run's. */
  seen: ReadonlyMap<number, number>;
}

export interface InheritedInput {
  bootId: string;
  /** This host of this fleet, as cookies name it. */
  me: Self;
  /** The worker's session: what the worker process spawns without a session of its own stays in it, and no run's process can join it. */
  selfSid: number;
  /** Pids the worker spawned itself (forkers, the dev's Redis, ...): their session is theirs, not a run's. */
  own: ReadonlySet<number>;
  /** Sessions of the worker's own children: an orphan of one of them (a Redis fork) is the helper's, not a run's. */
  ownSids: ReadonlySet<number>;
  /** The worker's children now, from /proc (zombies included: they are left to the reaper). */
  children: readonly ProcStat[];
  /** Leaders of the runs held: each is its own run's, never an inherited child. */
  leaders: ReadonlySet<number>;
  runs: readonly RunFacts[];
  /** Cookies of the children whose environment could be read and carried one. */
  cookies: ReadonlyMap<number, Cookie>;
  /** Cgroup mode: children in a leaf of this worker, by pid: the record id and run the leaf names. */
  leaves?: ReadonlyMap<number, { id: string; run: string }>;
  /** A spawn is in flight whose leader is not known yet: an unmatched child may be its. */
  spawning: boolean;
}

export type TieEvidence = 'cgroup' | 'cookie' | 'group' | 'member' | 'start-time';

export type Claim =
  | { kind: 'run'; pid: number; startTime: number; key: string; by: TieEvidence; of: number }
  | { kind: 'drift'; pid: number; startTime: number; cookieId: string | null }
  | { kind: 'foreign'; pid: number }
  | { kind: 'wait'; pid: number }
  /** In a leaf of this worker that no run held here claims: the leftover-leaf pass clears it. */
  | { kind: 'leaf'; pid: number };

/** One claim per inherited child (the worker's own helpers, run leaders and zombies are left out), by pid. */
export function tieInherited(input: InheritedInput): Claim[] {
  const out: Claim[] = [];
  for (const c of input.children) {
    if (c.state === 'Z' || input.own.has(c.pid) || input.leaders.has(c.pid)) continue;
    if (c.sid === input.selfSid || input.ownSids.has(c.sid)) continue;
    out.push(tieOne(input, c));
  }
  return out.sort((a, b) => a.pid - b.pid);
}

function tieOne(input: InheritedInput, c: ProcStat): Claim {
  const { pid, startTime } = c;
  const run = (r: RunFacts, by: TieEvidence, of = 1): Claim => ({ kind: 'run', pid, startTime, key: r.key, by, of });
  const leaf = input.leaves?.get(pid);
  if (leaf) {
    const r = input.runs.find((x) => x.id === leaf.id && x.runId === leaf.run);
    return r ? run(r, 'cgroup') : { kind: 'leaf', pid };
  }
  const cookie = input.cookies.get(pid);
  const whose = cookie ? belonging(cookie, input.me) : null;
  if (whose === 'other' || whose === 'foreign') return { kind: 'foreign', pid };
  if (cookie) {
    const r = input.runs.find((x) => x.id === cookie.id && (cookie.run == null || x.runId === null || x.runId === cookie.run));
    if (r) return run(r, 'cookie');
  }
  // Start times count only within the boot they were taken in.
  const before = input.runs.filter((r) => r.bootId === input.bootId && r.startTime <= startTime);
  const latest = (rs: RunFacts[]): RunFacts => rs.reduce((a, b) => (b.startTime > a.startTime ? b : a));
  // A cookie of this host naming no run held here is an orphan whatever else it shares.
  if (!cookie) {
    const group = before.filter((r) => r.pgid === c.pgid || r.sid === c.sid);
    if (group.length > 0) return run(latest(group), 'group');
    const member = before.filter((r) => r.seen.get(pid) === startTime || r.seen.has(c.pgid) || r.seen.has(c.sid));
    if (member.length > 0) return run(latest(member), 'member');
    if (before.length > 0) return run(latest(before), 'start-time', before.length);
  }
  // The leader of a spawn in flight is not known yet, nor is whatever it started.
  if (input.spawning) return { kind: 'wait', pid };
  return { kind: 'drift', pid, startTime, cookieId: cookie?.id ?? null };
}
