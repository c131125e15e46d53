import type { EventStore } from '../../shared/event-store.js';
import { NotInOlderVersionError } from '../../shared/event-versions.js';
import type { HostInfo } from '../../shared/hosts.js';
import { pinnedHostVerdict } from '../../shared/pinned-host.js';
import type { ProcessRecord } from '../../shared/record.js';

/**
 * A pending start pinned to a host that no worker will serve (unknown, or dead since it
 * was queued) fails with the reason; one pinned to a host whose worker shut down cleanly
 * says so while it waits for the next one. True when the start failed here.
 */
export async function settlePinned(store: EventStore, rec: ProcessRecord, hosts: readonly HostInfo[], now: number): Promise<boolean> {
  const host = rec.requestedHost;
  if (!host) return false;
  const v = pinnedHostVerdict(host, hosts.find((h) => h.hostId === host) ?? null, now);
  if (!v || (v.kind === 'wait' && rec.error === v.reason)) return false;
  const settle = store.transact(rec.id, (cur) =>
    cur?.state === 'pending' && cur.desired === 'running' && cur.requestedHost === host
      ? [v.kind === 'fail' ? { type: 'start_failed', reason: v.reason } : { type: 'start_deferred', host, reason: v.reason, retryInMs: 0 }]
      : null,
  );
  // A live worker of a release before start_failed cannot read it: the start waits, as it did there.
  const { appended } = await settle.catch((err: unknown) => {
    if (err instanceof NotInOlderVersionError) return { appended: [] };
    throw err;
  });
  return v.kind === 'fail' && appended.length > 0;
}
