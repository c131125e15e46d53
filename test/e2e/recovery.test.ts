import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useClient } from '../helpers/client.js';
import { carriersOf, cmdlineOf, FIXTURES, startWorker, until } from '../helpers/workers.js';

const { env, c } = useClient();

const types = async (id: string) => (await c.events(id)).map((e) => e.event.type);

describe('crash recovery', () => {
  it('re-adopts ten trees a SIGKILLed worker owned, records a group killed meanwhile, carries out a stop issued meanwhile', async () => {
    const w1 = await startWorker(env, 'h-crash');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await c.start({ command: [join(FIXTURES, 'tree.sh')] })).id);
    const recs = [];
    for (const id of ids) recs.push(await c.waitFor(id, 'running'));
    await until(() => ids.every((id) => carriersOf(id).length >= 4), 5000, 'ten trees up');
    const before = ids.map((id) => carriersOf(id).sort());
    await w1.kill();
    // The trees outlive the worker: nothing stops them but a request.
    expect(ids.map((id) => carriersOf(id).sort())).toEqual(before);

    // While no worker runs: a whole group is killed from outside, and a stop is issued.
    const [killedId, stoppedId, ...rest] = ids as [string, string, ...string[]];
    process.kill(-recs[0]!.pgid!, 'SIGKILL');
    await until(() => carriersOf(killedId).length === 0, 5000, 'group gone');
    await c.stop(stoppedId, { graceMs: 1000 });

    const w2 = await startWorker(env, 'h-crash');
    for (const id of rest) expect(await types(id)).toContain('adopted');
    const ended = await c.waitFor(killedId, ['exited'], { timeoutMs: 5000 });
    expect(ended.exitCode).toBeNull();
    expect(await types(killedId)).toContain('drift');
    expect((await c.waitFor(stoppedId, 'stopped', { timeoutMs: 10_000 })).state).toBe('stopped');
    expect(carriersOf(stoppedId)).toEqual([]);
    // None duplicated: each adopted tree is the very same set of processes.
    expect(rest.map((id) => carriersOf(id).sort())).toEqual(before.slice(2));
    expect((await c.list({ state: 'running' })).length).toBe(8);
    for (const id of rest) await c.stop(id, { graceMs: 1000 });
    for (const id of rest) expect((await c.waitFor(id, 'stopped', { timeoutMs: 10_000 })).state).toBe('stopped');
    for (const id of ids) expect(carriersOf(id)).toEqual([]);
    expect(await w2.stop()).toBe(0);
  });

  it('stops the children a leader killed from outside left behind', async () => {
    const w = await startWorker(env, 'h-leftovers');
    const rec = await c.start({ command: [join(FIXTURES, 'tree.sh')] });
    const running = await c.waitFor(rec.id, 'running');
    await until(() => carriersOf(rec.id).length >= 4, 5000, 'tree up');
    process.kill(running.pid!, 'SIGKILL');
    const ended = await c.waitFor(rec.id, 'exited', { timeoutMs: 5000 });
    expect(ended.signal).toBe('SIGKILL');
    // The exit is recorded only once its leftovers are stopped, and they are named before it.
    expect(carriersOf(rec.id)).toEqual([]);
    const evs = (await c.events(rec.id)).map((e) => e.event);
    const drift = evs.findIndex((e) => e.type === 'drift' && e.kind === 'leftovers');
    expect(drift).toBeGreaterThan(-1);
    expect(evs.findIndex((e) => e.type === 'exited')).toBeGreaterThan(drift);
    expect(evs.some((e) => e.type === 'stopped')).toBe(false);
    expect(await w.stop()).toBe(0);
  });

  it('escalates on time a stop whose worker died between SIGTERM and SIGKILL', async () => {
    const w1 = await startWorker(env, 'h-midstop');
    const rec = await c.start({ command: [join(FIXTURES, 'ignores-term.sh')] });
    await c.waitFor(rec.id, 'running');
    await until(() => carriersOf(rec.id).length >= 3, 5000, 'tree up');
    await c.stop(rec.id, { graceMs: 1500 });
    await until(async () => (await types(rec.id)).includes('signal_sent'), 5000, 'SIGTERM sent');
    await w1.kill();
    // It died between the two: SIGTERM on the record, with its deadline, and no SIGKILL.
    const sent = (await c.events(rec.id)).flatMap((e) => (e.event.type === 'signal_sent' ? [e.event.signal] : []));
    expect(sent).toEqual(['SIGTERM']);
    const deadline = (await c.get(rec.id)).killDeadline;
    expect(deadline).not.toBeNull();

    const w2 = await startWorker(env, 'h-midstop');
    const done = await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
    expect(done.endReason).toBe('killed');
    const kill = (await c.events(rec.id)).find((e) => e.event.type === 'signal_sent' && e.event.signal === 'SIGKILL');
    expect(kill!.event.at).toBeGreaterThanOrEqual(deadline!);
    expect(carriersOf(rec.id)).toEqual([]);
    expect(await w2.stop()).toBe(0);
  });

  it('records an exit nobody saw and restarts it by policy', async () => {
    const w1 = await startWorker(env, 'h-unseen');
    const rec = await c.start({ command: ['sleep', '1000'], restart: 'always' });
    const first = await c.waitFor(rec.id, 'running');
    await w1.kill();
    process.kill(first.pid!, 'SIGKILL'); // an operator's kill -9 while no worker watched
    await until(() => carriersOf(rec.id).length === 0, 5000, 'leader gone');

    const w2 = await startWorker(env, 'h-unseen');
    const again = await until(
      async () => {
        const r = await c.get(rec.id);
        return r.state === 'running' && r.restarts === 1 ? r : null;
      },
      10_000,
      'restart',
    );
    expect(again.pid).not.toBe(first.pid);
    const evs = await c.events(rec.id);
    expect(evs.some((e) => e.event.type === 'drift' && e.event.kind === 'missed-exit')).toBe(true);
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
    expect(await w2.stop()).toBe(0);
  });

  it('leaves processes running on a graceful worker shutdown', async () => {
    const w1 = await startWorker(env, 'h-drain');
    const rec = await c.start({ command: ['sleep', '1000'] });
    await c.waitFor(rec.id, 'running');
    expect(await w1.stop()).toBe(0);
    expect(carriersOf(rec.id)).toHaveLength(1);
    const w2 = await startWorker(env, 'h-drain');
    await c.stop(rec.id);
    await c.waitFor(rec.id, 'stopped');
    expect(await w2.stop()).toBe(0);
  });

  it('survives its forker dying: running processes stay watched, new starts work', async () => {
    const w = await startWorker(env, 'h-forker');
    const rec = await c.start({ command: ['sleep', '1000'] });
    const running = await c.waitFor(rec.id, 'running');
    const forkerPids = () =>
      readFileSync(`/proc/${w.child.pid}/task/${w.child.pid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .map(Number)
        .filter((p) => cmdlineOf(p).includes('forker-main.js'));
    // Every forker dies, the one that spawned the process among them.
    const first = forkerPids();
    expect(first.length).toBeGreaterThan(0);
    for (const p of first) process.kill(p, 'SIGKILL');
    await until(
      () => {
        const now = forkerPids();
        return now.length === first.length && now.every((p) => !first.includes(p));
      },
      5000,
      'new forkers',
    );
    expect(carriersOf(rec.id)).toHaveLength(1); // the process did not die with its forker
    process.kill(running.pid!, 'SIGKILL'); // its exit is now seen by polling
    expect((await c.waitFor(rec.id, 'exited', { timeoutMs: 5000 })).exitCode).toBeNull();
    const next = await c.start({ command: ['sleep', '1000'] });
    await c.waitFor(next.id, 'running');
    await c.stop(next.id);
    await c.waitFor(next.id, 'stopped');
    expect(await w.stop()).toBe(0);
  });
});
