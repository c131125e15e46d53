import { describe, expect, it } from 'vitest';
import type { ProcessRecord } from '../../src/shared/record.js';
import { decide } from '../../src/worker/controller/decide.js';
import type { DecideInput } from '../../src/worker/controller/decision.js';
import { afterStep, killStep, NO_KILL } from '../../src/worker/controller/kill-plan.js';
import { decideInputOf, localOf } from '../helpers/fixtures.js';

const snap = { now: 1000, members: [10, 11], groupAlive: true, graceMs: 500, killWaitMs: 2000 };

describe('kill plan', () => {
  it('signals first, with the deadline one grace period away', () => {
    expect(killStep(NO_KILL, snap)).toEqual({ kind: 'signal', deadline: 1500 });
  });
  it('waits before the deadline, never past it, polling slower each time', () => {
    const s = afterStep(NO_KILL, { kind: 'signal', deadline: 1500 }, 1000);
    expect(killStep(s, { ...snap, now: 1001 })).toEqual({ kind: 'wait', ms: 10 });
    const later = { ...s, polls: 3 };
    expect(killStep(later, { ...snap, now: 1100 })).toEqual({ kind: 'wait', ms: 80 });
    expect(killStep(later, { ...snap, now: 1495 })).toEqual({ kind: 'wait', ms: 5 });
  });
  it('escalates to SIGKILL at the deadline while any member lives, leader or not', () => {
    const s = afterStep(NO_KILL, { kind: 'signal', deadline: 1500 }, 1000);
    expect(killStep(s, { ...snap, now: 1500, members: [11] })).toEqual({ kind: 'kill' });
  });
  it('keeps killing what forks late, then reports kill pending when SIGKILL does not take', () => {
    const k = afterStep({ deadline: 1500, killSentAt: null, polls: 0 }, { kind: 'kill' }, 1500);
    expect(k.killSentAt).toBe(1500);
    expect(killStep(k, { ...snap, now: 1600 })).toEqual({ kind: 'kill' });
    expect(killStep(k, { ...snap, now: 3500, members: [11] })).toEqual({ kind: 'kill-pending', pids: [11] });
  });
  it('is done when nothing is alive and the group is gone, escalated only if SIGKILL was needed', () => {
    expect(killStep({ deadline: 1500, killSentAt: null, polls: 2 }, { ...snap, members: [], groupAlive: false })).toEqual({
      kind: 'done',
      escalated: false,
    });
    expect(killStep({ deadline: 1500, killSentAt: 1500, polls: 2 }, { ...snap, members: [], groupAlive: false })).toEqual({
      kind: 'done',
      escalated: true,
    });
  });
  it('a zombie leader keeping the group is not done yet', () => {
    expect(killStep({ deadline: 1500, killSentAt: null, polls: 0 }, { ...snap, now: 1200, members: [], groupAlive: true }).kind).toBe(
      'wait',
    );
  });
});

const rec = (over: Partial<ProcessRecord> = {}): ProcessRecord =>
  ({
    id: 'p',
    name: null,
    state: 'running',
    desired: 'running',
    host: 'h',
    pid: 10,
    pgid: 10,
    command: ['sleep', '1'],
    cwd: null,
    port: null,
    restartPolicy: 'never',
    restarts: 0,
    exitCode: null,
    signal: null,
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    version: 3,
    env: {},
    requestedPort: null,
    requestedHost: null,
    graceMs: 500,
    sid: 10,
    startTime: 5,
    bootId: 'b',
    stopSignal: null,
    killDeadline: null,
    killPending: [],
    endReason: null,
    crashLoop: 0,
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: null,
    ready: null,
    readyAt: null,
    runId: 'r1',
    ...over,
  }) as ProcessRecord;

const input = (over: Partial<DecideInput> = {}): DecideInput => decideInputOf({ rec: rec(), ...over });

const kinds = (i: DecideInput) => decide(i).map((a) => a.kind);
const gone = { members: [], groupAlive: false, leader: 'gone' as const };

describe('decide', () => {
  it('a healthy running process needs nothing', () => {
    expect(decide(input())).toEqual([]);
  });
  it('spawns a pending record only from its own start job', () => {
    const pending = rec({ state: 'pending', host: null, pid: null, restarts: 1 });
    expect(kinds(input({ rec: pending, local: null, tree: null, trigger: { kind: 'start', jobId: 'p.r1' } }))).toEqual(['spawn']);
    expect(kinds(input({ rec: pending, local: null, tree: null, trigger: { kind: 'start', jobId: 'p' } }))).toEqual([]);
    expect(kinds(input({ rec: pending, local: null, tree: null, trigger: { kind: 'tick' } }))).toEqual([]);
  });
  it('records the spawn it made, with its run', () => {
    const out = decide(input({ rec: rec({ state: 'starting', pid: null }), tree: null }));
    expect(out).toMatchObject([{ kind: 'append', events: [{ type: 'spawned', pid: 10, run: 'r1' }] }]);
  });
  it('a stale run (the record moved to another host) is stopped by its own identity, the record untouched but for a drift note', () => {
    const moved = rec({ host: 'other', runId: 'r2', pid: 99 });
    const out = decide(input({ rec: moved }));
    expect(out.map((a) => a.kind)).toEqual(['append', 'signal', 'requeue']);
    expect(out[0]).toMatchObject({ events: [{ type: 'drift', kind: 'stale-run' }] });
    expect((out[0] as { events: Array<{ run?: string }> }).events[0]!.run).toBeUndefined();
    expect(kinds(input({ rec: moved, tree: { members: [], groupAlive: false, leader: 'gone' } }))).toEqual(['forget']);
  });
  it('the leader exit seen by the forker goes on the record first', () => {
    const out = decide(
      input({
        local: localOf({ exit: { code: 3, signal: null, how: 'exited' } }),
        tree: { members: [], groupAlive: false, leader: 'gone' },
      }),
    );
    expect(out).toMatchObject([{ kind: 'append', events: [{ type: 'exited', code: 3, run: 'r1' }] }]);
  });
  it('waits a little for the exit report before calling an exit unseen', () => {
    expect(kinds(input({ tree: gone }))).toEqual(['note-gone', 'requeue']);
    expect(kinds(input({ tree: gone, local: localOf({ goneSince: 500 }) }))).toEqual(['requeue']);
    expect(decide(input({ tree: gone, local: localOf({ goneSince: -5000 }) }))).toMatchObject([
      {
        events: [
          { type: 'drift', kind: 'missed-exit' },
          { type: 'exited', how: 'unknown' },
        ],
      },
    ]);
  });
  it('a leader that exits leaving a member alive does not end the record until the member is gone', () => {
    const exit = { code: 3, signal: null, how: 'exited' as const };
    const left = { members: [11], groupAlive: true, leader: 'gone' as const };
    // Named once and signalled; nothing on the record says it ended, and no signal_sent moves it to stopping.
    const first = decide(input({ local: localOf({ exit }), tree: left }));
    expect(first.map((a) => a.kind)).toEqual(['append', 'signal', 'requeue']);
    expect(first[0]).toMatchObject({
      events: [{ type: 'drift', kind: 'leftovers', pids: [11], detail: 'leader 10 gone, 1 left in its tree' }],
    });
    expect((first[0] as { events: unknown[] }).events).toHaveLength(1);
    // The grace period, then SIGKILL, still without an end.
    const signalled = localOf({ exit, driftRecorded: true, kill: { deadline: 1500, killSentAt: null, polls: 0 } });
    expect(kinds(input({ local: signalled, tree: left }))).toEqual(['wait', 'requeue']);
    expect(decide(input({ local: signalled, tree: left, now: 1500 }))).toMatchObject([
      { kind: 'signal', signal: 'SIGKILL' },
      { kind: 'requeue' },
    ]);
    // A member that survives SIGKILL is kill_pending on the record, which stays unfinished.
    const killed = localOf({ exit, driftRecorded: true, kill: { deadline: 1500, killSentAt: 1500, polls: 0 } });
    const pendingOut = decide(input({ local: killed, tree: left, now: 4000 }));
    expect(pendingOut.map((a) => a.kind)).toEqual(['signal', 'append', 'requeue']);
    expect(pendingOut[1]).toMatchObject({ events: [{ type: 'kill_pending', pids: [11] }] });
    // Gone: only now the leader's own exit status, with no second drift.
    expect(decide(input({ local: killed, tree: gone }))).toEqual([
      { kind: 'append', events: [{ type: 'exited', code: 3, signal: null, how: 'exited', run: 'r1' }] },
    ]);
  });
  it('a copy this worker stopped itself without Redis (at most one) is lost with the reason once Redis answers, not exited', () => {
    const why = 'host h had no heartbeat taken by Redis for 6 s';
    const exit = { code: null, signal: 'SIGTERM', how: 'signaled' as const };
    const stoppedHere = localOf({ exit, selfStopped: why });
    expect(decide(input({ rec: rec({ atMostOne: true }), local: stoppedHere, tree: gone }))).toEqual([
      {
        kind: 'append',
        events: [
          { type: 'drift', kind: 'host-lost', detail: why, pids: [], run: 'r1' },
          { type: 'lost', reason: why, run: 'r1' },
        ],
      },
    ]);
    // Still stopping when Redis answers: nothing on the record until the tree is gone.
    expect(decide(input({ rec: rec({ atMostOne: true }), local: localOf({ selfStopped: why }) }))).toEqual([]);
    // The record moved on meanwhile (the fleet started it elsewhere): the run is stale, forgotten untouched.
    expect(kinds(input({ rec: rec({ host: 'other', runId: 'r2' }), local: stoppedHere, tree: gone }))).toEqual(['forget']);
  });
  it('leftovers of a leader nobody saw end: named, killed, then exited with its status unknown and no missed-exit', () => {
    const left = { members: [11, 12], groupAlive: false, leader: 'gone' as const };
    expect(kinds(input({ local: null, tree: left }))).toEqual(['append', 'signal', 'requeue']);
    const done = localOf({ spawnedHere: false, driftRecorded: true, kill: { deadline: 1500, killSentAt: null, polls: 2 } });
    expect(decide(input({ local: done, tree: gone }))).toEqual([
      { kind: 'append', events: [{ type: 'exited', code: null, signal: null, how: 'unknown', run: 'r1' }] },
    ]);
  });
  it('a final record whose leftovers were killed before its end adds no stopped event', () => {
    const ended = rec({ state: 'exited', exitCode: 0, endedAt: '2026-01-01T00:01:00.000Z' });
    expect(kinds(input({ rec: ended, local: localOf({ exitRecorded: true, driftRecorded: true }), tree: gone }))).toEqual(['forget']);
  });
  it('a failed readiness check stops the tree first; failed (not_ready) only once it is gone', () => {
    const starting = rec({ state: 'starting', ready: { kind: 'tcp', timeoutMs: 500 } });
    const verdict = localOf({ ready: { ok: false, reason: 'not ready within 500 ms' } });
    expect(kinds(input({ rec: starting, local: verdict }))).toEqual(['note-not-ready', 'signal', 'requeue']);
    // Its leader gone on SIGTERM, a member left: still no end, no exited.
    const signalled = localOf({
      ...verdict,
      notReadyStop: true,
      kill: { deadline: 1500, killSentAt: null, polls: 0 },
      exit: { code: 143, signal: null, how: 'exited' },
    });
    expect(kinds(input({ rec: starting, local: signalled, tree: { members: [11], groupAlive: true, leader: 'gone' } }))).toEqual([
      'wait',
      'requeue',
    ]);
    expect(decide(input({ rec: starting, local: signalled, tree: gone }))).toEqual([
      { kind: 'append', events: [{ type: 'not_ready', reason: 'not ready within 500 ms', run: 'r1' }] },
    ]);
  });
  it('a leader that ended before its failed readiness verdict goes the exit path (restart policy), not not_ready', () => {
    const starting = rec({ state: 'starting', ready: { kind: 'tcp', timeoutMs: 500 } });
    const crashed = localOf({ ready: { ok: false, reason: 'connection refused' }, exit: { code: 1, signal: null, how: 'exited' } });
    expect(decide(input({ rec: starting, local: crashed, tree: gone }))).toEqual([
      { kind: 'append', events: [{ type: 'exited', code: 1, signal: null, how: 'exited', run: 'r1' }] },
    ]);
  });
  it('an exit this worker caused by a stop the record lost (failover) is named missed-exit, with the status it saw', () => {
    const lostStop = localOf({
      stopSignalled: true,
      kill: { deadline: 1500, killSentAt: null, polls: 0 },
      exit: { code: null, signal: 'SIGTERM', how: 'signaled' },
    });
    expect(decide(input({ local: lostStop, tree: gone }))).toMatchObject([
      {
        kind: 'append',
        events: [
          { type: 'drift', kind: 'missed-exit', detail: /no longer holds/ },
          { type: 'exited', signal: 'SIGTERM' },
        ],
      },
    ]);
    // Its own exit after leftovers were killed (no stop): the status alone.
    const own = localOf({
      driftRecorded: true,
      kill: { deadline: 1500, killSentAt: null, polls: 0 },
      exit: { code: 0, signal: null, how: 'exited' },
    });
    expect(decide(input({ local: own, tree: gone }))).toEqual([
      { kind: 'append', events: [{ type: 'exited', code: 0, signal: null, how: 'exited', run: 'r1' }] },
    ]);
    // The stop's end was recorded here too, and lost with the rest: still named.
    const recorded = localOf({ ...lostStop, driftRecorded: true, exitRecorded: true });
    expect(decide(input({ local: recorded, tree: gone }))).toMatchObject([
      {
        kind: 'append',
        events: [
          { type: 'drift', kind: 'missed-exit', detail: /no longer holds/ },
          { type: 'exited', how: 'unknown' },
        ],
      },
    ]);
  });
  it('a pid reused by another process is lost, never signalled', () => {
    const out = decide(input({ local: null, tree: { members: [], groupAlive: false, leader: 'reused' } }));
    expect(out).toMatchObject([{ events: [{ type: 'drift', kind: 'pid-reused' }, { type: 'lost' }] }]);
  });
  it('a requested stop: signal with the deadline on the record, then SIGKILL, then stopped once the tree is gone', () => {
    const stopping = rec({ state: 'stopping', desired: 'stopped', stopSignal: 'SIGTERM' });
    const first = decide(input({ rec: stopping }));
    expect(first.map((a) => a.kind)).toEqual(['signal', 'append', 'requeue']);
    expect(first[1]).toMatchObject({ events: [{ type: 'signal_sent', signal: 'SIGTERM', killDeadline: 1500 }] });
    const overdue = decide(
      input({ rec: { ...stopping, killDeadline: 900 }, local: localOf({ kill: { deadline: 900, killSentAt: null, polls: 4 } }) }),
    );
    expect(overdue[0]).toMatchObject({ kind: 'signal', signal: 'SIGKILL' });
    const done = decide(
      input({
        rec: stopping,
        local: localOf({ kill: { deadline: 900, killSentAt: 950, polls: 4 }, exitRecorded: true }),
        tree: { members: [], groupAlive: false, leader: 'gone' },
      }),
    );
    expect(done).toMatchObject([{ kind: 'append', events: [{ type: 'stopped', how: 'escalated' }] }, { kind: 'forget' }]);
  });
  it('removes the leaf of a run whose tree is gone before the record says it ended (stopped, not_ready, exited)', () => {
    const local = localOf({ kill: { deadline: 900, killSentAt: null, polls: 4 }, exitRecorded: true, leaf: 'p@r1' });
    const stopping = rec({ state: 'stopping', desired: 'stopped', stopSignal: 'SIGTERM' });
    expect(kinds(input({ rec: stopping, local, tree: gone }))).toEqual(['release-leaf', 'append', 'forget']);
    const exited = rec({ state: 'exited', desired: 'running', exitCode: 0 });
    expect(kinds(input({ rec: exited, local: { ...local, kill: { deadline: null, killSentAt: null, polls: 0 } }, tree: gone }))).toEqual([
      'release-leaf',
      'forget',
    ]);
    const failing = localOf({
      ready: { ok: false, reason: 'no answer' },
      notReadyStop: true,
      leaf: 'p@r1',
      kill: { deadline: 900, killSentAt: null, polls: 4 },
    });
    expect(kinds(input({ rec: rec({ state: 'starting' }), local: failing, tree: gone }))).toContain('release-leaf');
    // Process mode: no leaf, nothing to release.
    expect(kinds(input({ rec: stopping, local: { ...local, leaf: null }, tree: gone }))).toEqual(['append', 'forget']);
  });
  it("a stop whose leader's exit comes with its tree gone: exited and stopped in one append, exited first", () => {
    const stopping = rec({ state: 'stopping', desired: 'stopped', stopSignal: 'SIGTERM' });
    const signalled = { deadline: 1500, killSentAt: null, polls: 1 };
    const exit = { code: null, signal: 'SIGTERM', how: 'signaled' as const };
    expect(decide(input({ rec: stopping, local: localOf({ kill: signalled, exit }), tree: gone }))).toMatchObject([
      {
        kind: 'append',
        events: [
          { type: 'exited', signal: 'SIGTERM', run: 'r1' },
          { type: 'stopped', how: 'requested', run: 'r1' },
        ],
      },
      { kind: 'forget' },
    ]);
    // Cgroup mode: the leaf goes first, then the one append.
    expect(kinds(input({ rec: stopping, local: localOf({ kill: signalled, exit, leaf: 'p@r1' }), tree: gone }))).toEqual([
      'release-leaf',
      'append',
      'forget',
    ]);
    // A member still alive: the exit alone, the kill plan goes on for the rest.
    const left = { members: [11], groupAlive: true, leader: 'gone' as const };
    expect(decide(input({ rec: stopping, local: localOf({ kill: signalled, exit }), tree: left }))).toMatchObject([
      { kind: 'append', events: [{ type: 'exited' }] },
    ]);
  });
  it('waits out the grace period on the monotonic clock; the record carries the deadline in wall time', () => {
    const wall = 1_700_000_000_000;
    const stopping = rec({ state: 'stopping', desired: 'stopped', stopSignal: 'SIGTERM' });
    const first = decide(input({ rec: stopping, now: wall, mono: 1000 }));
    expect(first[0]).toMatchObject({ kind: 'signal', step: { kind: 'signal', deadline: 1500 } });
    expect(first[1]).toMatchObject({ events: [{ type: 'signal_sent', killDeadline: wall + 500 }] });
    const held = localOf({ kill: { deadline: 1500, killSentAt: null, polls: 0 } });
    const onRecord = { ...stopping, killDeadline: wall + 500 };
    // The wall clock steps an hour forward, then an hour back: the grace period neither ends nor stretches.
    for (const step of [3_600_000, -3_600_000])
      expect(decide(input({ rec: onRecord, local: held, now: wall + 100 + step, mono: 1100 }))[0]).toMatchObject({
        kind: 'wait',
        step: { kind: 'wait', ms: 10 },
      });
    expect(decide(input({ rec: onRecord, local: held, now: wall - 3_600_000, mono: 1500 }))[0]).toMatchObject({ signal: 'SIGKILL' });
    // A worker that takes over the stop (no local plan) goes on from the record's wall deadline.
    const takeover = (now: number) => decide(input({ rec: onRecord, local: null, now, mono: 7 }))[0];
    expect(takeover(wall + 400)).toMatchObject({ kind: 'wait', step: { ms: 10 } });
    expect(takeover(wall + 600)).toMatchObject({ kind: 'signal', signal: 'SIGKILL' });
  });
  it('kill pending is recorded once, and SIGKILL keeps being sent', () => {
    const stopping = rec({ state: 'stopping', desired: 'stopped', killDeadline: null });
    const held = localOf({ kill: { deadline: 900, killSentAt: 950, polls: 4 } });
    const out = decide(input({ rec: stopping, local: held, now: 5000, tree: { members: [11], groupAlive: true, leader: 'gone' } }));
    expect(out.map((a) => a.kind)).toEqual(['signal', 'append', 'requeue']);
    expect(out[1]).toMatchObject({ events: [{ type: 'kill_pending', pids: [11] }] });
    const again = decide(
      input({ rec: { ...stopping, killPending: [11] }, local: held, now: 6000, tree: { members: [11], groupAlive: true, leader: 'gone' } }),
    );
    expect(again.map((a) => a.kind)).toEqual(['signal', 'requeue']);
  });
  it('an exited record whose tree is gone is restarted by its policy', () => {
    const ended = rec({ state: 'exited', restartPolicy: 'always', exitCode: 0, endedAt: '2026-01-01T00:01:00.000Z' });
    const out = decide(input({ rec: ended, local: null, tree: { members: [], groupAlive: false, leader: 'gone' } }));
    expect(out).toMatchObject([
      { kind: 'append', events: [{ type: 'restart_scheduled', attempt: 1 }] },
      { kind: 'enqueue-start', delayMs: 0 },
    ]);
  });
  it('orphans of a run no record claims are stopped; a run the fresh record claims is left alone', () => {
    const fresh = rec({ state: 'running', runId: 'r9' });
    expect(kinds(input({ rec: fresh, local: null, trigger: { kind: 'orphans', pids: [20], run: 'r9' } }))).toEqual(['adopt']);
    expect(decide(input({ rec: fresh, local: null, trigger: { kind: 'orphans', pids: [20], run: 'r8' } }))).toEqual([
      { kind: 'kill-pids', pids: [20] },
      {
        kind: 'append',
        events: [{ type: 'drift', kind: 'orphan', detail: 'carries the cookie of p on h, no current run claims it', pids: [20] }],
      },
    ]);
    expect(decide(input({ rec: null, local: null, tree: null, trigger: { kind: 'orphans', pids: [20], run: null } }))).toEqual([
      { kind: 'kill-pids', pids: [20] },
    ]);
  });
  it("carriers or a leaf of no fleet (an older release's) are this fleet's only by a record of their id: else foreign, left alone", () => {
    const legacy = { kind: 'orphans' as const, pids: [20], run: null, legacy: true as const };
    expect(decide(input({ rec: null, local: null, tree: null, trigger: legacy }))).toEqual([{ kind: 'foreign', pids: [20] }]);
    // A record of the id in this fleet's Redis: an orphan of ours, as before fleets.
    const ofRun = { ...legacy, run: 'r-old' };
    expect(kinds(input({ rec: rec({ runId: 'r2' }), local: null, tree: null, trigger: ofRun }))).toEqual(['kill-pids', 'append']);
    const leaf = { kind: 'leaf' as const, leaf: 'p@r0', run: 'r0', legacy: true as const };
    const seen = { path: '/sys/fs/cgroup/reapq@h/p@r0', members: [40] };
    expect(decide(input({ rec: null, local: null, trigger: leaf, leaf: seen }))).toEqual([
      { kind: 'foreign', pids: [40], leaf: '/sys/fs/cgroup/reapq@h/p@r0' },
    ]);
    expect(kinds(input({ local: null, trigger: leaf, leaf: seen }))).toEqual(['clear-leaf', 'append']);
  });
  it('an abandoned spawn (no spawn of ours) fails and is retried after a grace period', () => {
    const out = decide(
      input({ rec: rec({ state: 'starting', pid: null }), local: null, tree: null, trigger: { kind: 'abandoned', pids: [30] } }),
    );
    expect(out.map((a) => a.kind)).toEqual(['kill-pids', 'append', 'enqueue-start']);
    expect(out[1]).toMatchObject({ events: [{ type: 'spawn_failed' }, { type: 'restart_scheduled', delayMs: 7000 }] });
  });
});

/** The drift event (kind and reason) a decision appends, if any. */
const drift = (i: DecideInput) => {
  for (const a of decide(i)) if (a.kind === 'append') for (const e of a.events) if (e.type === 'drift') return [e.kind, e.detail];
  return null;
};
describe('decide: every drift kind and its reason, from plain data', () => {
  it.each([
    ['missed-exit', input({ local: null, tree: gone }), 'leader 10 ended unseen'],
    [
      'leftovers',
      input({ local: null, tree: { members: [11, 12], groupAlive: true, leader: 'gone' } }),
      'leader 10 gone, 2 left in its tree',
    ],
    [
      'pid-reused (reused pid)',
      input({ local: null, tree: { members: [], groupAlive: false, leader: 'reused' } }),
      'pid 10 was reused by another process',
    ],
    ['pid-reused (reboot)', input({ local: null, bootId: 'b2', tree: null }), 'host rebooted (boot id b is now b2)'],
    [
      'alive-after-end',
      input({ rec: rec({ state: 'stopped', desired: 'stopped' }), local: null, tree: { members: [11], groupAlive: true, leader: 'gone' } }),
      '1 alive after it stopped',
    ],
    [
      'stale-run',
      input({ rec: rec({ runId: 'r2' }), local: localOf({ runId: 'r1' }), tree: { members: [10], groupAlive: true, leader: 'alive' } }),
      'h still ran run r1, which is no longer current: stopping its tree',
    ],
    [
      'orphan (cookie)',
      input({ rec: rec({ runId: 'r2' }), local: null, trigger: { kind: 'orphans', pids: [20], run: 'r1' } }),
      'carries the cookie of p on h, no current run claims it',
    ],
    [
      'orphan (leaf)',
      input({ local: null, trigger: { kind: 'leaf', leaf: 'p@r0', run: 'r0' }, leaf: { path: '/sys/fs/cgroup/x/p@r0', members: [40] } }),
      'cgroup /sys/fs/cgroup/x/p@r0 of run r0 held 1 processes no live run claims: killed, removed',
    ],
    [
      'escaped',
      input({
        rec: rec({ cgroup: '/reapq@h/p@r1' }),
        tree: {
          members: [10, 12],
          groupAlive: false,
          leader: 'alive',
          escaped: [
            { pid: 10, comm: 'sleep', cgroup: '/' },
            { pid: 12, comm: 'sh', cgroup: null },
          ],
        },
      }),
      '2 outside its cgroup /reapq@h/p@r1: pid 10 (sleep) in /, pid 12 (sh) in an unknown cgroup',
    ],
  ])('%s', (name, i, detail) => {
    expect(drift(i)).toEqual([name.split(' ')[0], detail]);
  });

  it('names members outside the leaf once, then stops them as any member', () => {
    const escaped = [{ pid: 10, comm: 'sleep', cgroup: '/' }];
    const tree = { members: [10], groupAlive: false, leader: 'alive' as const, escaped };
    const stopping = rec({ desired: 'stopped', state: 'stopping', stopSignal: 'SIGTERM' });
    expect(kinds(input({ rec: stopping, tree }))).toEqual(['append']);
    expect(kinds(input({ rec: stopping, tree, local: localOf({ escapedNamed: [10] }) }))).toEqual(['signal', 'append', 'requeue']);
    // One that left later is named too, alone.
    const later = { ...tree, members: [10, 14], escaped: [...escaped, { pid: 14, comm: 'sh', cgroup: '/' }] };
    expect(decide(input({ rec: stopping, tree: later, local: localOf({ escapedNamed: [10] }) }))).toMatchObject([
      { kind: 'append', events: [{ type: 'drift', kind: 'escaped', pids: [14], detail: '1 outside its cgroup (none): pid 14 (sh) in /' }] },
    ]);
    // Held by no worker yet (adopted first): named once it is.
    expect(kinds(input({ tree, local: null }))).toEqual(['adopt']);
  });

  it('a leftover leaf is cleared; the leaf of the run held here, or of the current run, is left alone', () => {
    const t = { kind: 'leaf' as const, leaf: 'p@r0', run: 'r0' };
    expect(kinds(input({ local: null, trigger: t, leaf: { path: 'x', members: [] } }))).toEqual(['clear-leaf']);
    expect(kinds(input({ local: localOf({ leaf: 'p@r0' }), trigger: t, leaf: { path: 'x', members: [40] } }))).toEqual([]);
    expect(kinds(input({ local: null, rec: rec({ runId: 'r0' }), trigger: t, leaf: { path: 'x', members: [40] } }))).toEqual([]);
    // A pending record gets no drift event (nothing of it runs yet), but the leaf still goes.
    expect(
      kinds(input({ local: null, rec: rec({ state: 'pending', host: null }), trigger: t, leaf: { path: 'x', members: [40] } })),
    ).toEqual(['clear-leaf']);
  });
});
