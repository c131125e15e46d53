import type { ClientOptions, ReapqClient } from '../producer/client.js';
import { findDevInstance } from '../dev/instance-file.js';
import { InputError } from '../shared/errors.js';
import { redactRedisUrl } from '../shared/redis-url.js';
import { configFile, readContexts } from './contexts.js';

const DEFAULT_URL = 'redis://127.0.0.1:6379';
const DEFAULT_PREFIX = 'reapq';

/** Runs fn with a client of the Redis the CLI targets, and where that is. */
export type WithClient = <T>(fn: (c: ReapqClient, where: CliRedis) => Promise<T>) => Promise<T>;

export interface CliRedis {
  options: ClientOptions;
  /** The URL that will be used, for messages (may hold a password: redact before printing). */
  url: string;
  /** The key prefix every command uses. */
  prefix: string;
  /** Where they came from, in words. */
  source: string;
  /** The named context in use, if any. */
  context: string | null;
  /** The contexts file looked at. */
  configFile: string;
}

/**
 * Which Redis and prefix a CLI command talks to, first found wins:
 *   1. REDIS_URL (with REAPQ_PREFIX), as the worker and the api read them;
 *   2. REAPQ_CONTEXT=NAME, a context of the config file;
 *   3. the `reapq dev` running in this checkout (its data dir's dev.json, with its prefix);
 *   4. the config file's current context (`reapq context use NAME`);
 *   5. redis://127.0.0.1:6379.
 * REAPQ_PREFIX overrides the prefix of any of them. The checkout's dev comes before the
 * current context: it is local to where the command runs, and a command meant for the dev
 * never reaches a remote fleet by mistake. `reapq context` says which one it is.
 */
export function cliRedis(env: NodeJS.ProcessEnv, cwd: string): CliRedis {
  const file = configFile(env);
  const target = (url: string, prefix: string | undefined, source: string, context: string | null = null): CliRedis => {
    const p = env.REAPQ_PREFIX || prefix || DEFAULT_PREFIX;
    return { options: { redisUrl: url, prefix: p }, url, prefix: p, source, context, configFile: file };
  };
  if (env.REDIS_URL) return target(env.REDIS_URL, undefined, 'REDIS_URL');
  const named = (name: string, why: string): CliRedis => {
    const ctx = readContexts(file).contexts[name];
    if (!ctx) throw new InputError(`no context ${JSON.stringify(name)} in ${file} (${why}); reapq context ls lists them`);
    return target(ctx.redisUrl, ctx.prefix, `context ${name} (${why})`, name);
  };
  if (env.REAPQ_CONTEXT) return named(env.REAPQ_CONTEXT, 'REAPQ_CONTEXT');
  const dev = findDevInstance(env, cwd);
  if (dev) return target(dev.instance.redisUrl!, dev.instance.prefix, `the reapq dev of ${dev.dataDir} (pid ${dev.instance.pid})`);
  const current = readContexts(file).current;
  if (current) return named(current, `current in ${file}`);
  return target(DEFAULT_URL, undefined, `the default: no REDIS_URL, no context in ${file}, no reapq dev in this checkout`);
}

/** An empty listing says where it looked: `no hosts in redis://... prefix reapq (REDIS_URL)`. */
export function nothingIn(what: string, where: CliRedis): string {
  return `no ${what} in ${redactRedisUrl(where.url)} prefix ${where.prefix} (${where.source})`;
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
