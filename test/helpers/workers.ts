import type { Job } from 'bullmq';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { onCleanup, tempDir } from './cleanup.js';
import { ReapqClient } from '../../src/index.js';
import { readableVersions } from '../../src/shared/event-versions.js';
import { VERSIONED_TYPES } from '../../src/shared/fleet-view.js';
import { internalsOf } from '../../src/producer/client.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { removeSubtree } from '../../src/worker/cgroup/subtree.js';
import { killSubtree, subtreeDirs } from './cgroups.js';
import { randomPrefix, testRedisUrl } from './redis.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/reapq');
export const FIXTURES = join(ROOT, 'test/fixtures');

export interface TestWorker {
  child: ChildProcess;
  hostId: string;
  output: () => string;
  /** Graceful: SIGTERM, waits for exit. */
  stop(): Promise<number | null>;
  /** Crash: SIGKILL, waits for exit. */
  kill(): Promise<void>;
}

/** Workers started so far by owner (`<prefix>/<host>`): what a killed worker left is its successor's to settle. */
const startsByOwner = new Map<string, number>();

/**
 * What a SIGKILLed worker left, at the end of the test that killed it, unless a worker of
 * the same prefix and host started after the kill (adopting is its job, and the leak check
 * judges it): its processes (by owner, and by its cgroup leaves), then its empty cgroup
 * subtree. Processes outlive a killed worker by design; no later test may find them behind.
 */
async function clearKilled(prefix: string, hostId: string, startsAtKill: number): Promise<void> {
  const owner = `${prefix}/${hostId}`;
  if ((startsByOwner.get(owner) ?? 0) > startsAtKill) return;
  const carriers = () => proc.list().filter((s) => s.state !== 'Z' && proc.cookie(s.pid, 'REAPQ_OWNER') === owner);
  await until(
    () => {
      const left = carriers();
      for (const s of left) {
        try {
          process.kill(s.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      return killSubtree(prefix, hostId) === 0 && left.length === 0;
    },
    5000,
    `what killed worker ${owner} left to be gone`,
  );
  const stuck = removeSubtree(subtreeDirs(prefix, hostId));
  if (stuck.length > 0) throw new Error(`cgroups of killed worker ${owner} still in use: ${stuck.join(', ')}`);
}

/** Kills the child at the end of the test (or file) that started it, if it is still up. */
function ownedByTest(c: ChildProcess): void {
  onCleanup(async () => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGKILL');
    await exited(c);
  });
}

function portRange(): string {
  const lo = 20_000 + 2_000 * (Number(process.env.VITEST_POOL_ID ?? 0) % 6);
  return `${lo}-${lo + 1_999}`;
}

export function testEnv(redisUrl: string, prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('REAPQ_') || k === 'REDIS_URL') delete env[k];
  return {
    ...env,
    REDIS_URL: redisUrl,
    REAPQ_PREFIX: prefix,
    REAPQ_DATA_DIR: tempDir('test'),
    // Ports of this file's vitest slot (below the ephemeral range): files run side by side never hand out the same one.
    REAPQ_PORT_RANGE: portRange(),
    REAPQ_RECONCILE_MS: '500',
    REAPQ_STALLED_MS: '1000',
    REAPQ_HEARTBEAT_MS: '500',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/**
 * The environment of a user's shell: nothing of reapq or of the npm running this suite (no
 * REDIS_URL unless `extra` gives one: a dev then runs its own Redis), with this suite's quick
 * worker timings.
 */
export function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('REAPQ_') || k.startsWith('REDIS_') || k.toLowerCase().startsWith('npm_')) continue;
    env[k] = v;
  }
  return { ...env, REAPQ_RECONCILE_MS: '500', REAPQ_HEARTBEAT_MS: '500', REAPQ_STALLED_MS: '1000', ...extra };
}

function exited(c: ChildProcess): Promise<number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.exitCode);
  return new Promise((res) => c.once('exit', (code) => res(code)));
}

/** A worker's command prefix that makes it PID 1 of a PID namespace: a stand-in for a separate host. */
export const PID_NAMESPACE = ['unshare', '--pid', '--fork', '--mount-proc'];

/** The worker inside a PID namespace, as this machine numbers it (unshare does not forward signals to it). */
export function innerPid(w: TestWorker): number {
  const pid = Number(readFileSync(`/proc/${w.child.pid}/task/${w.child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  // 0 (no child left) would signal this test's own process group.
  if (!(pid > 0)) throw new Error(`worker ${w.hostId}: unshare has no child left`);
  return pid;
}

/** Graceful stop of a worker, in a PID namespace or not (unshare does not forward signals): its exit code. */
export async function stopGracefully(w: TestWorker): Promise<number | null> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return w.child.exitCode;
  if (readFileSync(`/proc/${w.child.pid}/comm`, 'utf8').trim() === 'unshare') process.kill(innerPid(w), 'SIGTERM');
  return w.stop();
}

/**
 * Starts `reapq worker` as a real process (so subreaping, signals and crashes are real)
 * and resolves once it logs that it is ready. `wrap` runs it under another program,
 * e.g. unshare for a PID namespace of its own.
 */
export async function startWorker(
  env: NodeJS.ProcessEnv,
  hostId: string,
  args: string[] = [],
  wrap: string[] = [],
  /** The CLI to run: this checkout's, or another release's (test/faults/two-releases.test.ts). */
  bin = BIN,
): Promise<TestWorker> {
  const argv = [...wrap, process.execPath, bin, 'worker', '--host-id', hostId, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  ownedByTest(child);
  const prefix = env.REAPQ_PREFIX ?? '';
  const owner = `${prefix}/${hostId}`;
  startsByOwner.set(owner, (startsByOwner.get(owner) ?? 0) + 1);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`worker ${hostId} not ready in 15s:\n${out}`)), 15_000);
    child.stderr!.on('data', (d) => {
      out += d;
      if (out.includes('"worker ready"')) {
        clearTimeout(timer);
        res();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`worker ${hostId} exited with ${code} before ready:\n${out}`));
    });
  });
  return {
    child,
    hostId,
    output: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      return exited(child);
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited(child);
      const startsAtKill = startsByOwner.get(owner) ?? 0;
      onCleanup(() => clearKilled(prefix, hostId, startsAtKill));
    },
  };
}

/** Runs the CLI; resolves with its exit code and output. */
export function cli(env: NodeJS.ProcessEnv, args: string[], cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode(BIN, args, env, cwd);
}

/** Runs a Node script (killed at the end of the test if still running); resolves with its exit code and output. */
export function runNode(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd = ROOT,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, [script, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    ownedByTest(c);
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.once('exit', (code) => res({ code, stdout, stderr }));
  });
}

/** Live (non-zombie) pids among the given ones. */
export function alive(pids: number[]): number[] {
  return pids.filter((p) => {
    const s = proc.stat(p);
    return s !== null && s.state !== 'Z';
  });
}

/** The parent of a live pid, read with reapq's own /proc parser; throws when the pid is gone. */
export function parentOf(pid: number): number {
  const s = proc.stat(pid);
  if (!s) throw new Error(`pid ${pid} is gone`);
  return s.ppid;
}

/** A process's command line as /proc has it (NUL-separated); '' once it is gone, which may be any moment for a process a test did not stop. */
export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** Pids of every live process whose cookie is id. */
export function carriersOf(id: string): number[] {
  return proc
    .list()
    .filter((s) => s.state !== 'Z' && proc.cookie(s.pid, 'REAPQ_PROCESS_ID') === id)
    .map((s) => s.pid);
}

export async function until<T>(
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface WorkerFixture {
  readonly prefix: string;
  readonly env: NodeJS.ProcessEnv;
  readonly worker: TestWorker;
  readonly client: ReapqClient;
}

/**
 * One worker and one client on a fresh prefix for the whole file; afterwards the worker
 * must shut down cleanly (exit 0).
 */
export function useWorker(hostId: string, extraEnv: Record<string, string> = {}, args: string[] = []): WorkerFixture {
  const prefix = randomPrefix();
  const env = testEnv(testRedisUrl(), prefix, extraEnv);
  let worker: TestWorker | undefined;
  let client: ReapqClient | undefined;
  beforeAll(async () => {
    worker = await startWorker(env, hostId, args);
    client = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  });
  afterAll(async () => {
    await client?.close();
    if (worker) expect(await worker.stop()).toBe(0);
  });
  return {
    prefix,
    env,
    get worker() {
      return worker!;
    },
    get client() {
      return client!;
    },
  };
}

/** Resolves once a worker has handled the job: completed, failed, or already removed after either. */
export async function handled(job: Job, timeoutMs = 10_000): Promise<void> {
  await until(
    async () => ['completed', 'failed', 'unknown'].includes(await job.getState()),
    timeoutMs,
    `job ${job.name} ${job.id} to be handled`,
  );
}

/**
 * The heartbeat of a host that is alive for the next hour but runs no worker: a start
 * pinned to it stays pending, its job waiting (a start pinned to a host never seen, or
 * dead, fails at once). For tests that need records which stay pending.
 */
export async function hostThatNeverTakes(client: ReapqClient, hostId: string): Promise<void> {
  const { connection, keys } = internalsOf(client);
  // A worker of this release: it announces what this release reads (one that announces
  // nothing is of a release before announcements, for which newer event types are held back).
  const events = readableVersions(VERSIONED_TYPES);
  const hb = { hostId, pid: 1, version: 'test', state: 'up', load: 0, capacity: null, at: Date.now(), ttlMs: 3_600_000, events };
  await connection.hset(keys.hosts, hostId, JSON.stringify(hb));
}
