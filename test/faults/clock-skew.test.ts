import { afterEach, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import type { HostInfo } from '../../src/shared/hosts.js';
import { stopRecords } from '../helpers/client.js';
import { skewedClockEnv } from '../helpers/faketime.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, cli, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

/**
 * Hosts whose wall clocks disagree by an hour (libfaketime, Debian's `faketime`): liveness
 * is judged on Redis' clock, so neither side declares the other lost, while a worker that
 * really died beside them is still declared lost within the usual time.
 */

const HEARTBEAT_MS = 500;
const TTL_MS = HEARTBEAT_MS * 3;

const clients: ReapqClient[] = [];
const workers: TestWorker[] = [];
afterEach(async () => {
  // Processes stopped while their workers run, then the workers: nothing outlives the test.
  for (const c of clients.splice(0)) {
    await stopRecords(c, 300);
    await c.close();
  }
  for (const w of workers.splice(0)) if (w.child.exitCode === null && w.child.signalCode === null) expect(await w.stop()).toBe(0);
});

describe.each([
  ['+1h', 'ahead', 3_600_000],
  ['-1h', 'behind', -3_600_000],
])('a worker with its clock %s beside honest ones', (faketime, way, offsetMs) => {
  it('neither side loses or kills the other; hosts shows both alive and the skew; a worker killed beside them is lost in the usual time', async () => {
    const prefix = randomPrefix();
    const env = testEnv(testRedisUrl(), prefix, { REAPQ_HEARTBEAT_MS: String(HEARTBEAT_MS) });
    const skewedEnv = { ...env, ...skewedClockEnv(faketime) };
    const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
    clients.push(c);
    const honest = await startWorker(env, 'h-honest');
    const skewed = await startWorker(skewedEnv, 'h-skewed');
    workers.push(honest, skewed);
    const doomed = await startWorker(env, 'h-doomed');

    const start = async (host: string) => (await c.start({ command: ['sleep', '1000'], host, restart: 'never' })).id;
    const kept = [await start('h-honest'), await start('h-honest'), await start('h-skewed'), await start('h-skewed')];
    const dies = await start('h-doomed');
    for (const id of [...kept, dies]) await c.waitFor(id, 'running', { timeoutMs: 10_000 });
    const pids = new Map(kept.map((id) => [id, carriersOf(id)]));

    // A worker dead for real: its host is declared lost by the fleet pass, on Redis' clock.
    const killedAt = performance.now();
    await doomed.kill();
    const lost = await c.waitFor(dies, 'lost', { timeoutMs: 15_000 });
    const lostAfterMs = performance.now() - killedAt;
    console.log(`clock ${faketime}: the killed worker's process lost ${Math.round(lostAfterMs)} ms after the kill (ttl ${TTL_MS} ms)`);
    // Lost once its beat was older than the ttl on Redis' clock, which the reason gives in seconds.
    const agoS = Number(/h-doomed stopped sending heartbeats (\d+)s ago/.exec(lost.error ?? '')?.[1]);
    expect(agoS, lost.error ?? 'no error').toBeGreaterThanOrEqual(TTL_MS / 1000);

    // Several more ttls of passes (each reconcile job tries the fleet pass too) on both sides
    // of the hour, counted by the workers' own heartbeats.
    const passes = async () => new Map((await c.hosts()).map((h) => [h.hostId, h.counters.reconcilePasses ?? 0]));
    const before = await passes();
    const enough = 4 * (TTL_MS / 500);
    await until(
      async () => {
        const now = await passes();
        return ['h-honest', 'h-skewed'].every((h) => (now.get(h) ?? 0) - (before.get(h) ?? 0) >= enough);
      },
      20_000,
      `${enough} more reconcile passes on each live worker`,
    );
    for (const id of kept) {
      const r = await c.get(id);
      expect(r.state, `${id} on ${r.host}`).toBe('running');
      expect((await c.events(id)).map((e) => e.event.type)).not.toContain('lost');
      expect(carriersOf(id), `${id}'s process untouched`).toEqual(pids.get(id));
    }

    const hosts = JSON.parse((await cli(env, ['hosts', '--json'])).stdout) as HostInfo[];
    const byId = new Map(hosts.map((h) => [h.hostId, h]));
    expect(byId.get('h-honest')?.alive).toBe(true);
    expect(byId.get('h-skewed')?.alive).toBe(true);
    expect(byId.get('h-doomed')?.alive).toBe(false);
    expect(Math.abs(byId.get('h-honest')!.clockOffsetMs!)).toBeLessThan(1000);
    expect(Math.abs(byId.get('h-skewed')!.clockOffsetMs! - offsetMs)).toBeLessThan(5000);
    const table = (await cli(env, ['hosts'])).stdout;
    expect(table).toMatch(new RegExp(`h-skewed\\s.*\\s1h ${way}\\s`));
    expect(table).toMatch(/h-honest\s.*\sok\s/);
    expect(table).toContain("clock: h-skewed is off Redis' clock");
    // The skewed worker said so once at boot, and kept working.
    const warnings = skewed
      .output()
      .split('\n')
      .filter((l) => l.includes(`s ${way === 'ahead' ? 'ahead of' : 'behind'} Redis'`));
    expect(warnings).toHaveLength(1);
    expect(honest.output()).not.toContain('clock is');
  }, 60_000);
});
