import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/shared/clock.js';
import { makeKeys } from '../../src/shared/keys.js';
import { makeLogger } from '../../src/shared/logger.js';
import { HostHeartbeat } from '../../src/worker/heartbeat.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';

/**
 * A heartbeat is written only while no other worker holds the host id's lease: a worker
 * frozen past its lease (SIGSTOP, a paused VM) and thawed after another took the host id
 * over must not hide the new owner's beat (test/faults/host-id-lease.test.ts does it with
 * real workers).
 */
const redis = new Redis(testRedisUrl());
afterAll(async () => {
  await redis.quit();
});

function heartbeat(prefix: string, mine: string, lost: string[]): HostHeartbeat {
  const keys = makeKeys(prefix);
  return new HostHeartbeat({
    redis,
    hostsKey: keys.hosts,
    hostId: 'h1',
    heartbeatMs: 500,
    containment: { mode: 'process', reason: 'asked for process mode', limits: [], kill: null },
    maxProcesses: Infinity,
    load: () => 0,
    counters: () => ({}),
    log: makeLogger('silent'),
    clock: systemClock,
    lease: { key: keys.hostLease('h1'), value: mine, lost: (holder) => void lost.push(holder) },
  });
}

describe('the heartbeat, fenced by the host lease', () => {
  it("writes while the lease is this worker's or lapsed with nobody taking it; never once another holds it", async () => {
    const prefix = randomPrefix();
    const keys = makeKeys(prefix);
    const lost: string[] = [];
    const hb = heartbeat(prefix, 'mine', lost);

    await redis.set(keys.hostLease('h1'), 'mine', 'PX', 10_000);
    await hb.beat('up');
    expect(JSON.parse((await redis.hget(keys.hosts, 'h1'))!)).toMatchObject({ hostId: 'h1', state: 'up', pid: process.pid });

    // Lapsed, nobody took it: still this worker's (its renewal puts the lease back).
    await redis.del(keys.hostLease('h1'));
    await hb.beat('draining');
    expect(JSON.parse((await redis.hget(keys.hosts, 'h1'))!)).toMatchObject({ state: 'draining' });
    expect(lost).toEqual([]);

    // Another worker took the host id over and beat: this one's beat changes nothing, and it is told.
    const theirs = JSON.stringify({ hostId: 'h1', pid: 1, state: 'up', at: 1 });
    await redis.set(keys.hostLease('h1'), 'theirs', 'PX', 10_000);
    await redis.hset(keys.hosts, 'h1', theirs);
    await hb.beat('up');
    expect(await redis.hget(keys.hosts, 'h1')).toBe(theirs);
    expect(lost).toEqual(['theirs']);
  });
});
