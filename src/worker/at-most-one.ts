/**
 * At most one copy (a deploy's `atMostOne`), as Nomad's stop_after_client_disconnect: the
 * two pure decisions both sides of a partition make, on their own clocks, so that the cut
 * host's copy is gone before another host may start one. Pure, tested with plain data.
 *
 * The lease as the fleet sees it: a host is lost once Redis' time is `ttlMs` past the
 * Redis time of its last beat (`at`, stamped by lua/heartbeat.lua). Redis stamped that
 * beat after this host sent it, so, measured from the send on this host's monotonic
 * clock, the lease cannot lapse before `sent + ttlMs`:
 *
 *   cut host  no beat taken since `sent` for ttlMs  -> stop the copy (the kill plan:
 *             stop signal, the grace period, SIGKILL), no Redis needed
 *   others    a lost host's at-most-one record waits until its beat is
 *             ttlMs + selfStopMarginMs old before it is marked lost and started elsewhere
 *
 * The margin covers the cut host's stop: its look interval, the grace period, SIGKILL
 * taking, and two clocks that tick at not quite the same rate.
 */

/** On top of the grace period: the self-stop's look interval (SELF_STOP_LOOK_MS), SIGKILL's wait and clock rates. */
export const SELF_STOP_SLACK_MS = 3000;
/** How often a worker looks whether its lease may have lapsed. */
export const SELF_STOP_LOOK_MS = 250;

/** How long past the lease the fleet waits for a cut host to have stopped a copy with this grace period. */
export function selfStopMarginMs(graceMs: number): number {
  return graceMs + SELF_STOP_SLACK_MS;
}

export interface LeaseView {
  /** Monotonic time this worker sent the last beat Redis took; null before the first. */
  lastBeatSent: number | null;
  /** Monotonic time now. */
  now: number;
  /** The host's ttl: the lease lapses this long after the beat. */
  ttlMs: number;
}

/** The cut host's side: its at-most-one copies stop now (the lease may have lapsed). */
export function selfStopDue(v: LeaseView): boolean {
  return v.lastBeatSent !== null && v.now - v.lastBeatSent >= v.ttlMs;
}

export interface TakeOver {
  atMostOne: boolean;
  /** Age of the host's last beat on Redis' clock, and its ttl. */
  ageMs: number;
  ttlMs: number;
  /** The record's grace period (the worker's default when it has none). */
  graceMs: number;
}

/**
 * The other hosts' side: a record of a host whose beat is `ageMs` old may be marked lost
 * and started elsewhere. Any record once the lease lapsed; an at-most-one one only once
 * its host has had the time to stop it itself.
 */
export function mayTakeOver(t: TakeOver): boolean {
  const wait = t.atMostOne ? t.ttlMs + selfStopMarginMs(t.graceMs) : t.ttlMs;
  return t.ageMs >= wait;
}
