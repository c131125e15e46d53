import type { Redis } from 'ioredis';
import { every, type Clock } from '../shared/clock.js';
import { readableVersions } from '../shared/event-versions.js';
import { VERSIONED_TYPES } from '../shared/fleet-view.js';
import { CLOCK_SKEW_WARN_MS, type Heartbeat } from '../shared/hosts.js';
import type { Logger } from '../shared/logger.js';
import { luaScript } from '../shared/lua.js';
import { VERSION } from '../shared/version.js';
import type { ContainmentInfo } from './cgroup/manager.js';

export interface HeartbeatDeps {
  redis: Redis;
  /** The hosts hash (keys.hosts). */
  hostsKey: string;
  hostId: string;
  heartbeatMs: number;
  containment: ContainmentInfo;
  /** Live processes this host takes; Infinity: no limit. */
  maxProcesses: number;
  load: () => number;
  /** This worker's counters since it started, for /metrics. */
  counters: () => Record<string, number>;
  log: Logger;
  /** now(): this host's wall clock, only compared with Redis' to say how far off it is. */
  clock: Clock;
  /**
   * The host id's lease (keys.hostLease) as this worker claimed it: a beat is written only
   * while no other worker holds it, and `lost` is told when one does.
   */
  lease: { key: string; value: string; lost(holder: string): void };
}

const BEAT_LUA = luaScript('heartbeat.lua');

/**
 * The host's heartbeat in the hosts hash: what it runs, how full it is, what it can
 * contain and read, its counters. Other workers (the fleet pass) read a host whose beat is
 * older than its ttl (three beats) as lost, on Redis' clock: the beat is stamped there.
 * Each beat also measures how far this host's wall clock is from Redis'.
 */
export class HostHeartbeat {
  private timer: { cancel(): void } | null = null;
  /** This host's wall clock minus Redis', as the last beat measured it. */
  private offsetMs: number | undefined;
  private skewed = false;
  /** Monotonic time the newest beat Redis took was sent (null before the first). */
  private taken: number | null = null;

  constructor(private readonly deps: HeartbeatDeps) {}

  async beat(state: 'up' | 'draining' | 'down'): Promise<void> {
    const { deps } = this;
    // `at` is Redis' time, added by the script.
    const value: Omit<Heartbeat, 'at'> = {
      hostId: deps.hostId,
      pid: process.pid,
      version: VERSION,
      state,
      load: deps.load(),
      capacity: Number.isFinite(deps.maxProcesses) ? deps.maxProcesses : null,
      containment: deps.containment,
      events: readableVersions(VERSIONED_TYPES),
      ttlMs: deps.heartbeatMs * 3,
      counters: deps.counters(),
      clockOffsetMs: this.offsetMs,
    };
    const [sent, sentMono] = [deps.clock.now(), deps.clock.mono()];
    const { lease } = deps;
    const args = [deps.hostsKey, lease.key, deps.hostId, JSON.stringify(value), lease.value];
    const [ok, answer] = (await deps.redis.eval(BEAT_LUA, 2, ...args)) as [number, number | string];
    // A worker frozen past its lease and thawed after another took the host id over: its
    // beat would hide the new owner's (pid, load, versions) until the next one.
    if (ok !== 1) return lease.lost(String(answer));
    const redisMs = Number(answer);
    const [answered, rtt] = [deps.clock.now(), deps.clock.mono() - sentMono];
    // Redis stamped it after the send: the lease others judge lasts at least ttl from here.
    this.taken = Math.max(this.taken ?? sentMono, sentMono);
    // Redis read its clock somewhere between send and answer: the midpoint is the best
    // guess, and a slow answer leaves too wide a window to judge.
    if (rtt < CLOCK_SKEW_WARN_MS) this.noteOffset(Math.round((sent + answered) / 2 - redisMs));
  }

  /**
   * One line when this host's clock goes further than CLOCK_SKEW_WARN_MS from Redis' (at
   * boot, or after a step), one when it comes back. Nothing else changes: liveness is
   * judged on Redis' clock, and durations here on the monotonic one.
   */
  private noteOffset(offsetMs: number): void {
    this.offsetMs = offsetMs;
    const skewed = Math.abs(offsetMs) > CLOCK_SKEW_WARN_MS;
    if (skewed === this.skewed) return;
    this.skewed = skewed;
    if (skewed)
      this.deps.log.warn(
        { clockOffsetMs: offsetMs },
        `this host's clock is ${Math.round(Math.abs(offsetMs) / 1000)} s ${offsetMs > 0 ? 'ahead of' : 'behind'} Redis': liveness is judged on Redis' clock, so work goes on, but timestamps this host writes are off (fix its time sync)`,
      );
    else this.deps.log.info({ clockOffsetMs: offsetMs }, "this host's clock agrees with Redis' again");
  }

  /** When (monotonic ms) the newest beat Redis took was sent; null before the first. */
  get lastBeatSent(): number | null {
    return this.taken;
  }

  /** Runs `tick` (which beats) every heartbeatMs; a tick that fails is logged and the next one comes anyway. */
  every(tick: () => Promise<void>): void {
    this.timer = every(this.deps.clock, this.deps.heartbeatMs, () => {
      void tick().catch((err: Error) => this.deps.log.warn({ err: err.message }, 'heartbeat failed'));
    });
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }
}
