import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { makeKeys, type Keys } from '../../src/shared/keys.js';
import { randomPrefix, testRedisUrl } from './redis.js';
import { testEnv } from './workers.js';

export interface ClientFixture {
  readonly prefix: string;
  /** The environment of workers and CLI runs on this prefix. */
  readonly env: NodeJS.ProcessEnv;
  readonly keys: Keys;
  readonly c: ReapqClient;
  /** A plain connection, for what a test plants in the store or reads behind the client's back. */
  readonly redis: Redis;
}

/**
 * A fresh prefix on the test Redis for the whole file, with a client and a plain
 * connection on it, both closed after the file's tests. Workers are the test's own.
 */
export function useClientAndRedis(): ClientFixture {
  const prefix = randomPrefix();
  const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  const redis = new Redis(testRedisUrl());
  afterAll(async () => {
    await c.close();
    await redis.quit();
  });
  return { prefix, env: testEnv(testRedisUrl(), prefix), keys: makeKeys(prefix), c, redis };
}
