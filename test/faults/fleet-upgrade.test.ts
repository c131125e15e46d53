import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { containmentModes, v2Dir } from '../helpers/cgroups.js';
import { buildOlder } from '../helpers/older-release.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { alive, carriersOf, FIXTURES, ROOT, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

/**
 * An upgrade to fleet ids, for real: the release before them is built from this checkout's
 * git history. Its processes carry no fleet (nor does its cgroup subtree's name). The new
 * worker of the same host adopts and stops those its Redis holds records of (they are its
 * fleet's), and leaves alone, as `foreign`, one with the same prefix and host id that its
 * Redis holds no record of (another installation's, on that release too).
 */
const git = (...args: string[]) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });

function beforeFleetIds(): { commit: string } | { why: string } {
  if (git('rev-parse', '--git-dir').status !== 0) return { why: 'no git history to build the release before fleet ids from' };
  const found = git('log', '--format=%H', '-S', 'fleetId:', '--', 'src/shared/keys.ts');
  const first = found.stdout.trim().split('\n').at(-1);
  if (found.status !== 0 || !first) return { why: 'the commit that introduced fleet ids is not in this clone' };
  const parent = git('rev-parse', '--verify', '--quiet', `${first}^`);
  if (parent.status !== 0) return { why: `the parent of ${first.slice(0, 7)} is not in this clone (shallow?)` };
  return { commit: parent.stdout.trim() };
}

const older = beforeFleetIds();
const skipped = 'why' in older ? ` (skipped: ${older.why})` : '';
let oldBin = '';

beforeAll(async () => {
  if (!('commit' in older)) return;
  const dir = await buildOlder(older.commit);
  oldBin = join(dir, 'bin/reapq');
}, 240_000);

const modes = containmentModes();

/**
 * What another installation's process of a release before fleet ids looks like here: its
 * cookie names this prefix and host, no fleet, an id this Redis never held; init is its
 * parent (its worker is gone); in cgroup mode it sits in a leaf of `<prefix>@<host>`. (Two
 * such installations cannot be run side by side for real: that release's second worker
 * kills the first one's processes, which is what this change ends.)
 */
function theirs(prefix: string, host: string, leafDir: string | null): { id: string; pid: number } {
  const id = `p-${randomPrefix().slice(-12)}`;
  const env = { PATH: process.env.PATH, REAPQ_PROCESS_ID: id, REAPQ_OWNER: `${prefix}/${host}`, REAPQ_RUN_ID: 'r-old' };
  // The outer shell exits at once: the inner one (entered into the leaf, then exec'd into
  // sleep) goes to init, as the orphan of a dead worker does.
  const inner = `${leafDir ? `echo $$ > ${leafDir}/cgroup.procs && ` : ''}exec sleep 1001`;
  const out = spawnSync('sh', ['-c', `sh -c '${inner}' >/dev/null 2>&1 & echo $!`], { env, encoding: 'utf8' });
  return { id, pid: Number(out.stdout.trim()) };
}

describe.skipIf('why' in older)(`upgrade to fleet ids${skipped}`, () => {
  it.each(modes)(
    "$mode mode: the new worker adopts and stops its older release's processes, and leaves alone one it cannot show is its fleet's",
    async ({ mode, skip }) => {
      if (skip !== null) return console.log(`skipped: ${skip}`);
      const [prefix, host, args] = [randomPrefix(), `h-up-${mode}`, ['--containment', mode]];
      const env = testEnv(testRedisUrl(), prefix);
      const c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
      const workers: TestWorker[] = [];
      let stranger: { id: string; pid: number } | null = null;
      let strangerLeaf: string | null = null;
      try {
        const old = await startWorker(env, host, args, [], oldBin);
        workers.push(old);
        const mine: string[] = [];
        for (const command of [
          ['sleep', '1000'],
          ['sh', `${FIXTURES}/tree.sh`],
        ]) {
          const r = await c.start({ command, host });
          await c.waitFor(r.id, 'running', { timeoutMs: 15_000 });
          mine.push(r.id);
        }
        await until(() => carriersOf(mine[1]!).length >= 4, 10_000, 'the tree to be up');
        expect(await old.stop()).toBe(0); // a clean stop leaves its processes running
        const minePids = mine.flatMap(carriersOf).sort((x, y) => x - y);
        for (const pid of minePids) expect(proc.cookie(pid, 'REAPQ_FLEET')).toBeNull();
        if (mode === 'cgroup') {
          const cg = (await c.get(mine[0]!)).cgroup!;
          expect(cg).toMatch(new RegExp(`/${prefix}@${host}/${mine[0]}@`));
          strangerLeaf = join(dirname(v2Dir(cg)), 'p-stranger@r-old');
          mkdirSync(strangerLeaf);
        }
        stranger = theirs(prefix, host, strangerLeaf);
        await until(() => proc.stat(stranger!.pid)?.comm === 'sleep', 5000, 'the stranger');
        expect(carriersOf(stranger.id)).toEqual([stranger.pid]);

        // This release: its own are adopted, the stranger is foreign, pass after pass.
        const w = await startWorker(env, host, args);
        workers.push(w);
        for (const id of mine) await until(async () => (await c.events(id)).some((e) => e.event.type === 'adopted'), 10_000, 'adoption');
        const [report] = await c.admin.reconcile({ host });
        const foreign = report!.actions.filter((x) => x.kind === 'foreign');
        // Found by its cookie under init, and (cgroup mode) in its leaf of the older subtree.
        expect([...new Set(foreign.flatMap((x) => x.pids ?? []))]).toEqual([stranger.pid]);
        expect(foreign.map((x) => x.detail).join(' ')).toContain("no fleet (an older release's)");
        expect(alive([stranger.pid])).toEqual([stranger.pid]);
        expect(w.output()).not.toContain('leftover cgroup');

        // Stopped through this release (in cgroup mode by their leaf), the stranger left running.
        for (const id of mine) await c.stop(id, { graceMs: 500 });
        for (const id of mine) expect((await c.waitFor(id, 'stopped', { timeoutMs: 15_000 })).state).toBe('stopped');
        expect(alive(minePids)).toEqual([]);
        await c.admin.reconcile({ host });
        expect(alive([stranger.pid])).toEqual([stranger.pid]);
        if (mode === 'cgroup') expect(existsSync(strangerLeaf!)).toBe(true);
      } finally {
        for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) await w.stop();
        if (stranger) {
          try {
            process.kill(stranger.pid, 'SIGKILL');
          } catch {
            // gone
          }
          await until(() => alive([stranger!.pid]).length === 0, 5000, 'the stranger gone');
        }
        if (strangerLeaf) rmdirSync(strangerLeaf);
        await c.close();
      }
    },
    180_000,
  );
});
