// CLI cold start: wall time of one `bin/reapq ls | show ID | hosts | start | stop ID`
// process, measured by hyperfine against a private Redis, beside `node -e 0` in the same
// run (the floor any Node CLI pays). Goal: read-only commands under 150 ms.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, benchRuns, cleanEnv, envInt, figure, printFigure, runBench } from './lib.mjs';

const RUNS = benchRuns();
const N = envInt('BENCH_N', 20, 3); // hyperfine runs per command per round

function hyperfine(commands, env) {
  const dir = mkdtempSync(join(tmpdir(), 'reapq-hf-'));
  const file = join(dir, 'hf.json');
  execFileSync('hyperfine', ['-N', '--warmup', '3', '--runs', String(N), '--export-json', file, ...commands], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return JSON.parse(readFileSync(file, 'utf8')).results.map((r) => r.median * 1000);
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
  figures.forEach(printFigure);
  return { env: { BENCH_RUNS: RUNS, BENCH_N: N }, params: { runs: RUNS, hyperfineRuns: N, records: 50 }, smoke: false, figures };
});
