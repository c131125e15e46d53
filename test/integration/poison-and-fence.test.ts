import { beforeEach, describe, expect, it } from 'vitest';
import { CorruptRecordError, StaleRunError } from '../../src/shared/errors.js';
import { EventStore } from '../../src/shared/event-store.js';
import { makeKeys } from '../../src/shared/keys.js';
import { SLEEP_SPEC } from '../helpers/fixtures.js';
import { freshStore, useRedis } from '../helpers/store.js';

const redis = useRedis();

const spec = SLEEP_SPEC;

describe('run fence and poison-proof reads', () => {
  let store: EventStore;
  let keys: ReturnType<typeof makeKeys>;
  let reported: string[];
  beforeEach(() => {
    reported = [];
    ({ store, keys } = freshStore(redis, (_id, problem) => reported.push(problem)));
  });

  async function spawnedRun(id: string, run: string): Promise<void> {
    await store.transact(id, () => [{ type: 'start_requested', spec }]);
    await store.transact(id, () => [{ type: 'spawn_begun', host: 'h', port: null, run }]);
    await store.transact(id, () => [
      { type: 'spawned', host: 'h', pid: 10, pgid: 10, sid: 10, startTime: 1, bootId: 'b', port: null, run },
    ]);
  }

  it('keeps the current run on the record and refuses events of another run', async () => {
    await spawnedRun('a', 'r1');
    expect((await store.get('a'))?.runId).toBe('r1');
    await expect(store.transact('a', () => [{ type: 'exited', code: 0, signal: null, how: 'exited', run: 'r0' }])).rejects.toBeInstanceOf(
      StaleRunError,
    );
    expect((await store.get('a'))?.state).toBe('running');
    await store.transact('a', () => [{ type: 'exited', code: 0, signal: null, how: 'exited', run: 'r1' }]);
    expect((await store.get('a'))?.state).toBe('exited');
  });

  it('the append script itself refuses a stale run, whatever the caller folded', async () => {
    await spawnedRun('a', 'r1');
    // A writer that folds against a stale copy claiming run r0 is the current one.
    const stale = { ...(await store.get('a'))!, runId: 'r0' };
    await expect(
      store.transact('a', () => [{ type: 'exited', code: 0, signal: null, how: 'exited', run: 'r0' }], stale),
    ).rejects.toBeInstanceOf(StaleRunError);
    expect((await store.get('a'))?.state).toBe('running');
  });

  it('a corrupt record is skipped and named, the others are read', async () => {
    await store.transact('good', () => [{ type: 'start_requested', spec }]);
    await store.transact('bad', () => [{ type: 'start_requested', spec }]);
    await store.transact('worse', () => [{ type: 'start_requested', spec }]);
    await redis.hset(keys.record('bad'), 'r', '[');
    await redis.hset(keys.record('worse'), 'r', JSON.stringify({ id: 'worse', state: 'nonsense' }));
    const { records, corrupt } = await store.readMany(['good', 'bad', 'worse']);
    expect(records.map((r) => r.id)).toEqual(['good']);
    expect(corrupt.map((c) => c.id)).toEqual(['bad', 'worse']);
    expect(reported.join('\n')).toMatch(/record of bad is corrupt/);
    await expect(store.get('bad')).rejects.toBeInstanceOf(CorruptRecordError);
  });

  it('a garbage entry in a stream is moved aside: the process can still be appended to (stopped)', async () => {
    await spawnedRun('a', 'r1');
    await redis.xadd(keys.stream('a'), '99999-0', 'e', 'garbage');
    await expect(store.readEvents('a')).rejects.toThrow(/event stream of a is corrupt/);
    await store.transact('a', () => [{ type: 'stop_requested', signal: 'SIGTERM', graceMs: 100 }]);
    await store.transact('a', () => [{ type: 'stopped', how: 'requested', run: 'r1' }]);
    expect((await store.get('a'))?.state).toBe('stopped');
    expect(reported.join('\n')).toMatch(/event stream of a is corrupt/);
    expect(await redis.exists(`${keys.stream('a')}:corrupt`)).toBe(1);
    expect((await store.readEvents('a')).map((e) => e.event.type)).toEqual(['stop_requested', 'stopped']);
  });

  it('keeps the pending index: pending records in, others out', async () => {
    await store.transact('p', () => [{ type: 'start_requested', spec }]);
    expect(await store.pendingIds()).toEqual(['p']);
    await store.transact('p', () => [{ type: 'spawn_begun', host: 'h', port: null, run: 'r1' }]);
    expect(await store.pendingIds()).toEqual([]);
  });
});
