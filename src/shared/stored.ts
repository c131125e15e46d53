import type { z } from 'zod';
import { CorruptDataError, describeIssues } from './errors.js';

/** A stored value read back: the value, or what is wrong with it in words a user reads. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; problem: string };

/** How a kind of stored value is versioned, for decodeStored. */
export interface StoredShape {
  /** The newest schema version `v` this release reads: a newer value says so instead of failing on some field. */
  newest?: number;
  /** Brings an older shape to the current one before the schema check; what it throws is the problem. */
  upcast?: (raw: Record<string, unknown>) => unknown;
}

/**
 * The one reading of JSON that reapq stored in Redis (records, events, deploys, heartbeats,
 * usage). A value that does not parse is described the same way wherever it is read:
 * `<what> is not JSON: "…"`, `<what> schema version N is newer than this reapq understands
 * (M); upgrade reapq`, or `invalid <what> [of type T]: <first schema issue>`. What a bad
 * value costs (a record named and left out, a read that fails) is the reader's choice; how
 * it is worded is not.
 */
export function decodeStored<T>(schema: z.ZodType<T>, json: string, what: string, opts: StoredShape = {}): Decoded<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, problem: `${what} is not JSON: ${JSON.stringify(json.slice(0, 40))}` };
  }
  const v = (raw as { v?: unknown } | null)?.v;
  if (opts.newest !== undefined && typeof v === 'number' && v > opts.newest)
    return { ok: false, problem: `${what} schema version ${v} is newer than this reapq understands (${opts.newest}); upgrade reapq` };
  if (opts.upcast && typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    try {
      raw = opts.upcast(raw as Record<string, unknown>);
    } catch (err) {
      return { ok: false, problem: err instanceof Error ? err.message : String(err) };
    }
  }
  const res = schema.safeParse(raw);
  if (res.success) return { ok: true, value: res.data };
  const type = (raw as { type?: unknown } | null)?.type;
  const of = typeof type === 'string' ? ` of type ${type}` : '';
  return { ok: false, problem: `invalid ${what}${of}: ${describeIssues(res.error.issues.slice(0, 1))}` };
}

/** decodeStored where the read cannot go on without the value: a bad one throws CorruptDataError. */
export function mustDecodeStored<T>(schema: z.ZodType<T>, json: string, what: string, opts?: StoredShape): T {
  const d = decodeStored(schema, json, what, opts);
  if (!d.ok) throw new CorruptDataError(d.problem);
  return d.value;
}

/** decodeStored where a bad value is skipped (a heartbeat, a usage entry): null for it. */
export function decodeStoredOrNull<T>(schema: z.ZodType<T>, json: string | null | undefined, what: string): T | null {
  if (json == null) return null;
  const d = decodeStored(schema, json, what);
  return d.ok ? d.value : null;
}
