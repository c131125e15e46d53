import type { EventStore } from '../../shared/event-store.js';
import type { Logger } from '../../shared/logger.js';
import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import type { ReconcileReport } from '../../shared/reconcile-report.js';
import type { Controller } from '../controller/controller.js';
import type { Trigger } from '../controller/decide.js';
import { readCookies, type HostOs } from '../host-os.js';
import type { ProcStat } from '../../shared/proc-stat.js';
import type { Reaper } from '../reaper.js';
import { cookieCandidates, identityOf, leaderAlive } from '../tree.js';
import { cgroupLeftovers, plan, type Drift } from './plan.js';

export type { ReconcileReport };

export interface ReconcileDeps {
  controller: Controller;
  store: EventStore;
  os: HostOs;
  reaper: Reaper;
  log: Logger;
  hostId: string;
  owner: string;
  now: () => number;
}

const DETAIL: Record<Drift['kind'], string> = {
  adopt: 'adopting it',
  'missed-exit': 'recording the exit',
  'stop-leftovers': 'stopping leftovers',
  lost: 'recording it lost',
  'stop-after-end': 'stopping what is alive after its end',
  'stop-orphan': 'stopping orphans',
  'resume-stop': 'resuming the stop',
  'abandoned-spawn': 'failing the abandoned spawn (and retrying)',
  reap: 'reaping',
};

/**
 * One pass, level-triggered: read the records and the table, find what differs, and hand
 * each id to the controller, which reads the record again and decides. The pass itself
 * never acts on a process, so a snapshot that went stale while it was read (a spawn
 * recorded in between) can never get a healthy process killed.
 */
export async function reconcileHost(deps: ReconcileDeps, opts: { full?: boolean; finishedSince?: number } = {}): Promise<ReconcileReport> {
  const t0 = deps.now();
  const { controller, store, os } = deps;
  // Most passes read the host's live index: their cost follows what runs, not the history.
  // Finished records are read too, so a member that outlived its record's end without the
  // cookie (same group or session) is still found by its ids: every record of the host by a
  // full pass (at boot, on demand), those ended lately by a sweep (every few passes).
  const { records: all, corrupt } = opts.full
    ? await store.readMany(await store.hostIds(deps.hostId))
    : opts.finishedSince !== undefined
      ? await liveAndEnded(store, deps.hostId, opts.finishedSince)
      : await store.readLive(deps.hostId);
  const records = all.filter((r) => r.host === deps.hostId);
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
  for (const pid of controller.leaders()) candidates.delete(pid);
  const cookies = readCookies(os, candidates);
  const busy = new Set<string>(records.map((r) => r.id).filter((id) => controller.holds(id)));

  const actions = plan({
    hostId: deps.hostId,
    owner: deps.owner,
    selfPid: os.selfPid,
    bootId: os.table.bootId(),
    now: t0,
    records,
    procs,
    cookies,
    busy,
    ownChildren: controller.ownChildren,
  });

  const report: ReconcileReport = {
    host: deps.hostId,
    at: new Date(t0).toISOString(),
    durationMs: 0,
    records: records.length,
    full: opts.full === true,
    ...(opts.finishedSince !== undefined && !opts.full ? { finishedSince: new Date(opts.finishedSince).toISOString() } : {}),
    processes: procs.length,
    actions: [],
    errors: [],
    ...(corrupt.length > 0 ? { corrupt } : {}),
  };
  for (const c of corrupt) report.errors.push(`record of ${c.id} is corrupt: ${c.problem}`);
  const work: Array<Promise<void>> = [];
  for (const a of actions) {
    if (a.kind === 'reap') {
      const reaped = deps.reaper.sweep();
      report.actions.push({ kind: a.kind, pids: a.pids, detail: `reaped ${reaped.length} zombies` });
      continue;
    }
    const t: Trigger =
      a.kind === 'stop-orphan'
        ? { kind: 'orphans', pids: a.pids, run: a.run }
        : a.kind === 'abandoned-spawn'
          ? { kind: 'abandoned', pids: a.pids }
          : { kind: 'tick' };
    work.push(controller.trigger(a.id, t).catch((err) => void report.errors.push(`${a.kind} ${a.id}: ${(err as Error).message}`)));
    report.actions.push({
      kind: a.kind,
      id: a.id,
      ...('pids' in a ? { pids: a.pids } : {}),
      detail: 'reason' in a ? a.reason : DETAIL[a.kind],
    });
  }
  // Cgroup mode: a leaf no live run claims is drift, whatever its members' environment says.
  const leaves = controller.cgroupLeaves();
  if (leaves.length > 0) {
    // Held ids are not skipped here: a held id's leaf of another run is a leftover too
    // (cleanLeaf leaves the run it holds alone). A record that cannot be read is left
    // alone, leaf and all: what it held is unknown, and a bad record must harm nothing.
    for (const l of cgroupLeftovers(leaves, records, deps.hostId, new Set(corrupt.map((x) => x.id)))) {
      work.push(
        controller.cleanLeaf(l.leaf, l.id, l.run).then(
          (pids) => {
            if (pids === null) return;
            report.actions.push({
              kind: 'cgroup-leftover',
              id: l.id,
              pids,
              detail:
                pids.length > 0
                  ? `killed ${pids.length} in cgroup ${l.leaf} no live run claims, removed it`
                  : `removed empty cgroup ${l.leaf}`,
            });
          },
          (err) => void report.errors.push(`cgroup-leftover ${l.leaf}: ${(err as Error).message}`),
        ),
      );
    }
  }
  // Level-triggered: every id this worker holds is looked at again, whatever happened to it.
  for (const id of controller.heldIds())
    if (!actions.some((a) => 'id' in a && a.id === id)) work.push(controller.trigger(id, { kind: 'tick' }).catch(() => undefined));
  await Promise.all(work);
  report.durationMs = deps.now() - t0;
  if (report.actions.length > 0 || report.errors.length > 0) deps.log.info({ report }, 'reconcile pass');
  return report;
}

/** Process groups of live records whose leader is alive with its recorded identity. */
function trustedGroups(records: readonly ProcessRecord[], procs: readonly ProcStat[]): Set<number> {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const out = new Set<number>();
  for (const r of records) {
    const ident = identityOf(r);
    if (FINAL_STATES.has(r.state) || !ident) continue;
    const leader = byPid.get(ident.pid);
    if (leaderAlive(ident, leader) && leader!.pgid === ident.pgid) out.add(ident.pgid);
  }
  return out;
}

/** The live records of a host and those ended since sinceMs, each once. */
async function liveAndEnded(
  store: ReconcileDeps['store'],
  hostId: string,
  sinceMs: number,
): Promise<Awaited<ReturnType<typeof store.readLive>>> {
  const [live, ended] = await Promise.all([store.readLive(hostId), store.readEnded(hostId, sinceMs)]);
  const seen = new Set(live.records.map((r) => r.id));
  return {
    records: [...live.records, ...ended.records.filter((r) => !seen.has(r.id))],
    corrupt: [...live.corrupt, ...ended.corrupt.filter((c) => !live.corrupt.some((l) => l.id === c.id))],
  };
}
