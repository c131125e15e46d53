import { Redis } from 'ioredis';
import { afterAll, afterEach, expect } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { makeKeys, type Keys } from '../../src/shared/keys.js';
import { FINAL_STATES, type ProcessRecord } from '../../src/shared/record.js';
import { randomPrefix, testRedisUrl } from './redis.js';
import { carriersOf, PID_NAMESPACE, startWorker, stopGracefully, testEnv, type TestWorker } from './workers.js';

export interface ClientFixture {
  readonly prefix: string;
  /** The environment of workers and CLI runs on this prefix. */
  readonly env: NodeJS.ProcessEnv;
  readonly keys: Keys;
  readonly c: ReapqClient;
}

/**
 * A fresh prefix on the test Redis for the whole file, with a client on it, closed after
 * the file's tests. Workers are the test's own.
 */
export function useClient(): ClientFixture {
  const prefix = randomPrefix();
  const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  afterAll(() => c.close());
  return { prefix, env: testEnv(testRedisUrl(), prefix), keys: makeKeys(prefix), c };
}

/**
 * useClient() and the hosts of its fleet: `host` starts a worker as PID 1 of a PID namespace
 * of its own (a stand-in for a separate machine). After each test, even one that failed half
 * way, `clear` ends what it left while its workers still run, then the workers stop.
 */
export function useHosts(
  clear: (c: ReapqClient) => Promise<void>,
): ClientFixture & { host(id: string, args?: string[]): Promise<TestWorker> } {
  const fixture = useClient();
  const workers: TestWorker[] = [];
  afterEach(async () => {
    await clear(fixture.c);
    for (const w of workers.splice(0)) await stopGracefully(w);
  });
  return {
    ...fixture,
    async host(id, args = []) {
      const w = await startWorker(fixture.env, id, args, PID_NAMESPACE);
      workers.push(w);
      return w;
    },
  };
}

/** useClient() and a plain connection, for what a test plants in the store or reads behind the client's back. */
export function useClientAndRedis(): ClientFixture & { readonly redis: Redis } {
  const redis = new Redis(testRedisUrl());
  afterAll(() => redis.quit());
  return { ...useClient(), redis };
}

/**
 * The end of a suite whose worker ran processes: stops every live record, waits until each
 * is over, closes the client, then stops the worker, which must exit cleanly. Either may
 * be missing when the suite's setup failed half-way.
 */
export async function stopEverything(c: ReapqClient | undefined, worker: TestWorker | undefined): Promise<void> {
  if (c) {
    await stopRecords(c, 200);
    await c.close();
  }
  if (worker) expect(await worker.stop()).toBe(0);
}

/**
 * Stops every record that is not final (and those `also` names), through the workers still
 * running, and waits up to 10 s for each to be over. A refused stop or a record that does
 * not end is not thrown here: what it left running is the leak check's to report.
 */
export async function stopRecords(c: ReapqClient, graceMs: number, also: (r: ProcessRecord) => boolean = () => false): Promise<void> {
  for (const r of await c.list()) if (!FINAL_STATES.has(r.state) || also(r)) await c.stop(r.id, { graceMs }).catch(() => undefined);
  for (const r of await c.list()) await c.waitFor(r.id, [...FINAL_STATES], { timeoutMs: 10_000 }).catch(() => undefined);
}

/** A start that never gets ready: waiting for it to run fails with `reason`, it ends failed (not-ready), and its tree goes. */
export async function expectNotReady(c: ReapqClient, id: string, reason: RegExp, timeoutMs: number): Promise<void> {
  await expect(c.waitFor(id, 'running', { timeoutMs })).rejects.toThrow(reason);
  const failed = await c.get(id);
  expect(failed.state).toBe('failed');
  expect(failed.endReason).toBe('not-ready');
  // Failed means verified: nothing of the tree may be left once the record says so.
  expect(carriersOf(id)).toEqual([]);
}
