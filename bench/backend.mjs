// The backend-shaped workload: a web backend issues N starts at once through one
// ReapqClient and awaits each with waitFor(id, 'running'), against one worker with default
// flags. Timed from the first start() to the last waitFor() resolving. Baseline in the same
// run: a bare loop spawning the same N `sleep 1000` detached, until every 'spawn' event.
// The client and the worker have served a burst before the one timed (see below).
// Goal: reapq >= 75% of the bare loop's rate at N=200. CPU per round of every process
// (this client, the worker, its forkers, Redis) is reported to show where the time goes.
import { bareSpawnMany, benchRuns, childrenOf, cpuMsOf, envInts, figure, now, printFigure, procStat, runBench } from './lib.mjs';
import { internalsOf } from '../dist/producer/client.js';

const SIZES = envInts('BENCH_SIZES', [200, 1000], 1);
// Worker concurrencies measured at the first size beside the default (to tune the default).
const ALSO = envInts('BENCH_ALSO_CONCURRENCY', [64, 128], 1);
// Forker counts measured at the first size beside the default (one is the worker before pools).
const ALSO_FORKERS = envInts('BENCH_ALSO_FORKERS', [1], 1);
const RUNS = benchRuns();

await runBench(
  'backend',
  `N starts at once through one client, each awaited with waitFor(running), one worker with default flags (N = ${SIZES.join(', ')})`,
  async (ctx) => {
    const figures = [];
    const cpu = {};
    // A backend and a worker that have served before: each plan's worker first takes one
    // burst of N (dropped, but reported: "first burst"), and the whole bench starts with a
    // dropped burst of 1,000, so the JIT of this process (client and child_process code) is
    // warm. Cold, the client took 3-4x the CPU per start and whichever plan ran first
    // measured lowest.
    const plans = [
      { N: Math.max(...SIZES), args: [], benchWarmUp: true },
      ...SIZES.map((N) => ({ N, args: [] })),
      ...ALSO.map((c) => ({ N: SIZES[0], args: ['--concurrency', String(c)] })),
      ...ALSO_FORKERS.map((f) => ({ N: SIZES[0], args: ['--forkers', String(f)] })),
    ];
    const firstBurst = [];
    for (const { N, args, benchWarmUp } of plans) {
      const tag = args.length ? ` ${args.join(' ')}` : '';
      const idTag = args.length ? `-${args[0] === '--forkers' ? 'f' : 'c'}${args[1]}` : '';
      const bare = [];
      const reapq = [];
      const rows = [];
      const prefix = await ctx.newPrefix();
      const w = await ctx.worker(prefix, `be-${N}${idTag}`, { args });
      const client = await ctx.client(prefix);
      const forkers = childrenOf(w.pid).filter((p) => procStat(p)?.comm === 'node');
      const forkerMs = () => forkers.reduce((sum, p) => sum + cpuMsOf(p), 0);
      const redisPid = ctx.redis.pid;
      for (let run = 0; run <= (benchWarmUp ? 0 : RUNS); run++) {
        const b = await bareSpawnMany(ctx, N);
        const bareRate = N / ((b.t1 - b.t0) / 1000);
        await ctx.killBare(b.kids);
        const before = {
          client: process.cpuUsage(),
          worker: cpuMsOf(w.pid),
          forker: forkerMs(),
          redis: cpuMsOf(redisPid),
        };
        const cmdsBefore = await commandCount(client);
        const t0 = now();
        const recs = await Promise.all(
          Array.from({ length: N }, () =>
            client.start({ command: ['sleep', '1000'] }).then((r) => client.waitFor(r.id, 'running', { timeoutMs: 120_000 })),
          ),
        );
        const t1 = now();
        const cmds = (await commandCount(client)) - cmdsBefore - 1;
        const c = process.cpuUsage(before.client);
        const row = {
          clientMs: Math.round((c.user + c.system) / 1000),
          workerMs: Math.round(cpuMsOf(w.pid) - before.worker),
          forkerMs: Math.round(forkerMs() - before.forker),
          redisMs: Math.round(cpuMsOf(redisPid) - before.redis),
          redisCommandsPerStart: Math.round((cmds / N) * 10) / 10,
        };
        if (recs.some((r) => r.state !== 'running')) throw new Error('a start did not reach running');
        const rate = N / ((t1 - t0) / 1000);
        const what = benchWarmUp ? 'bench warm-up (dropped)' : run === 0 ? 'first burst of the worker (dropped)' : `run ${run}/${RUNS}`;
        console.log(
          `  N=${N}${tag} ${what}: reapq ${rate.toFixed(0)} starts/s (${(t1 - t0).toFixed(0)} ms), bare ${bareRate.toFixed(0)} spawns/s; CPU ms client ${row.clientMs}, worker ${row.workerMs}, forkers ${row.forkerMs}, redis ${row.redisMs}; ${row.redisCommandsPerStart} Redis commands per start`,
        );
        // The next burst starts on an empty host, as this one did.
        await Promise.all(recs.map((r) => client.stop(r.id, { graceMs: 2000 })));
        await Promise.all(recs.map((r) => client.waitFor(r.id, 'stopped', { timeoutMs: 120_000 })));
        if (benchWarmUp) continue;
        if (run === 0) {
          if (!tag && N === SIZES[0]) firstBurst.push(rate / bareRate);
          continue;
        }
        bare.push(bareRate);
        reapq.push(rate);
        rows.push(row);
      }
      await ctx.retire(prefix);
      if (benchWarmUp) continue;
      const ratio = reapq.map((r, i) => r / bare[i]);
      figures.push(
        figure({
          id: `rate-${N}${idTag}`,
          label: `N=${N}${tag}: start -> waitFor(running)`,
          unit: 'starts/s',
          samples: reapq,
          baselines: [{ label: 'bare detached spawn loop', samples: bare }],
        }),
        figure({
          id: `ratio-${N}${idTag}`,
          label: `N=${N}${tag}: reapq / bare`,
          unit: 'x',
          samples: ratio,
          chart: false,
          ...(N === 200 && !tag ? { goal: { op: '>=', value: 0.75 } } : {}),
        }),
      );
      cpu[`${N}${tag}`] = rows;
    }
    figures.push(
      figure({
        id: `ratio-${SIZES[0]}-first-burst`,
        label: `N=${SIZES[0]}: the first burst of a fresh worker, reapq / bare`,
        unit: 'x',
        samples: firstBurst,
        chart: false,
      }),
    );
    figures.forEach(printFigure);
    const note = Object.entries(cpu)
      .map(
        ([n, rows]) =>
          `N=${n}, CPU ms per round (client / worker / forkers / Redis) and Redis commands per start: ${rows.map((r) => `${r.clientMs} / ${r.workerMs} / ${r.forkerMs} / ${r.redisMs}, ${r.redisCommandsPerStart}`).join('; ')}.`,
      )
      .join(' ');
    return {
      env: {
        BENCH_SIZES: SIZES.join(','),
        BENCH_ALSO_CONCURRENCY: ALSO.join(','),
        BENCH_ALSO_FORKERS: ALSO_FORKERS.join(','),
        BENCH_RUNS: RUNS,
      },
      params: {
        sizes: SIZES,
        runs: RUNS,
        worker: `defaults; also --concurrency ${ALSO.join(',')} and --forkers ${ALSO_FORKERS.join(',')} at N=${SIZES[0]}`,
        command: 'sleep 1000',
      },
      smoke: RUNS < 3,
      figures,
      extra: { cpu, note },
    };
  },
);

/** Commands Redis has processed in total (INFO stats), to count round trips per start. */
async function commandCount(client) {
  const info = await internalsOf(client).connection.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? NaN);
}
