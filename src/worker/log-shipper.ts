import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import { StringDecoder } from 'node:string_decoder';
import type { Redis } from 'ioredis';
import { every, systemClock, type Clock } from '../shared/clock.js';
import type { Keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { LogSettings } from '../shared/record.js';
import { streamField } from '../shared/stream-fields.js';

interface Tail {
  file: string;
  pos: number;
  partial: string;
  /** Keeps a UTF-8 character split across two reads whole. */
  decoder: StringDecoder;
  /** Bytes never shipped (skipped or rotated away) since the last marker line. */
  gap: number;
  gapWhy: string;
  /** The process's own rotation (its start's logMaxBytes, logKeep, logGzip); null fields: the worker's. */
  rotation: LogSettings | null;
}

/** One read of a log file; the buffer is the shipper's own and reused for every read. */
const CHUNK = 64 * 1024;
/** Lines shipped per file per pump (a flood of empty lines is bytes-cheap, XADD-dear). */
const LINES_PER_PUMP = 10_000;
/** Bytes shipped per file per pump: a flooding process cannot starve the others. */
const BUDGET = 1024 * 1024;
/** Further behind than this, shipping jumps to the end: `logs` shows what happens now. */
const MAX_LAG = 2 * 1024 * 1024;
/** What is read back from the end after a jump. */
const KEEP_ON_JUMP = 256 * 1024;
const MAX_LINE = 8192;
/** Commands per pipeline: each queued XADD holds its line until Redis answers. */
const PIPELINE = 1000;

/** File operations the rotation needs; a test swaps them to make the disk full. */
export interface LogFiles {
  /** Copies the last `bytes` bytes of `from` to `to` (replacing it). */
  copyTail(from: string, to: string, bytes: number, buf: Buffer): void;
  truncate(file: string): void;
  remove(file: string): void;
  /** Renames when `from` exists; nothing otherwise. */
  rename(from: string, to: string): void;
  /** Replaces `file` with `file.gz`. */
  gzip(file: string): void;
  /** Whether the filesystem holding `dir` has no block left for an unprivileged writer. */
  full(dir: string): boolean;
}

/** A failed write on a process's log, for its record (a log_lost event). */
export interface LogLoss {
  error: string;
  lostBytes: number;
  detail: string;
}

const DISK_FULL =
  'the disk holding this log was full (ENOSPC): output the process wrote meanwhile is lost; the log was truncated to free the disk';

export const realLogFiles: LogFiles = {
  copyTail(from, to, bytes, buf) {
    const src = openSync(from, 'r');
    try {
      const size = statSync(from).size;
      let at = Math.max(0, size - bytes);
      const dst = openSync(to, 'w');
      try {
        for (;;) {
          const n = readSync(src, buf, 0, buf.length, at);
          if (n <= 0) break;
          writeSync(dst, buf, 0, n);
          at += n;
        }
      } finally {
        closeSync(dst);
      }
    } finally {
      closeSync(src);
    }
  },
  truncate(file) {
    // ftruncate on a descriptor of our own: the process keeps writing through its O_APPEND one.
    const fd = openSync(file, 'r+');
    try {
      ftruncateSync(fd, 0);
    } finally {
      closeSync(fd);
    }
  },
  remove(file) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  },
  rename(from, to) {
    if (existsSync(from)) renameSync(from, to);
  },
  gzip(file) {
    // Synchronous and at the fastest level: a rotation happens once per REAPQ_LOG_MAX_BYTES
    // of output, and 16 MiB of text takes tens of ms; a stream would let the next rotation
    // shift files still being written.
    try {
      writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: constants.Z_BEST_SPEED }));
    } catch (err) {
      this.remove(`${file}.gz`);
      throw err;
    }
    this.remove(file);
  },
  full(dir) {
    try {
      return statfsSync(dir).bavail === 0;
    } catch {
      return false;
    }
  },
};

/**
 * Ships each process's output from its log file to a capped Redis stream, so any host can
 * read it. The process writes to a file, not a pipe: a pipe to the worker would break
 * (SIGPIPE) when the worker crashes, and the file outlives it. The last entry of each
 * batch carries the file offset after it, so a worker that adopts the process resumes
 * where shipping stopped.
 *
 * Bounded whatever a process writes:
 * - memory: one reused read buffer, at most BUDGET bytes per file per pump, pipelines of
 *   PIPELINE lines, lines cut at MAX_LINE;
 * - lag: more than MAX_LAG behind, shipping jumps to the last KEEP_ON_JUMP bytes and ships
 *   a marker line saying how much was skipped, so `reapq logs` shows the newest output
 *   within a pump or two instead of minutes later (the skipped bytes stay in the file);
 * - disk: rotation follows the file's real size, not the shipped position. The last
 *   REAPQ_LOG_MAX_BYTES are copied to `.1` (older copies shifted to `.2` ... up to
 *   REAPQ_LOG_KEEP, each gzipped with REAPQ_LOG_GZIP) and the file truncated (the process
 *   keeps its O_APPEND descriptor). When the copy fails (disk full) the partial `.1` is removed and
 *   the file truncated anyway: the disk is freed instead of staying full.
 */
export class LogShipper {
  private readonly tails = new Map<string, Tail>();
  private timer: { cancel(): void } | null = null;
  private busy = false;
  private readonly buf = Buffer.allocUnsafe(CHUNK);

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly log: Logger,
    private readonly opts: {
      maxLines: number;
      maxFileBytes: number;
      intervalMs: number;
      clock?: Clock;
      keep?: number;
      gzip?: boolean;
      /** A write on a tracked log failed: the caller puts it on the process's record. */
      onLoss?: (id: string, loss: LogLoss) => void;
    },
    private readonly files: LogFiles = realLogFiles,
  ) {}

  /** Starts shipping a file from an offset, or from where the stream says shipping stopped. */
  async track(id: string, file: string, fromPos?: number, rotation: LogSettings | null = null): Promise<void> {
    let pos = fromPos;
    if (pos === undefined) {
      const last = await this.redis.xrevrange(this.keys.logs(id), '+', '-', 'COUNT', 1);
      pos = Number(streamField(last[0]?.[1] ?? [], 'pos') ?? 0);
    }
    this.tails.set(id, { file, pos, partial: '', decoder: new StringDecoder('utf8'), gap: 0, gapWhy: '', rotation });
    this.timer ??= every(this.opts.clock ?? systemClock, this.opts.intervalMs, () => void this.pump(), { unref: true });
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
      const first = this.tails.values().next().value;
      if (first && this.files.full(dirname(first.file))) await this.freeDisk();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'log shipping failed; retrying');
    } finally {
      this.busy = false;
    }
  }

  close(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private async ship(id: string, t: Tail, final: boolean): Promise<void> {
    let size = sizeOf(t.file);
    if (size === null) return;
    if (size < t.pos) this.restart(t, 0); // truncated under us
    if (size - t.pos > MAX_LAG) this.jump(t, size);
    let budget = final ? Infinity : BUDGET;
    let lines = 0;
    while (t.pos < size && budget > 0 && lines < LINES_PER_PUMP) {
      const n = this.read(t.file, t.pos, Math.min(CHUNK, size - t.pos, budget));
      if (n <= 0) break;
      t.pos += n;
      budget -= n;
      const batch = this.split(t, t.decoder.write(this.buf.subarray(0, n)));
      lines += batch.length;
      for (let i = 0; i < batch.length; i += PIPELINE) await this.send(id, t, batch.slice(i, i + PIPELINE), i + PIPELINE >= batch.length);
    }
    if (final && t.partial) {
      const last = t.partial;
      t.partial = '';
      await this.send(id, t, [last], true);
    }
    size = sizeOf(t.file) ?? 0;
    // Rotating drops what is not shipped yet: wait until shipping caught up, unless it is so
    // far behind that it would jump anyway. A file written faster than it ships stays
    // bounded by maxFileBytes + MAX_LAG.
    if (size >= this.maxBytes(t) && (t.pos >= size || size - t.pos > MAX_LAG)) this.rotate(id, t, size);
    if (t.gap > 0 || t.gapWhy) await this.send(id, t, [], true);
  }

  /**
   * The disk is full: every write of the processes fails (their output is lost) and, with
   * a log under REAPQ_LOG_MAX_BYTES, nothing would ever free it. Each tracked log with
   * something in it is truncated, its unshipped bytes counted as lost, and each loss goes
   * to the process's record and, as a marker line, to its log stream.
   */
  private async freeDisk(): Promise<void> {
    for (const [id, t] of this.tails) {
      const size = sizeOf(t.file);
      if (!size) continue;
      const lost = Math.max(0, size - t.pos) + Buffer.byteLength(t.partial);
      try {
        this.files.truncate(t.file);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, file: t.file }, 'could not truncate a log on a full disk');
        continue;
      }
      this.log.warn({ processId: id, file: t.file, lostBytes: lost }, 'disk full: log truncated, output lost');
      this.addGap(t, lost, DISK_FULL);
      t.gapWhy = DISK_FULL;
      this.restart(t, 0);
      this.opts.onLoss?.(id, { error: 'ENOSPC', lostBytes: lost, detail: DISK_FULL });
      await this.send(id, t, [], true);
    }
  }

  private restart(t: Tail, pos: number): void {
    t.pos = pos;
    t.partial = '';
    t.decoder = new StringDecoder('utf8');
  }

  /** Skips to the last KEEP_ON_JUMP bytes, from a line start. */
  private jump(t: Tail, size: number): void {
    let to = size - KEEP_ON_JUMP;
    const n = this.read(t.file, to, Math.min(MAX_LINE, KEEP_ON_JUMP));
    const nl = this.buf.subarray(0, n).indexOf(10);
    if (nl >= 0) to += nl + 1;
    this.addGap(t, to - t.pos + Buffer.byteLength(t.partial), 'shipping fell behind; the file on the host has what is left of them');
    this.restart(t, to);
  }

  private rotate(id: string, t: Tail, size: number): void {
    // What was not shipped yet goes to .1 only: Redis gets a marker saying so.
    const unshipped = size - t.pos;
    const keep = t.rotation?.keep ?? this.opts.keep ?? 1;
    try {
      if (keep > 0) this.keepCopy(t, keep);
    } catch (err) {
      this.files.remove(`${t.file}.1`);
      this.files.remove(`${t.file}.1.gz`);
      this.log.warn({ err: (err as Error).message, file: t.file }, 'log copy failed (disk full?): truncating without a copy');
      t.gapWhy = 'log file truncated without a copy (disk full?)';
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      this.opts.onLoss?.(id, {
        error: code,
        lostBytes: 0,
        detail: `the rotated copy of this log could not be written (${code}): it is lost`,
      });
    }
    try {
      this.files.truncate(t.file);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file: t.file }, 'log rotation failed');
      return;
    }
    if (unshipped > 0)
      this.addGap(
        t,
        unshipped + Buffer.byteLength(t.partial),
        'rotated before it was shipped; the file on the host has what is left of them',
      );
    this.restart(t, 0);
  }

  /**
   * `.1` ... `.keep` (each `.gz` when compressed; a file of either kind is shifted, so a
   * change of REAPQ_LOG_GZIP keeps the older ones): the oldest goes, the others move up one,
   * and the last REAPQ_LOG_MAX_BYTES of the file become `.1`.
   */
  private keepCopy(t: Tail, keep: number): void {
    const file = t.file;
    for (const ext of ['', '.gz']) this.files.remove(`${file}.${keep}${ext}`);
    for (let i = keep - 1; i >= 1; i--) for (const ext of ['', '.gz']) this.files.rename(`${file}.${i}${ext}`, `${file}.${i + 1}${ext}`);
    this.files.copyTail(file, `${file}.1`, this.maxBytes(t), this.buf);
    if (t.rotation?.gzip ?? this.opts.gzip) this.files.gzip(`${file}.1`);
  }

  private maxBytes(t: Tail): number {
    return t.rotation?.maxBytes ?? this.opts.maxFileBytes;
  }

  private addGap(t: Tail, bytes: number, why: string): void {
    t.gap += bytes;
    t.gapWhy ||= why;
  }

  private read(file: string, at: number, bytes: number): number {
    const fd = openSync(file, 'r');
    try {
      return readSync(fd, this.buf, 0, bytes, at);
    } finally {
      closeSync(fd);
    }
  }

  private split(t: Tail, text: string): string[] {
    const out = (t.partial + text).split('\n');
    t.partial = out.pop() ?? '';
    for (let i = 0; i < out.length; i++) if (out[i]!.length > MAX_LINE) out[i] = out[i]!.slice(0, MAX_LINE);
    if (t.partial.length > MAX_LINE) {
      out.push(t.partial.slice(0, MAX_LINE));
      t.partial = '';
    }
    return out;
  }

  /**
   * One pipeline: a pending gap marker first, then the lines. With `withPos` the last entry
   * carries the offset of the first byte not shipped, where an adopting worker resumes.
   */
  private async send(id: string, t: Tail, lines: string[], withPos: boolean): Promise<void> {
    const key = this.keys.logs(id);
    const marker = t.gap > 0 ? `[reapq: ${t.gap} bytes of output not shipped: ${t.gapWhy}]` : t.gapWhy ? `[reapq: ${t.gapWhy}]` : null;
    const all = marker ? [marker, ...lines] : lines;
    if (all.length === 0) return;
    const pipe = this.redis.pipeline();
    const max = String(this.opts.maxLines);
    const pos = String(t.pos - Buffer.byteLength(t.partial));
    all.forEach((l, i) => {
      if (withPos && i === all.length - 1) pipe.xadd(key, 'MAXLEN', '~', max, '*', 'l', l, 'pos', pos);
      else pipe.xadd(key, 'MAXLEN', '~', max, '*', 'l', l);
    });
    await pipe.exec();
    t.gap = 0;
    t.gapWhy = '';
  }
}

function sizeOf(file: string): number | null {
  try {
    return statSync(file).size;
  } catch {
    return null;
  }
}
