import type { Clock } from '../../shared/clock.js';
import type { EventStore } from '../../shared/event-store.js';
import type { Logger } from '../../shared/logger.js';
import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import type { ReconcileReport } from '../../shared/reconcile-report.js';
import type { Controller } from '../controller/controller.js';
import type { Trigger } from '../controller/decision.js';
import { describeProcs, readCookies, type HostOs } from '../host-os.js';
import type { ProcStat } from '../../shared/proc-stat.js';
import type { Reaper } from '../reaper.js';
import { cookieCandidates, identityOf, leaderAlive, type Self } from '../tree.js';
import { did } from '../controller/reasons.js';
import { cgroupLeftovers, plan } from './plan.js';

export type { ReconcileReport };

export interface ReconcileDeps {
  controller: Controller;
  store: EventStore;
  os: HostOs;
  reaper: Reaper;
  log: Logger;
  hostId: string;
  me: Self;
  clock: Clock;
  /** Foreign processes (pid:start time) already logged: each is logged once, reported every pass. */
  foreignLogged: Set<string>;
}

/**
 * One pass, level-triggered: read the records and the table, find the ids whose world may
 * differ from their record, and hand each to the controller, which reads the record again
 * and decides (every drift kind and its reason is decided there, nowhere else). The pass
 * itself never acts on a process, so a snapshot that went stale while it was read (a spawn
 * recorded in between) can never get a healthy process killed. The report says what the
 * controller found and did for the ids it was handed.
 */
export async function reconcileHost(deps: ReconcileDeps, opts: { full?: boolean; finishedSince?: number } = {}): Promise<ReconcileReport> {
  const at = deps.clock.now();
  const t0 = deps.clock.mono();
  const { controller } = deps;
  const { records, corrupt, procs, sightings } = await look(deps, opts);
  const report: ReconcileReport = {
    host: deps.hostId,
    at: new Date(at).toISOString(),
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
  const hand = (id: string, t: Trigger, what: string) =>
    work.push(
      controller.look(id, t).then(
        (notes) => void report.actions.push(...notes.map((n) => ({ ...n, id }))),
        (err) => void report.errors.push(`${what} ${id}: ${(err as Error).message}`),
      ),
    );
  for (const s of sightings) {
    if (s.kind === 'reap') report.actions.push(did.reaped(deps.reaper.sweep().length));
    else if (s.kind === 'look') hand(s.id, { kind: 'tick' }, s.kind);
    else if (s.kind === 'orphans')
      hand(s.id, { kind: 'orphans', pids: s.pids, run: s.run, ...(s.legacy ? { legacy: s.legacy } : {}) }, s.kind);
    else if (s.kind === 'foreign') report.actions.push({ ...did.foreign(s.id, s.fleet, describeProcs(deps.os, s.pids)), id: s.id });
    else hand(s.id, { kind: 'abandoned', pids: s.pids }, s.kind);
  }
  // Cgroup mode: a leaf no live run claims is drift, whatever its members' environment says.
  // Held ids are not skipped here: a held id's leaf of another run is a leftover too (the
  // decision leaves the run it holds alone). A record that cannot be read is left alone,
  // leaf and all: what it held is unknown, and a bad record must harm nothing.
  // A leaf of the subtree a release before fleet ids made is this fleet's only by its
  // record: decide() reads it, and leaves one with none alone (drift foreign).
  const skip = new Set(corrupt.map((x) => x.id));
  for (const legacy of [false, true]) {
    const leaves = legacy ? controller.legacyCgroupLeaves() : controller.cgroupLeaves();
    for (const l of leaves.length > 0 ? cgroupLeftovers(leaves, records, deps.hostId, skip) : [])
      hand(l.id, { kind: 'leaf', leaf: l.leaf, run: l.run, ...(legacy ? { legacy } : {}) }, `cgroup-leftover ${l.leaf}`);
  }
  // A child the worker inherited belongs to a run it holds (looked at below) or to none: drift.
  const strays = controller.killStrays();
  if (strays.length > 0) report.actions.push(did.straysStopped(strays));
  // Level-triggered: every id this worker holds is looked at again, whatever happened to it.
  const handed = new Set(sightings.map((s) => (s.kind !== 'reap' && s.kind !== 'foreign' ? s.id : '')));
  for (const id of controller.heldIds()) if (!handed.has(id)) hand(id, { kind: 'tick' }, 'tick');
  await Promise.all(work);
  report.durationMs = Math.round(deps.clock.mono() - t0);
  logForeign(deps, report, procs);
  if (report.errors.length > 0 || report.actions.some((a) => a.kind !== 'foreign')) deps.log.info({ report }, 'reconcile pass');
  return report;
}

/**
 * Foreign processes stay where they are, pass after pass: every report names them, the
 * log only the first pass that finds each (by pid and start time, so a reused pid is news).
 */
function logForeign(deps: ReconcileDeps, report: ReconcileReport, procs: readonly ProcStat[]): void {
  const start = new Map(procs.map((p) => [p.pid, p.startTime]));
  const now = new Set<string>();
  for (const a of report.actions) if (a.kind === 'foreign') for (const pid of a.pids ?? []) now.add(`${pid}:${start.get(pid) ?? '?'}`);
  const news = [...now].some((k) => !deps.foreignLogged.has(k));
  deps.foreignLogged.clear();
  for (const k of now) deps.foreignLogged.add(k);
  if (news) deps.log.warn({ foreign: report.actions.filter((a) => a.kind === 'foreign') }, 'processes not of this fleet: left alone');
}

/** The records of this host, the process table, and the ids whose world may differ from their record. */
async function look(deps: ReconcileDeps, opts: { full?: boolean; finishedSince?: number }) {
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
  const sightings = plan({
    hostId: deps.hostId,
    me: deps.me,
    selfPid: os.selfPid,
    bootId: os.table.bootId(),
    records,
    procs,
    cookies,
    busy,
    ownChildren: controller.ownChildren,
  });
  return { records, corrupt, procs, sightings };
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
