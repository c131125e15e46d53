import { hostname } from 'node:os';
import { describe, it, expect } from 'vitest';
import { makeKeys, type Keys } from '../../src/shared/keys.js';
import { loadConfig } from '../../src/shared/config.js';
import { InputError } from '../../src/shared/errors.js';

/** The hash tag Redis Cluster hashes: content of the first `{...}` when non-empty, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** Every Redis key (and BullMQ key prefix) a Keys object can produce for the given ids. */
function allKeys(k: Keys, id = 'job-1', host = 'host-a'): string[] {
  return [
    k.bullPrefix,
    `${k.bullPrefix}:${k.startQueue}`,
    `${k.bullPrefix}:${k.hostQueue(host)}`,
    k.record(id),
    k.stream(id),
    k.corruptStream(id),
    k.replicaMark,
    k.usage,
    k.globalStream,
    k.allIndex,
    k.hostIndex(host),
    k.liveIndex(host),
    k.endedIndex(host),
    k.hosts,
    k.hostLease(host),
    k.fleetVersions,
    k.fleetId,
    k.ports(host),
  ];
}

describe('makeKeys', () => {
  it('puts every key and queue under the hash tag {prefix}', () => {
    const k = makeKeys('reapq');
    expect(k.tag).toBe('{reapq}');
    expect(k.bullPrefix.startsWith('{reapq}')).toBe(true);
    for (const key of allKeys(k)) expect(hashTag(key), key).toBe('reapq');
  });

  it('gives distinct keys within one prefix', () => {
    const keys = allKeys(makeKeys('app'));
    expect(new Set(keys).size).toBe(keys.length);
    // Different ids and hosts never collide either.
    const k = makeKeys('app');
    expect(k.record('a')).not.toBe(k.record('b'));
    expect(k.stream('a')).not.toBe(k.record('a'));
    expect(k.hostIndex('h1')).not.toBe(k.hostIndex('h2'));
    expect(k.ports('h1')).not.toBe(k.hostIndex('h1'));
  });

  it('never produces the same key for two prefixes', () => {
    const prefixes = ['a', 'ab', 'a.b', 'a-b', 'reapq', 'reapq2'];
    const seen = new Map<string, string>();
    for (const p of prefixes) {
      for (const key of allKeys(makeKeys(p))) {
        expect(seen.get(key), `${key} from ${p}`).toBeUndefined();
        seen.set(key, p);
      }
    }
    expect(seen.size).toBe(prefixes.length * allKeys(makeKeys('x')).length);
  });
});

describe('loadConfig', () => {
  it('applies defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      prefix: 'reapq',
      apiToken: undefined,
      logLevel: 'info',
      dataDir: 'data',
      reconcileMs: 3000,
      heartbeatMs: 2000,
      defaultGraceMs: 5000,
      stalledMs: 5000,
      portRange: [20000, 29999],
      globalEventsMax: 100_000,
      waitReplicas: 0,
      waitTimeoutMs: 1000,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads the replicas an append waits for, and refuses a bad count', () => {
    expect(loadConfig({ REAPQ_REDIS_WAIT_REPLICAS: '2', REAPQ_REDIS_WAIT_TIMEOUT_MS: '250' })).toMatchObject({
      waitReplicas: 2,
      waitTimeoutMs: 250,
    });
    expect(() => loadConfig({ REAPQ_REDIS_WAIT_REPLICAS: 'one' })).toThrow(/REAPQ_REDIS_WAIT_REPLICAS/);
    expect(() => loadConfig({ REAPQ_REDIS_WAIT_TIMEOUT_MS: '0' })).toThrow(/REAPQ_REDIS_WAIT_TIMEOUT_MS/);
  });

  it('defaults hostId to the sanitized hostname', () => {
    const expected =
      hostname()
        .replace(/[^A-Za-z0-9_.-]/g, '-')
        .slice(0, 64) || 'host';
    expect(loadConfig({}).hostId).toBe(expected);
    expect(loadConfig({ REAPQ_HOST_ID: 'box-7' }).hostId).toBe('box-7');
  });

  it('reads and coerces set values; empty strings count as unset', () => {
    const c = loadConfig({ REAPQ_PREFIX: 'p.1', REAPQ_RECONCILE_MS: '250', REAPQ_PORT_RANGE: '3000-3010', REAPQ_DEFAULT_GRACE_MS: '' });
    expect(c).toMatchObject({ prefix: 'p.1', reconcileMs: 250, portRange: [3000, 3010], defaultGraceMs: 5000 });
  });

  const bad: Array<[Record<string, string>, string, string]> = [
    [{ REAPQ_PREFIX: 'a{b}' }, 'REAPQ_PREFIX', '"a{b}"'],
    [{ REAPQ_RECONCILE_MS: 'abc' }, 'REAPQ_RECONCILE_MS', '"abc"'],
    [{ REAPQ_RECONCILE_MS: '50' }, 'REAPQ_RECONCILE_MS', '"50"'],
    [{ REAPQ_PORT_RANGE: '9-1' }, 'REAPQ_PORT_RANGE', '"9-1"'],
    [{ REAPQ_PORT_RANGE: '3000-2000' }, 'REAPQ_PORT_RANGE', '"3000-2000"'],
    [{ REAPQ_PORT_RANGE: 'lots' }, 'REAPQ_PORT_RANGE', '"lots"'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL', '"http://x"'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', '"loud"'],
    [{ REAPQ_HOST_ID: 'a b' }, 'REAPQ_HOST_ID', '"a b"'],
  ];
  for (const [env, name, shown] of bad) {
    it(`rejects ${name}=${shown} with an InputError naming both`, () => {
      let err: unknown;
      try {
        loadConfig(env);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(`invalid ${name}=${shown}`);
    });
  }
});
