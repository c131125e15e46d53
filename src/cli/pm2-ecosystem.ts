import { basename, extname, isAbsolute, join } from 'node:path';
import { InputError } from '../shared/errors.js';
import { CRASH_LOOP_WINDOW_MS } from '../shared/reducer.js';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, CRASH_LOOP_LIMIT } from '../worker/restart.js';

/**
 * PM2's ecosystem file (`module.exports = { apps: [...] }`) read as reapq apply entries.
 * Pure: the caller loads the file and says where it is and how many CPUs this machine has
 * (for `instances: 'max'`). What PM2 does that reapq does not is a warning line naming the
 * key, never a silent drop: someone moving from PM2 must see what changed.
 */
export interface EcosystemInput {
  /** The directory of the file: a relative cwd is relative to it, and an absent one is it. */
  dir: string;
  /** `--env NAME`: env_NAME is laid over env. */
  envName?: string;
  /** CPUs of this machine, for instances 'max', 0 and -N. */
  cpus: number;
}

export interface Translated {
  entries: Array<Record<string, unknown>>;
  warnings: string[];
}

export function isEcosystem(raw: unknown): raw is { apps: unknown[] } & Record<string, unknown> {
  return !!raw && typeof raw === 'object' && Array.isArray((raw as { apps?: unknown }).apps) && !('services' in raw);
}

/** The interpreter PM2 picks by a script's extension (its lib/API/interpreter.json; python3 where PM2 falls back to it). */
const BY_EXTENSION: Record<string, string> = {
  '.js': 'node',
  '.cjs': 'node',
  '.mjs': 'node',
  '.sh': 'bash',
  '.py': 'python3',
  '.rb': 'ruby',
  '.php': 'php',
  '.pl': 'perl',
  '.coffee': 'coffee',
  '.ls': 'lsc',
};

const SECONDS = `${CRASH_LOOP_WINDOW_MS / 1000} s`;
const LOGS =
  "reapq keeps each process's output itself (reapq logs ID, GET /v1/processes/ID/logs; its rotation: --log-max-bytes, --log-keep, --log-gzip)";
const MONITORING = 'PM2 monitoring, not part of reapq (its metrics are at GET /metrics)';

/**
 * Keys reapq does not honour: why, and the values that change nothing (PM2's defaults),
 * which are not worth a warning. Table-shaped on purpose.
 */
const UNHONOURED: Record<string, { why: string; harmless?: readonly unknown[] }> = {
  out_file: { why: LOGS },
  output: { why: LOGS },
  out: { why: LOGS },
  out_log: { why: LOGS },
  error_file: { why: LOGS },
  error: { why: LOGS },
  err: { why: LOGS },
  err_file: { why: LOGS },
  err_log: { why: LOGS },
  log_file: { why: LOGS, harmless: [false] },
  log: { why: LOGS, harmless: [false] },
  merge_logs: { why: LOGS, harmless: [false] },
  combine_logs: { why: LOGS, harmless: [false] },
  disable_logs: { why: LOGS, harmless: [false] },
  log_type: { why: LOGS },
  log_date_format: { why: 'reapq stamps every line it keeps with its time: reapq logs ID --timestamps (ISO 8601, UTC)' },
  time: { why: 'reapq stamps every line it keeps with its time', harmless: [false] },
  pid_file: { why: 'reapq records the pid (reapq show ID)' },
  pid: { why: 'reapq records the pid (reapq show ID)' },
  watch: { why: 'reapq does not restart on file changes: run reapq apply (or reapq restart NAME) after a change', harmless: [false] },
  ignore_watch: { why: 'reapq does not watch files' },
  watch_options: { why: 'reapq does not watch files' },
  watch_delay: { why: 'reapq does not watch files' },
  cron_restart: { why: 'reapq has no scheduled restarts: run reapq restart NAME from cron or a systemd timer' },
  cron: { why: 'reapq has no scheduled restarts: run reapq restart NAME from cron or a systemd timer' },
  uid: { why: 'a worker runs every process as one user (REAPQ_RUN_AS)' },
  user: { why: 'a worker runs every process as one user (REAPQ_RUN_AS)' },
  gid: { why: 'a worker runs every process as one user (REAPQ_RUN_AS)' },
  shutdown_with_message: {
    why: 'reapq stops with SIGTERM to the whole tree, then SIGKILL after the grace (kill_timeout)',
    harmless: [false],
  },
  treekill: { why: 'reapq always stops the whole tree', harmless: [true] },
  kill_retry_time: { why: 'reapq sends SIGKILL once, after the grace (kill_timeout)' },
  instance_var: { why: 'replicas get no instance number: each has its own id (REAPQ_PROCESS_ID) and PORT' },
  increment_var: { why: 'replicas get no instance number: each has its own id (REAPQ_PROCESS_ID) and PORT' },
  filter_env: { why: "a process gets the worker's environment without REAPQ_* and REDIS_*, then env", harmless: [false] },
  append_env_to_name: { why: 'the service is named by name alone', harmless: [false] },
  name_prefix: { why: 'the service is named by name alone' },
  namespace: { why: 'reapq has no namespaces: use REAPQ_PREFIX for a separate fleet', harmless: ['default'] },
  autostart: { why: 'reapq apply deploys every app of the file', harmless: [true] },
  force: { why: 'reapq apply deploys an app again only when its spec changed', harmless: [false] },
  post_update: { why: 'a PM2 Plus (Keymetrics) hook' },
  install_url: { why: 'a PM2 module install hook' },
  source_map_support: { why: 'put --enable-source-maps in node_args instead', harmless: [true] },
  disable_source_map_support: { why: 'node maps sources only with --enable-source-maps in node_args', harmless: [false] },
  vizion: { why: 'PM2 versioning metadata, not part of reapq (records carry the deploy revision)', harmless: [true] },
  pmx: { why: MONITORING, harmless: [true] },
  automation: { why: MONITORING, harmless: [true] },
  trace: { why: MONITORING, harmless: [false] },
  disable_trace: { why: MONITORING, harmless: [true] },
  v8: { why: MONITORING, harmless: [false] },
  event_loop_inspector: { why: MONITORING, harmless: [false] },
  deep_monitoring: { why: MONITORING, harmless: [false] },
  io: { why: MONITORING },
  windowsHide: { why: 'reapq runs on Linux', harmless: [true] },
  username: { why: 'a worker runs every process as one user (REAPQ_RUN_AS)' },
  write: { why: 'not part of reapq' },
  execute_command: { why: 'not part of reapq' },
};

/** Keys translate() reads. */
const HONOURED = new Set([
  'name',
  'script',
  'exec',
  'args',
  'interpreter',
  'exec_interpreter',
  'node_args',
  'interpreter_args',
  'interpreterArgs',
  'cwd',
  'env',
  'instances',
  'exec_mode',
  'max_memory_restart',
  'autorestart',
  'stop_exit_codes',
  'max_restarts',
  'min_uptime',
  'restart_delay',
  'exp_backoff_restart_delay',
  'kill_timeout',
  'wait_ready',
  'listen_timeout',
  'port',
]);

type App = Record<string, unknown>;

/** PM2's own splitting of a string of arguments (lib/tools/Config.js): blanks, with '…' and "…" kept together. */
export function splitArgs(s: string): string[] {
  return (s.match(/[^\s"'=]+="[^"]*"|[^\s"'=]+='[^']*'|"([^"]*)"|'([^']*)'|\S+/g) ?? [])
    .map((v) => (/^(["']).*\1$/.test(v) && v.length >= 2 ? v.slice(1, -1) : v))
    .filter((v) => v.trim() !== '');
}

const argList = (v: unknown, what: string, label: string): string[] => {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return splitArgs(v);
  if (Array.isArray(v)) return v.map(String);
  throw new InputError(`${label}: ${what} must be a string or an array`);
};

function envObject(v: unknown, what: string, label: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new InputError(`${label}: ${what} must be an object of NAME: value`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || x === null) continue;
    out[k] = typeof x === 'object' ? JSON.stringify(x) : String(x);
  }
  return out;
}

/** What to run: the interpreter PM2 would pick, its arguments, the script, the script's arguments. */
function commandOf(app: App, label: string, warn: (key: string, why: string) => void): string[] {
  const script = app.script ?? app.exec;
  if (typeof script !== 'string' || script === '') throw new InputError(`${label}: needs "script", the program or file to run`);
  const given = app.interpreter ?? app.exec_interpreter;
  const interpArgs = argList(app.node_args ?? app.interpreter_args ?? app.interpreterArgs, 'node_args', label);
  const args = argList(app.args, 'args', label);
  const ext = extname(script);
  let interpreter = typeof given === 'string' && given !== '' ? given : BY_EXTENSION[ext];
  if (interpreter === undefined && (ext === '.ts' || ext === '.tsx')) {
    warn('script', `PM2 runs ${ext} with bun or node's type stripping; reapq runs it with node: set interpreter (bun, tsx) if that fails`);
    interpreter = 'node';
  }
  // A bare name (npm, yarn) is found on PATH; a path without a known extension runs as it
  // is, by its #! line, where PM2 would look at its bytes.
  if (interpreter === undefined || interpreter === 'none') {
    if (interpArgs.length > 0) warn('node_args', 'there is no interpreter to pass them to (the script runs by itself)');
    return [script, ...args];
  }
  return [interpreter, ...interpArgs, script, ...args];
}

function replicasOf(app: App, cpus: number, warn: (key: string, why: string) => void): number {
  const n = app.instances;
  if (n === undefined || n === null) return 1;
  const many = n === 'max' || n === 0 || n === '0' ? cpus : typeof n === 'number' && n < 0 ? Math.max(1, cpus + n) : Number(n);
  if (!Number.isInteger(many) || many < 1) throw new InputError(`instances must be a whole number or "max", not ${JSON.stringify(n)}`);
  if (typeof n !== 'number' || n <= 0)
    warn('instances', `counted on this machine: ${many} (the CPUs where reapq apply runs, which may not be the worker's)`);
  return many;
}

/** PM2 restarts on any exit unless autorestart is false; stop_exit_codes [0] is reapq's on-failure. */
function restartOf(app: App, warn: (key: string, why: string) => void): 'always' | 'on-failure' | 'never' {
  if (app.autorestart === false) return 'never';
  const codes = app.stop_exit_codes === undefined ? [] : [app.stop_exit_codes].flat().map(Number);
  if (codes.some((c) => c !== 0))
    warn('stop_exit_codes', 'reapq restarts after any exit (always) or any failure (on-failure): no exit code but 0 can be exempted');
  return codes.includes(0) ? 'on-failure' : 'always';
}

function restartPacingWarnings(app: App, warn: (key: string, why: string) => void): void {
  const giveUp = `reapq gives up after ${CRASH_LOOP_LIMIT} runs in a row that each ended within ${SECONDS} (fixed, not per app)`;
  if (app.max_restarts !== undefined) warn('max_restarts', giveUp);
  if (app.min_uptime !== undefined) warn('min_uptime', giveUp);
  const backoff = `reapq restarts after a run longer than ${SECONDS} at once, after shorter ones with a backoff from ${BACKOFF_BASE_MS} ms doubling to ${BACKOFF_MAX_MS / 1000} s`;
  if (app.restart_delay !== undefined && app.restart_delay !== 0) warn('restart_delay', backoff);
  if (app.exp_backoff_restart_delay !== undefined) warn('exp_backoff_restart_delay', backoff);
}

const fixedPort = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
};

/**
 * Ports, readiness and strategy. PM2's cluster mode shares one listening socket among the
 * instances; reapq's replicas are separate processes, so each gets a PORT of its own, is
 * ready once that port accepts (what cluster mode waits for), and a new revision starts
 * before the old stops. Fork mode is stop-first, as `pm2 reload` of a fork-mode app is a
 * restart: the app may own a fixed port.
 */
function servingOf(
  app: App,
  env: Record<string, string>,
  replicas: number,
  warn: (key: string, why: string) => void,
): Record<string, unknown> {
  const cluster = /^cluster(_mode)?$/.test(String(app.exec_mode ?? ''));
  const port = fixedPort(app.port ?? env.PORT);
  delete env.PORT;
  const out: Record<string, unknown> = { strategy: cluster || replicas > 1 ? 'start-first' : 'stop-first' };
  if (cluster || replicas > 1) {
    warn(
      cluster ? 'exec_mode' : 'instances',
      `reapq has no shared listening socket: it runs ${replicas} separate process${replicas > 1 ? 'es' : ''}, each with a PORT of its own (port: auto), new ones ready before old ones stop; the app must listen on process.env.PORT, and a proxy spreads requests (reapq services lists the ports)`,
    );
    if (port !== undefined || app.wait_ready || cluster) out.port = 'auto';
  } else if (port !== undefined) out.port = port;
  const timeoutMs = typeof app.listen_timeout === 'number' && app.listen_timeout > 0 ? Math.round(app.listen_timeout) : undefined;
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  if (app.wait_ready || cluster) {
    if (out.port !== undefined) out.ready = { kind: 'tcp', ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
    else if (app.wait_ready)
      warn(
        'wait_ready',
        "reapq has no process.send('ready'); with no PORT it counts the app ready once spawned (give port, or use reapq's own format with ready: {kind: log, pattern})",
      );
  }
  if (app.wait_ready && out.ready)
    warn('wait_ready', "reapq has no process.send('ready'): the app is ready once its PORT accepts connections");
  return out;
}

/** One app as an apply entry, and its warnings. */
function translateApp(raw: unknown, i: number, o: EcosystemInput, warnings: string[]): Record<string, unknown> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(`apps[${i}] must be an object`);
  const app = raw as App;
  const script = app.script ?? app.exec;
  const name =
    typeof app.name === 'string' && app.name !== ''
      ? app.name
      : typeof script === 'string'
        ? basename(script, extname(script))
        : `apps[${i}]`;
  const label = `app ${JSON.stringify(name)}`;
  // One line per key, however many reasons it has.
  const whys = new Map<string, string[]>();
  const warn = (key: string, why: string) => whys.set(key, [...(whys.get(key) ?? []), why]);
  const env = envObject(app.env, 'env', label);
  if (o.envName !== undefined) Object.assign(env, envObject(app[`env_${o.envName}`], `env_${o.envName}`, label));
  const replicas = replicasOf(app, o.cpus, warn);
  const entry: Record<string, unknown> = {
    service: name,
    command: commandOf(app, label, warn),
    cwd: typeof app.cwd === 'string' ? (isAbsolute(app.cwd) ? app.cwd : join(o.dir, app.cwd)) : o.dir,
    restart: restartOf(app, warn),
    replicas,
    ...servingOf(app, env, replicas, warn),
  };
  if (Object.keys(env).length > 0) entry.env = env;
  if (app.max_memory_restart !== undefined) entry.memory = app.max_memory_restart;
  if (app.kill_timeout !== undefined) entry.graceMs = app.kill_timeout;
  restartPacingWarnings(app, warn);
  for (const key of Object.keys(app)) {
    if (HONOURED.has(key) || key.startsWith('env_')) continue;
    const known = UNHONOURED[key];
    if (!known) warn(key, 'not a PM2 key reapq knows; ignored');
    else if (!known.harmless?.includes(app[key])) warn(key, known.why);
  }
  if (env.NODE_OPTIONS !== undefined)
    warn('env', "NODE_OPTIONS is refused by a worker's default policy (REAPQ_DENIED_ENV): put its flags in node_args");
  for (const [key, list] of whys) {
    const v = app[key];
    const shown = v === undefined || typeof v === 'object' ? '' : ` ${JSON.stringify(v)}`;
    warnings.push(`${label}: ${key}${shown}: ${list.join('; ')}`);
  }
  return entry;
}

/** The whole file: apply entries for its apps, and one warning line per key not honoured. */
export function fromEcosystem(raw: { apps: unknown[] } & Record<string, unknown>, o: EcosystemInput): Translated {
  const warnings: string[] = [];
  if (raw.apps.length === 0) throw new InputError('apps is empty');
  const entries = raw.apps.map((a, i) => translateApp(a, i, o, warnings));
  if (o.envName !== undefined && !raw.apps.some((a) => a && typeof a === 'object' && `env_${o.envName}` in a))
    throw new InputError(`--env ${o.envName}: no app has env_${o.envName}`);
  for (const key of Object.keys(raw)) {
    if (key === 'apps') continue;
    warnings.push(
      key === 'deploy'
        ? 'deploy: pm2 deploy (ssh, git pull, post-deploy hooks) is not run: reapq apply deploys through Redis to the workers, from a checkout that already has the code'
        : `${key}: not a PM2 key reapq knows; ignored`,
    );
  }
  return { entries, warnings };
}

/**
 * `--env NAME` for reapq's own format: each service's env_NAME laid over its env, every
 * env_* key removed (they are not part of a deploy spec).
 */
export function withEnvironment(entries: unknown[], envName: string | undefined): unknown[] {
  let found = false;
  const out = entries.map((e) => {
    if (!e || typeof e !== 'object') return e;
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) if (!k.startsWith('env_')) rest[k] = v;
    const chosen = envName === undefined ? undefined : (e as Record<string, unknown>)[`env_${envName}`];
    if (chosen === undefined) return rest;
    found = true;
    const label = `service ${JSON.stringify((e as { service?: unknown }).service)}`;
    return { ...rest, env: { ...envObject(rest.env, 'env', label), ...envObject(chosen, `env_${envName}`, label) } };
  });
  if (envName !== undefined && !found) throw new InputError(`--env ${envName}: no service has env_${envName}`);
  return out;
}
