import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/producer/http/server.js';
import { carriersOf, cli, useWorker } from '../helpers/workers.js';

const t = useWorker('h-scale');

const server = [process.execPath, '-e', "require('node:http').createServer((q, s) => s.end('up')).listen(process.env.PORT)"];

/** Each replica's id with the pid and run that serve it: what "left alone" means. */
async function runs(service: string): Promise<Array<[string, number | null, string | null]>> {
  const s = await t.client.service(service);
  const recs = await Promise.all((s.active?.processes ?? []).map((p) => t.client.get(p.id)));
  return recs.map((r) => [r.id, r.pid, r.runId ?? null]);
}

describe('reapq scale', () => {
  it('scales the active revision up and down; the replicas that serve are left alone; bad input is exit 2', async () => {
    const d = await t.client.deploy({ service: 'sc', command: server, port: 'auto', ready: { kind: 'http', path: '/' }, replicas: 2 });
    expect((await t.client.waitForDeploy(d.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
    const before = await runs('sc');
    expect(before.map(([id]) => id)).toEqual(['sc-r1-0', 'sc-r1-1']);

    const up = await cli(t.env, ['scale', 'sc', '4', '--wait']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain('queued scale of sc to 4');
    const scaled = await t.client.getDeploy(up.stdout.trim());
    expect(scaled).toMatchObject({ kind: 'scale', state: 'succeeded', replicas: 4, cause: 'scale to 4' });
    expect((await t.client.deployEvents(scaled.id)).map((e) => e.event.type)).toEqual([
      'requested',
      'began',
      'revision_started',
      'revision_started',
      'replica_ready',
      'replica_ready',
      'succeeded',
    ]);
    const four = await runs('sc');
    expect(four.slice(0, 2)).toEqual(before);
    expect(four.map(([id]) => id)).toEqual(['sc-r1-0', 'sc-r1-1', 'sc-r1-2-s2', 'sc-r1-3-s2']);
    const info = await t.client.service('sc');
    expect(info).toMatchObject({ health: 'serving', active: { revision: 1, deploy: d.id } });
    expect(info.revisions[0]).toMatchObject({ desired: 4, ready: 4 });

    // Down over HTTP, to one: the highest-numbered stop, the first is the same run.
    const api = buildServer(t.client, {});
    try {
      const res = await api.inject({ method: 'POST', url: '/v1/services/sc/scale?wait=true', payload: { replicas: 1 } });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ kind: 'scale', state: 'succeeded', replicas: 1 });
      const bad = await api.inject({ method: 'POST', url: '/v1/services/sc/scale', payload: { replicas: 0 } });
      expect(bad.statusCode).toBe(400);
    } finally {
      await api.close();
    }
    expect(await runs('sc')).toEqual([before[0]]);
    for (const [id] of four.slice(1)) expect(carriersOf(id)).toEqual([]);

    // A restart keeps the scaled count, not the deploy's (the scale down was r3).
    const again = await cli(t.env, ['restart', 'sc', '--wait']);
    expect(again.code, again.stderr).toBe(0);
    expect((await t.client.getDeploy(again.stdout.trim())).replicas).toBe(1);

    expect(await cli(t.env, ['scale', 'sc', '0'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^reapq: invalid replicas "0": .+\n$/),
    });
    expect(await cli(t.env, ['scale', 'sc', 'two'])).toMatchObject({ code: 2 });
    expect(await cli(t.env, ['scale', 'nosuch', '2'])).toMatchObject({ code: 1, stderr: 'reapq: no service nosuch\n' });

    const stop = await cli(t.env, ['stop', '--service', 'sc', '--wait']);
    expect(stop.code, stop.stderr).toBe(0);
    for (const id of ['sc-r1-0', 'sc-r1-1', 'sc-r1-2-s2', 'sc-r1-3-s2', 'sc-r4-0']) expect(carriersOf(id)).toEqual([]);
  });

  it('--at-most-one: one replica, deployed stop-first; two replicas, a scale to two or an apply entry asking for two are refused (exit 2 / 400), nothing written', async () => {
    const deployed = await cli(t.env, ['deploy', 'one', '--at-most-one', '--port', 'auto', '--ready-http', '/', '--wait', '--', ...server]);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stderr).toContain('note: one');
    const d = await t.client.getDeploy(deployed.stdout.trim());
    expect(d).toMatchObject({ state: 'succeeded', strategy: 'stop-first', replicas: 1, spec: { atMostOne: true } });
    expect(d.note).toMatch(/^at most one copy: deployed stop-first, not start-first/);
    expect(await t.client.get('one-r1-0')).toMatchObject({ atMostOne: true, state: 'running' });

    const two = await cli(t.env, ['deploy', 'one2', '--at-most-one', '--replicas', '2', '--', ...server]);
    expect(two).toMatchObject({ code: 2, stderr: expect.stringMatching(/^reapq: invalid deploy: replicas: 2 with atMostOne: .+\n$/) });
    const scaled = await cli(t.env, ['scale', 'one', '2']);
    expect(scaled).toMatchObject({ code: 2, stderr: expect.stringMatching(/^reapq: invalid scale: replicas: 2 with atMostOne: .+\n$/) });
    await expect(t.client.apply([{ service: 'one3', command: server, atMostOne: true, replicas: 3 }])).rejects.toThrow(
      /invalid apply entry "one3": replicas: 3 with atMostOne/,
    );
    const api = buildServer(t.client, {});
    try {
      const res = await api.inject({
        method: 'POST',
        url: '/v1/services/one4/deploys',
        payload: { command: server, atMostOne: true, replicas: 2 },
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error).toMatch(/replicas: 2 with atMostOne/);
    } finally {
      await api.close();
    }
    expect((await t.client.services()).map((s) => s.name).filter((n) => n.startsWith('one'))).toEqual(['one']);
    expect((await t.client.service('one')).deploys).toHaveLength(1);

    const stop = await cli(t.env, ['stop', '--service', 'one', '--wait']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(carriersOf('one-r1-0')).toEqual([]);
  });
});
