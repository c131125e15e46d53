// The scaling load test (a correctness check under load, not a latency figure): two workers,
// each in a PID namespace of its own (unshare --pid --fork --mount-proc, a stand-in for two
// hosts), N starts issued at once, then, once all run, N stops issued at once. Every record
// must end `stopped` and no process may carry the cookie. Reports wall time, starts/s,
// stops/s and how the starts spread over the hosts; baseline: N bare spawns, then kills.
import { bareSpawnMany, benchRuns, envInt, figure, now, NS, pool, printFigure, runBench, scanEnv } from './lib.mjs';

const N = envInt('BENCH_N', 500, 1);
const RUNS = benchRuns();
const HOSTS = ['load-a', 'load-b'];

await runBench('load', `${N} starts then ${N} stops issued concurrently over 2 workers in PID namespaces`, async (ctx) => {
  const walls = [];
  const startRates = [];
  const stopRates = [];
  const bareSpawn = [];
  const bareKill = [];
  const distributions = [];
  for (let run = 1; run <= RUNS; run++) {
    const b = await bareSpawnMany(ctx, N);
    bareSpawn.push(N / ((b.t1 - b.t0) / 1000));
    const k0 = now();
    await ctx.killBare(b.kids);
    bareKill.push(N / ((now() - k0) / 1000));

    const prefix = await ctx.newPrefix();
    for (const h of HOSTS) await ctx.worker(prefix, `${h}-${run}`, { args: ['--concurrency', '16'], wrap: NS });
    const client = await ctx.client(prefix);
    const tail = await ctx.tail(prefix);
    const timeoutMs = 60_000 + N * 200;

    const t0 = now();
    const recs = await pool(Array.from({ length: N }), N, () => client.start({ command: ['sleep', '1000'] }));
    const running = await Promise.all(recs.map((r) => tail.when(r.id, 'spawned', { fail: ['spawn_failed'], timeoutMs })));
    const tRunning = Math.max(...running.map((s) => s.t));
    const dist = {};
    for (const s of running) dist[s.event.host] = (dist[s.event.host] ?? 0) + 1;

    const t2 = now();
    await pool(recs, N, (r) => client.stop(r.id));
    const stopped = await Promise.all(recs.map((r) => tail.when(r.id, 'stopped', { fail: ['lost', 'failed'], timeoutMs })));
    const t3 = Math.max(...stopped.map((s) => s.t));

    // The check of the issue: every record stopped, no cookie carrier in the process table.
    const all = await client.list();
    const notStopped = all.filter((r) => r.state !== 'stopped');
    const carriers = scanEnv((e) => e.startsWith(`REAPQ_OWNER=${prefix}/`));
    if (all.length !== N || notStopped.length || carriers.length) {
      throw new Error(
        `run ${run}: ${all.length}/${N} records, ${notStopped.length} not stopped (${notStopped
          .slice(0, 3)
          .map((r) => `${r.id}:${r.state}`)
          .join(' ')}), ${carriers.length} carriers alive (${carriers
          .slice(0, 5)
          .map((c) => c.pid)
          .join(' ')})`,
      );
    }
    walls.push((t3 - t0) / 1000);
    startRates.push(N / ((tRunning - t0) / 1000));
    stopRates.push(N / ((t3 - t2) / 1000));
    distributions.push(dist);
    console.log(
      `  run ${run}/${RUNS}: ${((t3 - t0) / 1000).toFixed(2)} s wall, ${startRates.at(-1).toFixed(0)} starts/s, ${stopRates.at(-1).toFixed(0)} stops/s, per host ${JSON.stringify(dist)}; all ${N} stopped, 0 carriers`,
    );
    await ctx.retire(prefix);
  }
  const figures = [
    figure({
      id: 'starts',
      label: `${N} concurrent starts -> all running`,
      unit: 'starts/s',
      samples: startRates,
      baselines: [{ label: 'bare detached spawn', unit: 'spawns/s', samples: bareSpawn }],
    }),
    figure({
      id: 'stops',
      label: `${N} concurrent stops -> all stopped`,
      unit: 'stops/s',
      samples: stopRates,
      baselines: [{ label: 'bare SIGTERM -> exit', unit: 'kills/s', samples: bareKill }],
    }),
    figure({ id: 'wall', label: `wall, first start to last stopped`, unit: 's', samples: walls, chart: false }),
  ];
  figures.forEach(printFigure);
  console.log(`  per-host distribution: ${distributions.map((d) => JSON.stringify(d)).join(' ')}`);
  return {
    env: { BENCH_N: N, BENCH_RUNS: RUNS },
    params: { N, runs: RUNS, hosts: 2, workerConcurrency: 16, command: 'sleep 1000' },
    smoke: N < 500,
    figures,
    extra: { distribution: distributions, check: `every run: ${N}/${N} records stopped, 0 cookie carriers left` },
  };
});
