import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import type { ProcStat } from '../../shared/proc-stat.js';
import { identityOf, leaderState, treeMembers, type Cookie } from '../tree.js';

export type Drift =
  /** Alive, identity matches, nobody here watches it. */
  | { kind: 'adopt'; id: string }
  /** Nothing of it is alive and nobody saw it end. */
  | { kind: 'missed-exit'; id: string }
  /** The leader is gone but members or cookie-carriers live on. */
  | { kind: 'stop-leftovers'; id: string; pids: number[] }
  /** The recorded pid now belongs to another process: never touch it. */
  | { kind: 'lost'; id: string; reason: string }
  /** The record says it ended, yet parts of it are alive. */
  | { kind: 'stop-after-end'; id: string; pids: number[] }
  /** Carries this host's cookie, but no record of this host claims it. */
  | { kind: 'stop-orphan'; id: string; run: string | null; pids: number[] }
  /** A stop whose worker is gone: resume it (escalating if its deadline passed). */
  | { kind: 'resume-stop'; id: string; overdue: boolean }
  /** A spawn that began in a worker that died before recording it. */
  | { kind: 'abandoned-spawn'; id: string; pids: number[] }
  /** Zombies whose parent is this worker and that libuv will not reap. */
  | { kind: 'reap'; pids: number[] };

export interface PlanInput {
  hostId: string;
  owner: string;
  selfPid: number;
  bootId: string;
  now: number;
  /** Records whose host is this host. */
  records: readonly ProcessRecord[];
  procs: readonly ProcStat[];
  cookies: ReadonlyMap<number, Cookie>;
  /** Ids this worker watches, spawns or stops right now: they are its to settle. */
  busy: ReadonlySet<string>;
  /** Pids spawned by this worker through child_process. */
  ownChildren: ReadonlySet<number>;
}

/**
 * Compares what is recorded for this host with what the process table shows and says
 * what to do about each difference (DESIGN.md, "Drift the reconciler must repair"). Pure:
 * every row of the drift table is a unit test with plain data.
 */
export function plan(input: PlanInput): Drift[] {
  const { records, procs, cookies, busy, selfPid, owner } = input;
  const actions: Drift[] = [];
  const claimed = new Set<string>();
  // Finished records are many and almost always fully gone: only those whose group,
  // session or cookie still shows up in the table are worth a closer look.
  const pgids = new Set<number>();
  const sids = new Set<number>();
  for (const p of procs) {
    if (p.state === 'Z') continue;
    pgids.add(p.pgid);
    sids.add(p.sid);
  }
  const cookieIds = new Set([...cookies.values()].map((c) => c.id));
  const byPid = new Map(procs.map((p) => [p.pid, p]));

  for (const rec of records) {
    if (rec.host !== input.hostId) continue;
    claimed.add(rec.id);
    if (busy.has(rec.id)) continue;
    const ident = identityOf(rec);

    // Spawned but not yet ready is judged like running; before the spawn was recorded it is abandoned.
    if (rec.state === 'starting' && rec.pid === null) {
      const carriers = carriersOf(rec.id, cookies, owner);
      actions.push({ kind: 'abandoned-spawn', id: rec.id, pids: carriers });
      continue;
    }
    if (!ident) continue;
    // After a reboot the recorded group ids mean nothing: only the cookie still identifies.
    const rebooted = rec.bootId !== null && rec.bootId !== input.bootId;
    const members = () => (rebooted ? carriersOf(rec.id, cookies, owner) : treeMembers(ident, procs, cookies, selfPid, owner));

    if (FINAL_STATES.has(rec.state)) {
      if (!pgids.has(ident.pgid) && !sids.has(ident.sid) && !cookieIds.has(rec.id)) continue;
      const alive = members();
      if (alive.length > 0) actions.push({ kind: 'stop-after-end', id: rec.id, pids: alive });
      continue;
    }
    if (rebooted) {
      actions.push({ kind: 'lost', id: rec.id, reason: `host rebooted (boot id ${rec.bootId} is now ${input.bootId})` });
      continue;
    }
    if (rec.state === 'stopping') {
      actions.push({ kind: 'resume-stop', id: rec.id, overdue: rec.killDeadline !== null && rec.killDeadline <= input.now });
      continue;
    }
    // running, or starting with its identity recorded
    const leader = leaderState(ident, byPid.get(ident.pid));
    const left = leader === 'alive' ? [] : members();
    if (leader === 'alive') {
      actions.push({ kind: 'adopt', id: rec.id });
    } else if (left.length > 0) {
      actions.push({ kind: 'stop-leftovers', id: rec.id, pids: left });
    } else if (leader === 'reused') {
      actions.push({ kind: 'lost', id: rec.id, reason: `pid ${ident.pid} was reused by another process` });
    } else {
      actions.push({ kind: 'missed-exit', id: rec.id });
    }
  }

  // Grouped by run: leftovers of an earlier run are orphans even while a later one lives.
  // The controller reads the record again before it acts, so a run spawned after this
  // snapshot was taken is never mistaken for an orphan.
  const current = new Map(records.map((r) => [r.id, r]));
  const orphans = new Map<string, { id: string; run: string | null; pids: number[] }>();
  for (const [pid, c] of cookies) {
    if (c.owner !== owner || busy.has(c.id)) continue;
    const rec = current.get(c.id);
    const run = c.run ?? null;
    if (claimed.has(c.id) && (run === null || rec?.runId === null || rec?.runId === run)) continue;
    const p = byPid.get(pid);
    if (!p || p.state === 'Z' || pid === selfPid) continue;
    const k = `${c.id} ${run ?? ''}`;
    const o = orphans.get(k) ?? { id: c.id, run, pids: [] };
    o.pids.push(pid);
    orphans.set(k, o);
  }
  for (const o of orphans.values()) actions.push({ kind: 'stop-orphan', id: o.id, run: o.run, pids: o.pids.sort((a, b) => a - b) });

  const zombies = procs.filter((p) => p.ppid === selfPid && p.state === 'Z' && !input.ownChildren.has(p.pid)).map((p) => p.pid);
  if (zombies.length > 0) actions.push({ kind: 'reap', pids: zombies });
  return actions;
}

function carriersOf(id: string, cookies: ReadonlyMap<number, Cookie>, owner: string): number[] {
  const out: number[] = [];
  for (const [pid, c] of cookies) if (c.id === id && (c.owner === null || c.owner === owner)) out.push(pid);
  return out.sort((a, b) => a - b);
}

/**
 * Leaf cgroups (`<id>@<run>`) that no live run of this host claims: what a worker killed
 * mid-spawn, a run whose record went away, or a leaf created by hand. Cgroup membership is
 * the truth here, so whatever is in such a leaf is killed, whatever its environment says.
 */
export function cgroupLeftovers(
  leaves: readonly string[],
  records: readonly ProcessRecord[],
  hostId: string,
  busy: ReadonlySet<string>,
): Array<{ leaf: string; id: string; run: string }> {
  const live = new Map<string, string | null>();
  for (const r of records) if (r.host === hostId && !FINAL_STATES.has(r.state) && r.state !== 'pending') live.set(r.id, r.runId);
  const out: Array<{ leaf: string; id: string; run: string }> = [];
  for (const leaf of leaves) {
    const at = leaf.lastIndexOf('@');
    if (at <= 0) continue;
    const id = leaf.slice(0, at);
    const run = leaf.slice(at + 1);
    if (busy.has(id) || live.get(id) === run) continue;
    out.push({ leaf, id, run });
  }
  return out;
}
