// The backend-shaped workload: a web backend issues N starts at once through one
// ReapqClient and awaits each with waitFor(id, 'running'), against one worker with default
// flags. Timed from the first start() to the last waitFor() resolving. Baseline in the same
// run: a bare loop spawning the same N `sleep 1000` detached, until every 'spawn' event.
// The client and the worker have served a burst before the one timed (see below).
// Goals: reapq >= 0.9x the bare loop's rate at N=200 (>= 0.7x for the first burst of a
// fresh client and worker), >= 0.85x at N=1000. CPU per round of every process (this client,
// the worker, its forkers, Redis) is reported to show where the time goes, and the Redis
// commands of each burst by command (INFO commandstats, reset before the starts and again
// before the stops): goals <= 35 per start to running, <= 70 per start and stop.
// BENCH_CPU_PROF=DIR: the workers and their forkers run with --cpu-prof into DIR (a
// .cpuprofile each, written when they exit); run this process with --cpu-prof for the client.
import { Redis } from 'ioredis';
import {
  bareSpawnMany,
  benchRuns,
  childrenOf,
  commandStats,
  cpuMsOf,
  envInts,
  figure,
  now,
  perUnit,
  printFigure,
  procStat,
  resetStats,
  runBench,
} from './lib.mjs';

const SIZES = envInts('BENCH_SIZES', [200, 1000], 1);
const none = (name) => process.env[name] === 'none';
// Worker concurrencies measured at the first size beside the default (to tune the default).
const ALSO = none('BENCH_ALSO_CONCURRENCY') ? [] : envInts('BENCH_ALSO_CONCURRENCY', [64, 128], 1);
// Forker counts measured at the first size beside the default (one is the worker before pools).
const ALSO_FORKERS = none('BENCH_ALSO_FORKERS') ? [] : envInts('BENCH_ALSO_FORKERS', [1], 1);
const RUNS = benchRuns();
const PROF = process.env.BENCH_CPU_PROF;
const GOALS = { warm: 0.9, first: 0.7, big: 0.85, cmdsStart: 35, cmdsStartStop: 70 };

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
    // Commands per start (to running) and per start and stop, at the first size with defaults.
    const cmds = { start: [], startStop: [] };
    // The meter's own connection: RESETSTAT and INFO only, on the bench's private Redis.
    const meter = new Redis(await ctx.redisUrl(), { maxRetriesPerRequest: null });
    for (const { N, args, benchWarmUp } of plans) {
      const tag = args.length ? ` ${args.join(' ')}` : '';
      const idTag = args.length ? `-${args[0] === '--forkers' ? 'f' : 'c'}${args[1]}` : '';
      const bare = [];
      const reapq = [];
      const rows = [];
      const prefix = await ctx.newPrefix();
      const nodeArgs = PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [];
      const w = await ctx.worker(prefix, `be-${N}${idTag}`, { args, nodeArgs });
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
        await resetStats(meter);
        const t0 = now();
        const recs = await Promise.all(
          Array.from({ length: N }, () =>
            client.start({ command: ['sleep', '1000'] }).then((r) => client.waitFor(r.id, 'running', { timeoutMs: 120_000 })),
          ),
        );
        const t1 = now();
        const started = await commandStats(meter);
        const c = process.cpuUsage(before.client);
        const row = {
          clientMs: Math.round((c.user + c.system) / 1000),
          workerMs: Math.round(cpuMsOf(w.pid) - before.worker),
          forkerMs: Math.round(forkerMs() - before.forker),
          redisMs: Math.round(cpuMsOf(redisPid) - before.redis),
          redisCommandsPerStart: Math.round(perUnit(started, N).total * 10) / 10,
        };
        if (recs.some((r) => r.state !== 'running')) throw new Error('a start did not reach running');
        const rate = N / ((t1 - t0) / 1000);
        const what = benchWarmUp ? 'bench warm-up (dropped)' : run === 0 ? 'first burst of the worker (dropped)' : `run ${run}/${RUNS}`;
        console.log(
          `  N=${N}${tag} ${what}: reapq ${rate.toFixed(0)} starts/s (${(t1 - t0).toFixed(0)} ms), bare ${bareRate.toFixed(0)} spawns/s; CPU ms client ${row.clientMs}, worker ${row.workerMs}, forkers ${row.forkerMs}, redis ${row.redisMs}; ${row.redisCommandsPerStart} Redis commands per start`,
        );
        // The next burst starts on an empty host, as this one did.
        await resetStats(meter);
        await Promise.all(recs.map((r) => client.stop(r.id, { graceMs: 2000 })));
        await Promise.all(recs.map((r) => client.waitFor(r.id, 'stopped', { timeoutMs: 120_000 })));
        const stopped = await commandStats(meter);
        if (benchWarmUp) continue;
        if (run > 0 && !tag && N === SIZES[0]) {
          const both = { ...started };
          for (const [c, k] of Object.entries(stopped)) both[c] = (both[c] ?? 0) + k;
          cmds.start.push(perUnit(started, N));
          cmds.startStop.push(perUnit(both, N));
          console.log(`    ${perUnit(both, N).total.toFixed(1)} Redis commands per start and stop`);
        }
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
          ...(!tag && N === 200 ? { goal: { op: '>=', value: GOALS.warm } } : {}),
          ...(!tag && N === 1000 ? { goal: { op: '>=', value: GOALS.big } } : {}),
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
        ...(SIZES[0] === 200 ? { goal: { op: '>=', value: GOALS.first } } : {}),
      }),
      figure({
        id: 'commands-start',
        label: `N=${SIZES[0]}: Redis commands per start, start() -> running (INFO commandstats, inside scripts included)`,
        unit: 'commands',
        samples: cmds.start.map((c) => c.total),
        chart: false,
        goal: { op: '<=', value: GOALS.cmdsStart },
      }),
      figure({
        id: 'commands-start-stop',
        label: `N=${SIZES[0]}: Redis commands per start and stop, start() -> running -> stop() -> stopped`,
        unit: 'commands',
        samples: cmds.startStop.map((c) => c.total),
        chart: false,
        goal: { op: '<=', value: GOALS.cmdsStartStop },
      }),
    );
    meter.disconnect();
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
      extra: { cpu, note, commands: commandTable(cmds) },
    };
  },
);

/** Per command, the median over runs of calls per start and per start and stop, most first. */
function commandTable(cmds) {
  const names = new Set(cmds.startStop.flatMap((c) => Object.keys(c.by)));
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor((s.length - 1) / 2)] : 0;
  };
  return [...names]
    .map((c) => ({
      command: c,
      start: median(cmds.start.map((x) => x.by[c] ?? 0)),
      startStop: median(cmds.startStop.map((x) => x.by[c] ?? 0)),
    }))
    .sort((a, b) => b.startStop - a.startStop || a.command.localeCompare(b.command));
}
