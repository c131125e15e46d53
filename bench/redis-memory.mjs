// Redis memory per finished record (its projection and event stream, log stream removed):
// `npm run build && node bench/redis-memory.mjs`. Runs N start/stop cycles through a worker,
// drops the log streams, compacts the event streams as the fleet pass does a minute after a
// record finishes, and reads MEMORY USAGE of what is left per record.
import { envInt, runBench } from './lib.mjs';
import { internalsOf } from '../dist/producer/client.js';

const N = envInt('BENCH_N', 200, 1);
await runBench('redis-memory', `Redis bytes per finished record (${N} records through a worker)`, async (ctx) => {
  const prefix = await ctx.newPrefix();
  await ctx.worker(prefix, 'mem');
  const c = await ctx.client(prefix);
  const ids = [];
  for (let i = 0; i < N; i++) ids.push((await c.start({ command: ['sleep', '1000'], name: `app-${i}` })).id);
  for (const id of ids) await c.waitFor(id, 'running');
  for (const id of ids) await c.stop(id);
  for (const id of ids) await c.waitFor(id, 'stopped');
  const r = internalsOf(c).connection;
  let record = 0;
  let stream = 0;
  let events = 0;
  let streamBefore = 0;
  for (const id of ids) {
    await r.del(internalsOf(c).keys.logs(id));
    streamBefore += Number(await r.call('MEMORY', 'USAGE', internalsOf(c).keys.stream(id), 'SAMPLES', '0'));
    // What the fleet pass does a minute after a record finishes (EventStore.compact).
    await internalsOf(c).store.compact(await c.get(id));
    record += Number(await r.call('MEMORY', 'USAGE', internalsOf(c).keys.record(id), 'SAMPLES', '0'));
    stream += Number(await r.call('MEMORY', 'USAGE', internalsOf(c).keys.archive(id), 'SAMPLES', '0'));
    events += (await c.events(id)).length;
  }
  const index = Number(await r.call('MEMORY', 'USAGE', internalsOf(c).keys.allIndex, 'SAMPLES', '0')) / N;
  const per = {
    record: Math.round(record / N),
    stream: Math.round(stream / N),
    streamBeforeCompaction: Math.round(streamBefore / N),
    index: Math.round(index),
    eventsPerRecord: events / N,
  };
  const total = per.record + per.stream + per.index;
  console.log(
    `  per finished record: projection ${per.record} B + compacted events ${per.stream} B (${per.eventsPerRecord} events; ${per.streamBeforeCompaction} B as a stream) + index ${per.index} B = ${total} B  |  goal < 4096 B: ${total < 4096 ? 'met' : 'MISSED'}`,
  );
  return { params: { N }, env: { BENCH_N: N }, figures: [], extra: { ...per, total } };
});
