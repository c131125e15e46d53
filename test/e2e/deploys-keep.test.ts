import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cleanup.js';
import { answer, httpReady, stopService } from '../helpers/services.js';
import { carriersOf, cli, until, useWorker } from '../helpers/workers.js';

const t = useWorker('h-keep');

/** A web app answering `version` on PORT; exits 3 at start while the file `crashFlag` exists. */
const app = (version: string, crashFlag = '/nonexistent') => [
  process.execPath,
  '-e',
  `if (require('node:fs').existsSync(${JSON.stringify(crashFlag)})) process.exit(3);
   require('node:http').createServer((q, s) => s.end('${version}')).listen(process.env.PORT)`,
];
const ready = httpReady(20_000);

describe('services keep serving', () => {
  it('a replica kill -9ed after its deploy succeeded comes back (on-failure by default)', async () => {
    const d = await t.client.waitForDeploy(
      (await t.client.deploy({ service: 'kept', command: app('k'), port: 'auto', ready, replicas: 2 })).id,
    );
    expect(d.state).toBe('succeeded');
    const before = await t.client.get('kept-r1-0');
    expect(before).toMatchObject({ state: 'running', restartPolicy: 'on-failure', restarts: 0 });
    process.kill(before.pid!, 'SIGKILL');
    const back = await until(
      async () => {
        const r = await t.client.get('kept-r1-0');
        return r.state === 'running' && r.restarts === 1 && r.pid !== before.pid && r;
      },
      15_000,
      'the killed replica running again',
    );
    expect(await answer(back.port)).toBe('k');
    expect(carriersOf('kept-r1-0')).toEqual([back.pid]);
    const svc = await t.client.service('kept');
    expect(svc).toMatchObject({ health: 'serving', reason: null });
    expect(svc.revisions).toEqual([expect.objectContaining({ revision: 1, role: 'active', desired: 2, ready: 2, failing: 0 })]);
    await stopService(t.client, 'kept');
    expect(carriersOf('kept-r1-0')).toEqual([]);
  });

  it('an explicit --restart never is kept; a crash loop marks the service degraded with the reason', async () => {
    const flag = join(tempDir('keep'), 'crash');
    const d = await t.client.waitForDeploy(
      (await t.client.deploy({ service: 'loop', command: app('l', flag), port: 'auto', ready, replicas: 2 })).id,
    );
    expect(d.state).toBe('succeeded');
    writeFileSync(flag, '');
    expect(existsSync(flag)).toBe(true);
    const victim = await t.client.get('loop-r1-1');
    process.kill(victim.pid!, 'SIGKILL');
    // 0 + 250 + 500 + 1000 + 2000 ms of backoff, then the worker gives up.
    const failed = await until(
      async () => {
        const r = await t.client.get('loop-r1-1');
        return r.state === 'failed' && r;
      },
      20_000,
      'the crash loop given up',
    );
    expect(failed.error).toMatch(/crash loop/);
    const svc = await t.client.service('loop');
    expect(svc.health).toBe('degraded');
    expect(svc.reason).toMatch(/^loop-r1-1 failed: crash loop/);
    expect(svc.revisions).toEqual([expect.objectContaining({ revision: 1, desired: 2, ready: 1, failing: 1 })]);
    const table = await cli(t.env, ['services']);
    expect(table.stdout).toMatch(/^loop\s+r1\s+.*1\/2 \(1 failing\)\s+degraded\s+d-/m);
    expect(table.stdout).toMatch(/^loop degraded: loop-r1-1 failed: crash loop/m);
    const one = await cli(t.env, ['service', 'loop']);
    expect(one.stdout).toMatch(/^r1 active: 2 desired, 1 ready, 0 starting, 1 failing \(loop-r1-1 failed: crash loop/m);
    await stopService(t.client, 'loop');

    const n = await t.client.waitForDeploy(
      (await t.client.deploy({ service: 'never', command: app('n'), port: 'auto', ready, restart: 'never' })).id,
    );
    expect(n.state).toBe('succeeded');
    const p = await t.client.get('never-r1-0');
    expect(p.restartPolicy).toBe('never');
    process.kill(p.pid!, 'SIGKILL');
    await until(async () => (await t.client.get('never-r1-0')).state === 'exited', 10_000, 'the replica exited');
    expect(await t.client.service('never')).toMatchObject({
      health: 'degraded',
      reason: expect.stringMatching(/^never-r1-0 exited: signal SIGKILL/),
    });
    await stopService(t.client, 'never');
  });
});
