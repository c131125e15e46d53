import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalRedis } from '../../src/dev/local-redis.js';
import { ReapqClient } from '../../src/index.js';
import { FINAL_STATES } from '../../src/shared/record.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { onCleanup, tempDir } from '../helpers/cleanup.js';
import { randomPrefix } from '../helpers/redis.js';
import { alive, carriersOf, cli, FIXTURES, ROOT, until, userEnv } from '../helpers/workers.js';

/**
 * `npm start` as a terminal runs it: its own local Redis, trees running, and then what a
 * terminal does to its foreground process group (Ctrl-C, closing the window). Everything
 * it started must be gone afterwards and every record final, read back from its Redis data.
 */

const devFile = (dir: string): { pid: number; apiUrl?: string } | null => {
  try {
    return JSON.parse(readFileSync(join(dir, 'dev.json'), 'utf8')) as { pid: number; apiUrl?: string };
  } catch {
    return null;
  }
};

/** Every process under pid, each before its own children. */
const descendants = (pid: number): number[] => proc.children(pid).flatMap((k) => [k, ...descendants(k)]);
const comm = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

interface Dev {
  /** What the test spawned: npm as a group leader, or `script` holding the pty. */
  child: ChildProcess;
  env: NodeJS.ProcessEnv;
  dataDir: string;
  output: () => string;
  /** npm, sh, the dev, its Redis: everything under the child when the dev was up. */
  pids: number[];
  devPid: number;
  redisPid: number;
}

/**
 * `npm start` with its own Redis. 'group': npm leads a process group of its own, as a
 * shell's foreground job does. 'pty': under script(1), so the dev's stderr is a real
 * terminal and ^C written to it goes through the terminal's line discipline.
 */
function spawnDev(how: 'group' | 'pty', hostId: string) {
  const dataDir = tempDir('devterm');
  const env = userEnv({ REAPQ_DATA_DIR: dataDir, REAPQ_PREFIX: randomPrefix(), REAPQ_HOST_ID: hostId });
  const npm = ['npm', 'start', '--', '--listen', '127.0.0.1:0'];
  const child =
    how === 'group'
      ? spawn(npm[0]!, npm.slice(1), { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('script', ['-qfec', npm.join(' '), '/dev/null'], { cwd: ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  // If the test fails, nothing it started may outlive it: its tree, and whatever names its data dir (its Redis).
  onCleanup(() => {
    for (const p of alive([child.pid!, ...descendants(child.pid!), ...namingDir(dataDir)])) process.kill(p, 'SIGKILL');
  });
  return { child, env, dataDir, output: () => out };
}

/**
 * Live processes working in dir or naming it in their command line. A dev's redis-server
 * runs with --dir <data dir>/redis and rewrites its command line: its cwd still shows it.
 */
function namingDir(dir: string): number[] {
  const pids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
  const names = (p: number): boolean => {
    try {
      if (readlinkSync(`/proc/${p}/cwd`).startsWith(dir)) return true;
      return readFileSync(`/proc/${p}/cmdline`, 'utf8')
        .split('\0')
        .some((a) => a.startsWith(dir));
    } catch {
      return false;
    }
  };
  return alive(pids.filter(names));
}

async function startDev(how: 'group' | 'pty', hostId: string): Promise<Dev> {
  const { child, env, dataDir, output } = spawnDev(how, hostId);
  const info = await until(() => (devFile(dataDir)?.apiUrl ? devFile(dataDir) : null), 30_000, 'dev up').catch((err: Error) => {
    throw new Error(`${err.message}:\n${output()}`);
  });
  const pids = descendants(child.pid!);
  const redisPid = pids.find((p) => comm(p) === 'redis-server');
  expect(redisPid, 'the dev runs its own redis-server').toBeDefined();
  return { child, env, dataDir, output, pids, devPid: info.pid, redisPid: redisPid! };
}

async function startTrees(dev: Dev, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await cli(dev.env, ['start', '--wait', '--', 'sh', join(FIXTURES, 'tree.sh')]);
    expect(r.code, r.stderr).toBe(0);
    ids.push(r.stdout.trim());
  }
  // Each tree is a leader, a child and a grandchild before the terminal does anything.
  await until(() => ids.every((id) => carriersOf(id).length >= 3), 10_000, 'trees up');
  return ids;
}

/** Nothing of the dev or its trees is left; then the records, read from its Redis data, are final. */
async function expectAllGoneAndFinal(dev: Dev, ids: string[]): Promise<void> {
  const left = () => ({
    pids: alive([dev.child.pid!, ...dev.pids]).map((p) => `${p} ${comm(p)}`),
    treeProcesses: ids.map((id) => carriersOf(id).length),
  });
  await until(
    () => left().pids.length === 0 && left().treeProcesses.every((n) => n === 0),
    30_000,
    'the dev, its Redis and every tree gone',
  ).catch((err: Error) => {
    throw new Error(`${err.message}; left: ${JSON.stringify(left())}\n${dev.output()}`);
  });
  expect(devFile(dev.dataDir), 'dev.json released').toBeNull();
  const redis = await startLocalRedis({ dataDir: join(dev.dataDir, 'redis') });
  onCleanup(() => redis.stop());
  const c = new ReapqClient({ redisUrl: redis.url, prefix: dev.env.REAPQ_PREFIX!, env: {} });
  try {
    const records = await c.list();
    expect(records.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const r of records) expect(FINAL_STATES.has(r.state), `${r.id} is ${r.state}`).toBe(true);
  } finally {
    await c.close();
  }
  expect(dev.output()).not.toContain('could not stop every process');
}

const ended = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;

/**
 * Polls fast: the moments worth hitting last a few hundred milliseconds of start-up.
 * Resolves with what `probe` found, or throws once `npm start` has ended without it.
 */
async function whenSeen<T>(dev: ReturnType<typeof spawnDev>, what: string, probe: () => T | null | undefined | false): Promise<T> {
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 5))) {
    const v = probe();
    if (v) return v;
    if (ended(dev.child)) break;
  }
  throw new Error(`never saw ${what}:\n${dev.output()}`);
}

/** A Ctrl-C during start-up: the dev, its Redis and all it started gone, its data dir released. */
async function expectNothingLeft(dev: ReturnType<typeof spawnDev>, seen: number[]): Promise<void> {
  const left = () => [...new Set([...alive(seen), ...namingDir(dev.dataDir)])].map((p) => `${p} ${comm(p)}`);
  await until(() => left().length === 0 && ended(dev.child), 30_000, 'the dev and its Redis gone').catch((err: Error) => {
    throw new Error(`${err.message}; left: ${left().join(', ')}\n${dev.output()}`);
  });
  expect(devFile(dev.dataDir), 'dev.json released').toBeNull();
}

describe('npm start and its terminal', () => {
  it('SIGINT to its whole process group as soon as it holds its data dir: nothing left, the data dir released', async () => {
    const dev = spawnDev('group', 'h-devterm-claim');
    await whenSeen(dev, 'dev.json', () => existsSync(join(dev.dataDir, 'dev.json')));
    const seen = descendants(dev.child.pid!);
    process.kill(-dev.child.pid!, 'SIGINT');
    await expectNothingLeft(dev, seen);
  }, 60_000);

  it.each(['SIGINT', 'SIGHUP'] as const)(
    '%s to its whole process group while its Redis starts: the Redis stopped, nothing left',
    async (signal) => {
      const dev = spawnDev('group', `h-devterm-redis-${signal.toLowerCase()}`);
      const redisPid = await whenSeen(dev, 'its redis-server', () => descendants(dev.child.pid!).find((p) => comm(p) === 'redis-server'));
      const seen = [...descendants(dev.child.pid!), redisPid];
      expect(devFile(dev.dataDir)?.apiUrl, 'still starting: no api yet').toBeUndefined();
      process.kill(-dev.child.pid!, signal);
      await expectNothingLeft(dev, seen);
      expect(dev.output()).toContain('reapq dev shutting down');
    },
    60_000,
  );

  it('SIGINT to its whole process group (Ctrl-C): every tree stopped first, then Redis; nothing left, every record final', async () => {
    const dev = await startDev('group', 'h-devterm-int');
    const ids = await startTrees(dev, 3);
    process.kill(-dev.child.pid!, 'SIGINT');
    await expectAllGoneAndFinal(dev, ids);
  }, 90_000);

  it('SIGHUP to its whole process group (the terminal closed): nothing left, every record final', async () => {
    const dev = await startDev('group', 'h-devterm-hup');
    const ids = await startTrees(dev, 3);
    process.kill(-dev.child.pid!, 'SIGHUP');
    await expectAllGoneAndFinal(dev, ids);
  }, 90_000);

  it('^C typed into a real terminal: nothing left, every record final', async () => {
    const dev = await startDev('pty', 'h-devterm-pty');
    const ids = await startTrees(dev, 3);
    dev.child.stdin!.write('\x03');
    await expectAllGoneAndFinal(dev, ids);
    // What the terminal showed: npm's header, the banner, and one line per log entry.
    const shown = dev.output().replace(/\x1b\[[0-9;]*m/g, '');
    const spilled = shown.split(/\r?\n/).filter((l) => /^\s/.test(l) && !l.startsWith('  npx reapq '));
    expect(spilled, 'lines of an entry spread over several').toEqual([]);
    expect(shown).toContain(`data in ${join(dev.dataDir, 'redis')}`);
  }, 90_000);

  it('the terminal window closed (the pty hung up): nothing left, every record final', async () => {
    const dev = await startDev('pty', 'h-devterm-close');
    const ids = await startTrees(dev, 3);
    // script(1) holds the pty's master side: its death is the window closing.
    dev.child.kill('SIGKILL');
    await expectAllGoneAndFinal(dev, ids);
  }, 90_000);
});
