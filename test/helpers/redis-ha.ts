import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { makeKeys } from '../../src/shared/keys.js';
import { freePort, startLocalRedis, type LocalRedis } from '../../src/dev/local-redis.js';
import { startLocalCluster, type LocalCluster } from './local-cluster.js';
import { onCleanup, tempDir } from './cleanup.js';
import { randomPrefix } from './redis.js';
import { carriersOf, startWorker, testEnv, until, type TestWorker } from './workers.js';

/**
 * Redis set-ups that can fail over, for the fault suite: a master with a replica watched by
 * Sentinels, and a Redis Cluster with a replica per master. Everything is on free loopback
 * ports, started and stopped by the test file (the file's cleanup stops them too if the
 * file throws half-way), never the Redis on 6379.
 */

/**
 * A set-up that can fail over (`start` runs in beforeAll) with a worker and a client on a
 * fresh prefix, for one describe block; afterwards the client closes, the worker must exit
 * cleanly, and the set-up stops. `tag` is the prefix's hash tag (its cluster slot).
 */
export function useHaWorker<H extends { url: string; stop(): Promise<void> }>(
  start: () => Promise<H>,
  hostId: string,
  extraEnv: Record<string, string> = {},
) {
  const prefix = randomPrefix();
  const s = { tag: makeKeys(prefix).tag } as { tag: string; ha: H; w: TestWorker; c: ReapqClient };
  beforeAll(async () => {
    s.ha = await start();
    s.w = await startWorker(testEnv(s.ha.url, prefix, extraEnv), hostId);
    s.c = new ReapqClient({ redisUrl: s.ha.url, prefix, env: extraEnv });
  }, 60_000);
  afterAll(async () => {
    await s.c?.close();
    if (s.w) expect(await s.w.stop()).toBe(0);
    await s.ha?.stop();
  }, 30_000);
  return s;
}

/** A connection for probes: fails fast instead of queueing while its server is away. */
function probe(port: number): Redis {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  r.on('error', () => undefined);
  return r;
}

async function withProbe<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T | null> {
  const r = probe(port);
  try {
    return await fn(r);
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

const infoField = (info: string | null, name: string) => (info ? new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] : undefined);

/** Resolves once the node at `port` is a replica whose link to its master is up and synced. */
export async function replicaSynced(port: number): Promise<boolean> {
  const info = await withProbe(port, (r) => r.info('replication'));
  return (
    infoField(info, 'role') === 'slave' &&
    infoField(info, 'master_link_status') === 'up' &&
    infoField(info, 'master_sync_in_progress') === '0'
  );
}

/** SIGKILL, the way a host or a kernel OOM kill ends it: no shutdown, no last write. Reaped. */
export async function crash(node: LocalRedis): Promise<void> {
  process.kill(node.pid, 'SIGKILL');
  await node.stop();
}

function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    c.once('exit', () => res());
    c.kill('SIGTERM');
  });
}

export interface SentinelSet {
  /** `redis+sentinel://127.0.0.1:s1,...,127.0.0.1:s3/<name>` */
  url: string;
  name: string;
  master: LocalRedis;
  /** The first replica (the one Sentinel promotes when it is the only one). */
  replica: LocalRedis;
  replicas: LocalRedis[];
  sentinelPorts: number[];
  /** The master's port as the first Sentinel that answers sees it. */
  masterPort(): Promise<number | null>;
  /** Stops the Sentinels and both Redis servers; safe to call twice. */
  stop(): Promise<void>;
}

export interface SentinelOptions {
  sentinels?: number;
  /** Default 1. */
  replicas?: number;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

/**
 * A master, one replica (REPLICAOF) and `sentinels` Sentinels (quorum: a majority) that
 * know each other and the replica. Resolves once every Sentinel sees the whole set, so a
 * kill of the master right after is failed over.
 */
export async function startSentinelSet(opts: SentinelOptions = {}): Promise<SentinelSet> {
  const n = opts.sentinels ?? 3;
  const name = 'reapqha';
  const dir = tempDir('ha-sentinel');
  const sentinels: ChildProcess[] = [];
  const started: LocalRedis[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(sentinels.map(stopChild));
      await Promise.all(started.map((r) => r.stop()));
    })());
  onCleanup(stop);

  const master = await startLocalRedis({});
  started.push(master);
  const replicas: LocalRedis[] = [];
  for (let i = 0; i < (opts.replicas ?? 1); i++) {
    const replica = await startLocalRedis({});
    started.push(replica);
    replicas.push(replica);
    await withProbe(replica.port, (r) => r.replicaof('127.0.0.1', master.port));
    await until(() => replicaSynced(replica.port), 10_000, 'the replica to sync');
  }

  const sentinelPorts: number[] = [];
  for (let i = 0; i < n; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${i}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} ${Math.floor(n / 2) + 1}`,
        `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 500}`,
        `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 3000}`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    sentinels.push(child);
    sentinelPorts.push(port);
  }
  // Sentinels find each other through the master's hello channel (every 2 s).
  for (const port of sentinelPorts) {
    await until(
      async () => {
        const m = await withProbe(port, async (r) => flat((await r.call('SENTINEL', 'master', name)) as string[]));
        return m?.['num-other-sentinels'] === String(n - 1) && m['num-slaves'] === String(replicas.length) && m.flags === 'master';
      },
      20_000,
      `sentinel ${port} to know the whole set`,
    );
  }
  const masterPort = async (): Promise<number | null> => {
    for (const port of sentinelPorts) {
      const addr = await withProbe(port, async (r) => (await r.call('SENTINEL', 'get-master-addr-by-name', name)) as string[] | null);
      if (addr?.[1]) return Number(addr[1]);
    }
    return null;
  };
  return {
    url: `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${name}`,
    name,
    master,
    replica: replicas[0]!,
    replicas,
    sentinelPorts,
    masterPort,
    stop,
  };
}

/**
 * Stops the replicas from getting anything more from the master: they are frozen (SIGSTOP)
 * and the master drops its links to them, so what was already in a link's socket is all
 * they will have. Whatever the master acknowledges from now on, it alone holds. Returns
 * the thaw (SIGCONT); the frozen replicas reconnect by themselves.
 */
export async function cutReplicas(ha: { master: LocalRedis; replicas: LocalRedis[] }): Promise<() => void> {
  for (const r of ha.replicas) process.kill(r.pid, 'SIGSTOP');
  const dropped = await withProbe(ha.master.port, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'replica') as Promise<number>);
  if (dropped !== ha.replicas.length) throw new Error(`the master dropped ${dropped} replica links, not ${ha.replicas.length}`);
  return () => {
    for (const r of ha.replicas) process.kill(r.pid, 'SIGCONT');
  };
}

/** The master SIGKILLed, the replicas thawed, and resolves once Sentinel names a replica master (its port). */
export async function failOverCut(ha: SentinelSet, thaw: () => void): Promise<number> {
  await crash(ha.master);
  thaw();
  return until(
    async () => {
      const port = await ha.masterPort();
      return port !== null && ha.replicas.some((r) => r.port === port) ? port : null;
    },
    20_000,
    'Sentinel to promote a replica',
  );
}

/** Whether master and replica hold the same replication offset (the replica has all of it). */
export async function inSync(master: LocalRedis, replica: LocalRedis): Promise<boolean> {
  const offset = async (port: number) => infoField(await withProbe(port, (r) => r.info('replication')), 'master_repl_offset');
  const [m, r] = await Promise.all([offset(master.port), offset(replica.port)]);
  return m !== undefined && m === r && (await replicaSynced(replica.port));
}

function flat(a: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i]!] = a[i + 1]!;
  return out;
}

export interface HaCluster extends LocalCluster {
  /** The node that serves the slot of a key as master right now, asked of a live node. */
  ownerOf(key: string): Promise<LocalRedis>;
  /** The replicas of a master, as the cluster sees them now. */
  replicasOf(master: LocalRedis): Promise<LocalRedis[]>;
}

/**
 * 3 masters and 3 replicas (one each), with a short cluster-node-timeout so a replica
 * takes over within a few seconds of its master's death. Resolves once every replica is
 * synced.
 */
export async function startHaCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<HaCluster> {
  const cluster = await startLocalCluster({ nodes: 3, replicas: 1, nodeTimeoutMs: opts.nodeTimeoutMs ?? 1000 });
  onCleanup(() => cluster.stop());
  const live = new Set(cluster.nodes);
  const ask = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
    for (const n of cluster.nodes) {
      if (!live.has(n)) continue;
      const v = await withProbe(n.port, fn);
      if (v !== null) return v;
    }
    throw new Error('no cluster node answers');
  };
  await until(
    async () => {
      const roles = await Promise.all(cluster.nodes.map((n) => withProbe(n.port, (r) => r.info('replication'))));
      const replicas = cluster.nodes.filter((_, i) => infoField(roles[i] ?? null, 'role') === 'slave');
      if (replicas.length !== 3) return false;
      return (await Promise.all(replicas.map((r) => replicaSynced(r.port)))).every(Boolean);
    },
    20_000,
    'every cluster replica to sync',
  );
  const stopNode = cluster.nodes.map((n) => n.stop.bind(n));
  cluster.nodes.forEach((n, i) => {
    n.stop = () => {
      live.delete(n);
      return stopNode[i]!();
    };
  });
  return {
    ...cluster,
    async ownerOf(key: string): Promise<LocalRedis> {
      const slot = await ask((r) => r.call('CLUSTER', 'KEYSLOT', key) as Promise<number>);
      const nodes = await ask((r) => r.call('CLUSTER', 'NODES') as Promise<string>);
      for (const line of nodes.split('\n')) {
        const [, addr, flags, , , , , , ...ranges] = line.split(' ');
        if (!addr || !flags?.split(',').includes('master') || flags.includes('fail')) continue;
        const owns = ranges.some((r) => {
          const [lo, hi = lo] = r.split('-').map(Number);
          return slot >= lo! && slot <= hi!;
        });
        if (!owns) continue;
        const port = Number(addr.split('@')[0]!.split(':')[1]);
        const node = cluster.nodes.find((n) => n.port === port);
        if (node) return node;
      }
      throw new Error(`no live master owns slot ${slot}`);
    },
    async replicasOf(master: LocalRedis): Promise<LocalRedis[]> {
      const rows = (await ask((r) => r.call('CLUSTER', 'NODES') as Promise<string>)).split('\n').map((l) => l.split(' '));
      const portOf = (addr: string) => Number(addr.split('@')[0]!.split(':')[1]);
      const id = rows.find((f) => f[1] && portOf(f[1]) === master.port)?.[0];
      const ports = rows.filter((f) => f[2]?.split(',').includes('slave') && f[3] === id).map((f) => portOf(f[1]!));
      return cluster.nodes.filter((n) => ports.includes(n.port));
    },
  };
}

/** Whether a producer call went through (a retry loop's positive signal). */
export const accepted = (call: Promise<unknown>) =>
  call.then(
    () => true,
    () => false,
  );

/** How many times each id appended its line to the marker file. */
export function spawnCounts(marker: string): Map<string, number> {
  const out = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(marker, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) if (line) out.set(line, (out.get(line) ?? 0) + 1);
  return out;
}

/** A start that appends its id to the marker file each time it is spawned, then sleeps. */
export const markedSleep = (id: string, marker: string) => ({
  id,
  command: ['sh', '-c', 'echo "$1" >> "$2"; exec sleep 1000', 'sh', id, marker],
  graceMs: 2000,
});

export interface FailoverBurst {
  ids: string[];
  /** ms from the kill to the first start, issued after it, that was accepted. */
  refusedMs: number;
  /** ms from the kill to `promoted` first answering true (Redis itself failed over). */
  promotedMs: number;
  /** Calls that failed and were retried. */
  retried: number;
}

/**
 * Issues `n` starts (at most `concurrency` at a time), each retried by id until accepted,
 * and crashes the master (`kill`) once half of them are accepted, while the rest are in
 * flight; ids accepted before the kill are waited on and stopped while the rest of the
 * burst still runs, all through the same client. Resolves once every start and those
 * stops are accepted.
 */
export async function burstAcrossFailover(
  c: ReapqClient,
  o: {
    n: number;
    idPrefix: string;
    marker: string;
    kill: () => Promise<void>;
    /** Whether a replica serves as master now. */
    promoted: () => Promise<boolean>;
    concurrency?: number;
    timeoutMs?: number;
  },
): Promise<FailoverBurst> {
  const ids = Array.from({ length: o.n }, (_, i) => `${o.idPrefix}-${i}`);
  const timeoutMs = o.timeoutMs ?? 30_000;
  let acceptedCount = 0;
  let retried = 0;
  let killedAt: number | undefined;
  let firstAfterKill: number | undefined;
  let killing: Promise<void> | undefined;
  let promotedAt: number | undefined;
  const early: string[] = [];
  const tryCall = async (call: () => Promise<unknown>): Promise<boolean> => {
    const t0 = Date.now();
    const ok = await accepted(call());
    if (!ok) retried++;
    if (ok && killedAt !== undefined && t0 >= killedAt && firstAfterKill === undefined) firstAfterKill = Date.now();
    return ok;
  };
  const next = [...ids];
  const starter = async (): Promise<void> => {
    for (let id = next.shift(); id !== undefined; id = next.shift()) {
      const spec = markedSleep(id, o.marker);
      await until(() => tryCall(() => c.start(spec)), timeoutMs, `start ${id} accepted`);
      acceptedCount++;
      if (killing === undefined) early.push(id);
      if (acceptedCount === Math.floor(o.n / 2) && killing === undefined) {
        killedAt = Date.now();
        killing = o.kill().then(async () => {
          await until(o.promoted, timeoutMs, 'a replica to be promoted');
          promotedAt = Date.now();
        });
      }
    }
  };
  const starters = Array.from({ length: o.concurrency ?? 6 }, starter);
  await until(() => killing !== undefined, timeoutMs, 'half the burst accepted');
  // Stops in the middle of the failover too, of processes started before it.
  const stops = (async () => {
    for (const id of early.slice(0, Math.ceil(early.length / 2))) {
      await until(() => tryCall(() => c.waitFor(id, 'running', { timeoutMs: 5000 })), timeoutMs, `${id} running`);
      await marked(o.marker, id, timeoutMs);
      await until(() => tryCall(() => c.stop(id)), timeoutMs, `stop ${id} accepted`);
    }
  })();
  await Promise.all([...starters, stops, killing]);
  return { ids, refusedMs: firstAfterKill! - killedAt!, promotedMs: promotedAt! - killedAt!, retried };
}

/**
 * Waits until the id's line is in the marker file: a record that is running only says its
 * shell was spawned, which on a loaded machine may not have run its echo yet, and a stop
 * then would end it before it leaves the line the test counts.
 */
export async function marked(marker: string, id: string, timeoutMs = 30_000): Promise<void> {
  await until(() => spawnCounts(marker).has(id), timeoutMs, `${id} to write its marker line`);
}

/**
 * Stops every id once it wrote its marker line (retried until accepted) and waits for each
 * to be stopped. A waitFor that fails is retried too: a connection refused while a failover
 * settles is not an answer.
 */
export async function stopAllAndWait(c: ReapqClient, ids: readonly string[], marker: string, timeoutMs = 30_000): Promise<void> {
  for (const id of ids) await marked(marker, id, timeoutMs);
  for (const id of ids) await until(() => accepted(c.stop(id)), timeoutMs, `stop ${id} accepted`);
  for (const id of ids)
    await until(
      async () => (await c.waitFor(id, 'stopped', { timeoutMs: 5000 }).catch(() => null))?.state === 'stopped',
      timeoutMs,
      `${id} stopped`,
    );
}

/**
 * What a failover must not cost: every id ran exactly once (its marker line, and one
 * `spawned` event), ended stopped with nothing of it alive, and the worker that carried
 * them is the one that started before the failover and logged no crash.
 */
export async function expectRanOnceAndStopped(
  c: ReapqClient,
  ids: readonly string[],
  marker: string,
  w: TestWorker,
  workerPid: number | undefined,
): Promise<void> {
  for (const id of ids)
    await until(async () => (await c.get(id).catch(() => null))?.state !== 'pending', 30_000, `${id} taken by the worker`);
  await stopAllAndWait(c, ids, marker);
  const counts = spawnCounts(marker);
  for (const id of ids) expect(counts.get(id), `${id} spawned`).toBe(1);
  expect(counts.size).toBe(ids.length);
  for (const id of ids) {
    expect((await c.get(id)).state).toBe('stopped');
    expect((await c.events(id)).filter((e) => e.event.type === 'spawned')).toHaveLength(1);
    expect(carriersOf(id)).toEqual([]);
  }
  expect(w.child.pid).toBe(workerPid);
  expect(w.child.exitCode).toBeNull();
  expect(w.output()).not.toMatch(/unhandled rejection|uncaught|"level":60/i);
}
