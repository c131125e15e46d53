import { NotInOlderVersionError } from '../../shared/event-versions.js';
import type { Clock } from '../../shared/clock.js';
import type { EventStore } from '../../shared/event-store.js';
import type { Logger } from '../../shared/logger.js';
import type { ProcessRecord } from '../../shared/record.js';
import type { CgroupManager } from '../cgroup/manager.js';
import { describeProcs, type HostOs } from '../host-os.js';
import type { PortAllocator } from '../ports.js';
import { identityOf } from '../tree.js';
import { monoOf } from './kill-steps.js';
import type { Action, Tree, Trigger } from './decision.js';
import type { ExitWatch } from './exits.js';
import { newHeld, ORPHANS, STRAYS, type Held, type HeldRuns } from './held.js';
import { afterStep } from './kill-plan.js';
import type { Leaves } from './leaves.js';
import type { RunLogs } from './logs.js';
import type { Observer } from './observe.js';
import type { Spawner } from './spawn.js';
import { did, noteOf, type Note } from './reasons.js';
import { noteAppended, type ControllerStats } from './stats.js';

export interface ExecuteDeps {
  hostId: string;
  store: EventStore;
  log: Logger;
  os: HostOs;
  ports: PortAllocator;
  /** Enqueues the start job of a restart after its backoff. */
  enqueueStart: (rec: ProcessRecord, delayMs: number) => Promise<void>;
  clock: Clock;
  ownChildren: ReadonlySet<number>;
  cgroups: CgroupManager | null;
  held: HeldRuns;
  observer: Observer;
  spawner: Spawner;
  exits: ExitWatch;
  logs: RunLogs;
  leaves: Leaves | null;
  stats: ControllerStats;
  checkReady: (h: Held, rec: ProcessRecord) => void;
  trigger: (key: string, t: Trigger) => Promise<void>;
  /** A line for the reconcile report of the id (kept only while a pass waits on it). */
  note: (id: string, n: Note) => void;
  background: (what: string, ctx: Record<string, unknown>, p: Promise<unknown>) => void;
}

/** What one decision's actions came to: done (maybe look again after ms), or decide again on a newer record. */
export type Outcome = { kind: 'done'; requeueMs: number | null } | { kind: 'again'; record: ProcessRecord | null | undefined };

/** One decision being carried out: the key, the record it was made on, and what was seen. */
interface Run {
  key: string;
  id: string;
  base: ProcessRecord | null;
  held: Held | null;
  tree: Tree | null;
  trigger: Trigger;
  log: () => Logger;
}

/**
 * Carries out what `decide()` said, in order. An append is made only on the record the
 * decision saw (same version); one that finds it moved ends the run with `again`, and
 * the decision is made afresh. Nothing here decides.
 */
export class Executor {
  constructor(private readonly deps: ExecuteDeps) {}

  async execute(
    key: string,
    id: string,
    rec: ProcessRecord | null,
    held: Held | null,
    tree: Tree | null,
    actions: Action[],
    trigger: Trigger,
  ): Promise<Outcome> {
    const run: Run = { key, id, base: rec, held, tree, trigger, log: () => this.runLog(run) };
    let landed = false;
    for (const a of actions) {
      switch (a.kind) {
        case 'spawn':
          return { kind: 'again', record: await this.deps.spawner.spawn(id, run.base!) };
        case 'append':
          if (!(await this.append(run, a.events))) return { kind: 'again', record: undefined }; // moved meanwhile
          landed = true;
          break;
        case 'signal':
          this.signalStep(run, a);
          break;
        case 'wait': {
          const h = held ?? this.holdFor(key, run.base);
          if (h) h.kill = afterStep(h.kill, a.step, this.deps.clock.mono());
          break;
        }
        case 'kill-pids':
          this.killPids(run, a.pids);
          break;
        case 'foreign':
          this.deps.note(id, did.foreign(id, null, describeProcs(this.deps.os, a.pids), a.leaf));
          break;
        case 'clear-leaf':
          await this.clearLeaf(run, a.leaf);
          break;
        case 'release-leaf':
          if (held) await this.deps.leaves?.release(key, held);
          break;
        case 'release-port':
          await this.deps.ports.release(a.port, id);
          break;
        case 'enqueue-start':
          await this.deps.enqueueStart(run.base!, a.delayMs);
          run.log().info({ delayMs: a.delayMs, attempt: run.base!.restarts }, 'restart scheduled');
          break;
        case 'adopt':
          if (!(await this.adopt(run))) return { kind: 'again', record: undefined };
          landed = true;
          break;
        case 'follow-main':
          this.followMain(run, a.main);
          break;
        case 'check-ready':
          this.deps.checkReady(held!, run.base!);
          break;
        case 'note-gone':
          if (held) held.goneSince = this.deps.clock.mono();
          break;
        case 'note-not-ready':
          if (held) held.notReadyStop = true;
          break;
        case 'forget':
          this.forget(key, held);
          break;
        case 'requeue':
          return { kind: 'done', requeueMs: a.ms };
      }
    }
    return landed ? { kind: 'again', record: run.base } : { kind: 'done', requeueMs: null };
  }

  private runLog(run: Run): Logger {
    const { base, held } = run;
    return this.deps.log.child({
      processId: run.id,
      runId: base?.runId ?? held?.runId ?? null,
      pgid: base?.pgid ?? held?.ident?.pgid ?? null,
    });
  }

  /** Appends on the version the decision saw; false if the record moved meanwhile. */
  private async append(run: Run, events: Extract<Action, { kind: 'append' }>['events']): Promise<boolean> {
    const v = run.base?.version ?? 0;
    const { appended, record } = await this.deps.store
      .transact(run.id, (cur) => ((cur?.version ?? 0) === v ? events : null), run.base)
      .catch((err: unknown) => {
        // A live worker of a release before log_lost cannot read it: the loss is logged
        // here instead of recorded, and the record's other steps go on.
        const loss = run.held?.logLoss;
        if (!(err instanceof NotInOlderVersionError) || !loss || !events.every((e) => e.type === 'log_lost')) throw err;
        run
          .log()
          .warn(
            { error: loss.error, lostBytes: loss.lostBytes },
            'log write failed: output lost, log truncated (not on the record: ' + err.message + ')',
          );
        run.held!.logLoss = null;
        return { appended: [], record: null };
      });
    if (appended.length === 0) return false;
    run.base = record;
    noteAppended(this.deps.stats, run.held, appended, record!, run.log(), this.deps.clock.mono());
    for (const e of appended) {
      const n = noteOf(e);
      if (n) this.deps.note(run.id, n);
    }
    return true;
  }

  private signalStep(run: Run, a: Extract<Action, { kind: 'signal' }>): void {
    const h = run.held ?? this.holdFor(run.key, run.base);
    if (!h) return;
    const now = this.deps.clock.mono();
    if (h !== run.held) this.deps.observer.remember(h, run.tree?.members ?? []);
    h.kill = afterStep(h.kill, a.step, now);
    h.stopStartedAt ??= now;
    if (a.step.kind === 'signal') h.driftRecorded = true;
    if (run.base?.desired === 'stopped') h.stopSignalled = true;
    const sent = this.signal(h, run.tree, a.signal as NodeJS.Signals);
    if (a.signal !== 'SIGKILL' && a.step.kind === 'signal') this.signal(h, run.tree, 'SIGCONT');
    if (a.step.kind === 'signal')
      run
        .log()
        .info({ signal: a.signal, pids: sent, deadline: Math.round(this.deps.clock.now() + (a.step.deadline - now)) }, 'signal sent');
    else if (h.kill.killSentAt === now || a.step.kind === 'kill-pending')
      run
        .log()
        .warn(
          { pids: sent, step: a.step.kind },
          a.step.kind === 'kill-pending'
            ? 'processes survive SIGKILL (uninterruptible sleep?): kill pending'
            : 'grace period over: SIGKILL sent',
        );
  }

  /** Signals the run's group and every member by its identity (a pid reused meanwhile is skipped). */
  signal(h: Held, tree: Tree | null, signal: NodeJS.Signals): number[] {
    const { os, cgroups, ownChildren } = this.deps;
    // The kernel kills the whole leaf at once: nothing can fork away between two kill()s.
    if (signal === 'SIGKILL' && h.leaf && cgroups) cgroups.kill(h.leaf);
    const sent: number[] = [];
    const ident = h.ident;
    const groupOk = !!ident && tree?.leader !== 'reused';
    if (ident && groupOk && os.kill(-ident.pgid, signal)) sent.push(-ident.pgid);
    for (const pid of tree?.members ?? []) {
      if (pid === os.selfPid || ownChildren.has(pid)) continue;
      const st = h.seen.get(pid);
      const s = os.table.stat(pid);
      if (!s || (st !== undefined && s.startTime !== st)) continue; // reused meanwhile: not ours
      if (ident && groupOk && s.pgid === ident.pgid) continue;
      if (os.kill(pid, signal)) sent.push(pid);
    }
    return sent;
  }

  /** Orphans are stopped under their own key, apart from whatever run the id has now. */
  private killPids(run: Run, pids: number[]): void {
    this.deps.stats.orphansKilled += pids.length;
    const okey = run.id + ORPHANS;
    const o = this.deps.held.get(okey) ?? newHeld(null, 'orphans');
    this.deps.observer.remember(o, pids);
    this.deps.held.set(okey, o);
    run.log().warn({ pids }, 'stopping processes no run of this host claims');
    this.deps.note(run.id, did.orphansStopped(pids.length));
    this.deps.background('orphan kill', { processId: run.id }, this.deps.trigger(okey, { kind: 'tick' }));
  }

  /** Inherited children no run of this host can have started: stopped under one key of their own, as orphans. */
  killStrays(pids: number[]): void {
    this.deps.stats.orphansKilled += pids.length;
    const o = this.deps.held.get(STRAYS) ?? newHeld(null, 'orphans');
    this.deps.observer.remember(o, pids);
    this.deps.held.set(STRAYS, o);
    this.deps.log.warn({ pids }, 'stopping inherited processes no run of this host can have started');
    this.deps.background('inherited orphan kill', { pids }, this.deps.trigger(STRAYS, { kind: 'tick' }));
  }

  /** A leaf no live run claims: what is in it is killed, the leaf removed. */
  private async clearLeaf(run: Run, leaf: string): Promise<void> {
    const pids = await this.deps.leaves!.clear(leaf);
    if (pids.length > 0) run.log().warn({ cgroup: this.deps.leaves!.pathOf(leaf), pids }, 'leftover cgroup: killed and removed');
    this.deps.note(run.id, did.leafCleared(leaf, pids));
  }

  private async adopt(run: Run): Promise<boolean> {
    const h = this.holdFor(run.key, run.base)!;
    h.spawnedHere = false;
    const base = run.base!;
    const { appended, record } = await this.deps.store.transact(
      run.id,
      (cur) => (cur?.version === base.version ? [{ type: 'adopted', host: this.deps.hostId, run: base.runId ?? undefined }] : null),
      base,
    );
    if (appended.length === 0) return false;
    run.base = record;
    this.deps.logs.track(run.id, run.base?.logs ?? null);
    this.deps.exits.ensurePoll();
    run.log().info({ childPid: record!.pid }, 'adopted');
    return true;
  }

  /**
   * A daemon's main process is the run's leader now: its launcher's exit was no end. No
   * forker reports on the main (the worker inherited it, or init did), so it is polled.
   */
  private followMain(run: Run, main: Extract<Action, { kind: 'follow-main' }>['main']): void {
    const h = run.held;
    if (!h?.spawn) return;
    h.spawn = { ...h.spawn, pid: main.pid, pgid: main.pgid, sid: main.sid, startTime: main.startTime };
    h.ident = { id: run.id, pid: main.pid, pgid: main.pgid, sid: main.sid, startTime: main.startTime };
    h.spawnedHere = false;
    h.exit = null;
    h.goneSince = null;
    this.deps.exits.ensurePoll();
    run.log().info({ mainPid: main.pid, from: main.from }, 'daemon up');
  }

  /** The held entry for a record acted on without one (adopted, resumed, leftovers). */
  private holdFor(key: string, rec: ProcessRecord | null): Held | null {
    const cur = this.deps.held.get(key);
    if (cur) return cur;
    if (!rec) return null;
    const h = newHeld(rec.runId, 'up');
    const ident = identityOf(rec);
    h.ident = ident;
    if (ident) h.spawn = { pid: ident.pid, pgid: ident.pgid, sid: ident.sid, startTime: ident.startTime, port: rec.port };
    h.kill = {
      deadline: monoOf({ now: this.deps.clock.now(), mono: this.deps.clock.mono() }, rec.killDeadline),
      killSentAt: null,
      polls: 0,
    };
    h.leaf = this.deps.cgroups?.leafOf(rec.cgroup) ?? null;
    this.deps.held.set(key, h);
    return h;
  }

  private forget(key: string, held: Held | null): void {
    if (!held || this.deps.held.get(key) !== held) return;
    this.deps.held.delete(key);
    held.unwatch?.();
    held.unwatch = null;
    this.deps.leaves?.retire(key, held);
    if (held.phase !== 'orphans') this.deps.logs.untrack(key);
  }
}
