import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { carriersOf, ROOT, runNode, until, useWorker } from '../helpers/workers.js';

const t = useWorker('h-example');

// The README's route: REDIS_URL and REAPQ_PREFIX in the environment, `import ... from 'reapq'`.
const example = (file: string, args: string[]) => runNode(join(ROOT, 'examples', file), args, t.env);

/** The deploy backend (examples/deploy-backend/server.mjs) on a free port, its deploy and scale routes for one app, and its end. */
async function backend(app: string) {
  const child = spawn(process.execPath, [join(ROOT, 'examples', 'deploy-backend', 'server.mjs')], {
    cwd: ROOT,
    env: { ...t.env, LISTEN: '127.0.0.1:0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onCleanup(async () => {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  child.stdout.on('data', (d) => (log += d));
  const base = await until(() => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(log)?.[1], 15_000, 'the backend listening');
  const deploy = async (body: object, what = 'deploy') => {
    const res = await fetch(`${base}/apps/${app}/${what}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const steps = [...(await res.text()).matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as { type: string; state?: string });
    return { steps: steps.map((s) => s.type), state: steps.at(-1)?.state };
  };
  const stop = async () => {
    const s = await t.client.stopService(app);
    expect((await t.client.waitForDeploy(s.id)).state).toBe('succeeded');
    child.kill('SIGTERM');
  };
  return { base, deploy, stop };
}

/**
 * Four clients requesting `url` without pause until stopped: answers counted by body and by
 * the replica run that served them (x-served-by), anything but a 200 kept as a failure.
 */
function requestLoops(url: string) {
  const seen: Record<string, number> = {};
  const servedBy: Record<string, number> = {};
  const failures: string[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      try {
        const res = await fetch(url);
        const body = await res.text();
        if (res.status !== 200) failures.push(`${res.status} ${body}`);
        else {
          seen[body.trim()] = (seen[body.trim()] ?? 0) + 1;
          const by = res.headers.get('x-served-by') ?? '-';
          servedBy[by] = (servedBy[by] ?? 0) + 1;
        }
      } catch (err) {
        failures.push(String((err as Error).cause ?? err));
      }
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  return {
    seen,
    servedBy,
    failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('examples/', () => {
  it('client-deploy.mjs deploys a first version, then replaces it, and ends', async () => {
    const first = await example('client-deploy.mjs', ['v1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^web-v1 answers on port \d+$/m);
    expect(first.stdout).toContain('first deploy: nothing to stop');
    expect(carriersOf('web-v1')).toHaveLength(1);

    const second = await example('client-deploy.mjs', ['v2']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^web-v2 answers on port \d+$/m);
    expect(second.stdout).toContain('web-v1 v');
    expect(second.stdout).toContain('web-v1 is stopped: its whole tree is gone');
    expect(carriersOf('web-v1')).toEqual([]);
    expect(carriersOf('web-v2')).toHaveLength(1);

    await t.client.stop('web-v2');
    await t.client.waitFor('web-v2', 'stopped');
  }, 60_000);

  it('deploy-backend: v1, then v2 under continuous requests through the proxy, then a broken v3 rolled back, then scaled 1 -> 3 -> 1: no request fails', async () => {
    const { base, deploy, stop } = await backend('demo');
    expect(await deploy({ version: 'v1' })).toMatchObject({ state: 'succeeded' });
    expect(await (await fetch(`${base}/apps/demo/`)).text()).toBe('v1\n');

    // Four clients request through the proxy without pause for the rest of the test.
    const load = requestLoops(`${base}/apps/demo/`);
    const { seen, failures } = load;
    try {
      const v2 = await deploy({ version: 'v2' });
      expect(v2).toMatchObject({ state: 'succeeded' });
      expect(v2.steps).toEqual(['requested', 'began', 'revision_started', 'replica_ready', 'previous_stopped', 'succeeded', 'done']);
      await until(() => (seen.v2 ?? 0) >= 20, 10_000, 'requests answered by v2');
      const v3 = await deploy({ version: 'v3', broken: true });
      expect(v3).toMatchObject({ state: 'rolled_back' });
      const after = seen.v2!;
      await until(() => seen.v2! >= after + 20, 10_000, 'requests answered by v2 after the rollback');
      // Scale up and down under the same load: the serving replica is left alone.
      expect(await deploy({ replicas: 3 }, 'scale')).toMatchObject({ state: 'succeeded' });
      expect((await t.client.service('demo')).active!.processes.map((p) => p.id)).toEqual(['demo-r2-0', 'demo-r2-1-s4', 'demo-r2-2-s4']);
      const up = seen.v2!;
      await until(() => seen.v2! >= up + 20, 10_000, 'requests answered by 3 replicas');
      expect(await deploy({ replicas: 1 }, 'scale')).toMatchObject({ state: 'succeeded' });
      const down = seen.v2!;
      await until(() => seen.v2! >= down + 20, 10_000, 'requests answered by 1 replica');
    } finally {
      await load.stop();
    }
    if (process.env.REAPQ_EXAMPLE_COUNTS) console.log('deploy-backend requests', JSON.stringify(seen), 'failed', failures.length);
    expect(failures).toEqual([]);
    expect(seen.v1).toBeGreaterThan(0);
    expect(seen.v3).toBeUndefined();
    for (const id of ['demo-r1-0', 'demo-r2-1-s4', 'demo-r2-2-s4']) expect(carriersOf(id)).toEqual([]);

    await stop();
  }, 90_000);

  it('deploy-backend: a replica kill -9ed under continuous requests: no request fails, and it is restarted back into the proxy', async () => {
    const { base, deploy, stop } = await backend('crash');
    expect(await deploy({ version: 'v1', replicas: 2 })).toMatchObject({ state: 'succeeded' });
    const load = requestLoops(`${base}/apps/crash/`);
    const by = (id: string, pid: number) => load.servedBy[`${id} ${pid}`] ?? 0;
    try {
      const [r0, r1] = await Promise.all([t.client.get('crash-r1-0'), t.client.get('crash-r1-1')]);
      await until(() => by(r0.id, r0.pid!) >= 20 && by(r1.id, r1.pid!) >= 20, 10_000, 'requests answered by both replicas');
      process.kill(r1.pid!, 'SIGKILL');
      // on-failure: the same record runs again, as another process, and serves through the proxy again.
      const again = await until(
        async () => {
          const r = await t.client.get(r1.id);
          return r.state === 'running' && r.pid !== r1.pid && r.restarts >= 1 ? r : null;
        },
        20_000,
        `${r1.id} restarted`,
      );
      await until(() => by(again.id, again.pid!) >= 20, 10_000, 'requests answered by the restarted replica');
      const sinceKill = by(r0.id, r0.pid!);
      await until(() => by(r0.id, r0.pid!) >= sinceKill + 20, 10_000, 'the other replica still answering');
    } finally {
      await load.stop();
    }
    if (process.env.REAPQ_EXAMPLE_COUNTS)
      console.log('replica kill requests', JSON.stringify(load.servedBy), 'failed', load.failures.length);
    expect(load.failures).toEqual([]);
    expect((await t.client.service('crash')).revisions[0]).toMatchObject({ desired: 2, ready: 2 });
    await stop();
    for (const id of ['crash-r1-0', 'crash-r1-1']) expect(carriersOf(id)).toEqual([]);
  }, 90_000);
});
