// CLI cold start: wall time of one `bin/reapq ls | show ID | hosts | start | stop ID`
// process, measured by hyperfine against a private Redis, beside `node -e 0` in the same
// run (the floor any Node CLI pays). Goal: read-only commands under 150 ms. Then, with one
// worker up and nothing else running (an idle fleet): `start --wait` until running and
// `stop --wait` until the tree is gone, each one process timed from spawn to exit, beside
// `node -e 0` timed the same way. Goal: each under 150 ms.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, benchRuns, cleanEnv, envInt, figure, now, percentile, printFigure, runBench } from './lib.mjs';

const RUNS = benchRuns();
const N = envInt('BENCH_N', 20, 3); // hyperfine runs per command per round

function hyperfine(commands, env) {
  const dir = mkdtempSync(join(tmpdir(), 'reapq-hf-'));
  const file = join(dir, 'hf.json');
  try {
    execFileSync('hyperfine', ['-N', '--warmup', '3', '--runs', String(N), '--export-json', file, ...commands], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return JSON.parse(readFileSync(file, 'utf8')).results.map((r) => r.median * 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBench('cli-start', `cold start of bin/reapq commands (hyperfine, ${N} runs each) beside node -e 0`, async (ctx) => {
  try {
    execFileSync('hyperfine', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('hyperfine is not installed (Debian: apt-get install hyperfine)');
  }
  const prefix = await ctx.newPrefix();
  const client = await ctx.client(prefix);
  // Something to list and show: 50 records (no worker: they stay pending, which costs ls the same).
  const recs = [];
  for (let i = 0; i < 50; i++) recs.push(await client.start({ command: ['sleep', '1000'] }));
  const env = { ...cleanEnv(), REDIS_URL: await ctx.redisUrl(), REAPQ_PREFIX: prefix };
  const id = recs[0].id;
  const cmds = {
    node: 'node -e 0',
    ls: `node ${BIN} ls`,
    show: `node ${BIN} show ${id}`,
    hosts: `node ${BIN} hosts`,
    // start without --wait: records and enqueues (no worker runs it); stop of a record
    // that is already stopped after the first run still loads the queue code.
    start: `node ${BIN} start -- sleep 1000`,
    stop: `node ${BIN} stop ${recs[1].id}`,
  };
  const names = Object.keys(cmds);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let run = 1; run <= RUNS; run++) {
    const ms = hyperfine(
      names.map((n) => cmds[n]),
      env,
    );
    names.forEach((n, i) => samples[n].push(ms[i]));
    console.log(`  run ${run}/${RUNS}: ${names.map((n, i) => `${n} ${ms[i].toFixed(0)} ms`).join(', ')}`);
  }
  const base = [{ label: 'node -e 0', samples: samples.node }];
  const figures = [
    figure({ id: 'ls', label: '`reapq ls` (50 records)', unit: 'ms', samples: samples.ls, baselines: base, goal: { op: '<', value: 150 } }),
    figure({ id: 'show', label: '`reapq show ID`', unit: 'ms', samples: samples.show, baselines: base, goal: { op: '<', value: 150 } }),
    figure({ id: 'hosts', label: '`reapq hosts`', unit: 'ms', samples: samples.hosts, baselines: base, goal: { op: '<', value: 150 } }),
    figure({ id: 'start', label: '`reapq start -- sleep 1000` (no --wait)', unit: 'ms', samples: samples.start, baselines: base }),
    figure({ id: 'stop', label: '`reapq stop ID`', unit: 'ms', samples: samples.stop, baselines: base }),
  ];
  figures.push(...(await waitCommands(ctx, env, prefix)));
  figures.forEach(printFigure);
  return { env: { BENCH_RUNS: RUNS, BENCH_N: N }, params: { runs: RUNS, hyperfineRuns: N, records: 50 }, smoke: false, figures };
});

/** Wall time of one process, spawn to exit, and its stdout. */
function timed(args, env) {
  return new Promise((res, rej) => {
    const t0 = now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', rej);
    child.once('exit', (code) =>
      code === 0 ? res({ ms: now() - t0, out: out.trim() }) : rej(new Error(`${args.join(' ')}: exit ${code}`)),
    );
  });
}

/** start --wait and stop --wait of one process at a time on an idle worker; N each per run, the median per run. */
async function waitCommands(ctx, env, prefix) {
  await ctx.worker(prefix, 'cli-wait');
  const samples = { node: [], start: [], stop: [] };
  for (let run = 1; run <= RUNS; run++) {
    const ms = { node: [], start: [], stop: [] };
    for (let i = 0; i < N + 3; i++) {
      const node = await timed(['-e', '0'], env);
      const start = await timed([BIN, 'start', '--wait', '--', 'sleep', '1000'], env);
      const id = start.out.split(/\s+/)[0];
      const stop = await timed([BIN, 'stop', '--wait', id], env);
      if (i < 3) continue; // warm-ups, as hyperfine's
      ms.node.push(node.ms);
      ms.start.push(start.ms);
      ms.stop.push(stop.ms);
    }
    for (const k of Object.keys(ms)) samples[k].push(percentile(ms[k], 0.5));
    console.log(
      `  run ${run}/${RUNS} (idle worker): start --wait ${samples.start.at(-1).toFixed(0)} ms, stop --wait ${samples.stop.at(-1).toFixed(0)} ms, node -e 0 ${samples.node.at(-1).toFixed(0)} ms`,
    );
  }
  const base = [{ label: 'node -e 0 (spawn to exit)', samples: samples.node }];
  return [
    figure({
      id: 'start-wait',
      label: '`reapq start --wait -- sleep 1000` (idle worker)',
      unit: 'ms',
      samples: samples.start,
      baselines: base,
      goal: { op: '<', value: 150 },
    }),
    figure({
      id: 'stop-wait',
      label: '`reapq stop --wait ID` (idle worker)',
      unit: 'ms',
      samples: samples.stop,
      baselines: base,
      goal: { op: '<', value: 150 },
    }),
  ];
}
