import type { ProcessRecord, State } from './record.js';

/** Bad input from a user or a peer: CLI exit code 2, HTTP 400. Thrown before anything is written. */
export class InputError extends Error {
  override name = 'InputError';
}

/** An optimistic append lost the race too many times in a row; the caller may retry later. */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/**
 * A value reapq stored does not parse (src/shared/stored.ts words the problem). With a
 * subject the message reads `<subject> is corrupt: <problem>`.
 */
export class CorruptDataError extends Error {
  override name = 'CorruptDataError';
  constructor(
    readonly problem: string,
    subject?: string,
  ) {
    super(subject ? `${subject} is corrupt: ${problem}` : problem);
  }
}

/** A stored record (or its event stream) does not parse: named by id, never fatal to other records. */
export class CorruptRecordError extends CorruptDataError {
  override name = 'CorruptRecordError';
  constructor(
    readonly id: string,
    problem: string,
    of: 'record' | 'event stream' = 'record',
  ) {
    super(problem, `${of} of ${id}`);
  }
}

/** An append about a run that is no longer the record's current one: the writer must act only on its own stale run. */
export class StaleRunError extends Error {
  override name = 'StaleRunError';
  constructor(
    readonly id: string,
    detail: string,
  ) {
    super(`${id}: ${detail}`);
  }
}

/**
 * An append the master took but fewer replicas than REAPQ_REDIS_WAIT_REPLICAS confirmed
 * in time: a failover now could lose it, so it is not reported as done. Retrying by id is
 * safe (the same start or stop twice is one). HTTP 503.
 */
export class ReplicationError extends Error {
  override name = 'ReplicationError';
  constructor(
    readonly id: string,
    readonly wanted: number,
    readonly confirmed: number,
    timeoutMs: number,
  ) {
    super(
      `${id}: written on the Redis master but confirmed by ${confirmed} of the ${wanted} replicas REAPQ_REDIS_WAIT_REPLICAS asks for within ${timeoutMs} ms; a failover could lose it: retry by id`,
    );
  }
}

/** A requested process id does not exist. HTTP 404, CLI exit code 1. */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
  constructor(readonly id: string) {
    super(`no process with id ${id}`);
  }
}

/**
 * A wait ended without what it waited for: the base of TimeoutError and SettledError, so a
 * caller that does not care which can catch one class. CLI exit code 1.
 */
export class WaitError extends Error {
  override name = 'WaitError';
  constructor(
    message: string,
    readonly record?: ProcessRecord,
  ) {
    super(message);
  }
}

/** A wait ran out of time (waitFor, a reconcile report); `record` is the last one seen, if any. HTTP 504. */
export class TimeoutError extends WaitError {
  override name = 'TimeoutError';
  constructor(
    message: string,
    readonly waitedMs: number,
    record?: ProcessRecord,
  ) {
    super(message, record);
  }
}

/** waitFor saw the record settle in a final state it cannot leave, none of the awaited ones. HTTP 409. */
export class SettledError extends WaitError {
  override name = 'SettledError';
  constructor(
    override readonly record: ProcessRecord,
    readonly wanted: readonly State[],
  ) {
    super(`${record.id} is ${record.state}${record.error ? ` (${record.error})` : ''}, not ${wanted.join('|')}`, record);
  }
}

/** The first line of an error's message: what the CLI prints after `reapq:` and every api error body holds. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? msg).trim() || 'internal error';
}

/** Turns a zod issue list into the one line a user reads. */
export function describeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
}

/** Why Redis refused a command, when a user can act on it. */
export type RedisRefusal = 'oom' | 'readonly' | 'noscript' | 'misconf';

/** What an out-of-memory refusal names: Redis's own figures (INFO memory). */
export interface MemoryFacts {
  policy: string;
  used: string;
  max: string;
}

const REFUSAL_PREFIXES: ReadonlyArray<[RedisRefusal, string]> = [
  ['oom', 'OOM '],
  ['readonly', 'READONLY '],
  ['noscript', 'NOSCRIPT '],
  ['misconf', 'MISCONF '],
];

/** The refusal behind a Redis error reply, null for any other error. A MULTI Redis aborted names it among its previous errors. */
export function refusalOf(err: unknown): RedisRefusal | null {
  if (!(err instanceof Error)) return null;
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  const messages = [err.message, ...(Array.isArray(previous) ? previous.map((e) => (e instanceof Error ? e.message : '')) : [])];
  for (const m of messages) for (const [kind, prefix] of REFUSAL_PREFIXES) if (m.startsWith(prefix)) return kind;
  return null;
}

function refusalMessage(kind: RedisRefusal, memory: MemoryFacts | null): string {
  switch (kind) {
    case 'oom': {
      const facts = memory ? `${memory.used} used of maxmemory ${memory.max}, maxmemory-policy ${memory.policy}` : 'maxmemory reached';
      const evicts =
        memory && memory.policy !== 'noeviction'
          ? '; reapq needs maxmemory-policy noeviction (an evicting Redis drops records and jobs)'
          : '';
      return `Redis is out of memory (${facts}) and refused the call: free memory (reapq prune, or whatever else fills this Redis) or raise maxmemory${evicts}`;
    }
    case 'readonly':
      return 'Redis answered as a read-only replica and refused the write: point REDIS_URL at the master (a redis+sentinel:// URL follows failovers)';
    case 'noscript':
      return 'Redis no longer holds a script reapq loaded (SCRIPT FLUSH, or a failover to a node without it) and refused the call: retry it';
    case 'misconf':
      return "Redis refuses writes because it cannot save to disk (MISCONF: its last snapshot failed): fix the disk or the dir of Redis's data, see its log";
  }
}

/**
 * Redis refused a command for a reason a user can act on (out of memory, a read-only
 * replica, a script it no longer holds, a failed save): CLI exit code 1, HTTP 503. The
 * message says what to do; `redisError` is Redis's own reply.
 */
export class RedisRefusedError extends Error {
  override name = 'RedisRefusedError';
  constructor(
    readonly refusal: RedisRefusal,
    memory: MemoryFacts | null,
    readonly redisError: unknown,
  ) {
    super(refusalMessage(refusal, memory));
  }
}
