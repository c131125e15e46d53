import type { Redis } from 'ioredis';
import { customAlphabet } from 'nanoid';
import type { Keys } from '../shared/keys.js';

/** 36^12 values: two installations that never talk do not draw the same one. */
const draw = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

/** What a fleet id may be: it goes into a cgroup's name and an environment variable as it is. */
export const FLEET_ID = /^[0-9a-z]{6,32}$/;

/**
 * The fleet's identity (keys.fleetId), made on first use: the first worker that finds none
 * sets a random one (SET NX), and every worker after it, of any host, reads that one.
 * Read once at boot, before anything of the host is touched: it names what the worker may
 * call its own. A value that is not a fleet id (written by hand) stops the worker: with a
 * name it cannot trust it could tell nothing apart.
 */
export async function fleetIdentity(redis: Redis, keys: Keys): Promise<string> {
  await redis.set(keys.fleetId, draw(), 'NX');
  const id = await redis.get(keys.fleetId);
  if (id === null || !FLEET_ID.test(id))
    throw new Error(
      `the fleet id in Redis (${keys.fleetId}) is ${id === null ? 'missing' : JSON.stringify(id.slice(0, 40))}, not 6-32 lowercase letters and digits: delete the key to have a new one made`,
    );
  return id;
}
