import type { Logger } from '../shared/logger.js';
import type { DeployRunner } from './deploy/runner.js';

/** Beats between two sweeps. */
const SWEEP_EVERY = 10;

/**
 * Every 10th heartbeat: a deploy that no runner holds and whose job got lost or failed is
 * enqueued again (a second job is harmless: runners take the service's lease).
 */
export class DeploySweep {
  private beats = 0;

  constructor(
    private readonly runner: Pick<DeployRunner, 'sweep'>,
    private readonly log: Logger,
  ) {}

  async onBeat(): Promise<void> {
    if (++this.beats % SWEEP_EVERY !== 0) return;
    for (const service of await this.runner.sweep(this.beats)) this.log.info({ service }, 'deploy without a runner: enqueued again');
  }
}
