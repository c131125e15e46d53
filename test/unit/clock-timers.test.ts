import { describe, it, expect } from 'vitest';
import { every, manualClock, type Clock } from '../../src/shared/clock.js';
import { makeLogger } from '../../src/shared/logger.js';
import type { ReconcileReport } from '../../src/shared/reconcile-report.js';
import { WorkQueue } from '../../src/worker/controller/work-queue.js';
import { DueJobs, type DelayedJob } from '../../src/worker/due-jobs.js';
import { ReconcilePasses } from '../../src/worker/passes.js';
import { awaitReady, type ProbeResult } from '../../src/worker/readiness.js';

const HOUR = 3_600_000;

/** A manual clock that also says when someone starts waiting on it (the positive signal to move it). */
function watchedClock() {
  const clock = manualClock();
  let waiting: (() => void) | null = null;
  const watched: Clock & typeof clock & { nextSleep(): Promise<void> } = {
    ...clock,
    sleep: (ms, signal) => {
      const p = clock.sleep(ms, signal);
      waiting?.();
      waiting = null;
      return p;
    },
    nextSleep: () => new Promise<void>((r) => (waiting = r)),
  };
  return watched;
}

describe('timers on the monotonic clock', () => {
  it('a readiness deadline neither ends nor stretches when the wall clock steps', async () => {
    const clock = watchedClock();
    let verdict: ProbeResult | null = null;
    let slept = clock.nextSleep();
    const check = awaitReady(
      { kind: 'log', pattern: 'never printed', timeoutMs: 1000 },
      { port: null, logFile: '/nonexistent/reapq-clock-test.log', logOffset: 0, deadline: clock.mono() + 1000, gone: () => false, clock },
    ).then((r) => (verdict = r));
    await slept;
    // An NTP step of an hour forward: on wall time the deadline would be long past.
    clock.step(HOUR);
    slept = clock.nextSleep();
    clock.advance(100);
    await slept;
    expect(verdict).toBeNull();
    // And an hour back: on wall time it would wait an hour more. 1000 ms of monotonic time end it.
    clock.step(-2 * HOUR);
    while (clock.mono() < 900) {
      slept = clock.nextSleep();
      clock.advance(100);
      await slept;
    }
    expect(verdict).toBeNull();
    clock.advance(100);
    await check;
    expect(verdict).toEqual({ ok: false, reason: 'not ready within 1000 ms (no output line matched /never printed/)' });
  });

  it('the stuck-consumer watch counts monotonic time since the last pass, not wall time', async () => {
    const clock = manualClock();
    const report: ReconcileReport = {
      host: 'h',
      at: new Date(clock.now()).toISOString(),
      durationMs: 3,
      records: 0,
      full: false,
      processes: 0,
      actions: [],
      errors: [],
    };
    const passes = new ReconcilePasses({ pass: async () => report, saveUsage: null, reconcileMs: 1000, log: makeLogger('silent'), clock });
    let renewals = 0;
    const renew = async () => void renewals++;
    await passes.run();
    clock.step(HOUR);
    await passes.renewIfStuck(renew);
    expect(renewals).toBe(0);
    clock.advance(15_000);
    await passes.renewIfStuck(renew);
    expect(renewals).toBe(0);
    clock.advance(1);
    await passes.renewIfStuck(renew);
    expect(renewals).toBe(1);
    // Renewing counts as a fresh start: not again at the next beat.
    await passes.renewIfStuck(renew);
    expect(renewals).toBe(1);
    expect(passes.counters).toMatchObject({ reconcilePasses: 1, reconcileMsTotal: 3 });
  });

  it('pass jobs are queued every reconcileMs of monotonic time, one at a time, across steps of the wall clock', async () => {
    const clock = manualClock();
    const report = { host: 'h', at: '', durationMs: 1, records: 0, full: false, processes: 0, actions: [], errors: [] };
    const passes = new ReconcilePasses({ pass: async () => report, saveUsage: null, reconcileMs: 500, log: makeLogger('silent'), clock });
    let queued = 0;
    const timer = passes.every(async () => void queued++);
    clock.advance(500);
    expect(queued).toBe(1);
    // Not run yet: no second job behind it.
    clock.advance(1500);
    expect(queued).toBe(1);
    await passes.run();
    clock.step(-HOUR);
    clock.advance(500);
    expect(queued).toBe(2);
    await passes.run();
    clock.step(2 * HOUR);
    clock.advance(500);
    expect(queued).toBe(3);
    timer.cancel();
    await passes.run();
    clock.advance(5000);
    expect(queued).toBe(3);
  });

  it("a sweep after a step back of the wall clock still reads the ends recorded since the last, on the step's either side", async () => {
    const clock = manualClock();
    const since: number[] = [];
    const report = { host: 'h', at: '', durationMs: 1, records: 0, full: false, processes: 0, actions: [], errors: [] };
    const pass = async (o: { finishedSince?: number }) => (o.finishedSince !== undefined && since.push(o.finishedSince), report);
    const passes = new ReconcilePasses({ pass, saveUsage: null, reconcileMs: 500, log: makeLogger('silent'), clock });
    await passes.run();
    const firstSweep = clock.now();
    for (let n = 1; n < 10; n++) {
      clock.advance(500);
      if (n === 5) clock.step(-HOUR);
      await passes.run();
    }
    clock.advance(500);
    await passes.run();
    // An end recorded just after the step is scored an hour before the first sweep: still read.
    expect(since.at(-1)).toBeLessThanOrEqual(firstSweep - HOUR + 2500 - 10_000);
    // And forward: an end recorded just before the step, on the clock before it.
    const secondSweep = clock.now();
    for (let n = 1; n < 10; n++) {
      clock.advance(500);
      if (n === 5) clock.step(2 * HOUR);
      await passes.run();
    }
    clock.advance(500);
    await passes.run();
    expect(since.at(-1)).toBe(secondSweep - 10_000);
  });

  it('a delayed job is promoted when due on the monotonic clock, a little after BullMQ would have', () => {
    const clock = manualClock();
    const promoted: DelayedJob[] = [];
    const due = new DueJobs({ clock, promote: async (j) => void promoted.push(j) });
    const job = { queue: 'q', jobId: 'p-1.r1', attemptsStarted: 0 };
    due.watch(job, 2000);
    clock.step(-HOUR);
    clock.advance(2000);
    expect(promoted).toEqual([]);
    clock.advance(100);
    expect(promoted).toEqual([job]);
    due.watch(job, 0);
    due.watch({ ...job, jobId: 'p-2' }, 250);
    due.close();
    clock.advance(1000);
    expect(promoted).toEqual([job]);
  });

  it('a work queue runs a delayed id when its monotonic delay is up; the earliest request wins', async () => {
    const clock = manualClock();
    const runs: string[][] = [];
    let ran: (() => void) | null = null;
    const q = new WorkQueue<string>(
      async (id, triggers) => {
        runs.push([id, ...triggers]);
        ran?.();
        return null;
      },
      'tick',
      () => undefined,
      clock,
    );
    q.after('a', 500, 'late');
    q.after('a', 200, 'soon');
    q.after('a', 900, 'later still');
    clock.step(HOUR);
    clock.advance(199);
    expect(runs).toEqual([]);
    const done = new Promise<void>((r) => (ran = r));
    clock.advance(1);
    await done;
    expect(runs).toEqual([['a', 'soon']]);
    expect(q.busy('a')).toBe(false);
    q.close();
  });

  it('every() repeats on the clock until cancelled', () => {
    const clock = manualClock();
    let n = 0;
    const t = every(clock, 250, () => n++);
    clock.advance(1000);
    expect(n).toBe(4);
    t.cancel();
    clock.advance(1000);
    expect(n).toBe(4);
  });
});
