import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { freePort } from '../../src/dev/local-redis.js';
import type { ProcessRecord } from '../../src/shared/record.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { onCleanup, tempDir } from '../helpers/cleanup.js';
import { alive, cli, FIXTURES, parentOf, until, useWorker } from '../helpers/workers.js';

/**
 * Programs that daemonize by default (fork, setsid, and a title written over their argv and
 * environment, so no cookie is left to read), run in process mode without any daemon flag.
 * The daemon is re-parented to the worker, its subreaper: it must be tied to its run and
 * stopped with it, or killed once the leader's exit left it behind, never left running
 * after the record ended. The leak check finds processes by their cookie, which these
 * have lost: each test proves for itself that what it started is gone.
 */

const ENDED = ['exited', 'stopped', 'failed', 'lost'] as const;
const argv = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
};
/** A port nothing listens on (a listen succeeds). */
const portFree = (port: number) =>
  new Promise<boolean>((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
/** Kills, at the end of the test, whatever process matching `what` is still alive: a failed test leaves nothing either. */
const killAtEnd = (what: () => number[]) =>
  onCleanup(() => {
    for (const pid of what()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  });
/** Live processes whose command line is exactly `cmd`: the daemons are unique by their arguments. */
const byArgv = (cmd: string) =>
  proc
    .list()
    .filter((s) => s.state !== 'Z' && argv(s.pid) === cmd)
    .map((s) => s.pid);
/** The daemon, or the forked shell that is about to exec it (its argv is still the shell's, ending in the daemon's seconds). */
const daemonOrShell = (cmd: string) =>
  proc
    .list()
    .filter((s) => s.state !== 'Z' && (argv(s.pid) === cmd || argv(s.pid).endsWith(` sh ${cmd.slice(6)}`)))
    .map((s) => s.pid);
/** The pids named by the record's drift events. */
async function driftPids(c: ReapqClient, rec: ProcessRecord): Promise<number[]> {
  return (await c.events(rec.id)).flatMap((e) => (e.event.type === 'drift' ? e.event.pids : []));
}

let seconds = 200_000 + (process.pid % 50_000) * 4;

describe('process mode: programs that daemonize by default', () => {
  const f = useWorker('h-daemons', {}, ['--containment', 'process']);
  /** The fixture daemon under a command line of its own, killed at the end of the test if it is still alive. */
  const startDaemon = (extraEnv: Record<string, string>) => {
    const cmd = `sleep ${(seconds += 1)}`;
    killAtEnd(() => daemonOrShell(cmd));
    const started = f.client.start({ command: [join(FIXTURES, 'daemonizes.sh')], env: { DAEMON_SECONDS: cmd.slice(6), ...extraEnv } });
    return { cmd, started };
  };

  it('redis-server --daemonize yes: the daemon its leader left is named on the record and gone when it ends; its port is free', async () => {
    const port = await freePort();
    const dir = tempDir('daemons');
    const pidFile = join(dir, 'redis.pid');
    const daemonPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : null);
    killAtEnd(() => {
      const pid = daemonPid();
      return pid !== null && alive([pid]).length > 0 && argv(pid).includes(`:${port}`) ? [pid] : [];
    });
    const command = ['redis-server', '--daemonize', 'yes', '--port', String(port), '--bind', '127.0.0.1'];
    command.push('--save', '', '--appendonly', 'no', '--dir', dir, '--pidfile', pidFile);
    const rec = await f.client.start({ command });
    const ended = await f.client.waitFor(rec.id, [...ENDED], { timeoutMs: 15_000 });
    expect(ended.containment).toBe('process');
    // The daemon was tied to the run: named on the record (it forked before its leader exited, so there is one).
    const named = await driftPids(f.client, rec);
    expect(named.length, `${ended.state}: no drift names the daemon`).toBeGreaterThan(0);
    // The record ended: an end is written only once the tree is verified gone, the daemon with it.
    expect(alive(named)).toEqual([]);
    // The daemon's own word, where it got as far as writing its pid file: the same process, gone.
    const pid = daemonPid();
    if (pid !== null) expect(named).toContain(pid);
    expect(await portFree(port)).toBe(true);
  });

  it.each([
    { name: 'with its environment', clearEnv: false },
    { name: 'under env -i (no cookie)', clearEnv: true },
  ])('a double-forked setsid daemon $name: stop --wait leaves nothing of the tree', async ({ clearEnv }) => {
    const { cmd, started } = startDaemon(clearEnv ? { CLEAR_ENV: '1' } : {});
    const rec = await started;
    const running = await f.client.waitFor(rec.id, 'running');
    const leader = running.pid!;
    const daemon = await until(() => byArgv(cmd)[0], 5000, `the daemon (${cmd})`);
    // Preconditions: re-parented to the worker, in a session of no run, cookie as asked.
    await until(() => parentOf(daemon) === f.worker.child.pid, 5000, 'the daemon re-parented to the worker');
    expect(proc.stat(daemon)!.sid).not.toBe(running.sid);
    expect(proc.cookie(daemon, 'REAPQ_PROCESS_ID')).toBe(clearEnv ? null : rec.id);
    const stop = await cli(f.env, ['stop', rec.id, '--wait']);
    expect(stop.code, stop.stderr).toBe(0);
    // stop --wait returned: the record says stopped, so nothing of it may be alive now.
    expect(alive([leader, daemon])).toEqual([]);
    const stopped = await f.client.get(rec.id);
    expect(stopped?.state).toBe('stopped');
  });

  it('a daemon under env -i whose leader exits 0: named on the record and killed before it says exited', async () => {
    const { cmd, started } = startDaemon({ CLEAR_ENV: '1', LEADER_EXITS: '1' });
    const rec = await started;
    const ended = await f.client.waitFor(rec.id, [...ENDED], { timeoutMs: 15_000 });
    expect(ended.state).toBe('exited');
    const named = await driftPids(f.client, rec);
    expect(named.length, `${ended.state}: no drift names the daemon`).toBeGreaterThan(0);
    expect(alive(named)).toEqual([]);
    expect(daemonOrShell(cmd)).toEqual([]);
  });
});
