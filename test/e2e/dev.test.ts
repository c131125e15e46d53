import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/local-redis.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { onCleanup } from '../helpers/cleanup.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { alive, BIN, carriersOf, cli, ROOT, until, userEnv } from '../helpers/workers.js';
import { tempDir } from '../helpers/cleanup.js';

function track(c: ChildProcess): { output: () => string } {
  let out = '';
  c.stdout?.on('data', (d) => (out += d));
  c.stderr?.on('data', (d) => (out += d));
  onCleanup(() => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  return { output: () => out };
}

interface DevFile {
  pid: number;
  redisUrl?: string;
  apiUrl?: string;
}
const devFile = (dir: string): DevFile | null => {
  try {
    return JSON.parse(readFileSync(join(dir, 'dev.json'), 'utf8')) as DevFile;
  } catch {
    return null;
  }
};
const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

describe('reapq dev', () => {
  it('under npm start: the CLI finds it without REDIS_URL, a second dev refuses, and killing npm by pid leaves nothing', async () => {
    const dataDir = tempDir('dev');
    const env = userEnv({ REAPQ_DATA_DIR: dataDir, REAPQ_PREFIX: randomPrefix(), REAPQ_HOST_ID: 'h-dev-npm' });
    const npm = spawn('npm', ['start', '--', '--listen', '127.0.0.1:0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const npmOut = track(npm);
    const info = await until(() => (devFile(dataDir)?.apiUrl ? devFile(dataDir) : null), 20_000, `dev up:\n${npmOut.output()}`);
    await until(() => npmOut.output().includes('"msg":"worker ready"'), 10_000, 'JSON logs (stderr is not a TTY)');
    const redisPid = proc.children(info.pid).find((p) => comm(p) === 'redis-server');
    // If this test fails, what npm started must not outlive it either.
    onCleanup(() => {
      for (const p of alive([info.pid, redisPid ?? 0].filter((x) => x > 0))) process.kill(p, 'SIGKILL');
    });
    expect(redisPid, 'dev runs its own redis-server').toBeDefined();
    const shPid = proc.children(npm.pid!)[0]!;

    // No REDIS_URL: the CLI uses the dev instance of this data dir, not 127.0.0.1:6379.
    const started = await cli(env, ['start', '--wait', '--', 'sleep', '1000']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    const ls = await cli(env, ['ls']);
    expect(ls.stdout).toContain(id);
    expect(carriersOf(id)).toHaveLength(1);

    const second = await cli(env, ['dev', '--listen', '127.0.0.1:0']);
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toContain(`dev already runs on ${dataDir} (pid ${info.pid}`);

    npm.kill('SIGKILL');
    await until(() => alive([info.pid, redisPid!, shPid]).length === 0, 30_000, 'dev, its Redis and sh gone');
    expect(carriersOf(id)).toEqual([]);
    expect(devFile(dataDir)).toBeNull();
  }, 90_000);

  it('with --keep, Ctrl-C leaves the processes it started running, and says so', async () => {
    const dataDir = tempDir('dev');
    const env = userEnv({ REDIS_URL: testRedisUrl(), REAPQ_DATA_DIR: dataDir, REAPQ_PREFIX: randomPrefix(), REAPQ_HOST_ID: 'h-dev-keep' });
    const dev = spawn(process.execPath, [BIN, 'dev', '--keep', '--listen', '127.0.0.1:0'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = track(dev);
    await until(() => devFile(dataDir)?.apiUrl, 20_000, 'dev up');
    // The banner follows the instance file (a loaded run read the file before it came).
    await until(() => out.output().includes('--keep: the processes keep running'), 10_000, 'the --keep banner');
    const started = await cli(env, ['start', '--wait', '--json', '--', 'sleep', '1000']);
    expect(started.code, started.stderr).toBe(0);
    const rec = JSON.parse(started.stdout) as { id: string; pgid: number };
    dev.kill('SIGINT');
    const code = await new Promise((res) => dev.once('exit', res));
    expect(code).toBe(0);
    expect(carriersOf(rec.id)).toHaveLength(1);
    process.kill(-rec.pgid, 'SIGKILL');
    await until(() => carriersOf(rec.id).length === 0, 5000, 'kept process killed');
  }, 60_000);

  it('names the Redis it could not reach, without its password, and what to set', async () => {
    const port = await freePort(); // closed again: nothing listens there
    const r = await cli(userEnv({ REDIS_URL: `redis://:hunter2hunter2@127.0.0.1:${port}` }), ['ls']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`cannot reach Redis at redis://:***@127.0.0.1:${port} (REDIS_URL)`);
    expect(r.stderr).toContain('set REDIS_URL');
    expect(r.stderr).not.toContain('hunter2');
  });
});
