import type { ProcessRecord } from '../../shared/record.js';
import type { Action, DecideInput, Tree } from './decision.js';
import { killStep, type KillState, type KillStep } from './kill-plan.js';

/** The kill plan's steps as the decision's actions (pure): what decide() and the daemon's launch share. */
export function stepOf(i: DecideInput, state: KillState, t: Tree, graceMs: number): KillStep {
  return killStep(state, {
    now: i.mono,
    members: t.members,
    groupAlive: t.groupAlive,
    graceMs,
    killWaitMs: i.killWaitMs,
    ...(t.watched ? { maxPollMs: 1000 } : {}),
  });
}

/**
 * One step of the kill plan. With `rec` (a requested stop), the signals and the deadline
 * go on the record, so a worker that dies mid-stop leaves the next one enough to escalate
 * on time; for leftovers and stale runs the plan lives in this worker only.
 */
export function killSteps(
  i: DecideInput,
  step: KillStep,
  state: KillState,
  t: Tree,
  signal: string,
  rec: ProcessRecord | null,
  /** What of the plan goes on the record: everything (a requested stop), or only what survives SIGKILL. */
  onRecord: 'all' | 'kill-pending' = 'all',
): Action[] {
  const run = rec?.runId ?? undefined;
  const signals = onRecord === 'all' ? rec : null;
  switch (step.kind) {
    case 'signal': {
      const out: Action[] = [{ kind: 'signal', signal, step }];
      if (signals)
        out.push({
          kind: 'append',
          events: [{ type: 'signal_sent', signal, pgid: signals.pgid, pids: t.members, killDeadline: wallOf(i, step.deadline), run }],
        });
      return [...out, { kind: 'requeue', ms: 10 }];
    }
    case 'wait':
      return [
        { kind: 'wait', step },
        { kind: 'requeue', ms: step.ms },
      ];
    case 'kill': {
      const out: Action[] = [{ kind: 'signal', signal: 'SIGKILL', step }];
      if (signals && state.killSentAt === null)
        out.push({
          kind: 'append',
          events: [{ type: 'signal_sent', signal: 'SIGKILL', pgid: signals.pgid, pids: t.members, killDeadline: null, run }],
        });
      return [...out, { kind: 'requeue', ms: 20 }];
    }
    case 'kill-pending': {
      const out: Action[] = [{ kind: 'signal', signal: 'SIGKILL', step }];
      const known = rec?.killPending ?? [];
      if (rec && (known.length !== step.pids.length || known.some((p, k) => p !== step.pids[k]))) {
        out.push({ kind: 'append', events: [{ type: 'kill_pending', pids: step.pids, run }] });
      }
      return [...out, { kind: 'requeue', ms: 1000 }];
    }
    case 'done':
      return [];
  }
}

/**
 * The kill deadline on the record is wall time, so the next worker (another process, its
 * own monotonic origin) can go on from it; this worker waits for it on its monotonic clock.
 */
export function monoOf(i: Pick<DecideInput, 'now' | 'mono'>, wall: number | null): number | null {
  return wall === null ? null : i.mono + (wall - i.now);
}

function wallOf(i: Pick<DecideInput, 'now' | 'mono'>, mono: number): number {
  return Math.round(i.now + (mono - i.mono));
}
