import { z } from 'zod';
import { parseInput, PortNumber, WholeNumber } from '../shared/input.js';
import { CpusSchema } from '../shared/record.js';

/** Parses one flag value with a schema; a bad value is one line naming the flag. */
export function flag<T>(name: string, schema: z.ZodType<T>, value: unknown): T {
  return parseInput(schema, value, `invalid ${name} ${JSON.stringify(value)}`);
}

export const IntFlag = (min: number, max?: number) => WholeNumber(min, max);

export { PortNumber };

export const PortFlag = z.union([z.literal('auto'), WholeNumber(1, 65535, "must be 'auto' or a port number")]);

/** A number of CPUs as a decimal (0.5, 2). */
export const CpusFlag = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a number of CPUs like 0.5 or 2')
  .transform(Number)
  .pipe(CpusSchema);

export const EnvPair = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*=/, 'must look like KEY=VALUE')
  .transform((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)] as const);

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const Duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'must look like 30s, 15m, 12h or 7d')
  .transform((s) => {
    const [, n, u] = /^(\d+)(ms|s|m|h|d)$/.exec(s)!;
    return Number(n) * UNITS[u!]!;
  });

export function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}
