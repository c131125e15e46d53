// Containment cost: start throughput and stop latency of one worker in cgroup mode beside
// one in process mode and a bare spawn loop, in the same run (modes interleaved per run so
// machine drift hits all alike). Start: N `sleep 1000` through the whole path (client.start
// -> queue -> worker -> spawn -> `spawned` recorded) at --concurrency 16. Stop: S sequential
// stop() -> `stopped` of test/fixtures/tree.sh (4 processes), against a bare kill(-pgid).
// Goals (issue 13, then 25): cgroup start throughput within 10% of process mode; stop p50 < 10 ms in both modes.
import { join } from 'node:path';
import { linuxProcessTable } from '../dist/worker/proc/table.js';
import { Reaper } from '../dist/worker/reaper.js';
import {
  bareSpawnMany,
  benchRuns,
  envInt,
  figure,
  FIXTURES,
  isAlive,
  now,
  percentile,
  pool,
  printFigure,
  runBench,
  treeOf,
  until,
} from './lib.mjs';

const N = envInt('BENCH_N', 500, 1);
const S = envInt('BENCH_STOPS', 50, 1);
const RUNS = benchRuns();
const CONCURRENCY = 16;
const TREE = join(FIXTURES, 'tree.sh');
const TREE_SIZE = 4;
const MODES = ['process', 'cgroup'];

await runBench(
  'containment',
  `cgroup vs process mode: ${N} starts (--concurrency ${CONCURRENCY}) and ${S} stops of tree.sh, vs bare`,
  async (ctx) => {
    const reaper = new Reaper(linuxProcessTable, process.pid, ctx.own);
    reaper.becomeSubreaper();
    ctx.reaper = reaper;
    const tput = { bare: [], process: [], cgroup: [] };
    const stop50 = { bare: [], process: [], cgroup: [] };
    const stop99 = { bare: [], process: [], cgroup: [] };

    const bareStop = async () => {
      const leader = ctx.spawnBare(TREE, [], { detached: true });
      await new Promise((res, rej) => {
        leader.once('spawn', res);
        leader.once('error', rej);
      });
      const pids = await until(() => (treeOf(leader.pid).length >= TREE_SIZE ? treeOf(leader.pid) : null), 5000, 'bare tree');
      const t0 = now();
      process.kill(-leader.pid, 'SIGTERM');
      while (pids.some(isAlive)) await new Promise((r) => setImmediate(r));
      const dt = now() - t0;
      await leader.exited;
      reaper.sweep();
      return dt;
    };

    for (let run = 1; run <= RUNS; run++) {
      const b = await bareSpawnMany(ctx, N);
      tput.bare.push(N / ((b.t1 - b.t0) / 1000));
      await ctx.killBare(b.kids);
      const bs = [];
      for (let i = 0; i < S; i++) bs.push(await bareStop());
      stop50.bare.push(percentile(bs, 0.5));
      stop99.bare.push(percentile(bs, 0.99));
      for (const mode of run % 2 ? MODES : [...MODES].reverse()) {
        const prefix = await ctx.newPrefix();
        const w = await ctx.worker(prefix, `ct-${mode}-${run}`, { args: ['--concurrency', String(CONCURRENCY), '--containment', mode] });
        if (!w.out.includes(`"mode":"${mode}"`)) throw new Error(`worker is not in ${mode} mode:\n${w.out.slice(-2000)}`);
        const client = await ctx.client(prefix);
        const tail = await ctx.tail(prefix);
        const t0 = now();
        const recs = await pool(Array.from({ length: N }), 256, () => client.start({ command: ['sleep', '1000'] }));
        const seen = await Promise.all(
          recs.map((r) => tail.when(r.id, 'spawned', { fail: ['spawn_failed'], timeoutMs: 60_000 + N * 100 })),
        );
        const t1 = Math.max(...seen.map((s) => s.t));
        tput[mode].push(N / ((t1 - t0) / 1000));
        // Stops one at a time, beside the N sleeps still running (the host is not empty).
        const st = [];
        for (let i = 0; i < S + 1; i++) {
          const rec = await client.start({ command: [TREE] });
          const sp = await tail.when(rec.id, 'spawned', { fail: ['spawn_failed'], timeoutMs: 30_000 });
          await until(() => treeOf(sp.event.pid).length >= TREE_SIZE, 5000, 'managed tree');
          const s0 = now();
          await client.stop(rec.id);
          const done = await tail.when(rec.id, 'stopped', { fail: ['lost', 'failed'], timeoutMs: 30_000 });
          if (i > 0) st.push(done.t - s0); // the first is a warm-up
        }
        stop50[mode].push(percentile(st, 0.5));
        stop99[mode].push(percentile(st, 0.99));
        console.log(
          `  run ${run}/${RUNS} ${mode}: ${tput[mode].at(-1).toFixed(0)} spawns/s, stop p50 ${stop50[mode].at(-1).toFixed(2)} ms p99 ${stop99[mode].at(-1).toFixed(2)} ms (bare ${tput.bare.at(-1).toFixed(0)} spawns/s, kill p50 ${stop50.bare.at(-1).toFixed(2)} ms)`,
        );
        await ctx.retire(prefix);
      }
    }
    const ratio = tput.cgroup.map((v, i) => v / tput.process[i]);
    const figures = [
      figure({
        id: 'spawns-cgroup',
        label: 'cgroup mode start -> spawned',
        unit: 'spawns/s',
        samples: tput.cgroup,
        baselines: [
          { label: 'process mode', samples: tput.process },
          { label: 'bare detached spawn', samples: tput.bare },
        ],
      }),
      figure({
        id: 'ratio',
        label: 'cgroup / process mode start throughput',
        unit: 'x',
        samples: ratio,
        goal: { op: '>=', value: 0.9 },
        chart: false,
      }),
      figure({
        id: 'stop-p50-cgroup',
        label: 'cgroup mode stop() -> stopped, p50',
        unit: 'ms',
        samples: stop50.cgroup,
        goal: { op: '<', value: 10 },
        baselines: [
          { label: 'process mode, p50', samples: stop50.process },
          { label: 'bare kill(-pgid) -> tree gone, p50', samples: stop50.bare },
        ],
      }),
      figure({
        id: 'stop-p50-process',
        label: 'process mode stop() -> stopped, p50',
        unit: 'ms',
        samples: stop50.process,
        goal: { op: '<', value: 10 },
        chart: false,
      }),
      figure({
        id: 'stop-p99-cgroup',
        label: 'cgroup mode stop() -> stopped, p99',
        unit: 'ms',
        samples: stop99.cgroup,
        baselines: [
          { label: 'process mode, p99', samples: stop99.process },
          { label: 'bare kill(-pgid), p99', samples: stop99.bare },
        ],
      }),
    ];
    figures.forEach(printFigure);
    return {
      env: { BENCH_N: N, BENCH_STOPS: S, BENCH_RUNS: RUNS },
      params: { N, stops: S, runs: RUNS, concurrency: CONCURRENCY, command: 'sleep 1000', tree: 'test/fixtures/tree.sh (4 processes)' },
      smoke: N < 500,
      figures,
    };
  },
);
