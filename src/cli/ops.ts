import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../shared/config.js';
import { DEFAULT_FORKERS, DEFAULT_START_CONCURRENCY } from '../shared/defaults.js';
import type { Logger } from '../shared/logger.js';
import { InputError } from '../shared/errors.js';
import { HostIdSchema } from '../shared/record.js';
import { humanMs, table, useColor } from './format.js';
import { Duration, flag, IntFlag } from './options.js';
import type { WithClient } from './processes.js';
import { nothingIn } from './redis-target.js';
import { registerDevCommand } from './dev.js';
import { registerFsckCommand } from './fsck.js';
import { describeVersions, fleetVersions } from '../shared/event-versions.js';
import { VERSIONED_TYPES } from '../shared/fleet-view.js';
import { clockNote, CLOCK_SKEW_WARN_MS } from '../shared/hosts.js';
import type { Self } from '../worker/tree.js';
// Each command loads what only it needs: the api (fastify, prom-client), the worker, pino
// and BullMQ's Job cost hundreds of ms to import, which a read-only command (ls, show,
// hosts) must not pay. A worker that also held the api's modules would be a bigger process
// too, and every fork of a spawn copies its page tables.
const listenApi: typeof import('../producer/http/server.js').listenApi = async (...args) =>
  (await import('../producer/http/server.js')).listenApi(...args);
const runWorker: typeof import('../worker/main.js').runWorker = async (...args) => (await import('../worker/main.js')).runWorker(...args);
const makeLogger = async (...args: Parameters<typeof import('../shared/logger.js').makeLogger>): Promise<Logger> =>
  (await import('../shared/logger.js')).makeLogger(...args);

const out = (s: string) => process.stdout.write(`${s}\n`);

// eslint-disable-next-line max-lines-per-function -- table-shaped: one commander entry per operator command
export function registerOpsCommands(program: Command, withClient: WithClient): void {
  program
    .command('worker')
    .description('run a worker for this host')
    .option('--host-id <id>', 'host id (default REAPQ_HOST_ID, else the hostname)')
    .option('--concurrency <n>', 'start jobs handled at once', String(DEFAULT_START_CONCURRENCY))
    .option('--max-processes <n>', 'live processes before leaving starts to other hosts')
    .option('--forkers <n>', 'processes that fork the managed processes, in parallel', String(DEFAULT_FORKERS))
    .option('--containment <mode>', 'auto (cgroup where possible), cgroup (refuse to start without it), process', 'auto')
    .action(async (o) => {
      const containment = String(o.containment);
      if (containment !== 'auto' && containment !== 'cgroup' && containment !== 'process')
        throw new InputError(`--containment must be auto, cgroup or process, not ${JSON.stringify(containment)}`);
      const env = { ...process.env, ...(o.hostId ? { REAPQ_HOST_ID: o.hostId } : {}) };
      const config = loadConfig(env);
      await serveWorker(config, {
        concurrency: flag('--concurrency', IntFlag(1), o.concurrency),
        maxProcesses: o.maxProcesses === undefined ? undefined : flag('--max-processes', IntFlag(1), o.maxProcesses),
        forkers: flag('--forkers', IntFlag(1, 16), o.forkers),
        containment,
      });
    });

  registerDevCommand(program);

  program
    .command('api')
    .description('serve the HTTP API, /metrics and the dashboard (bearer token: REAPQ_API_TOKEN)')
    .option('--listen <host:port>', 'address to listen on; beyond loopback only with REAPQ_API_TOKEN', '127.0.0.1:8080')
    .option('--generate-token', 'when REAPQ_API_TOKEN is unset, make one up and print it (a container started without one)')
    .option('--token-file <path>', 'the bearer token is in this file; when it is missing, make one there once (0600) and say where')
    .action(async (o) => {
      let config = loadConfig();
      if (o.tokenFile !== undefined) {
        if (config.apiToken) throw new InputError('give the token one way: REAPQ_API_TOKEN or --token-file, not both');
        if (o.generateToken) throw new InputError('give one of --token-file and --generate-token');
        const { tokenFromFile } = await import('./token-file.js');
        const path = resolve(String(o.tokenFile));
        const { token, created } = tokenFromFile(path);
        config = loadConfig({ ...process.env, REAPQ_API_TOKEN: token });
        if (created) process.stderr.write(`reapq api: made a new bearer token in ${path} (0600); clients read it there\n`);
      } else if (o.generateToken && !config.apiToken) {
        // Shown on purpose: whoever reads this container's logs is whoever may call its api.
        const token = randomBytes(16).toString('hex');
        config = loadConfig({ ...process.env, REAPQ_API_TOKEN: token });
        process.stderr.write(`reapq api: REAPQ_API_TOKEN=${token} (generated at start; set REAPQ_API_TOKEN to choose one)\n`);
      }
      const log = await makeLogger(config.logLevel, { component: 'api' });
      const api = await listenApi(config, o.listen as string, log);
      log.info({ url: api.url, auth: config.apiToken ? 'bearer' : 'none' }, 'api listening');
      const sig = await new Promise<string>((res) => {
        process.once('SIGTERM', () => res('SIGTERM'));
        process.once('SIGINT', () => res('SIGINT'));
      });
      log.info({ signal: sig }, 'shutting down');
      // Requests in flight (a ?wait) get a while to finish; a second signal or the deadline ends it.
      const force = (why: string) => {
        log.warn(why);
        process.exit(1);
      };
      process.once('SIGTERM', () => force('second signal: exiting now'));
      process.once('SIGINT', () => force('second signal: exiting now'));
      setTimeout(() => force('requests still open after 10 s: exiting'), 10_000).unref();
      await api.close();
      process.exit(0);
    });

  program
    .command('hosts')
    .description('hosts with their liveness, load and capacity')
    .option('--json', 'as JSON')
    .action(async (o) =>
      withClient(async (c, where) => {
        const hosts = await c.hosts();
        if (o.json) {
          out(JSON.stringify(hosts, null, 2));
          return;
        }
        if (hosts.length === 0) {
          out(nothingIn('hosts', where));
          return;
        }
        // LAST SEEN on Redis' clock; CLOCK: how far each worker's own clock is from it.
        const rows = [['HOST', 'STATE', 'LOAD', 'CAPACITY', 'LAST SEEN', 'CLOCK', 'VERSION', 'PID', 'EVENTS']];
        for (const h of hosts)
          rows.push([
            h.hostId,
            h.alive ? h.state : 'dead',
            String(h.load),
            h.capacity?.toString() ?? '-',
            `${humanMs(Math.max(0, h.ageMs))} ago`,
            clockNote(h.clockOffsetMs),
            h.version,
            String(h.pid),
            describeVersions(h.events),
          ]);
        out(table(rows, useColor()));
        const skewed = hosts.filter((h) => h.alive && Math.abs(h.clockOffsetMs ?? 0) > CLOCK_SKEW_WARN_MS).map((h) => h.hostId);
        if (skewed.length > 0)
          out(
            `clock: ${skewed.join(', ')} ${skewed.length > 1 ? 'are' : 'is'} off Redis' clock: liveness is judged on Redis', so work goes on; timestamps written there are off`,
          );
        // What every live worker reads: the most a writer may use while they all run.
        const alive = hosts.filter((h) => h.alive);
        if (alive.length > 0)
          out(
            `events every live worker reads: ${describeVersions(
              fleetVersions(
                VERSIONED_TYPES,
                alive.map((h) => h.events),
              ),
            )}`,
          );
      }),
    );

  program
    .command('drain')
    .description('stop a host taking new starts (its processes keep running); --off lifts it')
    .argument('<host>', 'host id')
    .option('--off', 'take starts again')
    .action(async (hostId: string, o) =>
      withClient(async (c) => {
        const id = flag('host', HostIdSchema, hostId);
        if (o.off) await c.admin.undrain(id);
        else await c.admin.drain(id);
        out(`${id} ${o.off ? 'takes starts again' : 'draining: takes no new starts'} (within one heartbeat)`);
      }),
    );

  program
    .command('reconcile')
    .description('run a reconcile pass now and print its report')
    .option('--host <id>', 'only this host (default: every live host)')
    .option('--timeout-ms <ms>', 'how long to wait for the report', '30000')
    .option('--json', 'as JSON')
    .action(async (o) =>
      withClient(async (c) => {
        const timeoutMs = flag('--timeout-ms', IntFlag(1), o.timeoutMs);
        const reports = await c.admin.reconcile({ host: o.host as string | undefined, timeoutMs });
        if (reports.length === 0) throw new Error('no live worker to reconcile');
        if (o.json) {
          out(JSON.stringify(o.host ? reports[0] : reports, null, 2));
          return;
        }
        for (const r of reports) {
          out(`${r.host}: ${r.records} records, ${r.processes} processes scanned in ${r.durationMs} ms, ${r.actions.length} actions`);
          for (const a of r.actions) out(`  ${a.kind}${a.id ? ` ${a.id}` : ''}: ${a.detail}`);
          for (const e of r.errors) out(`  error: ${e}`);
        }
      }),
    );

  registerFsckCommand(program, withClient);

  program
    .command('prune')
    .description('delete finished records (and their events) older than a duration; never a live one')
    .option('--older-than <duration>', 'e.g. 30s, 15m, 12h, 7d', '7d')
    .option('--json', 'as JSON')
    .action(async (o) =>
      withClient(async (c) => {
        const age = flag('--older-than', Duration, o.olderThan);
        const removed = await c.admin.prune(Date.now() - age);
        out(o.json ? JSON.stringify({ removed }) : `pruned ${removed.length} records`);
      }),
    );
}

/**
 * Runs a worker until SIGTERM/SIGINT, then drains it and leaves its processes running (a
 * restart: the next worker adopts them). SIGUSR2 is a host stop (systemd's KillSignal in
 * the unit `reapq startup systemd` writes): drain, then stop every process of this host's
 * trees, their records left for their restart policies when the host's worker runs again.
 */
async function serveWorker(
  config: Config,
  opts: { concurrency?: number; maxProcesses?: number; forkers?: number; containment?: 'auto' | 'cgroup' | 'process' },
  after?: () => Promise<void>,
): Promise<void> {
  const log = await makeLogger(config.logLevel);
  // Listening before the worker starts: a SIGTERM right after "worker ready" (or during
  // start-up) drains it once it is up, instead of killing it with the default action.
  const signalled = new Promise<string>((res) => {
    const onSignal = (sig: string) => {
      log.info({ signal: sig }, sig === 'SIGUSR2' ? 'shutting down: host stop, processes stop too' : 'shutting down');
      res(sig);
    };
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGUSR2'] as const) process.once(sig, onSignal);
  });
  const handle = await runWorker(config, log, opts);
  const signal = await signalled;
  // Before the drain forgets them: the runs it held are what a host stop stops.
  const heldIds = new Set(handle.controller.heldIds());
  // A drain must not hang on an unreachable Redis: managed processes are left running
  // either way, so after a bound the worker simply exits and the next one adopts them.
  const bound = new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 15_000).unref());
  if ((await Promise.race([handle.close().then(() => 'closed' as const), bound])) === 'timeout') {
    log.error('shutdown did not finish within 15 s (Redis unreachable?): exiting; processes stay for the next worker');
    process.exit(1);
  }
  if (after) await after();
  if (signal === 'SIGUSR2') process.exit(await stopHost(config, log, { me: handle.me, heldIds }));
  process.exit(0);
}

async function stopHost(config: Config, log: Logger, who: { me: Self; heldIds: ReadonlySet<string> }): Promise<number> {
  const { stopHostTrees, subtreeDir } = await import('../worker/host-stop.js');
  const { subtreeName } = await import('../worker/cgroup/subtree.js');
  const { linuxOs } = await import('../worker/host-os.js');
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const scope = { ...who, subtree: subtreeDir(subtreeName(config.prefix, config.hostId, who.me.fleet)) };
  const { signalled, left } = await stopHostTrees(linuxOs, scope, config.defaultGraceMs, sleep);
  if (left.length > 0) {
    log.error({ left }, 'host stop: processes still alive after SIGKILL');
    return 1;
  }
  log.info({ signalled }, 'host stop: every process of this host is gone; restart policies bring them back when its worker runs again');
  return 0;
}
