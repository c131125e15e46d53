import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { DeployRecord } from '../../src/index.js';
import { carriersOf, cli, until, useWorker } from '../helpers/workers.js';

const t = useWorker('h-deploy');

/** A web app answering its version on PORT; `delayMs` before it listens. */
const app = (version: string, delayMs = 0) => [
  process.execPath,
  '-e',
  `setTimeout(() => require('node:http').createServer((q, s) => s.end('${version}')).listen(process.env.PORT), ${delayMs})`,
];
/** Runs, never listens: never ready. */
const broken = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];
const ready = { kind: 'http' as const, path: '/', timeoutMs: 20_000 };

async function answer(port: number | null): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  return res.text();
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

async function stopService(name: string): Promise<void> {
  const d = await t.client.stopService(name);
  expect((await t.client.waitForDeploy(d.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
}

const types = async (id: string) => (await t.client.deployEvents(id)).map((e) => e.event.type);

describe('deploys', () => {
  it('replaces a revision once the new one is ready, and stops the old tree', async () => {
    const d1 = await t.client.deploy({ service: 'web', command: app('v1'), port: 'auto', ready });
    expect(d1.state).toBe('queued');
    const r1 = await t.client.waitForDeploy(d1.id, { timeoutMs: 30_000 });
    expect(r1.state).toBe('succeeded');
    expect(r1.processes).toEqual(['web-r1-0']);
    const p1 = await t.client.get('web-r1-0');
    expect(p1).toMatchObject({ state: 'running', service: 'web', revision: 1 });
    expect(await answer(p1.port)).toBe('v1');

    const d2 = await t.client.deploy({ service: 'web', command: app('v2'), port: 'auto', ready });
    const r2 = await t.client.waitForDeploy(d2.id, { timeoutMs: 30_000 });
    expect(r2.state).toBe('succeeded');
    expect(await types(d2.id)).toEqual(['requested', 'began', 'revision_started', 'replica_ready', 'previous_stopped', 'succeeded']);
    expect((await t.client.get('web-r1-0')).state).toBe('stopped');
    expect(carriersOf('web-r1-0')).toEqual([]);
    expect(await answer((await t.client.get('web-r2-0')).port)).toBe('v2');

    const [svc] = await t.client.services();
    expect(svc).toMatchObject({ name: 'web', active: { revision: 2 }, lastDeploy: { id: d2.id, state: 'succeeded' } });
    expect(svc!.active!.processes).toEqual([expect.objectContaining({ id: 'web-r2-0', state: 'running', host: 'h-deploy' })]);
    expect((await t.client.service('web')).deploys.map((d) => d.id)).toEqual([d2.id, d1.id]);

    // A revision that never gets ready is rolled back: the previous one keeps serving.
    const d3 = await t.client.deploy({
      service: 'web',
      command: broken,
      port: 'auto',
      ready: { kind: 'http', path: '/', timeoutMs: 1000 },
    });
    const r3 = await t.client.waitForDeploy(d3.id, { timeoutMs: 30_000 });
    expect(r3.state).toBe('rolled_back');
    expect(r3.reason).toMatch(/web-r3-0/);
    expect(await types(d3.id)).toEqual(['requested', 'began', 'revision_started', 'rollback_begun', 'rolled_back']);
    await until(() => carriersOf('web-r3-0').length === 0, 10_000, 'the broken tree gone');
    const p2 = await t.client.get('web-r2-0');
    expect(p2.state).toBe('running');
    expect(await answer(p2.port)).toBe('v2');
    expect((await t.client.service('web')).active?.revision).toBe(2);
    await stopService('web');
    expect((await t.client.services())[0]!.active).toBeNull();
    expect(carriersOf('web-r2-0')).toEqual([]);
  });

  it('serializes deploys of a service: a queued one supersedes older queued ones', async () => {
    const a = await t.client.deploy({ service: 'api', command: app('a', 800), port: 'auto', ready });
    await until(async () => (await t.client.getDeploy(a.id)).state === 'running', 10_000, 'the first deploy under way');
    const b = await t.client.deploy({ service: 'api', command: app('b'), port: 'auto', ready });
    const c = await t.client.deploy({ service: 'api', command: app('c'), port: 'auto', ready });
    const [ra, rb, rc] = await Promise.all([a, b, c].map((d) => t.client.waitForDeploy(d.id, { timeoutMs: 30_000 })));
    expect(rb!.state).toBe('superseded');
    expect(rb!.supersededBy).toBe(c.id);
    expect(rc!.state).toBe('succeeded');
    expect(ra!.state).toBe('succeeded');
    // Never two at once: each deploy that ran began after the one before it ended.
    const ran = (await t.client.service('api')).deploys.filter((d) => d.state !== 'superseded').reverse();
    const began = async (d: DeployRecord) => (await t.client.deployEvents(d.id)).find((e) => e.event.type === 'began')!.event.at;
    for (let i = 1; i < ran.length; i++) expect(await began(ran[i]!)).toBeGreaterThanOrEqual(Date.parse(ran[i - 1]!.endedAt!));
    expect(await answer((await t.client.get(rc!.processes[0]!)).port)).toBe('c');
    await stopService('api');
  });

  it('stop-first frees a fixed port before the new revision takes it; a failure starts the previous one again', async () => {
    const port = await freePort();
    const spec = { port, ready, strategy: 'stop-first' as const };
    const r1 = await t.client.waitForDeploy((await t.client.deploy({ service: 'fixed', command: app('f1'), ...spec })).id);
    expect(r1.state).toBe('succeeded');
    expect(await answer(port)).toBe('f1');
    const r2 = await t.client.waitForDeploy((await t.client.deploy({ service: 'fixed', command: app('f2'), ...spec })).id);
    expect(r2.state).toBe('succeeded');
    expect(await types(r2.id)).toEqual(['requested', 'began', 'previous_stopped', 'revision_started', 'replica_ready', 'succeeded']);
    expect(await answer(port)).toBe('f2');

    const bad = await t.client.deploy({ service: 'fixed', command: broken, ...spec, ready: { kind: 'http', path: '/', timeoutMs: 800 } });
    const r3 = await t.client.waitForDeploy(bad.id, { timeoutMs: 30_000 });
    expect(r3.state).toBe('rolled_back');
    expect(r3.restored).toEqual(['fixed-r2-0-re3']);
    expect(await answer(port)).toBe('f2');
    expect((await t.client.service('fixed')).active).toMatchObject({
      revision: 2,
      processes: [expect.objectContaining({ id: 'fixed-r2-0-re3', state: 'running' })],
    });
    await stopService('fixed');
  });

  it('CLI: deploy --wait, services, service; bad input is exit 2, an unknown service exit 1', async () => {
    const ok = await cli(t.env, ['deploy', 'cli-web', '--port', 'auto', '--ready-http', '/', '--wait', '--', ...app('c1')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toMatch(/^d-[a-z0-9]+$/);
    expect(ok.stderr).toMatch(/cli-web-r1-0 started \(replica 1\)/);
    expect(ok.stderr).toMatch(/cli-web-r1-0 ready/);
    expect(ok.stderr).toMatch(/succeeded/);

    const bad = await cli(t.env, ['deploy', 'cli-web', '--ready-http', '/', '--timeout-ms', '700', '--wait', '--', ...broken]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/rolling back: cli-web-r2-0/);
    expect(bad.stderr).toMatch(/reapq: deploy d-\w+ rolled back/);

    const list = await cli(t.env, ['services', '--json']);
    expect(JSON.parse(list.stdout).find((s: { name: string }) => s.name === 'cli-web')).toMatchObject({
      active: { revision: 1 },
      lastDeploy: { state: 'rolled_back' },
    });
    const one = await cli(t.env, ['service', 'cli-web']);
    expect(one.stdout).toMatch(/cli-web\s+r1\s+cli-web-r1-0@h-deploy/);

    expect(await cli(t.env, ['service', 'nope'])).toMatchObject({ code: 1, stderr: 'reapq: no service nope\n' });
    for (const args of [
      ['deploy', 'bad name', '--', 'true'],
      ['deploy', 'x', '--strategy', 'blue-green', '--', 'true'],
      ['deploy', 'x', '--replicas', '0', '--', 'true'],
      ['deploy', 'x', '--replicas', '17', '--', 'true'],
    ]) {
      const r = await cli(t.env, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const stop = await cli(t.env, ['stop', '--service', 'cli-web', '--wait']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(carriersOf('cli-web-r1-0')).toEqual([]);
  });
});
