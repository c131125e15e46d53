import type { EventDraft } from '../../shared/events.js';
import type { ProcessRecord } from '../../shared/record.js';
import type { Action, DecideInput, Local, SpawnFacts, Tree } from './decision.js';
import { killSteps, stepOf } from './kill-steps.js';
import { reason } from './reasons.js';

const GONE: Tree = { members: [], groupAlive: false, leader: 'gone' };

/**
 * A daemon being launched (pure, part of decide()): its record stays `starting`, no pid,
 * while its launcher runs, as a spawn in flight. The launcher exiting non-zero (or on a
 * signal) fails the start with its code; exiting 0, its main process is looked for (the pid
 * file, else the leaf) and recorded as `spawned` with the main's identity, so from then on
 * the run is watched, adopted, checked and stopped by its main process like any leader.
 * No main within daemonWaitMs fails the start with why. Nothing ends while members of the
 * tree live: they are named and killed first. A stop asked meanwhile stops the whole tree,
 * then records `stopped`.
 *
 *   desired stopped               kill plan on the tree, then stopped
 *   launcher alive                wait (its exit is reported or polled)
 *   launcher gone, exit unseen    wait for the report a little, then look for the main anyway
 *   exit code != 0 or a signal    spawn_failed: launcher exited with ...
 *   main found                    spawned (the main's pid, group, session, start time) + follow it
 *   no main yet                   wait up to daemonWaitMs, then spawn_failed with the reason
 */
export function launching(i: DecideInput, rec: ProcessRecord, local: Local): Action[] {
  const t = i.tree ?? GONE;
  const run = rec.runId ?? undefined;
  if (rec.desired === 'stopped') {
    const step = stepOf(i, local.kill, t, rec.graceMs ?? i.defaultGraceMs);
    if (step.kind !== 'done') return killSteps(i, step, local.kill, t, rec.stopSignal ?? 'SIGTERM', null);
    return end(rec, [{ type: 'stopped', how: step.escalated ? 'escalated' : 'requested', run }]);
  }
  if (t.leader === 'alive' && !local.exit) return [];
  if (!local.exit && local.spawnedHere && (local.goneSince === null || i.mono - local.goneSince < i.exitReportMs))
    return local.goneSince === null ? [{ kind: 'note-gone' }, { kind: 'requeue', ms: 20 }] : [{ kind: 'requeue', ms: 20 }];
  const ex = local.exit;
  if (ex && (ex.signal !== null || (ex.code !== null && ex.code !== 0))) return failed(i, rec, local, reason.launcherFailed(ex));
  const seen = t.daemon;
  if (seen && 'main' in seen) {
    const spawned = spawnedOf(i, rec, local.spawn!, seen.main, { from: seen.main.from, launcherPid: local.spawn!.pid });
    return [
      { kind: 'append', events: [spawned] },
      { kind: 'follow-main', main: seen.main },
    ];
  }
  // A pid file is often written by the daemon after its launcher exits: it gets a while.
  if (local.goneSince === null) return [{ kind: 'note-gone' }, { kind: 'requeue', ms: 50 }];
  if (i.mono - local.goneSince < i.daemonWaitMs) return [{ kind: 'requeue', ms: 100 }];
  return failed(i, rec, local, reason.noDaemon(seen?.waiting ?? 'no main process found', i.daemonWaitMs));
}

/** The start failed: whatever of its tree still lives is named and killed first, then spawn_failed. */
function failed(i: DecideInput, rec: ProcessRecord, local: Local, why: string): Action[] {
  const t = i.tree ?? GONE;
  const run = rec.runId ?? undefined;
  if (t.members.length > 0) {
    const step = stepOf(i, local.kill, t, rec.graceMs ?? i.defaultGraceMs);
    const named: Action[] =
      !local.driftRecorded && step.kind === 'signal'
        ? [
            {
              kind: 'append',
              events: [{ type: 'drift', kind: 'leftovers', detail: reason.launchLeftovers(why, t.members.length), pids: t.members, run }],
            },
          ]
        : [];
    return [...named, ...killSteps(i, step, local.kill, t, 'SIGTERM', null)];
  }
  return end(rec, [{ type: 'spawn_failed', host: i.hostId, error: why, run }]);
}

function end(rec: ProcessRecord, events: EventDraft[]): Action[] {
  const out: Action[] = [{ kind: 'append', events }];
  if (rec.requestedPort === 'auto' && rec.port !== null) out.push({ kind: 'release-port', port: rec.port });
  return [...out, { kind: 'forget' }];
}

/** The spawned event of a run: its leader's identity (a daemon's main process), with the facts of the spawn. */
export function spawnedOf(
  i: DecideInput,
  rec: ProcessRecord,
  s: SpawnFacts,
  leader: { pid: number; pgid: number; sid: number; startTime: number },
  daemon?: { from: 'pid-file' | 'tree'; launcherPid: number },
): EventDraft {
  return {
    type: 'spawned',
    host: i.hostId,
    pid: leader.pid,
    pgid: leader.pgid,
    sid: leader.sid,
    startTime: leader.startTime,
    bootId: i.bootId,
    port: s.port,
    run: rec.runId ?? undefined,
    ...(s.cgroup ? { cgroup: s.cgroup } : {}),
    ...(s.limits ? { limits: s.limits } : {}),
    ...(daemon ? { daemon } : {}),
  };
}
