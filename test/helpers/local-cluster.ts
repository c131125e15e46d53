import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureRedisServerBinary, freePort, startLocalRedis, type LocalRedis } from '../../src/dev/local-redis.js';

/**
 * A private Redis Cluster of `nodes` masters (with `replicas` replicas each, none by
 * default) on loopback, for tests. Each node is a startLocalRedis child (no persistence);
 * the cluster config files live in one temp dir. Resolves once every node reports
 * cluster_state:ok with all 16384 slots served and every node known, so a client sees one
 * stable topology. Test-only: it lives here, not in the package.
 */
export interface LocalCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...` */
  url: string;
  /** Every node's port, masters first. */
  ports: number[];
  /** Every node (masters first, then replicas), so a failover test can kill one. */
  nodes: LocalRedis[];
  /** Stops every node, reaps them and removes the temp dir; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartLocalClusterOptions {
  /** Masters; redis-cli --cluster create needs at least 3. Default 3. */
  nodes?: number;
  /** Replicas per master (redis-cli --cluster-replicas). Default 0. */
  replicas?: number;
  /** cluster-node-timeout: how long a node is unreachable before a replica takes over. Default Redis's 15 s. */
  nodeTimeoutMs?: number;
}

const CLUSTER_READY_TIMEOUT_MS = 20_000;

export async function startLocalCluster(opts: StartLocalClusterOptions = {}): Promise<LocalCluster> {
  const masters = opts.nodes ?? 3;
  if (!Number.isInteger(masters) || masters < 3) throw new Error(`a Redis Cluster needs at least 3 masters, got ${masters}`);
  const replicas = opts.replicas ?? 0;
  const count = masters * (1 + replicas);
  const nodeArgs = opts.nodeTimeoutMs !== undefined ? ['--cluster-node-timeout', String(opts.nodeTimeoutMs)] : [];
  const besideServer = join(dirname(await ensureRedisServerBinary()), 'redis-cli');
  const cli = existsSync(besideServer) ? besideServer : 'redis-cli';

  const dir = await mkdtemp(join(tmpdir(), 'reapq-cluster-'));
  // A test process that dies without stop() still removes the dir (the nodes die with it).
  const removeDirNow = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDirNow);
  const nodes: LocalRedis[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    process.off('exit', removeDirNow);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };

  try {
    for (let i = 0; i < count; i++) nodes.push(await startClusterNode(dir, i, nodeArgs));
    const ports = nodes.map((n) => n.port);
    const create = await runCaptured(
      cli,
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      CLUSTER_READY_TIMEOUT_MS,
    );
    if (create.code !== 0)
      throw new Error(
        `redis-cli --cluster create failed (${create.code === null ? 'timed out' : `exit ${create.code}`}): ${create.output.trim().split('\n').slice(-5).join(' | ')}`,
      );
    await untilClusterOk(ports, count);

    let stopping: Promise<void> | undefined;
    return {
      url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
      ports,
      nodes,
      stop(): Promise<void> {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * One cluster-enabled node. Its bus port is picked free too (`--cluster-port`) instead of
 * the default port+10000, which can be taken or beyond 65535 for a high ephemeral port.
 */
async function startClusterNode(dir: string, index: number, extraArgs: readonly string[]): Promise<LocalRedis> {
  const busPort = await freePort();
  return startLocalRedis({
    extraArgs: [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, `nodes-${index}.conf`),
      '--cluster-port',
      String(busPort),
      ...extraArgs,
    ],
  });
}

async function untilClusterOk(ports: readonly number[], count: number): Promise<void> {
  const conns = ports.map(
    (port) => new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 }),
  );
  try {
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS;
    for (;;) {
      const infos = await Promise.all(conns.map((c) => c.call('CLUSTER', 'INFO').then(String, () => undefined)));
      if (infos.every((info) => clusterReady(info, count))) return;
      if (Date.now() > deadline)
        throw new Error(`local cluster on ports ${ports.join(',')} not ok within ${CLUSTER_READY_TIMEOUT_MS / 1000}s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    for (const c of conns) c.disconnect();
  }
}

function clusterReady(info: string | undefined, count: number): boolean {
  if (info === undefined) return false;
  const field = (name: string): string | undefined => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  return field('cluster_state') === 'ok' && field('cluster_slots_ok') === '16384' && field('cluster_known_nodes') === String(count);
}

/** Runs a command to completion with its output captured; code null when it timed out (then it is killed and reaped). */
function runCaptured(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: timedOut ? null : code, output });
    });
  });
}
