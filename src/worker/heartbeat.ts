import type { Redis } from 'ioredis';
import { every, type Clock } from '../shared/clock.js';
import { readableVersions } from '../shared/event-versions.js';
import { VERSIONED_TYPES } from '../shared/fleet-view.js';
import type { Heartbeat } from '../shared/hosts.js';
import type { Logger } from '../shared/logger.js';
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
  clock: Clock;
}

/**
 * The host's heartbeat in the hosts hash: what it runs, how full it is, what it can
 * contain and read, its counters. Other workers (the fleet pass) read a host whose beat is
 * older than its ttl (three beats) as lost.
 */
export class HostHeartbeat {
  private timer: { cancel(): void } | null = null;

  constructor(private readonly deps: HeartbeatDeps) {}

  async beat(state: 'up' | 'draining' | 'down'): Promise<void> {
    const { deps } = this;
    const value: Heartbeat = {
      hostId: deps.hostId,
      pid: process.pid,
      version: VERSION,
      state,
      load: deps.load(),
      capacity: Number.isFinite(deps.maxProcesses) ? deps.maxProcesses : null,
      containment: deps.containment,
      events: readableVersions(VERSIONED_TYPES),
      at: deps.clock.now(),
      ttlMs: deps.heartbeatMs * 3,
      counters: deps.counters(),
    };
    await deps.redis.hset(deps.hostsKey, deps.hostId, JSON.stringify(value));
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
