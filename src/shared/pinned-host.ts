import type { Redis } from 'ioredis';
import { liveness, readHostsAt, type Heartbeat } from './hosts.js';

/**
 * What a start pinned to a host can expect from that host, judged from its heartbeat
 * (null: no worker of this prefix ever announced it) against `now`, Redis' time. Pure. `fail`: nothing will ever take
 * the start, so it ends now with the reason. `wait`: the host's worker shut down cleanly
 * and its next one takes the start; the reason says so while it waits. null: the host is
 * alive and takes it.
 */
export type PinnedVerdict = { kind: 'fail' | 'wait'; reason: string } | null;

export function pinnedHostVerdict(host: string, hb: Heartbeat | null, now: number): PinnedVerdict {
  if (!hb) return { kind: 'fail', reason: `host ${host} is unknown: no worker has announced it` };
  const iso = (ms: number) => new Date(ms).toISOString();
  switch (liveness(hb, now)) {
    case 'alive':
      return null;
    case 'down':
      return { kind: 'wait', reason: `host ${host} is down since ${iso(hb.at)} (its worker shut down): waiting for its next worker` };
    case 'expired':
      return { kind: 'fail', reason: `host ${host} is dead since ${iso(hb.at + hb.ttlMs)} (last heartbeat ${iso(hb.at)})` };
  }
}

/**
 * A host's heartbeat by id (null when none, or one that does not parse: its next beat
 * rewrites it) and Redis' time read with it, to judge it by.
 */
export type HostLookup = (host: string) => Promise<{ heartbeat: Heartbeat | null; now: number }>;

export function hostLookup(redis: Redis, hostsKey: string): HostLookup {
  return async (host) => {
    const { now, hosts } = await readHostsAt(redis, hostsKey, [host]);
    return { heartbeat: hosts[0] ?? null, now };
  };
}
