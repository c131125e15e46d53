import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { httpReady, versionApp } from '../helpers/services.js';
import { carriersOf, startWorker, testEnv, until } from '../helpers/workers.js';

/** Deploys across workers: replicas on two hosts, and a worker SIGKILLed in the middle of a deploy. */
const ready = httpReady(30_000);

let client: ReapqClient;
const prefixes: string[] = [];
const clientFor = (prefix: string) => new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
beforeAll(() => {
  prefixes.push(randomPrefix());
  client = clientFor(prefixes[0]!);
});
afterAll(async () => {
  await client.close();
});

async function hostsOf(c: ReapqClient, ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await c.get(id)).host ?? '-'));
}

describe('deploys across workers', () => {
  it('places replicas on two hosts and replaces them there', async () => {
    const env = testEnv(testRedisUrl(), prefixes[0]!);
    // One process per host: two replicas must land on two hosts.
    const a = await startWorker(env, 'h-a', ['--max-processes', '1']);
    const b = await startWorker(env, 'h-b', ['--max-processes', '1']);
    const spec = { service: 'web', port: 'auto' as const, ready, replicas: 2, strategy: 'stop-first' as const };
    const r1 = await client.waitForDeploy((await client.deploy({ ...spec, command: versionApp('v1') })).id);
    expect(r1.state).toBe('succeeded');
    expect((await hostsOf(client, r1.processes)).sort()).toEqual(['h-a', 'h-b']);
    const r2 = await client.waitForDeploy((await client.deploy({ ...spec, command: versionApp('v2') })).id);
    expect(r2.state).toBe('succeeded');
    expect((await hostsOf(client, r2.processes)).sort()).toEqual(['h-a', 'h-b']);
    for (const id of r1.processes) {
      expect((await client.get(id)).state).toBe('stopped');
      expect(carriersOf(id)).toEqual([]);
    }
    const svc = await client.service('web');
    expect(svc.active!.processes.map((p) => p.host).sort()).toEqual(['h-a', 'h-b']);
    await client.waitForDeploy((await client.stopService('web')).id);
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  it('a worker SIGKILLed mid-deploy: the next one finishes the deploy or rolls it back from the record', async () => {
    const prefix = randomPrefix();
    const c = clientFor(prefix);
    try {
      const env = testEnv(testRedisUrl(), prefix);
      const first = await startWorker(env, 'h-crash');
      const r1 = await c.waitForDeploy((await c.deploy({ service: 'api', command: versionApp('v1'), port: 'auto', ready })).id);
      expect(r1.state).toBe('succeeded');
      // v2 takes 3 s to listen: the worker dies while the deploy waits for it.
      const d2 = await c.deploy({ service: 'api', command: versionApp('v2', 3000), port: 'auto', ready });
      await until(async () => (await c.getDeploy(d2.id)).processes.length === 1, 10_000, 'the new replica started');
      await first.kill();
      const second = await startWorker(env, 'h-crash');
      const fin = await c.waitForDeploy(d2.id, { timeoutMs: 60_000 });
      const events = (await c.deployEvents(d2.id)).map((e) => e.event.type);
      expect(events.filter((t) => t === 'began')).toHaveLength(1);
      if (fin.state === 'succeeded') {
        expect(events).toEqual(['requested', 'began', 'revision_started', 'replica_ready', 'previous_stopped', 'succeeded']);
        expect((await c.get('api-r1-0')).state).toBe('stopped');
        expect(carriersOf('api-r1-0')).toEqual([]);
        expect((await c.get('api-r2-0')).state).toBe('running');
      } else {
        expect(fin.state).toBe('rolled_back');
        expect((await c.get('api-r1-0')).state).toBe('running');
        await until(() => carriersOf('api-r2-0').length === 0, 10_000, 'the new tree gone');
      }
      expect((await c.getDeploy(d2.id)).state).toBe(fin.state);
      await c.waitForDeploy((await c.stopService('api')).id);
      expect(await second.stop()).toBe(0);
    } finally {
      await c.close();
    }
  }, 90_000);
});
