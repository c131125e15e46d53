import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { nanoid } from 'nanoid';
import type { Clock } from '../../shared/clock.js';
import { daemonUnfollowable } from '../../shared/daemon.js';
import type { EventStore } from '../../shared/event-store.js';
import type { Logger } from '../../shared/logger.js';
import type { Limits, ProcessRecord } from '../../shared/record.js';
import type { CgroupManager, ContainmentInfo } from '../cgroup/manager.js';
import type { Forker } from '../forker.js';
import type { ForkerRequest } from '../forker-protocol.js';
import { checkStart, effectiveLimits, type Policy } from '../policy.js';
import type { PortAllocator } from '../ports.js';
import { buildEnv } from '../spawn-env.js';
import type { Self } from '../tree.js';
import type { ExitWatch } from './exits.js';
import { newHeld, type Held, type HeldRuns } from './held.js';
import type { RunLogs } from './logs.js';
import type { ControllerStats } from './stats.js';

export type StartOutcome =
  { kind: 'spawned' } | { kind: 'failed'; error: string } | { kind: 'deferred'; reason: string } | { kind: 'ignored' };

export interface SpawnDeps {
  hostId: string;
  me: Self;
  store: EventStore;
  log: Logger;
  ports: PortAllocator;
  runnerEnv: NodeJS.ProcessEnv;
  /** What this host refuses to run; enforced here, whatever the producer checked. */
  policy: Policy;
  forker: Forker;
  cgroups: CgroupManager | null;
  containment: ContainmentInfo;
  held: HeldRuns;
  logs: RunLogs;
  exits: ExitWatch;
  stats: ControllerStats;
  clock: Clock;
}

/** What the spawn of a pending record may result in for the decision: the record to decide on next. */
type Next = ProcessRecord | null | undefined;

/**
 * The spawn of a pending record: a port, the run, the checks, the cgroup, the fork. A
 * start that cannot be carried out now is deferred with its reason on the record; one
 * that can never be (policy, missing program, bad cwd, limits this host cannot enforce)
 * fails with its reason. Its outcome is kept for the start job that asked.
 */
export class Spawner {
  private readonly outcomes = new Map<string, StartOutcome>();

  constructor(private readonly deps: SpawnDeps) {}

  /** What became of the last start of id (once per start job). */
  takeOutcome(id: string): StartOutcome {
    const out = this.outcomes.get(id) ?? { kind: 'ignored' };
    this.outcomes.delete(id);
    return out;
  }

  async spawn(id: string, rec: ProcessRecord): Promise<Next> {
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
    const h = newHeld(runId, 'spawning');
    const begun = await this.begin(id, rec, h, port);
    if (begun === undefined) return undefined;
    const cwd = resolve(rec.cwd ?? process.cwd());
    // Capacity is not the policy's to refuse: a full host hands the start back instead.
    const problem =
      checkStart({ ...this.deps.policy, maxProcesses: null }, { command: rec.command, cwd, env: rec.env }, 0) ?? checkCwd(cwd);
    if (problem) return this.fail(id, h, begun, problem);
    const limits = this.limitsFor(rec);
    if (typeof limits === 'string') return this.fail(id, h, begun, limits);
    if (rec.daemon && rec.pidFile === null && !this.deps.cgroups)
      return this.fail(id, h, begun, daemonUnfollowable(this.deps.hostId, this.deps.containment.reason));
    this.deps.logs.ensureDir();
    let cgroup: ForkerRequest['cgroup'];
    const cg = this.deps.cgroups;
    if (cg) {
      h.leaf = cg.leafName(id, runId);
      try {
        cgroup = await cg.prepare(h.leaf, limits.all);
      } catch (err) {
        await cg.remove(h.leaf);
        return this.fail(id, h, begun, `cannot set up its cgroup: ${(err as Error).message}`);
      }
    }
    return this.fork(id, rec, h, begun, { port, cwd, cgroup, limits: limits.set ? limits.all : undefined });
  }

  /** Records `spawn_begun` with the new run; undefined when the record moved meanwhile. */
  private async begin(id: string, rec: ProcessRecord, h: Held, port: number | null): Promise<ProcessRecord | null | undefined> {
    this.deps.held.set(id, h);
    try {
      const res = await this.deps.store.transact(
        id,
        (cur) => (cur?.version === rec.version ? [{ type: 'spawn_begun', host: this.deps.hostId, port, run: h.runId! }] : null),
        rec,
      );
      if (res.appended.length > 0) return res.record;
      this.deps.held.delete(id);
      if (rec.requestedPort === 'auto' && port !== null) await this.deps.ports.release(port, id);
      return undefined;
    } catch (err) {
      // Unknown whether it landed: the record will say; nothing was spawned either way.
      this.deps.held.delete(id);
      throw err;
    }
  }

  /** The limits the run gets, or why this host cannot give them. */
  private limitsFor(rec: ProcessRecord): { all: Limits; set: boolean } | string {
    const lim = effectiveLimits(this.deps.policy, rec.limits);
    if ('error' in lim) return lim.error;
    const limited = Object.entries(lim.limits).filter(([, v]) => v !== null);
    if (!this.deps.cgroups && limited.length > 0) {
      const what = limited.map(([k]) => k).join(', ');
      return `cannot enforce ${what}: host ${this.deps.hostId} runs in process mode (${this.deps.containment.reason})`;
    }
    return { all: lim.limits, set: limited.length > 0 };
  }

  private async fork(
    id: string,
    rec: ProcessRecord,
    h: Held,
    begun: ProcessRecord | null,
    o: { port: number | null; cwd: string; cgroup: ForkerRequest['cgroup']; limits: Limits | undefined },
  ): Promise<Next> {
    const { deps } = this;
    const [file, ...args] = rec.command as [string, ...string[]];
    const res = await deps.forker.spawn({
      cgroup: o.cgroup,
      id,
      file,
      args,
      cwd: o.cwd,
      logFile: deps.logs.file(id),
      env: buildEnv(deps.runnerEnv, rec.env, id, deps.me, o.port, h.runId!),
      uid: deps.policy.runAs?.uid ?? null,
      gid: deps.policy.runAs?.gid ?? null,
    });
    if (!res.ok) return this.fail(id, h, begun, describeSpawnError(res.code, res.message, file, o.cwd));
    h.phase = 'up';
    h.spawnedHere = true;
    h.spawnedMono = deps.clock.mono();
    h.spawn = {
      pid: res.pid,
      pgid: res.pgid,
      sid: res.sid,
      startTime: res.startTime,
      port: o.port,
      ...(deps.cgroups && h.leaf ? { cgroup: deps.cgroups.pathOf(h.leaf) } : {}),
      ...(o.limits ? { limits: o.limits } : {}),
    };
    h.ident = { id, pid: res.pid, pgid: res.pgid, sid: res.sid, startTime: res.startTime };
    h.logOffset = res.logOffset;
    h.exit = deps.exits.takeEarly(res.pid);
    this.outcomes.set(id, { kind: 'spawned' });
    deps.logs.track(id, rec.logs, res.logOffset);
    return begun;
  }

  private async defer(id: string, rec: ProcessRecord, reason: string): Promise<Next> {
    this.deps.stats.deferred++;
    const retryInMs = 1000;
    await this.deps.store.transact(
      id,
      (cur) =>
        cur?.state === 'pending' && cur.desired === 'running'
          ? [{ type: 'start_deferred', host: this.deps.hostId, reason, retryInMs }]
          : null,
      rec,
    );
    this.deps.log.warn({ processId: id, reason }, 'start deferred: will retry');
    this.outcomes.set(id, { kind: 'deferred', reason });
    // The job is handed back to the queue by the caller; nothing more to decide now.
    return null;
  }

  private fail(id: string, h: Held, begun: ProcessRecord | null, error: string): ProcessRecord | null {
    h.phase = 'spawn-failed';
    h.failure = error;
    this.outcomes.set(id, { kind: 'failed', error });
    return begun;
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
