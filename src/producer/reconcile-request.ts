import { Job } from 'bullmq';
import { systemClock } from '../shared/clock.js';
import { TimeoutError } from '../shared/errors.js';
import type { ReconcileReport } from '../shared/reconcile-report.js';
import type { ClientInternals } from './client-internals.js';

/**
 * Puts a reconcile job on one host's queue and waits for the report its worker returns.
 * Rejects when the job fails, or with a TimeoutError when no report comes within timeoutMs
 * (the job is then withdrawn if no worker has taken it yet).
 */
export async function requestReconcile(c: ClientInternals, hostId: string, timeoutMs: number): Promise<ReconcileReport> {
  const name = c.keys.hostQueue(hostId);
  const q = c.queue(name);
  const job = await c.onQueue(name, (queue) =>
    queue.add('reconcile', { full: true }, { removeOnComplete: { age: 3600 }, removeOnFail: 100 }),
  );
  const deadline = systemClock.mono() + timeoutMs;
  for (;;) {
    const state = await q.getJobState(job.id!);
    if (state === 'completed' || state === 'failed') {
      // Read once it is over: a copy read before its end holds no report yet.
      const done = await Job.fromId(q, job.id!);
      if (state === 'completed') return done!.returnvalue as ReconcileReport;
      throw new Error(`reconcile on ${hostId} failed: ${done?.failedReason}`);
    }
    if (systemClock.mono() > deadline) {
      if (state === 'waiting') await q.remove(job.id!).catch(() => undefined);
      throw new TimeoutError(`no report from ${hostId} within ${timeoutMs} ms (is its worker running?)`, timeoutMs);
    }
    await systemClock.sleep(50);
  }
}
