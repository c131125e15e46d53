import { systemClock, type Clock } from '../../shared/clock.js';

/**
 * A keyed work queue in the shape of controller-runtime's: an id is processed by one
 * handler run at a time; triggers that arrive meanwhile are merged into the next run, so a
 * burst of events for one id costs one or two runs, never a run per event. A handler that
 * throws is retried with a per-id backoff (a Redis outage repairs itself once Redis is
 * back); a handler may ask to run again after a delay (deadlines, polls).
 */
export interface Handler<T> {
  (id: string, triggers: T[]): Promise<number | null>;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Entry<T> {
  triggers: T[];
  waiters: Waiter[];
}

export class WorkQueue<T> {
  private readonly queued = new Map<string, Entry<T>>();
  private readonly order: string[] = [];
  private readonly active = new Map<string, Entry<T>>();
  private readonly timers = new Map<string, { at: number; timer: { cancel(): void } }>();
  private readonly failures = new Map<string, number>();
  private readonly quietWaiters = new Map<string, Array<() => void>>();
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly handler: Handler<T>,
    /** The trigger of a run the handler asked for itself. */
    private readonly tick: T,
    private readonly onError: (id: string, err: unknown, retryInMs: number) => void,
    private readonly clock: Clock = systemClock,
    private readonly concurrency = 64,
    private readonly maxBackoffMs = 5000,
  ) {}

  /** Runs the handler for id soon; resolves once a run that saw this trigger has finished. */
  add(id: string, trigger: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry = this.entry(id);
      entry.triggers.push(trigger);
      entry.waiters.push({ resolve, reject });
      this.pump();
    });
  }

  /** Runs the handler for id after ms (the earliest of several requests wins). */
  after(id: string, ms: number, trigger: T): void {
    if (this.closed) return;
    // Monotonic: a wall-clock step must not make the earlier request look later, or sooner.
    const at = this.clock.mono() + ms;
    const cur = this.timers.get(id);
    if (cur && cur.at <= at) return;
    if (cur) cur.timer.cancel();
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(id);
      this.entry(id).triggers.push(trigger);
      this.pump();
    }, ms);
    this.timers.set(id, { at, timer });
  }

  /** True while id has work queued, running or scheduled. */
  busy(id: string): boolean {
    return this.queued.has(id) || this.active.has(id) || this.timers.has(id);
  }

  /** Resolves when id has no work queued, running or scheduled, or after ms. */
  quiet(id: string, ms: number): Promise<void> {
    if (!this.busy(id)) return Promise.resolve();
    const clock = this.clock;
    return new Promise((resolve) => {
      const t = clock.setTimeout(done, ms);
      const list = this.quietWaiters.get(id) ?? [];
      list.push(done);
      this.quietWaiters.set(id, list);
      function done() {
        t.cancel();
        resolve();
      }
    });
  }

  /** Resolves when nothing runs (scheduled work may remain). */
  idle(): Promise<void> {
    if (this.active.size === 0 && this.queued.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  get size(): number {
    return this.queued.size + this.active.size;
  }

  close(): void {
    this.closed = true;
    for (const { timer } of this.timers.values()) timer.cancel();
    this.timers.clear();
  }

  private entry(id: string): Entry<T> {
    let e = this.queued.get(id);
    if (!e) {
      e = { triggers: [], waiters: [] };
      this.queued.set(id, e);
      this.order.push(id);
    }
    return e;
  }

  private pump(): void {
    while (this.active.size < this.concurrency) {
      const idx = this.order.findIndex((id) => !this.active.has(id));
      if (idx < 0) return;
      const id = this.order.splice(idx, 1)[0]!;
      const entry = this.queued.get(id)!;
      this.queued.delete(id);
      this.active.set(id, entry);
      void this.run(id, entry);
    }
  }

  private async run(id: string, entry: Entry<T>): Promise<void> {
    let again: number | null = null;
    try {
      again = await this.handler(id, entry.triggers);
      this.failures.delete(id);
      for (const w of entry.waiters) w.resolve();
    } catch (err) {
      const n = (this.failures.get(id) ?? 0) + 1;
      this.failures.set(id, n);
      const ms = Math.min(50 * 2 ** (n - 1), this.maxBackoffMs);
      this.onError(id, err, ms);
      // The triggers are kept for the retry (a start job's trigger must not be lost), and
      // their waiters hear of the outcome of the run that succeeds.
      if (!this.closed) {
        this.clock.setTimeout(() => {
          const e = this.entry(id);
          e.triggers.unshift(...entry.triggers);
          e.waiters.unshift(...entry.waiters);
          this.pump();
        }, ms);
      } else {
        for (const w of entry.waiters) w.reject(err);
      }
    } finally {
      this.active.delete(id);
      if (again !== null && !this.closed) {
        if (again <= 0) this.entry(id).triggers.push(this.tick);
        else this.after(id, again, this.tick);
      }
      if (!this.busy(id)) {
        for (const f of this.quietWaiters.get(id) ?? []) f();
        this.quietWaiters.delete(id);
      }
      if (this.active.size === 0 && this.queued.size === 0) {
        const ws = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of ws) w();
      }
      this.pump();
    }
  }
}
