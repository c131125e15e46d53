import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { listenApi, type RunningApi } from '../../src/producer/http/server.js';
import { loadConfig } from '../../src/shared/config.js';
import { cgroupSupport } from '../helpers/cgroups.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { stopEverything } from '../helpers/client.js';
import { hostThatNeverTakes, startWorker, testEnv, type TestWorker } from '../helpers/workers.js';

// The dashboard in a real headless Chromium (Debian's, driven by playwright-core) against
// a real api and a real worker.

const CHROMIUM = '/usr/bin/chromium';
const HOST = 'h-dash';
const TOKEN = 'dash-token-0123456789abcdef';
/** User input that would run script if it were ever rendered as HTML. */
const HOSTILE = '<img src=x onerror=alert(1)>';
const LIVE_MS = 10_000;

const prefix = randomPrefix();
let worker: TestWorker;
let c: ReapqClient;
let api: RunningApi;
let tokenApi: RunningApi;
let browser: Browser;
const dialogs: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  const env = testEnv(testRedisUrl(), prefix);
  worker = await startWorker(env, HOST);
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
  const config = (extra: Record<string, string> = {}) =>
    loadConfig({ REDIS_URL: testRedisUrl(), REAPQ_PREFIX: prefix, REAPQ_DATA_DIR: env.REAPQ_DATA_DIR!, ...extra });
  api = await listenApi(config(), '127.0.0.1:0');
  tokenApi = await listenApi(config({ REAPQ_API_TOKEN: TOKEN }), '127.0.0.1:0');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await tokenApi?.close();
  await stopEverything(c, worker);
}, 60_000);

async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return page;
}

const text = (page: Page, selector: string) => () =>
  page
    .locator(selector)
    .first()
    .textContent({ timeout: 1000 })
    .catch(() => null);

/** Marks the document; a reload would lose the mark. */
async function mark(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as { reapqMark: number }).reapqMark = 42));
}
async function stillMarked(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { reapqMark?: number }).reapqMark === 42);
}

describe('dashboard in a headless browser', () => {
  let first: string;

  it('shows hosts, processes and queues, escapes user input, and follows a stop live', async () => {
    const rec = await c.start({ command: ['sh', '-c', 'echo "<b>hello</b> from dash"; exec sleep 300'], name: HOSTILE });
    first = rec.id;
    await c.waitFor(rec.id, 'running', { timeoutMs: 15_000 });

    const page = await newPage();
    await page.goto(`${api.url}/`);
    await expect.poll(text(page, '#live'), { timeout: LIVE_MS }).toBe('live');

    // The host, alive, with its load.
    await expect.poll(text(page, `#hosts tr[data-host="${HOST}"] td.hstate`), { timeout: LIVE_MS }).toBe('alive');

    // The process row: running, its name shown as text, no element made from it.
    const row = `#procs tr[data-id="${rec.id}"]`;
    await expect.poll(text(page, `${row} td.state`), { timeout: LIVE_MS }).toBe('running');
    expect(await page.locator(`${row} td.name`).textContent()).toBe(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator(`${row} a`).getAttribute('href')).toBe(`/processes/${rec.id}`);
    await expect.poll(text(page, '#counts [data-state="running"]'), { timeout: LIVE_MS }).toBe('running 1');

    // BullMQ's queues: the shared start and deploy queues and this host's.
    await expect.poll(() => page.locator('#queues tr').count(), { timeout: LIVE_MS }).toBe(3);
    expect(await page.locator('#queues tr[data-queue="start"] td').first().textContent()).toBe('start');
    expect(await page.locator('#queues tr[data-queue="deploy"] td').allTextContents()).toEqual([
      'deploy',
      'any worker (deploys)',
      '0',
      '0',
      '0',
      '0',
    ]);
    expect(await page.locator(`#queues tr[data-queue="host.${HOST}"]`).count()).toBe(1);

    // Its usage, as the worker's reconcile pass (every 500 ms here) reads its cgroup; in
    // process mode (no writable cgroup v2 here) there is none to show.
    if (cgroupSupport().ok) {
      expect((await c.get(rec.id)).containment).toBe('cgroup');
      await expect.poll(text(page, `${row} td.mem`), { timeout: LIVE_MS }).toMatch(/^\d+(\.\d)?[KMG]?$/);
      expect(await page.locator(`${row} td.cpu`).textContent()).toMatch(/^\d+(ms|\.\ds)$|^\d+m\d+s$/);
    } else expect(await page.locator(`${row} td.mem`).textContent()).toBe('-');

    // Stopped through the client, the row follows without a reload.
    await mark(page);
    await c.stop(rec.id, { graceMs: 1000 });
    await c.waitFor(rec.id, 'stopped', { timeoutMs: 15_000 });
    await expect.poll(text(page, `${row} td.state`), { timeout: LIVE_MS }).toBe('stopped');
    expect(await stillMarked(page)).toBe(true);
    expect(await page.locator('#live').textContent()).toBe('live');

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows a process page with its record, event history and log tail', async () => {
    const page = await newPage();
    await page.goto(`${api.url}/processes/${first}`);
    await expect.poll(text(page, '#record tr[data-field="state"] td'), { timeout: LIVE_MS }).toBe('stopped');
    expect(await page.locator('#record tr[data-field="name"] td').textContent()).toBe(HOSTILE);
    expect(await page.locator('#record tr[data-field="host"] td').textContent()).toBe(HOST);

    // The history, in order, from start_requested to stopped.
    await expect.poll(() => page.locator('#events tr[data-type="stopped"]').count(), { timeout: LIVE_MS }).toBe(1);
    const types = await page.locator('#events tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.type));
    expect(types[0]).toBe('start_requested');
    expect(types).toContain('spawned');
    expect(types.indexOf('spawned')).toBeLessThan(types.indexOf('stopped'));

    // The log tail, as text: the markup the process printed is not markup here.
    await expect.poll(text(page, '#logs'), { timeout: LIVE_MS }).toContain('<b>hello</b> from dash');
    expect(await page.locator('main b, img').count()).toBe(0);

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);

  it('lists restarts as they happen and follows a process page live', async () => {
    const rec = await c.start({ command: ['sleep', '300'], name: 'crashy', restart: 'on-failure' });
    const running = await c.waitFor(rec.id, 'running', { timeoutMs: 15_000 });

    const index = await newPage();
    await index.goto(`${api.url}/`);
    await expect.poll(text(index, '#live'), { timeout: LIVE_MS }).toBe('live');
    await expect.poll(text(index, `#procs tr[data-id="${rec.id}"] td.state`), { timeout: LIVE_MS }).toBe('running');
    await mark(index);

    // A crash: the worker restarts it, and the index lists the restart from the fleet stream.
    process.kill(running.pid!, 'SIGKILL');
    const item = `#recent li[data-type="restart_scheduled"]`;
    await expect.poll(() => index.locator(item).filter({ hasText: rec.id }).count(), { timeout: LIVE_MS }).toBe(1);
    expect(await index.locator(item).filter({ hasText: rec.id }).textContent()).toMatch(/restart #1/);
    await expect.poll(text(index, `#procs tr[data-id="${rec.id}"] td:nth-child(7)`), { timeout: LIVE_MS }).toBe('1');
    await c.waitFor(rec.id, 'running', { timeoutMs: 15_000 });

    // Its page follows the stop as it happens.
    const page = await newPage();
    await page.goto(`${api.url}/processes/${rec.id}`);
    await expect.poll(text(page, '#live'), { timeout: LIVE_MS }).toBe('live');
    await expect.poll(text(page, '#record tr[data-field="state"] td'), { timeout: LIVE_MS }).toBe('running');
    expect(await page.locator('#events tr[data-type="stopped"]').count()).toBe(0);
    await mark(page);
    await c.stop(rec.id, { graceMs: 1000 });
    await expect.poll(() => page.locator('#events tr[data-type="stopped"]').count(), { timeout: LIVE_MS }).toBe(1);
    await expect.poll(text(page, '#record tr[data-field="state"] td'), { timeout: LIVE_MS }).toBe('stopped');
    expect(await stillMarked(page)).toBe(true);

    // A page opened later has the restart in its recent list from the start.
    const later = await newPage();
    await later.goto(`${api.url}/`);
    await expect.poll(() => later.locator(item).filter({ hasText: rec.id }).count(), { timeout: LIVE_MS }).toBe(1);

    expect(await stillMarked(index)).toBe(true);
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
    await Promise.all([index.close(), page.close(), later.close()]);
  }, 60_000);

  it('asks for the token once when the api has one, and then streams with it', async () => {
    const page = await newPage();
    await page.goto(`${tokenApi.url}/`);
    await page.locator('#auth').waitFor({ state: 'visible', timeout: LIVE_MS });
    await page.locator('#token').fill(TOKEN);
    await page.locator('#auth button').click();
    await expect.poll(text(page, `#hosts tr[data-host="${HOST}"] td.hstate`), { timeout: LIVE_MS }).toBe('alive');
    await expect.poll(text(page, '#live'), { timeout: LIVE_MS }).toBe('live');
    expect(await page.locator(`#procs tr[data-id="${first}"] td.state`).textContent()).toBe('stopped');
    expect(await page.locator('#auth').isHidden()).toBe(true);

    // Kept for the session: a reload does not ask again.
    await page.reload();
    await expect.poll(text(page, '#live'), { timeout: LIVE_MS }).toBe('live');
    await expect.poll(text(page, `#hosts tr[data-host="${HOST}"] td.hstate`), { timeout: LIVE_MS }).toBe('alive');
    expect(await page.locator('#auth').isHidden()).toBe(true);

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows services with their active revision and last deploy, and restarts one after a confirm', async () => {
    const app = [process.execPath, '-e', "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)"];
    const d1 = await c.deploy({ service: 'dash-web', command: app, port: 'auto', ready: { kind: 'http', path: '/' } });
    expect((await c.waitForDeploy(d1.id, { timeoutMs: 30_000 })).state).toBe('succeeded');

    const page = await browser.newPage();
    const asked: string[] = [];
    page.on('dialog', (d) => {
      asked.push(d.message());
      void d.accept();
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${api.url}/`);
    const row = '#services tr[data-service="dash-web"]';
    await expect.poll(text(page, `${row} td:nth-child(2)`), { timeout: LIVE_MS }).toBe('r1');
    expect(await page.locator(`${row} td.detail`).textContent()).toBe(`${d1.id} r1 succeeded`);
    expect(await page.locator(`${row} td:nth-child(3) a`).first().getAttribute('href')).toBe('/processes/dash-web-r1-0');

    await page.locator(`${row} button[data-action="restart"]`).click();
    await expect.poll(text(page, `${row} td:nth-child(2)`), { timeout: 30_000 }).toBe('r2');
    expect(asked).toEqual(['restart dash-web?']);
    expect((await c.service('dash-web')).deploys[0]).toMatchObject({ revision: 2, cause: 'restart of r1', state: 'succeeded' });
    expect(pageErrors).toEqual([]);
    await page.close();
    expect((await c.waitForDeploy((await c.stopService('dash-web')).id, { timeoutMs: 30_000 })).state).toBe('succeeded');
  }, 60_000);

  it('shows the newest page with the counts from the server, loads older pages on demand, and puts a new record on top', async () => {
    // 55 records that stay pending (pinned to a host that never comes): more than one page
    // of 50, and two pages with what the tests above made.
    const ids = Array.from({ length: 55 }, (_, i) => `pg-${String(i).padStart(2, '0')}`);
    await hostThatNeverTakes(c, 'nowhere');
    for (const id of ids) await c.start({ id, command: ['sleep', '300'], host: 'nowhere' });
    const newest = (await c.listPage({ order: 'newest', limit: 1000 })).records.map((r) => r.id);
    expect(newest.length).toBeGreaterThan(50);
    expect(newest.length).toBeLessThanOrEqual(100);
    const total = async () => (await c.admin.counts()).reduce((n, x) => n + x.count, 0);
    expect(await total()).toBe(newest.length);

    const page = await newPage();
    const listReads: string[] = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/v1/processes') listReads.push(url.search);
    });
    await page.goto(`${api.url}/`);
    await expect.poll(text(page, '#live'), { timeout: LIVE_MS }).toBe('live');
    const rowIds = () => page.locator('#procs tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id));

    // The newest 50, newest first; the counts are the fleet's, not the page's.
    await expect.poll(rowIds, { timeout: LIVE_MS }).toEqual(newest.slice(0, 50));
    await expect.poll(text(page, '#counts [data-state="pending"]'), { timeout: LIVE_MS }).toBe('pending 55');
    await expect.poll(text(page, '#shown'), { timeout: LIVE_MS }).toBe(`50 of ${newest.length}`);
    expect(await page.locator('#older').isVisible()).toBe(true);
    // Only pages were read, never the whole list.
    expect(listReads.length).toBeGreaterThan(0);
    for (const q of listReads) expect(q).toMatch(/^\?order=newest&limit=50(&cursor=[\w-]+)?$/);

    // "older": the next page below, then no more.
    await mark(page);
    await page.locator('#older').click();
    await expect.poll(rowIds, { timeout: LIVE_MS }).toEqual(newest);
    await expect.poll(() => page.locator('#older').isHidden(), { timeout: LIVE_MS }).toBe(true);
    await expect.poll(text(page, '#shown'), { timeout: LIVE_MS }).toBe(`${newest.length} of ${newest.length}`);
    expect(listReads.filter((q) => q.includes('&cursor=')).length).toBeGreaterThan(0);

    // A new record goes on top, live; one on screen follows its events; the counts follow both.
    await c.start({ id: 'pg-new', command: ['sleep', '300'], host: 'nowhere' });
    await expect.poll(async () => (await rowIds())[0], { timeout: LIVE_MS }).toBe('pg-new');
    await expect.poll(text(page, '#counts [data-state="pending"]'), { timeout: LIVE_MS }).toBe('pending 56');
    await c.stop('pg-00');
    await expect.poll(text(page, '#procs tr[data-id="pg-00"] td.state'), { timeout: LIVE_MS }).toBe('stopped');
    await expect.poll(text(page, '#counts [data-state="pending"]'), { timeout: LIVE_MS }).toBe('pending 55');
    await expect.poll(text(page, '#shown'), { timeout: LIVE_MS }).toBe(`${newest.length + 1} of ${newest.length + 1}`);
    expect(await stillMarked(page)).toBe(true);

    for (const id of [...ids, 'pg-new']) await c.stop(id);
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);
});
