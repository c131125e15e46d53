import type { ReapqEvent } from './events.js';
import { FINAL_STATES, mayRestart, type ProcessRecord, type State } from './record.js';

export type ReduceResult = { ok: true; record: ProcessRecord } | { ok: false; error: string };

/**
 * Folds one event into a record. Pure: the same (record, event) always gives the same
 * result, so a record can be rebuilt from its stream. An event that does not fit the
 * record's state is rejected with a reason; nothing is silently overwritten.
 */
// eslint-disable-next-line max-lines-per-function -- table-shaped: one case per event type
export function reduce(prev: ProcessRecord | null, event: ReapqEvent, id: string): ReduceResult {
  const at = new Date(event.at).toISOString();
  if (prev === null) {
    if (event.type !== 'start_requested') return fail(`${event.type} on a process that was never requested`);
    const s = event.spec;
    return ok({
      id,
      name: s.name,
      state: 'pending',
      desired: 'running',
      host: null,
      pid: null,
      pgid: null,
      command: s.command,
      cwd: s.cwd,
      port: typeof s.port === 'number' ? s.port : null,
      restartPolicy: s.restart,
      restarts: 0,
      exitCode: null,
      signal: null,
      error: null,
      createdAt: at,
      updatedAt: at,
      version: 1,
      env: s.env,
      requestedPort: s.port,
      requestedHost: s.host,
      graceMs: s.graceMs,
      sid: null,
      startTime: null,
      bootId: null,
      stopSignal: null,
      killDeadline: null,
      killPending: [],
      endReason: null,
      crashLoop: 0,
      startedAt: null,
      endedAt: null,
      ready: s.ready ?? null,
      readyAt: null,
      runId: null,
      containment: null,
      cgroup: null,
      service: s.service ?? null,
      revision: s.revision ?? null,
      limits: s.limits ?? null,
      restartOf: s.restartOf ?? null,
      oom: null,
      logs: s.logs ?? null,
      logLoss: null,
      atMostOne: s.atMostOne ?? false,
      daemon: !!s.daemon,
      pidFile: s.daemon?.pidFile ?? null,
      mainPid: null,
    });
  }
  // The fence: an event about a run other than the current one is from a worker that
  // lost track (frozen, partitioned); folding it would settle somebody else's process.
  if ('run' in event && event.run !== undefined && event.type !== 'spawn_begun' && event.run !== prev.runId) {
    return fail(staleRun(event.run, prev.runId));
  }
  const r: ProcessRecord = { ...prev, updatedAt: at, version: prev.version + 1 };
  const from = prev.state;
  const need = (...states: State[]) => (states.includes(from) ? null : `${event.type} is not allowed in state ${from}`);
  const end = (state: State, reason: ProcessRecord['endReason']): void => {
    r.state = state;
    r.endReason ??= reason;
    r.endedAt ??= at;
    r.killDeadline = null;
  };

  switch (event.type) {
    case 'start_requested':
      return fail(`process ${id} already exists`);
    case 'spawn_begun': {
      const bad = need('pending');
      if (bad) return fail(bad);
      if (prev.desired === 'stopped') return fail('spawn_begun after a stop was requested');
      Object.assign(r, { state: 'starting', host: event.host, port: event.port ?? r.port, error: null, runId: event.run ?? null });
      return ok(r);
    }
    case 'start_deferred': {
      const bad = need('pending');
      if (bad) return fail(bad);
      r.error = event.reason; // shown while it waits; cleared by the spawn that follows
      return ok(r);
    }
    case 'spawned': {
      const bad = need('starting');
      if (bad) return fail(bad);
      if (prev.host !== event.host) return fail(`spawned on ${event.host} but ${prev.host} began the spawn`);
      Object.assign(r, {
        // With a readiness check it stays starting, identity known, until `ready`.
        state: prev.ready ? 'starting' : 'running',
        readyAt: prev.ready ? null : at,
        pid: event.pid,
        pgid: event.pgid,
        sid: event.sid,
        startTime: event.startTime,
        bootId: event.bootId,
        port: event.port,
        startedAt: at,
        exitCode: null,
        signal: null,
        endReason: null,
        endedAt: null,
        killPending: [],
        oom: null,
        logLoss: null,
        containment: event.cgroup ? 'cgroup' : 'process',
        cgroup: event.cgroup ?? null,
        limits: event.limits ?? prev.limits,
        mainPid: event.daemon ? event.pid : null,
      });
      return ok(r);
    }
    case 'spawn_failed': {
      const bad = need('starting');
      if (bad) return fail(bad);
      r.error = event.error;
      end('failed', 'spawn-failed');
      return ok(r);
    }
    case 'start_failed': {
      const bad = need('pending');
      if (bad) return fail(bad);
      if (prev.desired === 'stopped') return fail('start_failed after a stop was requested');
      r.error = event.reason;
      end('failed', 'spawn-failed');
      return ok(r);
    }
    case 'stop_requested': {
      r.desired = 'stopped';
      r.stopSignal = event.signal;
      r.graceMs = event.graceMs;
      if (from === 'pending') end('stopped', 'stopped');
      else if (from === 'running' || (from === 'starting' && prev.pid !== null)) r.state = 'stopping';
      // starting: the spawner sees desired=stopped and stops it as soon as it is spawned.
      // final states: only desired moves, so a late restart cannot bring it back.
      return ok(r);
    }
    case 'signal_sent': {
      // starting without a pid has no identity yet: nothing could have been signalled.
      if (from === 'pending' || from === 'stopped' || (from === 'starting' && prev.pid === null))
        return fail(`${event.type} is not allowed in state ${from}`);
      if (from === 'running' || from === 'starting') r.state = 'stopping';
      r.killDeadline = event.killDeadline;
      return ok(r);
    }
    case 'exited': {
      const bad = need('running', 'stopping', 'starting');
      if (bad) return fail(bad);
      r.exitCode = event.code;
      r.signal = event.signal;
      if (from === 'stopping') return ok(r); // still stopping until the whole tree is verified gone
      end('exited', prev.oom ? 'oom' : event.how === 'signaled' ? 'signaled' : 'exited');
      if (from === 'starting') r.error = 'exited before it was recorded as running';
      return ok(r);
    }
    case 'stopped': {
      if (from === 'pending') return fail('stopped is not allowed in state pending');
      r.killPending = [];
      r.killDeadline = null;
      if (from === 'stopping' || from === 'running' || from === 'starting') {
        end('stopped', event.how === 'escalated' ? 'killed' : event.how === 'requested' ? 'stopped' : 'drift');
      }
      return ok(r);
    }
    case 'kill_pending':
      r.killPending = event.pids;
      return ok(r);
    case 'adopted': {
      const bad = need('running', 'stopping', 'starting');
      if (bad) return fail(bad);
      r.host = event.host;
      return ok(r);
    }
    case 'drift':
    case 'repaired':
      return ok(r);
    case 'log_lost': {
      if (from === 'pending') return fail('log_lost is not allowed in state pending');
      const times = (prev.logLoss?.times ?? 0) + 1;
      r.logLoss = { error: event.error, at, times, lostBytes: (prev.logLoss?.lostBytes ?? 0) + event.lostBytes };
      return ok(r);
    }
    case 'oom': {
      if (from === 'pending') return fail('oom is not allowed in state pending');
      r.oom = { kills: event.kills, limit: event.limit };
      // An exit already recorded was the OOM killer's doing: it is the reason the run ended.
      if (from === 'exited') r.endReason = 'oom';
      if (from === 'exited' || from === 'running' || from === 'starting')
        r.error = `killed by the OOM killer${event.limit !== null ? ` at its memory limit of ${event.limit} bytes` : ''}`;
      return ok(r);
    }
    case 'lost': {
      if (from === 'pending' || from === 'stopped') return fail(`lost is not allowed in state ${from}`);
      r.error = event.reason;
      end('lost', 'lost');
      return ok(r);
    }
    case 'restart_scheduled': {
      const bad = need('exited', 'failed', 'lost');
      if (bad) return fail(bad);
      if (prev.desired === 'stopped') return fail('restart_scheduled after a stop was requested');
      const ranMs = prev.startedAt && prev.endedAt ? Date.parse(prev.endedAt) - Date.parse(prev.startedAt) : 0;
      Object.assign(r, {
        state: 'pending',
        restarts: prev.restarts + 1,
        crashLoop: ranMs < CRASH_LOOP_WINDOW_MS ? prev.crashLoop + 1 : 0,
        pid: null,
        pgid: null,
        sid: null,
        startTime: null,
        bootId: null,
        killDeadline: null,
        killPending: [],
        endReason: null,
        endedAt: null,
        error: null,
        startedAt: null,
        // Port and host are chosen again by the next spawn, unless the user pinned them.
        port: typeof prev.requestedPort === 'number' ? prev.requestedPort : null,
        host: null,
      });
      return ok(r);
    }
    case 'ready': {
      const bad = need('starting');
      if (bad) return fail(bad);
      if (prev.pid === null) return fail('ready before spawned');
      r.state = 'running';
      r.readyAt = at;
      return ok(r);
    }
    case 'not_ready': {
      const bad = need('starting');
      if (bad) return fail(bad);
      r.error = event.reason;
      end('failed', 'not-ready');
      return ok(r);
    }
    case 'gave_up': {
      const bad = need('exited', 'failed', 'lost');
      if (bad) return fail(bad);
      r.state = 'failed';
      r.error = event.reason;
      r.endReason = 'crash-loop';
      return ok(r);
    }
  }
}

/** Live on its host: something may still run there, or will (see Keys.liveIndex). */
export function isLive(r: ProcessRecord): boolean {
  return !FINAL_STATES.has(r.state) || mayRestart(r) || r.killPending.length > 0;
}

/** A run shorter than this counts toward the crash loop; a longer one resets it. */
export const CRASH_LOOP_WINDOW_MS = 10_000;

export function fold(events: Iterable<ReapqEvent>, id: string): ProcessRecord | null {
  let rec: ProcessRecord | null = null;
  for (const e of events) {
    const res = reduce(rec, e, id);
    if (!res.ok) throw new Error(`stream of ${id} does not fold at version ${(rec?.version ?? 0) + 1}: ${res.error}`);
    rec = res.record;
  }
  return rec;
}

/** The reducer's refusal of an event from a run that is not the current one. */
export function staleRun(run: string, current: string | null): string {
  return `stale run ${run}: the current run is ${current ?? 'none'}`;
}

export function isStaleRunError(error: string): boolean {
  return error.startsWith('stale run ');
}

const ok = (record: ProcessRecord): ReduceResult => ({ ok: true, record });
const fail = (error: string): ReduceResult => ({ ok: false, error });
