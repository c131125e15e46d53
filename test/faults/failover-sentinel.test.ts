import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ReapqClient } from '../../src/index.js';
import { NotFoundError, ReplicationError } from '../../src/shared/errors.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import {
  accepted,
  burstAcrossFailover,
  crash,
  cutReplicas,
  expectRanOnceAndStopped,
  failOverCut,
  inSync,
  marked,
  markedSleep,
  spawnCounts,
  startSentinelSet,
  stopAllAndWait,
  useHaWorker,
  type SentinelSet,
} from '../helpers/redis-ha.js';
import { carriersOf, startWorker, testEnv, until } from '../helpers/workers.js';
import { tempDir } from '../helpers/cleanup.js';

// Masters, replicas and three Sentinels of this file's own (one set per scenario: a
// failover uses one up); reapq reaches the master only through the Sentinels.
const dir = tempDir('failover');

/** A Sentinel set with a worker and a client on it, for one describe block. */
const useSentinelSet = (hostId: string, replicas: number, extraEnv: Record<string, string> = {}) =>
  useHaWorker(() => startSentinelSet({ sentinels: 3, replicas, downAfterMs: 500, failoverTimeoutMs: 3000 }), hostId, extraEnv);

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: Error) => e,
  );

describe('Sentinel failover', () => {
  const s = useSentinelSet('h-failover', 1);

  it('a master killed in the middle of a burst: the replica is promoted, every accepted start runs once, every tree ends stopped', async () => {
    const { ha, w, c } = s;
    const marker = join(dir, 'burst');
    const workerPid = w.child.pid;
    const burst = await burstAcrossFailover(c, {
      n: 40,
      idPrefix: 's',
      marker,
      kill: () => crash(ha.master),
      promoted: async () => (await ha.masterPort()) === ha.replica.port,
    });
    // Sentinel, not a restart, brought the service back: the replica is the master now.
    expect(await ha.masterPort()).toBe(ha.replica.port);
    await expectRanOnceAndStopped(c, burst.ids, marker, w, workerPid);
    console.log(
      `sentinel failover: replica promoted ${burst.promotedMs} ms after the kill, starts refused for ${burst.refusedMs} ms, ${burst.retried} calls retried`,
    );
  }, 120_000);
});

describe('an append the master acknowledged but never replicated (no REAPQ_REDIS_WAIT_REPLICAS)', () => {
  const s = useSentinelSet('h-lossy', 1);

  it('is lost with the master: waitFor fails with NotFoundError, the worker kills the tree it ran for the vanished record, a lost stop ends as a missed exit', async () => {
    const { ha, w, c } = s;
    const marker = join(dir, 'lossy');
    for (const id of ['kept', 'stop-lost']) {
      await c.start(markedSleep(id, marker));
      await c.waitFor(id, 'running');
      await marked(marker, id);
    }
    await until(() => inSync(ha.master, ha.replica), 10_000, 'the replica to have all of it');
    const thaw = await cutReplicas(ha);
    // Acknowledged, and even run: the master and the worker know of it, no replica does.
    await c.start(markedSleep('lost', marker));
    const running = await c.waitFor('lost', 'running');
    await marked(marker, 'lost');
    expect(carriersOf('lost')).toEqual([running.pid]);
    // A stop acknowledged and carried out, whose events only the master has.
    await c.stop('stop-lost');
    await c.waitFor('stop-lost', 'stopped');
    await failOverCut(ha, thaw);
    // Its record is back at running with nothing alive: the worker records the exit it missed.
    const ended = await until(
      async () => {
        const r = await c.get('stop-lost').catch(() => null);
        return r && r.state !== 'running' ? r : null;
      },
      15_000,
      'the lost stop to be repaired',
    );
    expect(ended.state).toBe('exited');
    expect((await c.events('stop-lost')).some((e) => e.event.type === 'drift')).toBe(true);
    expect(carriersOf('stop-lost')).toEqual([]);
    // The start the producer was told succeeded never happened as far as Redis knows.
    await until(async () => (await outcome(c.get('lost'))) instanceof NotFoundError, 10_000, 'the new master to answer');
    await expect(c.waitFor('lost', 'running')).rejects.toThrow(NotFoundError);
    // No orphan: the worker's run has no record any more, so it is stopped.
    await until(() => carriersOf('lost').length === 0, 15_000, 'the tree of the vanished record to be killed');
    expect((await c.get('kept')).state).toBe('running');
    await stopAllAndWait(c, ['kept'], marker);
    expect(spawnCounts(marker)).toEqual(
      new Map([
        ['kept', 1],
        ['stop-lost', 1],
        ['lost', 1],
      ]),
    );
    expect(w.child.exitCode).toBeNull();
  }, 90_000);
});

describe('REAPQ_REDIS_WAIT_REPLICAS=1: an append counts once a replica has it', () => {
  // Two replicas: after the failover the new master still has one to confirm appends.
  const s = useSentinelSet('h-waits', 2, { REAPQ_REDIS_WAIT_REPLICAS: '1', REAPQ_REDIS_WAIT_TIMEOUT_MS: '300' });

  it('refuses a start no replica confirmed instead of acknowledging it; after the failover every accepted start is there, the refused one retried by id runs once', async () => {
    const { ha, w, c } = s;
    const marker = join(dir, 'waits');
    await c.start(markedSleep('kept', marker));
    await c.waitFor('kept', 'running');
    const thaw = await cutReplicas(ha);
    const refused = await outcome(c.start(markedSleep('retried', marker)));
    expect(refused).toBeInstanceOf(ReplicationError);
    expect((refused as Error).message).toMatch(/confirmed by 0 of the 1 replicas .* within 300 ms; a failover could lose it: retry by id/);
    const killedAt = Date.now();
    await failOverCut(ha, thaw);
    // Retried by id through the same client until accepted: a replica of the new master confirms it.
    await until(() => accepted(c.start(markedSleep('retried', marker))), 30_000, 'the retried start to be accepted');
    const refusedMs = Date.now() - killedAt;
    await c.waitFor('retried', 'running', { timeoutMs: 20_000 });
    expect((await c.get('kept')).state).toBe('running');
    await stopAllAndWait(c, ['kept', 'retried'], marker);
    expect(spawnCounts(marker)).toEqual(
      new Map([
        ['kept', 1],
        ['retried', 1],
      ]),
    );
    for (const id of ['kept', 'retried']) expect((await c.events(id)).filter((e) => e.event.type === 'spawned')).toHaveLength(1);
    expect(w.child.exitCode).toBeNull();
    expect(w.output()).not.toMatch(/unhandled rejection|uncaught|"level":60/i);
    console.log(`sentinel failover with WAIT 1: starts refused for ${refusedMs} ms after the kill`);
  }, 90_000);
});

describe('REAPQ_REDIS_WAIT_REPLICAS after a reconnect', () => {
  const prefix = randomPrefix();
  const s = {} as { ha: SentinelSet; c: ReapqClient };
  beforeAll(async () => {
    // No failover here: killing every client connection also cuts the Sentinel's for a moment.
    s.ha = await startSentinelSet({ sentinels: 1, replicas: 1, downAfterMs: 60_000 });
    // The master itself, no worker: only the producer's appends and their WAIT are at stake.
    s.c = new ReapqClient({
      redisUrl: s.ha.master.url,
      prefix,
      env: { REAPQ_REDIS_WAIT_REPLICAS: '1', REAPQ_REDIS_WAIT_TIMEOUT_MS: '300' },
    });
  }, 60_000);
  afterAll(async () => {
    process.kill(s.ha.replica.pid, 'SIGCONT');
    await s.c?.close();
    await s.ha?.stop();
  }, 30_000);

  it('refuses a retry on a new connection while the replica still lacks the record', async () => {
    const spec = (id: string) => ({ id, command: ['sleep', '1000'] });
    // Retried by id as the refusal says: on a loaded machine the replica can take more than
    // 300 ms to confirm even this first append.
    await until(() => accepted(s.c.start(spec('synced'))), 10_000, 'the first start to be confirmed');
    // Frozen, not cut: the master still counts the replica, whose acknowledged offset stops.
    process.kill(s.ha.replica.pid, 'SIGSTOP');
    expect(await outcome(s.c.start(spec('lagging')))).toBeInstanceOf(ReplicationError);
    // Every connection of the client dropped: the retry finds its record and must still
    // wait for a replica to have it, on a connection that wrote nothing yet.
    const probe = new Redis(s.ha.master.url);
    await probe.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    probe.disconnect();
    expect(await outcome(s.c.start(spec('lagging')))).toBeInstanceOf(ReplicationError);
    process.kill(s.ha.replica.pid, 'SIGCONT');
    await until(() => accepted(s.c.start(spec('lagging'))), 10_000, 'the retry to be confirmed once the replica is back');
  }, 60_000);
});

describe('REAPQ_REDIS_WAIT_REPLICAS with too few replicas', () => {
  it('makes a worker say so at boot, with the numbers', async () => {
    // The suite's own Redis has no replica.
    const w = await startWorker(testEnv(testRedisUrl(), randomPrefix(), { REAPQ_REDIS_WAIT_REPLICAS: '2' }), 'h-few-replicas');
    await until(() => /fewer replicas than REAPQ_REDIS_WAIT_REPLICAS/.test(w.output()), 10_000, 'the warning');
    expect(w.output()).toMatch(/"connectedReplicas":0,"waitReplicas":2/);
    expect(await w.stop()).toBe(0);
  });
});
