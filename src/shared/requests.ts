import { NotInOlderVersionError } from './event-versions.js';
import type { EventStore } from './event-store.js';
import type { JobQueues } from './job-queues.js';
import { FINAL_STATES, type ProcessRecord, type StartSpecSchema, type StopOptionsSchema } from './record.js';
import type { EventDraft } from './events.js';
import { pinnedHostVerdict, type HostLookup, type PinnedVerdict } from './pinned-host.js';
import { startRequested } from './start-request.js';
import type { z } from 'zod';

/** What writing a request takes: the record store, the queues, and the grace of a stop that names none. */
export interface RequestDeps {
  store: EventStore;
  jobs: JobQueues;
  defaultGraceMs: number;
  /**
   * Heartbeats, for a start pinned to a host: one no worker will take (unknown, dead) is
   * recorded failed at once. Without it the fleet pass fails such a start within one pass.
   */
  hosts?: { of: HostLookup };
}

/**
 * Records a start (once per id: the same id twice is one process) and enqueues its job.
 * The client's starts and a deploy's replicas both come here. `fresh`: the id was just
 * generated, so it is not read first (the version check still guards the append).
 */
export async function requestStart(
  deps: RequestDeps,
  id: string,
  spec: Omit<z.output<typeof StartSpecSchema>, 'id'> & { atMostOne?: boolean },
  opts: { of?: { service: string; revision: number }; fresh?: boolean; restartOf?: string } = {},
): Promise<ProcessRecord> {
  const seen = spec.host && deps.hosts ? await deps.hosts.of(spec.host) : null;
  const verdict = spec.host && seen ? pinnedHostVerdict(spec.host, seen.heartbeat, seen.now) : null;
  const append = (pinned: EventDraft[]) =>
    deps.store.transact(
      id,
      (cur) => (cur ? null : [startRequested(spec, opts.of ?? null, opts.restartOf ?? null), ...pinned]),
      opts.fresh ? null : undefined,
    );
  const pinned = pinnedEvents(spec.host, verdict);
  // A live worker of a release before start_failed cannot read it: the start then waits
  // pending for its host, as it did in that release.
  const { record } = await append(pinned).catch((err: unknown) => {
    if (err instanceof NotInOlderVersionError && pinned.length > 0) return append([]);
    throw err;
  });
  const rec = record!;
  // Enqueued even when the record existed: a producer (or deploy runner) that crashed
  // between the append and the add repeats both with the same id and must not strand a
  // pending record. BullMQ drops the duplicate job id.
  if (rec.state === 'pending' && rec.desired === 'running') await deps.jobs.enqueueStart(rec);
  return rec;
}

/** In the start's own append, so no worker ever sees it pending: its end, or why it waits. */
function pinnedEvents(host: string | undefined, v: PinnedVerdict): EventDraft[] {
  if (!host || !v) return [];
  return v.kind === 'fail'
    ? [{ type: 'start_failed', reason: v.reason }]
    : [{ type: 'start_deferred', host, reason: v.reason, retryInMs: 0 }];
}

/**
 * Records a stop and enqueues what carries it out; null when there is no such record. The
 * client's stops and a deploy's both come here, so a stop means the same wherever it
 * comes from:
 * - a spawned process (running, stopping) gets a stop job on its host's queue;
 * - one being spawned (starting) gets none: its worker reads desired=stopped when it
 *   records the spawn and stops it;
 * - one that never ran (pending, now stopped) has its queued start job withdrawn, so no
 *   worker takes a job for a run that will not happen.
 */
export async function requestStop(
  deps: RequestDeps,
  id: string,
  o: z.output<typeof StopOptionsSchema> = {},
  /** The record as the caller saw it a moment ago (saves a read; the append's version check still guards it). */
  known?: ProcessRecord,
): Promise<ProcessRecord | null> {
  const { record: rec } = await deps.store.transact(
    id,
    (cur) =>
      !cur || (cur.desired === 'stopped' && FINAL_STATES.has(cur.state))
        ? null
        : [
            {
              type: 'stop_requested',
              signal: o.signal ?? cur.stopSignal ?? 'SIGTERM',
              graceMs: o.graceMs ?? cur.graceMs ?? deps.defaultGraceMs,
            },
          ],
    known,
  );
  if (!rec) return null;
  if (rec.host && (rec.state === 'stopping' || rec.state === 'running')) await deps.jobs.enqueueStop({ ...rec, host: rec.host });
  // Best effort: a job left behind finds desired=stopped and does nothing.
  if (rec.state === 'stopped' && rec.version > 0) await deps.jobs.withdrawStart(rec).catch(() => undefined);
  return rec;
}
