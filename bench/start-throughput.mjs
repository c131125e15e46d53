// Start throughput: N `sleep 1000` through the whole path (client.start -> queue -> worker ->
// spawn -> `running` recorded) with one worker at --concurrency 16, against a bare Node loop
// spawning the same processes detached. Goal: reapq >= 60% of bare.
import { bareSpawnMany, benchRuns, envInt, figure, now, pool, printFigure, runBench } from './lib.mjs';

const N = envInt('BENCH_N', 1000, 1);
const RUNS = benchRuns();
const CONCURRENCY = 16;

await runBench(
  'start-throughput',
  `${N} starts of \`sleep 1000\`, one worker at --concurrency ${CONCURRENCY}, vs bare detached spawns`,
  async (ctx) => {
    const bare = [];
    const reapq = [];
    const recorded = [];
    for (let run = 1; run <= RUNS; run++) {
      // Baseline: the same processes spawned by a bare loop, then killed.
      const b = await bareSpawnMany(ctx, N);
      bare.push(N / ((b.t1 - b.t0) / 1000));
      await ctx.killBare(b.kids);

      // reapq: a fresh prefix and worker per run, so every run starts from an empty host.
      const prefix = await ctx.newPrefix();
      await ctx.worker(prefix, `tp-${run}`, { args: ['--concurrency', String(CONCURRENCY)] });
      const client = await ctx.client(prefix);
      const tail = await ctx.tail(prefix);
      const t0 = now();
      // Every start issued at once (ioredis pipelines them); 256 in flight keeps memory flat.
      const recs = await pool(Array.from({ length: N }), 256, () => client.start({ command: ['sleep', '1000'] }));
      const tRecorded = now();
      const seen = await Promise.all(recs.map((r) => tail.when(r.id, 'spawned', { fail: ['spawn_failed'], timeoutMs: 60_000 + N * 100 })));
      const t1 = Math.max(...seen.map((s) => s.t));
      reapq.push(N / ((t1 - t0) / 1000));
      recorded.push(N / ((tRecorded - t0) / 1000));
      console.log(
        `  run ${run}/${RUNS}: reapq ${(N / ((t1 - t0) / 1000)).toFixed(0)} spawns/s (${(t1 - t0).toFixed(0)} ms), bare ${bare.at(-1).toFixed(0)} spawns/s`,
      );
      await ctx.retire(prefix); // stop all records, wait for stopped, SIGTERM the worker
    }
    const ratio = reapq.map((r, i) => r / bare[i]);
    const figures = [
      figure({
        id: 'spawns',
        label: 'reapq start -> running',
        unit: 'spawns/s',
        samples: reapq,
        baselines: [{ label: 'bare detached spawn', samples: bare }],
      }),
      figure({ id: 'ratio', label: 'reapq / bare', unit: 'x', samples: ratio, goal: { op: '>=', value: 0.6 }, chart: false }),
      figure({ id: 'recorded', label: 'client.start recorded (pending)', unit: 'starts/s', samples: recorded, chart: false }),
    ];
    figures.forEach(printFigure);
    return {
      env: { BENCH_N: N, BENCH_RUNS: RUNS },
      params: { N, runs: RUNS, concurrency: CONCURRENCY, command: 'sleep 1000' },
      smoke: N < 1000,
      figures,
    };
  },
);
