import { describe, expect, it } from 'vitest';
import { withVersion, type EventDraft, type ReapqEvent } from '../../src/shared/events.js';
import { compareStore, type HostSnapshot, type RecordSnapshot, type StoreSnapshot } from '../../src/shared/fsck.js';
import { fold } from '../../src/shared/reducer.js';
import { SLEEP_SPEC } from '../helpers/fixtures.js';

const T0 = 1_767_000_000_000;
const spec = { ...SLEEP_SPEC, command: ['sleep', '100'], port: 'auto' as const };
const evs = (ds: EventDraft[]): ReapqEvent[] => ds.map((d, i) => withVersion(d, T0 + i));
const running = (run: string, port = 41000): ReapqEvent[] =>
  evs([
    { type: 'start_requested', spec },
    { type: 'spawn_begun', host: 'h1', port, run },
    { type: 'spawned', host: 'h1', pid: 100, pgid: 100, sid: 100, startTime: 1, bootId: 'b', port, run },
  ]);
const pending = (): ReapqEvent[] => evs([{ type: 'start_requested', spec }]);

/** A record as the append script stores it: the projection is the fold of its events. */
function snap(id: string, events: ReapqEvent[]): RecordSnapshot {
  const rec = fold(events, id)!;
  return { id, projection: JSON.stringify(rec), hashVersion: rec.version, hashRun: rec.runId, events, score: Date.parse(rec.createdAt) };
}
const host = (h: Partial<HostSnapshot> = {}): HostSnapshot => ({ hostIndex: [], live: [], ended: [], ports: {}, heartbeat: 'down', ...h });

/** A store that agrees with itself: a running record on h1 with port 41000 leased, a pending one with its job. */
function healthy(): StoreSnapshot {
  return {
    records: [snap('run1', running('r1')), snap('pend1', pending())],
    hosts: { h1: host({ hostIndex: ['run1'], live: ['run1'], ports: { '41000': 'run1' } }) },
    pending: ['pend1'],
    counts: { 'running h1': 1, 'pending ': 1 },
    liveBuilt: true,
    startJobs: { pend1: 'waiting' },
  };
}

describe('fsck comparison', () => {
  it('finds nothing in a store that agrees with its events', () => {
    const plan = compareStore(healthy());
    expect(plan).toEqual({ problems: [], repairs: [], recount: false, records: 2 });
  });

  it('names a projection that disagrees with its events, with what the events say, and plans its rewrite', () => {
    const s = healthy();
    const stale = { ...JSON.parse(s.records[0]!.projection!), state: 'exited', pid: null };
    s.records[0] = { ...s.records[0]!, projection: JSON.stringify(stale) };
    s.counts = { 'exited h1': 1, 'pending ': 1 };
    const plan = compareStore(s);
    expect(plan.problems.filter((p) => p.kind === 'projection').map((p) => p.what)).toEqual([
      'projection state: "exited", events say "running"',
      'projection pid: null, events say 100',
    ]);
    expect(plan.problems[0]).toMatchObject({ id: 'run1', events: 'running on h1, version 3', repairable: true });
    expect(plan.repairs).toHaveLength(1);
    expect(plan.repairs[0]).toMatchObject({ id: 'run1', rewrite: true, hashVersion: 3, eventsVersion: 3, oldCountsField: 'exited h1' });
    expect(plan.repairs[0]!.record).toEqual(fold(running('r1'), 'run1'));
    // The counts were right for the projection, wrong for the events: recounted too.
    expect(plan.problems.filter((p) => p.kind === 'count').map((p) => p.what)).toEqual([
      'exited on h1: counted 1',
      'running on h1: counted 0',
    ]);
    expect(plan.recount).toBe(true);
  });

  it('names a record missing from its live index, a stray in another host index, and plans the moves', () => {
    const s = healthy();
    s.hosts.h1!.live = [];
    s.hosts.h2 = host({ hostIndex: ['run1'], heartbeat: 'alive' });
    const plan = compareStore(s);
    expect(plan.problems.map((p) => `${p.id} ${p.kind}: ${p.what}`)).toEqual([
      'run1 host-index: host index of h2: names it',
      'run1 live-index: live index of h1: missing',
    ]);
    expect(plan.repairs[0]!.ops).toEqual([
      { op: 'srem', ref: { index: 'host', host: 'h2' }, member: 'run1' },
      { op: 'sadd', ref: { index: 'live', host: 'h1' }, member: 'run1' },
    ]);
    expect(plan.repairs[0]!.rewrite).toBe(false);
  });

  it('names a count off by one, and nothing else', () => {
    const s = healthy();
    s.counts!['running h1'] = 2;
    const plan = compareStore(s);
    expect(plan.problems).toEqual([
      { id: 'counts', kind: 'count', what: 'running on h1: counted 2', events: '1 record', repairable: true },
    ]);
    expect(plan).toMatchObject({ recount: true, repairs: [] });
  });

  it('names a pending record with no start job, or one that failed, and plans to put it back', () => {
    for (const job of [null, 'failed', 'completed']) {
      const s = healthy();
      s.startJobs.pend1 = job;
      const plan = compareStore(s);
      expect(plan.problems.map((p) => p.what)).toEqual([`pending with ${job === null ? 'no start job' : `its start job ${job}`}`]);
      expect(plan.repairs[0]).toMatchObject({ id: 'pend1', enqueueStart: true, ops: [], rewrite: false });
    }
    const s = healthy();
    s.startJobs.pend1 = 'delayed';
    expect(compareStore(s).problems).toEqual([]);
  });

  it('names a lease with no holder, a live record without its lease, and a lease of a record that moved on', () => {
    const s = healthy();
    s.hosts.h1!.ports = { '41000': 'gone', '41001': 'run1' };
    const plan = compareStore(s);
    expect(plan.problems.map((p) => `${p.id} ${p.kind}: ${p.what}`)).toEqual([
      'run1 lease: port 41001 of h1 is leased to it, which is running on h1 with port 41000',
      'run1 port: port 41000 on h1: leased to gone',
      'gone lease: port 41000 of h1 is leased to it, which does not exist',
    ]);
    expect(plan.problems.find((p) => p.kind === 'port')!.repairable).toBe(false);
    expect(plan.repairs.find((r) => r.id === 'gone')).toMatchObject({
      record: null,
      ops: [{ op: 'hdel-if', ref: { index: 'ports', host: 'h1' }, field: '41000', value: 'gone' }],
    });
  });

  it('leaves a port leased to a pending record alone (leased just before its spawn is appended)', () => {
    const s = healthy();
    s.hosts.h1!.ports['41005'] = 'pend1';
    expect(compareStore(s).problems).toEqual([]);
  });

  it('plans to grant the lease a live record lost, and to drop index entries of an id that has no record', () => {
    const s = healthy();
    s.hosts.h1!.ports = {};
    s.hosts.h1!.live.push('ghost');
    s.pending.push('ghost');
    s.records.push({ id: 'ghost', projection: null, hashVersion: 0, hashRun: null, events: [], score: null });
    const plan = compareStore(s);
    expect(plan.repairs.map((r) => [r.id, r.ops])).toEqual([
      ['run1', [{ op: 'hsetnx', ref: { index: 'ports', host: 'h1' }, field: '41000', value: 'run1' }]],
      [
        'ghost',
        [
          { op: 'srem', ref: { index: 'live', host: 'h1' }, member: 'ghost' },
          { op: 'srem', ref: { index: 'pending' }, member: 'ghost' },
        ],
      ],
    ]);
  });

  it('writes a missing projection from the events, with its index entries', () => {
    const s = healthy();
    s.records[0] = { ...s.records[0]!, projection: null, hashVersion: 0, hashRun: null, score: null };
    s.hosts.h1!.hostIndex = [];
    const plan = compareStore(s);
    expect(plan.problems.map((p) => p.kind)).toEqual(['no-record', 'projection', 'projection', 'all-index', 'host-index']);
    expect(plan.repairs[0]).toMatchObject({ rewrite: true, hashVersion: 0, oldCountsField: null });
  });

  it('reports, and never plans to rewrite, a record whose events cannot be read or do not fold, or that has none', () => {
    const s = healthy();
    s.records[0] = { ...s.records[0]!, events: { error: 'invalid event of type teleported' } };
    s.records[1] = { ...s.records[1]!, events: [] };
    const plan = compareStore(s);
    expect(plan.problems.map((p) => `${p.id} ${p.kind}: ${p.what} (${p.repairable})`)).toEqual([
      'run1 unreadable: events cannot be read: invalid event of type teleported (false)',
      'pend1 unreadable: has a projection but no events (false)',
    ]);
    expect(plan.repairs).toEqual([]);
    const bad = healthy();
    bad.records[0] = { ...bad.records[0]!, events: [...running('r1').slice(0, 1), ...running('r1').slice(2)] };
    expect(compareStore(bad).problems[0]!.what).toMatch(/does not fold at version 2: stale run r1/);
  });

  it('names a live record whose host has no heartbeat (nothing would ever serve it or mark it lost)', () => {
    const s = healthy();
    s.hosts.h1!.heartbeat = null;
    expect(compareStore(s).problems).toEqual([expect.objectContaining({ id: 'run1', kind: 'no-way-forward', repairable: false })]);
    for (const beat of ['alive', 'down', 'expired'] as const) {
      s.hosts.h1!.heartbeat = beat;
      expect(compareStore(s).problems).toEqual([]);
    }
  });

  it('leaves the live indexes and the counts alone while they were never built', () => {
    const s = healthy();
    s.hosts.h1!.live = [];
    s.counts = null;
    s.liveBuilt = false;
    expect(compareStore(s).problems).toEqual([]);
  });
});
