import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nanoid } from 'nanoid';
import type { Config } from '../../shared/config.js';
import { CorruptRecordError } from '../../shared/errors.js';
import type { EventStore } from '../../shared/event-store.js';
import type { EventDraft } from '../../shared/events.js';
import type { Logger } from '../../shared/logger.js';
import type { ProcessRecord } from '../../shared/record.js';
import type { UsageEntry } from '../../shared/usage.js';
import type { CgroupManager, ContainmentInfo } from '../cgroup/manager.js';
import type { Forker } from '../forker.js';
import type { ForkerRequest } from '../forker-protocol.js';
import { findTree, findTreeFast, type HostOs } from '../host-os.js';
import type { LogShipper } from '../log-shipper.js';
import { checkStart, effectiveLimits, type Policy } from '../policy.js';
import type { PortAllocator } from '../ports.js';
import { awaitReady } from '../readiness.js';
import { buildEnv } from '../spawn-env.js';
import { identityOf, leaderAlive, leaderState, type Identity } from '../tree.js';
import { decide, type Action, type Local, type Tree, type Trigger } from './decide.js';
import { afterStep, NO_KILL } from './kill-plan.js';
import { WorkQueue } from './work-queue.js';

export interface ControllerDeps {
  config: Config;
  owner: string;
  store: EventStore;
  os: HostOs;
  log: Logger;
  ports: PortAllocator;
  /** Enqueues the start job of a restart after its backoff. */
  enqueueStart: (rec: ProcessRecord, delayMs: number) => Promise<void>;
  now: () => number;
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

export type StartOutcome =
  { kind: 'spawned' } | { kind: 'failed'; error: string } | { kind: 'deferred'; reason: string } | { kind: 'ignored' };

/** What the controller holds per id: the decision's view plus what only the shell needs. */
interface Held extends Local {
  ident: Identity | null;
  /** Every member seen while stopping, with its start time: kept until it is dead. */
  seen: Map<number, number>;
  logOffset: number;
  stopStartedAt: number | null;
  /** Cgroup mode: the run's leaf, and the watch on its cgroup.events while it is stopped. */
  leaf: string | null;
  unwatch: (() => void) | null;
}

const ORPHANS = '#orphans';
const MAX_STEPS = 8;

/**
 * The one control path of a worker: every trigger (start job, stop job, exit report,
 * readiness result, deadline, reconcile pass, orphan sighting) enqueues the id; one
 * `reconcileRecord(id)` at a time per id reads the record and the observed process tree,
 * asks the pure `decide()` what to do, and carries it out.
 */
export class Controller {
  readonly ownChildren: Set<number>;
  private readonly held = new Map<string, Held>();
  private readonly queue: WorkQueue<Trigger>;
  private readonly earlyExits = new Map<number, NonNullable<Local['exit']>>();
  private readonly startOutcomes = new Map<string, StartOutcome>();
  private readonly corruptSeen = new Set<string>();
  private pollTimer: NodeJS.Timeout | null = null;
  private logDirMade = false;
  readonly stats = {
    starts: 0,
    spawnFailures: 0,
    stops: 0,
    escalations: 0,
    exits: 0,
    stopMsTotal: 0,
    killPending: 0,
    staleRuns: 0,
    orphansKilled: 0,
    deferred: 0,
  };

  constructor(private readonly deps: ControllerDeps) {
    this.ownChildren = deps.ownChildren;
    this.queue = new WorkQueue<Trigger>(
      (id, triggers) => this.reconcileRecord(id, triggers),
      { kind: 'tick' },
      (id, err, ms) =>
        deps.log.warn({ processId: id, err: (err as Error).message, retryInMs: ms }, 'reconcile of a process failed: retrying'),
    );
  }

  get hostId(): string {
    return this.deps.config.hostId;
  }

  /** Live processes this worker is responsible for, for capacity. */
  get load(): number {
    let n = 0;
    for (const [key, h] of this.held) if (!key.endsWith(ORPHANS) && h.phase !== 'spawn-failed') n++;
    return n;
  }

  /** Ids this worker holds (spawning, watching, stopping) or has work queued for. */
  holds(id: string): boolean {
    return this.held.has(id) || this.queue.busy(id);
  }

  heldIds(): string[] {
    return [...this.held.keys()].filter((k) => !k.endsWith(ORPHANS));
  }

  /** Leader pids of the runs this worker holds: never orphans, never drift. */
  leaders(): Set<number> {
    const out = new Set<number>();
    for (const h of this.held.values()) if (h.spawn) out.add(h.spawn.pid);
    return out;
  }

  /** Cgroup usage of every run this worker holds, read now (one small file read or three each). */
  usageSnapshot(): Array<readonly [string, UsageEntry]> {
    const cg = this.deps.cgroups;
    const out: Array<readonly [string, UsageEntry]> = [];
    if (!cg) return out;
    for (const [key, h] of this.held) {
      if (key.endsWith(ORPHANS) || !h.leaf || !h.runId || h.phase !== 'up') continue;
      const u = cg.usage(h.leaf);
      if (u) out.push([key, { ...u, run: h.runId, host: this.hostId, at: this.deps.now() }]);
    }
    return out;
  }

  /** Leaf cgroups in this worker's subtree (cgroup mode), for the reconcile pass. */
  cgroupLeaves(): string[] {
    return this.deps.cgroups?.leaves() ?? [];
  }

  /**
   * A leaf no live run claims: kills what is in it (cgroup.kill), waits for it to empty,
   * removes it, and records the drift on its record if there is one. null when it is the
   * leaf of a run this worker holds (a spawn under way since the pass read the records).
   */
  async cleanLeaf(leaf: string, id: string, run: string): Promise<number[] | null> {
    const cg = this.deps.cgroups;
    const h = this.held.get(id);
    // The run it holds (spawning, running, stopping) is its own to settle.
    if (!cg || (h && (h.leaf === leaf || h.runId === run))) return null;
    const pids = cg.members(leaf);
    if (pids.length > 0) {
      cg.kill(leaf);
      await this.emptied(leaf, 2000);
    }
    await cg.remove(leaf);
    if (pids.length > 0) {
      const path = cg.pathOf(leaf);
      this.deps.log.warn({ processId: id, run, cgroup: path, pids }, 'leftover cgroup: killed and removed');
      const detail = `cgroup ${path} of run ${run} held ${pids.length} processes no live run claims: killed, removed`;
      await this.deps.store.transact(id, (cur) =>
        cur && cur.state !== 'pending' ? [{ type: 'drift', kind: 'orphan', detail, pids }] : null,
      );
    }
    return pids;
  }

  /** Resolves once the leaf is empty (watched), or after ms. */
  private emptied(leaf: string, ms: number): Promise<void> {
    const cg = this.deps.cgroups!;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unwatch();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const unwatch = cg.watch(leaf, () => {
        if (cg.populated(leaf) !== true) done();
      });
      if (cg.populated(leaf) !== true) done();
    });
  }

  /** A start job: resolves with what became of it, once decided. */
  async start(id: string, jobId?: string): Promise<StartOutcome> {
    await this.queue.add(id, { kind: 'start', jobId });
    const out = this.startOutcomes.get(id) ?? { kind: 'ignored' };
    this.startOutcomes.delete(id);
    return out;
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

  /** An exit the forker saw. */
  forkedExit(id: string, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    const exit = { code, signal, how: signal ? ('signaled' as const) : ('exited' as const) };
    const h = this.held.get(id);
    if (h?.spawn?.pid === pid) h.exit = exit;
    else if (h?.phase === 'spawning') this.earlyExits.set(pid, exit);
    else return;
    this.deps.log.info({ processId: id, runId: h.runId, childPid: pid, code, signal }, 'leader exited');
    this.deps.background('exit handling', { processId: id }, this.trigger(id, { kind: 'event' }));
  }

  /** The forker died: nobody will report its children's exits, so they are polled from now on. */
  forkerLost(): void {
    for (const h of this.held.values()) h.spawnedHere = false;
    this.ensurePoll();
  }

  async idle(): Promise<void> {
    await this.queue.idle();
  }

  close(): void {
    this.queue.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  get logDir(): string {
    return resolve(this.deps.config.dataDir, 'logs');
  }

  logFile(id: string): string {
    return join(this.logDir, `${id}.log`);
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

  private async reconcileRecord(key: string, triggers: Trigger[]): Promise<number | null> {
    const orphanKey = key.endsWith(ORPHANS);
    const id = orphanKey ? key.slice(0, -ORPHANS.length) : key;
    // The trigger that says most: a start job's, a sighting's, else a plain look.
    const trigger = triggers.find((t) => t.kind === 'start') ??
      triggers.find((t) => t.kind === 'orphans' || t.kind === 'abandoned') ??
      triggers[0] ?? { kind: 'tick' };
    let known: ProcessRecord | null | undefined;
    for (let step = 0; step < MAX_STEPS; step++) {
      const rec = orphanKey ? null : known !== undefined ? known : await this.read(id);
      known = undefined;
      if (!orphanKey && rec === null && this.corruptSeen.has(id)) return null;
      const held = this.held.get(key) ?? null;
      const tree = this.observe(rec, held);
      const actions = decide({
        hostId: this.hostId,
        bootId: this.deps.os.table.bootId(),
        now: this.deps.now(),
        rec,
        local: held,
        tree,
        trigger: step === 0 || trigger.kind === 'start' ? trigger : { kind: 'event' },
        defaultGraceMs: this.deps.config.defaultGraceMs,
        killWaitMs: 2000,
        exitReportMs: 5000,
        abandonedRetryMs: this.deps.config.defaultGraceMs + 2000,
      });
      const res = await this.execute(key, id, rec, held, tree, actions, trigger);
      if (res.kind === 'done') return res.requeueMs;
      known = res.record;
    }
    this.deps.log.warn({ processId: id }, 'reconcile did not settle in one run: continuing shortly');
    return 100;
  }

  /** What the process table shows of the run in question. */
  private observe(rec: ProcessRecord | null, held: Held | null): Tree | null {
    const { os } = this.deps;
    let ident: Identity | null = null;
    if (held?.phase === 'orphans') return { members: this.aliveSeen(held), groupAlive: false, leader: 'gone' };
    const staleHeld =
      held && held.runId !== null && (!rec || rec.runId !== held.runId || rec.host !== this.hostId || rec.state === 'pending');
    if (staleHeld) ident = held.ident;
    else if (rec && rec.host === this.hostId && (rec.bootId === null || rec.bootId === os.table.bootId())) ident = identityOf(rec);
    if (!ident) return null;
    const leaf = staleHeld ? held.leaf : (held?.leaf ?? this.deps.cgroups?.leafOf(rec?.cgroup ?? null) ?? null);
    if (leaf && this.deps.cgroups) return this.observeLeaf(leaf, ident, held, rec);
    const leader = leaderState(ident, os.table.stat(ident.pid));
    // A healthy running process needs no tree walk: its leader says enough.
    if (!staleHeld && rec && rec.desired === 'running' && leader === 'alive' && (rec.state === 'running' || rec.state === 'starting')) {
      return { members: [ident.pid], groupAlive: true, leader };
    }
    const groupOurs = leader !== 'reused';
    const scan = (): number[] => {
      const found = new Set(this.find(ident!, held));
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

  /**
   * Cgroup mode: the members are the leaf's, whatever their group, session or
   * environment; no process table walk. The tree is alive while the leaf is populated.
   */
  private observeLeaf(leaf: string, ident: Identity, held: Held | null, rec: ProcessRecord | null): Tree {
    const { os } = this.deps;
    const cg = this.deps.cgroups!;
    const leader = leaderState(ident, os.table.stat(ident.pid));
    const populated = cg.populated(leaf) === true;
    const members = populated ? cg.members(leaf).filter((p) => p !== os.selfPid && !this.ownChildren.has(p)) : [];
    if (held && !held.leaf) held.leaf = leaf;
    // A stop (or leftovers) waits for `populated 0`: watched, so the wait needs no fast polls.
    const stopping = !!held && (held.kill.deadline !== null || held.phase === 'orphans' || rec?.desired === 'stopped');
    if (held && populated && stopping && !held.unwatch) {
      const key = rec?.id ?? ident.id;
      const emptied = () => {
        if (cg.populated(leaf) !== true) this.deps.background('cgroup emptied', { processId: key }, this.trigger(key, { kind: 'event' }));
      };
      held.unwatch = cg.watch(leaf, emptied);
      // It may have emptied between the read above and the watch: that change was not seen.
      emptied();
    }
    return { members, groupAlive: populated, leader, watched: held?.unwatch != null, oomKills: cg.oomKills(leaf) };
  }

  private find(ident: Identity, held: Held | null): number[] {
    const { os } = this.deps;
    if (!held?.spawnedHere || !this.deps.isSubreaper()) return findTree(os, ident, this.deps.owner);
    const others = new Set<number>();
    for (const [k, h] of this.held) if (h !== held && h.spawn && !k.endsWith(ORPHANS)) others.add(h.spawn.pid);
    return findTreeFast(os, ident, others);
  }

  /** Adds live pids, with their start time, to the members a stop keeps until they are dead. */
  private remember(h: Held, pids: Iterable<number>): void {
    for (const p of pids) {
      if (h.seen.has(p) || p === this.deps.os.selfPid) continue;
      const s = this.deps.os.table.stat(p);
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

  private async execute(
    key: string,
    id: string,
    rec: ProcessRecord | null,
    held: Held | null,
    tree: Tree | null,
    actions: Action[],
    trigger: Trigger,
  ): Promise<{ kind: 'done'; requeueMs: number | null } | { kind: 'again'; record: ProcessRecord | null | undefined }> {
    const { store, log } = this.deps;
    let base = rec;
    let landed = false;
    const plog = () =>
      log.child({ processId: id, runId: base?.runId ?? held?.runId ?? null, pgid: base?.pgid ?? held?.ident?.pgid ?? null });
    for (const a of actions) {
      switch (a.kind) {
        case 'spawn': {
          const r = await this.spawn(id, base!);
          return { kind: 'again', record: r };
        }
        case 'append': {
          const v = base?.version ?? 0;
          const { appended, record } = await store.transact(id, (cur) => ((cur?.version ?? 0) === v ? a.events : null), base);
          if (appended.length === 0) return { kind: 'again', record: undefined }; // moved meanwhile: decide again
          base = record;
          landed = true;
          this.noteAppended(key, held, appended, record!, plog());
          break;
        }
        case 'signal': {
          const h = held ?? this.holdFor(key, base);
          if (!h) break;
          if (h !== held) this.remember(h, tree?.members ?? []);
          h.kill = afterStep(h.kill, a.step, this.deps.now());
          h.stopStartedAt ??= this.deps.now();
          if (a.step.kind === 'signal') h.driftRecorded = true;
          const sent = this.signal(h, tree, a.signal as NodeJS.Signals);
          if (a.signal !== 'SIGKILL' && a.step.kind === 'signal') this.signal(h, tree, 'SIGCONT');
          if (a.step.kind === 'signal') plog().info({ signal: a.signal, pids: sent, deadline: a.step.deadline }, 'signal sent');
          else if (h.kill.killSentAt === this.deps.now() || a.step.kind === 'kill-pending')
            plog().warn(
              { pids: sent, step: a.step.kind },
              a.step.kind === 'kill-pending'
                ? 'processes survive SIGKILL (uninterruptible sleep?): kill pending'
                : 'grace period over: SIGKILL sent',
            );
          break;
        }
        case 'wait': {
          const h = held ?? this.holdFor(key, base);
          if (h) h.kill = afterStep(h.kill, a.step, this.deps.now());
          break;
        }
        case 'kill-pids': {
          this.stats.orphansKilled += a.pids.length;
          const okey = id + ORPHANS;
          const o = this.held.get(okey) ?? this.newHeld(null, 'orphans');
          this.remember(o, a.pids);
          this.held.set(okey, o);
          plog().warn({ pids: a.pids }, 'stopping processes no run of this host claims');
          if (base && trigger.kind === 'orphans') {
            const detail = `carries the cookie of ${id} on ${this.hostId}, no current run claims it`;
            this.deps.background(
              'orphan drift',
              { processId: id },
              store.transact(id, (cur) =>
                cur && cur.state !== 'pending' ? [{ type: 'drift', kind: 'orphan', detail, pids: a.pids }] : null,
              ),
            );
          }
          this.deps.background('orphan kill', { processId: id }, this.trigger(okey, { kind: 'tick' }));
          break;
        }
        case 'release-port':
          await this.deps.ports.release(a.port, id);
          break;
        case 'enqueue-start':
          await this.deps.enqueueStart(base!, a.delayMs);
          plog().info({ delayMs: a.delayMs, attempt: base!.restarts }, 'restart scheduled');
          break;
        case 'adopt': {
          const h = this.holdFor(key, base)!;
          h.spawnedHere = false;
          const { appended, record } = await store.transact(
            id,
            (cur) => (cur?.version === base!.version ? [{ type: 'adopted', host: this.hostId, run: base!.runId ?? undefined }] : null),
            base,
          );
          if (appended.length === 0) return { kind: 'again', record: undefined };
          base = record;
          landed = true;
          this.deps.background('log shipping', { processId: id }, this.deps.shipper.track(id, this.logFile(id)));
          this.ensurePoll();
          plog().info({ childPid: base!.pid }, 'adopted');
          break;
        }
        case 'check-ready':
          this.checkReady(held!, base!);
          break;
        case 'note-gone':
          if (held) held.goneSince = this.deps.now();
          break;
        case 'forget':
          this.forget(key, held);
          break;
        case 'requeue':
          return { kind: 'done', requeueMs: a.ms };
      }
    }
    return landed ? { kind: 'again', record: base } : { kind: 'done', requeueMs: null };
  }

  private noteAppended(key: string, held: Held | null, appended: readonly { type: string }[], rec: ProcessRecord, log: Logger): void {
    for (const e of appended) {
      switch (e.type) {
        case 'spawned':
          this.stats.starts++;
          log.info({ childPid: rec.pid, pgid: rec.pgid, port: rec.port, command: rec.command }, 'spawned');
          break;
        case 'spawn_failed':
          this.stats.spawnFailures++;
          log.warn({ error: rec.error }, 'spawn failed');
          break;
        case 'exited':
          this.stats.exits++;
          if (held) held.exitRecorded = true;
          break;
        case 'stopped':
          if (rec.endReason === 'killed') this.stats.escalations++;
          this.stats.stops++;
          if (held?.stopStartedAt) this.stats.stopMsTotal += this.deps.now() - held.stopStartedAt;
          log.info(
            { how: (e as { how?: string }).how, ms: held?.stopStartedAt ? this.deps.now() - held.stopStartedAt : null },
            'stop finished',
          );
          break;
        case 'kill_pending':
          this.stats.killPending++;
          break;
        case 'drift':
          if (held) held.driftRecorded = true;
          if ((e as { kind?: string }).kind === 'stale-run') this.stats.staleRuns++;
          log.warn({ drift: (e as { kind?: string }).kind, detail: (e as { detail?: string }).detail }, 'drift');
          break;
        case 'gave_up':
          log.error({ reason: rec.error }, 'gave up restarting');
          break;
        case 'ready':
        case 'not_ready':
          log.info({ ready: e.type === 'ready', error: rec.error }, e.type === 'ready' ? 'ready' : 'not ready');
          break;
      }
    }
  }

  /**
   * The spawn of a pending record: a port, the run, the checks, the fork. A start that
   * cannot be carried out now is deferred with its reason on the record; one that can
   * never be (policy, missing program, bad cwd) fails with its reason.
   */
  private async spawn(id: string, rec: ProcessRecord): Promise<ProcessRecord | null | undefined> {
    const { store } = this.deps;
    let port: number | null = typeof rec.requestedPort === 'number' ? rec.requestedPort : null;
    if (rec.requestedPort === 'auto') {
      try {
        port = await this.deps.ports.allocate(id);
      } catch (err) {
        const reason = (err as Error).message;
        if (!/no free port/.test(reason)) throw err;
        return this.defer(id, rec, reason);
      }
    }
    const runId = nanoid(12);
    const h = this.newHeld(runId, 'spawning');
    this.held.set(id, h);
    let begun: ProcessRecord | null;
    try {
      const res = await store.transact(
        id,
        (cur) => (cur?.version === rec.version ? [{ type: 'spawn_begun', host: this.hostId, port, run: runId }] : null),
        rec,
      );
      if (res.appended.length === 0) {
        this.held.delete(id);
        if (rec.requestedPort === 'auto' && port !== null) await this.deps.ports.release(port, id);
        return undefined;
      }
      begun = res.record;
    } catch (err) {
      // Unknown whether it landed: the record will say; nothing was spawned either way.
      this.held.delete(id);
      throw err;
    }
    const cwd = resolve(rec.cwd ?? process.cwd());
    const [file, ...args] = rec.command as [string, ...string[]];
    // Capacity is not the policy's to refuse: a full host hands the start back instead.
    const problem =
      checkStart({ ...this.deps.policy, maxProcesses: null }, { command: rec.command, cwd, env: rec.env }, 0) ?? checkCwd(cwd);
    if (problem) return this.failSpawn(id, h, begun, problem);
    if (!this.logDirMade) mkdirSync(this.logDir, { recursive: true });
    this.logDirMade = true;
    const cg = this.deps.cgroups;
    const lim = effectiveLimits(this.deps.policy, rec.limits);
    if ('error' in lim) return this.failSpawn(id, h, begun, lim.error);
    const limited = Object.entries(lim.limits).filter(([, v]) => v !== null);
    if (!cg && limited.length > 0) {
      const what = limited.map(([k]) => k).join(', ');
      return this.failSpawn(
        id,
        h,
        begun,
        `cannot enforce ${what}: host ${this.hostId} runs in process mode (${this.deps.containment.reason})`,
      );
    }
    let cgroup: ForkerRequest['cgroup'];
    if (cg) {
      h.leaf = cg.leafName(id, runId);
      try {
        cgroup = await cg.prepare(h.leaf, lim.limits);
      } catch (err) {
        await cg.remove(h.leaf);
        return this.failSpawn(id, h, begun, `cannot set up its cgroup: ${(err as Error).message}`);
      }
    }
    const res = await this.deps.forker.spawn({
      cgroup,
      id,
      file,
      args,
      cwd,
      logFile: this.logFile(id),
      env: buildEnv(this.deps.runnerEnv, rec.env, id, this.deps.owner, port, runId),
      uid: this.deps.policy.runAs?.uid ?? null,
      gid: this.deps.policy.runAs?.gid ?? null,
    });
    if (!res.ok) return this.failSpawn(id, h, begun, describeSpawnError(res.code, res.message, file, cwd));
    h.phase = 'up';
    h.spawnedHere = true;
    h.spawn = {
      pid: res.pid,
      pgid: res.pgid,
      sid: res.sid,
      startTime: res.startTime,
      port,
      ...(cg && h.leaf ? { cgroup: cg.pathOf(h.leaf) } : {}),
      ...(limited.length > 0 ? { limits: lim.limits } : {}),
    };
    h.ident = { id, pid: res.pid, pgid: res.pgid, sid: res.sid, startTime: res.startTime };
    h.logOffset = res.logOffset;
    const early = this.earlyExits.get(res.pid);
    if (early) {
      this.earlyExits.delete(res.pid);
      h.exit = early;
    }
    this.startOutcomes.set(id, { kind: 'spawned' });
    this.deps.background('log shipping', { processId: id }, this.deps.shipper.track(id, this.logFile(id), res.logOffset));
    return begun;
  }

  private async defer(id: string, rec: ProcessRecord, reason: string): Promise<ProcessRecord | null | undefined> {
    this.stats.deferred++;
    const retryInMs = 1000;
    await this.deps.store.transact(
      id,
      (cur) =>
        cur?.state === 'pending' && cur.desired === 'running' ? [{ type: 'start_deferred', host: this.hostId, reason, retryInMs }] : null,
      rec,
    );
    this.deps.log.warn({ processId: id, reason }, 'start deferred: will retry');
    this.startOutcomes.set(id, { kind: 'deferred', reason });
    // The job is handed back to the queue by the caller; nothing more to decide now.
    return null;
  }

  private failSpawn(id: string, h: Held, begun: ProcessRecord | null, error: string): ProcessRecord | null {
    h.phase = 'spawn-failed';
    h.failure = error;
    this.startOutcomes.set(id, { kind: 'failed', error });
    return begun;
  }

  /** Runs the readiness check in the background; its result is a trigger like any other. */
  private checkReady(h: Held, rec: ProcessRecord): void {
    h.ready = 'checking';
    const deadline = (rec.startedAt ? Date.parse(rec.startedAt) : this.deps.now()) + rec.ready!.timeoutMs;
    const pid = rec.pid;
    const p = awaitReady(rec.ready!, {
      port: rec.port,
      logFile: this.logFile(rec.id),
      logOffset: h.spawnedHere ? h.logOffset : 0,
      deadline,
      gone: () => this.held.get(rec.id) !== h || h.exit !== null || h.spawn?.pid !== pid,
    }).then((res) => {
      h.ready = res.ok ? { ok: true, how: res.how } : { ok: false, reason: res.reason };
      return this.trigger(rec.id, { kind: 'event' });
    });
    this.deps.background('readiness check', { processId: rec.id }, p);
  }

  private signal(h: Held, tree: Tree | null, signal: NodeJS.Signals): number[] {
    const { os } = this.deps;
    // The kernel kills the whole leaf at once: nothing can fork away between two kill()s.
    if (signal === 'SIGKILL' && h.leaf && this.deps.cgroups) this.deps.cgroups.kill(h.leaf);
    const members = tree?.members ?? [];
    const sent: number[] = [];
    const ident = h.ident;
    const groupOk = !!ident && tree?.leader !== 'reused';
    if (ident && groupOk && os.kill(-ident.pgid, signal)) sent.push(-ident.pgid);
    for (const pid of members) {
      if (pid === os.selfPid || this.ownChildren.has(pid)) continue;
      const st = h.seen.get(pid);
      const s = os.table.stat(pid);
      if (!s || (st !== undefined && s.startTime !== st)) continue; // reused meanwhile: not ours
      if (ident && groupOk && s.pgid === ident.pgid) continue;
      if (os.kill(pid, signal)) sent.push(pid);
    }
    return sent;
  }

  /** The held entry for a record acted on without one (adopted, resumed, leftovers). */
  private holdFor(key: string, rec: ProcessRecord | null): Held | null {
    const cur = this.held.get(key);
    if (cur) return cur;
    if (!rec) return null;
    const h = this.newHeld(rec.runId, 'up');
    const ident = identityOf(rec);
    h.ident = ident;
    if (ident) h.spawn = { pid: ident.pid, pgid: ident.pgid, sid: ident.sid, startTime: ident.startTime, port: rec.port };
    h.kill = { deadline: rec.killDeadline, killSentAt: null, polls: 0 };
    h.leaf = this.deps.cgroups?.leafOf(rec.cgroup) ?? null;
    this.held.set(key, h);
    return h;
  }

  private newHeld(runId: string | null, phase: Local['phase']): Held {
    return {
      runId,
      phase,
      spawn: null,
      failure: null,
      spawnedHere: false,
      exit: null,
      exitRecorded: false,
      goneSince: null,
      ready: null,
      kill: NO_KILL,
      driftRecorded: false,
      ident: null,
      seen: new Map(),
      logOffset: 0,
      stopStartedAt: null,
      leaf: null,
      unwatch: null,
    };
  }

  private forget(key: string, held: Held | null): void {
    if (!held || this.held.get(key) !== held) return;
    this.held.delete(key);
    held.unwatch?.();
    held.unwatch = null;
    const cg = this.deps.cgroups;
    const leaf = held.leaf;
    // Forgotten once its tree is gone: the leaf goes too (a leaf still in use is left to
    // reconcile), after a last reading of what the run used (its CPU time and peak memory).
    if (cg && leaf && cg.populated(leaf) !== true) {
      const u = held.runId && held.phase === 'up' ? cg.usage(leaf) : null;
      const last = u ? this.deps.saveUsage([[key, { ...u, run: held.runId!, host: this.hostId, at: this.deps.now() }]]) : Promise.resolve();
      this.deps.background(
        'cgroup removal',
        { processId: key, leaf },
        last.finally(() => cg.remove(leaf)),
      );
    }
    if (held.phase !== 'orphans' && !this.held.has(key))
      this.deps.background('log shipping', { processId: key }, this.deps.shipper.untrack(key));
  }

  private ensurePoll(): void {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => this.poll(), 250);
    this.pollTimer.unref();
  }

  /** Leaders nobody reports on (adopted, or the forker died): an exit is noticed by looking. */
  private poll(): void {
    for (const [key, h] of this.held) {
      if (h.spawnedHere || h.exit || !h.spawn || key.endsWith(ORPHANS)) continue;
      if (leaderAlive(h.spawn, this.deps.os.table.stat(h.spawn.pid))) continue;
      h.exit = { code: null, signal: null, how: 'unknown' };
      this.deps.background('exit handling', { processId: key }, this.trigger(key, { kind: 'event' }));
    }
  }
}

function checkCwd(cwd: string): string | null {
  try {
    return statSync(cwd).isDirectory() ? null : `cwd ${cwd} is not a directory`;
  } catch {
    return `cwd ${cwd} does not exist`;
  }
}

function describeSpawnError(code: string | null, message: string, file: string, cwd: string): string {
  if (code === 'ENOENT') return `command not found: ${file} (cwd ${cwd})`;
  if (code === 'EACCES') return `permission denied: ${file}`;
  return `cannot spawn ${file}: ${message}`;
}

export type { EventDraft };
