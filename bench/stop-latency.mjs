// Stop latency: from client.stop() to `stopped` recorded, for a tree that honours SIGTERM
// (test/fixtures/tree.sh: leader, child, grandchild), p50/p99, with a few levels of unrelated
// `sleep` processes on the host (default 100 and 3000). Baseline: a bare kill(-pgid, SIGTERM)
// of the same tree until its processes are gone. Goal: p50 < 50 ms, and not growing much with
// unrelated processes.
import { join } from 'node:path';
import { linuxProcessTable } from '../dist/worker/proc/table.js';
import { Reaper } from '../dist/worker/reaper.js';
import { benchRuns, envInt, envInts, figure, FIXTURES, isAlive, now, percentile, printFigure, runBench, treeOf, until } from './lib.mjs';

const N = envInt('BENCH_N', 100, 1);
const RUNS = benchRuns();
const BG = envInts('BENCH_BG', [100, 3000], 0);
const TREE = join(FIXTURES, 'tree.sh');
const TREE_SIZE = 4; // sh leader, sleep, sh -c, its sleep

await runBench('stop-latency', `stop() -> stopped of tree.sh, p50/p99, with ${BG.join(' / ')} unrelated processes`, async (ctx) => {
  // The bare baseline orphans the tree's children when its leader dies first. As a subreaper
  // the bench inherits and reaps them (init on this kind of host may not reap).
  const reaper = new Reaper(linuxProcessTable, process.pid, ctx.own);
  const subreaper = reaper.becomeSubreaper();
  ctx.reaper = reaper;
  if (!subreaper) console.warn('  warning: could not become a child subreaper (koffi); orphans of the bare baseline go to init');

  const prefix = await ctx.newPrefix();
  await ctx.worker(prefix, 'stop');
  const client = await ctx.client(prefix);
  const tail = await ctx.tail(prefix);

  const bareOnce = async () => {
    const leader = ctx.spawnBare(TREE, [], { detached: true });
    await new Promise((res, rej) => {
      leader.once('spawn', res);
      leader.once('error', rej);
    });
    const pids = await until(
      () => {
        const t = treeOf(leader.pid);
        return t.length >= TREE_SIZE ? t : null;
      },
      5000,
      'bare tree to be complete',
    );
    const t0 = now();
    process.kill(-leader.pid, 'SIGTERM');
    while (pids.some(isAlive)) await new Promise((r) => setImmediate(r));
    const dt = now() - t0;
    await leader.exited;
    reaper.sweep();
    return dt;
  };
  const reapqOnce = async () => {
    const rec = await client.start({ command: [TREE] });
    const sp = await tail.when(rec.id, 'spawned', { fail: ['spawn_failed'], timeoutMs: 30_000 });
    await until(() => treeOf(sp.event.pid).length >= TREE_SIZE, 5000, 'managed tree to be complete');
    const t0 = now();
    await client.stop(rec.id);
    const t1 = now();
    const st = await tail.when(rec.id, 'stopped', { fail: ['lost', 'failed'], timeoutMs: 30_000 });
    return { total: st.t - t0, call: t1 - t0 };
  };

  const figures = [];
  const byLevel = [];
  for (const bg of BG) {
    // Unrelated background load, spawned by the bench and killed afterwards.
    const kids = [];
    for (let i = 0; i < bg; i++) kids.push(ctx.spawnBare('sleep', ['1000']));
    await Promise.all(
      kids.map(
        (c) =>
          new Promise((res, rej) => {
            c.once('spawn', res);
            c.once('error', rej);
          }),
      ),
    );
    const lv = { bg, p50: [], p99: [], bare50: [], bare99: [], call50: [] };
    try {
      await reapqOnce(); // warm-up
      await bareOnce();
      for (let run = 1; run <= RUNS; run++) {
        const r = [];
        const b = [];
        for (let i = 0; i < N; i++) r.push(await reapqOnce());
        for (let i = 0; i < N; i++) b.push(await bareOnce());
        const totals = r.map((x) => x.total);
        lv.p50.push(percentile(totals, 0.5));
        lv.p99.push(percentile(totals, 0.99));
        lv.call50.push(
          percentile(
            r.map((x) => x.call),
            0.5,
          ),
        );
        lv.bare50.push(percentile(b, 0.5));
        lv.bare99.push(percentile(b, 0.99));
        console.log(
          `  ${bg} bg, run ${run}/${RUNS}: stop->stopped p50 ${lv.p50.at(-1).toFixed(2)} ms p99 ${lv.p99.at(-1).toFixed(2)} ms; bare kill p50 ${lv.bare50.at(-1).toFixed(2)} ms p99 ${lv.bare99.at(-1).toFixed(2)} ms`,
        );
      }
    } finally {
      await ctx.killBare(kids);
    }
    byLevel.push(lv);
    figures.push(
      figure({
        id: `p50-${bg}`,
        label: `stop() -> stopped, p50, ${bg} unrelated`,
        unit: 'ms',
        samples: lv.p50,
        goal: { op: '<', value: 50 },
        baselines: [{ label: `bare kill(-pgid) -> tree gone, p50, ${bg} unrelated`, samples: lv.bare50 }],
      }),
      figure({
        id: `p99-${bg}`,
        label: `stop() -> stopped, p99, ${bg} unrelated`,
        unit: 'ms',
        samples: lv.p99,
        baselines: [{ label: `bare kill(-pgid) -> tree gone, p99, ${bg} unrelated`, samples: lv.bare99 }],
      }),
    );
  }
  if (byLevel.length >= 2) {
    const lo = byLevel[0];
    const hi = byLevel.at(-1);
    figures.push(
      figure({
        id: 'growth',
        label: `p50 growth ${lo.bg} -> ${hi.bg} unrelated (reapq)`,
        unit: 'x',
        chart: false,
        samples: hi.p50.map((v, i) => v / lo.p50[i]),
        baselines: [{ label: 'bare', samples: hi.bare50.map((v, i) => v / lo.bare50[i]) }],
      }),
    );
  }
  figures.push(
    figure({
      id: 'call',
      label: `client.stop() call (stop_requested recorded), p50, ${byLevel[0].bg} unrelated`,
      unit: 'ms',
      samples: byLevel[0].call50,
      chart: false,
    }),
  );
  figures.forEach(printFigure);
  return {
    env: { BENCH_N: N, BENCH_RUNS: RUNS, BENCH_BG: BG.join(',') },
    params: { N, runs: RUNS, background: BG, tree: 'test/fixtures/tree.sh (4 processes)', subreaper },
    smoke: N < 100 || Math.max(...BG) < 3000,
    figures,
  };
});
