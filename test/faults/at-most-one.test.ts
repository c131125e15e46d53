import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, innerPid, PID_NAMESPACE, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

/**
 * --at-most-one across a partition. Two workers, each PID 1 of a PID namespace of its own
 * (stand-ins for two hosts); the one under test reaches Redis only through a TCP proxy
 * written here, which can stop forwarding: from then on every byte either way is dropped and
 * new connections are accepted and held, as a network that swallows packets (no reset, so
 * the worker sees no error, only silence). Healing closes every connection it holds.
 */
class CuttableProxy {
  private readonly server: Server;
  private readonly socks = new Set<Socket>();
  private cut = false;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.take(client));
  }

  static async open(redisUrl: string): Promise<{ proxy: CuttableProxy; url: string }> {
    const u = new URL(redisUrl);
    const proxy = new CuttableProxy({ host: u.hostname, port: Number(u.port) });
    await new Promise<void>((res) => proxy.server.listen(0, '127.0.0.1', res));
    const port = (proxy.server.address() as { port: number }).port;
    return { proxy, url: `redis://127.0.0.1:${port}${u.pathname}` };
  }

  private track(s: Socket): void {
    this.socks.add(s);
    s.on('close', () => this.socks.delete(s));
    s.on('error', () => undefined);
  }

  private take(client: Socket): void {
    this.track(client);
    // Cut: held open, read and dropped.
    if (this.cut) return void client.on('data', () => undefined);
    const up = connect(this.target);
    this.track(up);
    client.on('data', (d) => void (this.cut || up.write(d)));
    up.on('data', (d) => void (this.cut || client.write(d)));
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  }

  /** Stops forwarding: connections stay open, nothing crosses. */
  cutOff(): void {
    this.cut = true;
  }

  /** Forwards again: every held connection is closed, so clients reconnect through a live path. */
  heal(): void {
    this.cut = false;
    for (const s of this.socks) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.socks) s.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
  }
}

const TICK_MS = 1000 / 100; // clock ticks of /proc/PID/stat's start time (CLK_TCK, 100 on Linux)
/** Time since boot (ms), the clock /proc's start times count on. */
const uptimeMs = () => Math.round(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000);

interface Sighting {
  pid: number;
  owner: string;
  /** Since boot (ms): its start from /proc, and when this watch first and last saw it alive. */
  startedMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

/**
 * Looks at every process carrying `id` (whole trees: the cookie) as often as it can and
 * fails the test at the first look that finds live copies under both hosts at once. Keeps
 * each process's start and last sighting, and when each owner was first seen with none.
 */
function watchCopies(id: string) {
  const seen = new Map<string, Sighting>();
  const goneAt = new Map<string, number>();
  const overlaps: string[] = [];
  let looks = 0;
  let live = true;
  const look = () => {
    const now = uptimeMs();
    const byOwner = new Map<string, number[]>();
    for (const pid of carriersOf(id)) {
      const s = proc.stat(pid);
      const owner = proc.cookie(pid, 'REAPQ_OWNER');
      if (!s || !owner) continue;
      byOwner.set(owner, [...(byOwner.get(owner) ?? []), pid]);
      const key = `${pid}:${s.startTime}`;
      const had = seen.get(key);
      if (had) had.lastSeenMs = now;
      else seen.set(key, { pid, owner, startedMs: s.startTime * TICK_MS, firstSeenMs: now, lastSeenMs: now });
    }
    for (const s of seen.values()) if (!byOwner.has(s.owner) && !goneAt.has(s.owner)) goneAt.set(s.owner, now);
    for (const o of byOwner.keys()) goneAt.delete(o);
    if (byOwner.size > 1) overlaps.push(JSON.stringify(Object.fromEntries(byOwner)));
    looks++;
  };
  const done = (async () => {
    while (live) {
      look();
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    copies: (owner: string) => [...seen.values()].filter((s) => s.owner === owner),
    goneAt: (owner: string) => goneAt.get(owner) ?? null,
    overlaps,
    looks: () => looks,
    stop: async () => {
      live = false;
      await done;
    },
  };
}

const prefix = randomPrefix();
const base = testEnv(testRedisUrl(), prefix);
// Two halves of the slot's port range: the two "hosts" share this machine's network.
const [lo] = base.REAPQ_PORT_RANGE!.split('-').map(Number) as [number];
let c: ReapqClient;
let proxy: CuttableProxy;
let viaProxy: string;
const workers: TestWorker[] = [];

async function host(id: string, redisUrl: string, ports: string): Promise<TestWorker> {
  const w = await startWorker({ ...base, REDIS_URL: redisUrl, REAPQ_PORT_RANGE: ports }, id, [], PID_NAMESPACE);
  workers.push(w);
  return w;
}
async function shutdown(w: TestWorker): Promise<number | null> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return w.child.exitCode;
  process.kill(innerPid(w), 'SIGTERM'); // unshare does not forward signals
  return w.stop();
}
function get(port: number): Promise<string> {
  return new Promise((res, rej) => {
    const q = request({ host: '127.0.0.1', port, path: '/' }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => res(body));
    });
    q.on('error', rej);
    q.end();
  });
}

// A tree: the server and a child of its own, both carrying the replica's cookie. The server
// ignores SIGTERM, so a stop takes the whole grace period and ends with SIGKILL: another
// host that started its copy at the lease's end, not waiting for that, would overlap.
const app = [
  process.execPath,
  '-e',
  "process.on('SIGTERM', () => {}); require('node:child_process').spawn('sleep', ['600'], { stdio: 'ignore' }); require('node:http').createServer((q, s) => s.end('up')).listen(process.env.PORT)",
];

beforeAll(async () => {
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  ({ proxy, url: viaProxy } = await CuttableProxy.open(testRedisUrl()));
});
afterEach(async () => {
  proxy.heal();
  for (const s of await c.services()) if (s.active) await c.waitForDeploy((await c.stopService(s.name)).id, { timeoutMs: 30_000 });
  for (const w of workers.splice(0)) expect(await shutdown(w)).toBe(0);
});
afterAll(async () => {
  await proxy.close();
  await c.close();
});

/** A one-replica service served from h-cut (through the proxy), with h-b up beside it. */
async function servedOnCutHost(service: string, atMostOne: boolean) {
  const cut = await host('h-cut', viaProxy, `${lo}-${lo + 999}`);
  const d = await c.deploy({
    service,
    command: app,
    port: 'auto',
    ready: { kind: 'http', path: '/' },
    graceMs: 1000,
    ...(atMostOne ? { atMostOne: true } : {}),
  });
  expect((await c.waitForDeploy(d.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
  const id = `${service}-r1-0`;
  const before = await c.get(id);
  expect(before).toMatchObject({ host: 'h-cut', state: 'running', atMostOne });
  await host('h-b', testRedisUrl(), `${lo + 1000}-${lo + 1999}`);
  return { cut, id, before };
}

/** Pid and start time of each process of a copy of `id` under `hostId`, as this machine numbers them. */
const rootCopies = (id: string, hostId: string) =>
  carriersOf(id)
    .filter((p) => proc.cookie(p, 'REAPQ_OWNER') === `${prefix}/${hostId}`)
    .map((p) => [p, proc.stat(p)?.startTime])
    .sort();

const runningOn = (id: string, hostId: string) =>
  until(
    async () => {
      const r = await c.get(id);
      return r.host === hostId && r.state === 'running' && carriersOf(id).length > 0 ? r : null;
    },
    60_000,
    `${id} running on ${hostId}`,
  );

describe('--at-most-one across a partition', () => {
  it('the cut host stops its copy (the whole tree) before the other host starts one: never two alive at once', async () => {
    const { cut, id, before } = await servedOnCutHost('solo', true);
    const watch = watchCopies(id);
    let after: Awaited<ReturnType<typeof runningOn>>;
    try {
      await until(() => watch.copies(`${prefix}/h-cut`).length === 2, 5000, 'the server and its child seen on h-cut');
      proxy.cutOff();
      after = await runningOn(id, 'h-b');
      expect(after.runId).not.toBe(before.runId);
      await until(() => watch.copies(`${prefix}/h-b`).length === 2, 5000, 'the new server and its child seen on h-b');
    } finally {
      await watch.stop();
    }
    expect(watch.overlaps).toEqual([]);
    // Timelines, both since boot: the cut host's copy was seen gone before the first
    // process of the new one started (its start time in /proc).
    const oldGone = watch.goneAt(`${prefix}/h-cut`);
    expect(oldGone).not.toBeNull();
    const newStart = Math.min(...watch.copies(`${prefix}/h-b`).map((s) => s.startedMs));
    if (process.env.REAPQ_AT_MOST_ONE_TIMES)
      console.log(
        'at-most-one: old copy first seen gone',
        oldGone,
        'ms since boot; new copy started',
        newStart,
        `(${newStart - oldGone!} ms later); ${watch.looks()} looks`,
      );
    expect(newStart, `old copy gone at ${oldGone} ms, new one started at ${newStart} ms since boot`).toBeGreaterThan(oldGone!);
    expect(cut.output()).toContain('at-most-one copy stopped by its own host (no Redis): tree verified gone');
    expect(watch.looks()).toBeGreaterThan(10);

    // Healed: the cut host finds the record moved on and leaves it alone; one copy serves.
    proxy.heal();
    await until(async () => (await c.hosts()).find((h) => h.hostId === 'h-cut')?.alive, 15_000, 'h-cut beating again');
    expect(await c.get(id)).toMatchObject({ host: 'h-b', state: 'running', pid: after.pid });
    const events = (await c.events(id)).map((e) => e.event);
    expect(events).toContainEqual(expect.objectContaining({ type: 'lost', reason: expect.stringMatching(/at most one copy/) }));
    expect(carriersOf(id).every((p) => proc.cookie(p, 'REAPQ_OWNER') === `${prefix}/h-b`)).toBe(true);
  }, 120_000);

  it('without --at-most-one the cut host keeps serving its copy while the other host starts another', async () => {
    const { cut, id, before } = await servedOnCutHost('plain', false);
    // The copy's processes as this machine numbers them (the record's pids are its namespace's).
    const mine = rootCopies(id, 'h-cut');
    expect(mine).toHaveLength(2);
    proxy.cutOff();
    const after = await runningOn(id, 'h-b');
    // The old copy is the same processes, and it still answers.
    expect(rootCopies(id, 'h-cut')).toEqual(mine);
    expect(await get(before.port!)).toBe('up');
    expect(await get(after.port!)).toBe('up');
    expect(cut.output()).not.toContain('at-most-one copy');
    // Healed: the cut host finds its run is no longer the record's and stops it.
    proxy.heal();
    await until(() => rootCopies(id, 'h-cut').length === 0, 30_000, 'the stale copy on h-cut stopped');
    await until(() => carriersOf(id).every((p) => proc.cookie(p, 'REAPQ_OWNER') === `${prefix}/h-b`), 30_000, 'only h-b copies left');
  }, 120_000);
});
