import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { ProcessRecord } from '../../shared/record.js';
import type { Tree } from './decision.js';
import type { Held } from './held.js';
import { afterStep, killStep, NO_KILL } from './kill-plan.js';
import type { Observer } from './observe.js';

export interface SelfStopDeps {
  observer: Observer;
  /** Signals the run's group and members by identity (the executor's). */
  signal: (h: Held, tree: Tree | null, signal: NodeJS.Signals) => number[];
  clock: Clock;
  log: Logger;
  killWaitMs: number;
}

/**
 * A copy that may run at most once, stopped by its own host when that host may have lost
 * its lease (src/worker/at-most-one.ts): the kill plan (SIGTERM and SIGCONT, the grace
 * period, SIGKILL, verified gone) on what this worker remembers of the run, reading and
 * writing nothing in Redis, which is out of reach. It runs beside the record's queue,
 * whose run waits on Redis: the record is settled by decide() once Redis answers again
 * (the held run's `selfStopped` reason makes it `lost`, src/worker/controller/decide.ts).
 * Resolves once the tree is gone (a member that survives SIGKILL is logged and waited on).
 */
export async function stopWithoutRedis(d: SelfStopDeps, rec: ProcessRecord, h: Held, graceMs: number, why: string): Promise<void> {
  const log = d.log.child({ processId: rec.id, runId: h.runId });
  h.selfStopped = why;
  // What the worker knows of the run: a spawn not on the record yet is in the held run.
  const s = h.spawn;
  const asStopped: ProcessRecord = {
    ...rec,
    desired: 'stopped',
    ...(rec.pid === null && s ? { pid: s.pid, pgid: s.pgid, sid: s.sid, startTime: s.startTime } : {}),
  };
  let pendingLogged = false;
  for (;;) {
    const tree = d.observer.observe(asStopped, h) ?? { members: [], groupAlive: false, leader: 'gone' as const };
    const now = d.clock.mono();
    const step = killStep(h.kill, { now, members: tree.members, groupAlive: tree.groupAlive, graceMs, killWaitMs: d.killWaitMs });
    if (step.kind === 'done') {
      // The record never saw this kill: its decision starts from a clean plan.
      h.kill = NO_KILL;
      log.warn({ escalated: step.escalated }, 'at-most-one copy stopped by its own host (no Redis): tree verified gone');
      return;
    }
    if (step.kind === 'signal') {
      const pids = d.signal(h, tree, 'SIGTERM');
      d.signal(h, tree, 'SIGCONT');
      log.warn({ pids, graceMs, reason: why }, 'at-most-one copy: stopping it without Redis');
    } else if (step.kind === 'kill') d.signal(h, tree, 'SIGKILL');
    else if (step.kind === 'kill-pending' && !pendingLogged) {
      pendingLogged = true;
      log.error({ pids: step.pids }, 'at-most-one copy: processes survive SIGKILL (uninterruptible sleep?)');
    }
    h.kill = afterStep(h.kill, step, now);
    await d.clock.sleep(step.kind === 'wait' ? step.ms : step.kind === 'kill-pending' ? 500 : 20);
  }
}
