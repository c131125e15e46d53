import { closeSync, copyFileSync, openSync, readSync, statSync, truncateSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';

interface Tail {
  file: string;
  pos: number;
  partial: string;
}

const CHUNK = 256 * 1024;
const MAX_LINE = 8192;

/**
 * Ships each process's output from its log file to a capped Redis stream, so any host can
 * read it. The process writes to a file, not a pipe: a pipe to the worker would break
 * (SIGPIPE) when the worker crashes, and the file outlives it. Each entry carries the file
 * offset after its line, so a worker that adopts the process resumes where shipping stopped.
 * The file itself is capped by copy-and-truncate (the process keeps its O_APPEND descriptor).
 */
export class LogShipper {
  private readonly tails = new Map<string, Tail>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly log: Logger,
    private readonly opts: { maxLines: number; maxFileBytes: number; intervalMs: number },
  ) {}

  /** Starts shipping a file from an offset, or from where the stream says shipping stopped. */
  async track(id: string, file: string, fromPos?: number): Promise<void> {
    let pos = fromPos;
    if (pos === undefined) {
      const last = await this.redis.xrevrange(this.keys.logs(id), '+', '-', 'COUNT', 1);
      const fields = last[0]?.[1] ?? [];
      const i = fields.indexOf('pos');
      pos = i >= 0 ? Number(fields[i + 1]) : 0;
    }
    this.tails.set(id, { file, pos, partial: '' });
    this.timer ??= setInterval(() => void this.pump(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Ships what is left and stops following. */
  async untrack(id: string): Promise<void> {
    const t = this.tails.get(id);
    if (!t) return;
    await this.ship(id, t, true).catch(() => undefined);
    this.tails.delete(id);
  }

  async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const [id, t] of this.tails) await this.ship(id, t, false);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'log shipping failed; retrying');
    } finally {
      this.busy = false;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async ship(id: string, t: Tail, final: boolean): Promise<void> {
    let size: number;
    try {
      size = statSync(t.file).size;
    } catch {
      return;
    }
    if (size < t.pos) t.pos = 0; // truncated under us
    if (size === t.pos && !(final && t.partial)) return;
    const buf = Buffer.alloc(Math.min(CHUNK, size - t.pos));
    const fd = openSync(t.file, 'r');
    let n = 0;
    try {
      n = readSync(fd, buf, 0, buf.length, t.pos);
    } finally {
      closeSync(fd);
    }
    const text = t.partial + buf.subarray(0, n).toString('utf8');
    const lines = text.split('\n');
    t.partial = lines.pop() ?? '';
    if (t.partial.length > MAX_LINE || (final && t.partial)) {
      lines.push(t.partial);
      t.partial = '';
    }
    const end = t.pos + n;
    if (lines.length > 0) {
      const pipe = this.redis.pipeline();
      for (const l of lines) pipe.xadd(this.keys.logs(id), 'MAXLEN', '~', String(this.opts.maxLines), '*', 'l', l.slice(0, MAX_LINE), 'pos', String(end));
      await pipe.exec();
    }
    t.pos = end;
    if (t.pos >= this.opts.maxFileBytes) this.rotate(t);
  }

  /** Keeps one previous file (.1); the current one starts again at zero. */
  private rotate(t: Tail): void {
    try {
      copyFileSync(t.file, `${t.file}.1`);
      truncateSync(t.file, 0);
      t.pos = 0;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file: t.file }, 'log rotation failed');
    }
  }
}
