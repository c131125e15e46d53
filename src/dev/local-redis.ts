import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

/**
 * A private redis-server owned by this process (used by `reapq dev` and by the test setup).
 * It listens on loopback only; `stop()` terminates it and reaps the child so no zombie remains.
 */
export interface LocalRedis {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export interface StartLocalRedisOptions {
  /** Persist here (appendonly yes). When absent: no persistence at all (--save '' --appendonly no). */
  dataDir?: string;
  /** Default: a free loopback port found by listening on port 0. */
  port?: number;
  /**
   * Run it in a session of its own, out of the starter's process group: a terminal's Ctrl-C
   * or hangup, sent to its whole foreground group, then reaches the starter only, which
   * stops what depends on this Redis first and the Redis last.
   */
  ownSession?: boolean;
  /** More redis-server arguments (a test's cluster node, a memory limit). */
  extraArgs?: readonly string[];
}

const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const NOT_FOUND_MESSAGE = 'redis-server not found: install it (apt-get install redis-server) or set REDIS_URL';

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks up an executable on PATH, then in /usr/bin and /usr/sbin. */
async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d.length > 0);
  dirs.push('/usr/bin', '/usr/sbin', '/usr/local/bin');
  const seen = new Set<string>();
  for (const dir of dirs) {
    const candidate = resolve(dir, name);
    if (seen.has(candidate)) continue;
    seen.add(candidate);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Runs a command with stdin/stdout ignored and stderr inherited; resolves with its exit code. */
function runInheritingStderr(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolvePromise(code ?? (signal ? 128 : 1)));
  });
}

/**
 * Returns the absolute path of redis-server. When it is missing and we are root with apt-get
 * available, installs the `redis-server` package first. Otherwise throws a one-line Error.
 */
export async function ensureRedisServerBinary(log?: (line: string) => void): Promise<string> {
  const found = await findExecutable('redis-server');
  if (found) return found;

  const aptGet = process.getuid?.() === 0 ? await findExecutable('apt-get') : undefined;
  if (!aptGet) throw new Error(NOT_FOUND_MESSAGE);

  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log?.('redis-server not found; installing it with apt-get (this can take a minute)');
  const updateCode = await runInheritingStderr(aptGet, ['update', '-qq'], env);
  if (updateCode !== 0) {
    throw new Error(
      `redis-server not found and 'apt-get update' failed (exit ${updateCode}): install redis-server manually or set REDIS_URL`,
    );
  }
  const installCode = await runInheritingStderr(aptGet, ['install', '-y', '-qq', 'redis-server'], env);
  if (installCode !== 0) {
    throw new Error(
      `redis-server not found and 'apt-get install redis-server' failed (exit ${installCode}): install it manually or set REDIS_URL`,
    );
  }
  const installed = await findExecutable('redis-server');
  if (!installed) throw new Error(NOT_FOUND_MESSAGE);
  log?.(`installed redis-server at ${installed}`);
  return installed;
}

/** Finds a free loopback TCP port by listening on port 0 and closing again. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) => (err ? reject(err) : port > 0 ? resolvePromise(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

/**
 * Pipelines `PING` and `INFO server` over a raw socket. Resolves with the server's process_id
 * once it answers +PONG (so a server that is still loading, or a different process that happens
 * to own the port, is told apart), or undefined on any failure.
 */
function probe(port: number, timeoutMs: number): Promise<number | undefined> {
  return exchange(port, 'PING\r\nINFO server\r\n', timeoutMs, (buffer) => {
    const firstEnd = buffer.indexOf('\r\n');
    if (firstEnd < 0) return 'more';
    if (!buffer.startsWith('+PONG')) return undefined;
    const match = /process_id:(\d+)\r\n/.exec(buffer.slice(firstEnd + 2));
    if (match?.[1] !== undefined) return Number(match[1]);
    return buffer.length > 64 * 1024 ? undefined : 'more';
  });
}

/**
 * Writes raw commands to a loopback port and reads until `parse` has an answer (anything
 * but 'more'); undefined on error, close or timeout. Raw on purpose: these probes run
 * before a server is known to be the one we started, where a client library would retry.
 */
function exchange<T>(
  port: number,
  payload: string,
  timeoutMs: number,
  parse: (buffer: string) => T | undefined | 'more',
): Promise<T | undefined> {
  return new Promise((resolvePromise) => {
    let settled = false;
    let buffer = '';
    const socket = createConnection({ host: '127.0.0.1', port });
    const finish = (value: T | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(payload));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const answer = parse(buffer);
      if (answer !== 'more') finish(answer);
    });
    socket.once('error', () => finish(undefined));
    socket.once('close', () => finish(undefined));
  });
}

/** Thrown when the child died before answering; worth retrying on another port. */
class EarlyExitError extends Error {}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Last-resort work for when this process exits without stopping what it started: one
 * 'exit' listener for all of it. A listener per server tripped Node's
 * MaxListenersExceededWarning from the 11th on (a test file with two 6-node clusters).
 */
const atExit = new Set<() => void>();
let exitHooked = false;
function onProcessExit(fn: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const f of atExit) f();
    });
  }
  atExit.add(fn);
  return () => atExit.delete(fn);
}

interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function describeExit(exit: ChildExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

/** Where the server keeps its files: the data dir, or a temp dir that `removeTemp` deletes. */
async function serverDir(dataDir: string | undefined): Promise<{ dir: string; removeTemp: () => Promise<void> }> {
  if (dataDir !== undefined) {
    const dir = resolve(dataDir);
    await mkdir(dir, { recursive: true });
    return { dir, removeTemp: async () => undefined };
  }
  // redis-server still needs a writable --dir; nothing is written there with persistence off.
  const dir = await mkdtemp(join(tmpdir(), 'reapq-redis-'));
  return { dir, removeTemp: () => rm(dir, { recursive: true, force: true }).catch(() => undefined) };
}

/** Loopback only, in the foreground, no log file; the append-only file only when it persists. */
function serverArgs(port: number, dir: string, persist: boolean, extraArgs: readonly string[]): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--protected-mode',
    'yes',
    '--daemonize',
    'no',
    '--save',
    '',
    '--appendonly',
    persist ? 'yes' : 'no',
    '--dir',
    dir,
    '--logfile',
    '',
    ...extraArgs,
  ];
}

/** A spawned redis-server as its starter sees it: how it ended, and how to end it. */
interface Watched {
  readonly exited: Promise<ChildExit>;
  readonly spawnError: Promise<Error>;
  /** SIGTERM, SIGKILL after STOP_GRACE_MS, reaped; then its temp dir goes. Also for a child that never spawned. */
  killAndReap(): Promise<void>;
}

/** Listens for the child's exit and spawn error at once (an unheard 'error' would throw), and takes it along if this process exits first. */
function watch(child: ChildProcess, ownSession: boolean, removeTemp: () => Promise<void>): Watched {
  let exitInfo: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolvePromise) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolvePromise(exitInfo);
    });
  });
  const spawnError = new Promise<Error>((resolvePromise) => child.once('error', resolvePromise));

  // Last-resort safety net: if the parent exits without calling stop(), take the child along.
  // One in its own session holds data someone means to keep: SIGTERM, and it flushes its
  // append-only file on its way out, after us.
  const forgetParentExit = onProcessExit(() => {
    if (exitInfo === undefined) child.kill(ownSession ? 'SIGTERM' : 'SIGKILL');
  });

  const killAndReap = async (): Promise<void> => {
    if (exitInfo === undefined && child.pid !== undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (exitInfo === undefined) child.kill('SIGKILL');
      }, STOP_GRACE_MS);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    }
    forgetParentExit();
    await removeTemp();
  };
  return { exited, spawnError, killAndReap };
}

/**
 * Waits until our own child answers PING (another process on the port does not count).
 * Resolves with why not when it dies, fails to spawn, or does not answer in time.
 */
async function untilAnswering(child: ChildProcess, watched: Watched, bin: string, port: number): Promise<Error | undefined> {
  let failure: Error | undefined;
  void watched.exited.then((e) => {
    failure ??= new EarlyExitError(`redis-server on port ${port} exited before becoming ready (${describeExit(e)})`);
  });
  void watched.spawnError.then((e) => {
    failure ??= new Error(`could not start redis-server (${bin}): ${e.message}`);
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (failure === undefined && Date.now() < deadline) {
    const pid = await probe(port, 500);
    if (pid !== undefined && pid === child.pid) return failure;
    await sleep(50);
  }
  return failure ?? new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS / 1000}s`);
}

async function startOnce(
  bin: string,
  port: number,
  dataDir: string | undefined,
  extraArgs: readonly string[] = [],
  ownSession = false,
): Promise<LocalRedis> {
  const { dir, removeTemp } = await serverDir(dataDir);
  const child = spawn(bin, serverArgs(port, dir, dataDir !== undefined, extraArgs), { stdio: 'ignore', detached: ownSession });
  const watched = watch(child, ownSession, removeTemp);
  const failure = await untilAnswering(child, watched, bin, port);
  if (failure !== undefined || child.pid === undefined) {
    await watched.killAndReap();
    throw failure ?? new Error(`could not start redis-server (${bin})`);
  }

  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    stop(): Promise<void> {
      stopping ??= watched.killAndReap();
      return stopping;
    },
  };
}

/**
 * Starts a private redis-server bound to 127.0.0.1 and resolves once it answers PING.
 * Without an explicit port, a free one is picked (retried a few times in case another process
 * grabs it between probing and binding).
 */
export async function startLocalRedis(opts: StartLocalRedisOptions = {}): Promise<LocalRedis> {
  const bin = await ensureRedisServerBinary();
  if (opts.port !== undefined) return startOnce(bin, opts.port, opts.dataDir, opts.extraArgs, opts.ownSession);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await startOnce(bin, port, opts.dataDir, opts.extraArgs, opts.ownSession);
    } catch (err) {
      lastError = err;
      // Only a premature exit (e.g. port clash) is worth retrying.
      if (!(err instanceof EarlyExitError)) throw err;
    }
  }
  throw lastError;
}
