import type { Clock } from '../../shared/clock.js';
import type { UsageEntry } from '../../shared/usage.js';
import type { CgroupManager } from '../cgroup/manager.js';
import type { Held, HeldRuns } from './held.js';

export interface LeafDeps {
  hostId: string;
  cgroups: CgroupManager;
  held: HeldRuns;
  clock: Clock;
  /** Stores cgroup usage readings (the usage hash). */
  saveUsage: (entries: Array<readonly [string, UsageEntry]>) => Promise<void>;
  background: (what: string, ctx: Record<string, unknown>, p: Promise<unknown>) => void;
}

/** Cgroup mode: the leaves of the runs, their usage, and their removal once empty. */
export class Leaves {
  constructor(private readonly deps: LeafDeps) {}

  /** Cgroup usage of every run this worker holds, read now (one small file read or three each). */
  usageSnapshot(): Array<readonly [string, UsageEntry]> {
    const out: Array<readonly [string, UsageEntry]> = [];
    for (const [key, h] of this.deps.held.runs()) {
      const r = this.reading(key, h);
      if (r) out.push(r);
    }
    return out;
  }

  /** What a run has used so far, read from its leaf; null for a run not up or with no leaf. */
  private reading(key: string, h: Held): readonly [string, UsageEntry] | null {
    const u = h.leaf && h.runId && h.phase === 'up' ? this.deps.cgroups.usage(h.leaf) : null;
    return u ? [key, { ...u, run: h.runId!, host: this.deps.hostId, at: this.deps.clock.now() }] : null;
  }

  /** Leaf cgroups in this worker's subtree, for the reconcile pass. */
  list(): string[] {
    return this.deps.cgroups.leaves();
  }

  /** Leaf cgroups in the subtree of a release before fleet ids: this fleet's only by their record. */
  legacyList(): string[] {
    return this.deps.cgroups.legacyLeaves();
  }

  /**
   * Kills what is in a leaf (cgroup.kill), waits for it to empty (2 s at most), removes it.
   * Returns the pids it held.
   */
  async clear(leaf: string): Promise<number[]> {
    const cg = this.deps.cgroups;
    const pids = cg.members(leaf);
    if (pids.length > 0) {
      cg.kill(leaf);
      await this.emptied(leaf, 2000);
    }
    await cg.remove(leaf);
    return pids;
  }

  pathOf(leaf: string): string {
    return this.deps.cgroups.pathOf(leaf);
  }

  /**
   * A run forgotten once its tree is gone: its leaf goes too (a leaf still in use is left
   * to reconcile), after a last reading of what the run used (its CPU time and peak memory).
   * Normally release() did both before the run's end was written; this catches the rest.
   */
  retire(key: string, held: Held): void {
    const leaf = held.leaf;
    if (!leaf || this.deps.cgroups.populated(leaf) === true) return;
    this.deps.background('cgroup removal', { processId: key, leaf }, this.release(key, held));
  }

  /**
   * The run's tree is gone (its leaf seen empty): the last reading of what it used is saved
   * and its leaf removed, both awaited, so the end written next is true of the cgroup too.
   * A leaf found in use again is left to the reconcile pass (remove() fails on it).
   */
  async release(key: string, held: Held): Promise<void> {
    if (!held.leaf) return;
    const last = this.reading(key, held);
    if (last) {
      try {
        await this.deps.saveUsage([last]);
      } catch {
        // The reading only informs; Redis away must not hold the run's end back (its append meets the same Redis).
      }
    }
    // Removed: nothing left for retire() at forget to do.
    if (await this.deps.cgroups.remove(held.leaf)) held.leaf = null;
  }

  /** Resolves once the leaf is empty (watched), or after ms. */
  private emptied(leaf: string, ms: number): Promise<void> {
    const cg = this.deps.cgroups;
    return new Promise((resolve) => {
      const done = () => {
        timer.cancel();
        unwatch();
        resolve();
      };
      const timer = this.deps.clock.setTimeout(done, ms);
      const unwatch = cg.watch(leaf, () => {
        if (cg.populated(leaf) !== true) done();
      });
      if (cg.populated(leaf) !== true) done();
    });
  }
}
