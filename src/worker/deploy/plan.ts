import { nextReplica, replicaId, replicaSpec, type DeployEventDraft, type DeployRecord } from '../../shared/deploy.js';
import { FINAL_STATES, mayRestart, type ProcessRecord } from '../../shared/record.js';

/**
 * The deploy planner: pure. Given a deploy's record, the records of the processes it names
 * (its new replicas, the previous revision's, the ones a rollback restored) and the time,
 * it says what to do next. The runner carries the actions out and asks again; nothing is
 * remembered between calls, so whoever runs the next call (the same worker, another one
 * after a crash) continues from the record alone.
 */
export type DeployAction =
  /** Record an event on the deploy. */
  | { kind: 'append'; event: DeployEventDraft }
  /** Request a replica's process (idempotent by id), then record `then`. */
  | { kind: 'start'; process: string; replica: number; revision: number; spec: Record<string, unknown>; then: DeployEventDraft }
  /** Request the stop of a process (its tree stopped and verified gone by its worker). */
  | { kind: 'stop'; process: string };

export type Observed = ReadonlyMap<string, ProcessRecord | null>;

/** A process whose tree is gone for good: no record, or final with no restart to come and no kill pending or under way. */
export function gone(rec: ProcessRecord | null | undefined): boolean {
  if (!rec) return true;
  // A kill deadline still set: its worker is stopping the tree (a failed readiness check
  // records `failed` first and stops the tree after).
  return (
    FINAL_STATES.has(rec.state) &&
    (rec.desired === 'stopped' || !mayRestart(rec)) &&
    rec.killPending.length === 0 &&
    rec.killDeadline === null
  );
}

/** A replica that serves: running (for a process with a readiness check, only once it passed). */
const serving = (rec: ProcessRecord | null | undefined) => rec?.state === 'running' && rec.desired === 'running';

/** Why a new replica failed, or null while it may still become ready. */
function failure(d: DeployRecord, i: number, rec: ProcessRecord | null | undefined, now: number): string | null {
  const id = d.processes[i]!;
  if (!rec) return `${id}: its record is gone`;
  if (rec.desired === 'stopped') return `${id} was stopped from outside the deploy`;
  if (FINAL_STATES.has(rec.state) || (rec.state === 'pending' && rec.restarts > 0)) {
    const why = rec.error ?? (rec.exitCode !== null ? `exit code ${rec.exitCode}` : rec.signal ? `signal ${rec.signal}` : rec.endReason);
    return `${id} ${rec.restarts > 0 && !FINAL_STATES.has(rec.state) ? 'exited' : rec.state}${why ? ` (${why})` : ''}`;
  }
  if (!d.ready.includes(id) && !serving(rec) && now - (d.startedAt[i] ?? now) > d.timeoutMs)
    return `${id} not ready within ${d.timeoutMs} ms (${rec.state})`;
  return null;
}

/** Stops, and records as stopped once gone, the given processes of the previous revision. */
function retire(d: DeployRecord, ids: readonly string[], seen: Observed): { actions: DeployAction[]; done: boolean } {
  const actions: DeployAction[] = [];
  let done = true;
  for (const p of ids) {
    if (d.previousStopped.includes(p)) continue;
    const rec = seen.get(p);
    const replica = d.previous!.processes.indexOf(p);
    if (gone(rec)) actions.push({ kind: 'append', event: { type: 'previous_stopped', process: p, replica } });
    else {
      done = false;
      if (rec!.desired !== 'stopped') actions.push({ kind: 'stop', process: p });
    }
  }
  return { actions, done: done && actions.length === 0 };
}

/** Stops every given process that still lives; true once all are gone. */
function stopAll(ids: readonly string[], seen: Observed): { actions: DeployAction[]; done: boolean } {
  const actions: DeployAction[] = [];
  let done = true;
  for (const p of ids) {
    const rec = seen.get(p);
    if (gone(rec)) continue;
    done = false;
    if (rec!.desired !== 'stopped') actions.push({ kind: 'stop', process: p });
  }
  return { actions, done };
}

function startNew(d: DeployRecord, i: number): DeployAction {
  const process = replicaId(d.service, d.revision, i);
  return {
    kind: 'start',
    process,
    replica: i,
    revision: d.revision,
    spec: replicaSpec(d.spec!),
    then: { type: 'revision_started', process, replica: i },
  };
}

/** The new replicas: the first failure begins the rollback; each that serves is recorded ready. */
function watchNew(d: DeployRecord, seen: Observed, now: number): DeployAction[] {
  for (let i = 0; i < d.processes.length; i++) {
    const why = failure(d, i, seen.get(d.processes[i]!), now);
    if (why) return [{ kind: 'append', event: { type: 'rollback_begun', reason: why } }];
  }
  const actions: DeployAction[] = [];
  const first = nextReplica(d) - d.processes.length;
  for (let i = 0; i < d.processes.length; i++) {
    const p = d.processes[i]!;
    if (!d.ready.includes(p) && serving(seen.get(p)))
      actions.push({ kind: 'append', event: { type: 'replica_ready', process: p, replica: first + i } });
  }
  return actions;
}

/**
 * A scale: the active revision's replicas are left alone; down, the highest-numbered ones
 * are stopped; up, the missing ones start together (nothing is replaced, so nothing waits
 * for one another) and the scale succeeds once every one serves.
 */
function planScale(d: DeployRecord, seen: Observed): DeployAction[] {
  const prev = d.previous;
  if (!prev) return [{ kind: 'append', event: { type: 'rollback_begun', reason: `${d.service} has no active revision to scale` } }];
  if (d.replicas < prev.processes.length) {
    const r = retire(d, prev.processes.slice(d.replicas), seen);
    return r.done ? [{ kind: 'append', event: { type: 'succeeded' } }] : r.actions;
  }
  const actions: DeployAction[] = [];
  for (let i = nextReplica(d); i < d.replicas; i++) {
    const process = replicaId(d.service, prev.revision, i, d.revision, 's');
    actions.push({
      kind: 'start',
      process,
      replica: i,
      revision: prev.revision,
      spec: replicaSpec(prev.spec),
      then: { type: 'revision_started', process, replica: i },
    });
  }
  if (actions.length > 0) return actions;
  return d.processes.every((p) => d.ready.includes(p)) ? [{ kind: 'append', event: { type: 'succeeded' } }] : [];
}

/** Id of the replica a rollback starts in place of a stopped process of the previous revision. */
function restoredId(d: DeployRecord, p: string): string {
  return replicaId(d.service, d.previous!.revision, d.previous!.processes.indexOf(p), d.revision);
}

/** The next actions for a deploy that is running or rolling back; [] means wait for the processes to move. */
export function planDeploy(d: DeployRecord, seen: Observed, now: number): DeployAction[] {
  if (d.state === 'rolling_back') return planRollback(d, seen);
  if (d.state !== 'running') return [];
  const prev = d.previous?.processes ?? [];

  if (d.kind === 'stop') {
    const r = retire(d, prev, seen);
    return r.done ? [{ kind: 'append', event: { type: 'succeeded' } }] : r.actions;
  }
  const news = watchNew(d, seen, now);
  if (news.length > 0) return news;
  if (d.kind === 'scale') return planScale(d, seen);
  const isReady = (i: number) => d.ready.includes(d.processes[i] ?? '');

  if (d.strategy === 'stop-first') {
    const r = retire(d, prev, seen);
    if (!r.done) return r.actions;
    const i = d.processes.length;
    if (i < d.replicas && (i === 0 || isReady(i - 1))) return [startNew(d, i)];
    if (i === d.replicas && isReady(i - 1)) return [{ kind: 'append', event: { type: 'succeeded' } }];
    return [];
  }

  // start-first, one replica at a time: new i ready, then previous i stopped, then i + 1.
  for (let i = 0; i < d.replicas; i++) {
    if (i >= d.processes.length) return [startNew(d, i)];
    if (!isReady(i)) return [];
    if (i < prev.length) {
      const r = retire(d, [prev[i]!], seen);
      if (!r.done) return r.actions;
    }
  }
  // More previous replicas than new ones: the rest go once every new one serves.
  const r = retire(d, prev.slice(d.replicas), seen);
  if (!r.done) return r.actions;
  return [{ kind: 'append', event: { type: 'succeeded' } }];
}

/**
 * A rollback: the new replicas are stopped and the previous revision serves again. Any of
 * its replicas already stopped (all of them under stop-first) are started again with its
 * spec: under start-first before the new ones stop, under stop-first after (the app owns
 * a fixed port).
 */
function planRollback(d: DeployRecord, seen: Observed): DeployAction[] {
  const prev = d.previous;
  // Stopped, or asked to stop (its host may have died before the stop was seen through):
  // either way it will not serve again, so a replica takes its place.
  const toRestore = prev ? prev.processes.filter((p) => d.previousStopped.includes(p) || seen.get(p)?.desired === 'stopped') : [];
  const restoreIds = toRestore.map((p) => restoredId(d, p));
  const restore = (): { actions: DeployAction[]; done: boolean } => {
    const actions: DeployAction[] = [];
    toRestore.forEach((p, j) => {
      const process = restoreIds[j]!;
      const replica = prev!.processes.indexOf(p);
      // Under stop-first the one it replaces goes first: it may hold a fixed port.
      if (d.strategy === 'stop-first' && !d.previousStopped.includes(p) && !gone(seen.get(p))) return;
      if (!d.restored.includes(process))
        actions.push({
          kind: 'start',
          process,
          replica,
          revision: prev!.revision,
          spec: replicaSpec(prev!.spec),
          then: { type: 'previous_restarted', process, replica },
        });
    });
    // Restored replicas are waited for until they serve or end: a rollback does not roll back.
    const settled = restoreIds.every((id) => {
      const rec = seen.get(id);
      return d.restored.includes(id) && (serving(rec) || gone(rec));
    });
    return { actions, done: actions.length === 0 && settled };
  };
  const steps = d.strategy === 'stop-first' ? [() => stopAll(d.processes, seen), restore] : [restore, () => stopAll(d.processes, seen)];
  for (const step of steps) {
    const r = step();
    if (!r.done) return r.actions;
  }
  return [{ kind: 'append', event: { type: 'rolled_back' } }];
}

/**
 * Which deploy of a service runs next, from its deploys oldest first: one already under
 * way (a runner died mid-deploy) is finished first; of the queued ones the newest runs
 * and the older ones are superseded by it. A scale supersedes only older scales: a deploy
 * or stop queued before it runs first (the scale then scales what it left), and scales
 * queued after the newest deploy wait for it.
 */
export function pickNext(deploys: readonly DeployRecord[]): { run: DeployRecord | null; supersede: Array<{ id: string; by: string }> } {
  const underWay = deploys.find((d) => d.state === 'running' || d.state === 'rolling_back') ?? null;
  const queued = deploys.filter((d) => d.state === 'queued');
  let at = queued.length - 1;
  while (at > 0 && queued[at]!.kind === 'scale' && queued.slice(0, at).some((d) => d.kind !== 'scale')) at--;
  const newest = queued[at] ?? null;
  const supersede = newest ? queued.slice(0, at).map((d) => ({ id: d.id, by: newest.id })) : [];
  return { run: underWay ?? newest, supersede };
}

/** Every process id the planner may look at for a deploy: the runner reads these records. */
export function namedProcesses(d: DeployRecord): string[] {
  const prev = d.previous;
  const restore = prev ? prev.processes.map((p) => restoredId(d, p)) : [];
  return [...new Set([...d.processes, ...(prev?.processes ?? []), ...d.restored, ...restore])];
}
