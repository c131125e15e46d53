import { z } from 'zod';
import { PAGE_ORDERS } from '../../shared/event-store.js';
import { parseInput, WholeNumber } from '../../shared/input.js';
import { HostIdSchema, ProcessIdSchema, StartSpecSchema, StateSchema, StopOptionsSchema } from '../../shared/record.js';

/**
 * What each route accepts. Bodies are the client's own schemas made strict, so a misspelt
 * field (`restartPolicy` for `restart`) is a 400 instead of being silently dropped.
 * Query values arrive as strings and are converted here.
 */
const Flag = z.enum(['', 'true', 'false', '1', '0'], { message: 'must be true or false' }).transform((v) => v !== 'false' && v !== '0');

/** A Redis stream entry id (`<ms>-<seq>`), or 0 for the oldest entry kept. */
const StreamId = z.string().regex(/^(0|\d+-\d+)$/, 'must be a stream id like 1700000000000-0, or 0');

/** Longest an HTTP request may wait for a state or a report. */
export const MAX_WAIT_MS = 600_000;

export const StartBody = StartSpecSchema.strict();
export const StopBody = StopOptionsSchema.strict();
export const IdParams = z.object({ id: ProcessIdSchema });
export const WaitQuery = z.object({ wait: Flag.optional(), timeoutMs: WholeNumber(1, MAX_WAIT_MS).optional() });
export const ListQuery = z.object({
  state: StateSchema.optional(),
  host: HostIdSchema.optional(),
  cursor: z
    .string()
    .max(400)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be the cursor a previous page returned')
    .optional(),
  limit: WholeNumber(1, 1000).optional(),
  order: z.enum(PAGE_ORDERS, { message: 'must be oldest or newest' }).optional(),
});
/** Comma-separated process ids, as many as a page holds. */
export const UsageQuery = z.object({
  ids: z
    .string()
    .transform((s) => s.split(','))
    .pipe(z.array(ProcessIdSchema).min(1).max(1000, 'at most 1000 ids')),
});
export const EventsQuery = z.object({ after: WholeNumber(0, Number.MAX_SAFE_INTEGER).optional() });
export const EventVersion = WholeNumber(0, Number.MAX_SAFE_INTEGER);
export const GlobalEventsQuery = z.object({ after: StreamId.optional(), limit: WholeNumber(1, 1000).optional() });
export const GlobalEventId = StreamId;
export const LogsQuery = z.object({ lines: WholeNumber(0, 100_000).optional(), timestamps: Flag.optional() });
export const ReconcileQuery = z.object({ host: HostIdSchema.optional(), timeoutMs: WholeNumber(1, MAX_WAIT_MS).optional() });
export const FsckQuery = z.object({ repair: Flag.optional() }).strict();

/** Parses a request part (`body`, `query`, `id`...); bad input is an InputError, a 400 naming it. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  return parseInput(schema, value, `invalid ${what}`);
}
