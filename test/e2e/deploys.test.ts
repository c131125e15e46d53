import { describe, expect, it } from 'vitest';
import type { DeployRecord } from '../../src/index.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/dev/local-redis.js';
import { internalsOf } from '../../src/producer/client.js';
import { buildServer } from '../../src/producer/http/server.js';
import { DeployStore } from '../../src/shared/deploy-store.js';
import { makeKeys } from '../../src/shared/keys.js';
import { connect } from '../../src/shared/redis.js';
import { testRedisUrl } from '../helpers/redis.js';
import { carriersOf, cli, hostThatNeverTakes, until, useWorker } from '../helpers/workers.js';
import { tempDir } from '../helpers/cleanup.js';
import { answer, httpReady, stopService, versionApp } from '../helpers/services.js';

const t = useWorker('h-deploy');

/** Runs, never listens: never ready. */
const broken = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];
const ready = httpReady(20_000);

const types = async (id: string) => (await t.client.deployEvents(id)).map((e) => e.event.type);

describe('deploys', () => {
  it('replaces a revision once the new one is ready, and stops the old tree', async () => {
    const d1 = await t.client.deploy({ service: 'web', command: versionApp('v1'), port: 'auto', ready });
    expect(d1.state).toBe('queued');
    const r1 = await t.client.waitForDeploy(d1.id, { timeoutMs: 30_000 });
    expect(r1.state).toBe('succeeded');
    expect(r1.processes).toEqual(['web-r1-0']);
    const p1 = await t.client.get('web-r1-0');
    expect(p1).toMatchObject({ state: 'running', service: 'web', revision: 1 });
    expect(await answer(p1.port)).toBe('v1');

    const d2 = await t.client.deploy({ service: 'web', command: versionApp('v2'), port: 'auto', ready });
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
    await stopService(t.client, 'web');
    expect((await t.client.services())[0]!.active).toBeNull();
    expect(carriersOf('web-r2-0')).toEqual([]);
  });

  it('serializes deploys of a service: a queued one supersedes older queued ones', async () => {
    const a = await t.client.deploy({ service: 'api', command: versionApp('a', 800), port: 'auto', ready });
    await until(async () => (await t.client.getDeploy(a.id)).state === 'running', 10_000, 'the first deploy under way');
    const b = await t.client.deploy({ service: 'api', command: versionApp('b'), port: 'auto', ready });
    const c = await t.client.deploy({ service: 'api', command: versionApp('c'), port: 'auto', ready });
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
    await stopService(t.client, 'api');
  });

  it('stop-first frees a fixed port before the new revision takes it; a failure starts the previous one again', async () => {
    const port = await freePort();
    const spec = { port, ready, strategy: 'stop-first' as const };
    const r1 = await t.client.waitForDeploy((await t.client.deploy({ service: 'fixed', command: versionApp('f1'), ...spec })).id);
    expect(r1.state).toBe('succeeded');
    expect(await answer(port)).toBe('f1');
    const r2 = await t.client.waitForDeploy((await t.client.deploy({ service: 'fixed', command: versionApp('f2'), ...spec })).id);
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
    await stopService(t.client, 'fixed');
  });

  it('CLI: deploy --wait, services, service; bad input is exit 2, an unknown service exit 1', async () => {
    const ok = await cli(t.env, ['deploy', 'cli-web', '--port', 'auto', '--ready-http', '/', '--wait', '--', ...versionApp('c1')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toMatch(/^d-[a-z0-9]+$/);
    expect(ok.stderr).toMatch(/cli-web-r1-0 started \(replica 1\)/);
    expect(ok.stderr).toMatch(/cli-web-r1-0 ready/);
    expect(ok.stderr).toMatch(/succeeded/);
    // No --restart on the command line: the replica restarts on failure.
    expect((await t.client.get('cli-web-r1-0')).restartPolicy).toBe('on-failure');

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

  it('rollback, restart and apply are deploys too; delete removes a finished record only', async () => {
    const base = { port: 'auto' as const, ready };
    await t.client.waitForDeploy((await t.client.deploy({ service: 'rb', command: versionApp('one'), ...base })).id);
    await t.client.waitForDeploy((await t.client.deploy({ service: 'rb', command: versionApp('two'), ...base })).id);
    const back = await t.client.waitForDeploy((await t.client.rollback('rb')).id);
    expect(back).toMatchObject({ state: 'succeeded', revision: 3, cause: 'rollback to r1' });
    expect(await answer((await t.client.get('rb-r3-0')).port)).toBe('one');
    const again = await t.client.waitForDeploy(await cliDeployId(['restart', 'rb-r3-0']));
    expect(again).toMatchObject({ state: 'succeeded', revision: 4, cause: 'restart of r3' });
    expect(await answer((await t.client.get('rb-r4-0')).port)).toBe('one');

    expect((await cli(t.env, ['delete', 'rb-r4-0'])).code).toBe(1);
    expect((await t.client.get('rb-r4-0')).state).toBe('running');
    const del = await cli(t.env, ['delete', 'rb-r1-0']);
    expect(del.code, del.stderr).toBe(0);
    await expect(t.client.get('rb-r1-0')).rejects.toThrow(/no process with id rb-r1-0/);

    // apply: rb unchanged is left alone, a new service is deployed, --prune stops the rest.
    const dir = tempDir('apply');
    const file = join(dir, 'services.json');
    const rbSpec = { command: versionApp('one'), ...base, timeoutMs: (await t.client.getDeploy(again.id)).timeoutMs };
    writeFileSync(
      file,
      JSON.stringify({ services: { rb: { ...rbSpec, cwd: process.cwd() }, side: { command: versionApp('side'), ...base } } }),
    );
    // The rb spec from the CLI carried the cwd it ran in: the same one makes it unchanged.
    const applied = await cli(t.env, ['apply', file, '--wait']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/^side deployed d-\w+ succeeded$/m);
    expect(applied.stdout).toMatch(/^rb (unchanged|deployed d-\w+ succeeded)$/m);

    writeFileSync(file, JSON.stringify({ services: { side: { command: versionApp('side'), ...base, replicas: 0 } } }));
    const badFile = await cli(t.env, ['apply', file]);
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toMatch(/^reapq: invalid apply entry "side": replicas: .*\n$/);
    // The same file as YAML: side is unchanged.
    const yamlFile = join(dir, 'services.yaml');
    writeFileSync(
      yamlFile,
      `services:\n  side:\n    command: ${JSON.stringify(versionApp('side'))}\n    port: auto\n    ready: { kind: http, path: /, timeoutMs: 20000 }\n`,
    );
    const pruned = await cli(t.env, ['apply', yamlFile, '--prune', '--wait']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/^side unchanged$/m);
    expect(pruned.stdout).toMatch(/^rb stopped d-\w+ succeeded$/m);
    await stopService(t.client, 'side');
    expect(carriersOf('rb-r4-0')).toEqual([]);
    // Five deploys and a dozen CLI calls: 7 s alone, past 30 s beside the 1000-process burst on two cores.
  }, 90_000);

  it('HTTP: queue a deploy, read services and the deploy, follow its steps as server-sent events', async () => {
    const api = buildServer(t.client, {});
    try {
      const bad = await api.inject({ method: 'POST', url: '/v1/services/h1/deploys', payload: { command: ['x'], strategy: 'blue' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error).toMatch(/strategy/);
      expect((await api.inject({ url: '/v1/services/nope' })).json()).toMatchObject({ error: 'no service nope' });
      const res = await api.inject({
        method: 'POST',
        url: '/v1/services/h1/deploys',
        payload: { command: versionApp('h'), port: 'auto', ready },
      });
      expect(res.statusCode).toBe(201);
      const id = res.json().id as string;
      const sse = await api.inject({ url: `/v1/deploys/${id}/events`, headers: { accept: 'text/event-stream' } });
      const steps = [...sse.body.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!).event.type);
      expect(steps).toEqual(['requested', 'began', 'revision_started', 'replica_ready', 'succeeded']);
      expect((await api.inject({ url: `/v1/deploys/${id}` })).json()).toMatchObject({ state: 'succeeded' });
      expect((await api.inject({ url: '/v1/services' })).json()).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'h1', active: expect.objectContaining({ revision: 1 }) })]),
      );
      expect((await api.inject({ url: '/v1/services/h1' })).json().deploys).toHaveLength(1);
    } finally {
      await api.close();
    }
    await stopService(t.client, 'h1');
  });

  it('a replica stopped before it ran has its queued start job withdrawn, as a client stop does', async () => {
    // Its replica asks for a host no worker serves: it stays pending, the deploy times out
    // and the rollback stops it through the runner.
    await hostThatNeverTakes(t.client, 'h-nobody');
    const d = await t.client.deploy({ service: 'nowhere', command: broken, host: 'h-nobody', timeoutMs: 500 });
    const r = await t.client.waitForDeploy(d.id, { timeoutMs: 30_000 });
    expect(r.state).toBe('rolled_back');
    expect(r.reason).toMatch(/nowhere-r1-0 not ready within 500 ms \(pending\)/);
    expect(await t.client.get('nowhere-r1-0')).toMatchObject({ state: 'stopped', desired: 'stopped', host: null });
    const c = internalsOf(t.client);
    expect(await c.queue(c.keys.hostQueue('h-nobody')).getJobCounts('waiting', 'delayed', 'prioritized')).toEqual({
      waiting: 0,
      delayed: 0,
      prioritized: 0,
    });
  });

  it('a deploy recorded without its job (the producer died in between) is picked up by a worker', async () => {
    const redis = connect(testRedisUrl(), 'command');
    try {
      const store = new DeployStore(redis, makeKeys(t.prefix));
      const revision = await store.nextRevision('orphan');
      const spec = { command: versionApp('o'), port: 'auto', ready };
      await store.transact('d-orphan', () => [
        {
          type: 'requested',
          service: 'orphan',
          revision,
          kind: 'deploy',
          spec,
          strategy: 'start-first',
          replicas: 1,
          timeoutMs: 20_000,
          cause: null,
        },
      ]);
      expect((await t.client.waitForDeploy('d-orphan', { timeoutMs: 30_000 })).state).toBe('succeeded');
    } finally {
      redis.disconnect();
    }
    await stopService(t.client, 'orphan');
  });
});

async function cliDeployId(args: string[]): Promise<string> {
  const r = await cli(t.env, args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}
