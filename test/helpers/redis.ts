import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { runMarker } from './run-marker.js';

/** URL of the private redis-server started by test/helpers/global-setup.ts. */
export function testRedisUrl(): string {
  const url = inject('redisUrl');
  if (!url) throw new Error('redisUrl was not provided: is test/helpers/global-setup.ts configured as globalSetup?');
  return url;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A fresh key prefix per call (the run's marker `t-<runId>-` + 10 lowercase alphanumerics)
 * so tests never share keys and the leak check knows this run's processes by their owner.
 */
export function randomPrefix(): string {
  const bytes = randomBytes(10);
  let out = runMarker();
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}
