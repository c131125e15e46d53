import type { EventStore } from '../../shared/event-store.js';
import type { Logger } from '../../shared/logger.js';
import type { ReconcileReport } from '../../shared/reconcile-report.js';
import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import { readCookies, type HostOs } from '../host-os.js';
import { descendants, type ProcStat } from '../proc/parse.js';
import type { Reaper } from '../reaper.js';
import { identityOf, stopTree } from '../stopper.js';
import type { Supervisor } from '../supervisor.js';
import { CRASH_LOOP_LIMIT } from '../restart.js';
import { cookieCandidates } from '../tree.js';
import { plan, type Action } from './plan.js';

export type { ReconcileReport };

export interface ReconcileDeps {
  sup: Supervisor;
  /** Enqueues the start job of a retried or restarted record. */
  enqueueStart: (rec: ProcessRecord, delayMs: number) => Promise<void>;
  store: EventStore;
  os: HostOs;
  reaper: Reaper;
  log: Logger;
  hostId: string;
  owner: string;
  graceMs: number;
  now: () => number;
}

/**
 * One pass: read the records and the table, plan, act. Stops it starts (leftovers,
 * orphans, resumed stops) run in the background under the supervisor so a pass never
 * waits out a grace period; the next pass sees them as busy.
 */
export async function reconcileOnce(d: ReconcileDeps): Promise<ReconcileReport> {
  const t0 = d.now();
  const { sup, store, os } = d;
  const records = await store.ofHost(d.hostId);
  const byId = new Map(records.map((r) => [r.id, r]));
  const procs = os.table.list();
  const idents = records.map(identityOf).filter((x) => x !== null);
  const candidates = cookieCandidates(procs, idents, os.selfPid);
  // A worker that died left its orphans to init: they are found by their cookie there.
  for (const p of procs) if (p.ppid === 1 && p.pid !== os.selfPid) candidates.add(p.pid);
  // Members of a live group whose leader still has its recorded identity belong to that
  // record already: their environment says nothing new. Only the rest is read, which
  // keeps a pass over 1,000 healthy trees from reading 3,000 environments.
  const trusted = trustedGroups(records, procs);
  for (const p of procs) if (trusted.has(p.pgid) && candidates.has(p.pid)) candidates.delete(p.pid);
  const cookies = readCookies(os, candidates);
  const busy = new Set<string>([...sup.spawning, ...sup.stopsInFlight()]);
  for (const id of sup.watched.keys()) {
    const st = byId.get(id)?.state;
    if (st === 'running' || st === 'starting') busy.add(id);
  }

  const actions = plan({
    hostId: d.hostId, owner: d.owner, selfPid: os.selfPid, bootId: os.table.bootId(), now: t0,
    records, procs, cookies, busy, ownChildren: sup.ownChildren,
  });

  const report: ReconcileReport = { host: d.hostId, at: new Date(t0).toISOString(), durationMs: 0, records: records.length, processes: procs.length, actions: [], errors: [] };
  for (const a of actions) {
    try {
      const detail = await act(d, a, byId);
      report.actions.push({ kind: a.kind, ...('id' in a ? { id: a.id } : {}), ...('pids' in a ? { pids: a.pids } : {}), detail });
    } catch (err) {
      report.errors.push(`${a.kind}${'id' in a ? ` ${a.id}` : ''}: ${(err as Error).message}`);
    }
  }
  report.durationMs = d.now() - t0;
  if (report.actions.length > 0 || report.errors.length > 0) d.log.info({ report }, 'reconcile pass');
  return report;
}

async function act(d: ReconcileDeps, a: Action, byId: Map<string, ProcessRecord>): Promise<string> {
  const { sup, store } = d;
  switch (a.kind) {
    case 'adopt': {
      const { record } = await store.transact(a.id, (cur) => (cur && isUp(cur) && cur.host === d.hostId ? [{ type: 'adopted', host: d.hostId }] : null));
      if (record) sup.adopt(record);
      return `adopted pid ${record?.pid}`;
    }
    case 'missed-exit':
    case 'stop-leftovers': {
      const kind = a.kind === 'missed-exit' ? 'missed-exit' : 'leftovers';
      const pids = a.kind === 'stop-leftovers' ? a.pids : [];
      const { record } = await store.transact(a.id, (cur) =>
        cur && isUp(cur)
          ? [{ type: 'drift', kind, detail: `leader ${cur.pid} ended unseen`, pids }, { type: 'exited', code: null, signal: null, how: 'unknown' }]
          : null,
      );
      if (record) sup.track(a.id, () => sup.settle(record));
      return a.kind === 'missed-exit' ? 'recorded the exit' : `stopping ${pids.length} leftovers`;
    }
    case 'lost': {
      const { record } = await store.transact(a.id, (cur) =>
        cur && (isUp(cur) || cur.state === 'stopping')
          ? [{ type: 'drift', kind: 'pid-reused', detail: a.reason, pids: [] }, { type: 'lost', reason: a.reason }]
          : null,
      );
      if (record) sup.track(a.id, () => sup.settle(record));
      return a.reason;
    }
    case 'stop-after-end': {
      const rec = byId.get(a.id)!;
      await store.transact(a.id, (cur) => (cur ? [{ type: 'drift', kind: 'alive-after-end', detail: `${a.pids.length} alive after it ${cur.state}`, pids: a.pids }] : null));
      sup.track(a.id, async () => {
        const fresh = (await store.get(a.id)) ?? rec;
        const outcome = await stopTree(sup.stopperDeps(), { ...fresh, killDeadline: null }, 'SIGTERM', fresh.graceMs ?? d.graceMs);
        if (outcome !== 'pending') await store.transact(a.id, (cur) => (cur && cur.state !== 'pending' ? [{ type: 'stopped', how: 'drift' }] : null));
      });
      return `stopping ${a.pids.length} processes`;
    }
    case 'stop-orphan': {
      await store.transact(a.id, (cur) => (cur && cur.state !== 'pending' ? [{ type: 'drift', kind: 'orphan', detail: `carries the cookie of ${a.id} on ${d.hostId}, no record claims it`, pids: a.pids }] : null)).catch(() => undefined);
      if (a.pids.length > 0) sup.track(a.id, () => killPids(d, a.pids));
      return `stopping ${a.pids.length} orphans`;
    }
    case 'abandoned-spawn': {
      // The user still wants it running: the failure and the retry are one append, so a
      // waiter never sees a final state in between. The retry's job waits out a grace
      // period, by when whatever the dead worker left is gone: it can never run beside it.
      const delayMs = d.graceMs + 2000;
      const { record, appended } = await store.transact(a.id, (cur) => {
        if (cur?.state !== 'starting') return null;
        const failed = { type: 'spawn_failed' as const, host: d.hostId, error: 'the worker died while spawning it' };
        const retry = cur.desired === 'running' && cur.crashLoop < CRASH_LOOP_LIMIT;
        return retry ? [failed, { type: 'restart_scheduled' as const, attempt: cur.restarts + 1, delayMs }] : [failed];
      });
      if (record?.state === 'pending' && appended.length === 2) await d.enqueueStart(record, delayMs);
      if (a.pids.length > 0) sup.track(a.id, () => killPids(d, a.pids));
      return `${a.pids.length > 0 ? `stopping ${a.pids.length} left by the dead spawn; ` : ''}${record?.state === 'pending' ? `retrying in ${delayMs} ms` : 'failed'}`;
    }
    case 'resume-stop':
      void sup.stop(a.id);
      return a.overdue ? 'escalating an overdue stop' : 'resumed the stop';
    case 'reap': {
      const reaped = d.reaper.sweep();
      return `reaped ${reaped.length} zombies`;
    }
  }
}

/** Process groups of live records whose leader is alive with its recorded identity. */
function trustedGroups(records: readonly ProcessRecord[], procs: readonly ProcStat[]): Set<number> {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const out = new Set<number>();
  for (const r of records) {
    if (FINAL_STATES.has(r.state) || r.pid === null || r.pgid === null) continue;
    const leader = byPid.get(r.pid);
    if (leader && leader.state !== 'Z' && leader.startTime === r.startTime && leader.pgid === r.pgid) out.add(r.pgid);
  }
  return out;
}

/** Running, or spawned and awaiting its readiness check. */
function isUp(r: ProcessRecord): boolean {
  return r.state === 'running' || (r.state === 'starting' && r.pid !== null);
}

/**
 * Orphans have no trusted group: each one and its descendants are stopped by pid, and
 * every pid is remembered with its start time so a pid reused during the grace period
 * is never signalled.
 */
async function killPids(d: ReconcileDeps, roots: number[]): Promise<void> {
  const { os } = d;
  const known = new Map<number, number>();
  const alive = (): number[] => {
    const procs = os.table.list();
    const live = new Map(procs.filter((x) => x.state !== 'Z' && x.pid !== os.selfPid).map((x) => [x.pid, x]));
    if (known.size === 0) for (const r of roots) if (live.has(r)) known.set(r, live.get(r)!.startTime);
    const current = [...known].filter(([pid, st]) => live.get(pid)?.startTime === st).map(([pid]) => pid);
    for (const x of descendants(procs, current)) {
      const p = live.get(x);
      if (p && !known.has(x)) known.set(x, p.startTime);
    }
    return [...known].filter(([pid, st]) => live.get(pid)?.startTime === st).map(([pid]) => pid);
  };
  for (const p of alive()) os.kill(p, 'SIGTERM');
  for (const p of alive()) os.kill(p, 'SIGCONT');
  const until = d.now() + d.graceMs;
  while (d.now() < until && alive().length > 0) await new Promise((r) => setTimeout(r, 50));
  for (const p of alive()) os.kill(p, 'SIGKILL');
}
