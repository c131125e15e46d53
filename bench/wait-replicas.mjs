// What REAPQ_REDIS_WAIT_REPLICAS costs a producer: ReapqClient.start() throughput (N starts,
// C in flight) and one-at-a-time latency against a master with one replica (REPLICAOF), with
// the setting off (0) and at 1, runs interleaved. Not part of `npm run bench` (BENCHMARKS.md);
// its figures are quoted in SCALING.md, "What a failover costs".
//
//   npm run build && flock /tmp/reapq-cpu.lock node bench/wait-replicas.mjs [--n 2000] [--c 32] [--runs 3]
//
// Starts its own two redis-servers (free loopback ports, no persistence) and stops them; no
// worker runs, so a start is the record append (and its WAIT) plus the start job's enqueue.
import { Redis } from 'ioredis';
import { ReapqClient } from '../dist/index.js';
import { startLocalRedis } from '../dist/dev/local-redis.js';
import { now, percentile, pool, until } from './lib.mjs';

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  const v = i < 0 ? dflt : Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
  return v;
};
const N = arg('--n', 2000);
const C = arg('--c', 32);
const RUNS = arg('--runs', 3);
const LATENCY_N = 300;

const master = await startLocalRedis({});
const replica = await startLocalRedis({});
try {
  const r = new Redis(replica.port);
  await r.replicaof('127.0.0.1', master.port);
  await until(async () => /master_link_status:up/.test(await r.info('replication')), 10_000, 'the replica to sync');
  r.disconnect();

  const results = { 0: { rate: [], p50: [], p99: [] }, 1: { rate: [], p50: [], p99: [] } };
  for (let run = 0; run < RUNS; run++) {
    for (const waits of [0, 1]) {
      const prefix = `bench-wait-${Date.now().toString(36)}-${waits}`;
      const c = new ReapqClient({ redisUrl: master.url, prefix, env: { REAPQ_REDIS_WAIT_REPLICAS: String(waits) } });
      const spec = (id) => ({ id, command: ['sleep', '1000'] });
      await pool(
        Array.from({ length: 100 }, (_, i) => `warm-${i}`),
        C,
        (id) => c.start(spec(id)),
      );
      const t0 = now();
      await pool(
        Array.from({ length: N }, (_, i) => `p-${i}`),
        C,
        (id) => c.start(spec(id)),
      );
      results[waits].rate.push(N / ((now() - t0) / 1000));
      const lat = [];
      for (let i = 0; i < LATENCY_N; i++) {
        const t = now();
        await c.start(spec(`l-${i}`));
        lat.push(now() - t);
      }
      results[waits].p50.push(percentile(lat, 0.5));
      results[waits].p99.push(percentile(lat, 0.99));
      await c.close();
    }
  }
  // Proof the setting did something: the master counts the WAITs it answered.
  const m = new Redis(master.port);
  const waitCalls = /cmdstat_wait:calls=(\d+)/.exec(await m.info('commandstats'))?.[1] ?? '0';
  m.disconnect();
  console.log(`master answered ${waitCalls} WAIT commands (expected ${RUNS * (100 + N + LATENCY_N)})`);
  const med = (xs) => percentile(xs, 0.5);
  for (const waits of [0, 1]) {
    const x = results[waits];
    console.log(
      `REAPQ_REDIS_WAIT_REPLICAS=${waits}: ${Math.round(med(x.rate))} starts/s (${C} in flight, N=${N}; runs ${x.rate.map(Math.round).join(', ')}), ` +
        `one at a time p50 ${med(x.p50).toFixed(2)} ms, p99 ${med(x.p99).toFixed(2)} ms`,
    );
  }
} finally {
  await replica.stop();
  await master.stop();
}
