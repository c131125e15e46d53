import type { Clock } from '../../shared/clock.js';
import type { ProcessRecord } from '../../shared/record.js';
import { awaitReady } from '../readiness.js';
import type { Held, HeldRuns } from './held.js';

export interface ReadyDeps {
  held: HeldRuns;
  clock: Clock;
  logFile: (id: string) => string;
  /** The verdict is in (on the held run): the id is looked at again. */
  onVerdict: (id: string) => void;
  background: (what: string, ctx: Record<string, unknown>, p: Promise<unknown>) => void;
}

/**
 * Runs a record's readiness check in the background. Its verdict is noted on the held run
 * and becomes a trigger like any other; the decision records it.
 */
export function checkReady(deps: ReadyDeps, h: Held, rec: ProcessRecord): void {
  h.ready = 'checking';
  // The timeout runs from the recorded start (wall time, maybe another worker's); from here
  // on it is waited for on the monotonic clock, which no wall-clock step moves.
  const { clock } = deps;
  const wallDeadline = (rec.startedAt ? Date.parse(rec.startedAt) : clock.now()) + rec.ready!.timeoutMs;
  const deadline = clock.mono() + (wallDeadline - clock.now());
  const pid = rec.pid;
  const p = awaitReady(rec.ready!, {
    port: rec.port,
    logFile: deps.logFile(rec.id),
    logOffset: h.spawnedHere ? h.logOffset : 0,
    deadline,
    clock,
    gone: () => deps.held.get(rec.id) !== h || h.exit !== null || h.spawn?.pid !== pid,
  })
    // A check that throws still ends with a verdict: left 'checking', the record would wait in starting forever.
    .catch((err: unknown) => ({ ok: false as const, reason: `readiness check failed: ${(err as Error).message}` }))
    .then((res) => {
      h.ready = res.ok ? { ok: true, how: res.how } : { ok: false, reason: res.reason };
      deps.onVerdict(rec.id);
    });
  deps.background('readiness check', { processId: rec.id }, p);
}
