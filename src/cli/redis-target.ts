import type { ClientOptions } from '../producer/client.js';
import { findDevInstance } from '../dev/instance-file.js';
import { redactRedisUrl } from '../shared/redis-url.js';

const DEFAULT_URL = 'redis://127.0.0.1:6379';

export interface CliRedis {
  options: ClientOptions;
  /** The URL that will be used, for messages (may hold a password: redact before printing). */
  url: string;
  /** Where it came from, in words. */
  source: string;
}

/**
 * Which Redis a CLI command talks to: REDIS_URL when set; else the `reapq dev` running in
 * this checkout (its data dir's dev.json, with its prefix unless REAPQ_PREFIX is set); else
 * the default. Without the middle step `reapq ls` beside `npm start` would read whatever
 * answers on 6379, an unrelated Redis as often as not.
 */
export function cliRedis(env: NodeJS.ProcessEnv, cwd: string): CliRedis {
  if (env.REDIS_URL) return { options: {}, url: env.REDIS_URL, source: 'REDIS_URL' };
  const dev = findDevInstance(env, cwd);
  if (dev) {
    const url = dev.instance.redisUrl!;
    const prefix = env.REAPQ_PREFIX ? undefined : dev.instance.prefix;
    return {
      options: { redisUrl: url, ...(prefix ? { prefix } : {}) },
      url,
      source: `the reapq dev of ${dev.dataDir} (pid ${dev.instance.pid})`,
    };
  }
  return { options: {}, url: DEFAULT_URL, source: 'the default: REDIS_URL is unset and no reapq dev runs in this checkout' };
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    (code !== undefined && CONNECTION_CODES.has(code)) ||
    /^Connection is closed|ClusterAllFailedError|All sentinels are unreachable|Failed to refresh slots cache|NOAUTH|WRONGPASS/i.test(
      `${err.name} ${err.message}`,
    )
  );
}

/** A command could not reach Redis: names the URL (password hidden) and what to set. */
export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError';
  constructor(target: CliRedis, cause: unknown, lastConnectionError?: Error) {
    const why = lastConnectionError?.message ?? (cause instanceof Error ? cause.message : String(cause));
    super(
      `cannot reach Redis at ${redactRedisUrl(target.url)} (${target.source}): ${why.split('\n')[0]}; set REDIS_URL to the fleet's Redis, or run \`npm start\` (reapq dev) in this checkout`,
    );
  }
}
