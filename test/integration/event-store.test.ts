import { beforeEach, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/shared/event-store.js';
import { makeKeys } from '../../src/shared/keys.js';
import { SLEEP_SPEC } from '../helpers/fixtures.js';
import { freshStore, useRedis } from '../helpers/store.js';

const redis = useRedis();

const spec = SLEEP_SPEC;

describe('event store', () => {
  let store: EventStore;
  let keys: ReturnType<typeof makeKeys>;
  beforeEach(() => {
    ({ store, keys } = freshStore(redis));
  });

  it('appends, projects and indexes in one step', async () => {
    const { record } = await store.transact('a', () => [{ type: 'start_requested', spec }]);
    expect(record?.state).toBe('pending');
    expect(record?.version).toBe(1);
    expect(await store.get('a')).toEqual(record);
    expect(await redis.zrange(keys.allIndex, 0, '-1')).toEqual(['a']);
    expect(await redis.xlen(keys.globalStream)).toBe(1);
    const evs = await store.readEvents('a');
    expect(evs.map((e) => [e.version, e.event.type])).toEqual([[1, 'start_requested']]);
  });

  it('loses no event and keeps order under 200 concurrent writers', async () => {
    await store.transact('c', () => [{ type: 'start_requested', spec }]);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.transact('c', (cur) => [{ type: 'drift', kind: 'orphan', detail: `w${i} after v${cur?.version}`, pids: [i] }]),
      ),
    );
    const evs = await store.readEvents('c');
    expect(evs).toHaveLength(201);
    expect(evs.map((e) => e.version)).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
    const writers = evs.slice(1).map((e) => (e.event.type === 'drift' ? e.event.pids[0] : -1));
    expect(new Set(writers).size).toBe(200);
    // Each writer decided on the record it appended after: its detail names the version before it.
    evs.slice(1).forEach((e, i) => expect(e.event.type === 'drift' && e.event.detail.endsWith(`v${i + 1}`)).toBe(true));
    expect((await store.get('c'))?.version).toBe(201);
  });

  it('rebuilds from the stream alone exactly the stored record', async () => {
    await store.transact('r', () => [{ type: 'start_requested', spec }]);
    await store.transact('r', () => [{ type: 'spawn_begun', host: 'h1', port: 20001 }]);
    await store.transact('r', () => [{ type: 'spawned', host: 'h1', pid: 10, pgid: 10, sid: 10, startTime: 5, bootId: 'b', port: 20001 }]);
    await store.transact('r', () => [{ type: 'stop_requested', signal: 'SIGTERM', graceMs: 100 }]);
    await store.transact('r', () => [
      { type: 'signal_sent', signal: 'SIGTERM', pgid: 10, pids: [-10], killDeadline: 123 },
      { type: 'exited', code: null, signal: 'SIGTERM', how: 'signaled' },
    ]);
    await store.transact('r', () => [{ type: 'stopped', how: 'requested' }]);
    const stored = await store.get('r');
    expect(stored?.state).toBe('stopped');
    expect(await store.rebuild('r')).toEqual(stored);
  });

  it('rejects an event the reducer refuses and writes nothing', async () => {
    await store.transact('x', () => [{ type: 'start_requested', spec }]);
    await expect(store.transact('x', () => [{ type: 'stopped', how: 'requested' }])).rejects.toThrow(/not allowed in state pending/);
    expect((await store.get('x'))?.version).toBe(1);
    expect(await redis.xlen(keys.stream('x'))).toBe(1);
  });

  it('refuses to read an event from a newer schema', async () => {
    await store.transact('n', () => [{ type: 'start_requested', spec }]);
    await redis.xadd(keys.stream('n'), '2-0', 'e', JSON.stringify({ v: 99, at: 1, type: 'warp' }));
    await expect(store.readEvents('n')).rejects.toThrow(/schema version 99 is newer/);
  });

  it('keeps records of hosts in their host index and moves them on restart', async () => {
    await store.transact('h', () => [{ type: 'start_requested', spec: { ...spec, restart: 'always' } }]);
    await store.transact('h', () => [
      { type: 'spawn_begun', host: 'h1', port: null },
      { type: 'spawn_failed', host: 'h1', error: 'x' },
    ]);
    expect((await store.ofHost('h1')).map((r) => r.id)).toEqual(['h']);
    await store.transact('h', () => [{ type: 'restart_scheduled', attempt: 1, delayMs: 0 }]);
    expect(await store.ofHost('h1')).toEqual([]);
    expect(await redis.smembers(keys.hostIndex('h1'))).toEqual([]);
  });

  it('enters a record that stops being live on a host in its ended index, scored by when, until removed', async () => {
    let now = 1_000_000;
    const timed = new EventStore(redis, keys, 1000, () => now);
    await timed.transact('e1', () => [{ type: 'start_requested', spec }]);
    await timed.transact('e1', () => [{ type: 'spawn_begun', host: 'h1', port: null, run: 'r1' }]);
    await timed.transact('live', () => [{ type: 'start_requested', spec }]);
    await timed.transact('live', () => [{ type: 'spawn_begun', host: 'h1', port: null, run: 'r2' }]);
    // A record that was never live on the host (stopped while pending) is not in it.
    await timed.transact('never', () => [{ type: 'start_requested', spec }]);
    await timed.transact('never', () => [{ type: 'stop_requested', signal: 'SIGTERM', graceMs: 1 }]);
    expect(await redis.zrange(keys.endedIndex('h1'), 0, '-1')).toEqual([]);
    now = 2_000_000;
    await timed.transact('e1', () => [{ type: 'spawn_failed', host: 'h1', run: 'r1', error: 'x' }]);
    expect(await redis.zrange(keys.endedIndex('h1'), 0, '-1', 'WITHSCORES')).toEqual(['e1', '2000000']);
    // Another event of the finished record does not move its score.
    now = 3_000_000;
    await timed.transact('e1', () => [{ type: 'drift', kind: 'orphan', detail: 'x', pids: [1] }]);
    expect(await redis.zscore(keys.endedIndex('h1'), 'e1')).toBe('2000000');
    expect((await timed.readEnded('h1', 2_000_000)).records.map((r) => r.id)).toEqual(['e1']);
    expect((await timed.readEnded('h1', 2_000_001)).records).toEqual([]);
    // What a sweep read before its start is dropped from the index.
    expect(await redis.zcard(keys.endedIndex('h1'))).toBe(0);
    await timed.transact('live', () => [{ type: 'spawn_failed', host: 'h1', run: 'r2', error: 'x' }]);
    expect(await redis.zrange(keys.endedIndex('h1'), 0, '-1')).toEqual(['live']);
    expect(await timed.remove((await timed.get('live'))!)).toBe(true);
    expect(await redis.exists(keys.endedIndex('h1'))).toBe(0);
  });

  it('compacts a finished record into a list that reads, rebuilds and grows like the stream', async () => {
    await store.transact('k', () => [{ type: 'start_requested', spec }]);
    await store.transact('k', () => [{ type: 'spawn_begun', host: 'h1', port: null }]);
    await store.transact('k', () => [{ type: 'spawned', host: 'h1', pid: 10, pgid: 10, sid: 10, startTime: 5, bootId: 'b', port: null }]);
    await store.transact('k', () => [{ type: 'exited', code: 0, signal: null, how: 'exited' }]);
    const before = await store.readEvents('k');
    const rec = (await store.get('k'))!;
    expect(await store.compact({ ...rec, version: rec.version - 1 })).toBe(false); // judged on a stale version: nothing moves
    expect(await store.compact(rec)).toBe(true);
    expect(await redis.exists(keys.stream('k'))).toBe(0);
    expect(await store.readEvents('k')).toEqual(before);
    expect(await store.readEvents('k', 2)).toEqual(before.slice(2));
    expect(await store.rebuild('k')).toEqual(rec);
    // A later event (a stop on the finished record) starts a new stream after the archive.
    await store.transact('k', () => [{ type: 'stop_requested', signal: 'SIGTERM', graceMs: 10 }]);
    expect((await store.readEvents('k')).map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
    expect(await store.rebuild('k')).toEqual(await store.get('k'));
    expect(await store.remove((await store.get('k'))!)).toBe(true);
    expect(await redis.exists(keys.archive('k'), keys.stream('k'), keys.record('k'))).toBe(0);
  });
});
