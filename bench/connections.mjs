// Connections and memory with many waiters: 1,000 concurrent waitFor on one client in this
// process, then 500 SSE clients of one `reapq api` process, each on its own process's
// event stream. Counted with CLIENT LIST on the bench's private Redis (the bench's own
// admin connection excluded), beside the count with nothing waiting (same run); the api's
// RSS with 500 streams open beside the same api idle.
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { BIN, cleanEnv, figure, printFigure, rssKbOf, runBench, sleep, until } from './lib.mjs';
import { internalsOf } from '../dist/producer/client.js';

const WAITERS = 1000;
const SSE = 500;

await runBench(
  'connections',
  `${WAITERS} waitFor on one client, ${SSE} SSE clients on one api: Redis connections and api RSS`,
  async (ctx) => {
    const url = await ctx.redisUrl();
    const admin = new Redis(url);
    const me = Number(await admin.client('ID'));
    const count = async () =>
      (await admin.client('LIST'))
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith(`id=${me} `)).length;
    try {
      const prefix = await ctx.newPrefix();
      const client = await ctx.client(prefix);
      const ids = [];
      for (let i = 0; i < WAITERS; i++) ids.push((await client.start({ id: `c-${i}`, command: ['sleep', '1000'] })).id);
      const idleClient = await count();
      const waits = ids.map((id) => client.waitFor(id, 'stopped', { timeoutMs: 300_000 }));
      await until(async () => internalsOf(client).streams().streams === WAITERS, 60_000, 'every waiter subscribed');
      const withWaiters = await count();
      console.log(`  one client: ${idleClient} connection(s) idle, ${withWaiters} with ${WAITERS} waitFor`);

      // The api as a process of its own, so its RSS is its own.
      const port = await freePort();
      const api = ctx.spawnTracked(process.execPath, [BIN, 'api', '--listen', `127.0.0.1:${port}`], {
        env: { ...cleanEnv(), REDIS_URL: url, REAPQ_PREFIX: prefix, LOG_LEVEL: 'warn', REAPQ_API_RATE_LIMIT: '0' },
        stdio: 'ignore',
      });
      await until(
        async () =>
          await fetch(`http://127.0.0.1:${port}/healthz`)
            .then((r) => r.ok)
            .catch(() => false),
        30_000,
        'api up',
      );
      await sleep(500);
      const apiIdleRss = rssKbOf(api.pid) / 1024;
      const beforeSse = await count();
      const reqs = [];
      await Promise.all(
        ids.slice(0, SSE).map(
          (id) =>
            new Promise((resolve, reject) => {
              const req = httpRequest(
                { host: '127.0.0.1', port, path: `/v1/processes/${id}/events`, headers: { accept: 'text/event-stream' }, agent: false },
                (res) => {
                  res.setEncoding('utf8');
                  let buf = '';
                  res.on('data', (d) => {
                    buf += d;
                    if (buf.includes('start_requested')) resolve();
                  });
                },
              );
              req.on('error', reject);
              req.end();
              reqs.push(req);
            }),
        ),
      );
      await sleep(500);
      const withSse = await count();
      const apiSseRss = rssKbOf(api.pid) / 1024;
      console.log(
        `  api: ${beforeSse - withWaiters} connection(s) idle, ${withSse - withWaiters} with ${SSE} SSE clients; RSS ${apiIdleRss.toFixed(0)} -> ${apiSseRss.toFixed(0)} MiB`,
      );
      for (const r of reqs) r.destroy();
      api.kill('SIGTERM');
      await api.exited;
      for (const id of ids) await client.stop(id);
      await Promise.all(waits);
      const figures = [
        figure({
          id: 'waiters',
          label: `Redis connections of one client with ${WAITERS} waitFor`,
          unit: 'connections',
          samples: [withWaiters],
          baselines: [{ label: 'the same client, nothing waiting', samples: [idleClient] }],
          goal: { op: '<=', value: 3 },
        }),
        figure({
          id: 'sse',
          label: `Redis connections of one api with ${SSE} SSE clients`,
          unit: 'connections',
          samples: [withSse - withWaiters],
          baselines: [{ label: 'the same api, no SSE client', samples: [beforeSse - withWaiters] }],
          goal: { op: '<=', value: 3 },
        }),
        figure({
          id: 'rss',
          label: `api RSS with ${SSE} SSE clients`,
          unit: 'MiB',
          samples: [apiSseRss],
          baselines: [{ label: 'the same api idle', samples: [apiIdleRss] }],
        }),
      ];
      figures.forEach(printFigure);
      return { env: {}, params: { waiters: WAITERS, sse: SSE, runs: 1 }, smoke: false, figures };
    } finally {
      admin.disconnect();
    }
  },
);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
