import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { EventStore } from '../../src/shared/event-store.js';
import { makeKeys, type Keys } from '../../src/shared/keys.js';
import { randomPrefix, testRedisUrl } from './redis.js';

/** A connection to the test Redis for the whole file, closed after its tests. */
export function useRedis(): Redis {
  const redis = new Redis(testRedisUrl());
  afterAll(() => redis.quit());
  return redis;
}

/** An event store on a fresh prefix (its global stream capped at 1000), with its keys; `onCorrupt` is told of corrupt reads. */
export function freshStore(redis: Redis, onCorrupt?: (id: string, problem: string) => void): { store: EventStore; keys: Keys } {
  const keys = makeKeys(randomPrefix());
  return { store: new EventStore(redis, keys, 1000, Date.now, onCorrupt), keys };
}
