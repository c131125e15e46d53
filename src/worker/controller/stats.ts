import type { Logger } from '../../shared/logger.js';
import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import type { Held } from './held.js';
import { NO_KILL } from './kill-plan.js';

/** The controller's counters, reported with every heartbeat. */
export function newStats() {
  return {
    starts: 0,
    spawnFailures: 0,
    stops: 0,
    escalations: 0,
    exits: 0,
    restarts: 0,
    gaveUp: 0,
    stopMsTotal: 0,
    killPending: 0,
    staleRuns: 0,
    orphansKilled: 0,
    deferred: 0,
  };
}

export type ControllerStats = ReturnType<typeof newStats>;

/**
 * What events that landed on the record mean for this worker: the held run's memory of
 * what is recorded (so the decision does not record it twice), the counters, and one log
 * line per event.
 */
export function noteAppended(
  stats: ControllerStats,
  held: Held | null,
  appended: readonly { type: string }[],
  rec: ProcessRecord,
  log: Logger,
  /** Monotonic ms, as the held run's stopStartedAt. */
  mono: number,
): void {
  for (const e of appended) {
    const ev = e as { type: string; kind?: string; detail?: string; how?: string };
    switch (ev.type) {
      case 'spawned':
        stats.starts++;
        log.info({ childPid: rec.pid, pgid: rec.pgid, port: rec.port, command: rec.command }, 'spawned');
        break;
      case 'spawn_failed':
        stats.spawnFailures++;
        log.warn({ error: rec.error }, 'spawn failed');
        break;
      case 'exited':
        stats.exits++;
        if (held) held.exitRecorded = true;
        // Recorded as an end only once the tree was verified gone: the kill plan of its leftovers is over.
        if (held && FINAL_STATES.has(rec.state)) held.kill = NO_KILL;
        break;
      case 'log_lost':
        if (held) held.logLoss = null;
        log.warn({ error: rec.logLoss?.error, lostBytes: rec.logLoss?.lostBytes }, 'log write failed: output lost, log truncated');
        break;
      case 'stopped': {
        if (rec.endReason === 'killed') stats.escalations++;
        stats.stops++;
        const ms = held?.stopStartedAt ? Math.round(mono - held.stopStartedAt) : null;
        if (ms !== null) stats.stopMsTotal += ms;
        log.info({ how: ev.how, ms }, 'stop finished');
        break;
      }
      case 'kill_pending':
        stats.killPending++;
        break;
      case 'drift':
        if (held && ev.kind === 'escaped') held.escapedNamed.push(...((e as { pids?: number[] }).pids ?? []));
        else if (held) held.driftRecorded = true;
        if (ev.kind === 'stale-run') stats.staleRuns++;
        log.warn({ drift: ev.kind, detail: ev.detail }, 'drift');
        break;
      case 'restart_scheduled':
        stats.restarts++;
        break;
      case 'gave_up':
        stats.gaveUp++;
        log.error({ reason: rec.error }, 'gave up restarting');
        break;
      case 'ready':
      case 'not_ready':
        log.info({ ready: ev.type === 'ready', error: rec.error }, ev.type === 'ready' ? 'ready' : 'not ready');
        break;
    }
  }
}
