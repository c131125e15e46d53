// Reconcile cost as history grows: one worker with 1,000 live `sleep 1000` and 0, then 10k,
// then 100k finished records of its host (written through the real append script: a spawn
// that failed, so each is in the host's index and not in its live index). Per level, the
// wall time of the regular pass (the report's durationMs; it reads the live index), of the
// sweep (one pass in ten: also what ended lately), of the full pass (the boot pass and an
// operator's: every finished record too) and of the fleet pass (the job's wall time beyond
// its reconcile pass). Passes are asked for as reconcile jobs on the host's queue; no
// scheduled pass runs meanwhile. Goal: every pass but the full one flat as history grows.
import { Job, Queue } from 'bullmq';
import { benchRuns, envInts, figure, now, percentile, pool, printFigure, runBench, SLEEP_SPEC } from './lib.mjs';
import { internalsOf } from '../dist/producer/client.js';

const HISTORY = envInts('BENCH_HISTORY', [0, 10_000, 100_000], 0);
const LIVE = 1000;
const PASSES = 20; // regular jobs per level: two of them are sweeps
const RUNS = benchRuns();
const HOST = 'rh';

async function seedFinished(client, from, to) {
  const { store } = internalsOf(client);
  await pool(
    Array.from({ length: to - from }, (_, i) => from + i),
    200,
    async (i) => {
      const id = `old-${i}`;
      const run = `r${i}`;
      await store.transact(id, () => [{ type: 'start_requested', spec: SLEEP_SPEC }], null);
      await store.transact(id, () => [{ type: 'spawn_begun', host: HOST, port: null, run }]);
      await store.transact(id, () => [{ type: 'spawn_failed', host: HOST, run, error: 'bench history' }]);
    },
  );
}

/** One reconcile job on the host's queue; its report and the job's wall time (polled every 2 ms). */
async function pass(queue, full) {
  const t0 = now();
  const job = await queue.add('reconcile', { full }, { removeOnComplete: { age: 60 }, removeOnFail: 10 });
  for (;;) {
    const j = await Job.fromId(queue, job.id);
    if (j?.finishedOn) {
      if (j.failedReason) throw new Error(`reconcile failed: ${j.failedReason}`);
      return { report: j.returnvalue, wall: now() - t0 };
    }
    if (now() - t0 > 120_000) throw new Error('no reconcile report within 120 s');
    await new Promise((r) => setTimeout(r, 2));
  }
}

await runBench(
  'reconcile-history',
  `reconcile passes with ${LIVE} live and ${HISTORY.join(' / ')} finished records on the host`,
  async (ctx) => {
    const regular = Object.fromEntries(HISTORY.map((h) => [h, []]));
    const sweep = Object.fromEntries(HISTORY.map((h) => [h, []]));
    const full = Object.fromEntries(HISTORY.map((h) => [h, []]));
    const fleet = Object.fromEntries(HISTORY.map((h) => [h, []]));
    for (let run = 1; run <= RUNS; run++) {
      const prefix = await ctx.newPrefix();
      await ctx.worker(prefix, HOST, { env: { REAPQ_RECONCILE_MS: '3600000' } });
      const client = await ctx.client(prefix);
      const { keys, connection } = internalsOf(client);
      const queue = new Queue(keys.hostQueue(HOST), { connection, prefix: keys.bullPrefix });
      const live = await pool(Array.from({ length: LIVE }), 100, () => client.start({ command: ['sleep', '1000'], host: HOST }));
      await pool(live, 100, (r) => client.waitFor(r.id, 'running', { timeoutMs: 120_000 }));
      let have = 0;
      for (const h of HISTORY) {
        await seedFinished(client, have, h);
        have = h;
        // The seeded ends out of the sweeps' 10 s overlap, as history is in a fleet; then a
        // full pass, so the prune and compaction the fleet pass does once a minute are out
        // of the way before the fleet pass is timed.
        await new Promise((r) => setTimeout(r, 11_000));
        await pass(queue, true);
        const reg = [];
        const sw = [];
        for (let i = 0; i < PASSES; i++) {
          const p = await pass(queue, false);
          (p.report.finishedSince ? sw : reg).push(p.report.durationMs);
          if (p.report.records < LIVE) throw new Error(`a pass saw ${p.report.records} records, expected ${LIVE} or more`);
        }
        const fl = [];
        const fu = [];
        for (let i = 0; i < 3; i++) {
          const p = await pass(queue, true);
          fu.push(p.report.durationMs);
          fl.push(p.wall - p.report.durationMs);
        }
        regular[h].push(percentile(reg, 0.5));
        sweep[h].push(percentile(sw, 0.5));
        full[h].push(percentile(fu, 0.5));
        fleet[h].push(percentile(fl, 0.5));
        console.log(
          `  run ${run}/${RUNS}, ${h} finished: regular pass ${regular[h].at(-1)} ms, sweep ${sweep[h].at(-1)} ms, full pass ${full[h].at(-1)} ms, fleet pass + job ${fleet[h].at(-1).toFixed(1)} ms`,
        );
      }
      await queue.close();
      await ctx.retire(prefix);
    }
    const figures = HISTORY.flatMap((h) => [
      figure({
        id: `regular-${h}`,
        label: `${h} finished: regular reconcile pass (live index)`,
        unit: 'ms',
        samples: regular[h],
        baselines: [{ label: 'full pass (boot, operator: every finished record)', samples: full[h] }],
      }),
      figure({
        id: `sweep-${h}`,
        label: `${h} finished: sweep (one pass in ten: live + ended lately)`,
        unit: 'ms',
        samples: sweep[h],
        chart: false,
      }),
      figure({ id: `fleet-${h}`, label: `${h} finished: fleet pass + job overhead`, unit: 'ms', samples: fleet[h], chart: false }),
    ]);
    figures.forEach(printFigure);
    return {
      env: { BENCH_HISTORY: HISTORY.join(','), BENCH_RUNS: RUNS },
      params: { live: LIVE, history: HISTORY, passes: PASSES, runs: RUNS },
      smoke: RUNS < 3,
      figures,
    };
  },
);
