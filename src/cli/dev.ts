import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { claimDevInstance, releaseDevInstance, updateDevInstance } from '../dev/instance-file.js';
import { ensureRedisServerBinary, startLocalRedis } from '../dev/local-redis.js';
import { watchAncestors } from '../dev/parent-watch.js';
import { ReapqClient } from '../producer/client.js';
import { systemClock } from '../shared/clock.js';
import { loadConfig, type Config } from '../shared/config.js';
import { FINAL_STATES } from '../shared/record.js';
import type { Logger } from '../shared/logger.js';
import { redactRedisUrl } from '../shared/redis-url.js';

const listenApi: typeof import('../producer/http/server.js').listenApi = async (...args) =>
  (await import('../producer/http/server.js')).listenApi(...args);
const runWorker: typeof import('../worker/main.js').runWorker = async (...args) => (await import('../worker/main.js')).runWorker(...args);
// pino-pretty loads only in `dev`: every other command imports this module to register it.
const devLogger = async (level: string) => (await import('../dev/pretty-log.js')).devLogger(level);

/** How long a shutdown may take before dev gives up waiting and exits anyway. */
const SHUTDOWN_BOUND_MS = 45_000;

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('one command in the foreground: Redis (started locally unless REDIS_URL is set), a worker and the api')
    .option('--listen <host:port>', 'api address (falls back to a free port when taken)', '127.0.0.1:8080')
    .option('--keep', 'on exit leave the processes it started running, for the next dev to adopt')
    .action(async (o) => runDev(o.listen as string, o.keep === true));
}

/** What a dev has started so far; a stop asked for during start-up stops just these. */
interface Started {
  config: Config;
  stopRedis?: () => Promise<void>;
  /** The local Redis this dev started: the worker's own child, not a run's orphan. */
  redisPid?: number;
  api?: { url: string; close(): Promise<void> };
  worker?: { close(): Promise<void> };
}

/**
 * A foreground tool: it refuses a data dir another dev holds (its Redis data is not to be
 * opened twice), and everything it started ends with it, on Ctrl-C, SIGTERM or when its
 * parent goes (npm killed by pid): the processes it ran (unless --keep), the worker, the
 * api and the local Redis. Its handlers are in place before it holds the data
 * dir: a Ctrl-C during start-up (the terminal's whole group gets it) would otherwise end
 * the dev by the default action and leave its Redis, in a session of its own, running.
 */
async function runDev(listen: string, keep: boolean): Promise<void> {
  const dataDir = resolve(loadConfig().dataDir);
  const env = { ...process.env, REAPQ_HOST_ID: process.env.REAPQ_HOST_ID ?? devHostId(loadConfig().hostId, dataDir) };
  // A terminal that hung up fails every write with EIO: that must not end the shutdown it began.
  process.stderr.on('error', () => undefined);
  const started: Started = { config: loadConfig(env) };
  let log: Logger | null = null;
  // Leaving now fires the exit hooks: a local Redis, even one still starting, gets SIGTERM.
  const force = (reason: string) => {
    if (log) log.error(reason);
    else process.stderr.write(`reapq dev: ${reason}\n`);
    releaseDevInstance(dataDir, me);
    process.exit(1);
  };
  let why: string | null = null;
  const stopAsked = shutdownRequested(() => force('second Ctrl-C: exiting now; what it started may still run (npx reapq ls)')).then((w) => {
    why = w;
    setTimeout(() => force(`shutdown did not finish within ${SHUTDOWN_BOUND_MS / 1000} s: exiting`), SHUTDOWN_BOUND_MS).unref();
    return w;
  });
  // Claimed only once the handlers are in: a SIGINT between the two would take the default
  // action (the kernel's, at once) and leave dev.json naming a dead dev.
  const me = claimDevInstance(dataDir);
  log = await devLogger(started.config.logLevel);
  try {
    await startAll(started, env, listen, log, () => why !== null);
  } catch (err) {
    await stopAll(started);
    releaseDevInstance(dataDir, me);
    throw err;
  }
  const { config, api, worker } = started;
  const ownRedis = started.stopRedis !== undefined;
  if (why === null && api) {
    updateDevInstance(dataDir, { ...me, redisUrl: config.redisUrl, prefix: config.prefix, hostId: config.hostId, apiUrl: api.url });
    process.stderr.write(banner(config, api.url, keep, ownRedis));
  }
  log.info({ reason: await stopAsked, keep, during: worker ? undefined : 'start-up' }, 'reapq dev shutting down');
  if (!keep && worker)
    await stopStarted(config, ownRedis).catch((err) => log.error({ err: (err as Error).message }, 'could not stop every process'));
  await stopAll(started);
  releaseDevInstance(dataDir, me);
  process.exit(0);
}

/** Starts Redis (unless REDIS_URL is set), the api and the worker, each only while no stop was asked for. */
async function startAll(s: Started, env: NodeJS.ProcessEnv, listen: string, log: Logger, stopAsked: () => boolean): Promise<void> {
  if (!process.env.REDIS_URL) {
    await ensureRedisServerBinary((l) => process.stderr.write(`${l}\n`));
    if (stopAsked()) return;
    const r = await startDevRedis(resolve(s.config.dataDir, 'redis'));
    s.stopRedis = r.stop;
    s.redisPid = r.pid;
    s.config = loadConfig({ ...env, REDIS_URL: r.url });
  }
  if (stopAsked()) return;
  const config = s.config;
  s.api = await listenApi(config, listen, log).catch((err) =>
    (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? listenApi(config, '127.0.0.1:0', log) : Promise.reject(err),
  );
  if (stopAsked()) return;
  s.worker = await runWorker(config, log, { ownChildren: s.redisPid === undefined ? [] : [s.redisPid] });
}

/** The worker, then the api, then Redis last: what is stopped before may still need it. */
async function stopAll(s: Started): Promise<void> {
  await s.worker?.close();
  await s.api?.close();
  await s.stopRedis?.();
}

/**
 * Two devs on one machine (two checkouts, or another REAPQ_DATA_DIR) run two Redis, but with
 * one prefix and host id their workers share a cgroup subtree and the owner in process
 * cookies, so the second one's first pass killed the first one's processes as leftovers.
 * Unless REAPQ_HOST_ID is set, a dev's host id is the machine's plus a short hash of its
 * data dir: another per data dir, the same across its runs (--keep and adoption still work).
 */
function devHostId(machine: string, dataDir: string): string {
  return `${machine.slice(0, 57)}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 6)}`;
}

/** Signals that arrive this soon after the one that began the shutdown are that one again. */
const SAME_SIGNAL_MS = 1000;

/**
 * Resolves with the first reason to stop: Ctrl-C (SIGINT), SIGTERM, the terminal closing
 * (SIGHUP) or the process that started the dev going. A terminal signals its whole
 * foreground group and npm forwards what it gets to its child, so one Ctrl-C can arrive
 * twice within moments; only a later SIGINT or SIGTERM calls `hurry`. A hangup never
 * does: a closed terminal is no one asking to leave processes behind.
 */
function shutdownRequested(hurry: () => void): Promise<string> {
  return new Promise<string>((res) => {
    let since: number | null = null;
    const on = (signal: NodeJS.Signals) => {
      if (since === null) {
        since = systemClock.mono();
        res(signal);
      } else if (signal !== 'SIGHUP' && systemClock.mono() - since > SAME_SIGNAL_MS) hurry();
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, on);
    watchAncestors((w) => {
      if (since === null) {
        since = systemClock.mono();
        res(w);
      }
    });
  });
}

/**
 * Stops what this dev ran, through its own worker (still up): every record of its host,
 * and, when the Redis is its own, anything still pending too. Waits until each is final.
 */
async function stopStarted(config: Config, ownRedis: boolean): Promise<void> {
  const c = new ReapqClient({ env: { ...process.env, REDIS_URL: config.redisUrl, REAPQ_PREFIX: config.prefix } });
  try {
    const live = (await c.list())
      .filter((r) => r.host === config.hostId || (ownRedis && !r.host))
      .filter((r) => !FINAL_STATES.has(r.state) || r.desired === 'running');
    for (const r of live) await c.stop(r.id);
    await Promise.all(live.map((r) => c.waitFor(r.id, ['stopped', 'exited', 'failed', 'lost'], { timeoutMs: 30_000 })));
  } finally {
    await c.close();
  }
}

function banner(config: Config, apiUrl: string, keep: boolean, ownRedis: boolean): string {
  return [
    `reapq dev: Redis at ${redactRedisUrl(config.redisUrl)}${ownRedis ? ` (local, data in ${resolve(config.dataDir, 'redis')})` : ''}, host ${config.hostId}, prefix ${config.prefix}`,
    `dashboard and api at ${apiUrl}`,
    `in another terminal, in this checkout (the CLI finds this instance; elsewhere set REDIS_URL):`,
    `  npx reapq start --wait -- sleep 1000     # prints the id`,
    `  npx reapq ls`,
    `  npx reapq stop ID --wait`,
    keep
      ? `Ctrl-C stops the worker, the api and the local Redis; --keep: the processes keep running and the next dev adopts them.`
      : `Ctrl-C stops the processes it started, the worker, the api and the local Redis (--keep leaves the processes running).`,
    '',
  ].join('\n');
}

/**
 * The dev Redis keeps its port across runs (remembered next to its data), so a REDIS_URL
 * copied last time stays valid; a taken port falls back to a free one.
 */
async function startDevRedis(dir: string) {
  const portFile = resolve(dir, 'port');
  const remembered = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : NaN;
  // Out of the terminal's process group: Ctrl-C reaches the dev, which needs this Redis to
  // record the stops it makes, and stops it last.
  const opts = { dataDir: dir, ownSession: true };
  const r =
    Number.isInteger(remembered) && remembered > 0
      ? await startLocalRedis({ ...opts, port: remembered }).catch(() => startLocalRedis(opts))
      : await startLocalRedis(opts);
  mkdirSync(dir, { recursive: true });
  writeFileSync(portFile, String(r.port));
  return r;
}
