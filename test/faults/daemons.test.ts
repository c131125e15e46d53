import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/local-redis.js';
import { InputError, ReapqClient, type ProcessRecord } from '../../src/index.js';
import { buildServer } from '../../src/producer/http/server.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { cgroupSupport } from '../helpers/cgroups.js';
import { onCleanup, tempDir } from '../helpers/cleanup.js';
import { useClient } from '../helpers/client.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { cli, startWorker, testEnv, until } from '../helpers/workers.js';

// A real daemonizing server: redis-server --daemonize yes forks, calls setsid, exits 0 in
// the parent and writes its pid file from the child; it also writes its process title
// over its argv and environment, so no cookie can be read from it.
const support = cgroupSupport();
if (!support.ok) console.warn(`cgroup-mode daemon tests skipped: ${support.reason}`);

const { env, c } = useClient();
const types = async (id: string) => (await c.events(id)).map((e) => e.event.type);

/** The server's answer to PING on its port, or the connection error's code. */
function ping(port: number): Promise<string> {
  return new Promise((res) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    let got = '';
    s.on('data', (d) => {
      got += String(d);
      if (got.includes('\r\n')) {
        s.destroy();
        res(got.trim());
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => res(err.code ?? err.message));
    s.on('connect', () => s.write('PING\r\n'));
  });
}

const startTime = (pid: number) => proc.stat(pid)?.startTime ?? null;
const gone = (pid: number, started: number | null) => {
  const s = proc.stat(pid);
  return !s || s.state === 'Z' || s.startTime !== started;
};

/** A redis-server launched as a daemon on a free port; its pid file in a temp dir. Killed at the end if a test failed half-way. */
async function redisDaemon(): Promise<{ port: number; pidFile: string; command: string[] }> {
  const port = await freePort();
  const pidFile = join(tempDir('daemon'), 'redis.pid');
  onCleanup(() => {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
    } catch {
      // gone already: what the test proved
    }
  });
  const command = ['redis-server', '--daemonize', 'yes', '--port', String(port), '--bind', '127.0.0.1', '--pidfile', pidFile];
  return { port, pidFile, command: [...command, '--save', '', '--appendonly', 'no'] };
}

/** Stops it, and proves nothing of it is left: its main pid (by start time) and its port. */
async function stopAndProve(id: string, main: number, started: number | null, port: number): Promise<ProcessRecord> {
  const res = await cli(env, ['stop', id, '--wait', '--timeout-ms', '15000']);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  const done = await c.get(id);
  expect(done.state).toBe('stopped');
  expect(gone(main, started)).toBe(true);
  expect(await ping(port)).toBe('ECONNREFUSED');
  return done;
}

afterAll(async () => {
  for (const r of await c.list()) await c.stop(r.id, { graceMs: 200 }).catch(() => undefined);
});

describe.each([
  ['process', true, { pidFile: true }],
  ['cgroup', support.ok, { pidFile: false }],
] as const)('a daemon in %s mode', (mode, runs, o) => {
  it.runIf(runs)('runs, answers, is re-adopted after the worker is SIGKILLed, and stop --wait leaves nothing', async () => {
    const host = `h-daemon-${mode}`;
    let w = await startWorker(env, host, ['--containment', mode]);
    const d = await redisDaemon();
    // Limits hold in cgroup mode: its leaf's.
    const limits = mode === 'cgroup' ? ['--memory', '256M'] : [];
    const flags = ['--daemon', ...(o.pidFile ? ['--pid-file', d.pidFile] : []), '--ready-tcp', String(d.port), ...limits];
    const res = await cli(env, ['start', '--wait', '--json', '--timeout-ms', '20000', ...flags, '--', ...d.command]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const rec = JSON.parse(res.stdout) as ProcessRecord;
    expect(rec).toMatchObject({ state: 'running', daemon: true, pidFile: o.pidFile ? d.pidFile : null, containment: mode });
    if (mode === 'cgroup') expect(rec.limits?.memory).toBe(256 * 1024 ** 2);
    // The record follows the daemon, not its launcher (which exited 0): main pid = pid = the pid file's.
    const filed = Number(readFileSync(d.pidFile, 'utf8').trim());
    expect(rec.mainPid).toBe(filed);
    expect(rec.pid).toBe(filed);
    const started = startTime(filed);
    expect(proc.stat(filed)?.sid).toBe(filed); // it left the launcher's session
    expect(await ping(d.port)).toBe('+PONG');
    const spawned = (await c.events(rec.id)).find((e) => e.event.type === 'spawned')?.event;
    expect(spawned).toMatchObject({ daemon: { from: o.pidFile ? 'pid-file' : 'tree' } });

    await w.kill();
    expect(await ping(d.port)).toBe('+PONG');
    w = await startWorker(env, host, ['--containment', mode]);
    await until(async () => (await types(rec.id)).includes('adopted'), 10_000, 'the daemon re-adopted');
    expect((await c.get(rec.id)).state).toBe('running');

    const done = await stopAndProve(rec.id, filed, started, d.port);
    expect(done.endReason).toBe('stopped');
    expect(await w.stop()).toBe(0);
  });
});

describe('a daemon as a service', () => {
  it('is deployed, serves, and stop --service --wait leaves nothing', async () => {
    const w = await startWorker(env, 'h-daemon-deploy', ['--containment', 'process']);
    const d = await redisDaemon();
    const flags = ['--daemon', '--pid-file', d.pidFile, '--ready-tcp', String(d.port), '--timeout-ms', '20000'];
    const res = await cli(env, ['deploy', 'rd', ...flags, '--wait', '--', ...d.command]);
    expect(res.code).toBe(0);
    const [replica] = (await c.list()).filter((r) => r.service === 'rd');
    expect(replica).toMatchObject({ state: 'running', daemon: true, pidFile: d.pidFile, mainPid: Number(readFileSync(d.pidFile, 'utf8')) });
    expect(await ping(d.port)).toBe('+PONG');
    const main = replica!.mainPid!;
    const started = startTime(main);
    const stop = await cli(env, ['stop', '--service', 'rd', '--wait', '--timeout-ms', '20000']);
    expect(stop.code).toBe(0);
    expect((await c.get(replica!.id)).state).toBe('stopped');
    expect(gone(main, started)).toBe(true);
    expect(await ping(d.port)).toBe('ECONNREFUSED');
    expect(await w.stop()).toBe(0);
  });
});

describe('daemons that cannot be run', () => {
  it('process mode without a pid file is refused at the edge, and by the worker', async () => {
    // A prefix of its own, where no other host is alive: with none to ask, the edge lets the
    // first start through and the process-mode worker that takes it refuses it.
    const prefix = randomPrefix();
    const env = testEnv(testRedisUrl(), prefix);
    const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
    onCleanup(() => c.close());
    const early = await c.start({ command: ['redis-server', '--daemonize', 'yes'], daemon: true });
    const w = await startWorker(env, 'h-daemon-refuse', ['--containment', 'process']);
    const refused = await c.waitFor(early.id, 'failed', { timeoutMs: 10_000 });
    expect(refused).toMatchObject({
      pid: null,
      error: expect.stringMatching(/^daemon without pidFile: host h-daemon-refuse runs in process mode/),
    });
    const res = await cli(env, ['start', '--daemon', '--', 'redis-server', '--daemonize', 'yes']);
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /daemon without pidFile: host h-daemon-refuse runs in process mode \(.*\), where only a pid file can follow a daemon$/,
      ),
    ]);
    const app = buildServer(c);
    const http = await app.inject({ method: 'POST', url: '/v1/processes', payload: { command: ['true'], daemon: true } });
    await app.close();
    expect(http.statusCode).toBe(400);
    expect(http.json().error).toMatch(/^invalid start: daemon without pidFile: host h-daemon-refuse runs in process mode/);
    const before = (await c.list()).length;
    await expect(c.start({ command: ['true'], daemon: true })).rejects.toThrow(InputError);
    await expect(c.start({ command: ['true'], pidFile: '/tmp/x.pid' })).rejects.toThrow(/pidFile: needs daemon/);
    expect((await c.list()).length).toBe(before);
    expect(await w.stop()).toBe(0);
  });

  it('a launcher that exits non-zero fails the start with its code', async () => {
    const w = await startWorker(env, 'h-daemon-fails', ['--containment', 'process']);
    const pidFile = join(tempDir('daemon'), 'never.pid');
    const res = await cli(env, ['start', '--wait', '--daemon', '--pid-file', pidFile, '--', 'sh', '-c', 'echo no config >&2; exit 3']);
    expect(res.code).toBe(1);
    const [rec] = await c.list({ host: 'h-daemon-fails' });
    expect(rec).toMatchObject({ state: 'failed', error: 'its launcher exited with code 3 before the daemon was up', pid: null });
    expect(await w.stop()).toBe(0);
  });

  it('a daemon whose main process dies from outside ends exited, and on-failure starts it again', async () => {
    const w = await startWorker(env, 'h-daemon-dies', ['--containment', 'process']);
    const d = await redisDaemon();
    const rec = await c.start({
      command: d.command,
      daemon: true,
      pidFile: d.pidFile,
      restart: 'on-failure',
      ready: { kind: 'tcp', port: d.port },
    });
    const first = await c.waitFor(rec.id, 'running', { timeoutMs: 20_000 });
    process.kill(first.mainPid!, 'SIGKILL');
    await until(async () => (await types(rec.id)).includes('restart_scheduled'), 10_000, 'the death recorded and a restart scheduled');
    expect(await types(rec.id)).toContain('exited');
    const again = await until(
      async () => {
        const r = await c.get(rec.id);
        return r.state === 'running' && r.mainPid !== first.mainPid ? r : null;
      },
      20_000,
      'running again with a new main process',
    );
    expect(await ping(d.port)).toBe('+PONG');
    await stopAndProve(rec.id, again.mainPid!, startTime(again.mainPid!), d.port);
    expect(await w.stop()).toBe(0);
  });
});
