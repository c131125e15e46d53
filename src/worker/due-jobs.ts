import type { Clock } from '../shared/clock.js';
import type { JobQueues } from '../shared/job-queues.js';
import type { ProcessRecord } from '../shared/record.js';

/** How long after its time a delayed job is looked at: unless the wall clock stepped back, BullMQ has taken it by then. */
const LATE_MS = 100;

/** A delayed job: its queue, its id, and how often it had been fetched when it was delayed. */
export interface DelayedJob {
  queue: string;
  jobId: string;
  attemptsStarted: number;
}

/**
 * BullMQ keeps a delayed job until its consumer's wall clock passes the time stamped on it:
 * a start handed back for 250 ms, or a restart after its backoff, waited an hour more after
 * a step back of an hour. Each job this worker delays is promoted by it once it is due on
 * the monotonic clock, unless BullMQ has done so already. The job itself stays in Redis, so
 * should this worker die, another takes it as before.
 */
export class DueJobs {
  private readonly timers = new Set<{ cancel(): void }>();

  constructor(
    private readonly deps: {
      clock: Clock;
      /** Moves the job to waiting if it is still delayed and has not been fetched since (JobQueues.promoteIfDelayed). */
      promote: (job: DelayedJob) => Promise<unknown>;
    },
  ) {}

  watch(job: DelayedJob, delayMs: number): void {
    if (delayMs <= 0) return;
    const t = this.deps.clock.setTimeout(
      () => {
        this.timers.delete(t);
        // Redis away: the job is promoted by BullMQ, or by this worker's next look at it.
        void this.deps.promote(job).catch(() => undefined);
      },
      delayMs + LATE_MS,
      { unref: true },
    );
    this.timers.add(t);
  }

  close(): void {
    for (const t of this.timers) t.cancel();
    this.timers.clear();
  }
}

/** Puts a record's start job on its queue, watched when it is delayed (a restart's backoff). */
export function watchedStarts(jobs: Pick<JobQueues, 'enqueueStart' | 'startJobOf'>, due: DueJobs) {
  return async (rec: ProcessRecord, delayMs: number): Promise<void> => {
    await jobs.enqueueStart(rec, delayMs);
    due.watch({ ...jobs.startJobOf(rec), attemptsStarted: 0 }, delayMs);
  };
}
