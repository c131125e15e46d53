import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../shared/errors.js';
import { LogMaxBytesSchema, MemorySchema, type StartSpec } from '../shared/record.js';
import { collect, CpusFlag, EnvPair, flag, IntFlag, PortFlag, PortNumber } from './options.js';

/** The flags of a start spec, shared by `start` and `deploy`. */
export function specFlags(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'a name for people')
    .option('--cwd <dir>', 'working directory (default: the current one)')
    .option('--env <KEY=VALUE>', 'environment pair, repeatable', collect, [])
    .option('--port <auto|N>', 'pass PORT; auto picks a free one on the host')
    .option('--restart <policy>', "never | on-failure | always (default: never for start, on-failure for a deploy's replicas)")
    .option('--grace-ms <ms>', 'SIGTERM to SIGKILL grace period')
    .option('--host <id>', 'run on this host')
    .option('--ready-tcp [port]', 'running only once this port (default: PORT) accepts connections')
    .option('--ready-http <path>', 'running only once GET path on PORT answers 2xx')
    .option('--ready-log <regex>', 'running only once an output line matches')
    .option('--ready-timeout-ms <ms>', 'a start not ready by then fails and its tree is stopped', '30000')
    .option('--memory <size>', 'memory limit (512M, 1G; cgroup mode): past it the OOM killer ends the run with reason oom')
    .option('--cpus <n>', 'CPU limit in CPUs (0.5 = half of one; cgroup mode)')
    .option('--pids-max <n>', 'most processes and threads the tree may hold (cgroup mode)')
    .option('--log-max-bytes <size>', 'rotate its log file at this size (16M, 512K; default REAPQ_LOG_MAX_BYTES)')
    .option('--log-keep <n>', 'rotated copies of its log kept (default REAPQ_LOG_KEEP; 0: none)')
    .option('--log-gzip', 'gzip the rotated copies (default REAPQ_LOG_GZIP)')
    .option('--daemon', 'the program daemonizes: it may exit 0 once its service is forked; running while the service lives')
    .option('--pid-file <path>', "the daemon's pid file (relative to --cwd): its main pid; needed in process mode");
}

/** The start spec those flags give (without id). */
export function specFrom(o: Record<string, unknown>, command: string[]): Omit<StartSpec, 'id'> {
  return {
    name: o.name as string | undefined,
    command,
    cwd: resolve((o.cwd as string | undefined) ?? process.cwd()),
    env: Object.fromEntries((o.env as string[]).map((p) => flag('--env', EnvPair, p))),
    port: o.port === undefined ? undefined : flag('--port', PortFlag, o.port),
    restart: o.restart as StartSpec['restart'],
    graceMs: o.graceMs === undefined ? undefined : flag('--grace-ms', IntFlag(0), o.graceMs),
    host: o.host as string | undefined,
    ready: readyFrom(o),
    memory: o.memory === undefined ? undefined : flag('--memory', MemorySchema, o.memory),
    cpus: o.cpus === undefined ? undefined : flag('--cpus', CpusFlag, o.cpus),
    pidsMax: o.pidsMax === undefined ? undefined : flag('--pids-max', IntFlag(1), o.pidsMax),
    logMaxBytes: o.logMaxBytes === undefined ? undefined : flag('--log-max-bytes', LogMaxBytesSchema, o.logMaxBytes),
    logKeep: o.logKeep === undefined ? undefined : flag('--log-keep', IntFlag(0, 1000), o.logKeep),
    logGzip: o.logGzip ? true : undefined,
    daemon: o.daemon ? true : undefined,
    pidFile: o.pidFile === undefined ? undefined : String(o.pidFile),
  };
}

function readyFrom(o: Record<string, unknown>): StartSpec['ready'] {
  const given = ['readyTcp', 'readyHttp', 'readyLog'].filter((k) => o[k] !== undefined);
  if (given.length > 1) throw new InputError('give one of --ready-tcp, --ready-http, --ready-log');
  const timeoutMs = flag('--ready-timeout-ms', IntFlag(1), o.readyTimeoutMs);
  if (o.readyTcp !== undefined)
    return { kind: 'tcp', timeoutMs, ...(o.readyTcp === true ? {} : { port: flag('--ready-tcp', PortNumber, o.readyTcp) }) };
  if (o.readyHttp !== undefined) return { kind: 'http', path: String(o.readyHttp), timeoutMs };
  if (o.readyLog !== undefined) return { kind: 'log', pattern: String(o.readyLog), timeoutMs };
  return undefined;
}
