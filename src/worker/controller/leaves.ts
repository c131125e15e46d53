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
      if (!h.leaf || !h.runId || h.phase !== 'up') continue;
      const u = this.deps.cgroups.usage(h.leaf);
      if (u) out.push([key, { ...u, run: h.runId, host: this.deps.hostId, at: this.deps.clock.now() }]);
    }
    return out;
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
   */
  retire(key: string, held: Held): void {
    const cg = this.deps.cgroups;
    const leaf = held.leaf;
    if (!leaf || cg.populated(leaf) === true) return;
    const u = held.runId && held.phase === 'up' ? cg.usage(leaf) : null;
    const last = u
      ? this.deps.saveUsage([[key, { ...u, run: held.runId!, host: this.deps.hostId, at: this.deps.clock.now() }]])
      : Promise.resolve();
    this.deps.background(
      'cgroup removal',
      { processId: key, leaf },
      last.finally(() => cg.remove(leaf)),
    );
  }

  /**
   * The run's tree is gone: the last reading of what it used is saved and its leaf removed,
   * both awaited, so the end written next is true of the cgroup too. A member killed a
   * moment ago may still be leaving the leaf: its emptying is awaited briefly; a leaf still
   * in use then is left to retire() and the reconcile pass.
   */
  async release(key: string, held: Held): Promise<void> {
    const cg = this.deps.cgroups;
    const leaf = held.leaf;
    if (!leaf) return;
    await this.emptied(leaf, 500);
    const u = held.runId && held.phase === 'up' ? cg.usage(leaf) : null;
    if (u) {
      try {
        await this.deps.saveUsage([[key, { ...u, run: held.runId!, host: this.deps.hostId, at: this.deps.clock.now() }]]);
      } catch {
        // The reading only informs; Redis away must not hold the run's end back (its append meets the same Redis).
      }
    }
    await cg.remove(leaf);
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
