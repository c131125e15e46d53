import { z } from 'zod';
import { parseEnv } from './env.js';
import { DEFAULT_MAX_REPLICAS } from './deploy.js';
import { WholeNumber } from './input.js';

/**
 * Size limits of a start, as the worker's policy counts them (bytes of each argument and of
 * each KEY=VALUE, with their NULs). The producer applies them too, so a 1 MB env value is
 * refused before it is stored, instead of being written to the event stream, the record and
 * the job and only then refused by the worker. Workers may be configured stricter still.
 */
export const DEFAULT_MAX_ARG_BYTES = 256 * 1024;
export const DEFAULT_MAX_ENV_BYTES = 64 * 1024;

const byteCount = WholeNumber(1, Number.MAX_SAFE_INTEGER, 'must be a whole number of bytes');
const LimitsEnv = z.object({
  REAPQ_MAX_ARG_BYTES: byteCount.optional(),
  REAPQ_MAX_ENV_BYTES: byteCount.optional(),
  REAPQ_MAX_REPLICAS: WholeNumber(1, 1000).optional(),
});

export interface SpecLimits {
  maxArgBytes: number;
  maxEnvBytes: number;
  /** Replicas one deploy may ask for. */
  maxReplicas: number;
}

export function specLimits(env: NodeJS.ProcessEnv): SpecLimits {
  const e = parseEnv(LimitsEnv, env);
  return {
    maxArgBytes: e.REAPQ_MAX_ARG_BYTES ?? DEFAULT_MAX_ARG_BYTES,
    maxEnvBytes: e.REAPQ_MAX_ENV_BYTES ?? DEFAULT_MAX_ENV_BYTES,
    maxReplicas: e.REAPQ_MAX_REPLICAS ?? DEFAULT_MAX_REPLICAS,
  };
}

/** Why the spec is too large, or null. */
export function oversize(limits: SpecLimits, command: readonly string[], env: Readonly<Record<string, string>>): string | null {
  let arg = 0;
  for (const a of command) arg += Buffer.byteLength(a, 'utf8') + 1;
  if (arg > limits.maxArgBytes) return `command is ${arg} bytes, over REAPQ_MAX_ARG_BYTES=${limits.maxArgBytes}`;
  let envBytes = 0;
  for (const [k, v] of Object.entries(env)) envBytes += Buffer.byteLength(k, 'utf8') + 1 + Buffer.byteLength(v, 'utf8') + 1;
  if (envBytes > limits.maxEnvBytes) return `env is ${envBytes} bytes, over REAPQ_MAX_ENV_BYTES=${limits.maxEnvBytes}`;
  return null;
}
