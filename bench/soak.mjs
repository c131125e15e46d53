// Soak (`npm run soak`): two workers, thousands of start/stop cycles of trees that fork and
// leave orphans or escape their group, with workers SIGKILLed at random and restarted. At
// the end: every record final, zero leaked processes and zero zombies (runBench's leak
// check), and the workers' memory sampled over the run to show whether it stays flat.
import { join } from 'node:path';
import { envInt, FIXTURES, now, rssKbOf, runBench, sleep } from './lib.mjs';

const CYCLES = envInt('SOAK_CYCLES', 2000, 1);
const SLOTS = envInt('SOAK_SLOTS', 16, 1);
const KILL_EVERY_MS = envInt('SOAK_KILL_EVERY_MS', 15_000, 1000);
const SEED = envInt('SOAK_SEED', 7, 0);
const TREES = [
  [join(FIXTURES, 'tree.sh')],
  [join(FIXTURES, 'orphan-spawner.sh'), '5'],
  [join(FIXTURES, 'escapes-group.sh')],
  [join(FIXTURES, 'ignores-term.sh')],
];

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

await runBench('soak', `${CYCLES} start/stop cycles over 2 workers with random worker kills`, async (ctx) => {
  const rand = rng(SEED);
  const prefix = await ctx.newPrefix();
  const env = { REAPQ_RECONCILE_MS: '1000', REAPQ_STALLED_MS: '1000', REAPQ_HEARTBEAT_MS: '1000' };
  const hosts = ['soak-a', 'soak-b'];
  const workers = new Map();
  for (const h of hosts) workers.set(h, await ctx.worker(prefix, h, { env, args: ['--concurrency', '8'] }));
  const client = await ctx.client(prefix);
  await ctx.tail(prefix);
  const rss = Object.fromEntries(hosts.map((h) => [h, []]));
  let done = 0;
  let failures = 0;
  let kills = 0;
  const t0 = now();
  let stopping = false;

  const sampler = setInterval(() => {
    for (const [h, w] of workers) {
      try {
        const kb = rssKbOf(w.pid);
        if (kb) rss[h].push(Math.round(kb / 1024));
      } catch {
        // killed between the lookup and the read
      }
    }
  }, 5000);
  const killer = (async () => {
    while (!stopping) {
      await sleep(KILL_EVERY_MS * (0.5 + rand()));
      if (stopping) break;
      const h = hosts[Math.floor(rand() * hosts.length)];
      const w = workers.get(h);
      w.child.kill('SIGKILL');
      await w.child.exited;
      kills++;
      workers.set(h, await ctx.worker(prefix, h, { env, args: ['--concurrency', '8'] }));
    }
  })();

  const slot = async () => {
    while (done + failures < CYCLES) {
      const cmd = TREES[Math.floor(rand() * TREES.length)];
      try {
        const rec = await client.start({ command: cmd, graceMs: 500 });
        await client.waitFor(rec.id, 'running', { timeoutMs: 60_000 });
        await sleep(rand() * 200);
        await client.stop(rec.id);
        await client.waitFor(rec.id, ['stopped', 'exited', 'failed', 'lost'], { timeoutMs: 60_000 });
        done++;
      } catch (err) {
        failures++;
        console.error(`  cycle failed: ${err.message}`);
      }
      if ((done + failures) % 200 === 0)
        console.log(`  ${done + failures}/${CYCLES} cycles, ${kills} worker kills, ${Math.round((now() - t0) / 1000)} s`);
    }
  };
  await Promise.all(Array.from({ length: SLOTS }, slot));
  stopping = true;
  await killer;
  clearInterval(sampler);
  const seconds = (now() - t0) / 1000;
  const memory = Object.fromEntries(
    hosts.map((h) => [h, { first: rss[h][0] ?? null, last: rss[h].at(-1) ?? null, max: Math.max(0, ...rss[h]) }]),
  );
  console.log(`  ${done} cycles in ${seconds.toFixed(1)} s (${(done / seconds).toFixed(1)}/s), ${failures} failed, ${kills} worker kills`);
  console.log(`  worker RSS MiB (first/last/max sample since its last restart): ${JSON.stringify(memory)}`);
  if (failures > 0) throw new Error(`${failures} cycles failed`);
  return {
    params: { CYCLES, SLOTS, KILL_EVERY_MS, SEED },
    env: { SOAK_CYCLES: CYCLES },
    figures: [],
    extra: {
      cycles: done,
      seconds: Math.round(seconds),
      cyclesPerSecond: Math.round((done / seconds) * 10) / 10,
      kills,
      rssMiB: rss,
      memory,
    },
  };
});
