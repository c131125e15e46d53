import { get as httpGet, type IncomingMessage } from 'node:http';
import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { loadConfig } from '../../src/shared/config.js';
import { InputError } from '../../src/shared/errors.js';
import { buildServer, listenApi } from '../../src/producer/http/server.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { internalsOf } from '../../src/producer/client.js';
import { writeUsage } from '../../src/shared/usage.js';

// No worker runs in this file: nothing is ever spawned, records stay pending until stopped.

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

const clients: ReapqClient[] = [];
const servers: FastifyInstance[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(clients.map((c) => c.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(opts: { token?: string; dataDir?: string; rateLimitPerMinute?: number } = {}): {
  client: ReapqClient;
  app: FastifyInstance;
} {
  const client = new ReapqClient({ redisUrl: testRedisUrl(), prefix: randomPrefix(), env: {} });
  clients.push(client);
  const app = buildServer(client, opts);
  servers.push(app);
  return { client, app };
}

describe('http api: limits', () => {
  it('refuses a client past its rate with 429 and a reason, and oversized bodies with 413', async () => {
    const { app } = setup({ rateLimitPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect((await app.inject({ url: '/v1/processes' })).statusCode).toBe(200);
    const limited = await app.inject({ url: '/v1/processes' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toMatch(/^rate limit: at most 3 requests per minute/);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200); // probes are not counted
    const { app: open } = setup();
    const big = await open.inject({
      method: 'POST',
      url: '/v1/processes',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ command: ['x', 'y'.repeat(2 * 1024 * 1024)] }),
    });
    expect(big.statusCode).toBe(413);
    expect(Object.keys(big.json())).toEqual(['error']);
  });
});

describe('http api: validation and errors', () => {
  it('answers bad bodies, queries and ids with 400 and one line of reason', async () => {
    const { client, app } = setup();
    const empty = await app.inject({ method: 'POST', url: '/v1/processes', payload: { command: [] } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error).toMatch(/^invalid body: command: /);

    const negative = await app.inject({ method: 'POST', url: '/v1/processes', payload: { command: ['x'], graceMs: -1 } });
    expect(negative.statusCode).toBe(400);
    expect(negative.json().error).toMatch(/graceMs/);

    for (const limit of [{ memory: 'lots' }, { memory: '1K' }, { cpus: 0 }, { pidsMax: 0.5 }]) {
      const bad = await app.inject({ method: 'POST', url: '/v1/processes', payload: { command: ['x'], ...limit } });
      expect(bad.statusCode, JSON.stringify(limit)).toBe(400);
      expect(bad.json().error).toMatch(new RegExp(Object.keys(limit)[0]!));
    }

    const typo = await app.inject({ method: 'POST', url: '/v1/processes', payload: { command: ['x'], restartPolicy: 'always' } });
    expect(typo.statusCode).toBe(400);
    expect(typo.json().error).toMatch(/restartPolicy/);

    const notJson = await app.inject({
      method: 'POST',
      url: '/v1/processes',
      payload: '{nope',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toEqual({ error: expect.any(String) });

    const badState = await app.inject({ url: '/v1/processes?state=sleeping' });
    expect(badState.statusCode).toBe(400);
    expect(badState.json().error).toMatch(/^invalid query: state: /);

    const badWait = await app.inject({ method: 'POST', url: '/v1/processes?wait=maybe', payload: { command: ['x'] } });
    expect(badWait.statusCode).toBe(400);

    const badId = await app.inject({ url: '/v1/processes/42' });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error).toMatch(/plain integer/);

    for (const r of [empty, negative, typo, badState, badWait, badId]) expect(r.json().error).not.toContain('\n');
    // Nothing was written by any of them.
    expect(await client.list()).toEqual([]);
  });

  it('answers an unknown id with 404', async () => {
    const { app } = setup();
    for (const [method, url] of [
      ['GET', '/v1/processes/nope'],
      ['POST', '/v1/processes/nope/stop'],
      ['GET', '/v1/processes/nope/events'],
      ['GET', '/v1/processes/nope/logs'],
    ] as const) {
      const res = await app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json()).toEqual({ error: 'no process with id nope' });
    }
    const route = await app.inject({ url: '/v1/nothing-here' });
    expect(route.statusCode).toBe(404);
    expect(route.json().error).toMatch(/no route/);
  });

  it('rejects a bad stop body with 400 and leaves the record alone', async () => {
    const { client, app } = setup();
    await client.start({ id: 'keep', command: ['sleep', '100'] });
    const res = await app.inject({ method: 'POST', url: '/v1/processes/keep/stop', payload: { signal: 'SIGFOO' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/signal/);
    expect((await client.get('keep')).desired).toBe('running');
    await client.stop('keep');
  });
});

describe('http api: auth', () => {
  it('needs the bearer token on /v1 when one is set', async () => {
    const { app } = setup({ token: TOKEN });
    const none = await app.inject({ url: '/v1/processes' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error).toMatch(/bearer token/);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);

    const wrong = await app.inject({ url: '/v1/processes', headers: { authorization: 'Bearer not-the-token-at-all' } });
    expect(wrong.statusCode).toBe(401);
    const basic = await app.inject({ url: '/v1/processes', headers: { authorization: `Basic ${TOKEN}` } });
    expect(basic.statusCode).toBe(401);
    // A write without the token is refused before anything is validated or written.
    const write = await app.inject({ method: 'POST', url: '/v1/processes', payload: { command: ['x'] } });
    expect(write.statusCode).toBe(401);
    // Unknown paths under /v1 too: no probing for routes without the token.
    expect((await app.inject({ url: '/v1/nothing-here' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/nothing-here', headers: auth })).statusCode).toBe(404);

    const ok = await app.inject({ url: '/v1/processes', headers: auth });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual([]);

    // Outside /v1: health, metrics and the (data-free) dashboard page.
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/' })).statusCode).toBe(200);
  });

  it('is open without a token', async () => {
    const { app } = setup();
    expect((await app.inject({ url: '/v1/processes' })).statusCode).toBe(200);
  });

  it('refuses to listen beyond loopback without a token', async () => {
    const env = { REDIS_URL: testRedisUrl(), REAPQ_PREFIX: randomPrefix() };
    await expect(listenApi(loadConfig(env), '0.0.0.0:0')).rejects.toThrow(InputError);
    await expect(listenApi(loadConfig(env), '0.0.0.0:0')).rejects.toThrow(/REAPQ_API_TOKEN/);
    await expect(listenApi(loadConfig(env), 'no-port')).rejects.toThrow(/HOST:PORT/);
  });
});

describe('http api: processes without a worker', () => {
  it('creates, shows, lists and stops a process (stop while pending wins)', async () => {
    const { app } = setup({ token: TOKEN });
    const created = await app.inject({
      method: 'POST',
      url: '/v1/processes',
      headers: auth,
      payload: { id: 'web-1', name: 'web', command: ['sleep', '100'], restart: 'on-failure', graceMs: 500 },
    });
    expect(created.statusCode).toBe(201);
    const rec = created.json();
    expect(rec).toMatchObject({
      id: 'web-1',
      name: 'web',
      state: 'pending',
      desired: 'running',
      command: ['sleep', '100'],
      restartPolicy: 'on-failure',
      version: 1,
    });

    // The same id again is the same process.
    const again = await app.inject({
      method: 'POST',
      url: '/v1/processes',
      headers: auth,
      payload: { id: 'web-1', command: ['sleep', '100'] },
    });
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(rec);

    const shown = await app.inject({ url: '/v1/processes/web-1', headers: auth });
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toEqual(rec);

    const pending = await app.inject({ url: '/v1/processes?state=pending', headers: auth });
    expect(pending.json().map((r: { id: string }) => r.id)).toEqual(['web-1']);
    const running = await app.inject({ url: '/v1/processes?state=running', headers: auth });
    expect(running.json()).toEqual([]);

    const stopped = await app.inject({
      method: 'POST',
      url: '/v1/processes/web-1/stop?wait=true&timeoutMs=5000',
      headers: auth,
      payload: { signal: 'TERM', graceMs: 100 },
    });
    expect(stopped.statusCode).toBe(200);
    expect(stopped.json()).toMatchObject({ id: 'web-1', state: 'stopped', desired: 'stopped' });

    const all = await app.inject({ url: '/v1/processes', headers: auth });
    expect(all.json().map((r: { id: string; state: string }) => [r.id, r.state])).toEqual([['web-1', 'stopped']]);

    // A second stop of a stopped process changes nothing.
    const twice = await app.inject({ method: 'POST', url: '/v1/processes/web-1/stop', headers: auth });
    expect(twice.statusCode).toBe(200);
    expect(twice.json().version).toBe(stopped.json().version);
  });

  it('generates an id, and reports a wait that runs out with 504 and the record', async () => {
    const { app } = setup();
    const res = await app.inject({ method: 'POST', url: '/v1/processes?wait=true&timeoutMs=200', payload: { command: ['sleep', '1'] } });
    expect(res.statusCode).toBe(504);
    const body = res.json();
    expect(body.error).toMatch(/timed out/);
    expect(body.record.id).toMatch(/^p-/);
    expect(body.record.state).toBe('pending');
    await app.inject({ method: 'POST', url: `/v1/processes/${body.record.id}/stop` });
  });

  it('returns events as JSON, from a version on', async () => {
    const { client, app } = setup();
    await client.start({ id: 'ev', command: ['sleep', '100'] });
    await client.stop('ev');
    const res = await app.inject({ url: '/v1/processes/ev/events' });
    expect(res.statusCode).toBe(200);
    const events = res.json() as Array<{ version: number; event: { type: string } }>;
    expect(events.map((e) => [e.version, e.event.type])).toEqual([
      [1, 'start_requested'],
      [2, 'stop_requested'],
    ]);
    const after = await app.inject({ url: '/v1/processes/ev/events?after=1' });
    expect(after.json().map((e: { version: number }) => e.version)).toEqual([2]);

    const global = await app.inject({ url: '/v1/events?after=0' });
    expect(global.statusCode).toBe(200);
    expect(global.json().map((e: { processId: string; version: number }) => [e.processId, e.version])).toEqual([
      ['ev', 1],
      ['ev', 2],
    ]);
  });

  it('streams events as SSE and resumes from Last-Event-ID', async () => {
    const prefix = randomPrefix();
    const client = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
    clients.push(client);
    await client.start({ id: 'sse', command: ['sleep', '100'] });
    const api = await listenApi(loadConfig({ REDIS_URL: testRedisUrl(), REAPQ_PREFIX: prefix, LOG_LEVEL: 'silent' }), '127.0.0.1:0');
    try {
      // Resume after version 1: the stop appended while the stream is open is the first event.
      const stream = await openStream(`${api.url}/v1/processes/sse/events`, { 'last-event-id': '1' });
      expect(stream.res.statusCode).toBe(200);
      expect(stream.res.headers['content-type']).toMatch(/^text\/event-stream/);
      await client.stop('sse');
      const text = await stream.until(/\n\n[^]*id: 2\n/);
      stream.close();
      expect(text).not.toMatch(/^id: 1$/m);
      const data = /id: 2\ndata: (.*)\n/.exec(text)![1]!;
      expect(JSON.parse(data)).toMatchObject({ version: 2, event: { type: 'stop_requested' } });
    } finally {
      await api.close();
    }
  });
});

describe('http api: newest-first pages', () => {
  it('pages newest first across a cursor, a removed cursor record and ids sharing a millisecond; a bad order is a 400', async () => {
    const { client, app } = setup();
    const { connection: redis, keys, store } = internalsOf(client);
    const ids = Array.from({ length: 12 }, (_, i) => `n-${String(i).padStart(2, '0')}`);
    for (const id of ids) await client.start({ id, command: ['sleep', '100'] });
    // Three records per millisecond, so page ends fall inside a group of equal scores.
    const base = 1_700_000_000_000;
    for (const [i, id] of ids.entries()) await redis.zadd(keys.allIndex, base + Math.floor(i / 3), id);
    const newest = [...ids].reverse();
    const remove = async (id: string) => {
      await client.stop(id);
      expect(await store.remove(await client.get(id))).toBe(true);
    };
    const page = async (query: string) => {
      const res = await app.inject({ url: `/v1/processes?${query}` });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as { records: Array<{ id: string }>; cursor: string | null };
    };
    const idsOf = (p: { records: Array<{ id: string }> }) => p.records.map((r) => r.id);

    const first = await page('order=newest&limit=4');
    expect(idsOf(first)).toEqual(newest.slice(0, 4));
    expect((await client.listPage({ order: 'newest', limit: 4 })).records.map((r) => r.id)).toEqual(newest.slice(0, 4));
    // The record the cursor names goes (prune): the next page neither skips nor repeats
    // the two that share its millisecond.
    await remove(newest[3]!);
    const second = await page(`order=newest&limit=4&cursor=${first.cursor}`);
    expect(idsOf(second)).toEqual(newest.slice(4, 8));
    // Again, with a record of the same millisecond already shown before the cursor.
    await remove(newest[7]!);
    // A record created meanwhile goes to the top, not into the pages still to read.
    await client.start({ id: 'n-late', command: ['sleep', '100'] });
    const third = await page(`order=newest&limit=4&cursor=${second.cursor}`);
    expect(idsOf(third)).toEqual(newest.slice(8, 12));
    const last = await page(`order=newest&limit=4&cursor=${third.cursor}`);
    expect(last).toMatchObject({ records: [], cursor: null });
    expect(idsOf(await page('order=newest&limit=2'))).toEqual(['n-late', newest[0]]);

    // ?order= alone is a page too (an array of every record would not be one), and oldest
    // first is what it was.
    const alone = await page('order=newest');
    expect(idsOf(alone)).toEqual(['n-late', ...newest.filter((id) => id !== newest[3] && id !== newest[7])]);
    expect(alone.cursor).toBeNull();
    expect(idsOf(await page('order=oldest&limit=3'))).toEqual(ids.slice(0, 3));
    expect(idsOf(await page('limit=3'))).toEqual(ids.slice(0, 3));

    const bad = await app.inject({ url: '/v1/processes?order=latest&limit=4' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/^invalid query: order: must be oldest or newest/);
    await expect(client.listPage({ order: 'latest' as 'newest' })).rejects.toThrow(/invalid order "latest": oldest or newest/);
    for (const r of await client.list()) if (r.state === 'pending') await client.stop(r.id);
  });
});

describe('http api: logs, hosts, reconcile, health, metrics', () => {
  it('tails the log lines shipped to Redis, from any host', async () => {
    const { client, app } = setup();
    await client.start({ id: 'logged', command: ['sleep', '100'] });
    await client.start({ id: 'silent', command: ['sleep', '100'] });
    for (const l of ['one', 'two', 'three'])
      await internalsOf(client).connection.xadd(internalsOf(client).keys.logs('logged'), '*', 'l', l, 'pos', '0');

    const tail = await app.inject({ url: '/v1/processes/logged/logs?lines=2' });
    expect(tail.statusCode).toBe(200);
    expect(tail.headers['content-type']).toMatch(/^text\/plain/);
    expect(tail.body).toBe('two\nthree\n');
    expect((await app.inject({ url: '/v1/processes/logged/logs' })).body).toBe('one\ntwo\nthree\n');
    expect((await app.inject({ url: '/v1/processes/logged/logs?lines=x' })).statusCode).toBe(400);
    // ?timestamps=true: the time each line was shipped, from its stream entry's id.
    const [first] = await internalsOf(client).connection.xrange(internalsOf(client).keys.logs('logged'), '-', '+', 'COUNT', 1);
    const stamped = (await app.inject({ url: '/v1/processes/logged/logs?lines=3&timestamps=true' })).body.split('\n');
    expect(stamped[0]).toBe(`${new Date(Number(first![0].split('-')[0])).toISOString()} one`);
    expect(stamped.slice(1, 3).map((l) => l.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, ''))).toEqual(['two', 'three']);
    expect((await app.inject({ url: '/v1/processes/logged/logs?timestamps=maybe' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/v1/processes/silent/logs' })).body).toBe('');
    expect((await app.inject({ url: '/v1/processes/nobody/logs' })).statusCode).toBe(404);
    await client.stop('logged');
    await client.stop('silent');
  });

  it('lists no hosts and cannot reconcile without a worker', async () => {
    const { app } = setup();
    const hosts = await app.inject({ url: '/v1/hosts' });
    expect(hosts.statusCode).toBe(200);
    expect(hosts.json()).toEqual([]);
    const rec = await app.inject({ method: 'POST', url: '/v1/reconcile' });
    expect(rec.statusCode).toBe(503);
    expect(rec.json().error).toMatch(/no live worker/);
    expect((await app.inject({ method: 'POST', url: '/v1/reconcile?host=a:b' })).statusCode).toBe(400);
    const late = await app.inject({ method: 'POST', url: '/v1/reconcile?host=nobody&timeoutMs=200' });
    expect(late.statusCode).toBe(504);
    expect(late.json().error).toMatch(/no report from nobody/);
  });

  it('answers /healthz with 200 while Redis answers', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });

  it('answers the counts kept on append and the usage readings of a page of ids', async () => {
    const { client, app } = setup();
    const { connection: redis, keys } = internalsOf(client);
    await client.start({ id: 'c-1', command: ['sleep', '100'] });
    await client.start({ id: 'c-2', command: ['sleep', '100'] });
    await client.start({ id: 'c-3', command: ['sleep', '100'] });
    await client.stop('c-3');
    const counts = await app.inject({ url: '/v1/counts' });
    expect(counts.statusCode).toBe(200);
    expect(counts.json()).toEqual({
      total: 3,
      byState: { pending: 2, stopped: 1 },
      byStateAndHost: expect.arrayContaining([
        { state: 'pending', host: '', count: 2 },
        { state: 'stopped', host: '', count: 1 },
      ]),
    });
    expect(counts.json().byStateAndHost).toHaveLength(2);

    const reading = { run: 'r1', host: 'h', cpuMs: 1500, memoryBytes: 4096, memoryPeakBytes: 8192, pids: 2, at: 1 };
    await writeUsage(redis, keys.usage, [['c-1', reading]]);
    const usage = await app.inject({ url: '/v1/usage?ids=c-1,c-2,nobody' });
    expect(usage.statusCode).toBe(200);
    expect(usage.json()).toEqual({ 'c-1': reading });
    for (const bad of ['', 'ids=', 'ids=a,,b', 'ids=a:b', `ids=${Array.from({ length: 1001 }, (_, i) => `x${i}`).join(',')}`]) {
      const res = await app.inject({ url: `/v1/usage?${bad}` });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error, bad).toMatch(/^invalid query: ids/);
    }
    await client.stop('c-1');
    await client.stop('c-2');
    // A state no record is in any more is left out (its field in Redis is 0).
    expect((await app.inject({ url: '/v1/counts' })).json()).toEqual({
      total: 3,
      byState: { stopped: 3 },
      byStateAndHost: [{ state: 'stopped', host: '', count: 3 }],
    });
  });

  it('exposes process counts and default metrics on /metrics', async () => {
    const { client, app } = setup();
    await client.start({ id: 'm-1', command: ['sleep', '100'] });
    await client.start({ id: 'm-2', command: ['sleep', '100'] });
    await client.stop('m-2');
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('# TYPE reapq_processes gauge');
    expect(res.body).toContain('reapq_processes{state="pending",host=""} 1');
    expect(res.body).toContain('reapq_processes{state="stopped",host=""} 1');
    expect(res.body).toContain('reapq_processes{state="running",host=""} 0');
    expect(res.body).toContain('process_cpu_user_seconds_total');
    await client.stop('m-1');
  });

  it('exports each host state and the restart counters its heartbeat carries', async () => {
    const { client, app } = setup();
    const { connection: redis, keys } = internalsOf(client);
    const now = Date.now();
    const beat = (hostId: string, state: string, at: number, counters: Record<string, number> = {}) =>
      redis.hset(
        keys.hosts,
        hostId,
        JSON.stringify({ hostId, pid: 1, version: 't', state, load: 0, capacity: null, at, ttlMs: 60_000, counters }),
      );
    await beat('h-up', 'up', now, { exits: 7, restarts: 5, gaveUp: 1 });
    await beat('h-drain', 'draining', now);
    await beat('h-down', 'down', now - 3_600_000);
    await beat('h-lost', 'up', now - 3_600_000);
    await beat('h-lost-draining', 'draining', now - 3_600_000);
    const body = (await app.inject({ url: '/metrics' })).body;
    const inState = (host: string) =>
      [...body.matchAll(new RegExp(`^reapq_host_state\\{host="${host}",state="(\\w+)"\\} 1$`, 'gm'))].map((m) => m[1]);
    expect(inState('h-up')).toEqual(['up']);
    expect(inState('h-drain')).toEqual(['draining']);
    expect(inState('h-down')).toEqual(['down']);
    expect(inState('h-lost')).toEqual(['lost']);
    expect(inState('h-lost-draining')).toEqual(['lost']);
    expect(body).toContain('reapq_host_state{host="h-up",state="lost"} 0');
    expect(body).toContain('reapq_exits_total{host="h-up"} 7');
    expect(body).toContain('reapq_restarts_total{host="h-up"} 5');
    expect(body).toContain('reapq_crash_loop_gave_up_total{host="h-up"} 1');
    // A worker of an earlier release sends no such counter: 0, not a missing series.
    expect(body).toContain('reapq_restarts_total{host="h-drain"} 0');
    expect(body).toContain(`reapq_host_heartbeat_timestamp_seconds{host="h-up"} ${now / 1000}`);
  });

  it('serves the dashboard page and every browser module it loads', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    const entry = /<script type="module" src="([^"]+)"/.exec(res.body)?.[1];
    expect(entry).toBe('/assets/producer/http/dashboard/index-page.js');
    // Follows the static imports from the entry module: each must be served, as JavaScript.
    const seen = new Map<string, string>();
    const queue = [entry!];
    while (queue.length) {
      const url = queue.pop()!;
      if (seen.has(url)) continue;
      const mod = await app.inject({ url });
      expect(mod.statusCode, url).toBe(200);
      expect(mod.headers['content-type']).toMatch(/^text\/javascript/);
      seen.set(url, mod.body);
      for (const m of mod.body.matchAll(/^import [^;]*?from '([^']+)';/gms)) queue.push(new URL(m[1]!, `http://x${url}`).pathname);
    }
    expect([...seen.keys()].sort()).toEqual([
      '/assets/producer/http/dashboard/common.js',
      '/assets/producer/http/dashboard/index-page.js',
      '/assets/producer/http/dashboard/notable.js',
      '/assets/shared/duration.js',
      '/assets/shared/states.js',
    ]);
    expect(seen.get('/assets/producer/http/dashboard/index-page.js')).toContain('/v1/processes');
    expect((await app.inject({ url: '/assets/shared/record.js' })).statusCode).toBe(404);
  });
});

/** A raw HTTP/1.1 SSE reader: a fresh socket (no pooling), closed by close(). */
async function openStream(url: string, headers: Record<string, string>) {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    httpGet(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, resolve).on('error', reject);
  });
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (d: string) => (text += d));
  return {
    res,
    until: async (re: RegExp, timeoutMs = 5000): Promise<string> => {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(text)) {
        if (Date.now() > deadline) throw new Error(`no match for ${re} in ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return text;
    },
    close: () => res.destroy(),
  };
}
