import { Redis } from 'ioredis';
import { afterAll, expect } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { makeKeys, type Keys } from '../../src/shared/keys.js';
import { LIVE_STATES } from '../../src/shared/record.js';
import { randomPrefix, testRedisUrl } from './redis.js';
import { testEnv, type TestWorker } from './workers.js';

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
    for (const r of await c.list()) if (LIVE_STATES.has(r.state)) await c.stop(r.id, { graceMs: 200 });
    for (const r of await c.list())
      await c.waitFor(r.id, ['stopped', 'exited', 'failed', 'lost'], { timeoutMs: 10_000 }).catch(() => undefined);
    await c.close();
  }
  if (worker) expect(await worker.stop()).toBe(0);
}
