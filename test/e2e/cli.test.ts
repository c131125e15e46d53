import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, cli, FIXTURES, startWorker, testEnv, type TestWorker } from '../helpers/workers.js';

const prefix = randomPrefix();
const env = testEnv(testRedisUrl(), prefix);
let w: TestWorker;
beforeAll(async () => {
  w = await startWorker(env, 'h-cli');
});
afterAll(async () => {
  expect(await w.stop()).toBe(0);
});

describe('reapq CLI', () => {
  it('starts npm run start with --wait, stops it whole with --wait, and shows it stopped', async () => {
    const start = await cli(
      env,
      ['start', '--wait', '--port', 'auto', '--id', 'app-1', '--', 'npm', 'run', 'start'],
      join(FIXTURES, 'app'),
    );
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    expect(start.stdout.trim()).toBe('app-1');
    const shown = JSON.parse((await cli(env, ['show', 'app-1', '--json'])).stdout);
    expect(shown.state).toBe('running');
    expect(shown.cwd).toBe(join(FIXTURES, 'app'));

    const again = await cli(env, ['start', '--id', 'app-1', '--json', '--', 'npm', 'run', 'start']);
    expect(JSON.parse(again.stdout).pid).toBe(shown.pid); // idempotent: still one process

    const stop = await cli(env, ['stop', 'app-1', '--wait']);
    expect(stop.code).toBe(0);
    expect(stop.stdout.trim()).toBe('app-1 stopped');
    expect(carriersOf('app-1')).toEqual([]);
    const after = JSON.parse((await cli(env, ['show', 'app-1', '--json'])).stdout);
    expect(after.state).toBe('stopped');
    for (const k of [
      'id',
      'name',
      'state',
      'desired',
      'host',
      'pid',
      'pgid',
      'command',
      'cwd',
      'port',
      'restartPolicy',
      'restarts',
      'exitCode',
      'signal',
      'error',
      'createdAt',
      'updatedAt',
      'version',
    ]) {
      expect(after).toHaveProperty(k);
    }
    const events = (await cli(env, ['events', 'app-1'])).stdout;
    expect(events).toMatch(/start_requested[\s\S]*spawned[\s\S]*stop_requested[\s\S]*signal_sent[\s\S]*stopped/);
    const ls = await cli(env, ['ls', '--state', 'stopped']);
    expect(ls.stdout).toMatch(/^ID\s+NAME\s+STATE/);
    expect(ls.stdout).toContain('app-1');
  });

  it('exits 1 with the record when --wait sees the start fail', async () => {
    const r = await cli(env, ['start', '--wait', '--json', '--', '/nonexistent/binary']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).state).toBe('failed');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/command not found/);
  });

  it('exits 2 with one line on bad input', async () => {
    for (const args of [
      ['start', '--grace-ms', '-1', '--', 'sleep', '1'],
      ['start', '--port', 'banana', '--', 'sleep', '1'],
      ['start', '--restart', 'sometimes', '--', 'sleep', '1'],
      ['start', '--env', 'NOEQUALS', '--', 'sleep', '1'],
      ['stop', 'x', '--signal', 'SIGNOPE'],
      ['stop'],
      ['ls', '--state', 'sleepy'],
      ['frobnicate'],
    ]) {
      const r = await cli(env, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    const bad = await cli({ ...env, REAPQ_PREFIX: 'has{brace}' }, ['ls']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('REAPQ_PREFIX="has{brace}"');
  });

  it('exits 1 for an unknown id', async () => {
    const r = await cli(env, ['show', 'nobody']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no process with id nobody');
  });

  it('runs a reconcile pass on demand and reports it', async () => {
    const r = await cli(env, ['reconcile', '--host', 'h-cli', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.host).toBe('h-cli');
    expect(report.processes).toBeGreaterThan(0);
    const hosts = JSON.parse((await cli(env, ['hosts', '--json'])).stdout);
    expect(hosts.map((h: { hostId: string; alive: boolean }) => [h.hostId, h.alive])).toEqual([['h-cli', true]]);
  });
});
