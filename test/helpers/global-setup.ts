import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { ensureRedisServerBinary, startLocalRedis } from '../../src/dev/local-redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * vitest globalSetup: one private, non-persistent redis-server for the whole run (never the
 * system Redis). Tests reach it through `inject('redisUrl')` (see test/helpers/redis.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureRedisServerBinary((line) => process.stderr.write(`[global-setup] ${line}\n`));
  const redis = await startLocalRedis({});
  project.provide('redisUrl', redis.url);
  // Lowercase alphanumerics: prefixes become hash tags and BullMQ queue names.
  project.provide(
    'runId',
    BigInt(`0x${randomBytes(5).toString('hex')}`)
      .toString(36)
      .padStart(8, '0'),
  );
  return async () => {
    await redis.stop();
  };
}
