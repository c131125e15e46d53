import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useClient } from '../helpers/client.js';
import { tempDir } from '../helpers/cleanup.js';
import { BIN, carriersOf, cli, FIXTURES, startWorker, until } from '../helpers/workers.js';

const { env, c } = useClient();

const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('reapq startup systemd', () => {
  it.skipIf(!analyze)('writes a worker and an api unit that systemd-analyze verify accepts', async () => {
    const dir = tempDir('units');
    const envFile = join(dir, 'etc', 'reapq.env');
    const r = await cli(env, ['startup', 'systemd', '--dir', dir, '--environment-file', envFile]);
    expect(r.code, r.stderr).toBe(0);
    const worker = readFileSync(join(dir, 'reapq-worker.service'), 'utf8');
    const api = readFileSync(join(dir, 'reapq-api.service'), 'utf8');
    // The units start this very install with this node.
    expect(worker).toContain(`ExecStart=${process.execPath} ${realpathSync(BIN)} worker\n`);
    expect(api).toContain(`ExecStart=${process.execPath} ${realpathSync(BIN)} api --listen 127.0.0.1:8080\n`);
    for (const line of [
      'Delegate=yes',
      'KillMode=process',
      'KillSignal=SIGUSR2',
      'RestartKillSignal=SIGTERM',
      'Restart=always',
      `EnvironmentFile=${envFile}`,
    ])
      expect(worker).toContain(`\n${line}\n`);
    expect(api).toContain('\nRestart=always\n');
    // Made once, 0600 (a token or a Redis password goes there), never overwritten.
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(envFile, 'utf8')).toMatch(/^REDIS_URL=/m);
    const v = spawnSync('systemd-analyze', ['verify', join(dir, 'reapq-worker.service'), join(dir, 'reapq-api.service')], {
      encoding: 'utf8',
    });
    // verify exits 0 on a misspelt key too, with a warning: any word about our files fails.
    expect(v.stderr.split('\n').filter((l) => l.includes(dir))).toEqual([]);
    expect(v.status, v.stderr).toBe(0);

    const printed = await cli(env, ['startup', 'systemd']);
    expect(printed.stdout).toContain('# ---- reapq-worker.service\n');
    expect(printed.stdout).toContain(worker.replace(`EnvironmentFile=${envFile}`, 'EnvironmentFile=/etc/reapq/reapq.env'));
    const bad = await cli(env, ['startup', 'upstart']);
    expect([bad.code, bad.stderr.trim()]).toEqual([2, 'reapq: startup: "upstart" is not supported (systemd is)']);
  });

  it("a host stop (the unit's KillSignal, SIGUSR2) stops every tree; the next worker restarts what its policy says", async () => {
    const w1 = await startWorker(env, 'h-boot');
    const always = await c.start({ command: [join(FIXTURES, 'tree.sh')], restart: 'always' });
    const once = await c.start({ command: [join(FIXTURES, 'tree.sh')], restart: 'never' });
    const before = await c.waitFor(always.id, 'running');
    await c.waitFor(once.id, 'running');
    await until(() => carriersOf(always.id).length >= 4 && carriersOf(once.id).length >= 4, 5000, 'trees up');
    w1.child.kill('SIGUSR2');
    const code = await new Promise<number | null>((res) => w1.child.once('exit', res));
    expect(code, w1.output()).toBe(0);
    expect(w1.output()).toContain('host stop: every process of this host is gone');
    // Gone while no worker runs: nothing of either tree outlives the stop.
    expect([...carriersOf(always.id), ...carriersOf(once.id)]).toEqual([]);

    const w2 = await startWorker(env, 'h-boot');
    const again = await until(
      async () => {
        const r = await c.get(always.id);
        return r?.state === 'running' && r.pid !== before.pid ? r : null;
      },
      15_000,
      'the restart-always process running again',
    );
    expect(again.restarts).toBeGreaterThanOrEqual(1);
    const ended = await c.waitFor(once.id, ['exited', 'lost'], { timeoutMs: 10_000 });
    expect(ended.desired).toBe('running');
    await c.stop(always.id, { graceMs: 1000 });
    await c.waitFor(always.id, 'stopped', { timeoutMs: 10_000 });
    expect(await w2.stop()).toBe(0);
  });
});
