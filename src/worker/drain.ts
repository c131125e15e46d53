import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';

export interface DrainDeps {
  redis: Redis;
  /** The set of drained host ids (keys.drain). */
  drainKey: string;
  hostId: string;
  /** The start queue's consumer, paused while drained. */
  starts: () => { pause(doNotWaitActive?: boolean): Promise<void>; resume(): unknown };
  log: Logger;
}

/**
 * Draining is asked for in Redis (`reapq drain`), so it reaches the worker wherever it
 * runs; a drained worker stops fetching starts but still serves stops and reconcile passes.
 */
export class Drain {
  draining = false;

  constructor(private readonly deps: DrainDeps) {}

  /** Reads whether this host is drained and pauses or resumes the start consumer to match. */
  async check(): Promise<void> {
    const { deps } = this;
    const want = (await deps.redis.sismember(deps.drainKey, deps.hostId)) === 1;
    if (want === this.draining) return;
    this.draining = want;
    if (want) await deps.starts().pause(true);
    else await deps.starts().resume();
    deps.log.info({ draining: want }, want ? 'draining: no new starts' : 'drain lifted: taking starts');
  }

  /** A fresh start consumer (consumers renewed) starts unpaused: pause it again if drained. */
  async reapply(): Promise<void> {
    if (this.draining) await this.deps.starts().pause(true);
  }
}
