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
    const j = await Job.fromId(q, job.id!);
    // The job is read again once it is over: the copy read before may predate its end, with
    // no report yet (a report of null came back when the pass ended between the two reads).
    if (j && (await j.isCompleted())) return (await Job.fromId(q, job.id!))!.returnvalue as ReconcileReport;
    if (j && (await j.isFailed())) throw new Error(`reconcile on ${hostId} failed: ${(await Job.fromId(q, job.id!))?.failedReason}`);
    if (systemClock.mono() > deadline) {
      if (j && (await j.isWaiting())) await j.remove().catch(() => undefined);
      throw new TimeoutError(`no report from ${hostId} within ${timeoutMs} ms (is its worker running?)`, timeoutMs);
    }
    await systemClock.sleep(50);
  }
}
