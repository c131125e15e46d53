import { every, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Reaper } from './reaper.js';

/**
 * Reaps inherited zombies soon after each SIGCHLD (a child changed state) and once a
 * second in case a signal was merged or missed; one sweep at a time however many arrive.
 */
export function startZombieSweep(reaper: Reaper, log: Logger, clock: Clock): { stop(): void } {
  let queued = false;
  const sweepSoon = () => {
    if (queued) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      const pids = reaper.sweep();
      if (pids.length) log.debug({ pids }, 'reaped inherited zombies');
    });
  };
  process.on('SIGCHLD', sweepSoon);
  const timer = every(clock, 1000, sweepSoon);
  return {
    stop() {
      timer.cancel();
      process.off('SIGCHLD', sweepSoon);
    },
  };
}
