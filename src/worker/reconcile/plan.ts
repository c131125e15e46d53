import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import type { ProcStat } from '../../shared/proc-stat.js';
import { belonging, carries, identityOf, treeMembers, type Cookie, type Self } from '../tree.js';

/**
 * What the pass saw of one id that the controller must look at. Only what the look needs
 * to know that the record cannot tell (which pids, of which run); what the difference is
 * and what to do about it is decide()'s to say.
 */
export type Sighting =
  /** A record whose world may differ from it: a live run nobody here holds, or something alive after its end. */
  | { kind: 'look'; id: string }
  /**
   * Carriers of this host's cookie for this id that no record of this host claims (by run).
   * `legacy`: they carry no fleet (an older release started them) and this pass read no
   * record of the id: theirs only if this fleet's Redis holds one (decide() reads it).
   */
  | { kind: 'orphans'; id: string; run: string | null; pids: number[]; legacy?: true }
  /** Carriers of this host id's cookie of another fleet (another installation, another Redis): reported, never touched. */
  | { kind: 'foreign'; id: string; fleet: string; pids: number[] }
  /** A spawn that began in a worker that died before recording it, with its cookie-carriers. */
  | { kind: 'abandoned'; id: string; pids: number[] }
  /** Zombies whose parent is this worker and that libuv will not reap. */
  | { kind: 'reap'; pids: number[] };

export interface PlanInput {
  hostId: string;
  me: Self;
  selfPid: number;
  bootId: string;
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
 * Compares what is recorded for this host with what the process table shows and names the
 * ids that need a look (docs/controller.md). Pure: every row is a unit test with plain
 * data. It decides nothing: a record it names is read again and judged by decide().
 */
export function plan(input: PlanInput): Sighting[] {
  const { records, procs, cookies, busy, selfPid, me } = input;
  const out: Sighting[] = [];
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
    // Before the spawn was recorded it is abandoned: nobody here is spawning it.
    if (rec.state === 'starting' && rec.pid === null) {
      out.push({ kind: 'abandoned', id: rec.id, pids: carriersOf(rec.id, cookies, me) });
      continue;
    }
    const ident = identityOf(rec);
    if (!ident) continue;
    if (FINAL_STATES.has(rec.state)) {
      if (!pgids.has(ident.pgid) && !sids.has(ident.sid) && !cookieIds.has(rec.id)) continue;
      // After a reboot the recorded group ids mean nothing: only the cookie still identifies.
      const rebooted = rec.bootId !== null && rec.bootId !== input.bootId;
      const alive = rebooted ? carriersOf(rec.id, cookies, me) : treeMembers(ident, procs, cookies, selfPid, me);
      if (alive.length > 0) out.push({ kind: 'look', id: rec.id });
      continue;
    }
    // Live, and nobody here holds it: adopt, a missed exit, leftovers, a reused pid, a
    // reboot, an interrupted stop. Which one is decide()'s to say, on a fresh read.
    out.push({ kind: 'look', id: rec.id });
  }

  out.push(...strays(input, claimed, byPid));

  const zombies = procs.filter((p) => p.ppid === selfPid && p.state === 'Z' && !input.ownChildren.has(p.pid)).map((p) => p.pid);
  if (zombies.length > 0) out.push({ kind: 'reap', pids: zombies });
  return out;
}

/**
 * Carriers of this host id's cookie that no record of this host claims, grouped by id and
 * run (leftovers of an earlier run are orphans even while a later one lives) or, for
 * another fleet's, by id and fleet. The controller reads the record again before it acts,
 * so a run spawned after this snapshot was taken is never mistaken for an orphan.
 */
function strays(input: PlanInput, claimed: ReadonlySet<string>, byPid: ReadonlyMap<number, ProcStat>): Sighting[] {
  const { records, cookies, busy, selfPid, me } = input;
  const current = new Map(records.map((r) => [r.id, r]));
  type Stray = Extract<Sighting, { kind: 'orphans' | 'foreign' }>;
  const groups = new Map<string, Stray>();
  for (const [pid, c] of cookies) {
    const whose = belonging(c, me);
    // No owner at all: a cookie of no host; only a record's tree takes it (treeMembers).
    if (whose === 'other' || c.owner === null || busy.has(c.id)) continue;
    const p = byPid.get(pid);
    if (!p || p.state === 'Z' || pid === selfPid) continue;
    const rec = current.get(c.id);
    const run = c.run ?? null;
    let k: string;
    let s: Stray;
    if (whose === 'foreign') {
      k = `foreign ${c.id} ${c.fleet!}`;
      s = { kind: 'foreign', id: c.id, fleet: c.fleet!, pids: [] };
    } else {
      if (claimed.has(c.id) && (run === null || rec?.runId === null || rec?.runId === run)) continue;
      // Without a fleet, a record of the id read by this pass is what makes it this fleet's.
      const legacy = whose === 'legacy' && !rec;
      k = `${legacy ? 'legacy' : 'orphans'} ${c.id} ${run ?? ''}`;
      s = { kind: 'orphans', id: c.id, run, pids: [], ...(legacy ? { legacy: true as const } : {}) };
    }
    const g = groups.get(k) ?? s;
    g.pids.push(pid);
    groups.set(k, g);
  }
  for (const g of groups.values()) g.pids.sort((a, b) => a - b);
  return [...groups.values()];
}

function carriersOf(id: string, cookies: ReadonlyMap<number, Cookie>, me: Self): number[] {
  const out: number[] = [];
  for (const [pid, c] of cookies) if (carries(c, id, me)) out.push(pid);
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
