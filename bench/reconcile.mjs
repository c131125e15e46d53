// One reconcile pass with N managed processes (each `sh -c 'sleep 1000 & sleep 1000 & wait'`,
// so 3N OS processes): wall time (the report's durationMs) and the worker's CPU time, through
// the CLI `reapq reconcile --host H --json`, several passes. Baseline: a bare synchronous scan
// of /proc/*/stat in this process. Also the worker's RSS with N managed (vs idle).
// Goal: < 150 ms per pass.
import { readdirSync, readFileSync } from 'node:fs';
import { parseStat } from '../dist/shared/proc-stat.js';
import {
  BIN,
  cleanEnv,
  cpuMsOf,
  envInt,
  figure,
  now,
  pool,
  printFigure,
  rssKbOf,
  runBench,
  sleep,
  treeOf,
  until,
  benchRuns,
} from './lib.mjs';

const N = envInt('BENCH_N', 1000, 1);
const PASSES = envInt('BENCH_PASSES', Math.max(5, benchRuns()), 1);
const HOST = 'rec';
const CMD = ['sh', '-c', 'sleep 1000 & sleep 1000 & wait'];

/** The baseline: what reading every /proc/N/stat costs, synchronously, parsed like reapq does. */
function bareScan() {
  const c0 = process.cpuUsage();
  const t0 = now();
  let n = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let s;
    try {
      s = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    if (parseStat(s)) n++;
  }
  const wall = now() - t0;
  const cpu = process.cpuUsage(c0);
  return { wall, cpu: (cpu.user + cpu.system) / 1000, n };
}

await runBench('reconcile', `one reconcile pass with ${N} managed processes (${3 * N} OS processes)`, async (ctx) => {
  const url = await ctx.redisUrl();
  const prefix = await ctx.newPrefix();
  // No scheduled passes during the measurement: only the ones the CLI asks for run.
  const w = await ctx.worker(prefix, HOST, { args: ['--concurrency', '16'], env: { REAPQ_RECONCILE_MS: '3600000' } });
  const client = await ctx.client(prefix);
  const tail = await ctx.tail(prefix);
  await sleep(1000);
  const rssIdle = rssKbOf(w.pid) / 1024;

  console.log(`  starting ${N} managed processes ...`);
  const recs = await pool(Array.from({ length: N }), 256, () => client.start({ command: CMD }));
  const spawned = await Promise.all(recs.map((r) => tail.when(r.id, 'spawned', { fail: ['spawn_failed'], timeoutMs: 120_000 + N * 200 })));
  // Every leader has its two sleeps before anything is measured.
  await until(() => spawned.every((s) => treeOf(s.event.pid).length >= 3), 60_000, 'every managed tree to be complete');
  await sleep(1000);

  const env = { ...cleanEnv(), REDIS_URL: url, REAPQ_PREFIX: prefix };
  const cliPass = () =>
    new Promise((res, rej) => {
      const c0 = cpuMsOf(w.pid);
      const t0 = now();
      const c = ctx.spawnTracked(process.execPath, [BIN, 'reconcile', '--host', HOST, '--json'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      c.once('error', rej);
      c.once('exit', (code) => {
        const wall = now() - t0;
        const cpu = cpuMsOf(w.pid) - c0;
        if (code !== 0) return rej(new Error(`reapq reconcile exited ${code}: ${err.trim()}`));
        try {
          const rep = JSON.parse(out);
          res({ rep, cliWall: wall, cpu });
        } catch (e) {
          rej(new Error(`reapq reconcile printed no JSON: ${e.message}\n${out.slice(0, 400)}`));
        }
      });
    });

  const passes = [];
  const scans = [];
  for (let i = 0; i < PASSES; i++) {
    const p = await cliPass();
    if (p.rep.records < N) throw new Error(`the pass saw ${p.rep.records} records, expected ${N}`);
    if (p.rep.actions.length || p.rep.errors.length)
      console.warn(`  warning: pass ${i + 1} acted: ${JSON.stringify(p.rep.actions.slice(0, 3))} ${p.rep.errors.join('; ')}`);
    passes.push(p);
    scans.push(bareScan());
    console.log(
      `  pass ${i + 1}/${PASSES}: ${p.rep.durationMs} ms wall, ${p.cpu.toFixed(1)} ms worker CPU, ${p.rep.processes} processes, ${p.rep.records} records (CLI round trip ${p.cliWall.toFixed(0)} ms); bare scan ${scans.at(-1).wall.toFixed(1)} ms over ${scans.at(-1).n}`,
    );
  }
  const rssManaged = rssKbOf(w.pid) / 1024;

  const figures = [
    figure({
      id: 'wall',
      label: 'reconcile pass, wall (report durationMs)',
      unit: 'ms',
      samples: passes.map((p) => p.rep.durationMs),
      goal: { op: '<', value: 150 },
      baselines: [{ label: 'bare /proc/*/stat scan, wall', samples: scans.map((s) => s.wall) }],
    }),
    figure({
      id: 'cpu',
      label: 'worker CPU during the request (pass + cluster pass + job)',
      unit: 'ms',
      samples: passes.map((p) => p.cpu),
      baselines: [{ label: 'bare /proc/*/stat scan, CPU', samples: scans.map((s) => s.cpu) }],
    }),
    figure({
      id: 'per-process',
      label: 'pass wall per process scanned',
      unit: 'us',
      samples: passes.map((p) => (p.rep.durationMs * 1000) / p.rep.processes),
      baselines: [{ label: 'bare scan per process', samples: scans.map((s) => (s.wall * 1000) / s.n) }],
    }),
    figure({
      id: 'rss',
      label: `worker RSS with ${N} managed`,
      unit: 'MiB',
      samples: [rssManaged],
      baselines: [{ label: 'worker RSS idle (0 managed)', samples: [rssIdle] }],
    }),
    figure({
      id: 'cli',
      label: 'CLI `reapq reconcile` round trip (node start included)',
      unit: 'ms',
      samples: passes.map((p) => p.cliWall),
      chart: false,
    }),
  ];
  figures.forEach(printFigure);
  return {
    env: { BENCH_N: N, BENCH_PASSES: PASSES },
    params: { N, passes: PASSES, osProcesses: 3 * N, processesScanned: passes.at(-1).rep.processes, command: CMD.join(' ') },
    smoke: N < 1000,
    figures,
  };
});
