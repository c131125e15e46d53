import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { FINAL_STATES } from '../../src/shared/record.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { stopRecords } from '../helpers/client.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, FIXTURES, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

// Replay a failure with REAPQ_FAULT_SEED=<seed printed in the test name>.
const SEED = Number(process.env.REAPQ_FAULT_SEED ?? 20261127);
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const prefix = randomPrefix();
const env = testEnv(testRedisUrl(), prefix);
let c: ReapqClient;
let w: TestWorker | null = null;
beforeAll(() => {
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
});
afterAll(async () => {
  // Whatever happened above, nothing may outlive the file: a worker stops every record first.
  w ??= await startWorker(env, 'h-chaos');
  await stopRecords(c, 200, (r) => carriersOf(r.id).length > 0);
  await c.close();
  await w.stop();
}, 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Process groups among a record's cookie-carriers: each fixture is one group, two means it ran twice. */
function groups(id: string): number {
  const pgids = new Set<number>();
  for (const pid of carriersOf(id)) {
    const pgid = proc.stat(pid)?.pgid; // undefined: gone meanwhile
    if (pgid !== undefined) pgids.add(pgid);
  }
  return pgids.size;
}

/** Every record agrees with the process table: live ones have one tree, final ones none. */
async function consistent(): Promise<string[]> {
  const problems: string[] = [];
  for (const r of await c.list()) {
    const alive = carriersOf(r.id).length;
    if (FINAL_STATES.has(r.state) && alive > 0) problems.push(`${r.id} ${r.state} but ${alive} alive`);
    if (groups(r.id) > 1) problems.push(`${r.id} runs twice: ${groups(r.id)} process groups`);
    if (r.state === 'pending' || r.state === 'starting' || r.state === 'stopping') problems.push(`${r.id} still ${r.state}`);
  }
  return problems;
}

describe(`workers killed at random points (seed ${SEED})`, () => {
  it('recovers to records that match the process table, with nothing orphaned or doubled', async () => {
    const rand = rng(SEED);
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      w = await startWorker(env, 'h-chaos');
      for (let i = 0; i < 5; i++) {
        const script = rand() < 0.5 ? 'tree.sh' : 'ignores-term.sh';
        ids.push((await c.start({ command: [join(FIXTURES, script)], graceMs: 300 + Math.floor(rand() * 700) })).id);
      }
      await sleep(Math.floor(rand() * 150)); // somewhere between spawn and `spawned`, or later
      await w.kill();
      w = await startWorker(env, 'h-chaos');
      const live = (await c.list()).filter((r) => r.desired === 'running' && !FINAL_STATES.has(r.state));
      for (const r of live) if (rand() < 0.5) await c.stop(r.id);
      await sleep(Math.floor(rand() * 400)); // mid-stop: between SIGTERM and SIGKILL
      await w.kill();
      w = null;
    }
    w = await startWorker(env, 'h-chaos');
    // Recovery settles every record: starts that were in flight run or fail, stops finish.
    await until(async () => (await consistent()).length === 0, 20_000, 'records consistent').catch(async () => {
      throw new Error(`seed ${SEED}: ${(await consistent()).join('; ')}`);
    });
    for (const r of await c.list()) if (!FINAL_STATES.has(r.state)) await c.stop(r.id, { graceMs: 300 });
    for (const id of ids) await c.waitFor(id, ['stopped', 'exited', 'failed', 'lost'], { timeoutMs: 15_000 });
    for (const id of ids) expect(carriersOf(id), id).toEqual([]);
    expect(await w.stop()).toBe(0);
    w = null;
    // Seven worker boots and the recovery waits: past the default 30 s on a loaded two-core machine.
  }, 90_000);
});
