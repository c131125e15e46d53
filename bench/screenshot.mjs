// Screenshot of the dashboard with a small live fleet: `npm run build && node bench/screenshot.mjs [out.png]`.
// Starts a private Redis, one worker and the api, runs a few processes (one crash-looping,
// one stopped), captures `/` and a process page in headless Chromium, then stops everything.
import { chromium } from 'playwright-core';
import { join } from 'node:path';
import { listenApi } from '../dist/producer/http/server.js';
import { loadConfig } from '../dist/shared/config.js';
import { BenchContext, FIXTURES, sleep } from './lib.mjs';

const out = process.argv[2] ?? '/tmp/reapq-dashboard.png';
const ctx = new BenchContext('screenshot');
let browser;
let api;
try {
  const prefix = await ctx.newPrefix();
  await ctx.worker(prefix, 'web-1');
  const c = await ctx.client(prefix);
  api = await listenApi(loadConfig({ REDIS_URL: await ctx.redisUrl(), REAPQ_PREFIX: prefix }), '127.0.0.1:0');
  const app = await c.start({
    name: 'next-app',
    command: ['npm', 'run', 'start'],
    cwd: join(FIXTURES, 'app'),
    port: 'auto',
    ready: { kind: 'http', path: '/' },
  });
  await c.start({ name: 'worker-tree', command: [join(FIXTURES, 'tree.sh')] });
  await c.start({ name: 'crashy', command: ['sh', '-c', 'exit 1'], restart: 'on-failure' });
  const old = await c.start({ name: 'old-version', command: ['sleep', '1000'] });
  await c.waitFor(app.id, 'running', { timeoutMs: 15_000 });
  await c.waitFor(old.id, 'running');
  await c.stop(old.id);
  await sleep(3000);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${api.url}/`);
  await sleep(1500);
  await page.screenshot({ path: out, fullPage: true });
  await page.goto(`${api.url}/processes/${app.id}`);
  await sleep(1500);
  const second = out.replace(/\.png$/, '-process.png');
  await page.screenshot({ path: second, fullPage: true });
  console.log(`wrote ${out} and ${second}`);
} finally {
  await browser?.close();
  await api?.close();
  await ctx.cleanup();
  const leak = await ctx.leakCheck();
  if (!leak.ok) process.exitCode = 1;
}
