// reapq against PM2 on the same app: N copies of test/fixtures/app (`npm run start` ->
// sh -> `node server.js` on PORT, which spawns a `sleep 1000` grandchild). Per run and per
// side: the time to start the N apps until all run, the time to stop them until all are
// stopped, the processes of the apps still alive afterwards, and the memory (VmRSS) of the
// supervising daemon with the N apps up (reapq: the worker; PM2: its God daemon).
//
// PM2 (a dev dependency, only of this bench) runs with a fresh PM2_HOME per run (a mkdtemp
// directory, never ~/.pm2), through its programmatic API in a driver child process (this file
// with --pm2-driver), so PM2's API can set PM2_HOME, PWD and its own globals without
// touching the bench process. Every PM2 process (driver, daemon, apps) carries
// REAPQ_BENCH=<tag>, so the leak check finds anything left; the apps also carry
// REAPQ_BENCH_APP=<tag>-pm2-<run>, which is what "left behind" counts.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const SELF = fileURLToPath(import.meta.url);

if (process.argv[2] === '--pm2-driver') await driver();
else await bench();

// ---------------------------------------------------------------- PM2 driver (child process)

/**
 * Runs in a child with PM2_HOME set: connects to (launches) a PM2 daemon, then serves
 * commands over IPC; times are taken here, on a connection made before the clock starts,
 * as the reapq side times with a client connected before.
 */
async function driver() {
  if (!process.env.PM2_HOME) throw new Error('the PM2 driver needs PM2_HOME');
  const pm2 = require('pm2');
  const call = (fn, ...args) =>
    new Promise((res, rej) =>
      fn.call(pm2, ...args, (err, v) => (err ? rej(err instanceof Error ? err : new Error(JSON.stringify(err))) : res(v))),
    );
  const list = () => call(pm2.list);
  const until = async (pred, timeoutMs, what) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const procs = await list();
      if (pred(procs)) return procs;
      if (Date.now() > end)
        throw new Error(
          `PM2: timed out after ${timeoutMs} ms waiting for ${what}: ${procs.map((p) => `${p.name}:${p.pm2_env?.status}`).join(' ')}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const ops = {
    async connect() {
      await call(pm2.connect);
      return { version: require('pm2/package.json').version };
    },
    // All apps in one start call (as an ecosystem file would), then until `list` shows all online.
    async start({ apps, timeoutMs }) {
      const t0 = performance.now();
      await call(pm2.start, { apps });
      const procs = await until(
        (ps) => ps.length === apps.length && ps.every((p) => p.pm2_env.status === 'online'),
        timeoutMs,
        `${apps.length} apps online`,
      );
      const ms = performance.now() - t0;
      return {
        ms,
        pids: procs.map((p) => p.pid),
        interpreter: procs[0]?.pm2_env?.exec_interpreter,
        execPath: procs[0]?.pm2_env?.pm_exec_path,
      };
    },
    async stop({ n, timeoutMs }) {
      const t0 = performance.now();
      await call(pm2.stop, 'all');
      await until((ps) => ps.length === n && ps.every((p) => p.pm2_env.status === 'stopped'), timeoutMs, `${n} apps stopped`);
      return { ms: performance.now() - t0 };
    },
    async delete() {
      await call(pm2.delete, 'all');
      return {};
    },
    async kill() {
      await call(pm2.killDaemon);
      pm2.disconnect();
      return {};
    },
  };
  process.on('message', async (m) => {
    try {
      const v = await ops[m.op](m.args ?? {});
      process.send({ id: m.id, ok: true, v });
    } catch (err) {
      process.send({ id: m.id, ok: false, err: String(err?.stack ?? err) });
    }
    if (m.op === 'kill') process.disconnect();
  });
  process.send({ ready: true });
}

// ---------------------------------------------------------------- the bench

async function bench() {
  const { benchRuns, envInt, figure, FIXTURES, isAlive, now, pool, printFigure, rssKbOf, runBench, scanEnv, sleep, cleanEnv } =
    await import('./lib.mjs');

  const N = envInt('BENCH_APPS', 50, 1);
  const RUNS = benchRuns();
  const APP = join(FIXTURES, 'app');
  const SETTLE_MS = 2000; // after "all stopped": how long a process of an app may take to go before it counts as left behind
  const TIMEOUT_MS = 60_000 + N * 1000;

  /** Free TCP ports for the PM2 apps (reapq picks its own with port: 'auto'). */
  async function freePorts(n) {
    const servers = await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise((res, rej) => {
            const s = createServer();
            s.once('error', rej);
            s.listen(0, '127.0.0.1', () => res(s));
          }),
      ),
    );
    const ports = servers.map((s) => s.address().port);
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    return ports;
  }

  /** Waits until the matching processes include `n` grandchildren (`sleep`): every app's tree is complete. */
  async function treesComplete(match, n, what) {
    const end = Date.now() + TIMEOUT_MS;
    for (;;) {
      const found = scanEnv(match);
      if (found.filter((x) => x.comm === 'sleep').length >= n) return found;
      if (Date.now() > end)
        throw new Error(
          `timed out waiting for ${n} ${what} trees to be complete (${found.length} processes, ${found.filter((x) => x.comm === 'sleep').length} grandchildren)`,
        );
      await sleep(50);
    }
  }

  /** What of the apps is still alive SETTLE_MS after they were reported stopped. */
  async function leftBehind(match) {
    const end = now() + SETTLE_MS;
    let found = scanEnv(match);
    while (found.length > 0 && now() < end) {
      await sleep(50);
      found = scanEnv(match);
    }
    return found;
  }

  async function killAll(found) {
    for (const x of found) {
      try {
        process.kill(x.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    const end = Date.now() + 5000;
    while (found.some((x) => isAlive(x.pid)) && Date.now() < end) await sleep(20);
  }

  await runBench(
    'pm2',
    `reapq vs PM2: ${N} apps (\`npm run start\` -> node server.js + grandchild), start, stop, leftovers, daemon RSS`,
    async (ctx) => {
      const r = { start: [], stop: [], left: [], rss: [], rssIdle: [], perApp: [] };
      const p = { start: [], stop: [], left: [], rss: [], rssIdle: [], perApp: [] };
      const leftDetail = { reapq: [], pm2: [] };
      let pm2Version = null;
      let pm2Exec = null;
      const pm2Log = [];

      const reapqRun = async (run) => {
        const prefix = await ctx.newPrefix();
        const w = await ctx.worker(prefix, `pm2cmp-${run}`);
        const client = await ctx.client(prefix);
        const tail = await ctx.tail(prefix);
        await sleep(500);
        const idle = rssKbOf(w.pid) / 1024;
        const mine = (e) => e.startsWith(`REAPQ_OWNER=${prefix}/`);

        const t0 = now();
        const recs = await pool(Array.from({ length: N }), N, (_, i) =>
          client.start({ name: `app-${i}`, command: ['npm', 'run', 'start'], cwd: APP, port: 'auto' }),
        );
        const running = await Promise.all(
          recs.map((rec) => tail.when(rec.id, 'spawned', { fail: ['spawn_failed', 'failed', 'exited'], timeoutMs: TIMEOUT_MS })),
        );
        const tStart = Math.max(...running.map((s) => s.t)) - t0;

        const procs = await treesComplete(mine, N, 'reapq');
        await sleep(500);
        const rss = rssKbOf(w.pid) / 1024;

        const t2 = now();
        await pool(recs, N, (rec) => client.stop(rec.id));
        const stopped = await Promise.all(
          recs.map((rec) => tail.when(rec.id, 'stopped', { fail: ['lost', 'failed'], timeoutMs: TIMEOUT_MS })),
        );
        const tStop = Math.max(...stopped.map((s) => s.t)) - t2;

        const left = await leftBehind(mine);
        leftDetail.reapq.push(left.map((x) => x.comm));
        await killAll(left);
        r.start.push(tStart / 1000);
        r.stop.push(tStop / 1000);
        r.left.push(left.length);
        r.rss.push(rss);
        r.rssIdle.push(idle);
        r.perApp.push(procs.length / N);
        console.log(
          `  run ${run}/${RUNS} reapq: start ${(tStart / 1000).toFixed(2)} s, stop ${(tStop / 1000).toFixed(2)} s, left ${left.length}${left.length ? ` (${left.map((x) => `${x.pid}:${x.comm}`).join(' ')})` : ''}, worker RSS ${rss.toFixed(1)} MiB (idle ${idle.toFixed(1)}), ${procs.length / N} processes per app`,
        );
        await ctx.retire(prefix);
      };

      const pm2Run = async (run) => {
        const home = mkdtempSync(join(tmpdir(), 'reapq-bench-pm2-'));
        ctx.tmpdirs.push(home);
        const appTag = `${ctx.tag}-pm2-${run}`;
        const mine = (e) => e === `REAPQ_BENCH_APP=${appTag}`;
        const env = { ...cleanEnv(), PM2_HOME: home, REAPQ_BENCH: ctx.tag };
        for (const k of Object.keys(env)) if (k.startsWith('PM2_') && k !== 'PM2_HOME') delete env[k];
        const child = ctx.spawnTracked(process.execPath, [SELF, '--pm2-driver'], {
          env,
          cwd: APP,
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
        ctx.bare.add(child); // killed by the cleanup if the bench fails half-way
        void child.exited.then(() => ctx.bare.delete(child));
        let out = '';
        child.stdout.on('data', (d) => (out = (out + d).slice(-16384)));
        child.stderr.on('data', (d) => (out = (out + d).slice(-16384)));
        const pending = new Map();
        let seq = 0;
        let readyResolve;
        const ready = new Promise((res) => (readyResolve = res));
        child.on('message', (m) => {
          if (m.ready) return readyResolve();
          const w = pending.get(m.id);
          pending.delete(m.id);
          if (m.ok) w.res(m.v);
          else w.rej(new Error(`PM2 driver: ${m.err}`));
        });
        void child.exited.then(({ code, signal }) => {
          for (const w of pending.values()) w.rej(new Error(`PM2 driver exited (${code ?? signal}):\n${out.slice(-4000)}`));
          pending.clear();
          readyResolve();
        });
        const call = (op, args) =>
          new Promise((res, rej) => {
            if (child.exitCode !== null || child.signalCode !== null)
              return rej(new Error(`PM2 driver gone (${child.exitCode ?? child.signalCode}):\n${out.slice(-4000)}`));
            const id = ++seq;
            pending.set(id, { res, rej });
            child.send({ id, op, args });
          });
        let daemonPid = null;
        try {
          await ready;
          const info = await call('connect');
          pm2Version = info.version;
          daemonPid = Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim());
          await sleep(500);
          const idle = rssKbOf(daemonPid) / 1024;

          const ports = await freePorts(N);
          const apps = ports.map((port, i) => ({
            name: `app-${i}`,
            script: 'npm',
            args: ['run', 'start'],
            cwd: APP,
            env: { PORT: String(port), REAPQ_BENCH: ctx.tag, REAPQ_BENCH_APP: appTag },
          }));
          const st = await call('start', { apps, timeoutMs: TIMEOUT_MS });
          pm2Exec = `${st.interpreter} ${st.execPath}`;
          const procs = await treesComplete(mine, N, 'PM2');
          await sleep(500);
          const rss = rssKbOf(daemonPid) / 1024;

          const sp = await call('stop', { n: N, timeoutMs: TIMEOUT_MS });
          const left = (await leftBehind(mine)).filter((x) => x.pid !== daemonPid);
          leftDetail.pm2.push(left.map((x) => x.comm));
          await killAll(left);
          p.start.push(st.ms / 1000);
          p.stop.push(sp.ms / 1000);
          p.left.push(left.length);
          p.rss.push(rss);
          p.rssIdle.push(idle);
          p.perApp.push(procs.length / N);
          console.log(
            `  run ${run}/${RUNS} PM2 ${pm2Version}: start ${(st.ms / 1000).toFixed(2)} s, stop ${(sp.ms / 1000).toFixed(2)} s, left ${left.length}${left.length ? ` (${left.map((x) => `${x.pid}:${x.comm}`).join(' ')})` : ''}, daemon RSS ${rss.toFixed(1)} MiB (idle ${idle.toFixed(1)}), ${procs.length / N} processes per app`,
          );
          await call('delete');
        } finally {
          // `pm2 kill`, then make sure the daemon, the driver and every app process are gone.
          if (child.exitCode === null && child.signalCode === null) {
            await Promise.race([call('kill').catch((err) => ctx.problems.push(`pm2 kill: ${err.message}`)), sleep(30_000)]);
            await Promise.race([child.exited, sleep(5000)]);
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGKILL');
              await child.exited;
            }
          }
          const end = Date.now() + 5000;
          while (daemonPid && isAlive(daemonPid) && Date.now() < end) await sleep(20);
          if (daemonPid && isAlive(daemonPid)) {
            ctx.problems.push(`PM2 daemon ${daemonPid} still alive after pm2 kill: SIGKILL`);
            process.kill(daemonPid, 'SIGKILL');
          }
          const stray = scanEnv(mine);
          if (stray.length) {
            ctx.problems.push(
              `PM2 run ${run}: ${stray.length} app processes alive after pm2 kill (killed): ${stray.map((x) => `${x.pid}:${x.comm}`).join(' ')}`,
            );
            await killAll(stray);
          }
          // What PM2 itself logged about its stops: escalations to SIGKILL after kill_timeout.
          try {
            const log = readFileSync(join(home, 'pm2.log'), 'utf8');
            pm2Log.push({
              sigkillAfterTimeout: (log.match(/still alive after \d+ms, sending SIGKILL/g) ?? []).length,
              notKilled: (log.match(/could not be killed/g) ?? []).length,
            });
          } catch {
            pm2Log.push(null);
          }
          rmSync(home, { recursive: true, force: true });
        }
      };

      for (let run = 1; run <= RUNS; run++) {
        // Alternate which side goes first, so neither always runs on the warmer machine.
        if (run % 2 === 1) {
          await reapqRun(run);
          await pm2Run(run);
        } else {
          await pm2Run(run);
          await reapqRun(run);
        }
      }

      const pm2Label = `PM2 ${pm2Version}`;
      const figures = [
        figure({
          id: 'start',
          label: `start ${N} apps -> all running`,
          unit: 's',
          samples: r.start,
          baselines: [{ label: `${pm2Label}: start -> all online`, samples: p.start }],
        }),
        figure({
          id: 'stop',
          label: `stop ${N} apps -> all stopped`,
          unit: 's',
          samples: r.stop,
          baselines: [{ label: `${pm2Label}: stop all -> all stopped`, samples: p.stop }],
        }),
        figure({
          id: 'left',
          label: `app processes left ${SETTLE_MS / 1000} s after the stop`,
          unit: 'processes',
          samples: r.left,
          baselines: [{ label: pm2Label, samples: p.left }],
          goal: { op: '<=', value: 0 },
        }),
        figure({
          id: 'rss',
          label: `daemon RSS with ${N} apps (reapq worker)`,
          unit: 'MiB',
          samples: r.rss,
          baselines: [{ label: `${pm2Label} God daemon`, samples: p.rss }],
        }),
        figure({
          id: 'rss-idle',
          label: 'daemon RSS idle (reapq worker)',
          unit: 'MiB',
          samples: r.rssIdle,
          baselines: [{ label: `${pm2Label} God daemon`, samples: p.rssIdle }],
          chart: false,
        }),
        figure({
          id: 'per-app',
          label: 'processes per app tree',
          unit: 'processes',
          samples: r.perApp,
          baselines: [{ label: pm2Label, samples: p.perApp }],
          chart: false,
        }),
      ];
      figures.forEach(printFigure);
      const fmtLeft = (xs) => xs.map((l, i) => `run ${i + 1}: ${l.length ? l.join(', ') : 'none'}`).join('; ');
      return {
        env: { BENCH_APPS: N, BENCH_RUNS: RUNS },
        params: {
          apps: N,
          runs: RUNS,
          app: 'test/fixtures/app (npm run start)',
          pm2: pm2Version,
          reapqWorkerConcurrency: 8,
          pm2ConcurrentActions: 2,
        },
        smoke: N < 50,
        figures,
        extra: {
          pm2Version,
          pm2Exec,
          leftBehind: leftDetail,
          pm2Log,
          note:
            `Left behind, per run: reapq ${fmtLeft(leftDetail.reapq)}; PM2 ${fmtLeft(leftDetail.pm2)}. ` +
            `PM2 ran its apps as \`${pm2Exec}\` (fork mode, default kill signal SIGINT, treekill on, kill_timeout 1600 ms). ` +
            `Its log (\`PM2_HOME/pm2.log\`), per run: ${pm2Log.map((l, i) => `run ${i + 1}: ${l ? `${l.sigkillAfterTimeout} stop(s) escalated to SIGKILL after kill_timeout, ${l.notKilled} "could not be killed"` : 'no log'}`).join('; ')}.`,
        },
      };
    },
  );
}
