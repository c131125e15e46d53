// Many light simulated hosts against one private Redis: what the fleet's steady state costs
// Redis per host, measured from INFO deltas.
//
//   npx tsc -p tsconfig.json && node bench/simulate-hosts.mjs [--hosts 50] [--records 100]
//       [--seconds 10] [--heartbeat-ms 2000] [--reconcile-ms 3000]
//
// Each simulated host has its own connection and, like a real worker at the default
// intervals, every heartbeat-ms: the drain check (SISMEMBER) and its heartbeat (HSET of a
// JSON like a real worker's), and every reconcile-ms: the records of its host through the
// real EventStore.ofHost (SMEMBERS of its host index, pipelined HGET of every record) and
// the real fleet pass, clusterPass (lock SET NX, HGETALL of the hosts hash, release). No
// process is started: the records are seeded `running` through the real Lua append. Not
// simulated: BullMQ's share of a pass (the reconcile job itself) and its blocking fetch;
// bench/redis-cost.mjs measures those on a real worker.
//
// Starts its own redis-server (startLocalRedis) and stops it. Timers start at random
// phases, so the load is steady from the first second. Plain ESM on the compiled dist/.
import { EventStore } from '../dist/shared/event-store.js';
import { makeKeys } from '../dist/shared/keys.js';
import { startLocalRedis } from '../dist/dev/local-redis.js';
import { connect } from '../dist/shared/redis.js';
import { clusterPass } from '../dist/worker/reconcile/lost-hosts.js';

const argv = process.argv.slice(2);
const argInt = (name, dflt, min = 1) => {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} needs an integer >= ${min}`);
  return v;
};
const HOSTS = argInt('--hosts', 50);
const RECORDS = argInt('--records', 100, 0);
const SECONDS = argInt('--seconds', 10);
const HEARTBEAT_MS = argInt('--heartbeat-ms', 2000, 100);
const RECONCILE_MS = argInt('--reconcile-ms', 3000, 100);
if (SECONDS > 15) throw new Error('--seconds is capped at 15 (shared machine)');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const prefix = `bench-sim-${Date.now().toString(36)}`;
const keys = makeKeys(prefix);
const hostIds = Array.from({ length: HOSTS }, (_, i) => `sim-${String(i).padStart(4, '0')}`);
const silent = {
  info() {},
  warn() {},
  error() {},
  debug() {},
  child() {
    return silent;
  },
};

function parseInfo(text) {
  const stats = {};
  const cmds = {};
  for (const line of text.split('\r\n')) {
    const c = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (c) cmds[c[1]] = { calls: Number(c[2]), usec: Number(c[3]) };
    const kv = /^([a-z_]+):([\d.]+)$/.exec(line);
    if (kv) stats[kv[1]] = Number(kv[2]);
  }
  return { stats, cmds, cpu: (stats.used_cpu_user ?? 0) + (stats.used_cpu_sys ?? 0) };
}

/** A record as a real worker leaves it running: start_requested, spawn_begun, spawned. */
function seedEvents(host, n) {
  const pid = 100_000 + n;
  return [
    {
      type: 'start_requested',
      spec: {
        name: `app-${n}`,
        command: ['node', 'server.js', '--port', '3000'],
        cwd: '/srv/app',
        env: { NODE_ENV: 'production' },
        port: 'auto',
        restart: 'on-failure',
        graceMs: 10_000,
        host: null,
        ready: null,
      },
    },
    { type: 'spawn_begun', host, port: 20_000 + (n % 10_000) },
    {
      type: 'spawned',
      host,
      pid,
      pgid: pid,
      sid: pid,
      startTime: 1_234_567 + n,
      bootId: '5f1c2a9e-0d7b-4b5e-9a53-3c9f2d1e7a10',
      port: 20_000 + (n % 10_000),
    },
  ];
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const redis = await startLocalRedis({});
const admin = connect(redis.url, 'command');
const conns = [];
const timers = [];
try {
  // Seed: RECORDS running records per host, through the real append (one Lua call each).
  const seedStore = new EventStore(admin, keys);
  const t0 = performance.now();
  const jobs = [];
  for (const host of hostIds) for (let n = 0; n < RECORDS; n++) jobs.push([host, n]);
  for (let i = 0; i < jobs.length; i += 500) {
    await Promise.all(
      jobs.slice(i, i + 500).map(([host, n]) => seedStore.transact(`${host}-p${n}`, (cur) => (cur ? null : seedEvents(host, n)))),
    );
  }
  const seedMs = performance.now() - t0;
  const sample = (await admin.hget(keys.record(`${hostIds[0]}-p0`), 'r')) ?? '';

  // Redis's own idle CPU, to take off the measured figure.
  await admin.config('RESETSTAT');
  const b0 = parseInfo(await admin.info('cpu'));
  await sleep(1000);
  const b1 = parseInfo(await admin.info('cpu'));
  const idleCpuPerSec = b1.cpu - b0.cpu;

  const latencies = { heartbeat: [], reconcile: [] };
  let errors = 0;
  let measuring = false;
  const every = (ms, fn) => {
    const phase = Math.random() * ms;
    const first = setTimeout(() => {
      void fn();
      timers.push(setInterval(() => void fn(), ms));
    }, phase);
    timers.push(first);
  };
  for (const hostId of hostIds) {
    const conn = connect(redis.url, 'command');
    conns.push(conn);
    const store = new EventStore(conn, keys);
    const started = Date.now();
    let passes = 0;
    const beat = async () => {
      const t = performance.now();
      try {
        await conn.sismember(keys.drain, hostId);
        const value = JSON.stringify({
          hostId,
          pid: 4242,
          version: '0.1.0',
          state: 'up',
          load: RECORDS,
          capacity: null,
          at: Date.now(),
          ttlMs: HEARTBEAT_MS * 3,
          counters: {
            starts: RECORDS,
            spawnFailures: 0,
            exits: 0,
            stops: 0,
            reaped: 0,
            reconcilePasses: passes,
            reconcileMsTotal: passes * 4,
            uptimeS: Math.round((Date.now() - started) / 1000),
          },
        });
        await conn.hset(keys.hosts, hostId, value);
        if (measuring) latencies.heartbeat.push(performance.now() - t);
      } catch {
        errors++;
      }
    };
    const pass = async () => {
      const t = performance.now();
      try {
        const recs = await store.ofHost(hostId);
        if (recs.length !== RECORDS) throw new Error(`read ${recs.length} records of ${hostId}`);
        await clusterPass({ redis: conn, store, keys, log: silent, hostId, now: Date.now, enqueueStart: async () => undefined });
        passes++;
        if (measuring) latencies.reconcile.push(performance.now() - t);
      } catch {
        errors++;
      }
    };
    await beat(); // every host is alive before the first fleet pass looks
    every(HEARTBEAT_MS, beat);
    every(RECONCILE_MS, pass);
  }

  await admin.config('RESETSTAT');
  measuring = true;
  // The meter's own traffic after the reset is taken off: both INFO requests, the first
  // INFO's reply and the RESETSTAT reply (written after the counters were zeroed).
  const wr0 = admin.stream.bytesWritten;
  const rd0 = admin.stream.bytesRead;
  const m0 = parseInfo(await admin.info('cpu'));
  const w0 = performance.now();
  await sleep(SECONDS * 1000);
  const rd1 = admin.stream.bytesRead;
  const m1 = parseInfo(await admin.info('stats', 'cpu', 'commandstats'));
  const secs = (performance.now() - w0) / 1000;
  const ownIn = admin.stream.bytesWritten - wr0;
  const ownOut = rd1 - rd0 + '+OK\r\n'.length;
  measuring = false;
  for (const t of timers) {
    clearTimeout(t);
    clearInterval(t);
  }

  const cmds = Object.entries(m1.cmds).filter(([name]) => name !== 'info' && !name.startsWith('config'));
  const commands = cmds.reduce((a, [, c]) => a + c.calls, 0);
  const usec = cmds.reduce((a, [, c]) => a + c.usec, 0);
  const netIn = m1.stats.total_net_input_bytes - ownIn;
  const netOut = m1.stats.total_net_output_bytes - ownOut;
  const cpu = m1.cpu - m0.cpu - idleCpuPerSec * secs;
  const perHost = (x) => x / secs / HOSTS;
  const fmt = (x, d = 1) => (Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(d));
  latencies.heartbeat.sort((a, b) => a - b);
  latencies.reconcile.sort((a, b) => a - b);

  console.log(
    `simulate-hosts: ${HOSTS} hosts x ${RECORDS} running records, heartbeat ${HEARTBEAT_MS} ms, pass ${RECONCILE_MS} ms, ${fmt(secs)} s measured (seeded ${HOSTS * RECORDS} records in ${fmt(seedMs / 1000)} s)`,
  );
  console.log('');
  console.log('| figure | whole Redis | per host |');
  console.log('|---|---:|---:|');
  console.log(`| commands/s (commandstats, incl. inside Lua) | ${fmt(commands / secs)} | ${fmt(perHost(commands))} |`);
  console.log(`| bytes/s to Redis | ${fmt(netIn / secs)} | ${fmt(perHost(netIn))} |`);
  console.log(`| bytes/s from Redis | ${fmt(netOut / secs)} | ${fmt(perHost(netOut))} |`);
  console.log(
    `| Redis CPU, ms/s (INFO cpu, less ${fmt(idleCpuPerSec * 1000)} ms/s idle) | ${fmt((cpu / secs) * 1000)} | ${fmt(perHost(cpu) * 1000, 2)} |`,
  );
  console.log(`| time in commands, ms/s (commandstats usec) | ${fmt(usec / secs / 1000)} | ${fmt(perHost(usec) / 1000, 3)} |`);
  console.log('');
  console.log(`Redis CPU per command: ${fmt((cpu * 1e6) / commands, 2)} us; time in the command itself: ${fmt(usec / commands, 2)} us`);
  console.log(
    `Latency seen by a host (client side): heartbeat p50 ${fmt(pct(latencies.heartbeat, 50), 2)} ms, p99 ${fmt(pct(latencies.heartbeat, 99), 2)} ms; pass (records + fleet pass) p50 ${fmt(pct(latencies.reconcile, 50), 2)} ms, p99 ${fmt(pct(latencies.reconcile, 99), 2)} ms (${latencies.reconcile.length} passes); errors ${errors}`,
  );
  console.log(
    `Per command, per second per host: ${cmds
      .sort((a, b) => b[1].calls - a[1].calls)
      .map(([n, c]) => `${n} ${fmt(perHost(c.calls), 2)}`)
      .join(', ')}`,
  );
  console.log(`Record JSON ${Buffer.byteLength(sample)} B`);
  const mem = parseInfo(await admin.info('memory'));
  console.log(
    `Redis memory: used_memory ${fmt(mem.stats.used_memory / 1e6)} MB for ${HOSTS * RECORDS} records (${fmt(mem.stats.used_memory / Math.max(1, HOSTS * RECORDS), 0)} B each, with their event streams and the global stream)`,
  );
  console.log(`redis-server ${(await admin.info('server')).match(/redis_version:(\S+)/)?.[1]}, node ${process.version}`);
} finally {
  for (const t of timers) {
    clearTimeout(t);
    clearInterval(t);
  }
  for (const c of conns) c.disconnect();
  admin.disconnect();
  await redis.stop();
}
