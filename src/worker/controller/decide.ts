import type { EventDraft } from '../../shared/events.js';
import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import { decideRestart, retryAbandoned } from '../restart.js';
import { NO_KILL, type KillState } from './kill-plan.js';
import { killSteps, monoOf, stepOf } from './kill-steps.js';
import type { Action, DecideInput, Local, Tree, Trigger } from './decision.js';
import { launching, spawnedOf } from './decide-daemon.js';
import { reason } from './reasons.js';

/**
 * The per-process decision, pure: (record, what this worker knows of the process, what the
 * process table shows, the trigger) -> actions. The controller runs it for one id at a
 * time, after every trigger, and carries the actions out; a declined append (the record
 * moved meanwhile) makes it decide again on the new record. Nothing else acts on a process.
 *
 * States of a record on this host and what is done in each (desired running unless said):
 *
 *   pending                      start trigger of its own job -> spawn
 *   starting, no pid             our spawn in flight -> wait; done -> record spawned /
 *                                spawn_failed; no spawn of ours (the worker died) -> abandoned:
 *                                stop what it left, spawn_failed (+ retry); a daemon's launcher
 *                                runs -> wait, then its main process is recorded (decide-daemon.ts)
 *   starting/running, leader up  not watched -> adopt; readiness pending -> check; result -> record
 *   starting/running, leader gone members left -> name them (drift leftovers), kill plan; the end
 *                                waits until they are gone (kill_pending while one survives SIGKILL)
 *                                tree gone: stopped by this worker without Redis (at most one
 *                                copy) -> lost; exit seen -> record it; pid reused -> lost;
 *                                else exited (unknown)
 *   desired stopped, tree alive  kill plan: signal, wait, SIGKILL, kill pending
 *   desired stopped, tree gone   leader's exit first (if seen), then stopped; free the port
 *   exited/failed/lost/stopped   tree alive -> kill plan (leftovers); gone -> free the port,
 *                                restart policy (restart_scheduled + its start job, or gave_up)
 *
 * A run this worker holds that is no longer the record's current run on this host (it was
 * frozen, the fleet moved the process elsewhere) is stale: its own tree is stopped by its
 * own identity, the record is never touched for it.
 *
 * Sightings of the reconcile pass, which only looks and enqueues (this is the one place
 * drift is decided; every reason's words are in reasons.ts):
 *
 *   orphans (this id's cookie, no current run of this host claims them) -> kill them, drift `orphan`
 *   a leaf cgroup of this id no live run claims -> clear it, drift `orphan` if it held anything
 *   either, of no fleet (an older release's) with no record of the id in this fleet's Redis
 *                                -> not ours to show: drift `foreign`, left alone
 *   abandoned spawn (starting, no pid, nobody spawning) -> stop its carriers, spawn_failed (+ retry)
 */
export function decide(i: DecideInput): Action[] {
  const { rec, local, hostId } = i;
  if (local?.phase === 'orphans') return killOnly(i, local, null);
  if (i.trigger.kind === 'leaf') return leftoverLeaf(i, i.trigger);
  if (local && isStale(i)) return stale(i, local);
  if (i.trigger.kind === 'orphans' && !claims(i, i.trigger.run)) {
    // A record of the id is what makes a carrier of no fleet this fleet's: ids are random.
    if (i.trigger.legacy && !rec) return [{ kind: 'foreign', pids: i.trigger.pids }];
    return orphans(i, i.trigger.pids);
  }
  if (!rec) return local ? [{ kind: 'forget' }] : [];
  if (rec.state === 'pending') return pending(i, rec);
  if (rec.host !== hostId) return [];
  const run = rec.runId ?? undefined;

  if (rec.state === 'starting' && rec.pid === null) return unrecorded(i, rec, local);

  const tree = i.tree;
  const alive = !!tree && (tree.members.length > 0 || tree.groupAlive);
  // The OOM killer struck in the run's cgroup: on the record first (it decides the end reason).
  if (tree?.oomKills && tree.oomKills > (rec.oom?.kills ?? 0)) {
    return [{ kind: 'append', events: [{ type: 'oom', kills: tree.oomKills, limit: rec.limits?.memory ?? null, run }] }];
  }
  // A failed write on its log: on the record before anything else, like the OOM killer's.
  if (local?.logLoss && local.runId === rec.runId) return [{ kind: 'append', events: [{ type: 'log_lost', ...local.logLoss, run }] }];
  // Members outside the run's leaf (a tenant moved them): each named on the record once, then treated as any member.
  const unnamed = local ? (tree?.escaped ?? []).filter((e) => !local.escapedNamed.includes(e.pid)) : [];
  if (unnamed.length > 0) {
    const pids = unnamed.map((e) => e.pid);
    return [{ kind: 'append', events: [{ type: 'drift', kind: 'escaped', detail: reason.escaped(rec.cgroup, unnamed), pids, run }] }];
  }
  if (!FINAL_STATES.has(rec.state)) return live(i, rec, local, tree);

  // Final states: nothing of the tree may stay, then the port and the restart policy.
  if (alive) return killOnly(i, local, rec);
  const out: Action[] = releaseLeaf(local);
  if (local && local.kill.deadline !== null && rec.state !== 'stopped')
    out.push({ kind: 'append', events: [{ type: 'stopped', how: 'leftovers', run }] });
  if (rec.requestedPort === 'auto' && rec.port !== null) out.push({ kind: 'release-port', port: rec.port });
  const next = decideRestart(rec);
  if (next) {
    out.push({ kind: 'append', events: [next] });
    if (next.type === 'restart_scheduled') out.push({ kind: 'enqueue-start', delayMs: next.delayMs });
  }
  if (local) out.push({ kind: 'forget' });
  return out;
}

/** Starting, its spawn not recorded yet: ours in flight, ours done, or nobody's (the worker died). */
function unrecorded(i: DecideInput, rec: ProcessRecord, local: Local | null): Action[] {
  const { hostId } = i;
  const run = rec.runId ?? undefined;
  if (!local) {
    if (i.trigger.kind !== 'abandoned') return [];
    return abandoned(i, rec, i.trigger.pids);
  }
  if (local.phase === 'spawning') return [];
  if (local.phase === 'spawn-failed') {
    const out: Action[] = [
      { kind: 'append', events: [{ type: 'spawn_failed', host: hostId, error: local.failure ?? reason.spawnFailed, run }] },
    ];
    if (rec.requestedPort === 'auto' && rec.port !== null) out.push({ kind: 'release-port', port: rec.port });
    return [...out, { kind: 'forget' }];
  }
  if (rec.daemon) return launching(i, rec, local);
  return [{ kind: 'append', events: [spawnedOf(i, rec, local.spawn!, local.spawn!)] }];
}

/** Starting or running (or stopping) with a recorded leader: what its tree shows decides. */
function live(i: DecideInput, rec: ProcessRecord, local: Local | null, tree: Tree | null): Action[] {
  const run = rec.runId ?? undefined;
  if (rec.bootId !== null && rec.bootId !== i.bootId) {
    return lost(reason.rebooted(rec.bootId, i.bootId), run);
  }
  if (rec.desired === 'stopped') {
    // A stop keeps the record stopping until the tree is gone: the leader's own exit status goes on it first.
    if (local?.exit && !local.exitRecorded && tree?.leader !== 'alive') {
      const exited: EventDraft = { type: 'exited', code: local.exit.code, signal: local.exit.signal, how: local.exit.how, run };
      // The tree seen gone with it: the stop's end follows in the same append (one write, not two).
      const then = tree ? stopping(i, rec, { ...local, exitRecorded: true }, tree) : [];
      const at = then.findIndex((a) => a.kind === 'append');
      const first = then[at];
      if (first?.kind === 'append' && first.events[0]?.type === 'stopped')
        return [...then.slice(0, at), { kind: 'append', events: [exited, ...first.events] }, ...then.slice(at + 1)];
      return [{ kind: 'append', events: [exited] }];
    }
    return stopping(i, rec, local, tree);
  }
  if (!tree) return [];
  // A failed check while the leader lives: its tree is stopped before the record says failed.
  // A leader that ended before the verdict goes the exit path instead (restart policy).
  const verdict = rec.state === 'starting' && local?.ready && local.ready !== 'checking' ? local.ready : null;
  if (verdict && !verdict.ok && (local!.notReadyStop || tree.leader === 'alive')) return notReady(i, rec, local!, verdict.reason, tree);
  if (tree.leader === 'alive') {
    if (!local) return [{ kind: 'adopt' }];
    if (rec.state === 'starting' && rec.ready) {
      if (local.ready === null) return [{ kind: 'check-ready' }];
      if (local.ready === 'checking' || !local.ready.ok) return [];
      return [{ kind: 'append', events: [{ type: 'ready', how: local.ready.how, run }] }];
    }
    return [];
  }
  if (tree.leader === 'reused') {
    return lost(reason.pidReused(rec.pid), run);
  }
  // The leader ended: an end is recorded only once the whole tree is verified gone, so what
  // it left alive is named on the record and killed by identity first.
  if (tree.members.length > 0) return leftoversOfExit(i, rec, local, tree);
  // This worker stopped it itself while cut from Redis (at most one copy): lost, not a crash.
  if (local?.selfStopped) {
    const why = local.selfStopped;
    return [
      {
        kind: 'append',
        events: [
          { type: 'drift', kind: 'host-lost', detail: why, pids: [], run },
          { type: 'lost', reason: why, run },
        ],
      },
    ];
  }
  // Signalled by a stop the record no longer has (its events lost in a failover): the record missed that end.
  const lostStop: EventDraft[] = local?.stopSignalled
    ? [{ type: 'drift', kind: 'missed-exit', detail: reason.lostStop(rec.pid), pids: [], run }]
    : [];
  const seen = local?.exit && !local.exitRecorded ? local.exit : null;
  if (seen) {
    return [{ kind: 'append', events: [...lostStop, { type: 'exited', code: seen.code, signal: seen.signal, how: seen.how, run }] }];
  }
  // Our forker reports the exit status soon after the leader dies: wait for it a little.
  if (local?.spawnedHere && !local.exit) {
    if (local.goneSince === null) return [{ kind: 'note-gone' }, { kind: 'requeue', ms: 20 }];
    if (i.mono - local.goneSince < i.exitReportMs) return [{ kind: 'requeue', ms: 20 }];
  }
  const unknown: EventDraft = { type: 'exited', code: null, signal: null, how: 'unknown', run };
  // Its end recorded here too, and lost with the rest.
  if (lostStop.length > 0) return [{ kind: 'append', events: [...lostStop, unknown] }];
  // Leftovers this worker killed were named already; otherwise nobody saw the end.
  if (local?.driftRecorded) return [{ kind: 'append', events: [unknown] }];
  const missed: EventDraft = { type: 'drift', kind: 'missed-exit', detail: reason.missedExit(rec.pid), pids: [], run };
  return [{ kind: 'append', events: [missed, unknown] }];
}

/**
 * The leader is gone but members of its tree live on (a child that ignores SIGTERM, a
 * daemon's helper): they are named once (drift `leftovers`, with their pids) and stopped
 * by the kill plan; the record stays as it was until they are gone, and one that survives
 * SIGKILL is `kill_pending` on it, never a clean end.
 */
function leftoversOfExit(i: DecideInput, rec: ProcessRecord, local: Local | null, tree: Tree): Action[] {
  const state = local?.kill ?? NO_KILL;
  const step = stepOf(i, state, tree, rec.graceMs ?? i.defaultGraceMs);
  const out: Action[] = [];
  if (!local?.driftRecorded && step.kind === 'signal') {
    const detail = reason.leftovers(rec.pid, tree.members.length);
    out.push({ kind: 'append', events: [{ type: 'drift', kind: 'leftovers', detail, pids: tree.members, run: rec.runId ?? undefined }] });
  }
  return [...out, ...killSteps(i, step, state, tree, 'SIGTERM', rec, 'kill-pending')];
}

/**
 * The readiness check failed: `failed` (not_ready) is written only once the tree is verified
 * gone, so the kill plan runs first (only kill_pending on the record while one survives
 * SIGKILL), whatever its leader does once signalled.
 */
function notReady(i: DecideInput, rec: ProcessRecord, local: Local, why: string, tree: Tree): Action[] {
  const step = stepOf(i, local.kill, tree, rec.graceMs ?? i.defaultGraceMs);
  const note: Action[] = local.notReadyStop ? [] : [{ kind: 'note-not-ready' }];
  if (step.kind !== 'done') return [...note, ...killSteps(i, step, local.kill, tree, rec.stopSignal ?? 'SIGTERM', rec, 'kill-pending')];
  return [...note, ...releaseLeaf(local), { kind: 'append', events: [{ type: 'not_ready', reason: why, run: rec.runId ?? undefined }] }];
}

/**
 * A record that says its run ended has nothing of it left, its cgroup included: a caller of
 * `stop --wait` may reuse the name or count the host's cgroups the moment it returns.
 */
function releaseLeaf(local: Local | null): Action[] {
  return local?.leaf ? [{ kind: 'release-leaf' }] : [];
}

/** The recorded pid means nothing any more (reused, or the host rebooted): lost, never touched. */
function lost(why: string, run: string | undefined): Action[] {
  const events: EventDraft[] = [
    { type: 'drift', kind: 'pid-reused', detail: why, pids: [], run },
    { type: 'lost', reason: why, run },
  ];
  return [{ kind: 'append', events }];
}

/** A local run the record no longer names as current on this host. */
function isStale(i: DecideInput): boolean {
  const { rec, local, hostId } = i;
  if (!local || local.runId === null) return false;
  if (!rec || rec.runId !== local.runId) return true;
  return rec.state === 'pending' || rec.host !== hostId;
}

function stale(i: DecideInput, local: Local): Action[] {
  if (local.phase === 'spawning') return []; // judged once the spawn reports back
  const t = i.tree;
  const alive = !!t && (t.members.length > 0 || t.groupAlive);
  if (!alive) {
    const out: Action[] = [];
    const port = local.spawn?.port ?? null;
    if (port !== null && (i.rec?.host !== i.hostId || i.rec.port !== port)) out.push({ kind: 'release-port', port });
    return [...out, { kind: 'forget' }];
  }
  const out: Action[] = [];
  if (!local.driftRecorded && i.rec) {
    out.push({
      kind: 'append',
      events: [
        {
          type: 'drift',
          kind: 'stale-run',
          detail: reason.staleRun(i.hostId, local.runId),
          pids: t!.members,
        },
      ],
    });
  }
  return [...out, ...killSteps(i, stepOf(i, local.kill, t!, i.rec?.graceMs ?? i.defaultGraceMs), local.kill, t!, 'SIGTERM', null)];
}

function claims(i: DecideInput, run: string | null): boolean {
  const { rec } = i;
  if (!rec || rec.host !== i.hostId || rec.state === 'pending') return false;
  return run === null || rec.runId === null || rec.runId === run;
}

/** Processes of this id no current run of this host claims: stopped under their own key; drift on the record. */
function orphans(i: DecideInput, pids: number[]): Action[] {
  const out: Action[] = [{ kind: 'kill-pids', pids }];
  if (i.rec && i.rec.state !== 'pending') {
    out.push({ kind: 'append', events: [{ type: 'drift', kind: 'orphan', detail: reason.orphan(i.rec.id, i.hostId), pids }] });
  }
  return out;
}

/**
 * A leaf no live run claimed when the pass listed the leaves. Cgroup membership is the
 * truth here: whatever is in it is killed, whatever its environment says, and the leaf is
 * removed. The run this worker holds, or one recorded since the pass read the records, is
 * its own to settle.
 */
function leftoverLeaf(i: DecideInput, t: Extract<Trigger, { kind: 'leaf' }>): Action[] {
  const { rec, local } = i;
  if (local && (local.leaf === t.leaf || local.runId === t.run)) return [];
  // A leaf of the subtree an older release named without a fleet: this fleet's only by its record.
  if (t.legacy && !rec) return [{ kind: 'foreign', pids: i.leaf?.members ?? [], leaf: i.leaf?.path ?? t.leaf }];
  if (rec && rec.host === i.hostId && rec.runId === t.run && rec.state !== 'pending' && !FINAL_STATES.has(rec.state)) return [];
  const members = i.leaf?.members ?? [];
  const out: Action[] = [{ kind: 'clear-leaf', leaf: t.leaf }];
  if (members.length > 0 && rec && rec.state !== 'pending') {
    const detail = reason.leftoverLeaf(i.leaf!.path, t.run, members.length);
    out.push({ kind: 'append', events: [{ type: 'drift', kind: 'orphan', detail, pids: members }] });
  }
  return out;
}

function pending(i: DecideInput, rec: ProcessRecord): Action[] {
  if (i.trigger.kind !== 'start' || rec.desired !== 'running') return [];
  if (rec.requestedHost && rec.requestedHost !== i.hostId) return [];
  // Each run has its own start job: a late redelivery of an earlier run's job waits for its own.
  const want = rec.restarts === 0 ? rec.id : `${rec.id}.r${rec.restarts}`;
  if (i.trigger.jobId !== undefined && i.trigger.jobId !== want) return [];
  return [{ kind: 'spawn' }];
}

function abandoned(i: DecideInput, rec: ProcessRecord, pids: number[]): Action[] {
  const out: Action[] = [];
  if (pids.length > 0) out.push({ kind: 'kill-pids', pids });
  const failed: EventDraft = {
    type: 'spawn_failed',
    host: i.hostId,
    error: reason.spawnAbandoned,
    run: rec.runId ?? undefined,
  };
  const retry = retryAbandoned(rec, i.abandonedRetryMs);
  out.push({ kind: 'append', events: retry ? [failed, retry] : [failed] });
  if (retry) out.push({ kind: 'enqueue-start', delayMs: retry.delayMs });
  return out;
}

function stopping(i: DecideInput, rec: ProcessRecord, local: Local | null, tree: Tree | null): Action[] {
  const run = rec.runId ?? undefined;
  const state: KillState = local?.kill ?? { deadline: monoOf(i, rec.killDeadline), killSentAt: null, polls: 0 };
  const t = tree ?? { members: [], groupAlive: false, leader: 'gone' as const };
  const step = stepOf(i, state, t, rec.graceMs ?? i.defaultGraceMs);
  if (step.kind !== 'done') return killSteps(i, step, state, t, rec.stopSignal ?? 'SIGTERM', rec);
  // Gone. Our forker's report of the leader's exit status is due: give it a moment.
  if (local?.spawnedHere && !local.exit && !local.exitRecorded) {
    if (local.goneSince === null) return [{ kind: 'note-gone' }, { kind: 'requeue', ms: 10 }];
    if (i.mono - local.goneSince < i.exitReportMs) return [{ kind: 'requeue', ms: 10 }];
  }
  const out: Action[] = [
    ...releaseLeaf(local),
    { kind: 'append', events: [{ type: 'stopped', how: step.escalated ? 'escalated' : 'requested', run }] },
  ];
  if (rec.requestedPort === 'auto' && rec.port !== null) out.push({ kind: 'release-port', port: rec.port });
  if (local) out.push({ kind: 'forget' });
  return out;
}

/** Leftovers of a finished run, or orphans: stopped by the kill plan; nothing else is decided. */
function killOnly(i: DecideInput, local: Local | null, rec: ProcessRecord | null): Action[] {
  const t = i.tree ?? { members: [], groupAlive: false, leader: 'gone' as const };
  const state = local?.kill ?? { deadline: null, killSentAt: null, polls: 0 };
  const step = stepOf(i, state, t, rec?.graceMs ?? i.defaultGraceMs);
  if (step.kind === 'done') return rec ? [{ kind: 'requeue', ms: 0 }] : [{ kind: 'forget' }];
  const out: Action[] = [];
  if (rec && !local?.driftRecorded && step.kind === 'signal' && t.members.length > 0) {
    // Leftovers of the run whose end we just saw, or something alive after an end recorded earlier.
    const own = !!local?.exitRecorded;
    const detail = own ? reason.leftovers(rec.pid, t.members.length) : reason.aliveAfterEnd(t.members.length, rec.state);
    out.push({ kind: 'append', events: [{ type: 'drift', kind: own ? 'leftovers' : 'alive-after-end', detail, pids: t.members }] });
  }
  return [...out, ...killSteps(i, step, state, t, 'SIGTERM', null)];
}
