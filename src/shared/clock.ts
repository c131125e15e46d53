/**
 * The one way reapq reads time and sets timers, so tests can drive it and a clock step
 * cannot stretch or cut a wait.
 *
 * - `now()` is wall time (ms since the epoch): only for timestamps a human or another
 *   machine reads (`createdAt`, event `at`). Never compare it with another host's wall time,
 *   and never measure a duration with it: an NTP step moves it by hours.
 * - `mono()` is monotonic time (ms, arbitrary origin): every duration, deadline, interval,
 *   backoff and timeout a process measures for itself.
 * - `sleep()` and `setTimeout()` wait on the monotonic clock (Node's timers already do).
 */
export interface Clock {
  now(): number;
  mono(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** `unref`: the timer alone does not keep the process alive. */
  setTimeout(fn: () => void, ms: number, opts?: { unref?: boolean }): { cancel(): void };
}

/**
 * Runs fn every ms on the clock until cancelled (each run scheduled when the previous one
 * fired, as setInterval does; fn's own work, if async, does not delay the next).
 */
export function every(clock: Clock, ms: number, fn: () => void, opts?: { unref?: boolean }): { cancel(): void } {
  let cur: { cancel(): void } | null = null;
  let live = true;
  const arm = () => {
    cur = clock.setTimeout(
      () => {
        if (!live) return;
        arm();
        fn();
      },
      ms,
      opts,
    );
  };
  arm();
  return {
    cancel: () => {
      live = false;
      cur?.cancel();
    },
  };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  mono: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, ms);
      t.unref?.();
      function done(): void {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
  setTimeout: (fn, ms, opts) => {
    const t = setTimeout(fn, ms);
    if (opts?.unref) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock a test moves by hand: `advance()` fires the timers that fall due, in order. */
export function manualClock(startWall = 1_700_000_000_000): Clock & { advance(ms: number): void; step(ms: number): void } {
  let mono = 0;
  let wallOffset = startWall;
  const timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  const clock = {
    now: () => wallOffset + mono,
    mono: () => mono,
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        const h = clock.setTimeout(resolve, ms);
        signal?.addEventListener('abort', () => (h.cancel(), resolve()), { once: true });
      }),
    setTimeout: (fn: () => void, ms: number) => {
      const t = { at: mono + Math.max(0, ms), fn, live: true };
      timers.push(t);
      return { cancel: () => void (t.live = false) };
    },
    /** Time passes: monotonic and wall time move together, due timers fire. */
    advance(ms: number): void {
      const end = mono + ms;
      for (;;) {
        const due = timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        mono = Math.max(mono, due.at);
        due.live = false;
        due.fn();
      }
      mono = end;
    },
    /** The wall clock jumps (an NTP step); monotonic time does not move. */
    step(ms: number): void {
      wallOffset += ms;
    },
  };
  return clock;
}
