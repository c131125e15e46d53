// The backend-shaped workload: a web backend issues N starts at once through one
// ReapqClient and awaits each with waitFor(id, 'running'), against one worker with default
// flags. Timed from the first start() to the last waitFor() resolving. Baseline in the same
// run: a bare loop spawning the same N `sleep 1000` detached, until every 'spawn' event.
// The client has made one start before the clock starts, as a backend that has served has.
// Goal: reapq >= 75% of the bare loop's rate at N=200. CPU per round of every process
// (this client, the worker, its forkers, Redis) is reported to show where the time goes.
import { bareSpawnMany, benchRuns, childrenOf, cpuMsOf, envInts, figure, now, printFigure, procStat, runBench } from './lib.mjs';
import { internalsOf } from '../dist/producer/client.js';

const SIZES = envInts('BENCH_SIZES', [200, 1000], 1);
// Worker concurrencies measured at the first size beside the default (to tune the default).
const ALSO = envInts('BENCH_ALSO_CONCURRENCY', [32], 1);
// Forker counts measured at the first size beside the default (one forker is the old worker).
const ALSO_FORKERS = envInts('BENCH_ALSO_FORKERS', [1], 1);
const RUNS = benchRuns();

await runBench(
  'backend',
  `N starts at once through one client, each awaited with waitFor(running), one worker with default flags (N = ${SIZES.join(', ')})`,
  async (ctx) => {
    const figures = [];
    const cpu = {};
    const plans = [
      ...SIZES.map((N) => ({ N, args: [] })),
      ...ALSO.map((c) => ({ N: SIZES[0], args: ['--concurrency', String(c)] })),
      ...ALSO_FORKERS.map((f) => ({ N: SIZES[0], args: ['--forkers', String(f)] })),
    ];
    for (const { N, args } of plans) {
      const tag = args.length ? ` ${args.join(' ')}` : '';
      const idTag = args.length ? `-${args[0] === '--forkers' ? 'f' : 'c'}${args[1]}` : '';
      const bare = [];
      const reapq = [];
      const rows = [];
      for (let run = 1; run <= RUNS; run++) {
        const b = await bareSpawnMany(ctx, N);
        bare.push(N / ((b.t1 - b.t0) / 1000));
        await ctx.killBare(b.kids);

        const prefix = await ctx.newPrefix();
        const w = await ctx.worker(prefix, `be-${N}-${run}`, { args });
        const client = await ctx.client(prefix);
        // A backend that has served before: connected, and BullMQ loaded by an earlier start
        // (about 100-200 ms once per process, which the first round alone would otherwise pay).
        const warm = await client.start({ command: ['sleep', '1000'] });
        await client.waitFor(warm.id, 'running', { timeoutMs: 30_000 });
        const forkers = childrenOf(w.pid).filter((p) => procStat(p)?.comm === 'node');
        const forkerMs = () => forkers.reduce((sum, p) => sum + cpuMsOf(p), 0);
        const redisPid = ctx.redis.pid;
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
        rows.push(row);
        if (recs.some((r) => r.state !== 'running')) throw new Error('a start did not reach running');
        reapq.push(N / ((t1 - t0) / 1000));
        console.log(
          `  N=${N}${tag} run ${run}/${RUNS}: reapq ${(N / ((t1 - t0) / 1000)).toFixed(0)} starts/s (${(t1 - t0).toFixed(0)} ms), bare ${bare.at(-1).toFixed(0)} spawns/s; CPU ms client ${row.clientMs}, worker ${row.workerMs}, forkers ${row.forkerMs}, redis ${row.redisMs}; ${row.redisCommandsPerStart} Redis commands per start`,
        );
        await ctx.retire(prefix);
      }
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
