// Start latency at low load: N sequential starts, from client.start() to `running` recorded,
// p50/p99. Baselines: a bare spawn (spawn() to its 'spawn' event) and a BullMQ round trip
// (queue.add() to a no-op processor in this process). Goal: p50 < 10 ms, p99 < 30 ms.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { benchRuns, envInt, figure, now, percentile, printFigure, runBench } from './lib.mjs';

const N = envInt('BENCH_N', 100, 1);
const RUNS = benchRuns();
const WARMUP = envInt('BENCH_WARMUP', 5, 0);

await runBench('start-latency', `${N} sequential starts at low load: start() -> running, p50/p99`, async (ctx) => {
  const url = await ctx.redisUrl();
  const prefix = await ctx.newPrefix();
  await ctx.worker(prefix, 'lat');
  const client = await ctx.client(prefix);
  const tail = await ctx.tail(prefix);

  // BullMQ baseline: its own queue under the bench's prefix, a no-op processor in-process.
  const qname = 'bench-rtt';
  const qprefix = `{${prefix}}:benchq`;
  const qconn = new Redis(url, { maxRetriesPerRequest: null });
  const wconn = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue(qname, { connection: qconn, prefix: qprefix });
  const arrived = new Map();
  const bullWorker = new Worker(qname, async (job) => arrived.get(job.id)?.(now()), { connection: wconn, prefix: qprefix, concurrency: 1 });
  await bullWorker.waitUntilReady();

  const oneStart = async () => {
    const t0 = now();
    const rec = await client.start({ command: ['sleep', '1000'] });
    const t1 = now();
    const s = await tail.when(rec.id, 'spawned', { fail: ['spawn_failed'], timeoutMs: 30_000 });
    return { total: s.t - t0, call: t1 - t0 };
  };
  const oneBare = async () => {
    const t0 = now();
    const c = ctx.spawnBare('sleep', ['1000'], { detached: true });
    await new Promise((res, rej) => {
      c.once('spawn', res);
      c.once('error', rej);
    });
    const dt = now() - t0;
    await ctx.killBare([c]);
    return dt;
  };
  let jobNo = 0;
  const oneBull = async () => {
    const id = `j${++jobNo}`;
    const got = new Promise((res) => arrived.set(id, res));
    const t0 = now();
    await queue.add('noop', {}, { jobId: id, removeOnComplete: true, removeOnFail: true });
    const t1 = await got;
    arrived.delete(id);
    return t1 - t0;
  };

  const per = { p50: [], p99: [], call50: [], bare50: [], bare99: [], bull50: [], bull99: [] };
  try {
    for (let i = 0; i < WARMUP; i++) {
      await oneStart();
      await oneBare();
      await oneBull();
    }
    for (let run = 1; run <= RUNS; run++) {
      const starts = [];
      const bare = [];
      const bull = [];
      for (let i = 0; i < N; i++) starts.push(await oneStart());
      for (let i = 0; i < N; i++) bare.push(await oneBare());
      for (let i = 0; i < N; i++) bull.push(await oneBull());
      const totals = starts.map((s) => s.total);
      per.p50.push(percentile(totals, 0.5));
      per.p99.push(percentile(totals, 0.99));
      per.call50.push(
        percentile(
          starts.map((s) => s.call),
          0.5,
        ),
      );
      per.bare50.push(percentile(bare, 0.5));
      per.bare99.push(percentile(bare, 0.99));
      per.bull50.push(percentile(bull, 0.5));
      per.bull99.push(percentile(bull, 0.99));
      console.log(
        `  run ${run}/${RUNS}: start->running p50 ${per.p50.at(-1).toFixed(2)} ms p99 ${per.p99.at(-1).toFixed(2)} ms; bare spawn p50 ${per.bare50.at(-1).toFixed(2)} ms; BullMQ p50 ${per.bull50.at(-1).toFixed(2)} ms`,
      );
      // Low load: the processes of this run go before the next one starts.
      await ctx.stopAllRecords(prefix);
    }
  } finally {
    await bullWorker.close();
    await queue.close();
    qconn.disconnect();
    wconn.disconnect();
  }

  const figures = [
    figure({
      id: 'p50',
      label: 'start() -> running, p50',
      unit: 'ms',
      samples: per.p50,
      goal: { op: '<', value: 10 },
      baselines: [
        { label: 'bare spawn -> spawn event, p50', samples: per.bare50 },
        { label: 'BullMQ add -> processor, p50', samples: per.bull50 },
      ],
    }),
    figure({
      id: 'p99',
      label: 'start() -> running, p99',
      unit: 'ms',
      samples: per.p99,
      goal: { op: '<', value: 30 },
      baselines: [
        { label: 'bare spawn -> spawn event, p99', samples: per.bare99 },
        { label: 'BullMQ add -> processor, p99', samples: per.bull99 },
      ],
    }),
    figure({ id: 'call', label: 'client.start() call (pending recorded), p50', unit: 'ms', samples: per.call50, chart: false }),
  ];
  figures.forEach(printFigure);
  return {
    env: { BENCH_N: N, BENCH_RUNS: RUNS, ...(WARMUP !== 5 ? { BENCH_WARMUP: WARMUP } : {}) },
    params: { N, runs: RUNS, warmup: WARMUP, workerConcurrency: 8, command: 'sleep 1000' },
    smoke: N < 100,
    figures,
  };
});
