import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { makeKeys } from '../../src/shared/keys.js';
import { FINAL_STATES } from '../../src/shared/record.js';
import { stopRecords } from '../helpers/client.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, cli, PID_NAMESPACE, startWorker, stopGracefully, testEnv, until, type TestWorker } from '../helpers/workers.js';

/**
 * One live worker per host id on one Redis: a second one refuses with one line naming the
 * first, and takes over only once the first's lease is gone (at once when this machine can
 * show the first is dead, else when its lease lapses).
 */

const HOST = 'h-lease';
const TTL_MS = 1500; // 3 beats of 500 ms (testEnv)
const redis = new Redis(testRedisUrl());
let prefix = '';
let env: NodeJS.ProcessEnv = {};
let c: ReapqClient;
const workers: TestWorker[] = [];

async function worker(wrap: string[] = []): Promise<TestWorker> {
  const w = await startWorker(env, HOST, [], wrap);
  workers.push(w);
  return w;
}

async function fresh(extra: Record<string, string> = {}): Promise<void> {
  prefix = randomPrefix();
  env = testEnv(testRedisUrl(), prefix, extra);
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
}

afterEach(async () => {
  // Processes stopped through a live worker of the host, then the workers.
  let live = workers.find((w) => w.child.exitCode === null && w.child.signalCode === null);
  if ((await c.list()).some((r) => !FINAL_STATES.has(r.state))) live ??= await worker();
  await stopRecords(c, 300);
  for (const w of workers.splice(0)) await stopGracefully(w);
  await c.close();
});
afterAll(async () => {
  await redis.quit();
});

/** A fresh prefix, its first worker, and one process running there. */
async function firstWithOneRunning(extra: Record<string, string> = {}) {
  await fresh(extra);
  const first = await worker();
  const p = await c.start({ command: ['sleep', '1000'], host: HOST });
  await c.waitFor(p.id, 'running');
  return { first, p, pids: carriersOf(p.id) };
}

const lines = (out: string) => out.split('\n').filter(Boolean);
/** Each wait for another worker's lease to lapse that a worker logged: how long it chose to wait (ms). */
const leaseWaits = (out: string) =>
  lines(out)
    .filter((l) => l.includes('waiting for its lease to lapse'))
    .map((l) => (JSON.parse(l) as { waitMs: number }).waitMs);

/** After a pass of the host's worker, the process runs on with the same pids. */
async function stillRunning(id: string, pids: number[]): Promise<void> {
  await c.admin.reconcile({ host: HOST });
  expect((await c.get(id)).state).toBe('running');
  expect(carriersOf(id)).toEqual(pids);
}

describe('one live worker per host id', () => {
  it('a second worker refuses with one line naming the first (pid, since when) and touches nothing of it', async () => {
    const { first, p, pids } = await firstWithOneRunning();
    const events = (await c.events(p.id)).length;

    const t0 = performance.now();
    const second = await cli(env, ['worker', '--host-id', HOST]);
    const refusedAfterMs = performance.now() - t0;
    console.log(`second worker refused after ${Math.round(refusedAfterMs)} ms (lease ttl ${TTL_MS} ms)`);
    expect(second.code).not.toBe(0);
    const said = lines(second.stderr).filter((l) => !l.startsWith('{'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(
      new RegExp(`^reapq: host id ${HOST} is served by another live worker: pid ${first.child.pid} on \\S+ since \\d{4}-\\d\\d-\\d\\dT`),
    );
    // It waited the lease out once (a worker killed moments ago would have let it lapse), no
    // more, and no longer than the lease had left (at most its ttl, plus the 100 ms margin).
    const waited = leaseWaits(second.stderr);
    expect(waited).toHaveLength(1);
    expect(waited[0]).toBeLessThanOrEqual(TTL_MS + 100);
    expect(second.stderr).not.toContain('worker ready');

    expect((await c.get(p.id)).state).toBe('running');
    expect(carriersOf(p.id)).toEqual(pids);
    expect((await c.events(p.id)).length).toBe(events);
    expect(first.child.exitCode).toBeNull();
  }, 30_000);

  it('takes over at once from a worker of this machine that is gone, and adopts its processes', async () => {
    // Beats of 10 s: the killed worker's lease (30 s) outlasts the next worker's boot however
    // loaded the machine, so only a takeover lets it start (a lapsed lease needs none).
    const { first, p, pids } = await firstWithOneRunning({ REAPQ_HEARTBEAT_MS: '10000' });
    await first.kill();
    const t0 = performance.now();
    const next = await worker();
    console.log(`same machine: next worker ready ${Math.round(performance.now() - t0)} ms after the first was killed`);
    expect(next.output()).toContain('taking it over');
    expect(next.output()).not.toContain('waiting for its lease to lapse');
    await stillRunning(p.id, pids);
  }, 30_000);

  it('from another PID namespace, where the first cannot be shown dead, takes over once its lease lapses', async () => {
    // Beats of 2 s: the lease (6 s) outlasts the next worker's boot, so the wait is seen.
    await fresh({ REAPQ_HEARTBEAT_MS: '2000' });
    const first = await worker();
    await first.kill();
    const t0 = performance.now();
    const next = await worker(PID_NAMESPACE);
    const readyAfterMs = performance.now() - t0;
    console.log(`other namespace: next worker ready ${Math.round(readyAfterMs)} ms after the first was killed (ttl 6000 ms)`);
    // One wait for the lapse, no longer than the lease had left, then the claim.
    const waited = leaseWaits(next.output());
    expect(waited).toHaveLength(1);
    expect(waited[0]).toBeLessThanOrEqual(6000 + 100);
    expect(next.output()).not.toContain('taking it over');
  }, 30_000);

  it('a clean stop gives the host id up: the next worker takes it without waiting', async () => {
    await fresh();
    const first = await worker();
    expect(await first.stop()).toBe(0);
    expect(await redis.exists(makeKeys(prefix).hostLease(HOST))).toBe(0);
    const next = await worker();
    expect(next.output()).not.toContain('waiting for its lease to lapse');
  }, 30_000);

  it('a worker frozen past its lease, thawed after another took its host id over, writes no beat and exits; its processes stay with the new holder', async () => {
    const { first, p, pids } = await firstWithOneRunning();
    const hosts = makeKeys(prefix).hosts;
    const beatPid = async () => (JSON.parse((await redis.hget(hosts, HOST)) ?? '{}') as { pid?: number }).pid;

    process.kill(first.child.pid!, 'SIGSTOP');
    const seen = new Set<number | undefined>();
    let next: TestWorker;
    try {
      // Same machine, but the first worker is alive (stopped): its lease lapses before the next one has it.
      next = await worker();
      await until(async () => (await beatPid()) === next.child.pid, 5000, "the new holder's beat");
    } finally {
      // Thawed: every timer it had is overdue at once. Each beat it tries is refused by the
      // lease, so the hosts hash names the new holder the whole time, until the first exits.
      process.kill(first.child.pid!, 'SIGCONT');
    }
    await until(
      async () => {
        seen.add(await beatPid());
        return first.child.exitCode !== null;
      },
      10_000,
      'the thawed worker to exit',
    );
    expect(first.child.exitCode).toBe(1);
    expect(first.output()).toContain(`host id ${HOST} was taken over by another worker`);
    expect([...seen]).toEqual([next.child.pid]);
    await stillRunning(p.id, pids);
  }, 30_000);

  it('a worker whose host id was taken over meanwhile exits at once and leaves its processes for the new holder', async () => {
    const { first, p, pids } = await firstWithOneRunning();
    // What another worker's claim looks like after this one was away past the ttl.
    const other = { token: 'other', pid: 1, machine: 'elsewhere', bootId: null, pidNs: null, startTime: null, since: Date.now() };
    await redis.set(makeKeys(prefix).hostLease(HOST), JSON.stringify(other), 'PX', TTL_MS);
    await until(() => first.child.exitCode !== null, 5000, 'the first worker to exit');
    expect(first.child.exitCode).toBe(1);
    expect(first.output()).toContain(`host id ${HOST} was taken over by another worker`);
    expect(carriersOf(p.id)).toEqual(pids);
  }, 30_000);
});
