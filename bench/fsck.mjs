// fsck at scale: N finished records (default 100,000: a start, a spawn and its failure
// each, written through the real append script) on a private Redis, no worker. Timed:
// `admin.fsck()` over a store that agrees (read everything, fold every record, compare),
// the same through `reapq fsck --json` (a CLI process), then `admin.fsck({ repair: true })`
// with 1% of the projections planted wrong (each rewritten in its own fenced script, then
// the counts recounted), and the recount alone: the one script that holds Redis for the
// whole store.
import { execFileSync } from 'node:child_process';
import { BIN, benchRuns, cleanEnv, envInt, figure, now, percentile, pool, printFigure, runBench, SLEEP_SPEC } from './lib.mjs';
import { internalsOf } from '../dist/producer/client.js';

const N = envInt('BENCH_FSCK_RECORDS', 100_000, 100);
const RUNS = benchRuns();
const HOST = 'fh';

async function seed(client) {
  const { store } = internalsOf(client);
  await pool(
    Array.from({ length: N }, (_, i) => i),
    200,
    async (i) => {
      const run = `r${i}`;
      // Two appends: the run a spawn_failed is about must be the record's current one already.
      const { record } = await store.transact(`f-${i}`, () => [
        { type: 'start_requested', spec: SLEEP_SPEC },
        { type: 'spawn_begun', host: HOST, port: null, run },
      ]);
      await store.transact(`f-${i}`, () => [{ type: 'spawn_failed', host: HOST, run, error: 'bench fsck' }], record);
    },
  );
}

await runBench('fsck', `fsck of ${N} records`, async (ctx) => {
  const check = [];
  const cli = [];
  const repair = [];
  const recount = [];
  for (let run = 1; run <= RUNS; run++) {
    const prefix = await ctx.newPrefix();
    const client = await ctx.client(prefix);
    const { keys, connection, store } = internalsOf(client);
    const t0 = now();
    await seed(client);
    console.log(`  run ${run}/${RUNS}: seeded ${N} records in ${Math.round(now() - t0)} ms`);
    await store.counts();
    const clean = await client.admin.fsck();
    if (clean.problems.length !== 0 || clean.records !== N)
      throw new Error(`fsck of a clean store: ${JSON.stringify(clean).slice(0, 300)}`);
    check.push(clean.durationMs);
    const env = { ...cleanEnv(), REDIS_URL: await ctx.redisUrl(), REAPQ_PREFIX: prefix };
    const c0 = now();
    const out = JSON.parse(execFileSync(process.execPath, [BIN, 'fsck', '--json'], { env, encoding: 'utf8', maxBuffer: 1 << 26 }));
    cli.push(now() - c0);
    if (out.problems.length !== 0) throw new Error('reapq fsck found problems in a clean store');
    const planted = Math.floor(N / 100);
    for (let i = 0; i < planted; i++) {
      const id = `f-${i * 100}`;
      const rec = JSON.parse(await connection.hget(keys.record(id), 'r'));
      await connection.hset(keys.record(id), 'r', JSON.stringify({ ...rec, state: 'stopped' }));
    }
    const fixed = await client.admin.fsck({ repair: true });
    if (fixed.repaired.length !== planted) throw new Error(`repaired ${fixed.repaired.length} of ${planted}`);
    repair.push(fixed.durationMs);
    const after = await client.admin.fsck();
    if (after.problems.length !== 0) throw new Error(`problems after repair: ${after.problems.slice(0, 3).map((p) => p.what)}`);
    const r0 = now();
    await connection.del(keys.countsBuilt);
    await store.counts();
    recount.push(now() - r0);
    console.log(
      `  run ${run}/${RUNS}: check ${check.at(-1)} ms, CLI ${Math.round(cli.at(-1))} ms, repair of ${planted} ${repair.at(-1)} ms, recount ${Math.round(recount.at(-1))} ms`,
    );
    await ctx.retire(prefix);
  }
  const figures = [
    figure({ id: 'check', label: `admin.fsck() over ${N} records that agree`, unit: 'ms', samples: check }),
    figure({ id: 'cli', label: `reapq fsck --json over ${N} records (process wall time)`, unit: 'ms', samples: cli, chart: false }),
    figure({ id: 'repair', label: `fsck --repair with ${N / 100} projections wrong`, unit: 'ms', samples: repair, chart: false }),
    figure({ id: 'recount', label: `counts recount (one script, Redis busy throughout)`, unit: 'ms', samples: recount, chart: false }),
  ];
  figures.forEach(printFigure);
  return {
    env: { BENCH_FSCK_RECORDS: N, BENCH_RUNS: RUNS },
    params: { records: N, runs: RUNS, median: percentile(check, 0.5) },
    smoke: RUNS < 3 || N < 100_000,
    figures,
  };
});
