import type { Redis } from 'ioredis';

/** One stream entry as XREAD returns it: `<ms>-<seq>` and its field/value list. */
export interface StreamEntry {
  id: string;
  fields: string[];
}

/** Entries of one stream after a position, delivered by a StreamReader. */
export interface Subscription {
  /**
   * Resolves with the entries that arrived since the last call (in order), or waits up to
   * waitMs for some; [] on timeout or when the signal aborts.
   */
  next(waitMs: number, signal?: AbortSignal): Promise<StreamEntry[]>;
  /** Stops delivery; the reader drops the stream from its read when no one else wants it. */
  close(): void;
  /** True once closed, by close() or by the reader closing: a loop on next() must end then. */
  readonly closed: boolean;
}

export interface StreamReaderOptions {
  /** Longest single XREAD BLOCK. A change of the set of streams interrupts it (CLIENT UNBLOCK). */
  blockMs?: number;
  /** Entries per stream per read, so one busy stream cannot make a read unbounded. */
  count?: number;
  /** Buffered entries per subscription beyond which the oldest are dropped (a consumer that stopped reading). */
  maxBuffered?: number;
}

interface Sub {
  key: string;
  after: string;
  buffer: StreamEntry[];
  wake: (() => void) | null;
  closed: boolean;
}

/**
 * One blocking reader per process. Every waiter (waitFor, follow, followLogs, an SSE
 * client) subscribes to a stream from a position; the reader issues one
 * `XREAD BLOCK ... STREAMS k1 .. kn id1 .. idn` for all of them on one dedicated
 * connection and dispatches what comes back. Before this, each waiter opened its own
 * connection: 500 SSE clients were 506 connections and `maxclients` was the limit.
 *
 * Changing the set of streams while a read blocks would otherwise wait for the read to
 * time out: the reader then sends `CLIENT UNBLOCK <its id>` on the command connection, and
 * the read is re-issued at once with the new set. (On a Redis Cluster the command
 * connection may not reach the node of the blocked client, so reads there are short.)
 *
 * Positions live here, per subscription, so a read that fails (Redis restarted, a
 * failover) is simply issued again from the same positions once Redis answers: nothing
 * written meanwhile is missed, since streams keep their entries.
 */
export class StreamReader {
  private readonly subs = new Map<string, Set<Sub>>();
  private conn: Redis | null = null;
  private clientId: number | null = null;
  private running = false;
  private blocked = false;
  private unblockQueued = false;
  private closed = false;
  private readonly blockMs: number;
  private readonly count: number;
  private readonly maxBuffered: number;
  private readonly cluster: boolean;

  constructor(
    /** The command connection: duplicated once for reading, and used to unblock that read. */
    private readonly base: Redis,
    opts: StreamReaderOptions = {},
  ) {
    this.cluster = (base as unknown as { isCluster?: boolean }).isCluster === true;
    this.blockMs = opts.blockMs ?? (this.cluster ? 200 : 5000);
    this.count = opts.count ?? 1000;
    this.maxBuffered = opts.maxBuffered ?? 10_000;
  }

  /** Delivers entries of `key` with an id greater than `after` ('0' for all). */
  subscribe(key: string, after: string): Subscription {
    if (this.closed) throw new Error('stream reader closed');
    const sub: Sub = { key, after: normalize(after), buffer: [], wake: null, closed: false };
    let set = this.subs.get(key);
    const fresh = !set;
    if (!set) this.subs.set(key, (set = new Set()));
    // A new stream, or an older position than the read in flight asks for: re-issue now.
    const earlier = !fresh && [...set].every((s) => compareIds(sub.after, s.after) < 0);
    set.add(sub);
    if (fresh || earlier) this.changed();
    return {
      next: (waitMs, signal) => this.next(sub, waitMs, signal),
      close: () => this.drop(sub),
      get closed() {
        return sub.closed;
      },
    };
  }

  /** Entries of a stream as an async iterable, until the signal aborts. */
  async *entries(key: string, after: string, signal?: AbortSignal): AsyncGenerator<StreamEntry> {
    const sub = this.subscribe(key, after);
    try {
      while (!signal?.aborted && !sub.closed) for (const e of await sub.next(60_000, signal)) yield e;
    } finally {
      sub.close();
    }
  }

  /** Streams read right now (for tests and metrics). */
  get streams(): number {
    return this.subs.size;
  }

  /** Ends every subscription's wait and closes the reading connection. */
  close(): void {
    this.closed = true;
    for (const set of this.subs.values())
      for (const s of set) {
        s.closed = true;
        s.wake?.();
      }
    this.subs.clear();
    this.conn?.disconnect();
    this.conn = null;
  }

  private next(sub: Sub, waitMs: number, signal?: AbortSignal): Promise<StreamEntry[]> {
    if (sub.buffer.length > 0 || sub.closed || signal?.aborted) return Promise.resolve(sub.buffer.splice(0));
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        sub.wake = null;
        resolve(sub.buffer.splice(0));
      };
      const timer = setTimeout(done, Math.max(1, waitMs));
      signal?.addEventListener('abort', done, { once: true });
      sub.wake = done;
    });
  }

  private drop(sub: Sub): void {
    if (sub.closed) return;
    sub.closed = true;
    sub.wake?.();
    const set = this.subs.get(sub.key);
    set?.delete(sub);
    // Reading a stream nobody wants costs nothing until the read returns; no re-issue.
    if (set && set.size === 0) this.subs.delete(sub.key);
  }

  private changed(): void {
    if (!this.running) {
      this.running = true;
      void this.loop();
      return;
    }
    if (!this.blocked || this.unblockQueued || this.cluster) return;
    // A burst of subscriptions (1,000 waitFor issued at once) costs one unblock.
    this.unblockQueued = true;
    setImmediate(() => {
      this.unblockQueued = false;
      if (this.blocked && this.clientId !== null) void this.base.client('UNBLOCK', this.clientId).catch(() => undefined);
    });
  }

  private connection(): Redis {
    if (!this.conn) {
      const conn = this.cluster ? this.base.duplicate() : this.base.duplicate({ connectionName: 'reapq-reader' });
      conn.on('error', () => undefined); // a failed read is retried by the loop
      // ioredis sends a read cut by a reconnect again, with the same positions. It runs
      // under a new client id, unknown until that read returns: a subscription made
      // meanwhile waits for it (at most blockMs), as on a Cluster.
      conn.on('close', () => {
        this.clientId = null;
      });
      this.conn = conn;
    }
    return this.conn;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    try {
      while (!this.closed && this.subs.size > 0) {
        const conn = this.connection();
        const keys = [...this.subs.keys()];
        const ids = keys.map((k) => minAfter(this.subs.get(k)!));
        try {
          if (this.clientId === null && !this.cluster) this.clientId = Number(await conn.client('ID'));
          this.blocked = true;
          const res = (await conn.xread('COUNT', this.count, 'BLOCK', this.blockMs, 'STREAMS', ...keys, ...ids)) as Array<
            [string, Array<[string, string[]]>]
          > | null;
          this.blocked = false;
          failures = 0;
          for (const [key, rows] of res ?? []) this.dispatch(key, rows);
        } catch {
          this.blocked = false;
          if (this.closed) return;
          // Redis away or restarting: the positions are kept, the read is issued again.
          failures++;
          await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** Math.min(failures, 5), 2000)));
        }
      }
    } finally {
      this.running = false;
      this.blocked = false;
      // A subscription that came while the loop was leaving.
      if (!this.closed && this.subs.size > 0) this.changed();
    }
  }

  private dispatch(key: string, rows: Array<[string, string[]]>): void {
    const set = this.subs.get(key);
    if (!set) return;
    for (const sub of set) {
      for (const [id, fields] of rows) {
        if (compareIds(id, sub.after) <= 0) continue;
        sub.buffer.push({ id, fields });
        sub.after = id;
      }
      if (sub.buffer.length > this.maxBuffered) sub.buffer.splice(0, sub.buffer.length - this.maxBuffered);
      if (sub.buffer.length > 0) sub.wake?.();
    }
  }
}

function minAfter(set: Set<Sub>): string {
  let min: string | null = null;
  for (const s of set) if (min === null || compareIds(s.after, min) < 0) min = s.after;
  return min ?? '0-0';
}

function normalize(id: string): string {
  return id.includes('-') ? id : `${id}-0`;
}

/** Orders stream ids `<ms>-<seq>` numerically. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? Math.sign(d) : Math.sign(Number(as) - Number(bs));
}
