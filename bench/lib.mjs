// Shared harness of the benches: a private redis-server, workers as child processes, an
// event tail, statistics, result files, and a cleanup that stops everything it started and
// then proves it (fails loudly otherwise). Plain ESM on top of the compiled dist/.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ReapqClient } from '../dist/index.js';
import { makeKeys } from '../dist/shared/keys.js';
import { EventStore } from '../dist/shared/event-store.js';
import { startLocalRedis } from '../dist/dev/local-redis.js';
import { linuxProcessTable as proc } from '../dist/worker/proc/table.js';
import { statFields } from '../dist/shared/proc-stat.js';
import { startRequested } from '../dist/shared/start-request.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'bin/reapq');
export const FIXTURES = join(ROOT, 'test/fixtures');
export const RESULTS_DIR = join(ROOT, 'bench/results');
export const NS = ['unshare', '--pid', '--fork', '--mount-proc'];
const FINAL = new Set(['stopped', 'exited', 'failed', 'lost']);

/** The spec of a `start_requested` event for records a bench writes straight through the store: the client's own. */
export const SLEEP_SPEC = startRequested({ command: ['sleep', '1000'] }).spec;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

// ---------------------------------------------------------------- configuration

/** Integer from the environment, else the default; a bad value stops the bench. */
export function envInt(name, dflt, min = 0) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${JSON.stringify(v)}: want an integer >= ${min}`);
  return n;
}

/** Comma-separated integers from the environment, else the default list. */
export function envInts(name, dflt, min = 0) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const xs = v.split(',').map((s) => Number(s.trim()));
  if (xs.length === 0 || xs.some((n) => !Number.isInteger(n) || n < min))
    throw new Error(`${name}=${JSON.stringify(v)}: want integers >= ${min}, comma-separated`);
  return xs;
}

export const benchRuns = () => envInt('BENCH_RUNS', 3, 1);

/** The runner's environment without anything that would point a child at another Redis or prefix. */
export function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('REAPQ_') || k === 'REDIS_URL') delete env[k];
  return env;
}

export function machine() {
  let nproc;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    nproc = availableParallelism();
  }
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  } catch {
    // not Linux
  }
  return { nproc, cpu, node: process.version, kernel: release() };
}

// ---------------------------------------------------------------- statistics

export function percentile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export function summarize(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: round(percentile(s, 0.5)), min: round(s[0] ?? NaN), max: round(s[s.length - 1] ?? NaN), runs: xs.map(round) };
}

function round(v) {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : v;
}

export function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

const OPS = { '<': (a, b) => a < b, '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b };

/**
 * One reported figure: the per-run values of reapq's measurement, its baselines' per-run
 * values, and an optional goal checked against the median.
 */
export function figure({ id, label, unit, samples, baselines = [], goal, chart = true }) {
  const f = {
    id,
    label,
    unit,
    ...summarize(samples),
    baselines: baselines.map((b) => ({ label: b.label, unit: b.unit ?? unit, ...summarize(b.samples) })),
    chart,
  };
  if (goal)
    f.goal = {
      op: goal.op,
      value: goal.value,
      text: `${goal.op} ${goal.value}${unit === 'x' ? '' : ` ${unit}`}`,
      met: OPS[goal.op](f.median, goal.value),
    };
  return f;
}

const spread = (x) => `[${fmt(x.min)}–${fmt(x.max)}]`;

/** Prints a figure with its baselines beside it. */
export function printFigure(f) {
  let line = `  ${f.label}: ${fmt(f.median)} ${f.unit} ${spread(f)}`;
  for (const b of f.baselines) line += `  |  ${b.label}: ${fmt(b.median)} ${b.unit} ${spread(b)}`;
  if (f.goal) line += `  |  goal ${f.goal.text}: ${f.goal.met ? 'met' : 'MISSED'}`;
  console.log(line);
}

// ---------------------------------------------------------------- process table

/** state/ppid/pgid/comm of a pid, or null when gone: reapq's own /proc reader, as the tests use it. */
export function procStat(pid) {
  return proc.stat(pid);
}

export function isAlive(pid) {
  const s = procStat(pid);
  return s !== null && s.state !== 'Z';
}

/** Children of every thread of pid. */
export function childrenOf(pid) {
  return proc.children(pid);
}

/** pid and its live descendants (found through children files: no full /proc scan). */
export function treeOf(pid) {
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    if (!isAlive(p)) continue;
    out.push(p);
    todo.push(...childrenOf(p));
  }
  return out;
}

/** CPU time of a whole process in ms: sum of se.sum_exec_runtime of its threads (ns precision), else utime+stime ticks. */
export function cpuMsOf(pid) {
  let total = 0;
  let ok = false;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        const m = /se\.sum_exec_runtime\s*:\s*([\d.]+)/.exec(readFileSync(`/proc/${pid}/task/${t}/sched`, 'utf8'));
        if (m) {
          total += Number(m[1]);
          ok = true;
        }
      } catch {
        // thread gone
      }
    }
  } catch {
    return NaN;
  }
  if (ok) return total;
  // utime and stime, fields 14 and 15.
  const f = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8')) ?? [];
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

export function rssKbOf(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Live processes whose environment matches: [{ pid, comm, env: the matching entry }]. */
export function scanEnv(match) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let env;
    try {
      env = readFileSync(`/proc/${name}/environ`, 'utf8');
    } catch {
      continue;
    }
    const hit = env.split('\0').find(match);
    if (hit === undefined) continue;
    const st = procStat(pid);
    if (st && st.state !== 'Z') out.push({ pid, comm: st.comm, env: hit });
  }
  return out;
}

/** Zombie children of this process (none should stay). */
export function ownZombies() {
  return childrenOf(process.pid).filter((p) => procStat(p)?.state === 'Z');
}

export async function until(fn, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export async function withTimeout(p, ms, what) {
  let timer;
  try {
    return await Promise.race([
      p,
      new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs fn over items with at most `limit` in flight. */
export async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

// ---------------------------------------------------------------- event tail

/**
 * Follows the global event stream of a prefix on a connection of its own (XREAD BLOCK) and
 * stamps each event with performance.now() when it arrives: one connection sees every
 * process, so thousands of waits cost nothing extra.
 */
export class Tail {
  constructor(url, prefix) {
    this.key = makeKeys(prefix).globalStream;
    this.conn = new Redis(url, { maxRetriesPerRequest: null });
    this.seen = new Map(); // id -> Map(type -> { t, event })
    this.waiters = new Map(); // id -> Set(waiter)
    this.closed = false;
    this.loop = this.run();
  }

  async run() {
    let last = '0-0';
    while (!this.closed) {
      let res;
      try {
        res = await this.conn.xread('COUNT', 1000, 'BLOCK', 500, 'STREAMS', this.key, last);
      } catch (err) {
        if (this.closed) return;
        throw err;
      }
      if (!res) continue;
      const t = now();
      for (const [, rows] of res) {
        for (const [sid, fields] of rows) {
          last = sid;
          const { processId, event } = EventStore.decodeGlobal(sid, fields);
          let per = this.seen.get(processId);
          if (!per) this.seen.set(processId, (per = new Map()));
          if (!per.has(event.type)) per.set(event.type, { t, event });
          for (const w of this.waiters.get(processId) ?? []) w.check();
        }
      }
    }
  }

  /** Resolves with { type, t, event } of the first of `types` seen for id; rejects on a `fail` type or timeout. */
  when(id, types, { fail = [], timeoutMs = 60_000 } = {}) {
    const want = Array.isArray(types) ? types : [types];
    return new Promise((resolvePromise, reject) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const w = {
        check: () => {
          const per = this.seen.get(id);
          if (!per) return;
          for (const ty of fail) {
            if (per.has(ty)) return done(new Error(`${id}: ${ty} ${JSON.stringify(per.get(ty).event)}`));
          }
          for (const ty of want) if (per.has(ty)) return done(null, { type: ty, ...per.get(ty) });
        },
      };
      const timer = setTimeout(
        () =>
          done(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${id} to reach ${want.join('|')} (seen: ${[...(this.seen.get(id)?.keys() ?? [])].join(',') || 'nothing'})`,
            ),
          ),
        timeoutMs,
      );
      let settled = false;
      function done(err, v) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        set.delete(w);
        if (err) reject(err);
        else resolvePromise(v);
      }
      set.add(w);
      w.check();
    });
  }

  async close() {
    this.closed = true;
    this.conn.disconnect();
    await this.loop.catch(() => undefined);
  }
}

// ---------------------------------------------------------------- the context

const tagAlphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
function randomTag(n = 8) {
  let s = '';
  for (const b of randomBytes(n)) s += tagAlphabet[b % tagAlphabet.length];
  return s;
}

function exitedPromise(child) {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => res({ code, signal }));
    child.once('error', (err) => res({ code: null, signal: null, error: err }));
  });
}

/**
 * Everything one bench starts: its private redis-server, prefixes, clients, tails, workers and
 * bare processes. cleanup() stops all of it in order; leakCheck() proves nothing is left.
 */
export class BenchContext {
  constructor(name) {
    this.name = name;
    this.tag = randomTag();
    this.redis = null;
    this.prefixes = new Map(); // prefix -> { client, tail, workers: [], retired }
    this.workers = [];
    this.bare = new Set();
    this.tmpdirs = [];
    /** Pids spawned through child_process here (libuv reaps them; a subreaper sweep must not). */
    this.own = new Set();
    this.problems = [];
  }

  async redisUrl() {
    if (!this.redis) {
      this.redis = await startLocalRedis({});
      this.own.add(this.redis.pid);
    }
    return this.redis.url;
  }

  /** A fresh random prefix on the private Redis (letters, digits, '-' as the config allows). */
  async newPrefix() {
    await this.redisUrl();
    const prefix = `bench-${this.tag}-${this.prefixes.size}`;
    this.prefixes.set(prefix, { client: null, tail: null, workers: [], retired: false });
    return prefix;
  }

  async client(prefix) {
    const p = this.prefixes.get(prefix);
    p.client ??= new ReapqClient({ redisUrl: await this.redisUrl(), prefix, env: {} });
    return p.client;
  }

  async tail(prefix) {
    const p = this.prefixes.get(prefix);
    p.tail ??= new Tail(await this.redisUrl(), prefix);
    return p.tail;
  }

  /** Any child process of the bench goes through here so it is tracked and reaped. */
  spawnTracked(cmd, args, opts) {
    const child = spawn(cmd, args, opts);
    if (child.pid !== undefined) {
      this.own.add(child.pid);
      const pid = child.pid;
      child.once('exit', () => this.own.delete(pid));
    }
    child.exited = exitedPromise(child);
    return child;
  }

  /** A process outside reapq (baselines, background load), marked so the leak check finds it. */
  spawnBare(cmd, args, opts = {}) {
    const child = this.spawnTracked(cmd, args, {
      stdio: 'ignore',
      ...opts,
      env: { ...cleanEnv(), ...(opts.env ?? {}), REAPQ_BENCH: this.tag },
    });
    this.bare.add(child);
    void child.exited.then(() => this.bare.delete(child));
    return child;
  }

  async killBare(children, signal = 'SIGTERM') {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
        try {
          process.kill(c.pid, signal);
        } catch {
          // already gone
        }
      }
    }
    await Promise.all(children.map((c) => c.exited));
  }

  /**
   * `node bin/reapq worker --host-id ID` as a child (optionally wrapped, e.g. in unshare),
   * resolved once it logs "worker ready". Output is drained continuously (last 64 kB kept).
   */
  async worker(prefix, hostId, { args = [], wrap = [], env = {}, nodeArgs = [], readyTimeoutMs = 30_000 } = {}) {
    const url = await this.redisUrl();
    const dataDir = mkdtempSync(join(tmpdir(), 'reapq-bench-'));
    this.tmpdirs.push(dataDir);
    const wenv = { ...cleanEnv(), REDIS_URL: url, REAPQ_PREFIX: prefix, REAPQ_DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env };
    const argv = [...wrap, process.execPath, ...nodeArgs, BIN, 'worker', '--host-id', hostId, ...args];
    const child = this.spawnTracked(argv[0], argv.slice(1), { env: wenv, stdio: ['ignore', 'pipe', 'pipe'] });
    const w = { child, hostId, prefix, wrapped: wrap.length > 0, pid: child.pid, out: '', ready: false };
    this.workers.push(w);
    this.prefixes.get(prefix).workers.push(w);
    const onData = (d) => {
      const s = w.out.slice(-64) + d;
      if (!w.ready && s.includes('"worker ready"')) w.ready = true;
      w.out = (w.out + d).slice(-65536);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    await until(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`worker ${hostId} exited before ready (${child.exitCode ?? child.signalCode}):\n${w.out.slice(-4000)}`);
        return w.ready;
      },
      readyTimeoutMs,
      `worker ${hostId} to log "worker ready"`,
    );
    if (w.wrapped) w.pid = innerPid(child.pid);
    return w;
  }

  async stopWorker(w) {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return;
    try {
      // unshare does not forward signals: the worker (PID 1 of its namespace) gets it directly.
      process.kill(w.wrapped ? innerPid(w.child.pid) : w.child.pid, 'SIGTERM');
    } catch {
      // gone
    }
    const res = await Promise.race([w.child.exited, sleep(20_000).then(() => null)]);
    if (res === null) {
      this.problems.push(`worker ${w.hostId} ignored SIGTERM for 20 s: SIGKILL`);
      try {
        if (w.wrapped) process.kill(innerPid(w.child.pid), 'SIGKILL');
      } catch {
        // gone
      }
      w.child.kill('SIGKILL');
      await w.child.exited;
    } else if (res.code !== 0) {
      this.problems.push(`worker ${w.hostId} exited with ${res.code ?? res.signal} on SIGTERM:\n${w.out.slice(-2000)}`);
    }
  }

  /** Stops every live record of the prefix through the client and waits until all are final. */
  async stopAllRecords(prefix, timeoutMs) {
    const client = await this.client(prefix);
    const recs = await client.list();
    const live = recs.filter((r) => !FINAL.has(r.state));
    await pool(live, 100, (r) => client.stop(r.id, { graceMs: 2000 }).catch((err) => this.problems.push(`stop ${r.id}: ${err.message}`)));
    // A safety net only (it returns as soon as all are final): every stop of a big host scans /proc a few times.
    const limit = timeoutMs ?? 60_000 + 500 * recs.length;
    const end = Date.now() + limit;
    let lastNote = Date.now();
    for (;;) {
      const all = await client.list();
      const open = all.filter((r) => !FINAL.has(r.state));
      if (open.length === 0) {
        const stoppedByUs = new Set(live.map((r) => r.id));
        const odd = all.filter((r) => stoppedByUs.has(r.id) && r.state !== 'stopped');
        if (odd.length)
          this.problems.push(
            `${odd.length} records ended ${[...new Set(odd.map((r) => r.state))].join('/')} instead of stopped (e.g. ${odd[0].id})`,
          );
        return all;
      }
      if (Date.now() > end) {
        this.problems.push(`${open.length} records of ${prefix} not final after ${limit} ms (e.g. ${open[0].id} ${open[0].state})`);
        return all;
      }
      if (Date.now() - lastNote > 10_000) {
        lastNote = Date.now();
        console.log(`  stopping the records of ${prefix}: ${open.length} of ${all.length} not final yet`);
      }
      await sleep(200);
    }
  }

  /** Stops the records of a prefix, then its workers, tail and client. */
  async retire(prefix) {
    const p = this.prefixes.get(prefix);
    if (!p || p.retired) return;
    p.retired = true;
    const workersUp = p.workers.some((w) => w.child.exitCode === null && w.child.signalCode === null);
    if (workersUp || p.client) {
      try {
        await this.stopAllRecords(prefix);
      } catch (err) {
        this.problems.push(`stopping records of ${prefix}: ${err.message}`);
      }
    }
    for (const w of p.workers) await this.stopWorker(w);
    await p.tail?.close();
    await p.client?.close().catch(() => undefined);
    p.tail = null;
    p.client = null;
  }

  async cleanup() {
    this.cleaning ??= (async () => {
      for (const prefix of this.prefixes.keys()) await this.retire(prefix);
      await this.killBare([...this.bare], 'SIGKILL');
      await this.redis?.stop();
      for (const d of this.tmpdirs) rmSync(d, { recursive: true, force: true });
    })();
    return this.cleaning;
  }

  /**
   * Nothing this bench started may survive it: no process carrying one of its prefixes'
   * cookies (REAPQ_OWNER=<prefix>/...), no worker (REAPQ_PREFIX=<prefix>), no bare process
   * (REAPQ_BENCH=<tag>), no redis-server, no zombie child. What is found is reported loudly
   * and killed. Carriers of other runs (someone's test suite) are only counted, unless
   * BENCH_STRICT_LEAKS=1.
   */
  async leakCheck() {
    const prefixes = [...this.prefixes.keys()];
    const ours = (e) =>
      e === `REAPQ_BENCH=${this.tag}` || prefixes.some((p) => e === `REAPQ_PREFIX=${p}` || e.startsWith(`REAPQ_OWNER=${p}/`));
    let found = scanEnv(ours);
    for (let i = 0; i < 50 && found.length > 0; i++) {
      await sleep(100);
      found = scanEnv(ours);
    }
    const leaks = found.map((x) => `${x.pid} (${x.comm}) ${x.env}`);
    this.reaper?.sweep(); // a subreaper bench reaps what it inherited before counting zombies
    if (this.redis && isAlive(this.redis.pid)) leaks.push(`${this.redis.pid} redis-server`);
    const zombies = ownZombies();
    if (zombies.length) leaks.push(`zombie children of the bench: ${zombies.join(' ')}`);
    const foreign = scanEnv((e) => e.startsWith('REAPQ_PROCESS_ID=')).filter((x) => !found.some((f) => f.pid === x.pid));
    if (process.env.BENCH_STRICT_LEAKS === '1')
      for (const x of foreign) leaks.push(`${x.pid} (${x.comm}) ${x.env} (foreign carrier, BENCH_STRICT_LEAKS=1)`);
    if (leaks.length) {
      console.error(
        `\n${'!'.repeat(72)}\n${this.name}: PROCESSES LEFT BEHIND (killing them now):\n  ${leaks.join('\n  ')}\n${'!'.repeat(72)}`,
      );
      for (const x of found) {
        try {
          process.kill(x.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (this.redis && isAlive(this.redis.pid)) process.kill(this.redis.pid, 'SIGKILL');
    } else {
      console.log(`  leak check: no process of this bench left (cookie carriers of other runs on the host: ${foreign.length})`);
    }
    return { ok: leaks.length === 0, leaks, foreignCarriers: foreign.length };
  }
}

/** Outer pid of the process unshare forked (PID 1 inside the namespace). */
export function innerPid(unsharePid) {
  const kids = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  if (kids.length === 0) throw new Error(`unshare ${unsharePid} has no child`);
  return kids[0];
}

// ---------------------------------------------------------------- running a bench

/**
 * Runs one bench: fn(ctx) returns { params, env, figures, extra }. Whatever happens, the
 * context is cleaned up and leak-checked; the result (or the failure) is written to
 * bench/results/<name>.json and a failure exits non-zero.
 */
export async function runBench(name, title, fn) {
  const ctx = new BenchContext(name);
  const started = new Date();
  // The machine may be shared: what else ran is part of every figure, so it is written down.
  const loadBefore = loadavg()[0];
  console.log(`\n== ${name}: ${title}`);
  let interrupted = false;
  const onSignal = (sig) => {
    // A second signal (Ctrl-C reaches run.mjs too, which forwards it) must not cut the cleanup short.
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${name}: ${sig}: cleaning up`);
    ctx
      .cleanup()
      .then(() => ctx.leakCheck())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let result = null;
  let error = null;
  try {
    result = await fn(ctx);
  } catch (err) {
    error = err;
  }
  try {
    await ctx.cleanup();
  } catch (err) {
    ctx.problems.push(`cleanup: ${err.stack ?? err.message}`);
  }
  const leak = await ctx.leakCheck();
  if (!error && !leak.ok) error = new Error(`left processes behind: ${leak.leaks.join('; ')}`);
  if (!error && ctx.problems.length) error = new Error(`cleanup problems: ${ctx.problems.join('; ')}`);
  else if (ctx.problems.length) console.error(`  cleanup problems:\n    ${ctx.problems.join('\n    ')}`);

  const envPart = Object.entries(result?.env ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const out = {
    name,
    title,
    date: started.toISOString(),
    seconds: Math.round((Date.now() - started.getTime()) / 100) / 10,
    machine: machine(),
    load: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadavg()[0] * 100) / 100 },
    command: `${envPart ? `${envPart} ` : ''}node bench/${name}.mjs`,
    params: result?.params ?? {},
    smoke: result?.smoke ?? false,
    figures: result?.figures ?? [],
    extra: result?.extra ?? {},
    leakCheck: leak,
    error: error ? String(error.message ?? error) : null,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
  if (error) {
    console.error(`\n!!! ${name} FAILED: ${error.stack ?? error}`);
    process.exit(1);
  }
  console.log(`  wrote bench/results/${name}.json (${out.seconds} s)`);
  process.exit(0);
}

/** Bare detached spawns as in the issue: spawn('sleep',['1000'],{detached:true,stdio:'ignore'}). */
export async function bareSpawnMany(ctx, n) {
  const kids = [];
  const t0 = now();
  const spawned = [];
  for (let i = 0; i < n; i++) {
    const c = ctx.spawnBare('sleep', ['1000'], { detached: true });
    kids.push(c);
    spawned.push(
      new Promise((res, rej) => {
        c.once('spawn', () => res(now()));
        c.once('error', rej);
      }),
    );
  }
  const times = await Promise.all(spawned);
  return { kids, t0, t1: Math.max(...times) };
}

// ---------------------------------------------------------------- Redis commands

/**
 * Calls per command since the last CONFIG RESETSTAT (INFO commandstats: what scripts run
 * inside counts too, each under its own name), without the meter's own INFO and RESETSTAT.
 * `conn` must be on the bench's own redis-server: RESETSTAT clears every client's counters.
 */
export async function commandStats(conn) {
  const out = {};
  for (const line of (await conn.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m && m[1] !== 'info' && !m[1].startsWith('config')) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Zeroes the counters commandStats reads (on the bench's own redis-server only). */
export async function resetStats(conn) {
  await conn.call('CONFIG', 'RESETSTAT');
}

/** The sum of per-command counts (commandStats) divided by n, by command and in total. */
export function perUnit(stats, n) {
  const by = Object.fromEntries(Object.entries(stats).map(([c, k]) => [c, k / n]));
  return { total: Object.values(stats).reduce((a, b) => a + b, 0) / n, by };
}
