// A 100 MB log flood: one process writes 100 MB of 100-byte lines as fast as a pipe goes,
// then one last line. Measured: time from the flood's start (state running) until that
// last line is visible through client.logs() (what `reapq logs` prints), the worker's peak
// RSS while it ships (sampled every 50 ms) beside its idle RSS, and the bytes left on disk
// (the log file and its .1). Baseline in the same run: the same writer into a plain file,
// timed until it exits (how fast the output is produced at all).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchRuns, envInt, figure, now, printFigure, rssKbOf, runBench, sleep } from './lib.mjs';

const MB = envInt('BENCH_MB', 100, 1);
const RUNS = benchRuns();
// fold leaves the last line without its newline: the echo ends it, so LAST-LINE is a line of its own.
const flood = (out) => `{ head -c ${MB * 1000 * 1000} /dev/zero | tr '\\0' x | fold -w 99; echo; echo LAST-LINE; }${out}`;

await runBench(
  'log-flood',
  `${MB} MB written to a process's output as fast as possible: last line visible, worker RSS, bytes on disk`,
  async (ctx) => {
    const visible = [];
    const writer = [];
    const peak = [];
    const idle = [];
    const disk = [];
    for (let run = 1; run <= RUNS; run++) {
      const dir = mkdtempSync(join(tmpdir(), 'reapq-flood-'));
      const t0 = now();
      execFileSync('sh', ['-c', flood(` > ${join(dir, 'out')}`)]);
      writer.push((now() - t0) / 1000);
      rmSync(dir, { recursive: true, force: true });

      const prefix = await ctx.newPrefix();
      const w = await ctx.worker(prefix, `flood-${run}`);
      const client = await ctx.client(prefix);
      await sleep(500);
      idle.push(rssKbOf(w.pid) / 1024);
      let max = 0;
      const sampler = setInterval(() => {
        max = Math.max(max, rssKbOf(w.pid) / 1024);
      }, 50);
      const rec = await client.start({ command: ['sh', '-c', `${flood('')}; exec sleep 1000`] });
      await client.waitFor(rec.id, 'running');
      const t1 = now();
      for (;;) {
        if ((await client.logs(rec.id, 1))[0] === 'LAST-LINE') break;
        if (now() - t1 > 600_000) throw new Error('last line not visible after 10 minutes');
        await sleep(20);
      }
      visible.push((now() - t1) / 1000);
      clearInterval(sampler);
      peak.push(max);
      const logs = join(ctx.tmpdirs.at(-1), 'logs', `${rec.id}.log`); // the worker's REAPQ_DATA_DIR
      const size = (f) => {
        try {
          return statSync(f).size;
        } catch {
          return 0;
        }
      };
      await sleep(600); // one more pump: rotation follows the file's size
      disk.push((size(logs) + size(`${logs}.1`)) / (1024 * 1024));
      console.log(
        `  run ${run}/${RUNS}: last line visible after ${visible.at(-1).toFixed(2)} s (writer alone ${writer.at(-1).toFixed(2)} s), worker RSS ${idle.at(-1).toFixed(0)} -> peak ${max.toFixed(0)} MiB, on disk ${disk.at(-1).toFixed(1)} MiB`,
      );
      await ctx.retire(prefix);
    }
    const figures = [
      figure({
        id: 'visible',
        label: `${MB} MB flood: last line visible in logs`,
        unit: 's',
        samples: visible,
        baselines: [{ label: 'the writer alone, into a file', samples: writer }],
      }),
      figure({
        id: 'rss',
        label: 'worker peak RSS while shipping',
        unit: 'MiB',
        samples: peak,
        baselines: [{ label: 'the same worker idle', samples: idle }],
      }),
      figure({
        id: 'disk',
        label: 'bytes on disk afterwards (log + .1)',
        unit: 'MiB',
        samples: disk,
        chart: false,
        goal: { op: '<=', value: 32 },
      }),
    ];
    figures.forEach(printFigure);
    return {
      env: { BENCH_MB: MB, BENCH_RUNS: RUNS },
      params: { mb: MB, runs: RUNS, logMaxBytes: '16 MiB (default)' },
      smoke: MB < 100,
      figures,
    };
  },
);
