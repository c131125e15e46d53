import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/shared/errors.js';
import { buildServer } from '../../src/producer/http/server.js';
import { cli, hostThatNeverTakes, useWorker } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';

const t = useWorker('h-pages');

describe('list pages', () => {
  it('pages through every record once, in creation order, across a removal', async () => {
    const c = t.client;
    await hostThatNeverTakes(c, 'nowhere');
    for (let i = 0; i < 25; i++) await c.start({ id: `pg-${String(i).padStart(2, '0')}`, command: ['sleep', '1000'], host: 'nowhere' });
    const all = (await c.list()).map((r) => r.id);
    const first = await c.listPage({ limit: 10 });
    expect(first.records.map((r) => r.id)).toEqual(all.slice(0, 10));
    expect(first.cursor).not.toBeNull();
    // A record of the page just read is removed (prune): the next page does not shift.
    const gone = first.records[9]!;
    await c.stop(gone.id);
    expect(await internalsOf(c).store.remove(await c.get(gone.id))).toBe(true);
    const second = await c.listPage({ limit: 10, cursor: first.cursor! });
    expect(second.records.map((r) => r.id)).toEqual(all.slice(10, 20));
    const third = await c.listPage({ limit: 10, cursor: second.cursor! });
    expect(third.records.map((r) => r.id)).toEqual(all.slice(20));
    expect(third.cursor).toBeNull();
    await expect(c.listPage({ cursor: 'bm9wZQ' })).rejects.toBeInstanceOf(InputError);
    await expect(c.listPage({ limit: 0 })).rejects.toBeInstanceOf(InputError);

    all.splice(all.indexOf(gone.id), 1);
    const app = buildServer(c, { rateLimitPerMinute: 0 });
    const page = await app.inject({ url: '/v1/processes?limit=5' });
    expect(page.statusCode).toBe(200);
    expect(page.json().records.map((r: { id: string }) => r.id)).toEqual(all.slice(0, 5));
    const next = await app.inject({ url: `/v1/processes?limit=5&cursor=${page.json().cursor}` });
    expect(next.json().records.map((r: { id: string }) => r.id)).toEqual(all.slice(5, 10));
    expect((await app.inject({ url: '/v1/processes?cursor=not*a*cursor' })).statusCode).toBe(400);
    expect(Array.isArray((await app.inject({ url: '/v1/processes' })).json())).toBe(true);
    await app.close();

    const ls = await cli(t.env, ['ls', '--limit', '3', '--json']);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout).map((r: { id: string }) => r.id)).toEqual(all.slice(0, 3));
    expect(ls.stderr).toMatch(/^more: reapq ls --cursor \S+ \(or --all\)\n$/);
    const newest = await cli(t.env, ['ls', '--newest', '--limit', '3', '--json']);
    expect(JSON.parse(newest.stdout).map((r: { id: string }) => r.id)).toEqual([...all].reverse().slice(0, 3));
    expect(newest.stderr).toMatch(/^more: reapq ls --newest --cursor \S+ \(or --all\)\n$/);
    const every = await cli(t.env, ['ls', '--all', '--json']);
    expect(JSON.parse(every.stdout)).toHaveLength(24);
    for (const id of all) await c.stop(id);
  });
});

describe('live index of a host', () => {
  it('holds what may still run on the host, kept by the append, rebuilt for older data', async () => {
    const c = t.client;
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await c.start({ id: `live-${i}`, command: ['sleep', '1000'] })).id);
    for (const id of ids) await c.waitFor(id, 'running');
    const live = async () =>
      (await internalsOf(c).store.liveOfHost('h-pages'))
        .map((r) => r.id)
        .filter((id) => id.startsWith('live-'))
        .sort();
    expect(await live()).toEqual(ids);
    await c.stop(ids[0]!);
    await c.waitFor(ids[0]!, 'stopped');
    expect(await live()).toEqual(ids.slice(1));
    // A Redis written before the index existed: the first read builds it from the records.
    await internalsOf(c).connection.del(internalsOf(c).keys.liveIndex('h-pages'), internalsOf(c).keys.liveIndexBuilt);
    expect(await live()).toEqual(ids.slice(1));
    expect(await internalsOf(c).connection.exists(internalsOf(c).keys.liveIndexBuilt)).toBe(1);
    for (const id of ids.slice(1)) await c.stop(id);
    for (const id of ids.slice(1)) await c.waitFor(id, 'stopped');
    expect(await live()).toEqual([]);
    expect(await internalsOf(c).connection.scard(internalsOf(c).keys.liveIndex('h-pages'))).toBe(0);
  });
});

describe('counts kept on append', () => {
  it('match the records, and are rebuilt the same from older data', async () => {
    const c = t.client;
    const a = await c.start({ command: ['sleep', '1000'] });
    await c.waitFor(a.id, 'running');
    await hostThatNeverTakes(c, 'nowhere');
    await c.start({ command: ['sleep', '1000'], host: 'nowhere' });
    const fromRecords = async () => {
      const m = new Map<string, number>();
      for (const r of await c.list()) m.set(`${r.state} ${r.host ?? ''}`, (m.get(`${r.state} ${r.host ?? ''}`) ?? 0) + 1);
      return m;
    };
    const kept = async () =>
      new Map((await internalsOf(c).store.counts()).filter((x) => x.count !== 0).map((x) => [`${x.state} ${x.host}`, x.count]));
    expect(await kept()).toEqual(await fromRecords());
    await internalsOf(c).connection.del(internalsOf(c).keys.counts, internalsOf(c).keys.countsBuilt);
    expect(await kept()).toEqual(await fromRecords());
    for (const r of await c.list()) await c.stop(r.id);
    await c.waitFor(a.id, 'stopped');
    expect(await kept()).toEqual(await fromRecords());
  });
});
