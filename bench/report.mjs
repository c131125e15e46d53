// Regenerates BENCHMARKS.md and bench/charts/*.svg from bench/results/*.json.
// `node bench/report.mjs` does only this (no bench is run).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fmt, machine, RESULTS_DIR, ROOT } from './lib.mjs';
import { barChart } from './svg.mjs';

export const BENCHES = [
  {
    name: 'backend',
    heading: 'Backend-shaped workload',
    what:
      "What a web backend does: N `client.start({ command: ['sleep', '1000'] })` issued at once through one " +
      "`ReapqClient`, each awaited with `client.waitFor(id, 'running')`, against one worker with default flags. " +
      'Timed from the first `start()` to the last `waitFor()` resolving. Baseline in the same run: a bare Node loop ' +
      "spawning the same N `sleep 1000` detached, until every `'spawn'` event. Each plan (the defaults at each size, " +
      'then other `--concurrency` and `--forkers` at the first) gets a fresh prefix and worker; its first burst is ' +
      'dropped (reported as "the first burst of a fresh worker"), and the bench begins with a dropped burst of the ' +
      "largest size, so this process's JIT is warm as a backend's that has served is (cold, the client took 3-4x the " +
      'CPU per start). Every burst is stopped before the next. Plans run in order, and later ones tend to measure ' +
      'higher (the client keeps warming), so compare plans with care. CPU per round of each process (this client, ' +
      'the worker, its forkers, Redis) and the Redis commands per start are in the note. Redis commands are counted ' +
      "by Redis itself on the bench's own redis-server: `CONFIG RESETSTAT` before the starts of a burst, `INFO " +
      'commandstats` once every `waitFor(running)` resolved, again before the stops and once every `waitFor(stopped)` ' +
      "resolved (the meter's own INFO and CONFIG left out). commandstats counts what Lua scripts run inside under each " +
      "command's name, and whatever the worker does meanwhile (heartbeats, passes) is in the count too.",
    goal:
      'reapq >= 0.9x the bare loop at N=200 (>= 0.7x for the first burst of a fresh client and worker), >= 0.85x at ' +
      'N=1000; <= 35 Redis commands per start to running, <= 70 per start and stop',
  },
  {
    name: 'connections',
    heading: 'Connections with many waiters',
    what:
      '1,000 concurrent `waitFor` on one client (this process), then 500 SSE clients of one `reapq api` process, ' +
      "each on its own process's event stream. Connections counted with `CLIENT LIST` on the bench's private " +
      "Redis (its own admin connection excluded); the api's RSS with the 500 streams open. Baselines: the same " +
      'client and api with nothing waiting, same run.',
    goal: 'at most 3 Redis connections each',
  },
  {
    name: 'log-flood',
    heading: '100 MB log flood',
    what:
      'One managed process writes 100 MB of 100-byte lines as fast as a pipe goes (`head -c | tr | fold`), then ' +
      '`LAST-LINE`; one worker with defaults (`REAPQ_LOG_MAX_BYTES` 16 MiB). Measured: from `running` until ' +
      "`client.logs(id, 1)` (what `reapq logs` prints) is `LAST-LINE`; the worker's peak RSS (sampled every 50 ms) " +
      'beside its idle RSS; the log file plus its `.1` afterwards. Baseline: the same writer into a plain file.',
    goal: 'last line visible within seconds; on disk <= 2 x REAPQ_LOG_MAX_BYTES',
  },
  {
    name: 'history',
    heading: 'Reads that must not grow with history',
    what:
      '1,000 live (pending) records and 0, then 10k, then 100k finished ones (written through the real append ' +
      'script). Median of 20 calls each: `client.listPage({ limit: 100 })` (the first page `reapq ls` reads), ' +
      "the dashboard's first load (the newest 50 and `admin.counts()`, as `GET /v1/processes?order=newest` and " +
      '`GET /v1/counts` serve it) and `store.counts()` (what /metrics reads), beside `client.list()`, the read of ' +
      'every record they (and the dashboard) did before, in the same run.',
    goal: 'listPage and counts flat (within 10%) as history grows',
  },
  {
    name: 'reconcile-history',
    heading: 'Reconcile passes as history grows',
    what:
      'One worker with 1,000 live `sleep 1000` and 0, then 10k, then 100k finished records of its host (written ' +
      'through the real append script as spawns that failed: in the host index, not in its live index; then 11 s ' +
      "of wait, so they are out of the sweep's 10 s overlap). Per level and run: the median of 18 regular passes " +
      '(the report durationMs; they read the live index), of the 2 sweeps among 20 passes (one in ten: also what ' +
      "ended lately), of 3 full passes (the boot pass and an operator's: every finished record too) and of the " +
      "fleet pass (the job's wall time beyond its reconcile pass, BullMQ and a 2 ms poll included). Passes are " +
      "asked for as reconcile jobs on the host's queue; scheduled passes are off (`REAPQ_RECONCILE_MS=3600000`).",
    goal: 'regular pass, sweep and fleet pass flat as history grows',
  },
  {
    name: 'fsck',
    heading: 'fsck at 100k records',
    what:
      '100,000 finished records (a start, a spawn and its failure each, written through the real append script) on ' +
      "the bench's private Redis, no worker. Per run: `admin.fsck()` over the store as it is (every record's hash and " +
      'events read in pipelines of 500, every record folded and compared, every index, lease and count read once), ' +
      'the same through `reapq fsck --json` (process wall time, start-up included), `admin.fsck({ repair: true })` ' +
      'with 1,000 projections planted wrong (each rewritten by its own fenced script with a `repaired` event, then ' +
      'the counts recounted), and the recount alone: the one script that holds Redis for the whole store.',
    goal: 'a check of 100k records within a minute; every script but the recount holds Redis for one record',
  },
  {
    name: 'cli-start',
    heading: 'CLI cold start',
    what:
      'Wall time of one `node bin/reapq ls` (50 records), `show ID`, `hosts`, `start -- sleep 1000` (no `--wait`, no ' +
      "worker) and `stop ID`, measured by hyperfine (`-N`, 3 warm-ups, 20 runs; the figure is hyperfine's median) " +
      "against the bench's private Redis, beside `node -e 0` in the same hyperfine call. Then one worker is started " +
      'and, on that idle fleet, `start --wait -- sleep 1000` (until running) and `stop --wait ID` (until the tree is ' +
      'verified gone) of one process at a time, each process timed from spawn to exit (3 warm-ups, then BENCH_N; ' +
      'the median per run), beside `node -e 0` timed the same way in the same loop.',
    goal: 'read-only commands, `start --wait` and `stop --wait` < 150 ms',
  },
  {
    name: 'start-throughput',
    heading: 'Start throughput',
    what:
      'N `sleep 1000` processes through the whole path: `client.start()` records `pending` and enqueues, one worker ' +
      '(`--concurrency 16`) takes the jobs, spawns, and records `running`. Timed from the first `start()` to the last ' +
      '`spawned` event seen on the global event stream. Baseline: a bare Node loop doing ' +
      "`spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' })` N times, timed until every `spawn` event, then " +
      'killing them. Each run uses a fresh prefix and worker and stops everything before the next one.',
    goal: 'reapq >= 60% of bare spawns/s',
  },
  {
    name: 'start-latency',
    heading: 'Start latency at low load',
    what:
      'N sequential starts of `sleep 1000` (one at a time, after a warm-up): from `client.start()` to the `spawned` ' +
      'event (state `running`) arriving on the global event stream; p50/p99 per run. Baselines, same count, same ' +
      "process: a bare `spawn()` until its `'spawn'` event, and a BullMQ `queue.add()` until a no-op processor of an " +
      'in-process `Worker` runs it (same Redis).',
    goal: 'p50 < 10 ms, p99 < 30 ms',
  },
  {
    name: 'stop-latency',
    heading: 'Stop latency',
    what:
      'A tree that honours SIGTERM (`test/fixtures/tree.sh`: leader, child, grandchild; 4 processes) is started and, ' +
      'once complete, stopped: from `client.stop()` to the `stopped` event (the whole tree verified gone), p50/p99 ' +
      'per run, with unrelated background `sleep` processes on the host (spawned by the bench, killed afterwards). ' +
      'Baseline: the same tree spawned bare and killed with `kill(-pgid, SIGTERM)`, timed until its 4 processes are ' +
      'gone (the bench is a child subreaper and reaps the orphans).',
    goal: 'p50 < 50 ms; little growth with unrelated processes',
  },
  {
    name: 'reconcile',
    heading: 'Reconcile pass',
    what:
      "N managed `sh -c 'sleep 1000 & sleep 1000 & wait'` (3N OS processes) on one worker whose scheduled passes are " +
      "turned off; then `reapq reconcile --host H --json` several times. Wall is the report's `durationMs`; CPU is the " +
      "worker's CPU time (sum of its threads' `se.sum_exec_runtime`) across the request, so it also holds the cluster " +
      'pass and the job overhead. Baseline: a bare synchronous `readdirSync(/proc)` + `readFileSync(/proc/N/stat)` scan ' +
      "in the bench process. RSS is the worker's `VmRSS` with N managed, beside the same worker idle.",
    goal: '< 150 ms per pass',
  },
  {
    name: 'load',
    heading: 'Load test (two hosts)',
    what:
      'Two workers, each PID 1 of its own PID namespace (`unshare --pid --fork --mount-proc`, a stand-in for two ' +
      'hosts). N starts issued at once; when all run, N stops issued at once. Then every record must be `stopped` and ' +
      'no process may carry the cookie (the bench fails otherwise). A correctness check under load: rates are reported, ' +
      'not held to a goal. Baseline: N bare detached spawns, then SIGTERM to all until every exit.',
    goal: 'every record stopped, no carrier left',
  },
  {
    name: 'pm2',
    heading: 'reapq vs PM2',
    what:
      'The same app on both sides: N copies of `test/fixtures/app` (`npm run start` -> `sh` -> `node server.js` listening ' +
      'on its `PORT`, which spawns a `sleep 1000` grandchild). reapq: one worker (defaults, `--concurrency 8`), N ' +
      "`client.start({ command: ['npm', 'run', 'start'], cwd, port: 'auto' })` issued at once, timed until every `spawned` " +
      'event (state `running`); then N `client.stop()` at once, timed until every `stopped` event. PM2 (the version in ' +
      'the chart, a dev dependency of this bench only, with a fresh `PM2_HOME` per run, never `~/.pm2`; defaults: fork ' +
      'mode, kill signal SIGINT, treekill): the N apps (`script: npm`, `args: run start`, a free `PORT` each) in one ' +
      "`pm2.start({ apps })` call, timed until `pm2.list()` shows all `online`; then `pm2.stop('all')` until all " +
      '`stopped`. Both sides are driven through their programmatic API on a connection made before the clock starts; ' +
      'both daemons are up before it (not timed). Left behind: processes of the apps (found by an environment marker: ' +
      "reapq's cookie, a `REAPQ_BENCH_APP` variable for PM2) still alive 2 s after the stop was reported done; they are " +
      "killed afterwards. Daemon RSS: `VmRSS` of the reapq worker, of PM2's God daemon (pid from `PM2_HOME/pm2.pid`), " +
      'with the N apps up and their trees complete. The sides alternate which goes first; each run ends with `pm2 kill` ' +
      'and the removal of its `PM2_HOME`. How PM2 stops (its source): SIGINT to a `ps` snapshot of the tree, then it ' +
      'polls `kill(pid, 0)` on every pid of the snapshot and sends SIGKILL to what still answers after `kill_timeout` ' +
      "(1600 ms); an orphan that is dead but not yet reaped by init answers, so the log's count of SIGKILL escalations " +
      'is given below.',
    goal: "no process left behind by reapq; figures beside PM2's",
    baselineLegend: 'PM2',
  },
  {
    name: 'containment',
    heading: 'Cgroup containment cost',
    what:
      'One worker in `--containment cgroup` beside one in `--containment process` and a bare spawn loop, in the same ' +
      'run (modes interleaved run by run). Start: N `sleep 1000` through the whole path at `--concurrency 16`, from ' +
      'the first `client.start()` to the last `spawned` event; bare: N detached `spawn()` until every `spawn` event. ' +
      'Stop: BENCH_STOPS sequential `client.stop()` -> `stopped` of `test/fixtures/tree.sh` (4 processes, after a ' +
      'warm-up) with the N sleeps still running; bare: `kill(-pgid, SIGTERM)` until the 4 are gone. On this machine ' +
      'cgroup mode is hybrid: v2 leaf (membership, cgroup.kill, populated) plus a v1 memory leaf (usage, OOM).',
    goal: 'cgroup start throughput >= 90% of process mode; stop p50 < 10 ms in both modes',
  },
];

function load(name) {
  const p = join(RESULTS_DIR, `${name}.json`);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch (err) {
    return { name, error: `unreadable ${p}: ${err.message}`, figures: [] };
  }
}

const range = (x) => `${fmt(x.min)}–${fmt(x.max)}`;
const machineLine = (m) => `${m.nproc} CPUs (\`nproc\`), ${m.cpu}, Node ${m.node}, Linux ${m.kernel}`;

function chartFor(b, r) {
  const groups = r.figures
    .filter((f) => f.chart !== false)
    .map((f) => ({
      title: f.label,
      unit: f.unit,
      goal: f.goal,
      bars: [
        { label: 'reapq', median: f.median, min: f.min, max: f.max },
        ...f.baselines.map((x) => ({ label: x.label, median: x.median, min: x.min, max: x.max, baseline: true })),
      ],
    }));
  if (groups.length === 0) return null;
  const runs = r.params?.passes
    ? `${r.params.passes} passes`
    : r.params?.runs
      ? `${r.params.runs} run${r.params.runs === 1 ? '' : 's'}`
      : '';
  const mm = r.machine ?? {};
  return barChart({
    title: `${b.heading}${r.smoke ? ' (smoke run: reduced sizes)' : ''}`,
    subtitle: [r.command, `${r.date?.slice(0, 10)} · ${mm.nproc} CPUs, ${mm.cpu}, Node ${mm.node}${runs ? ` · ${runs}` : ''}`],
    groups,
    baselineLegend: b.baselineLegend,
  });
}

function table(r) {
  const rows = [
    '| figure | reapq (median) | spread (min–max) | baseline | baseline (median) | spread (min–max) | goal |',
    '|---|---:|---:|---|---:|---:|---|',
  ];
  for (const f of r.figures) {
    const goal = f.goal ? `${f.goal.text}: **${f.goal.met ? 'met' : 'missed'}**` : '';
    const head = `| ${f.label} | ${fmt(f.median)} ${f.unit} | ${range(f)} |`;
    if (f.baselines.length === 0) rows.push(`${head} | | | ${goal} |`);
    f.baselines.forEach((b, i) => {
      rows.push(`${i === 0 ? head : '| | | |'} ${b.label} | ${fmt(b.median)} ${b.unit} | ${range(b)} | ${i === 0 ? goal : ''} |`);
    });
  }
  return rows.join('\n');
}

/** The backend bench's Redis commands per start, by command (median over runs). */
function commandsTable(rows) {
  const n = (v) => (v === 0 ? '' : v.toFixed(2));
  const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
  return [
    'Redis commands by command (calls per start, median over runs; a script counts as one `evalsha` plus each command it runs):',
    '',
    '| command | per start to running | per start and stop |',
    '|---|---:|---:|',
    ...rows.map((r) => `| ${r.command} | ${n(r.start)} | ${n(r.startStop)} |`),
    `| **all** | **${sum('start').toFixed(1)}** | **${sum('startStop').toFixed(1)}** |`,
  ].join('\n');
}

export function generate() {
  const m = machine();
  const chartsDir = join(ROOT, 'bench/charts');
  mkdirSync(chartsDir, { recursive: true });
  const out = [];
  out.push('# Benchmarks', '');
  out.push(
    '<!-- Generated by bench/report.mjs (run by `npm run bench`) from bench/results/*.json: edit the benches, not this file. -->',
    '',
  );
  out.push(`Machine: ${machineLine(m)}. Generated ${new Date().toISOString()}.`, '');
  out.push(
    'Every figure is the median over runs with its spread (min–max across runs), printed beside its baseline measured in the same run on the same machine. Each bench starts its own private `redis-server` on a free port with a random `REAPQ_PREFIX`, runs workers as child processes (`node bin/reapq worker`), and stops every process it started; it fails if any process carrying one of its cookies (or any of its workers, bare processes or its redis-server) is left.',
    '',
  );

  out.push('## Summary', '', '| bench | figure | reapq (median) | baseline (median) | goal |', '|---|---|---:|---:|---|');
  const results = BENCHES.map((b) => [b, load(b.name)]);
  for (const [b, r] of results) {
    if (!r) {
      out.push(`| [${b.heading}](#${b.name}) | not run yet | | | ${b.goal} |`);
      continue;
    }
    if (r.error)
      out.push(`| [${b.heading}](#${b.name}) | **failed**: ${r.error.split('\n')[0].replace(/\|/g, '\\|').slice(0, 160)} | | | |`);
    for (const f of r.figures) {
      if (!f.goal && f.chart === false) continue;
      const base = f.baselines.map((x) => `${fmt(x.median)} ${x.unit} (${x.label})`).join('; ');
      out.push(
        `| [${b.heading}](#${b.name})${r.smoke ? ' (smoke)' : ''} | ${f.label} | ${fmt(f.median)} ${f.unit} | ${base} | ${f.goal ? `${f.goal.text}: ${f.goal.met ? 'met' : '**missed**'}` : ''} |`,
      );
    }
  }
  out.push('');

  results.forEach(([b, r], i) => {
    out.push(`<a id="${b.name}"></a>`, `## ${i + 1}. ${b.heading} (\`bench/${b.name}.mjs\`)`, '', b.what, '', `Goal: ${b.goal}.`, '');
    if (!r) {
      out.push(`Not run yet: \`npm run build && node bench/${b.name}.mjs\`.`, '');
      return;
    }
    out.push(`Command (every figure of this section): \`${r.command}\` (after \`npm run build\`).`, '');
    const params = Object.entries(r.params ?? {})
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
      .join(', ');
    out.push(
      `Measured ${r.date} in ${r.seconds} s; ${params}.${r.machine && machineLine(r.machine) !== machineLine(m) ? ` Machine: ${machineLine(r.machine)}.` : ''}${r.load ? ` Load average (1 min, ${r.machine?.nproc ?? '?'} CPUs): ${r.load.before} at the start${r.load.after !== undefined ? `, ${r.load.after} at the end` : ''}.` : ''}`,
      '',
    );
    if (r.smoke)
      out.push(
        '> **Smoke run** with reduced sizes: proves the bench works, the numbers are not the figures of the issue. Run `npm run bench` with the defaults for those.',
        '',
      );
    if (r.error) out.push(`> **Failed**: ${r.error.replace(/\n/g, ' ')}`, '');
    if (r.figures.length) {
      out.push(table(r), '');
      const svg = chartFor(b, r);
      if (svg) {
        writeFileSync(join(chartsDir, `${b.name}.svg`), svg);
        out.push(`![${b.heading}](bench/charts/${b.name}.svg)`, '');
      }
    }
    if (r.extra?.distribution)
      out.push(
        `Starts per host, per run: ${r.extra.distribution
          .map((d) =>
            Object.entries(d)
              .map(([h, n]) => `${h} ${n}`)
              .join(', '),
          )
          .join(' / ')}. ${r.extra.check ?? ''}`,
        '',
      );
    if (r.extra?.commands?.length) out.push(commandsTable(r.extra.commands), '');
    if (r.extra?.note) out.push(r.extra.note, '');
    if (r.leakCheck)
      out.push(`Leak check: ${r.leakCheck.ok ? 'nothing left behind' : `**left ${r.leakCheck.leaks.length}** (killed)`}.`, '');
  });

  // Measurements without a baseline, run on their own (not part of `npm run bench`).
  const others = [
    [
      'lost-host',
      'Lost-host detection',
      'A worker host killed outright (its PID namespace dies with it): time from the kill to `lost` recorded and to the `always` process running on the other host, with the default timings.',
      (e) => `kill -> lost recorded: ${e.lostMs.join(', ')} ms; kill -> running on the other host: ${e.backMs.join(', ')} ms (${e.note}).`,
    ],
    [
      'redis-memory',
      'Redis memory per finished record',
      "MEMORY USAGE of a finished record's projection, its events (compacted from the stream into a list, as the fleet pass does a minute after it finishes) and its index entry, its log stream removed. Goal: under 4 KB.",
      (e) =>
        `projection ${e.record} B + compacted events ${e.stream} B (${e.eventsPerRecord} events; ${e.streamBeforeCompaction ?? '?'} B while still a stream) + index ${e.index} B = **${e.total} B** per record: goal ${e.total < 4096 ? 'met' : '**missed**'}.`,
    ],
    [
      'soak',
      'Soak',
      'Two workers, start/stop cycles of trees that fork, leave orphans, escape their group or ignore SIGTERM, with a worker SIGKILLed and restarted at random every ~15 s. Fails on any failed cycle, leaked process or zombie.',
      (e) =>
        `${e.cycles} cycles in ${e.seconds} s (${e.cyclesPerSecond}/s), ${e.kills} worker kills, 0 failed cycles; worker RSS MiB (first/last/max sample per host): ${Object.entries(
          e.memory,
        )
          .map(([h, m]) => `${h} ${m.first}/${m.last}/${m.max}`)
          .join(', ')}. Samples every 5 s, across worker restarts: ${Object.entries(e.rssMiB)
          .map(([h, xs]) => `${h}: ${xs.join(' ')}`)
          .join(
            '; ',
          )}. A fresh worker starts near 125 MiB and RSS climbs toward 170-215 MiB within one worker's life. The JS heap does not grow: two heap snapshots of one worker (\`node --heapsnapshot-signal=SIGUSR2 bin/reapq worker\`, SIGUSR2 after 1,600 and after 6,400 start/stop cycles of tree.sh at 16 in flight) held 18.0 and 18.4 MB, the difference being compiled code; RSS in that run went 120 -> 139 MiB without snapshots. The rise is V8 and allocator reservation, not retained objects.`,
    ],
  ];
  for (const [name, heading, what, line] of others) {
    const r = load(name);
    if (!r) continue;
    out.push(
      `<a id="${name}"></a>`,
      `## ${heading} (\`bench/${name}.mjs\`)`,
      '',
      what,
      '',
      `Command: \`${r.command}\` (after \`npm run build\`). Measured ${r.date} in ${r.seconds} s.`,
      '',
    );
    out.push(r.error ? `> **Failed**: ${r.error.replace(/\n/g, ' ')}` : line(r.extra), '');
    if (r.leakCheck)
      out.push(`Leak check: ${r.leakCheck.ok ? 'nothing left behind' : `**left ${r.leakCheck.leaks.length}** (killed)`}.`, '');
  }

  // CPU profiles of a burst (bench/flame.mjs), linked when present.
  if (existsSync(join(ROOT, 'bench/profiles/README.md')))
    out.push(
      '## CPU profiles of a burst',
      '',
      'Flame graphs of each process of one backend-shaped burst of 200 (the client, the worker, a forker), before and after the changes of issue 25, with the functions that took the most time: [bench/profiles/README.md](bench/profiles/README.md) (made with `BENCH_CPU_PROF=DIR node --cpu-prof --cpu-prof-dir=DIR bench/backend.mjs` and `node bench/flame.mjs`).',
      '',
    );

  // Figures measured by a test rather than a bench (the deploy example's run), kept here so
  // a regeneration does not drop them.
  out.push(
    '## Deploys behind a proxy (`examples/deploy-backend`, run by `test/e2e/examples.test.ts`)',
    '',
    "Four clients request without pause through the example's proxy while it deploys v1, then",
    'v2 (start-first, one replica, HTTP readiness), then a broken v3 (never listens, rolled',
    'back after its 5 s readiness timeout). Three runs on the shared two-core machine, with',
    'other suites running: 1,934 to 3,902 requests answered, **0 failed**, none answered by v3.',
    'A deploy of a small node app (request to `succeeded`, one replica) takes about 0.6 s',
    "there. A worker SIGKILLed mid-deploy and restarted resumes it after the service's lease",
    "runs out (5 s); `test/e2e/deploys-cluster.test.ts` ends in about 11 s, with the app's 3 s",
    'start delay.',
    '',
  );

  out.push(
    '## How to run',
    '',
    '```sh',
    'npm run bench                          # build, run every bench in sequence, regenerate this file and bench/charts/',
    'BENCH_N=20 BENCH_APPS=5 BENCH_RUNS=1 BENCH_BG=10,100 npm run bench   # a quick smoke run',
    'npm run build && node bench/start-latency.mjs             # one bench (writes bench/results/start-latency.json)',
    'node bench/run.mjs start-latency stop-latency             # some benches, then regenerate the report',
    'node bench/report.mjs                                     # only regenerate BENCHMARKS.md and the charts',
    '```',
    '',
    'Needs `redis-server` (installed as in the README when missing) and, for the load test, `unshare` with the right to make PID namespaces (root). Each bench starts its own `redis-server`; none touches another Redis or flushes anything. The PM2 comparison uses the `pm2` dev dependency (`npm ci` installs it) with a temporary `PM2_HOME` of its own; it never touches `~/.pm2` or a PM2 daemon already running.',
    '',
    '| variable | default | meaning |',
    '|---|---|---|',
    '| `BENCH_RUNS` | `3` | runs per bench; figures are the median over runs, spread min–max |',
    '| `BENCH_N` | per bench: throughput 1000, start latency 100, stop latency 100, reconcile 1000, load 500 | processes (or samples) per run |',
    '| `BENCH_SIZES` | `200,1000` | backend workload: starts issued at once per round |',
    '| `BENCH_ALSO_CONCURRENCY` | `64,128` | backend workload: worker `--concurrency` also measured at the first size (`none`: no other) |',
    '| `BENCH_ALSO_FORKERS` | `1` | backend workload: worker `--forkers` also measured at the first size (`none`: no other) |',
    '| `BENCH_CPU_PROF` | unset | backend workload: a directory; the workers and their forkers run with `--cpu-prof` into it |',
    '| `BENCH_HISTORY` | `0,10000,100000` | history bench: finished records, level after level |',
    '| `BENCH_MB` | `100` | log flood: megabytes written |',
    '| `BENCH_APPS` | `50` | reapq vs PM2: apps started and stopped per run and side |',
    '| `BENCH_BG` | `100,3000` | stop latency: unrelated background processes, one level after another |',
    '| `BENCH_PASSES` | `max(5, BENCH_RUNS)` | reconcile: passes requested through the CLI |',
    '| `BENCH_WARMUP` | `5` | start latency: unmeasured starts before the runs |',
    '| `BENCH_STRICT_LEAKS` | unset | `1`: also fail on cookie carriers of other runs on the host (e.g. a test suite running meanwhile) |',
    '',
    'A bench prints each figure beside its baseline, writes `bench/results/<name>.json` (per-run values, median, min, max, the exact command), and exits non-zero when it fails or leaves a process behind. The benches are CPU-heavy: run them on a quiet machine; on a shared one the spread shows it.',
    '',
  );
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), out.join('\n'));
  return join(ROOT, 'BENCHMARKS.md');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(`wrote ${generate()}`);
}
