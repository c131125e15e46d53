// Lost-host detection with the default timings (heartbeat 2 s, ttl 3 beats, reconcile 3 s):
// two workers in PID namespaces, an `always` process on the first, the first killed outright
// (its namespace dies with it). Measures kill -> `lost` recorded and kill -> running again
// on the other host. `npm run build && node bench/lost-host.mjs`
import { envInt, innerPid, NS, now, runBench, sleep } from './lib.mjs';

const RUNS = envInt('BENCH_RUNS', 3, 1);
await runBench('lost-host', 'host killed outright -> processes lost -> restarted elsewhere (default timings)', async (ctx) => {
  const lostMs = [];
  const backMs = [];
  for (let run = 1; run <= RUNS; run++) {
    const prefix = await ctx.newPrefix();
    const a = await ctx.worker(prefix, `doomed-${run}`, { wrap: NS });
    const c = await ctx.client(prefix);
    const rec = await c.start({ command: ['sleep', '1000'], restart: 'always' });
    await c.waitFor(rec.id, 'running');
    await ctx.worker(prefix, `survivor-${run}`, { wrap: NS });
    await sleep(2500); // let the survivor's heartbeats and scheduler settle
    const t0 = now();
    const wall0 = Date.now();
    process.kill(innerPid(a.child.pid), 'SIGKILL');
    let lost = null;
    while (lost === null && now() - t0 < 60_000) {
      const ev = (await c.events(rec.id)).find((e) => e.event.type === 'lost');
      if (ev) lost = ev.event.at - wall0;
      else await sleep(20);
    }
    for (;;) {
      const r = await c.get(rec.id);
      if (r.state === 'running' && r.host === `survivor-${run}`) break;
      await sleep(20);
    }
    backMs.push(now() - t0);
    if (lost !== null) lostMs.push(lost);
    console.log(`  run ${run}/${RUNS}: lost recorded after ${lost} ms, running on the other host after ${Math.round(now() - t0)} ms`);
  }
  const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  console.log(`  kill -> lost: median ${med(lostMs)} ms; kill -> running elsewhere: median ${Math.round(med(backMs))} ms`);
  return {
    params: { RUNS },
    env: {},
    figures: [],
    extra: { lostMs, backMs: backMs.map(Math.round), note: 'bound: ttl (3 x REAPQ_HEARTBEAT_MS = 6 s) + REAPQ_RECONCILE_MS (3 s)' },
  };
});
