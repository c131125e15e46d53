import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../shared/config.js';
import type { EventStore } from '../shared/event-store.js';
import type { Logger } from '../shared/logger.js';
import { LIVE_STATES, type ProcessRecord } from '../shared/record.js';
import { findTree, findTreeFast, type HostOs } from './host-os.js';
import type { PortAllocator } from './ports.js';
import { decideRestart } from './restart.js';
import type { Forker, SpawnResult } from './forker.js';
import type { LogShipper } from './log-shipper.js';
import { startJobId } from '../shared/jobs.js';
import { checkStart, type Policy } from './policy.js';
import { awaitReady } from './readiness.js';
import { buildEnv } from './spawn-env.js';
import { escalate, identityOf, stopTree, type StopOutcome, type StopperDeps } from './stopper.js';

export interface SupervisorDeps {
  config: Config;
  owner: string;
  store: EventStore;
  os: HostOs;
  log: Logger;
  ports: PortAllocator;
  /** Enqueues the start job of a restart after its backoff. */
  enqueueStart: (rec: ProcessRecord, delayMs: number) => Promise<void>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  runnerEnv: NodeJS.ProcessEnv;
  /** What this host refuses to run; enforced here, whatever the producer checked. */
  policy: Policy;
  shipper: LogShipper;
  /** Whether orphans of this worker's trees re-parent to it (prctl succeeded). */
  isSubreaper: () => boolean;
  forker: Forker;
  /** Shared with the forker client, which adds the forker's pid. */
  ownChildren: Set<number>;
}

interface Watch {
  pid: number;
  startTime: number;
  /** Spawned by this worker's forker, which reports its exit; an adopted one is polled. */
  spawnedHere: boolean;
}

/**
 * Owns the processes of this host: spawns them, watches them, stops their trees and
 * settles what follows an exit (leftovers, port, restart). Work on one id is serialized,
 * so an exit can never be recorded before the spawn it belongs to.
 */
export class Supervisor {
  /** Pids spawned through child_process (the forker); the reaper leaves them to libuv. */
  readonly ownChildren: Set<number>;
  readonly watched = new Map<string, Watch>();
  /** Ids whose spawn is under way in this worker. */
  readonly spawning = new Set<string>();
  private readonly stops = new Map<string, Promise<void>>();
  private readonly readying = new Map<string, Promise<void>>();
  private readonly exitWaiters = new Map<number, () => void>();
  private logDirMade = false;
  private readonly chains = new Map<string, Promise<unknown>>();
  private pollTimer: NodeJS.Timeout | null = null;
  readonly stats = { starts: 0, spawnFailures: 0, stops: 0, escalations: 0, exits: 0, stopMsTotal: 0, killPending: 0 };

  constructor(private readonly d: SupervisorDeps) {
    this.ownChildren = d.ownChildren;
  }

  get hostId(): string {
    return this.d.config.hostId;
  }

  /** Live processes this worker is responsible for, for capacity. */
  get load(): number {
    return this.watched.size + this.spawning.size;
  }

  stopsInFlight(): string[] {
    return [...this.stops.keys()];
  }

  /** Runs background work for an id (a drift stop, a settle) unless some is already in flight. */
  track(id: string, fn: () => Promise<void>): void {
    if (this.stops.has(id)) return;
    const p = fn()
      .catch((err) => this.d.log.error({ err, processId: id }, 'background work failed'))
      .finally(() => this.stops.delete(id));
    this.stops.set(id, p);
  }

  /** Runs fn after every earlier operation on the same id. */
  serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return next;
  }

  /** Handles a start job. Throws (failing the job) only after the failure is on the record. */
  start(id: string, jobId?: string): Promise<void> {
    return this.serial(id, () => this.doStart(id, jobId));
  }

  private async doStart(id: string, jobId?: string): Promise<void> {
    const { store, log } = this.d;
    const rec = await store.get(id);
    if (!rec) throw new Error(`start job for unknown process ${id}`);
    if (rec.state !== 'pending' || rec.desired !== 'running') return; // duplicate delivery, or stopped while queued
    // Each run of a record has its own start job; a late redelivery of an earlier run's job
    // must not start this run before its own (possibly delayed) job says so.
    if (jobId !== undefined && jobId !== startJobId(id, rec.restarts)) {
      log.debug({ processId: id, jobId }, 'start job of an earlier run: ignored');
      return;
    }
    if (rec.requestedHost && rec.requestedHost !== this.hostId) return;

    let port: number | null = typeof rec.requestedPort === 'number' ? rec.requestedPort : null;
    if (rec.requestedPort === 'auto') port = await this.d.ports.allocate(id);
    const begun = await store.transact(id, (cur) =>
      cur?.state === 'pending' && cur.desired === 'running' ? [{ type: 'spawn_begun', host: this.hostId, port }] : null,
    rec);
    if (begun.appended.length === 0) {
      if (rec.requestedPort === 'auto' && port !== null) await this.d.ports.release(port, id);
      return;
    }
    this.spawning.add(id);
    try {
      await this.spawnAndRecord(begun.record!, port);
    } finally {
      this.spawning.delete(id);
    }
  }

  private async spawnAndRecord(rec: ProcessRecord, port: number | null): Promise<void> {
    const { store, log, os } = this.d;
    const id = rec.id;
    const cwd = resolve(rec.cwd ?? process.cwd());
    const [file, ...args] = rec.command as [string, ...string[]];
    // Capacity is not the policy's to refuse: a full host hands the start back instead.
    const problem = checkStart({ ...this.d.policy, maxProcesses: null }, { command: rec.command, cwd, env: rec.env }, 0) ?? checkCwd(cwd);
    let failure: string | null = problem;
    let spawned: Extract<SpawnResult, { ok: true }> | null = null;
    if (!failure) {
      if (!this.logDirMade) mkdirSync(this.logDir, { recursive: true });
      this.logDirMade = true;
      const res = await this.d.forker.spawn({
        id, file, args, cwd, logFile: this.logFile(id),
        env: buildEnv(this.d.runnerEnv, rec.env, id, this.d.owner, port),
        uid: this.d.policy.runAs?.uid ?? null,
        gid: this.d.policy.runAs?.gid ?? null,
      });
      if (res.ok) spawned = res;
      else failure = describeSpawnError(res.code, res.message, file, cwd);
    }
    if (failure || !spawned) {
      failure ??= `${file} could not be spawned`;
      this.stats.spawnFailures++;
      await store.transact(id, (cur) => (cur?.state === 'starting' ? [{ type: 'spawn_failed', host: this.hostId, error: failure! }] : null));
      if (rec.requestedPort === 'auto' && port !== null) await this.d.ports.release(port, id);
      log.warn({ processId: id, error: failure }, 'spawn failed');
      throw new Error(failure);
    }
    const { pid, logOffset } = spawned;
    const stat = spawned;
    this.watched.set(id, { pid, startTime: stat.startTime, spawnedHere: true });
    this.stats.starts++;
    const { record } = await store.transact(id, (cur) =>
      cur?.state === 'starting' && cur.host === this.hostId
        ? [{ type: 'spawned', host: this.hostId, pid, pgid: stat.pgid, sid: stat.sid, startTime: stat.startTime, bootId: os.table.bootId(), port }]
        : null,
    rec);
    log.info({ processId: id, pgid: stat.pgid, childPid: pid, port, command: rec.command }, 'spawned');
    void this.d.shipper.track(id, this.logFile(id), logOffset).catch(() => undefined);
    // A stop that arrived mid-spawn found no host to send a job to: it is carried out here.
    if (record && record.desired === 'stopped') void this.stop(id);
    else if (record?.state === 'starting' && record.ready) this.checkReady(record, logOffset, this.d.now() + record.ready.timeoutMs);
  }

  get logDir(): string {
    return resolve(this.d.config.dataDir, 'logs');
  }

  logFile(id: string): string {
    return join(this.logDir, `${id}.log`);
  }

  /** Runs the record's readiness check in the background; `running` only once it passes. */
  checkReady(rec: ProcessRecord, logOffset: number, deadline: number): void {
    if (!rec.ready || this.readying.has(rec.id)) return;
    const id = rec.id;
    const p = (async () => {
      const res = await awaitReady(rec.ready!, {
        port: rec.port, logFile: this.logFile(id), logOffset, deadline, gone: () => this.watched.get(id)?.pid !== rec.pid,
      });
      const { appended, record } = await this.d.store.transact(id, (cur) =>
        cur?.state === 'starting' && cur.pid === rec.pid ? [res.ok ? { type: 'ready', how: res.how } : { type: 'not_ready', reason: res.reason }] : null,
      );
      if (appended.length === 0 || !record) return;
      this.d.log.info({ processId: id, pgid: rec.pgid, ...(res.ok ? { how: res.how } : { reason: res.reason }) }, res.ok ? 'ready' : 'not ready');
      if (res.ok) return;
      // A start that never became ready is failed, and nothing of it may stay behind.
      const outcome = await stopTree(this.stopperDeps(), record, 'SIGTERM', record.graceMs ?? this.d.config.defaultGraceMs);
      if (outcome !== 'pending') await this.d.store.transact(id, (cur) => (cur && cur.state !== 'pending' ? [{ type: 'stopped', how: outcome === 'escalated' ? 'escalated' : 'requested' }] : null));
      this.watched.delete(id);
      await this.releasePort(record);
    })()
      .catch((err) => this.d.log.error({ err, processId: id }, 'readiness check failed'))
      .finally(() => this.readying.delete(id));
    this.readying.set(id, p);
  }

  /** Records an exit seen by this worker and settles what follows it. */
  private async onExit(id: string, pid: number, code: number | null, signal: NodeJS.Signals | null, how?: 'unknown'): Promise<void> {
    this.stats.exits++;
    let record: ProcessRecord | null;
    try {
      ({ record } = await this.d.store.transact(id, (cur) =>
        cur && cur.pid === pid && LIVE_STATES.has(cur.state)
          ? [{ type: 'exited', code, signal, how: how ?? (signal ? 'signaled' : 'exited') }]
          : null,
      ));
    } finally {
      // Only once the exit is on the record: a stop waiting for it must not record
      // `stopped` first, or the leader's exit status would be lost.
      const w = this.watched.get(id);
      if (w && w.pid === pid) this.watched.delete(id);
      this.exitWaiters.get(pid)?.();
    }
    this.d.log.info({ processId: id, childPid: pid, code, signal }, 'leader exited');
    await this.d.shipper.untrack(id);
    if (!record) return;
    if (record.state === 'stopping') {
      if (!this.stops.has(id)) void this.stop(id);
      return;
    }
    await this.settle(record);
  }

  /** After the leader ended by itself: stop what it left behind, free its port, maybe restart. */
  async settle(rec: ProcessRecord): Promise<void> {
    const { store, os, log } = this.d;
    const ident = identityOf(rec);
    if (ident) {
      const left = findTree(os, ident, this.d.owner);
      if (left.length > 0) {
        await store.transact(rec.id, (cur) => (cur ? [{ type: 'drift', kind: 'leftovers', detail: `leader ${ident.pid} gone, ${left.length} left in its tree`, pids: left }] : null));
        log.warn({ processId: rec.id, pgid: ident.pgid, pids: left }, 'leader gone, stopping leftovers');
        const outcome = await stopTree(this.stopperDeps(), (await store.get(rec.id)) ?? rec, 'SIGTERM', rec.graceMs ?? this.d.config.defaultGraceMs);
        if (outcome !== 'pending') await store.transact(rec.id, (cur) => (cur && cur.state !== 'pending' ? [{ type: 'stopped', how: 'leftovers' }] : null));
      }
    }
    await this.releasePort(rec);
    const { record, appended } = await store.transact(rec.id, (cur) => {
      const next = cur ? decideRestart(cur) : null;
      return next ? [next] : null;
    });
    const ev = appended[0];
    if (record && ev?.type === 'restart_scheduled') {
      log.info({ processId: rec.id, attempt: ev.attempt, delayMs: ev.delayMs }, 'restart scheduled');
      await this.d.enqueueStart(record, ev.delayMs);
    } else if (ev?.type === 'gave_up') {
      log.error({ processId: rec.id, reason: ev.reason }, 'gave up restarting');
    }
  }

  /** Handles a stop job (or a stop found mid-spawn, or resumed after a crash). Redelivery joins the running stop. */
  stop(id: string): Promise<void> {
    const running = this.stops.get(id);
    if (running) return running;
    const p = this.doStop(id).finally(() => this.stops.delete(id));
    this.stops.set(id, p);
    return p;
  }

  private async doStop(id: string): Promise<void> {
    const { store, log } = this.d;
    const rec = await store.get(id);
    if (!rec || rec.host !== this.hostId || rec.desired !== 'stopped') return;
    if (rec.state === 'stopped' || rec.state === 'pending') return;
    const signal = (rec.stopSignal ?? 'SIGTERM') as NodeJS.Signals;
    const grace = rec.graceMs ?? this.d.config.defaultGraceMs;
    const started = this.d.now();
    const outcome = await stopTree(this.stopperDeps(id), rec, signal, grace);
    // The tree can be gone before the forker's report of the leader's exit arrives.
    const w = this.watched.get(id);
    if (outcome !== 'pending' && w?.spawnedHere) await this.exitRecorded(w.pid, 2000);
    await this.finishStop(id, outcome);
    this.stats.stopMsTotal += this.d.now() - started;
    log.info({ processId: id, pgid: rec.pgid, outcome, ms: this.d.now() - started }, 'stop finished');
  }

  /** Resolves once the exit of a leader is recorded, or after ms. */
  private exitRecorded(pid: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.exitWaiters.delete(pid);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.exitWaiters.set(pid, done);
    });
  }

  /** Escalates a stop whose recorded deadline passed while nobody was waiting on it. */
  async escalateNow(rec: ProcessRecord): Promise<void> {
    const ident = identityOf(rec);
    if (!ident || this.stops.has(rec.id)) return;
    const p = escalate(this.stopperDeps(), rec, ident).then((o) => this.finishStop(rec.id, o));
    this.stops.set(rec.id, p.finally(() => this.stops.delete(rec.id)));
    await p;
  }

  private async finishStop(id: string, outcome: StopOutcome): Promise<void> {
    if (outcome === 'pending') {
      this.stats.killPending++;
      return; // the reconciler tries again; never call it stopped while something lives
    }
    if (outcome === 'escalated') this.stats.escalations++;
    this.stats.stops++;
    const { record } = await this.d.store.transact(id, (cur) =>
      cur && cur.state !== 'stopped' && cur.state !== 'pending' ? [{ type: 'stopped', how: outcome === 'escalated' ? 'escalated' : 'requested' }] : null,
    );
    this.watched.delete(id);
    if (record) await this.releasePort(record);
  }

  /** An exit the forker saw. */
  forkedExit(id: string, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    void this.serial(id, () => this.onExit(id, pid, code, signal)).catch((err) => this.d.log.error({ err, processId: id }, 'exit handling failed'));
  }

  /** The forker died: nobody will report its children's exits, so they are polled from now on. */
  forkerLost(): void {
    for (const w of this.watched.values()) w.spawnedHere = false;
    this.pollTimer ??= setInterval(() => this.pollAdopted(), 250);
    this.pollTimer.unref();
  }

  /** Watches a process an earlier worker started; it is not our child, so it is polled. */
  adopt(rec: ProcessRecord): void {
    if (rec.pid === null || rec.startTime === null || this.watched.has(rec.id)) return;
    this.watched.set(rec.id, { pid: rec.pid, startTime: rec.startTime, spawnedHere: false });
    void this.d.shipper.track(rec.id, this.logFile(rec.id)).catch(() => undefined);
    this.pollTimer ??= setInterval(() => this.pollAdopted(), 250);
    this.pollTimer.unref();
    // Adopted mid-check: the check resumes with what is left of its time.
    if (rec.state === 'starting' && rec.ready) {
      this.checkReady(rec, 0, (rec.startedAt ? Date.parse(rec.startedAt) : this.d.now()) + rec.ready.timeoutMs);
    }
  }

  private pollAdopted(): void {
    for (const [id, w] of this.watched) {
      if (w.spawnedHere) continue;
      const s = this.d.os.table.stat(w.pid);
      if (s && s.startTime === w.startTime && s.state !== 'Z') continue;
      this.watched.delete(id);
      void this.serial(id, () => this.onExit(id, w.pid, null, null, 'unknown')).catch((err) => this.d.log.error({ err, processId: id }, 'exit handling failed'));
    }
  }

  /** Stops in flight, for a graceful shutdown to wait on. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.stops.values(), ...this.chains.values(), ...this.readying.values()]);
  }

  close(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  /**
   * For a tree this worker spawned while a subreaper, members are found by walking down
   * from it and from the worker's children, so a stop costs the same on a host with 100
   * or 3,000 unrelated processes; anything else (adopted trees, drift) scans /proc.
   */
  stopperDeps(id?: string): StopperDeps {
    const base = { os: this.d.os, store: this.d.store, log: this.d.log, owner: this.d.owner, now: this.d.now, sleep: this.d.sleep };
    if (!id || !this.watched.get(id)?.spawnedHere || !this.d.isSubreaper()) return base;
    const others = new Set<number>();
    for (const [other, w] of this.watched) if (other !== id) others.add(w.pid);
    return { ...base, find: (ident) => findTreeFast(this.d.os, ident, others) };
  }

  private async releasePort(rec: ProcessRecord): Promise<void> {
    if (rec.requestedPort === 'auto' && rec.port !== null) await this.d.ports.release(rec.port, rec.id);
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
