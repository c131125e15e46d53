// What reapq costs Redis: commands and bytes per start, stop, waitFor, heartbeat and
// reconcile pass, and per idle host per second at the default intervals.
//
//   npx tsc -p tsconfig.json && node bench/redis-cost.mjs [--n 20] [--live 50]
//
// Starts its own redis-server (startLocalRedis, free loopback port, no persistence) and
// real `reapq worker` processes, and stops everything it started. Every figure comes from
// Redis itself: CONFIG RESETSTAT, then the operation, then one `INFO stats cpu commandstats`
// snapshot. Each measurement runs twice:
//   round A with MONITOR attached: counts the commands clients send (each pipelined one
//     counts), split into the producer's (this process, a ReapqClient) and the worker's
//     (found by the worker's socket ports in /proc), apart from the commands Lua scripts
//     run inside;
//   round B without MONITOR: commandstats (which counts commands inside scripts too),
//     network bytes and Redis CPU, undisturbed by MONITOR.
// The meter's own INFO request and RESETSTAT reply are subtracted from the byte counts.
// Per-operation figures subtract the background of an idle worker over the same time.
//
// Waits for the worker through its log lines (stderr), not through Redis, so waiting costs
// Redis nothing. Plain ESM on the compiled dist/.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ReapqClient } from '../dist/index.js';
import { makeKeys } from '../dist/shared/keys.js';
import { startLocalRedis } from '../dist/dev/local-redis.js';
import { connect } from '../dist/shared/redis.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/reapq');
const argv = process.argv.slice(2);
const argInt = (name, dflt) => {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
  return v;
};
const N = argInt('--n', 20);
const LIVE = argInt('--live', 50);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const QUIET = { REAPQ_HEARTBEAT_MS: '60000', REAPQ_RECONCILE_MS: '60000', REAPQ_STALLED_MS: '60000' };

const prefix = `bench-cost-${Date.now().toString(36)}`;
const hostId = 'cost-host';
const keys = makeKeys(prefix);
const dataDir = mkdtempSync(join(tmpdir(), 'reapq-redis-cost-'));

// ------------------------------------------------------------------ the worker process

function workerEnv(redisUrl, extra) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('REAPQ_') || k.startsWith('REDIS_')) delete env[k];
  return { ...env, REDIS_URL: redisUrl, REAPQ_PREFIX: prefix, REAPQ_DATA_DIR: dataDir, LOG_LEVEL: 'info', ...extra };
}

/** A `reapq worker` child; resolves once ready. Tracks its log lines for waitLog. */
async function startWorker(redisUrl, extra) {
  const child = spawn(process.execPath, [BIN, 'worker', '--host-id', hostId], {
    env: workerEnv(redisUrl, extra),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const seen = new Map(); // processId -> Set of msg
  const waiters = [];
  let buf = '';
  let ready = false;
  let all = '';
  child.stderr.on('data', (d) => {
    buf += d;
    all = (all + d).slice(-20_000);
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let j;
      try {
        j = JSON.parse(line);
      } catch {
        continue;
      }
      if (j.msg === 'worker ready') ready = true;
      if (typeof j.processId === 'string') {
        if (!seen.has(j.processId)) seen.set(j.processId, new Set());
        seen.get(j.processId).add(j.msg);
      }
      for (const w of [...waiters])
        if (w.test()) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
    }
  });
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 20_000;
  while (!ready) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker not ready:\n${all}`);
    await sleep(20);
  }
  return {
    pid: child.pid,
    child,
    /** Resolves when the worker logged msg for processId. */
    waitLog(id, msg, timeoutMs = 20_000) {
      const test = () => seen.get(id)?.has(msg) ?? false;
      if (test()) return Promise.resolve();
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no "${msg}" for ${id} within ${timeoutMs} ms:\n${all.slice(-2000)}`)), timeoutMs);
        waiters.push({
          test,
          resolve: () => {
            clearTimeout(timer);
            res();
          },
        });
      });
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Local ports of the worker's TCP sockets: how MONITOR lines are told apart by source. */
function socketPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9])) ports.add(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return ports;
}

// ------------------------------------------------------------------ the meter

function parseInfo(text) {
  const stats = {};
  const cmds = {};
  for (const line of text.split('\r\n')) {
    const c = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (c) {
      cmds[c[1]] = { calls: Number(c[2]), usec: Number(c[3]) };
      continue;
    }
    const kv = /^([a-z_]+):([\d.]+)$/.exec(line);
    if (kv) stats[kv[1]] = Number(kv[2]);
  }
  return { stats, cmds };
}

/** CPU time of every thread of a process, in microseconds (scheduler runtime, /proc schedstat). */
function cpuOf(pid) {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread gone
    }
  }
  return ns / 1000;
}

class Meter {
  constructor(url, redisPid) {
    this.url = url;
    this.redisPid = redisPid;
    this.r = connect(url, 'command');
  }

  /** Runs fn between RESETSTAT and one INFO snapshot; with monitor, also tallies round trips by source. */
  async measure(fn, { monitor, workerPid }) {
    let mon = null;
    const lines = [];
    if (monitor) {
      mon = await this.r.monitor();
      // ioredis can report a MONITOR line racing its disconnect as a queue error; the
      // counts are complete by then (lines are read until after the measurement).
      mon.on('error', () => undefined);
      mon.on('monitor', (_t, args, source) => lines.push([source, String(args[0]).toLowerCase()]));
    }
    await this.r.config('RESETSTAT');
    const cpu0 = cpuOf(this.redisPid);
    const t0 = performance.now();
    const out = await fn();
    const wallMs = performance.now() - t0;
    const cpuUs = cpuOf(this.redisPid) - cpu0;
    const w0 = this.r.stream.bytesWritten;
    const info = await this.r.info('stats', 'cpu', 'commandstats');
    const ownIn = this.r.stream.bytesWritten - w0; // the INFO request itself
    const ownOut = '+OK\r\n'.length; // the RESETSTAT reply, written after the reset
    const { stats, cmds } = parseInfo(info);
    // The meter's own INFO (this snapshot) and RESETSTAT; INFO sent by others (a new
    // ioredis connection's ready check) stays counted.
    if (cmds['info']) cmds['info'].calls -= 1;
    if (cmds['info']?.calls === 0) delete cmds['info'];
    delete cmds['config|resetstat'];
    const result = {
      wallMs,
      out,
      cmds,
      totalCommands: Object.values(cmds).reduce((a, c) => a + c.calls, 0),
      netIn: stats.total_net_input_bytes - ownIn,
      netOut: stats.total_net_output_bytes - ownOut,
      cpuUs,
      // Redis time inside commands sent by clients (a script's time includes its inner calls).
      top: null,
    };
    if (mon) {
      await sleep(100); // let the last MONITOR lines arrive
      mon.disconnect();
      const worker = socketPorts(workerPid);
      const own = `${this.r.stream.localAddress}:${this.r.stream.localPort}`;
      const top = { producer: {}, worker: {}, lua: {} };
      let last = 'producer';
      for (const [source, cmd] of lines) {
        if (source === own) continue;
        if (source === 'lua') {
          top.lua[`${last}:${cmd}`] = (top.lua[`${last}:${cmd}`] ?? 0) + 1;
          continue;
        }
        const port = Number(source.slice(source.lastIndexOf(':') + 1));
        last = worker.has(port) ? 'worker' : 'producer';
        top[last][cmd] = (top[last][cmd] ?? 0) + 1;
      }
      result.top = top;
      await sleep(50);
    }
    return result;
  }

  close() {
    this.r.disconnect();
  }
}

// ------------------------------------------------------------------ figures

const sum = (o) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);

/**
 * Per-operation figures from round A (commands sent) and round B (everything else), less the
 * idle background over the same wall time.
 */
function perOp(label, a, b, ops, bg) {
  pair(a, b);
  const scale = (x, bgPerMs, ms) => Math.max(0, (x - (bg ? bgPerMs * ms : 0)) / ops);
  const bgCmd = (name) => (bg ? (bg.cmds[name]?.calls ?? 0) / bg.wallMs : 0);
  const cmds = {};
  for (const [name, c] of Object.entries(b.cmds)) {
    const v = scale(c.calls, bgCmd(name), b.wallMs);
    if (v >= 0.05) cmds[name] = v;
  }
  const bgTop = (side) => (bg?.top ? sum(bg.top[side]) / bg.topWallMs : 0);
  return {
    label,
    ops,
    roundTripsProducer: scale(sum(a.top.producer), bgTop('producer'), a.wallMs),
    roundTripsWorker: scale(sum(a.top.worker), bgTop('worker'), a.wallMs),
    luaInner: scale(sum(a.top.lua), bg?.top ? sum(bg.top.lua) / bg.topWallMs : 0, a.wallMs),
    commands: scale(b.totalCommands, bg ? bg.totalCommands / bg.wallMs : 0, b.wallMs),
    netIn: scale(b.netIn, bg ? bg.netIn / bg.wallMs : 0, b.wallMs),
    netOut: scale(b.netOut, bg ? bg.netOut / bg.wallMs : 0, b.wallMs),
    usec: scale(b.usecTop, bg ? bg.usecTop / bg.wallMs : 0, b.wallMs),
    cpuUs: scale(b.cpuUs, bg ? bg.cpuUs / bg.wallMs : 0, b.wallMs),
    cmds,
    topProducer: a.top.producer,
    topWorker: a.top.worker,
    roundA: a,
  };
}

/**
 * Redis time inside commands (commandstats usec), without counting a script's inner calls
 * twice: a script's usec already includes them, so each command's usec is weighted by the
 * share of its calls that clients sent (round A) rather than scripts.
 */
function timeInCommands(a, b) {
  const top = {};
  const lua = {};
  for (const side of ['producer', 'worker']) for (const [c, n] of Object.entries(a.top[side])) top[c] = (top[c] ?? 0) + n;
  for (const [k, n] of Object.entries(a.top.lua)) {
    const c = k.slice(k.indexOf(':') + 1).toLowerCase();
    lua[c] = (lua[c] ?? 0) + n;
  }
  let usec = 0;
  for (const [c, { usec: u }] of Object.entries(b.cmds)) {
    const t = top[c] ?? 0;
    const l = lua[c] ?? 0;
    usec += t + l > 0 ? (u * t) / (t + l) : u;
  }
  return usec;
}

/** Both rounds of one measurement, with round B's time in commands filled in. */
function pair(a, b) {
  b.usecTop = timeInCommands(a, b);
  return [a, b];
}

/** Idle background: round B's totals plus round A's commands sent, both per ms. */
function background(a, b) {
  pair(a, b);
  return { ...b, top: a.top, topWallMs: a.wallMs };
}

const FIGURES = ['roundTripsProducer', 'roundTripsWorker', 'luaInner', 'commands', 'netIn', 'netOut', 'usec', 'cpuUs'];
const fmt = (x, d = 1) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(d));

function printTable(rows) {
  console.log(
    '\n| operation | commands sent (producer + worker) | commands run, incl. inside Lua | bytes to Redis | bytes from Redis | time in commands | Redis CPU |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.label} | ${fmt(r.roundTripsProducer + r.roundTripsWorker)} (${fmt(r.roundTripsProducer)} + ${fmt(r.roundTripsWorker)}) | ${fmt(r.commands)} | ${fmt(r.netIn, 0)} | ${fmt(r.netOut, 0)} | ${fmt(r.usec)} us | ${fmt(r.cpuUs)} us |`,
    );
  }
  console.log('\nPer command (commandstats of round B, per operation, background removed; includes commands run inside scripts):');
  for (const r of rows) {
    const list = Object.entries(r.cmds)
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ');
    console.log(`- ${r.label}: ${list}`);
  }
  console.log('\nCommands sent, by sender (round A, raw counts over the whole measurement, not per operation):');
  for (const r of rows) {
    if (!r.roundA.top) continue;
    const f = (o) =>
      Object.entries(o)
        .sort((x, y) => y[1] - x[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '-';
    console.log(
      `- ${r.label} (${fmt(r.ops)} ${r.perSecond ? 's' : 'ops'}, ${fmt(r.roundA.wallMs, 0)} ms): producer: ${f(r.topProducer)}; worker: ${f(r.topWorker)}`,
    );
  }
}

// ------------------------------------------------------------------ the run

const redis = await startLocalRedis({});
const meter = new Meter(redis.url, redis.pid);
const client = new ReapqClient({ redisUrl: redis.url, prefix, env: {} });
let worker = null;
const live = new Set();
// A crash must not leave a worker or managed processes behind (Redis has its own exit hook).
process.on('exit', () => {
  worker?.child.kill('SIGKILL');
  killCookieCarriers();
  rmSync(dataDir, { recursive: true, force: true });
});
process.on('uncaughtException', (err) => {
  console.error('redis-cost failed:', err);
  process.exit(1);
});

async function startOne(w) {
  const rec = await client.start({ command: ['sleep', '1000'] });
  live.add(rec.id);
  await w.waitLog(rec.id, 'spawned');
  return rec.id;
}
async function stopOne(w, id) {
  await client.stop(id, { graceMs: 1000 });
  await w.waitLog(id, 'stop finished');
  live.delete(id);
}
/** The worker finishes its BullMQ bookkeeping (job completion) right after the log line. */
const settle = () => sleep(150);

try {
  const rows = [];
  console.log(`redis-cost: redis-server ${redis.url}, prefix ${prefix}, N=${N} per operation, ${LIVE} live for the pass scaling`);

  // Run Q: a quiet worker (no heartbeat, pass or stalled check within the windows).
  worker = await startWorker(redis.url, QUIET);
  const w = worker;
  await stopOne(w, await startOne(w)); // warm-up: queues created, scripts loaded
  await settle();
  const idleA = await meter.measure(() => sleep(3000), { monitor: true, workerPid: w.pid });
  const idleB = await meter.measure(() => sleep(3000), { monitor: false });
  const bg = background(idleA, idleB);

  const idsA = [];
  const idsB = [];
  const startA = await meter.measure(
    async () => {
      for (let i = 0; i < N; i++) idsA.push(await startOne(w));
      await settle();
    },
    { monitor: true, workerPid: w.pid },
  );
  const startB = await meter.measure(
    async () => {
      for (let i = 0; i < N; i++) idsB.push(await startOne(w));
      await settle();
    },
    { monitor: false },
  );
  rows.push(perOp('start (client.start -> running)', startA, startB, N, bg));

  // The same starts, waited for as a backend does: client.waitFor (a duplicate connection,
  // XREAD BLOCK on the record's stream, HGET of the record after each wake-up).
  const idsWA = [];
  const idsWB = [];
  const startOneWaiting = async (ids) => {
    const rec = await client.start({ command: ['sleep', '1000'] });
    live.add(rec.id);
    ids.push(rec.id);
    await client.waitFor(rec.id, 'running');
  };
  const waitA = await meter.measure(
    async () => {
      for (let i = 0; i < N; i++) await startOneWaiting(idsWA);
      await settle();
    },
    { monitor: true, workerPid: w.pid },
  );
  const waitB = await meter.measure(
    async () => {
      for (let i = 0; i < N; i++) await startOneWaiting(idsWB);
      await settle();
    },
    { monitor: false },
  );
  const startRow = rows[0];
  const waitRow = perOp('start + client.waitFor(running)', waitA, waitB, N, bg);
  rows.push(waitRow);
  // waitFor's own share: what the producer sent beyond client.start (plain commands, none in
  // Lua); bytes and time as the difference of the two rows (the worker's part is the same).
  const waitSent = Math.max(0, waitRow.roundTripsProducer - startRow.roundTripsProducer);
  rows.push({
    ...waitRow,
    label: 'of which client.waitFor',
    cmds: {},
    topProducer: {},
    topWorker: {},
    roundA: { wallMs: 0 },
    ...Object.fromEntries(FIGURES.map((k) => [k, Math.max(0, waitRow[k] - startRow[k])])),
    roundTripsProducer: waitSent,
    roundTripsWorker: 0,
    commands: waitSent,
  });

  const stopA = await meter.measure(
    async () => {
      for (const id of idsA) await stopOne(w, id);
      await settle();
    },
    { monitor: true, workerPid: w.pid },
  );
  const stopB = await meter.measure(
    async () => {
      for (const id of idsB) await stopOne(w, id);
      await settle();
    },
    { monitor: false },
  );
  const stopRow = perOp('stop (client.stop -> stopped)', stopA, stopB, N, bg);
  rows.push(stopRow);
  rows.push({
    ...startRow,
    label: 'one start + stop',
    cmds: {},
    topProducer: {},
    topWorker: {},
    roundA: { wallMs: 0 },
    ...Object.fromEntries(FIGURES.map((k) => [k, startRow[k] + stopRow[k]])),
  });
  for (const id of [...idsWA, ...idsWB]) await stopOne(w, id);
  await settle();

  // Log shipping: a process that prints LINES lines of 40 bytes a second after it started;
  // the worker ships them (one XADD each, capped stream, pipelined every 250 ms).
  const LINES = 400;
  const chatty = `sleep 1; i=0; while [ $i -lt ${LINES} ]; do printf 'log line %06d of a chatty process.....\\n' $i; i=$((i+1)); done; exec sleep 1000`;
  const logsOf = async (monitor) => {
    const rec = await client.start({ command: ['sh', '-c', chatty] });
    live.add(rec.id);
    await w.waitLog(rec.id, 'spawned');
    await settle();
    const m = await meter.measure(
      async () => {
        const end = Date.now() + 10_000;
        while ((await meter.r.xlen(keys.logs(rec.id))) < LINES && Date.now() < end) await sleep(100);
        await sleep(300);
      },
      { monitor, workerPid: w.pid },
    );
    return { m, id: rec.id };
  };
  const logA = await logsOf(true);
  const logB = await logsOf(false);
  // The meter's own XLEN polls are not the worker's: take them off.
  for (const x of [logA, logB]) {
    const polls = x.m.cmds['xlen']?.calls ?? 0;
    delete x.m.cmds['xlen'];
    x.m.totalCommands -= polls;
    if (x.m.top) delete x.m.top.producer['xlen'];
    x.m.netIn -= polls * Buffer.byteLength(`*2\r\n$4\r\nxlen\r\n$${Buffer.byteLength(keys.logs(logB.id))}\r\n${keys.logs(logB.id)}\r\n`);
    x.m.netOut -= polls * `:${LINES}\r\n`.length;
  }
  const logRow = perOp(`log shipping, per output line (${LINES} lines of 40 B)`, logA.m, logB.m, LINES, bg);
  rows.push(logRow);
  const logStreamBytes = Number((await meter.r.call('MEMORY', 'USAGE', keys.logs(logB.id), 'SAMPLES', '0')) ?? 0);
  for (const id of [logA.id, logB.id]) await stopOne(w, id);
  await settle();

  // Memory a process leaves in Redis (finished record, its stream, its share of the global stream).
  const mem = async (k) => Number((await meter.r.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  const recBytes = await mem(keys.record(idsB[0]));
  const streamBytes = await mem(keys.stream(idsB[0]));
  const globalLen = await meter.r.xlen(keys.globalStream);
  const globalBytes = await mem(keys.globalStream);
  const events = await meter.r.xlen(keys.stream(idsB[0]));
  const recordJson = (await meter.r.hget(keys.record(idsB[0]), 'r')) ?? '';
  await worker.stop();

  // Run H: heartbeats every 250 ms, nothing else.
  worker = await startWorker(redis.url, { ...QUIET, REAPQ_HEARTBEAT_MS: '250' });
  const hbA = await meter.measure(() => sleep(4000), { monitor: true, workerPid: worker.pid });
  const hbB = await meter.measure(() => sleep(4000), { monitor: false });
  const beats = hbB.cmds['sismember']?.calls ?? Math.round(hbB.wallMs / 250);
  const hbRow = perOp('heartbeat (drain check + HSET)', hbA, hbB, beats, bg);
  hbRow.heartbeatJson = (await meter.r.hget(keys.hosts, hostId)) ?? '';
  rows.push(hbRow);
  await worker.stop();

  // Run R: reconcile passes every 500 ms, first over the finished records, then with LIVE more.
  worker = await startWorker(redis.url, { ...QUIET, REAPQ_RECONCILE_MS: '500' });
  const records0 = await meter.r.scard(keys.hostIndex(hostId));
  const passesOf = (m) => m.cmds['smembers']?.calls ?? Math.round(m.wallMs / 500);
  const r0A = await meter.measure(() => sleep(4000), { monitor: true, workerPid: worker.pid });
  const r0B = await meter.measure(() => sleep(4000), { monitor: false });
  const pass0 = perOp(`reconcile pass, ${records0} records on the host`, r0A, r0B, passesOf(r0B), bg);
  rows.push(pass0);
  const liveIds = [];
  for (let i = 0; i < LIVE; i++) liveIds.push(await startOne(worker));
  await settle();
  const records1 = await meter.r.scard(keys.hostIndex(hostId));
  const r1A = await meter.measure(() => sleep(4000), { monitor: true, workerPid: worker.pid });
  const r1B = await meter.measure(() => sleep(4000), { monitor: false });
  const pass1 = perOp(`reconcile pass, ${records1} records on the host`, r1A, r1B, passesOf(r1B), bg);
  rows.push(pass1);
  const perRecord = (k) => (pass1[k] - pass0[k]) / (records1 - records0);
  rows.push({
    label: 'reconcile pass, each further record',
    ops: 1,
    cmds: {},
    topProducer: {},
    topWorker: {},
    roundA: { wallMs: 0 },
    ...Object.fromEntries(FIGURES.map((k) => [k, Math.max(0, perRecord(k))])),
  });
  await worker.stop();

  // Run D: the default intervals (heartbeat 2 s, pass 3 s, stalled check 5 s), idle, per second.
  worker = await startWorker(redis.url, {});
  await sleep(1000);
  const dA = await meter.measure(() => sleep(9000), { monitor: true, workerPid: worker.pid });
  const dB = await meter.measure(() => sleep(9000), { monitor: false });
  const dRow = perOp(`idle host at the default intervals, per second (${records1} records, ${LIVE} live)`, dA, dB, dB.wallMs / 1000, null);
  const bgRow = perOp('idle worker, no heartbeat/pass/stalled check due, per second', idleA, idleB, idleB.wallMs / 1000, null);
  dRow.perSecond = bgRow.perSecond = true;
  rows.push(dRow, bgRow);

  for (const id of liveIds) await stopOne(worker, id);
  await settle();

  printTable(rows);
  console.log('\nMemory per finished process (MEMORY USAGE SAMPLES 0):');
  console.log(
    `- record hash ${recBytes} B (record JSON ${Buffer.byteLength(recordJson)} B), event stream ${streamBytes} B (${events} events), global stream ${fmt(globalBytes / globalLen, 0)} B per entry (${globalLen} entries)`,
  );
  console.log(`- log stream ${logStreamBytes} B for ${LINES} lines of 40 B (${fmt(logStreamBytes / LINES)} B per line)`);
  console.log(`- heartbeat JSON ${Buffer.byteLength(hbRow.heartbeatJson)} B`);
  console.log(
    `\nRedis CPU is the redis-server's scheduler runtime (/proc/PID/task/*/schedstat), all threads, I/O included; "time in commands" is commandstats usec (execution only). Idle background taken off per operation: ${fmt(bgRow.cpuUs / 1000, 2)} ms/s of Redis CPU.`,
  );
  console.log(
    `\nredis-server ${(await meter.r.info('server')).match(/redis_version:(\S+)/)?.[1]}, node ${process.version}, N=${N}, LIVE=${LIVE}`,
  );
} finally {
  // Nothing may outlive the bench: stop what is live, then the worker, then Redis.
  if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
    for (const id of [...live]) await stopOne(worker, id).catch(() => undefined);
    await worker.stop().catch(() => undefined);
  }
  killCookieCarriers();
  await client.close().catch(() => undefined);
  meter.close();
  await redis.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

/** Last resort after a failure: SIGKILL any process still carrying this bench's owner cookie. */
function killCookieCarriers() {
  const cookie = `REAPQ_OWNER=${prefix}/${hostId}`;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(cookie)) process.kill(Number(name), 'SIGKILL');
    } catch {
      // gone or not ours
    }
  }
}
