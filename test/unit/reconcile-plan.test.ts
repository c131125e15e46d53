import { describe, it, expect } from 'vitest';
import { cgroupLeftovers, plan, type PlanInput, type Sighting } from '../../src/worker/reconcile/plan.js';
import { fold } from '../../src/shared/reducer.js';
import type { ReapqEvent } from '../../src/shared/events.js';
import type { ProcessRecord } from '../../src/shared/record.js';
import type { ProcStat } from '../../src/shared/proc-stat.js';
import type { Cookie } from '../../src/worker/tree.js';
import { procStat, SLEEP_SPEC } from '../helpers/fixtures.js';

const HOST = 'h1';
const FLEET = 'f1';
const OWNER = 'reapq/h1';
const SELF = 50;
const BOOT = 'boot-a';
const NOW = 1_700_000_000_000;

type Stage = 'starting' | 'running' | 'stopping' | 'stopped' | 'exited';

/** A valid record built by folding real events. The leader is pid=pgid=sid=`pid`, startTime 1000. */
function rec(
  id: string,
  stage: Stage,
  o: { pid?: number; host?: string; bootId?: string; killDeadline?: number | null } = {},
): ProcessRecord {
  const pid = o.pid ?? 100;
  const host = o.host ?? HOST;
  const at = NOW - 60_000;
  const evs: ReapqEvent[] = [
    {
      v: 1,
      at,
      type: 'start_requested',
      spec: { ...SLEEP_SPEC, command: ['sleep', '100'] },
    },
    { v: 1, at: at + 1, type: 'spawn_begun', host, port: null },
  ];
  if (stage !== 'starting') {
    evs.push({ v: 1, at: at + 2, type: 'spawned', host, pid, pgid: pid, sid: pid, startTime: 1000, bootId: o.bootId ?? BOOT, port: null });
  }
  if (stage === 'stopping' || stage === 'stopped') {
    evs.push({ v: 1, at: at + 3, type: 'stop_requested', signal: 'SIGTERM', graceMs: 5000 });
    if (o.killDeadline !== undefined) {
      evs.push({ v: 1, at: at + 4, type: 'signal_sent', signal: 'SIGTERM', pgid: pid, pids: [pid], killDeadline: o.killDeadline });
    }
  }
  if (stage === 'stopped') evs.push({ v: 1, at: at + 5, type: 'stopped', how: 'requested' });
  if (stage === 'exited') evs.push({ v: 1, at: at + 5, type: 'exited', code: 0, signal: null, how: 'exited' });
  const r = fold(evs, id)!;
  expect(r.state).toBe(stage);
  return r;
}

const proc = (pid: number, o: Partial<ProcStat> = {}): ProcStat => procStat(pid, { ppid: SELF, ...o });
const worker = proc(SELF, { ppid: 1, startTime: 10 });

function input(o: Partial<PlanInput>): PlanInput {
  return {
    hostId: HOST,
    me: { owner: OWNER, fleet: FLEET },
    selfPid: SELF,
    bootId: BOOT,
    records: [],
    procs: [worker],
    cookies: new Map<number, Cookie>(),
    busy: new Set(),
    ownChildren: new Set(),
    ...o,
  };
}

/** Every pid an action would signal or reap. */
const targeted = (actions: Sighting[]): number[] => actions.flatMap((a) => ('pids' in a ? a.pids : []));

describe('plan: live records', () => {
  it('hands every live record nobody here holds to the controller, whatever its tree shows: decide() says what differs', () => {
    const healthy = [worker, proc(100), proc(101, { ppid: 100, pgid: 100, sid: 100, startTime: 1001 })];
    expect(plan(input({ records: [rec('a', 'running')], procs: healthy }))).toEqual([{ kind: 'look', id: 'a' }]);
    expect(plan(input({ records: [rec('a', 'running')] }))).toEqual([{ kind: 'look', id: 'a' }]);
    const stranger = proc(100, { ppid: 1, startTime: 9999 });
    const out = plan(input({ records: [rec('a', 'running')], procs: [worker, stranger] }));
    expect(out).toEqual([{ kind: 'look', id: 'a' }]);
    expect(targeted(out)).toEqual([]);
    expect(plan(input({ records: [rec('a', 'running', { bootId: 'boot-old' })], procs: [worker, proc(100)] }))).toEqual([
      { kind: 'look', id: 'a' },
    ]);
  });
});

describe('plan: ended records and orphans', () => {
  it('stops a stopped or exited record with a live member or cookie carrier', () => {
    const member = proc(101, { ppid: 1, pgid: 100, sid: 100, startTime: 1001 });
    expect(plan(input({ records: [rec('a', 'stopped')], procs: [worker, member] }))).toEqual([{ kind: 'look', id: 'a' }]);

    const carrier = proc(300, { ppid: 1, startTime: 2000 });
    const cookies = new Map<number, Cookie>([[300, { id: 'b', owner: OWNER, fleet: FLEET }]]);
    expect(plan(input({ records: [rec('b', 'exited', { pid: 200 })], procs: [worker, carrier], cookies }))).toEqual([
      { kind: 'look', id: 'b' },
    ]);
  });

  it('does nothing for an ended record that is fully gone', () => {
    expect(
      plan(input({ records: [rec('a', 'stopped'), rec('b', 'exited', { pid: 200 })], procs: [worker, proc(300, { ppid: 1 })] })),
    ).toEqual([]);
  });

  it('stops an orphan carrying this host cookie with no record of this host', () => {
    const cookies = new Map<number, Cookie>([
      [301, { id: 'ghost', owner: OWNER, fleet: FLEET }],
      [300, { id: 'ghost', owner: OWNER, fleet: FLEET }],
    ]);
    const procs = [worker, proc(300, { ppid: 1 }), proc(301, { ppid: 300 })];
    expect(plan(input({ procs, cookies }))).toEqual([{ kind: 'orphans', id: 'ghost', run: null, pids: [300, 301] }]);
  });

  it('ignores a cookie carrier owned by another host', () => {
    const cookies = new Map<number, Cookie>([[300, { id: 'ghost', owner: 'reapq/h2' }]]);
    expect(plan(input({ procs: [worker, proc(300, { ppid: 1 })], cookies }))).toEqual([]);
  });

  it('does not call a carrier an orphan when a record of this host claims its id', () => {
    const cookies = new Map<number, Cookie>([[300, { id: 'a', owner: OWNER, fleet: FLEET }]]);
    const out = plan(
      input({ records: [rec('a', 'running')], procs: [worker, proc(100), proc(300, { ppid: 1, startTime: 2000 })], cookies }),
    );
    expect(out).toEqual([{ kind: 'look', id: 'a' }]);
  });
});

describe('plan: another fleet, and an older release', () => {
  // Two installations on one machine (two Redis servers) with one prefix and host id: the
  // same REAPQ_OWNER, another REAPQ_FLEET.
  it("reports another fleet's carriers with this host id as foreign and hands them to nobody", () => {
    const cookies = new Map<number, Cookie>([
      [300, { id: 'p-theirs', owner: OWNER, fleet: 'f2', run: 'r1' }],
      [301, { id: 'p-theirs', owner: OWNER, fleet: 'f2', run: 'r1' }],
      [302, { id: 'p-ghost', owner: OWNER, fleet: FLEET }],
    ]);
    const procs = [worker, proc(300, { ppid: 1 }), proc(301, { ppid: 300 }), proc(302, { ppid: 1 })];
    expect(plan(input({ procs, cookies }))).toEqual([
      { kind: 'foreign', id: 'p-theirs', fleet: 'f2', pids: [300, 301] },
      { kind: 'orphans', id: 'p-ghost', run: null, pids: [302] },
    ]);
  });

  it("never counts another fleet's carrier of the same id as a member of a record's tree", () => {
    // Ids can meet across fleets only by chance, or by hand: the fleet decides.
    const cookies = new Map<number, Cookie>([[300, { id: 'b', owner: OWNER, fleet: 'f2' }]]);
    const carrier = proc(300, { ppid: 1, startTime: 2000 });
    expect(plan(input({ records: [rec('b', 'exited', { pid: 200 })], procs: [worker, carrier], cookies }))).toEqual([
      { kind: 'foreign', id: 'b', fleet: 'f2', pids: [300] },
    ]);
    expect(plan(input({ records: [rec('a', 'starting')], procs: [worker, carrier], cookies }))).toEqual([
      { kind: 'abandoned', id: 'a', pids: [] },
      { kind: 'foreign', id: 'b', fleet: 'f2', pids: [300] },
    ]);
  });

  it("takes a carrier of no fleet (an older release's) for this fleet's only by a record of its id", () => {
    const cookies = new Map<number, Cookie>([
      [300, { id: 'a', owner: OWNER, run: 'r-old' }],
      [301, { id: 'p-unknown', owner: OWNER }],
      [302, { id: 'b', owner: OWNER }],
    ]);
    const procs = [worker, proc(100), proc(300, { ppid: 1 }), proc(301, { ppid: 1 }), proc(302, { ppid: 1, startTime: 2000 })];
    const records = [{ ...rec('a', 'running'), runId: 'r-new' }, rec('b', 'exited', { pid: 200 })];
    expect(plan(input({ records, procs, cookies }))).toEqual([
      { kind: 'look', id: 'a' },
      // A record of b read by this pass: its carrier is b's, as before fleets.
      { kind: 'look', id: 'b' },
      // A's record names another run: an orphan of a's, this fleet's by a's record.
      { kind: 'orphans', id: 'a', run: 'r-old', pids: [300] },
      // No record read: decide() reads the id's record, and without one leaves it alone.
      { kind: 'orphans', id: 'p-unknown', run: null, pids: [301], legacy: true },
    ]);
  });
});

describe('plan: zombies', () => {
  it('reaps zombie children of the worker that are not its own spawned children', () => {
    const procs = [worker, proc(400, { state: 'Z' }), proc(401, { state: 'Z' }), proc(402, { ppid: 1, state: 'Z' })];
    expect(plan(input({ procs, ownChildren: new Set([401]) }))).toEqual([{ kind: 'reap', pids: [400] }]);
    expect(plan(input({ procs, ownChildren: new Set([400, 401]) }))).toEqual([]);
  });
});

describe('plan: interrupted work', () => {
  it('hands an interrupted stop to the controller (decide() resumes or escalates it)', () => {
    const procs = [worker, proc(100)];
    expect(plan(input({ records: [rec('a', 'stopping', { killDeadline: NOW - 1 })], procs }))).toEqual([{ kind: 'look', id: 'a' }]);
  });

  it('reports an abandoned spawn for a starting record nobody is spawning, with its carriers', () => {
    const cookies = new Map<number, Cookie>([
      [300, { id: 'a', owner: OWNER, fleet: FLEET }],
      [301, { id: 'a', owner: 'reapq/h2' }],
    ]);
    const procs = [worker, proc(300), proc(301)];
    expect(plan(input({ records: [rec('a', 'starting')], procs, cookies }))).toEqual([{ kind: 'abandoned', id: 'a', pids: [300] }]);
    expect(plan(input({ records: [rec('a', 'starting')] }))).toEqual([{ kind: 'abandoned', id: 'a', pids: [] }]);
  });

  it('skips busy records, and does not call their carriers orphans', () => {
    const cookies = new Map<number, Cookie>([[300, { id: 'a', owner: OWNER, fleet: FLEET }]]);
    const records = [rec('a', 'running'), rec('b', 'starting'), rec('c', 'stopping', { pid: 200, killDeadline: NOW - 1 })];
    const out = plan(input({ records, procs: [worker, proc(300)], cookies, busy: new Set(['a', 'b', 'c']) }));
    expect(out).toEqual([]);
  });

  it('skips records of another host', () => {
    const out = plan(input({ records: [rec('a', 'running', { host: 'h2' }), rec('b', 'starting', { host: 'h2' })] }));
    expect(out).toEqual([]);
  });
});

describe('cgroup leftovers', () => {
  it("claims only the leaf of a live record's current run on this host; every other leaf is a leftover", () => {
    const live = { ...rec('web', 'running'), runId: 'r2' };
    const done = { ...rec('old', 'stopped'), runId: 'r1' };
    const elsewhere = { ...rec('moved', 'running', { host: 'h2' }), runId: 'r5' };
    const leaves = ['web@r2', 'web@r1', 'old@r1', 'gone@r9', 'moved@r5', 'spawning@r7', 'not-a-leaf'];
    expect(cgroupLeftovers(leaves, [live, done, elsewhere], HOST, new Set(['spawning']))).toEqual([
      { leaf: 'web@r1', id: 'web', run: 'r1' },
      { leaf: 'old@r1', id: 'old', run: 'r1' },
      { leaf: 'gone@r9', id: 'gone', run: 'r9' },
      { leaf: 'moved@r5', id: 'moved', run: 'r5' },
    ]);
  });
});
