import type { Clock } from '../../shared/clock.js';
import type { Config } from '../../shared/config.js';
import { CorruptRecordError } from '../../shared/errors.js';
import type { EventStore } from '../../shared/event-store.js';
import type { Logger } from '../../shared/logger.js';
import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import type { UsageEntry } from '../../shared/usage.js';
import type { CgroupManager, ContainmentInfo } from '../cgroup/manager.js';
import type { Forker } from '../forker.js';
import type { HostOs } from '../host-os.js';
import type { LogShipper } from '../log-shipper.js';
import type { Policy } from '../policy.js';
import type { PortAllocator } from '../ports.js';
import type { Self } from '../tree.js';
import { decide } from './decide.js';
import type { Trigger } from './decision.js';
import { ExitWatch } from './exits.js';
import { Executor } from './execute.js';
import { HeldRuns, isOrphanKey, ORPHANS } from './held.js';
import { inheritedClaims } from './inherit.js';
import { Leaves } from './leaves.js';
import { RunLogs } from './logs.js';
import { Observer } from './observe.js';
import type { Note } from './reasons.js';
import { checkReady } from './ready-check.js';
import { stopWithoutRedis } from './self-stop.js';
import { Spawner, type StartOutcome } from './spawn.js';
import { newStats } from './stats.js';
import { WorkQueue } from './work-queue.js';

export type { StartOutcome };

export interface ControllerDeps {
  config: Config;
  /** This host of this fleet, as its processes' cookies name it. */
  me: Self;
  store: EventStore;
  os: HostOs;
  log: Logger;
  ports: PortAllocator;
  /** Enqueues the start job of a restart after its backoff. */
  enqueueStart: (rec: ProcessRecord, delayMs: number) => Promise<void>;
  clock: Clock;
  runnerEnv: NodeJS.ProcessEnv;
  /** What this host refuses to run; enforced here, whatever the producer checked. */
  policy: Policy;
  shipper: LogShipper;
  /** Whether orphans of this worker's trees re-parent to it (prctl succeeded). */
  isSubreaper: () => boolean;
  forker: Forker;
  /** Shared with the forker client, which adds the forker's pid. */
  ownChildren: Set<number>;
  /** Runs background work; every rejection is caught and logged with its context. */
  background: (what: string, ctx: Record<string, unknown>, p: Promise<unknown>) => void;
  /** Cgroup mode: every run in its own leaf cgroup; null in process mode. */
  cgroups: CgroupManager | null;
  containment: ContainmentInfo;
  /** Stores cgroup usage readings (the usage hash). */
  saveUsage: (entries: Array<readonly [string, UsageEntry]>) => Promise<void>;
}

const MAX_STEPS = 8;
/** How long a daemon's main process may take to show after its launcher exited 0 (its pid file is often written late). */
const DAEMON_WAIT_MS = 10_000;

/**
 * The one control path of a worker: every trigger (start job, stop job, exit report,
 * readiness result, deadline, reconcile pass, orphan sighting) enqueues the id; one
 * `reconcileRecord(id)` at a time per id reads the record, observes its world, asks the
 * pure `decide()` what to do, and has the executor carry it out. The rooms (docs/architecture.md):
 * observe.ts, decide.ts, execute.ts, spawn.ts, ready-check.ts, logs.ts, exits.ts, leaves.ts.
 */
export class Controller {
  readonly ownChildren: Set<number>;
  readonly stats = newStats();
  private readonly held = new HeldRuns();
  private readonly queue: WorkQueue<Trigger>;
  private readonly corruptSeen = new Set<string>();
  private readonly logs: RunLogs;
  private readonly exits: ExitWatch;
  private readonly observer: Observer;
  private readonly spawner: Spawner;
  private readonly leaves: Leaves | null;
  private readonly executor: Executor;
  /** Report lines being collected for reconcile passes, by id. */
  private readonly listeners = new Map<string, Set<Note[]>>();
  /** At-most-one records of this host as last read: what a stop without Redis knows of them. */
  private readonly atMostOne = new Map<string, ProcessRecord>();

  constructor(private readonly deps: ControllerDeps) {
    this.ownChildren = deps.ownChildren;
    const { hostId } = deps.config;
    const held = this.held;
    const lookAgain = (what: string) => (key: string) => deps.background(what, { processId: key }, this.trigger(key, { kind: 'event' }));
    this.queue = new WorkQueue<Trigger>(
      (id, triggers) => this.reconcileRecord(id, triggers),
      { kind: 'tick' },
      (id, err, ms) =>
        deps.log.warn({ processId: id, err: (err as Error).message, retryInMs: ms }, 'reconcile of a process failed: retrying'),
      deps.clock,
    );
    this.logs = new RunLogs(deps.config.dataDir, deps.shipper, deps.background);
    this.exits = new ExitWatch({ os: deps.os, log: deps.log, held, clock: deps.clock, onExit: lookAgain('exit handling') });
    this.observer = new Observer({ ...deps, hostId, held, onEmptied: lookAgain('cgroup emptied') });
    this.spawner = new Spawner({ ...deps, hostId, held, logs: this.logs, exits: this.exits, stats: this.stats });
    this.leaves = deps.cgroups ? new Leaves({ ...deps, cgroups: deps.cgroups, hostId, held }) : null;
    const readyDeps = { ...deps, held, logFile: (id: string) => this.logs.file(id), onVerdict: lookAgain('readiness check') };
    this.executor = new Executor({
      ...deps,
      hostId,
      held,
      observer: this.observer,
      spawner: this.spawner,
      exits: this.exits,
      logs: this.logs,
      leaves: this.leaves,
      stats: this.stats,
      checkReady: (h, rec) => checkReady(readyDeps, h, rec),
      trigger: (key, t) => this.trigger(key, t),
      note: (id, n) => {
        for (const notes of this.listeners.get(id) ?? []) notes.push(n);
      },
    });
  }

  get hostId(): string {
    return this.deps.config.hostId;
  }

  /** Live processes this worker is responsible for, for capacity. */
  get load(): number {
    return this.held.load;
  }

  /** Ids this worker holds (spawning, watching, stopping) or has work queued for. */
  holds(id: string): boolean {
    return this.held.has(id) || this.queue.busy(id);
  }

  heldIds(): string[] {
    return this.held.ids();
  }

  /** Leader pids of the runs this worker holds: never orphans, never drift. */
  leaders(): Set<number> {
    return this.held.leaders();
  }

  /**
   * Children the worker inherited that no run held here can have started (inherited.ts),
   * without a cookie that names their record: drift, an orphan of this host, killed. The
   * pids are returned for the reconcile report. Those carrying this host's cookie are the
   * pass's own orphan sightings, with drift on their record.
   */
  killStrays(): number[] {
    const { os, me, cgroups } = this.deps;
    const claims = inheritedClaims({ os, me, cgroups, ownChildren: this.ownChildren, held: this.held });
    const pids = claims.flatMap((c) => (c.kind === 'drift' && c.cookieId === null ? [c.pid] : []));
    if (pids.length > 0) this.executor.killStrays(pids);
    return pids;
  }

  /** Cgroup usage of every run this worker holds, read now. */
  usageSnapshot(): Array<readonly [string, UsageEntry]> {
    return this.leaves?.usageSnapshot() ?? [];
  }

  /** Leaf cgroups in this worker's subtree (cgroup mode), for the reconcile pass. */
  cgroupLeaves(): string[] {
    return this.leaves?.list() ?? [];
  }

  /** Leaves an older release made (no fleet in its subtree's name), for the reconcile pass. */
  legacyCgroupLeaves(): string[] {
    return this.leaves?.legacyList() ?? [];
  }

  /**
   * Any trigger, for the reconcile pass: resolves, once a run that saw it has finished,
   * with the report lines of what was found and done for the id meanwhile.
   */
  async look(id: string, t: Trigger): Promise<Note[]> {
    const notes: Note[] = [];
    const list = this.listeners.get(id) ?? new Set<Note[]>();
    list.add(notes);
    this.listeners.set(id, list);
    try {
      await this.trigger(id, t);
    } finally {
      list.delete(notes);
      if (list.size === 0) this.listeners.delete(id);
    }
    return notes;
  }

  /** A start job: resolves with what became of it, once decided. */
  async start(id: string, jobId?: string): Promise<StartOutcome> {
    await this.queue.add(id, { kind: 'start', jobId });
    return this.spawner.takeOutcome(id);
  }

  /** A stop job: resolves once the stop is carried out (or after a bound; the pass resumes it). */
  async stop(id: string, boundMs: number): Promise<void> {
    await this.queue.add(id, { kind: 'stop' });
    await this.queue.quiet(id, boundMs);
  }

  /** Any other trigger; errors are retried by the queue, so nobody needs to await this. */
  trigger(id: string, t: Trigger): Promise<void> {
    return this.queue.add(id, t);
  }

  /** Writing a run's log failed (the log shipper saw the disk full, or an I/O error): recorded by the next decision. */
  logLost(id: string, loss: { error: string; lostBytes: number; detail: string }): void {
    const h = this.held.get(id);
    if (!h || h.phase !== 'up') return;
    h.logLoss = h.logLoss ? { ...loss, lostBytes: h.logLoss.lostBytes + loss.lostBytes } : loss;
    void this.trigger(id, { kind: 'event' });
  }

  /** An exit the forker saw. */
  forkedExit(id: string, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    this.exits.reported(id, pid, code, signal);
  }

  /** The forker died: nobody will report its children's exits, so they are polled from now on. */
  forkerLost(): void {
    this.exits.forkerLost();
  }

  /**
   * Stops every at-most-one copy this worker runs, without Redis (its lease may have lapsed,
   * src/worker/at-most-one.ts); resolves with their ids once their trees are gone. Each is
   * looked at again, so its record is settled as soon as Redis answers.
   */
  async stopAtMostOne(why: string): Promise<string[]> {
    const todo = [...this.atMostOne].flatMap(([id, rec]) => {
      const h = this.held.get(id);
      return h && h.phase === 'up' && !h.selfStopped && h.runId === rec.runId ? [{ id, rec, h }] : [];
    });
    const { observer, executor, deps } = this;
    const d = { observer, signal: executor.signal.bind(executor), clock: deps.clock, log: deps.log, killWaitMs: 2000 };
    await Promise.all(todo.map(({ rec, h }) => stopWithoutRedis(d, rec, h, rec.graceMs ?? deps.config.defaultGraceMs, why)));
    for (const { id } of todo) void this.trigger(id, { kind: 'event' });
    return todo.map((t) => t.id);
  }

  /** Keeps what a stop without Redis needs of an at-most-one record of this host. */
  private noteAtMostOne(id: string, rec: ProcessRecord | null): void {
    if (rec?.atMostOne && rec.host === this.hostId && !FINAL_STATES.has(rec.state)) this.atMostOne.set(id, rec);
    else this.atMostOne.delete(id);
  }

  async idle(): Promise<void> {
    await this.queue.idle();
  }

  close(): void {
    this.queue.close();
    this.exits.close();
  }

  get logDir(): string {
    return this.logs.dir;
  }

  logFile(id: string): string {
    return this.logs.file(id);
  }

  private async read(id: string): Promise<ProcessRecord | null> {
    try {
      const rec = await this.deps.store.get(id);
      this.corruptSeen.delete(id);
      return rec;
    } catch (err) {
      if (!(err instanceof CorruptRecordError)) throw err;
      if (!this.corruptSeen.has(id)) this.deps.log.error({ processId: id, problem: err.message }, 'corrupt record: left alone');
      this.corruptSeen.add(id);
      return null;
    }
  }

  private async foldIfDisagrees(rec: ProcessRecord): Promise<ProcessRecord | null> {
    const found = await this.deps.store.disagreement(rec);
    if (!found) return null;
    this.deps.log.error(
      { processId: rec.id, version: rec.version, differs: found.diff },
      'record disagrees with its events: deciding on the events (reapq fsck --repair rewrites it)',
    );
    return found.folded;
  }

  /** One record (or one id's orphans): observe, decide, execute, until it settles. */
  private async reconcileRecord(key: string, triggers: Trigger[]): Promise<number | null> {
    const orphanKey = isOrphanKey(key);
    const id = orphanKey ? key.slice(0, -ORPHANS.length) : key;
    // The trigger that says most: a start job's, a sighting's, else a plain look.
    const trigger = triggers.find((t) => t.kind === 'start') ??
      triggers.find((t) => t.kind === 'orphans' || t.kind === 'abandoned' || t.kind === 'leaf') ??
      triggers[0] ?? { kind: 'tick' };
    let known: ProcessRecord | null | undefined;
    let checked = false;
    for (let step = 0; step < MAX_STEPS; step++) {
      const rec = orphanKey ? null : known !== undefined ? known : await this.read(id);
      known = undefined;
      if (!orphanKey && rec === null && this.corruptSeen.has(id)) return null;
      if (!orphanKey) this.noteAtMostOne(id, rec);
      const held = this.held.get(key) ?? null;
      const tree = this.observer.observe(rec, held);
      const actions = decide({
        hostId: this.hostId,
        bootId: this.deps.os.table.bootId(),
        now: this.deps.clock.now(),
        mono: this.deps.clock.mono(),
        rec,
        local: held,
        tree,
        trigger: step === 0 || trigger.kind === 'start' ? trigger : { kind: 'event' },
        leaf: step === 0 && trigger.kind === 'leaf' ? this.observer.observeLeftoverLeaf(trigger.leaf) : null,
        defaultGraceMs: this.deps.config.defaultGraceMs,
        killWaitMs: 2000,
        exitReportMs: 5000,
        abandonedRetryMs: this.deps.config.defaultGraceMs + 2000,
        daemonWaitMs: DAEMON_WAIT_MS,
      });
      // Before a kill, the projection is checked against its own events: one that disagrees
      // (restored from an older snapshot, edited by hand) is replaced by their fold and the
      // step decided again.
      if (rec && !checked && actions.some((a) => a.kind === 'signal' || a.kind === 'kill-pids')) {
        checked = true;
        const truth = await this.foldIfDisagrees(rec);
        if (truth) {
          known = truth;
          continue;
        }
      }
      const res = await this.executor.execute(key, id, rec, held, tree, actions, trigger);
      if (res.kind === 'done') return res.requeueMs;
      known = res.record;
    }
    this.deps.log.warn({ processId: id }, 'reconcile did not settle in one run: continuing shortly');
    return 100;
  }
}
