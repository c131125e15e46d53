import type { ProcStat } from '../../shared/proc-stat.js';
import type { CgroupManager } from '../cgroup/manager.js';
import { readCookies, type HostOs } from '../host-os.js';
import { tieInherited, type Claim, type RunFacts } from '../inherited.js';
import type { Self } from '../tree.js';
import type { HeldRuns } from './held.js';

export interface InheritDeps {
  os: HostOs;
  /** This host of this fleet, as cookies name it. */
  me: Self;
  /** Pids the worker spawned itself (forkers, the dev's Redis): never inherited. */
  ownChildren: ReadonlySet<number>;
  held: HeldRuns;
  cgroups: CgroupManager | null;
}

/**
 * The worker's inherited children, read from /proc now, each tied to the run it came
 * from (inherited.ts). `extra` is a run being looked at that no held entry describes yet
 * (a finished record's leftovers). Reads one stat per child of the worker, and the
 * environment and cgroup only of children the worker did not spawn: a handful.
 */
export function inheritedClaims(deps: InheritDeps, extra?: RunFacts): Claim[] {
  const { os, held } = deps;
  const children: ProcStat[] = [];
  for (const pid of os.table.children(os.selfPid)) {
    const s = os.table.stat(pid);
    if (s) children.push(s);
  }
  const ownSids = new Set(children.filter((c) => deps.ownChildren.has(c.pid)).map((c) => c.sid));
  const selfSid = os.table.stat(os.selfPid)?.sid ?? os.selfPid;
  const bootId = os.table.bootId();
  const runs: RunFacts[] = [];
  let spawning = false;
  for (const [key, h] of held.runs()) {
    if (h.phase === 'spawning') spawning = true;
    const i = h.ident;
    // Every held run is of this boot: spawned here, or adopted only with the boot id matching.
    if (i) runs.push({ key, id: i.id, runId: h.runId, pgid: i.pgid, sid: i.sid, startTime: i.startTime, bootId, seen: h.seen });
  }
  if (extra && !runs.some((r) => r.key === extra.key)) runs.push(extra);
  const leaders = held.leaders();
  const candidates = children.filter(
    (c) => c.state !== 'Z' && !deps.ownChildren.has(c.pid) && !leaders.has(c.pid) && c.sid !== selfSid && !ownSids.has(c.sid),
  );
  const cookies = readCookies(
    os,
    candidates.map((c) => c.pid),
  );
  const cg = deps.cgroups;
  const leaves = new Map<number, { id: string; run: string }>();
  if (cg) {
    for (const c of candidates) {
      const leaf = cg.leafOf(cg.cgroupOf(c.pid));
      const at = leaf?.lastIndexOf('@') ?? -1;
      if (leaf && at > 0) leaves.set(c.pid, { id: leaf.slice(0, at), run: leaf.slice(at + 1) });
    }
  }
  return tieInherited({
    bootId,
    me: deps.me,
    selfSid,
    own: deps.ownChildren,
    ownSids,
    children,
    leaders,
    runs,
    cookies,
    leaves,
    spawning,
  });
}

/**
 * The inherited children tied to one run, and every descendant of theirs that started
 * within the run (its leader's start time or later), with their start times.
 */
export function inheritedOf(os: HostOs, claims: readonly Claim[], key: string, startTime: number): Map<number, number> {
  const found = new Map<number, number>();
  const queue: number[] = [];
  for (const c of claims) {
    if (c.kind !== 'run' || c.key !== key) continue;
    found.set(c.pid, c.startTime);
    queue.push(c.pid);
  }
  while (queue.length > 0) {
    for (const pid of os.table.children(queue.pop()!)) {
      if (found.has(pid) || pid === os.selfPid) continue;
      const s = os.table.stat(pid);
      if (!s || s.state === 'Z' || s.startTime < startTime) continue;
      found.set(pid, s.startTime);
      queue.push(pid);
    }
  }
  return found;
}
