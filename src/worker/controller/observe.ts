import type { ProcessRecord } from '../../shared/record.js';
import type { CgroupManager } from '../cgroup/manager.js';
import { findTree, findTreeFast, type HostOs } from '../host-os.js';
import { identityOf, leaderState, type Identity, type Self } from '../tree.js';
import { lookForMain } from './daemon-main.js';
import type { Tree } from './decision.js';
import type { Held, HeldRuns } from './held.js';
import { inheritedClaims, inheritedOf } from './inherit.js';

export interface ObserveDeps {
  hostId: string;
  me: Self;
  os: HostOs;
  cgroups: CgroupManager | null;
  /** Whether orphans of this worker's trees re-parent to it (prctl succeeded). */
  isSubreaper: () => boolean;
  ownChildren: ReadonlySet<number>;
  held: HeldRuns;
  /** A watched leaf emptied: the run's key is looked at again. */
  onEmptied: (key: string) => void;
}

/**
 * One snapshot of a record's world, for one decision: the record (read by the caller),
 * the process table or the cgroup leaf of the run in question, and what this worker
 * remembers of the members it has seen. Reads only; the one write is to the held run's
 * memory of members (a stop keeps every member it saw until that member is dead).
 */
export class Observer {
  constructor(private readonly deps: ObserveDeps) {}

  /** What the process table (or the leaf) shows of the run in question; null if none is known. */
  observe(rec: ProcessRecord | null, held: Held | null): Tree | null {
    const { os, hostId, cgroups } = this.deps;
    if (held?.phase === 'orphans') return { members: this.aliveSeen(held), groupAlive: false, leader: 'gone' };
    const staleHeld = held && held.runId !== null && (!rec || rec.runId !== held.runId || rec.host !== hostId || rec.state === 'pending');
    let ident: Identity | null = null;
    if (staleHeld) ident = held.ident;
    else if (rec && rec.host === hostId && (rec.bootId === null || rec.bootId === os.table.bootId())) ident = identityOf(rec);
    // A daemon's launcher is known only to the worker that spawned it: its run is watched by it until the main is recorded.
    const launcher = !staleHeld && !ident && rec?.daemon && held?.phase === 'up' && held.runId === rec.runId ? held.ident : null;
    ident ??= launcher;
    if (!ident) return null;
    const leaf = staleHeld ? held.leaf : (held?.leaf ?? cgroups?.leafOf(rec?.cgroup ?? null) ?? null);
    if (launcher)
      return this.withMain(rec!, launcher, held, leaf, leaf && cgroups ? this.observeLeaf(cgroups, leaf, launcher, held, rec) : null);
    if (leaf && cgroups) return this.observeLeaf(cgroups, leaf, ident, held, rec);
    const leader = leaderState(ident, os.table.stat(ident.pid));
    // A healthy running process needs no tree walk: its leader says enough.
    if (!staleHeld && rec && rec.desired === 'running' && leader === 'alive' && (rec.state === 'running' || rec.state === 'starting')) {
      return { members: [ident.pid], groupAlive: true, leader };
    }
    const groupOurs = leader !== 'reused';
    const scan = (): number[] => {
      const found = new Set(this.find(ident, held, rec));
      if (held) for (const p of this.aliveSeen(held)) found.add(p);
      return [...found].sort((a, b) => a - b);
    };
    let members = scan();
    const groupAlive = groupOurs && os.exists(-ident.pgid);
    // A walk can miss a process re-parented while it walks; re-parenting only moves
    // processes towards the worker, so a second walk after an empty group cannot.
    if (members.length === 0 && !groupAlive) members = scan();
    if (held) this.remember(held, members);
    return { members, groupAlive, leader };
  }

  /** A daemon's launch: the launcher's tree, and once the launcher is gone, its main process or why none is found. */
  private withMain(rec: ProcessRecord, launcher: Identity, held: Held | null, leaf: string | null, inLeaf: Tree | null): Tree {
    const { os } = this.deps;
    let tree = inLeaf;
    if (!tree) {
      const leader = leaderState(launcher, os.table.stat(launcher.pid));
      const members = leader === 'alive' ? [launcher.pid] : this.find(launcher, held, rec);
      tree = { members, groupAlive: os.exists(-launcher.pgid), leader };
    }
    if (tree.leader === 'alive') return tree;
    return { ...tree, daemon: lookForMain(this.deps, rec, launcher, leaf, tree.members) };
  }

  /** A leaf no live run claimed when the pass listed them: its path and what is in it now. */
  observeLeftoverLeaf(leaf: string): { path: string; members: number[] } | null {
    const cg = this.deps.cgroups;
    if (!cg) return null;
    const { os, ownChildren } = this.deps;
    return { path: cg.pathOf(leaf), members: cg.members(leaf).filter((p) => p !== os.selfPid && !ownChildren.has(p)) };
  }

  /**
   * Cgroup mode: the members are the leaf's, whatever their group, session or
   * environment; no process table walk. The tree is alive while the leaf is populated.
   */
  private observeLeaf(cg: CgroupManager, leaf: string, ident: Identity, held: Held | null, rec: ProcessRecord | null): Tree {
    const { os, ownChildren } = this.deps;
    const leader = leaderState(ident, os.table.stat(ident.pid));
    const populated = cg.populated(leaf) === true;
    const members = populated ? cg.members(leaf).filter((p) => p !== os.selfPid && !ownChildren.has(p)) : this.beyondLeaf(cg, ident, held);
    if (held && !held.leaf) held.leaf = leaf;
    // A stop (or leftovers) waits for `populated 0`: watched, so the wait needs no fast polls.
    const stopping = !!held && (held.kill.deadline !== null || held.phase === 'orphans' || rec?.desired === 'stopped');
    if (held && populated && stopping && !held.unwatch) {
      const key = rec?.id ?? ident.id;
      const emptied = () => {
        if (cg.populated(leaf) !== true) this.deps.onEmptied(key);
      };
      held.unwatch = cg.watch(leaf, emptied);
      // It may have emptied between the read above and the watch: that change was not seen.
      emptied();
    }
    // Members outside the leaf are not what its watch reports on: looked at again at the usual pace.
    const watched = populated && held?.unwatch != null;
    const escaped = populated ? [] : members.map((pid) => ({ pid, comm: os.table.stat(pid)?.comm ?? '?', cgroup: cg.cgroupOf(pid) }));
    // A daemon followed by its leaf alone (no pid file) lives while the leaf holds anything, whatever became of its first main.
    const byLeaf = !!rec?.daemon && rec.pidFile === null && rec.pid !== null;
    const state = byLeaf ? (populated ? 'alive' : 'gone') : leader;
    return { members, groupAlive: populated, leader: state, watched, oomKills: cg.oomKills(leaf), ...(escaped.length ? { escaped } : {}) };
  }

  /**
   * An empty leaf is the end of the tree only where nothing could leave it: a tenant
   * allowed to write cgroup.procs (root) can move out. So before an empty leaf counts as
   * gone, what the kernel cannot show there is looked for: the recorded leader (pid and
   * start time), its group and session, carriers of its cookie, members seen earlier, and
   * children the worker inherited since the run began that are in no leaf of this worker
   * (a double fork re-parents them to it). The /proc walk is paid only when one of the
   * cheap signs says something may be left.
   */
  private beyondLeaf(cg: CgroupManager, ident: Identity, held: Held | null): number[] {
    const { os, me, ownChildren } = this.deps;
    const found = new Set<number>(held ? this.aliveSeen(held) : []);
    const others = this.deps.held.leaders(held ?? undefined);
    const inherited: number[] = [];
    for (const c of os.table.children(os.selfPid)) {
      if (ownChildren.has(c) || others.has(c)) continue;
      const s = os.table.stat(c);
      if (!s || s.state === 'Z' || s.startTime < ident.startTime || cg.leafOf(cg.cgroupOf(c)) !== null) continue;
      inherited.push(c);
    }
    // A leader that is gone left its orphans to the worker (its subreaper): they are among the inherited.
    if (leaderState(ident, os.table.stat(ident.pid)) === 'alive' || inherited.length > 0 || found.size > 0) {
      for (const p of findTree(os, ident, me)) found.add(p);
      const queue = [...inherited];
      while (queue.length > 0) {
        const p = queue.pop()!;
        const s = os.table.stat(p);
        if (found.has(p) || !s || s.state === 'Z' || s.startTime < ident.startTime) continue;
        found.add(p);
        queue.push(...os.table.children(p));
      }
    }
    for (const p of found) if (p === os.selfPid || ownChildren.has(p) || others.has(p)) found.delete(p);
    if (held) this.remember(held, found);
    return [...found].sort((a, b) => a - b);
  }

  /**
   * The tree from its group, session, cookie and ancestry, and the children the worker
   * inherited that are tied to this run (inherited.ts): a daemon that left the session and
   * wrote over its environment shows none of the other marks.
   */
  private find(ident: Identity, held: Held | null, rec: ProcessRecord | null): number[] {
    const { os, me } = this.deps;
    const base =
      !held?.spawnedHere || !this.deps.isSubreaper() ? findTree(os, ident, me) : findTreeFast(os, ident, this.deps.held.leaders(held));
    const { pgid, sid, startTime } = ident;
    const runId = held?.runId ?? rec?.runId ?? null;
    const self = { key: ident.id, id: ident.id, runId, pgid, sid, startTime, bootId: os.table.bootId(), seen: held?.seen ?? new Map() };
    const tied = inheritedOf(os, inheritedClaims(this.deps, self), ident.id, startTime);
    if (tied.size === 0) return base;
    return [...new Set([...base, ...tied.keys()])].sort((a, b) => a - b);
  }

  /** Adds live pids, with their start time, to the members a stop keeps until they are dead. */
  remember(h: Held, pids: Iterable<number>): void {
    const { os } = this.deps;
    for (const p of pids) {
      if (h.seen.has(p) || p === os.selfPid) continue;
      const s = os.table.stat(p);
      if (s && s.state !== 'Z') h.seen.set(p, s.startTime);
    }
  }

  /** Members seen earlier that still live (same start time), and their descendants. */
  private aliveSeen(held: Held): number[] {
    const { os } = this.deps;
    const out = new Set<number>();
    const queue: number[] = [];
    for (const [pid, st] of held.seen) {
      const s = os.table.stat(pid);
      if (s && s.startTime === st && s.state !== 'Z') {
        out.add(pid);
        queue.push(pid);
      } else held.seen.delete(pid);
    }
    while (queue.length > 0) {
      for (const c of os.table.children(queue.pop()!)) {
        if (out.has(c) || c === os.selfPid) continue;
        const s = os.table.stat(c);
        if (!s || s.state === 'Z') continue;
        out.add(c);
        held.seen.set(c, s.startTime);
        queue.push(c);
      }
    }
    return [...out];
  }
}
