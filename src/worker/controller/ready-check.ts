import type { ProcessRecord } from '../../shared/record.js';
import { awaitReady } from '../readiness.js';
import type { Held, HeldRuns } from './held.js';

export interface ReadyDeps {
  held: HeldRuns;
  now: () => number;
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
  const deadline = (rec.startedAt ? Date.parse(rec.startedAt) : deps.now()) + rec.ready!.timeoutMs;
  const pid = rec.pid;
  const p = awaitReady(rec.ready!, {
    port: rec.port,
    logFile: deps.logFile(rec.id),
    logOffset: h.spawnedHere ? h.logOffset : 0,
    deadline,
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
