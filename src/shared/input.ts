import { z } from 'zod';
import { describeIssues, InputError } from './errors.js';

/**
 * The one way input is judged at an edge (CLI flag, HTTP request, client call, queued job):
 * the parsed value, or an InputError `<label>: <what was wrong>` that the CLI turns into
 * exit code 2 and the api into a 400.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, label: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new InputError(`${label}: ${describeIssues(r.error.issues)}`);
  return r.data;
}

/**
 * A whole number written as decimal digits (flags, query strings, environment variables),
 * converted to a number within [min, max]. Signs, exponents, hex and blanks are refused.
 */
export function WholeNumber(min: number, max = Number.MAX_SAFE_INTEGER, message = 'must be a whole number', tooSmall?: string) {
  return z
    .string()
    .regex(/^\d+$/, message)
    .transform(Number)
    .pipe(z.number().int().min(min, tooSmall).max(max, `must be at most ${max}`));
}

/** A TCP port, 1-65535, as digits. */
export const PortNumber = WholeNumber(1, 65535, 'must be a port number');
