import type { EventDraft } from '../shared/events.js';
import type { ProcessRecord } from '../shared/record.js';
import { CRASH_LOOP_WINDOW_MS } from '../shared/reducer.js';

/** Short runs in a row after which a record is failed instead of restarted. */
export const CRASH_LOOP_LIMIT = 5;
export const BACKOFF_BASE_MS = 250;
export const BACKOFF_MAX_MS = 30_000;

/**
 * What follows a process that ended on its own: nothing, a restart after a backoff, or
 * giving up. Backoff doubles with each short run in a row and resets after a run longer
 * than the crash-loop window, like systemd's StartLimitBurst with exponential delay.
 */
export function decideRestart(rec: ProcessRecord): EventDraft | null {
  if (rec.desired === 'stopped') return null;
  if (rec.state !== 'exited' && rec.state !== 'lost') return null;
  const failed = rec.state === 'lost' || rec.exitCode !== 0;
  if (rec.restartPolicy === 'never' || (rec.restartPolicy === 'on-failure' && !failed)) return null;
  const ranMs = rec.startedAt && rec.endedAt ? Date.parse(rec.endedAt) - Date.parse(rec.startedAt) : 0;
  const streak = ranMs < CRASH_LOOP_WINDOW_MS ? rec.crashLoop + 1 : 0;
  if (streak >= CRASH_LOOP_LIMIT) {
    return { type: 'gave_up', reason: `crash loop: ${streak} runs in a row ended within ${CRASH_LOOP_WINDOW_MS / 1000}s` };
  }
  const delayMs = streak === 0 ? 0 : Math.min(BACKOFF_BASE_MS * 2 ** (streak - 1), BACKOFF_MAX_MS);
  return { type: 'restart_scheduled', attempt: rec.restarts + 1, delayMs };
}

/**
 * A spawn its worker died in the middle of (nothing ran, so there is no run time to judge):
 * retried after delayMs, under the same crash-loop limit as a run that ended.
 */
export function retryAbandoned(rec: ProcessRecord, delayMs: number): Extract<EventDraft, { type: 'restart_scheduled' }> | null {
  if (rec.desired !== 'running' || rec.crashLoop >= CRASH_LOOP_LIMIT) return null;
  return { type: 'restart_scheduled', attempt: rec.restarts + 1, delayMs };
}
