import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { startLocalRedis, type LocalRedis } from '../../src/dev/local-redis.js';
import { FINAL_STATES } from '../../src/shared/record.js';
import { linuxProcessTable as proc } from '../../src/worker/proc/table.js';
import { containmentModes } from '../helpers/cgroups.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { alive, carriersOf, FIXTURES, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';

/**
 * Two installations on one machine with the same prefix and host id (what two installs
 * with the defaults `reapq` and the hostname have) on two Redis servers. Each fleet has its
 * own id (in Redis, in every process's cookie and in its cgroup subtree's name): neither
 * touches the other's processes. What one finds of the other's carrying its host id (the
 * other's worker died and init inherited them) it reports as drift `foreign` and leaves alone.
 */

const HOST = 'h-twin';
let other: LocalRedis;

beforeAll(async () => {
  other = await startLocalRedis({});
});
afterAll(async () => {
  await other.stop();
});

interface Side {
  env: NodeJS.ProcessEnv;
  client: ReapqClient;
  worker: TestWorker | null;
}

function side(redisUrl: string, prefix: string): Side {
  return { env: testEnv(redisUrl, prefix), client: new ReapqClient({ redisUrl, prefix, env: {} }), worker: null };
}

/** Two processes of one side: a plain sleep and a tree (npm-like sh -> children). */
async function run(s: Side): Promise<{ ids: string[]; pids: number[] }> {
  const a = await s.client.start({ command: ['sleep', '1000'], host: HOST });
  const b = await s.client.start({ command: ['sh', `${FIXTURES}/tree.sh`], host: HOST });
  for (const r of [a, b]) await s.client.waitFor(r.id, 'running', { timeoutMs: 15_000 });
  // The tree's children are up when the fixture's leaves carry its cookie.
  await until(() => carriersOf(b.id).length >= 4, 10_000, 'the tree to be up');
  const ids = [a.id, b.id];
  return { ids, pids: ids.flatMap(carriersOf).sort((x, y) => x - y) };
}

const fleetOf = (pid: number) => proc.cookie(pid, 'REAPQ_FLEET');

async function stopAll(s: Side): Promise<void> {
  for (const r of await s.client.list()) if (!FINAL_STATES.has(r.state)) await s.client.stop(r.id, { graceMs: 500 });
  for (const r of await s.client.list()) await s.client.waitFor(r.id, ['stopped', 'exited', 'failed', 'lost'], { timeoutMs: 15_000 });
}

const modes = containmentModes();

describe.each(modes)('two installations, one prefix and host id, two Redis servers ($mode mode)', ({ mode, skip }) => {
  it.skipIf(skip !== null)(
    `neither touches the other's processes; what one finds of the other's is foreign, left alone${skip ? ` (skipped: ${skip})` : ''}`,
    { timeout: 90_000 },
    async () => {
      const prefix = randomPrefix();
      const a = side(testRedisUrl(), prefix);
      const b = side(other.url, prefix);
      const args = ['--containment', mode];
      try {
        a.worker = await startWorker(a.env, HOST, args);
        const ofA = await run(a);
        const fleetA = fleetOf(ofA.pids[0]!);
        expect(fleetA).toMatch(/^[0-9a-z]{12}$/);

        // The second installation starts beside the first: its first pass is over before "worker ready".
        b.worker = await startWorker(b.env, HOST, args);
        const ofB = await run(b);
        const fleetB = fleetOf(ofB.pids[0]!);
        expect(fleetB).not.toBe(fleetA);
        expect(b.worker.output()).not.toContain('leftover cgroup');
        expect(b.worker.output()).not.toContain('stopping processes no run of this host claims');
        await b.client.admin.reconcile({ host: HOST });
        await a.client.admin.reconcile({ host: HOST });
        expect(alive(ofA.pids)).toEqual(ofA.pids);
        expect(alive(ofB.pids)).toEqual(ofB.pids);

        // A's worker dies: init inherits its leaders, which carry host id h-twin. B's passes
        // find them there and report them as another fleet's, pass after pass; all live on.
        const leaders: number[] = [];
        for (const id of ofA.ids) leaders.push((await a.client.get(id)).pid!);
        await a.worker.kill();
        const foreignPids = (r: { actions: Array<{ kind: string; pids?: number[] }> }) =>
          [...new Set(r.actions.filter((x) => x.kind === 'foreign').flatMap((x) => x.pids ?? []))].sort((x, y) => x - y);
        const [report] = await until(
          async () => {
            const reports = await b.client.admin.reconcile({ host: HOST });
            return leaders.every((p) => foreignPids(reports[0]!).includes(p)) ? reports : null;
          },
          10_000,
          "B's pass to report A's processes as foreign",
        );
        for (const pid of foreignPids(report!)) expect(ofA.pids).toContain(pid);
        const details = report!.actions.filter((x) => x.kind === 'foreign').map((x) => x.detail);
        for (const d of details) expect(d).toContain(`fleet ${fleetA}`);
        expect(details.join(' ')).toMatch(/pid \d+ \((sleep|sh)\) in \//);
        // Logged once, however many passes see them.
        const logged = () => b.worker!.output().match(/processes not of this fleet: left alone/g)?.length ?? 0;
        const once = logged();
        expect(once).toBeGreaterThan(0);
        await b.client.admin.reconcile({ host: HOST });
        await b.client.admin.reconcile({ host: HOST });
        expect(logged()).toBe(once);
        expect(alive(ofA.pids)).toEqual(ofA.pids);
        expect(alive(ofB.pids)).toEqual(ofB.pids);
        for (const id of ofB.ids) expect((await b.client.get(id)).state).toBe('running');

        // A's next worker adopts its own and leaves B's alone.
        a.worker = await startWorker(a.env, HOST, args);
        await a.client.admin.reconcile({ host: HOST });
        for (const id of ofA.ids) expect((await a.client.get(id)).state).toBe('running');
        expect(alive(ofB.pids)).toEqual(ofB.pids);

        // Each stops its own: the other's processes are untouched.
        await stopAll(a);
        expect(alive(ofA.pids)).toEqual([]);
        expect(alive(ofB.pids)).toEqual(ofB.pids);
        await stopAll(b);
        expect(alive(ofB.pids)).toEqual([]);
      } finally {
        for (const s of [a, b]) {
          if (s.worker && s.worker.child.exitCode === null && s.worker.child.signalCode === null) await s.worker.stop();
          await s.client.close();
        }
      }
    },
  );
});
