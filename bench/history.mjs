// Costs that must not grow with history: with 1,000 live (pending) records and 0, 10k and
// 100k finished ones, the time of `client.listPage({ limit: 100 })` (what `reapq ls`
// reads), of the dashboard's first load (the newest 50 and the counts), of
// `store.counts()` (what /metrics reads) and of one /metrics-style count of the live records, beside `client.list()` (every record: what they read before)
// in the same run. Records are written through the real append script.
import { benchRuns, envInts, figure, now, percentile, pool, printFigure, runBench, SLEEP_SPEC } from './lib.mjs';
import { internalsOf } from '../dist/producer/client.js';

const HISTORY = envInts('BENCH_HISTORY', [0, 10_000, 100_000], 0);
const LIVE = 1000;
const REPEAT = 20;
const RUNS = benchRuns();

async function seed(client, n, finished, tag) {
  await pool(
    Array.from({ length: n }, (_, i) => i),
    200,
    async (i) => {
      const id = `${tag}-${i}`;
      await internalsOf(client).store.transact(id, () => [{ type: 'start_requested', spec: SLEEP_SPEC }], null);
      if (finished) await internalsOf(client).store.transact(id, () => [{ type: 'stop_requested', signal: 'SIGTERM', graceMs: 1000 }]);
    },
  );
}

async function median(fn) {
  const xs = [];
  for (let i = 0; i < REPEAT; i++) {
    const t0 = now();
    await fn();
    xs.push(now() - t0);
  }
  return percentile(xs, 0.5);
}

await runBench('history', `ls first page and metrics counts with ${LIVE} live and ${HISTORY.join(' / ')} finished records`, async (ctx) => {
  const page = {};
  const counts = {};
  const all = {};
  const dash = {};
  for (const h of HISTORY) {
    page[h] = [];
    counts[h] = [];
    all[h] = [];
    dash[h] = [];
  }
  for (let run = 1; run <= RUNS; run++) {
    const prefix = await ctx.newPrefix();
    const client = await ctx.client(prefix);
    let have = 0;
    for (const h of HISTORY) {
      // History first (oldest), then the live records on top, as a fleet accumulates it.
      await seed(client, h - have, true, `f${h}`);
      have = h;
      if (h === HISTORY[0]) await seed(client, LIVE, false, 'live');
      page[h].push(await median(() => client.listPage({ limit: 100 })));
      counts[h].push(await median(() => internalsOf(client).store.counts()));
      all[h].push(await median(() => client.list()));
      // What the dashboard's first load reads: the newest page and the counts by state.
      dash[h].push(await median(() => Promise.all([client.listPage({ limit: 50, order: 'newest' }), client.admin.counts()])));
      console.log(
        `  run ${run}/${RUNS}, ${h} finished: listPage ${page[h].at(-1).toFixed(2)} ms, counts ${counts[h].at(-1).toFixed(2)} ms, dashboard ${dash[h].at(-1).toFixed(2)} ms, list() ${all[h].at(-1).toFixed(1)} ms`,
      );
    }
    // Nothing runs: drop the client's records without a worker.
    await internalsOf(client).connection.eval(
      "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1",
      0,
      `{${prefix}}:*`,
    );
    ctx.prefixes.get(prefix).retired = true;
    await client.close();
    ctx.prefixes.get(prefix).client = null;
  }
  const figures = HISTORY.flatMap((h) => [
    figure({
      id: `page-${h}`,
      label: `${h} finished: listPage(limit 100)`,
      unit: 'ms',
      samples: page[h],
      baselines: [{ label: 'list() of every record', samples: all[h] }],
    }),
    figure({ id: `counts-${h}`, label: `${h} finished: counts (metrics)`, unit: 'ms', samples: counts[h], chart: false }),
    figure({
      id: `dashboard-${h}`,
      label: `${h} finished: dashboard first load (newest 50 + counts)`,
      unit: 'ms',
      samples: dash[h],
      chart: false,
      baselines: [{ label: 'list() of every record (the dashboard before)', samples: all[h] }],
    }),
  ]);
  figures.forEach(printFigure);
  return {
    env: { BENCH_HISTORY: HISTORY.join(','), BENCH_RUNS: RUNS },
    params: { live: LIVE, history: HISTORY, repeat: REPEAT, runs: RUNS },
    smoke: RUNS < 3,
    figures,
  };
});
