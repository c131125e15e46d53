import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linuxProcessTable } from '../../src/worker/proc/table.js';
import { useClientAndRedis } from '../helpers/client.js';
import { testRedisUrl } from '../helpers/redis.js';
import { alive, carriersOf, cli, FIXTURES, startWorker, testEnv, until } from '../helpers/workers.js';

const proc = linuxProcessTable;
const { prefix, env, keys, c, redis } = useClientAndRedis();

const events = async (id: string) => (await c.events(id)).map((e) => e.event);
/** The run a live process belongs to, from its own environment. */
const runOf = (pid: number) => proc.cookie(pid, 'REAPQ_RUN_ID');
/** Every descendant of pid, found by walking /proc children. */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const ch of proc.children(queue.pop()!)) {
      out.push(ch);
      queue.push(ch);
    }
  }
  return out;
}

describe('the controller under attack', () => {
  it('a frozen worker that wakes stops only its own stale copies, never the healthy ones another host started', async () => {
    const a = await startWorker(env, 'h-frozen');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await c.start({ command: ['sleep', '1000'], restart: 'always', host: undefined })).id);
    const first = await Promise.all(ids.map((id) => c.waitFor(id, 'running')));
    expect(first.every((r) => r.host === 'h-frozen')).toBe(true);
    process.kill(a.child.pid!, 'SIGSTOP');
    try {
      const b = await startWorker(env, 'h-healthy');
      // b's fleet pass sees a's heartbeat expire and restarts the three on b.
      const moved = await until(
        async () => {
          const recs = await Promise.all(ids.map((id) => c.get(id)));
          return recs.every((r) => r.state === 'running' && r.host === 'h-healthy') ? recs : null;
        },
        20_000,
        'restarted on b',
      );
      process.kill(a.child.pid!, 'SIGCONT');
      // a wakes, finds its runs are no longer current, and stops its own copies.
      for (const [k, id] of ids.entries()) {
        await until(() => !alive([first[k]!.pid!]).length, 15_000, `a's stale copy of ${id} gone`);
      }
      for (const [k, id] of ids.entries()) {
        const evs = await events(id);
        expect(evs.some((e) => e.type === 'drift' && e.kind === 'stale-run')).toBe(true);
        const now = await c.get(id);
        // The healthy copy is untouched: same run, same pid, alive, still wanted.
        expect(now.state).toBe('running');
        expect(now.host).toBe('h-healthy');
        expect(now.runId).toBe(moved[k]!.runId);
        expect(now.pid).toBe(moved[k]!.pid);
        expect(alive([now.pid!])).toEqual([now.pid]);
        expect(runOf(now.pid!)).toBe(now.runId);
      }
      for (const id of ids) await c.stop(id);
      for (const id of ids) expect((await c.waitFor(id, 'stopped', { timeoutMs: 15_000 })).state).toBe('stopped');
      for (const id of ids) expect(carriersOf(id)).toEqual([]);
      await b.stop();
    } finally {
      process.kill(a.child.pid!, 'SIGCONT');
      await a.stop();
    }
  });

  it('a start with no free port is deferred with the reason on the record, and runs once the port is free', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen({ port: 0, host: '0.0.0.0' }, r));
    const port = (blocker.address() as { port: number }).port;
    const w = await startWorker(testEnv(testRedisUrl(), prefix, { REAPQ_PORT_RANGE: `${port}-${port}` }), 'h-ports');
    try {
      const rec = await c.start({ command: ['sleep', '1000'], port: 'auto' });
      const deferred = await until(
        async () => ((await events(rec.id)).find((e) => e.type === 'start_deferred') ? c.get(rec.id) : null),
        10_000,
        'deferred',
      );
      expect(deferred.state).toBe('pending');
      expect(deferred.error).toMatch(/no free port/);
      const shown = await cli(env, ['show', rec.id]);
      expect(shown.stdout).toMatch(/no free port/);
      await new Promise<void>((r) => blocker.close(() => r()));
      const running = await c.waitFor(rec.id, 'running', { timeoutMs: 20_000 });
      expect(running.port).toBe(port);
      expect(running.error).toBeNull();
      await c.stop(rec.id);
      await c.waitFor(rec.id, 'stopped');
    } finally {
      if (blocker.listening) blocker.close();
      await w.stop();
    }
  });

  it('one corrupt record beside healthy ones: ls, the worker boot and reconcile carry on; stop --all goes past it', async () => {
    const w1 = await startWorker(env, 'h-poison');
    const good = await c.start({ command: ['sleep', '1000'], host: 'h-poison' });
    const bad = await c.start({ command: ['sleep', '1000'], host: 'h-poison' });
    const later = await c.start({ command: ['sleep', '1000'], host: 'h-poison' });
    for (const r of [good, bad, later]) await c.waitFor(r.id, 'running');
    const badPid = (await c.get(bad.id)).pid!;
    await redis.hset(keys.record(bad.id), 'r', '[');
    const ls = await cli(env, ['ls', '--host', 'h-poison']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain(good.id);
    expect(ls.stdout).toContain(later.id);
    expect(ls.stderr).toMatch(new RegExp(`warning: record ${bad.id} skipped: `));
    const all = await cli(env, ['ls', '--all', '--json']);
    expect(all.code).toBe(0);
    expect((JSON.parse(all.stdout) as Array<{ id: string }>).map((r) => r.id)).toEqual(expect.arrayContaining([good.id, later.id]));
    expect(all.stderr).toContain(bad.id);
    const page = await c.listPage({ host: 'h-poison' });
    expect(page.corrupt.map((x) => x.id)).toEqual([bad.id]);
    await w1.kill();
    const w2 = await startWorker(env, 'h-poison'); // boots past it
    expect(w2.output()).toMatch(new RegExp(`record of ${bad.id} is corrupt`));
    const rep = await cli(env, ['reconcile', '--host', 'h-poison', '--json']);
    expect(rep.code).toBe(0);
    // Counted in the heartbeat, so /metrics shows it (reapq_corrupt_seen_total).
    await until(async () => ((await c.hosts()).find((h) => h.hostId === 'h-poison')?.counters.corrupt ?? 0) >= 1);
    const stop = await cli(env, ['stop', '--all', '--wait', '--host', 'h-poison']);
    for (const r of [good, later]) expect((await c.get(r.id)).state).toBe('stopped');
    expect(stop.stdout + stop.stderr).not.toMatch(/ERR The ID specified in XADD/);
    process.kill(badPid, 'SIGKILL'); // reapq cannot know what a record it cannot read held
    await w2.stop();
  });

  it('a garbage entry in one stream: the process can still be stopped, and events name the corruption', async () => {
    const w = await startWorker(env, 'h-stream');
    const rec = await c.start({ command: ['sleep', '1000'] });
    await c.waitFor(rec.id, 'running');
    await redis.xadd(keys.stream(rec.id), '999999-0', 'e', 'garbage');
    const shown = await cli(env, ['events', rec.id]);
    expect(shown.stderr).toMatch(new RegExp(`event stream of ${rec.id} is corrupt`));
    await c.stop(rec.id);
    expect((await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 })).state).toBe('stopped');
    expect(carriersOf(rec.id)).toEqual([]);
    await w.stop();
  });

  it('an env-clearing, TERM-ignoring setsid child seen during the stop is escalated, not declared stopped', async () => {
    const w = await startWorker(env, 'h-escaper');
    const rec = await c.start({ command: [join(FIXTURES, 'escaper-ignores-term.sh')] });
    const running = await c.waitFor(rec.id, 'running');
    // setsid runs env -i, which runs sh: until that last exec the session leader still shows
    // the inherited cookie, so wait for the cleared environment, not for the session alone.
    const escaper = await until(
      () => descendantsOf(running.pid!).find((p) => proc.stat(p)?.sid === p && proc.cookie(p, 'REAPQ_PROCESS_ID') === null),
      5000,
      'escaper up with its environment cleared',
    );
    await c.stop(rec.id, { graceMs: 500 });
    const done = await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
    expect(done.endReason).toBe('killed');
    expect(alive([escaper])).toEqual([]);
    await w.stop();
  });

  it('a backtracking readiness pattern does not freeze the worker: an unrelated start and stop go through', async () => {
    const w = await startWorker(env, 'h-redos');
    const line = `${'a'.repeat(40)}!`;
    const evil = await c.start({
      command: ['sh', '-c', `while :; do echo ${line}; sleep 0.05; done`],
      ready: { kind: 'log', pattern: '^(a+)+$', timeoutMs: 3000 },
    });
    const other = await c.start({ command: ['sleep', '1000'] });
    expect((await c.waitFor(other.id, 'running', { timeoutMs: 10_000 })).state).toBe('running');
    await c.stop(other.id);
    expect((await c.waitFor(other.id, 'stopped', { timeoutMs: 10_000 })).state).toBe('stopped');
    const failed = await c.waitFor(evil.id, ['failed', 'stopped'], { timeoutMs: 15_000 });
    expect(failed.endReason).toBe('not-ready');
    await until(() => carriersOf(evil.id).length === 0, 10_000, 'the not-ready tree gone');
    await w.stop();
  });
});
