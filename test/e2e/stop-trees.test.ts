import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { stopEverything } from '../helpers/client.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, cmdlineOf, FIXTURES, parentOf, startWorker, testEnv, until, type TestWorker } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';

const prefix = randomPrefix();
let worker: TestWorker;
let c: ReapqClient;

beforeAll(async () => {
  worker = await startWorker(testEnv(testRedisUrl(), prefix), 'h-trees');
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
});
// Nothing this file started may outlive it: every live record is stopped before the worker goes.
afterAll(() => stopEverything(c, worker));

describe('stopping whole trees', () => {
  it('stops npm run start -> sh -> node -> grandchild whole', async () => {
    const rec = await c.start({ command: ['npm', 'run', 'start'], cwd: join(FIXTURES, 'app'), port: 'auto' });
    const running = await c.waitFor(rec.id, 'running', { timeoutMs: 15_000 });
    expect(running.port).toBeGreaterThanOrEqual(20000);
    // npm, sh, node server.js and its sleep all carry the cookie.
    const tree = await until(() => (carriersOf(rec.id).length >= 4 ? carriersOf(rec.id) : null), 15_000, 'four processes in the tree');
    expect(tree.length).toBeGreaterThanOrEqual(4);
    await c.stop(rec.id);
    const done = await c.waitFor(rec.id, 'stopped', { timeoutMs: 15_000 });
    expect(done.endReason).toBe('stopped');
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('kills a tree that ignores SIGTERM after the grace period', async () => {
    const rec = await c.start({ command: [join(FIXTURES, 'ignores-term.sh')] });
    await c.waitFor(rec.id, 'running');
    await until(() => carriersOf(rec.id).length >= 3, 5000, 'tree up');
    await c.stop(rec.id, { graceMs: 300 });
    const done = await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
    expect(done.endReason).toBe('killed');
    const signals = (await c.events(rec.id)).flatMap((e) => (e.event.type === 'signal_sent' ? [e.event.signal] : []));
    expect(signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('escalates while a member lives, though the leader exited on SIGTERM', async () => {
    const rec = await c.start({ command: [join(FIXTURES, 'leader-exits-member-ignores.sh')] });
    await c.waitFor(rec.id, 'running');
    // Both loops' sleeps: the member has its SIGTERM trap only once its loop runs (under load
    // a stop sent after 2 carriers reached the member before the trap, and it just died).
    await until(() => carriersOf(rec.id).length >= 4, 5000, 'tree up, member trapping TERM');
    await c.stop(rec.id, { graceMs: 300 });
    const done = await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
    expect(done.endReason).toBe('killed');
    expect(done.exitCode).toBe(0); // the leader's own exit is kept
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('a leader that exits on its own leaving a member alive is not exited until the member is gone', async () => {
    const rec = await c.start({ command: [join(FIXTURES, 'leader-exits-member-ignores.sh')], graceMs: 300 });
    const running = await c.waitFor(rec.id, 'running');
    await until(() => carriersOf(rec.id).length >= 4, 5000, 'tree up, member trapping TERM');
    const member = carriersOf(rec.id).find((p) => p !== running.pid && cmdlineOf(p).startsWith('sh\0-c'));
    expect(member).toBeDefined();
    const started = readFileSync(`/proc/${member}/stat`, 'utf8');
    // Only the leader gets SIGTERM (from outside, not a stop): it exits 0, the member ignores it.
    process.kill(running.pid!, 'SIGTERM');
    const ended = await c.waitFor(rec.id, 'exited', { timeoutMs: 10_000 });
    // By the time the record says exited the member is dead (a pid reused since has another start).
    const now = (() => {
      try {
        return readFileSync(`/proc/${member}/stat`, 'utf8');
      } catch {
        return null;
      }
    })();
    expect(now === null || now.split(' ')[21] !== started.split(' ')[21] || now.split(' ')[2] === 'Z').toBe(true);
    expect(ended.exitCode).toBe(0);
    expect(carriersOf(rec.id)).toEqual([]);
    const evs = (await c.events(rec.id)).map((e) => e.event);
    const named = evs.find((e) => e.type === 'drift' && e.kind === 'leftovers');
    expect(named && 'pids' in named ? named.pids : []).toContain(member);
    expect(evs.findIndex((e) => e.type === 'exited')).toBeGreaterThan(evs.indexOf(named!));
  });

  it('finds descendants that left the group with setsid', async () => {
    const rec = await c.start({ command: [join(FIXTURES, 'escapes-group.sh')] });
    await c.waitFor(rec.id, 'running');
    await until(() => carriersOf(rec.id).length >= 4, 5000, 'tree up');
    await c.stop(rec.id, { graceMs: 2000 });
    await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('has orphans of its trees re-parented to the worker, its subreaper, not to init', async () => {
    const rec = await c.start({ command: ['sh', '-c', '(sleep 1000 &); exec sleep 999'] });
    const running = await c.waitFor(rec.id, 'running');
    // The `sleep 1000` whose parent (the subshell) exited at once; the leader exec'd `sleep 999`.
    const orphan = await until(
      () => carriersOf(rec.id).find((p) => p !== running.pid && cmdlineOf(p) === 'sleep\u00001000\u0000'),
      5000,
      'the orphan',
    );
    // Once its subshell is gone it belongs to the worker; on init (pid 1) this times out.
    await until(() => carriersOf(rec.id).every((p) => p === orphan || p === running.pid), 5000, 'the subshell gone');
    expect(parentOf(orphan)).toBe(worker.child.pid);
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('records a missing binary and a bad cwd as failed starts, and keeps serving', async () => {
    const missing = await c.start({ command: ['/nonexistent/reapq-test-binary'] });
    await expect(c.waitFor(missing.id, 'running')).rejects.toThrow(/command not found/);
    const badCwd = await c.start({ command: ['sleep', '1'], cwd: '/nonexistent-dir' });
    await expect(c.waitFor(badCwd.id, 'running')).rejects.toThrow(/does not exist/);
    const malformed = internalsOf(c).queue(internalsOf(c).keys.startQueue);
    await malformed.add('start', { id: 42 });
    await malformed.add('bogus', { hello: 'world' });
    const ok = await c.start({ command: ['sleep', '100'] });
    expect((await c.waitFor(ok.id, 'running')).pid).toBeGreaterThan(0);
    await c.stop(ok.id);
    await c.waitFor(ok.id, 'stopped');
  });

  it('stops a process whose stop arrived mid-spawn', async () => {
    const rec = await c.start({ command: ['sleep', '100'] });
    await c.stop(rec.id);
    const done = await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
    expect(done.desired).toBe('stopped');
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('restarts on failure with backoff, then gives up on a crash loop', async () => {
    const rec = await c.start({ command: ['sh', '-c', 'exit 3'], restart: 'on-failure' });
    const failed = await c.waitFor(rec.id, 'failed', { timeoutMs: 20_000 });
    expect(failed.error).toMatch(/crash loop/);
    expect(failed.restarts).toBe(4);
    const delays = (await c.events(rec.id)).flatMap((e) => (e.event.type === 'restart_scheduled' ? [e.event.delayMs] : []));
    expect(delays).toEqual([250, 500, 1000, 2000]);
  });
});
