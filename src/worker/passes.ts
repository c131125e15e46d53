import { every, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { ReconcileReport } from './reconcile/execute.js';

/** Every this many passes, reconcile also reads the records that ended lately (see reconcileHost). */
const SWEEP_EVERY = 10;
/**
 * How far before the previous sweep the next one reads, for ends recorded while it read.
 * Ends are scored by the clock of whoever recorded them: on a live host that is its own
 * worker; what another host records (a lost host's records) its boot pass reads anyway.
 */
const SWEEP_OVERLAP_MS = 10_000;

export interface PassDeps {
  /** One host pass (reconcileHost with its deps). */
  pass: (opts: { full?: boolean; finishedSince?: number }) => Promise<ReconcileReport>;
  /** Stores usage readings after each pass (cgroup mode); null in process mode. */
  saveUsage: (() => Promise<void>) | null;
  reconcileMs: number;
  log: Logger;
  clock: Clock;
}

/**
 * The host's reconcile passes: which records each pass reads (every 10th also the ones
 * that ended lately), their counters for the heartbeat, and the watch on their timing: no
 * pass for too long while Redis answers means the host queue's consumer is stuck.
 */
export class ReconcilePasses {
  /** reconcilePasses, reconcileMsTotal and drift.<kind> counts, shown with the heartbeat. */
  readonly counters: Record<string, number> = { reconcilePasses: 0, reconcileMsTotal: 0 };
  /** Wall time: the sweep reads ends scored by the wall clock of whoever recorded them. */
  private lastSweepAt: number;
  /** The same moment on the monotonic clock: how long ago it was, whatever the wall clock did since. */
  private lastSweepMono: number;
  /** Monotonic: how long since the last pass is a duration this worker measures. */
  private lastPassAt: number;
  /** A pass job this worker queued has not run yet: no other is queued meanwhile. */
  private queued = false;

  constructor(private readonly deps: PassDeps) {
    this.lastSweepAt = deps.clock.now();
    this.lastSweepMono = this.lastPassAt = deps.clock.mono();
  }

  /** One pass; `full` reads every record of the host (boot recovery, `reapq reconcile`). */
  async run(full = false): Promise<ReconcileReport> {
    const { deps, counters } = this;
    const n = counters.reconcilePasses ?? 0;
    const sweep = full || n % SWEEP_EVERY === 0;
    const [startedAt, startedMono] = [deps.clock.now(), deps.clock.mono()];
    // Ends recorded before a step of this host's clock are scored by the clock before it,
    // those after by the one after: the window reaches back far enough on either.
    const since = Math.min(this.lastSweepAt, startedAt - (startedMono - this.lastSweepMono)) - SWEEP_OVERLAP_MS;
    const report = await deps
      .pass(full ? { full: true } : sweep ? { finishedSince: since } : {})
      // Over, one way or the other: the next may be queued (never two passes at once).
      .finally(() => (this.queued = false));
    if (sweep) [this.lastSweepAt, this.lastSweepMono] = [startedAt, startedMono];
    this.lastPassAt = deps.clock.mono();
    // Usage figures are refreshed by the pass: one HSET for every run held here.
    if (deps.saveUsage) await deps.saveUsage().catch((err) => deps.log.warn({ err: (err as Error).message }, 'usage not stored'));
    counters.reconcilePasses = (counters.reconcilePasses ?? 0) + 1;
    counters.reconcileMsTotal = (counters.reconcileMsTotal ?? 0) + report.durationMs;
    for (const a of report.actions) counters[`drift.${a.kind}`] = (counters[`drift.${a.kind}`] ?? 0) + 1;
    return report;
  }

  /**
   * Queues a pass job on the host's queue (`enqueue`) every reconcileMs of monotonic time,
   * one at a time: none while the last one waits. The router runs it, so passes stay on the
   * one path jobs take. Not a BullMQ job scheduler: its next run is a delayed job due by
   * the wall clock, so after a step back of an hour this host ran no pass for an hour (its
   * heartbeat, on a timer of its own, went on).
   */
  every(enqueue: () => Promise<unknown>): { cancel(): void } {
    return every(this.deps.clock, this.deps.reconcileMs, () => {
      if (this.queued) return;
      this.queued = true;
      enqueue().catch((err: Error) => {
        // Redis away: the next tick tries again (the heartbeat reports the outage).
        this.queued = false;
        this.deps.log.debug({ err: err.message }, 'reconcile pass not queued');
      });
    });
  }

  /**
   * Called while Redis answers (after a heartbeat): no pass for this long means the host
   * queue's consumer is stuck; `renew` replaces the consumers, which take the pass job
   * waiting there, and another is queued in case that one is gone.
   */
  async renewIfStuck(renew: () => Promise<void>): Promise<void> {
    const { deps } = this;
    const since = Math.round(deps.clock.mono() - this.lastPassAt);
    if (since <= Math.max(10 * deps.reconcileMs, 15_000)) return;
    deps.log.error({ sinceLastPassMs: since }, 'no reconcile pass: queue consumers stuck, renewing them');
    this.lastPassAt = deps.clock.mono();
    this.queued = false;
    await renew();
  }
}
