import { hostname } from 'node:os';
import { z } from 'zod';
import { InputError } from './errors.js';
import { DEFAULT_API_RATE_LIMIT } from './defaults.js';
import { parseEnv } from './env.js';
import { WholeNumber } from './input.js';
import { HostIdSchema } from './record.js';

const intFrom = (min: number) => WholeNumber(min);

const EnvSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(
      /^rediss?(\+cluster|\+sentinel)?:\/\//,
      'must start with redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://',
    )
    .default('redis://127.0.0.1:6379'),
  // The prefix becomes a Redis hash tag, so braces would break slot routing.
  REAPQ_PREFIX: HostIdSchema.default('reapq'),
  REAPQ_HOST_ID: HostIdSchema.optional(),
  REAPQ_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  REAPQ_DATA_DIR: z.string().default('data'),
  REAPQ_RECONCILE_MS: intFrom(100).default(3000),
  REAPQ_HEARTBEAT_MS: intFrom(100).default(2000),
  REAPQ_DEFAULT_GRACE_MS: intFrom(0).default(5000),
  REAPQ_STALLED_MS: intFrom(100).default(5000),
  REAPQ_PORT_RANGE: z
    .string()
    .regex(/^\d+-\d+$/, 'must look like 20000-29999')
    .default('20000-29999'),
  REAPQ_GLOBAL_EVENTS_MAX: intFrom(100).default(100_000),
  REAPQ_LOG_LINES: intFrom(10).default(2000),
  REAPQ_API_RATE_LIMIT: intFrom(0).default(DEFAULT_API_RATE_LIMIT),
  REAPQ_RETENTION_MS: intFrom(0).default(7 * 24 * 3600 * 1000),
  REAPQ_LOG_MAX_BYTES: intFrom(4096).default(16 * 1024 * 1024),
  REAPQ_LOG_KEEP: intFrom(0).default(1),
  REAPQ_LOG_GZIP: z
    .enum(['0', '1', 'false', 'true'], { message: 'must be 1, 0, true or false' })
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  REAPQ_REDIS_WAIT_REPLICAS: intFrom(0).default(0),
  REAPQ_REDIS_WAIT_TIMEOUT_MS: intFrom(1).default(1000),
});

export interface Config {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly hostId: string;
  readonly apiToken: string | undefined;
  readonly logLevel: string;
  readonly dataDir: string;
  readonly reconcileMs: number;
  readonly heartbeatMs: number;
  readonly defaultGraceMs: number;
  readonly stalledMs: number;
  readonly portRange: readonly [number, number];
  readonly globalEventsMax: number;
  /** Finished records older than this are pruned by the fleet pass; 0 keeps them. */
  readonly retentionMs: number;
  /** Requests per minute per client address the api serves on /v1; 0: no limit. */
  readonly apiRateLimit: number;
  /** Output lines kept per process in Redis. */
  readonly logLines: number;
  /** Size at which a process's log file is rotated. */
  readonly logMaxBytes: number;
  /** Rotated files kept per process (`.1` newest); 0: the file is truncated without a copy. */
  readonly logKeep: number;
  /** Rotated files are gzipped (`.1.gz`). */
  readonly logGzip: boolean;
  /**
   * Replicas every record append must reach (Redis WAIT) before it counts as done; 0 (the
   * default) does not wait. See EventStore's `Replication`.
   */
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
}

/**
 * Compiles the environment once into a frozen Config. An error names the variable and
 * the bad value, so a misconfigured deploy fails at boot with one line, not later.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const e = parseEnv(EnvSchema, env);
  const [lo, hi] = e.REAPQ_PORT_RANGE.split('-').map(Number) as [number, number];
  if (!(lo >= 1024 && hi <= 65535 && lo <= hi)) {
    throw new InputError(`invalid REAPQ_PORT_RANGE=${JSON.stringify(e.REAPQ_PORT_RANGE)}: must be within 1024-65535, low <= high`);
  }
  const defaultHost =
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .slice(0, 64) || 'host';
  return Object.freeze({
    redisUrl: e.REDIS_URL,
    prefix: e.REAPQ_PREFIX,
    hostId: e.REAPQ_HOST_ID ?? defaultHost,
    apiToken: e.REAPQ_API_TOKEN,
    logLevel: e.LOG_LEVEL,
    dataDir: e.REAPQ_DATA_DIR,
    reconcileMs: e.REAPQ_RECONCILE_MS,
    heartbeatMs: e.REAPQ_HEARTBEAT_MS,
    defaultGraceMs: e.REAPQ_DEFAULT_GRACE_MS,
    stalledMs: e.REAPQ_STALLED_MS,
    portRange: [lo, hi] as const,
    globalEventsMax: e.REAPQ_GLOBAL_EVENTS_MAX,
    logLines: e.REAPQ_LOG_LINES,
    apiRateLimit: e.REAPQ_API_RATE_LIMIT,
    retentionMs: e.REAPQ_RETENTION_MS,
    logMaxBytes: e.REAPQ_LOG_MAX_BYTES,
    logKeep: e.REAPQ_LOG_KEEP,
    logGzip: e.REAPQ_LOG_GZIP,
    waitReplicas: e.REAPQ_REDIS_WAIT_REPLICAS,
    waitTimeoutMs: e.REAPQ_REDIS_WAIT_TIMEOUT_MS,
    ...overrides,
  });
}
