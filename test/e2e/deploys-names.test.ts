import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/producer/http/server.js';
import { carriersOf, cli, until, useWorker } from '../helpers/workers.js';

const t = useWorker('h-names');

/** Says who it is on stdout, then serves on PORT (when it has one) or sleeps. */
const talker = (word: string) => [
  process.execPath,
  '-e',
  `console.log('${word} from ' + process.env.REAPQ_PROCESS_ID);
   if (process.env.PORT) require('node:http').createServer((q, s) => s.end('${word}')).listen(process.env.PORT);
   else setInterval(() => {}, 1000);`,
];

async function ok(args: string[]): Promise<string> {
  const r = await cli(t.env, args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('names as handles', () => {
  it('a process name works where an id does: show, logs, events, restart (a new linked run), stop', async () => {
    const id = (await ok(['start', '--name', 'ticker', '--wait', '--', ...talker('tick')])).trim();
    await until(async () => (await t.client.logs(id)).length > 0, 10_000, 'its first line');
    expect(await ok(['logs', 'ticker'])).toBe(`tick from ${id}\n`);
    expect(await ok(['show', 'ticker'])).toContain(id);
    expect(JSON.parse(await ok(['show', 'ticker', '--json'])).id).toBe(id);
    expect(await ok(['events', 'ticker'])).toMatch(/start_requested[\s\S]*spawned/);

    const again = (await ok(['restart', 'ticker', '--wait'])).trim();
    expect(again).not.toBe(id);
    const old = await t.client.get(id);
    expect(old).toMatchObject({ state: 'stopped' });
    expect(carriersOf(id)).toEqual([]);
    expect(await t.client.get(again)).toMatchObject({ state: 'running', name: 'ticker', restartOf: id, command: talker('tick') });
    // The name now names the new run: the old one is not live any more.
    expect(JSON.parse(await ok(['show', 'ticker', '--json'])).id).toBe(again);
    expect(await ok(['stop', 'ticker', '--wait'])).toBe(`${again} stopped\n`);
    expect(carriersOf(again)).toEqual([]);
    // Nothing live carries the name any more; the old ids still work.
    expect(await cli(t.env, ['show', 'ticker'])).toMatchObject({ code: 1, stderr: 'reapq: no process with id ticker\n' });
    expect(JSON.parse(await ok(['show', id, '--json'])).id).toBe(id);
    // A deploy, a restart deploy and a dozen CLI calls: 6-8 s alone, past 30 s beside the 1000-process burst on two cores.
  }, 90_000);

  it('a name two live records carry is an error listing both ids (exit 2, HTTP 400)', async () => {
    const a = (await t.client.start({ name: 'twin', command: talker('a') })).id;
    const b = (await t.client.start({ name: 'twin', command: talker('b') })).id;
    for (const cmd of ['show', 'logs', 'events', 'stop', 'restart']) {
      const r = await cli(t.env, [cmd, 'twin']);
      expect(r.code, cmd).toBe(2);
      expect(r.stderr).toBe(`reapq: twin is ambiguous: it names ${[a, b].sort().join(', ')}; use an id\n`);
    }
    const api = buildServer(t.client, {});
    try {
      const res = await api.inject({ url: '/v1/handles/twin' });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toContain([a, b].sort().join(', '));
      expect((await api.inject({ url: `/v1/handles/${a}` })).json()).toEqual({ kind: 'process', handle: a, id: a });
      expect((await api.inject({ url: '/v1/handles/nobody' })).statusCode).toBe(404);
    } finally {
      await api.close();
    }
    for (const id of [a, b]) await t.client.stop(id);
    for (const id of [a, b]) await t.client.waitFor(id, 'stopped');
  });

  it("a service name: show every replica, logs and events merged with each line's replica, restart and stop", async () => {
    const d = await t.client.deploy({
      service: 'chat',
      command: talker('hi'),
      port: 'auto',
      replicas: 2,
      ready: { kind: 'http', path: '/' },
    });
    expect((await t.client.waitForDeploy(d.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
    await until(async () => (await t.client.logs('chat-r1-1')).length > 0, 10_000, 'the second replica says hi');
    const logs = (await ok(['logs', 'chat'])).trim().split('\n').sort();
    expect(logs).toEqual(['[chat-r1-0] hi from chat-r1-0', '[chat-r1-1] hi from chat-r1-1']);
    const events = (await ok(['events', 'chat'])).trim().split('\n');
    expect(
      events
        .filter((l) => l.includes('start_requested'))
        .map((l) => l.slice(0, 12))
        .sort(),
    ).toEqual(['[chat-r1-0] ', '[chat-r1-1] ']);
    const at = events.map((l) => Date.parse(l.split(' ')[1]!));
    expect(at).toEqual([...at].sort((x, y) => x - y));
    const shown = JSON.parse(await ok(['show', 'chat', '--json']));
    expect(shown.processes.map((p: { id: string }) => p.id)).toEqual(['chat-r1-0', 'chat-r1-1']);
    expect(shown.service).toMatchObject({ name: 'chat', health: 'serving' });

    // A plain process of the same name: ambiguous until it is gone.
    const p = (await t.client.start({ name: 'chat', command: talker('x') })).id;
    const amb = await cli(t.env, ['logs', 'chat']);
    expect(amb).toMatchObject({
      code: 2,
      stderr: `reapq: chat is ambiguous: it names ${[p, 'chat-r1-0', 'chat-r1-1'].sort().join(', ')}; use an id\n`,
    });
    await t.client.stop(p);
    await t.client.waitFor(p, 'stopped');

    const r = await cli(t.env, ['restart', 'chat', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    expect((await t.client.getDeploy(r.stdout.trim())).cause).toBe('restart of r1');
    const stop = await cli(t.env, ['stop', 'chat', '--wait']);
    expect(stop.code, stop.stderr).toBe(0);
    expect((await t.client.service('chat')).active).toBeNull();
    for (const id of ['chat-r2-0', 'chat-r2-1']) expect(carriersOf(id)).toEqual([]);
  });
});
