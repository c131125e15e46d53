import { describe, it, expect } from 'vitest';
import { CRASH_LOOP_WINDOW_MS, fold, reduce } from '../../src/shared/reducer.js';
import type { ReapqEvent } from '../../src/shared/events.js';
import type { ProcessRecord } from '../../src/shared/record.js';

const ID = 'p1';
const T0 = Date.UTC(2024, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();

// Event builders: every event carries `v: 1` and `at` (epoch ms).
const startReq = (at: number, restart: 'never' | 'on-failure' | 'always' = 'never', port: number | 'auto' | null = null): ReapqEvent => ({
  v: 1,
  at,
  type: 'start_requested',
  spec: {
    name: 'web',
    command: ['node', 'server.js'],
    cwd: '/srv',
    env: { A: '1' },
    port,
    restart,
    graceMs: 1000,
    host: null,
    ready: null,
    service: null,
    revision: null,
    limits: null,
  },
});
const spawnBegun = (at: number, host = 'h1', port: number | null = 20001): ReapqEvent => ({ v: 1, at, type: 'spawn_begun', host, port });
const spawned = (at: number, pid = 100, host = 'h1'): ReapqEvent => ({
  v: 1,
  at,
  type: 'spawned',
  host,
  pid,
  pgid: pid,
  sid: pid,
  startTime: 5000,
  bootId: 'boot-a',
  port: 20001,
});
const spawnFailed = (at: number, error = 'ENOENT: no such program'): ReapqEvent => ({ v: 1, at, type: 'spawn_failed', host: 'h1', error });
const stopReq = (at: number): ReapqEvent => ({ v: 1, at, type: 'stop_requested', signal: 'SIGTERM', graceMs: 2000 });
const signalSent = (at: number, killDeadline: number | null = at + 2000): ReapqEvent => ({
  v: 1,
  at,
  type: 'signal_sent',
  signal: 'SIGTERM',
  pgid: 100,
  pids: [100],
  killDeadline,
});
const exited = (
  at: number,
  code: number | null = 0,
  how: 'exited' | 'signaled' | 'unknown' = 'exited',
  signal: string | null = null,
): ReapqEvent => ({
  v: 1,
  at,
  type: 'exited',
  code,
  signal,
  how,
});
const stopped = (at: number, how: 'requested' | 'escalated' | 'leftovers' | 'drift' = 'requested'): ReapqEvent => ({
  v: 1,
  at,
  type: 'stopped',
  how,
});
const restartSched = (at: number, attempt = 1): ReapqEvent => ({ v: 1, at, type: 'restart_scheduled', attempt, delayMs: 250 });
const lost = (at: number, reason = 'host gone'): ReapqEvent => ({ v: 1, at, type: 'lost', reason });
const gaveUp = (at: number): ReapqEvent => ({ v: 1, at, type: 'gave_up', reason: 'crash loop' });

const running = (): ReapqEvent[] => [startReq(T0), spawnBegun(T0 + 10), spawned(T0 + 20)];

function must(prev: ProcessRecord | null, e: ReapqEvent): ProcessRecord {
  const res = reduce(prev, e, ID);
  if (!res.ok) throw new Error(`unexpected rejection: ${res.error}`);
  return res.record;
}
function rejects(events: ReapqEvent[], e: ReapqEvent): string {
  const res = reduce(fold(events, ID), e, ID);
  expect(res.ok).toBe(false);
  return res.ok ? '' : res.error;
}

describe('reduce: happy path', () => {
  it('walks start -> running -> stopping -> stopped with versions and timestamps', () => {
    let r = must(null, startReq(T0));
    expect(r).toMatchObject({
      id: ID,
      state: 'pending',
      desired: 'running',
      version: 1,
      pid: null,
      host: null,
      restarts: 0,
      crashLoop: 0,
      createdAt: iso(T0),
      updatedAt: iso(T0),
      command: ['node', 'server.js'],
      env: { A: '1' },
      endReason: null,
    });

    r = must(r, spawnBegun(T0 + 10));
    expect(r).toMatchObject({ state: 'starting', host: 'h1', port: 20001, version: 2, updatedAt: iso(T0 + 10), createdAt: iso(T0) });

    r = must(r, spawned(T0 + 20));
    expect(r).toMatchObject({
      state: 'running',
      desired: 'running',
      pid: 100,
      pgid: 100,
      sid: 100,
      startTime: 5000,
      bootId: 'boot-a',
      startedAt: iso(T0 + 20),
      version: 3,
      updatedAt: iso(T0 + 20),
    });

    r = must(r, stopReq(T0 + 30));
    expect(r).toMatchObject({ state: 'stopping', desired: 'stopped', stopSignal: 'SIGTERM', graceMs: 2000, version: 4 });

    r = must(r, signalSent(T0 + 40, T0 + 2040));
    expect(r).toMatchObject({ state: 'stopping', killDeadline: T0 + 2040, version: 5 });

    r = must(r, exited(T0 + 50, null, 'signaled', 'SIGTERM'));
    expect(r).toMatchObject({ state: 'stopping', exitCode: null, signal: 'SIGTERM', endReason: null, version: 6 });

    r = must(r, stopped(T0 + 60));
    expect(r).toMatchObject({
      state: 'stopped',
      desired: 'stopped',
      pid: 100,
      endReason: 'stopped',
      endedAt: iso(T0 + 60),
      killDeadline: null,
      version: 7,
      updatedAt: iso(T0 + 60),
      createdAt: iso(T0),
    });
  });

  it('records an escalated stop as killed', () => {
    const r = fold([...running(), stopReq(T0 + 30), signalSent(T0 + 31), stopped(T0 + 40, 'escalated')], ID)!;
    expect(r.endReason).toBe('killed');
  });

  it('running -> exited records code and reason', () => {
    const r = fold([...running(), exited(T0 + 500, 3)], ID)!;
    expect(r).toMatchObject({ state: 'exited', exitCode: 3, endReason: 'exited', endedAt: iso(T0 + 500), desired: 'running' });
  });
});

describe('reduce: stop races', () => {
  it('stop before spawn: pending -> stopped, nothing to stop', () => {
    const r = fold([startReq(T0), stopReq(T0 + 5)], ID)!;
    expect(r).toMatchObject({ state: 'stopped', desired: 'stopped', endReason: 'stopped', endedAt: iso(T0 + 5), version: 2 });
  });

  it('stop during starting keeps starting with desired stopped', () => {
    const r = fold([startReq(T0), spawnBegun(T0 + 1), stopReq(T0 + 2)], ID)!;
    expect(r).toMatchObject({ state: 'starting', desired: 'stopped', endReason: null });
  });

  it('exited while stopping stays stopping until the tree is gone', () => {
    const r = fold([...running(), stopReq(T0 + 30), exited(T0 + 40, 0)], ID)!;
    expect(r).toMatchObject({ state: 'stopping', exitCode: 0, endedAt: null, endReason: null });
  });

  it('stop on a final record only moves desired', () => {
    const r = fold([...running(), exited(T0 + 40, 1), stopReq(T0 + 50)], ID)!;
    expect(r).toMatchObject({ state: 'exited', desired: 'stopped', endReason: 'exited', endedAt: iso(T0 + 40) });
  });
});

describe('reduce: failures and loss', () => {
  it('spawn_failed -> failed with the error', () => {
    const r = fold([startReq(T0), spawnBegun(T0 + 1), spawnFailed(T0 + 2, 'ENOENT x')], ID)!;
    expect(r).toMatchObject({ state: 'failed', error: 'ENOENT x', endReason: 'spawn-failed', endedAt: iso(T0 + 2) });
  });

  it('start_failed -> failed from pending only, never once a spawn began or a stop was asked for', () => {
    const sf: ReapqEvent = { v: 1, at: T0 + 2, type: 'start_failed', reason: 'host h9 is unknown: no worker has announced it' };
    const r = fold([startReq(T0), sf], ID)!;
    expect(r).toMatchObject({ state: 'failed', error: sf.reason, endReason: 'spawn-failed', endedAt: iso(T0 + 2), host: null, pid: null });
    expect(reduce(fold([startReq(T0), spawnBegun(T0 + 1)], ID), sf, ID)).toEqual({
      ok: false,
      error: 'start_failed is not allowed in state starting',
    });
    expect(reduce(fold([startReq(T0), stopReq(T0 + 1)], ID), sf, ID)).toEqual({
      ok: false,
      error: 'start_failed is not allowed in state stopped',
    });
  });

  it('lost from running records the reason', () => {
    const r = fold([...running(), lost(T0 + 100, 'pid reused')], ID)!;
    expect(r).toMatchObject({ state: 'lost', error: 'pid reused', endReason: 'lost', endedAt: iso(T0 + 100) });
  });

  it('gave_up -> failed with crash-loop', () => {
    const r = fold([...running(), exited(T0 + 100, 1), gaveUp(T0 + 101)], ID)!;
    expect(r).toMatchObject({ state: 'failed', error: 'crash loop', endReason: 'crash-loop' });
  });

  it('kill_pending records the surviving pids, stopped clears them', () => {
    const evs = [...running(), stopReq(T0 + 30), signalSent(T0 + 31)];
    const kp: ReapqEvent = { v: 1, at: T0 + 40, type: 'kill_pending', pids: [100, 101] };
    const r = fold([...evs, kp], ID)!;
    expect(r).toMatchObject({ state: 'stopping', killPending: [100, 101] });
    expect(must(r, stopped(T0 + 50, 'escalated')).killPending).toEqual([]);
  });
});

describe('reduce: illegal transitions are rejected', () => {
  it('spawned on pending', () => {
    expect(rejects([startReq(T0)], spawned(T0 + 1))).toMatch(/spawned is not allowed in state pending/);
  });
  it('start_requested twice', () => {
    expect(rejects([startReq(T0)], startReq(T0 + 1))).toMatch(/already exists/);
  });
  it('spawn_begun after stop', () => {
    expect(rejects([startReq(T0), stopReq(T0 + 1)], spawnBegun(T0 + 2))).toMatch(/not allowed in state stopped/);
  });
  it('restart_scheduled after a stop was requested', () => {
    expect(rejects([...running(), exited(T0 + 40, 1), stopReq(T0 + 50)], restartSched(T0 + 60))).toMatch(/after a stop was requested/);
  });
  it('spawned from another host than the one that began it', () => {
    expect(rejects([startReq(T0), spawnBegun(T0 + 1, 'h1')], spawned(T0 + 2, 100, 'h2'))).toMatch(/h2.*h1/);
  });
  it('any event but start_requested on a null record', () => {
    for (const e of [spawnBegun(T0), stopReq(T0), exited(T0), lost(T0)]) {
      const res = reduce(null, e, ID);
      expect(res).toEqual({ ok: false, error: `${e.type} on a process that was never requested` });
    }
  });
});

describe('reduce: restarts and crash loop', () => {
  it('restart_scheduled resets the run and counts restarts', () => {
    const r = fold([startReq(T0, 'always'), spawnBegun(T0 + 1), spawned(T0 + 2), exited(T0 + 100, 1), restartSched(T0 + 200)], ID)!;
    expect(r).toMatchObject({
      state: 'pending',
      desired: 'running',
      restarts: 1,
      pid: null,
      pgid: null,
      sid: null,
      startTime: null,
      bootId: null,
      host: null,
      port: null,
      endReason: null,
      endedAt: null,
      error: null,
      killDeadline: null,
    });
  });

  it('keeps a pinned port across a restart', () => {
    const r = fold(
      [startReq(T0, 'always', 4321), spawnBegun(T0 + 1, 'h1', 4321), spawned(T0 + 2), exited(T0 + 3, 1), restartSched(T0 + 4)],
      ID,
    )!;
    expect(r.port).toBe(4321);
  });

  it('a short run increments crashLoop, a long run resets it', () => {
    const runFor = (start: number, ms: number): ReapqEvent[] => [
      spawnBegun(start),
      spawned(start + 1),
      exited(start + 1 + ms, 1),
      restartSched(start + 2 + ms),
    ];
    let evs: ReapqEvent[] = [startReq(T0, 'always'), ...runFor(T0, 100), ...runFor(T0 + 1000, CRASH_LOOP_WINDOW_MS - 1)];
    let r = fold(evs, ID)!;
    expect(r).toMatchObject({ crashLoop: 2, restarts: 2 });

    evs = [...evs, ...runFor(T0 + 100_000, CRASH_LOOP_WINDOW_MS)];
    r = fold(evs, ID)!;
    expect(r).toMatchObject({ crashLoop: 0, restarts: 3 });
  });
});

describe('fold', () => {
  it('returns null for an empty stream', () => {
    expect(fold([], ID)).toBeNull();
  });
  it('throws on a stream that does not fold, naming the version', () => {
    expect(() => fold([startReq(T0), spawned(T0 + 1)], ID)).toThrow(
      /stream of p1 does not fold at version 2: spawned is not allowed in state pending/,
    );
  });
});

describe('reduce is pure', () => {
  it('does not mutate the previous record', () => {
    const prev = fold([...running(), stopReq(T0 + 30), signalSent(T0 + 31)], ID)!;
    const snapshot = structuredClone(prev);
    Object.freeze(prev);
    must(prev, { v: 1, at: T0 + 35, type: 'kill_pending', pids: [7] });
    must(prev, stopped(T0 + 40));
    expect(prev).toEqual(snapshot);
  });
});
