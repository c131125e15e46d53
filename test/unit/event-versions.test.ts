import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BASELINE_VERSION,
  currentVersion,
  describeVersions,
  downcast,
  fleetVersions,
  FIRST_TYPES,
  NOT_READ,
  NotInOlderVersionError,
  REJOIN_WINDOW_MS,
  readableVersions,
  upcast,
  VERSION_STEPS,
  writeVersions,
  type RawEvent,
} from '../../src/shared/event-versions.js';
import { decodeEvent, encodeEvent, EVENT_TYPES, withVersion, type ReapqEvent } from '../../src/shared/events.js';
import { fold } from '../../src/shared/reducer.js';
import { VERSIONED_TYPES } from '../../src/shared/fleet-view.js';
import { samplesOf } from '../helpers/event-samples.js';

// Stored samples of every version of every event type, as a release of that version wrote
// them: test/fixtures/events/<type>.json is { "<version>": [{ "written by", "event", "as current"? }] }.
// A change of shape adds a step in src/shared/event-versions.ts and keeps the old samples here.
const DIR = new URL('../fixtures/events/', import.meta.url);
const fixtures = (type: string) => samplesOf(DIR, type);

describe('event versions', () => {
  it('keeps stored samples of every version of every event type, and no fixture of a type it does not know', () => {
    for (const type of EVENT_TYPES) {
      const byVersion = fixtures(type);
      for (let v = BASELINE_VERSION; v <= currentVersion(type); v++) expect(byVersion[v]?.length, `${type} v${v}`).toBeGreaterThan(0);
      expect(Object.keys(byVersion).map(Number)).toEqual(Array.from({ length: currentVersion(type) }, (_, i) => i + 1));
    }
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of Object.keys(VERSION_STEPS).filter((k) => !k.startsWith('deploy.'))) expect(EVENT_TYPES).toContain(type);
  });

  it('reads every stored sample of every version into the current shape of its type', () => {
    for (const type of EVENT_TYPES) {
      for (const [v, samples] of Object.entries(fixtures(type))) {
        for (const s of samples) {
          expect(s.event.v, `${type} sample filed under v${v}`).toBe(Number(v));
          const read = decodeEvent(JSON.stringify(s.event));
          expect(read.v).toBe(currentVersion(type));
          if (s['as current']) expect(read).toEqual(decodeEvent(JSON.stringify(s['as current'])));
        }
      }
    }
  });

  it('folds an older sample to the same record as its current shape', () => {
    for (const type of EVENT_TYPES) {
      for (const s of Object.values(fixtures(type)).flat()) {
        if (!s['as current'] || type !== 'start_requested') continue;
        const old = fold([decodeEvent(JSON.stringify(s.event))], 'p1');
        expect(old).toEqual(fold([decodeEvent(JSON.stringify(s['as current']))], 'p1'));
        expect(old).toMatchObject({ ready: s['as current'].spec && (s['as current'].spec as RawEvent).ready });
      }
    }
  });

  it('folds a stream the first release wrote (no run ids, no ready/service/limits in the spec)', () => {
    const f = JSON.parse(readFileSync(new URL('streams/first-release-stop.json', DIR), 'utf8')) as { id: string; events: RawEvent[] };
    const rec = fold(
      f.events.map((e) => decodeEvent(JSON.stringify(e))),
      f.id,
    );
    expect(rec).toMatchObject({
      id: 'p-old',
      state: 'stopped',
      endReason: 'stopped',
      pid: 4242,
      ready: null,
      service: null,
      revision: null,
      limits: null,
      runId: null,
      version: 7,
    });
  });

  it('writes an event at the version asked for, which an older reader reads and this one reads back unchanged', () => {
    const [sample] = fixtures('start_requested')['2']!;
    const current = decodeEvent(JSON.stringify(sample!.event));
    const asV1 = JSON.parse(encodeEvent(current, () => 1)) as RawEvent;
    expect(asV1.v).toBe(1);
    expect(decodeEvent(JSON.stringify(asV1))).toEqual(current);
    expect(JSON.parse(encodeEvent(current, () => 2))).toEqual(sample!.event);
    // Asking for a version past the type's current one writes the current one.
    expect(JSON.parse(encodeEvent(current, () => 9)).v).toBe(2);
  });

  it('stamps new events with the current version of their type', () => {
    const e: ReapqEvent = withVersion({ type: 'stop_requested', signal: 'SIGTERM', graceMs: 0 }, 5);
    expect(e).toEqual({ type: 'stop_requested', signal: 'SIGTERM', graceMs: 0, at: 5, v: 1 });
    expect(withVersion({ type: 'gave_up', reason: 'x' }, 1).v).toBe(currentVersion('gave_up'));
  });

  it('refuses a version newer than it reads, naming the type and the remedy', () => {
    expect(() => decodeEvent(JSON.stringify({ v: 3, at: 1, type: 'start_requested', spec: {} }))).toThrow(
      'event schema version 3 is newer than this reapq understands (2 for start_requested); upgrade reapq',
    );
    expect(() => decodeEvent(JSON.stringify({ v: 2, at: 1, type: 'stopped', how: 'requested' }))).toThrow(/newer .* \(1 for stopped\)/);
    expect(() => decodeEvent(JSON.stringify({ v: 0, at: 1, type: 'stopped', how: 'requested' }))).toThrow(/invalid event of type stopped/);
  });

  it('upcasts and downcasts as pure functions of plain objects', () => {
    const v1 = { v: 1, at: 1, type: 'start_requested', spec: { command: ['x'], ready: { kind: 'tcp', timeoutMs: 5 } } };
    const frozen = JSON.stringify(v1);
    const up = upcast(v1);
    expect(JSON.stringify(v1)).toBe(frozen);
    expect(up).toEqual({ ...v1, v: 2, spec: { ...v1.spec, service: null, revision: null, limits: null } });
    expect(downcast(up, 1)).toEqual({ ...up, v: 1 });
    expect(downcast(up, 2)).toBe(up);
    expect(upcast({ v: 1, at: 1, type: 'stopped' })).toEqual({ v: 1, at: 1, type: 'stopped' });
  });

  it('lets a fleet write only what every live reader reads', () => {
    const types = ['start_requested', 'stopped', 'repaired'];
    const mine = readableVersions(types);
    expect(mine).toEqual({ start_requested: 2, stopped: 1, repaired: 1 });
    // Every worker on this release: the newest shapes.
    expect(fleetVersions(types, [mine, mine])).toEqual({ start_requested: 2, stopped: 1, repaired: 1 });
    // A worker that announces nothing (before versioned events) reads the baseline of every
    // type it knew, and nothing of a type added since (repaired came with fsck).
    expect(fleetVersions(types, [mine, undefined])).toEqual({ start_requested: 1, stopped: 1, repaired: NOT_READ });
    // A reader of a newer release does not lift a type past what this one writes.
    expect(fleetVersions(types, [{ start_requested: 3, stopped: 2, repaired: 1 }])).toEqual({
      start_requested: 2,
      stopped: 1,
      repaired: 1,
    });
    // A reader that does not list a type reads it at the baseline if every release knew it, else not at all.
    expect(fleetVersions(types, [{ stopped: 1 }])).toEqual({ start_requested: 1, stopped: 1, repaired: NOT_READ });
    expect(fleetVersions(['deploy.requested', 'start_failed'], [{ start_requested: 2, repaired: 1 }])).toEqual({
      'deploy.requested': 1,
      start_failed: NOT_READ,
    });
    // The types every release reads are types this one knows, and the newer ones are not among them.
    for (const t of FIRST_TYPES) expect(VERSIONED_TYPES).toContain(t);
    expect(EVENT_TYPES.filter((t) => !FIRST_TYPES.has(t)).sort()).toEqual(['log_lost', 'repaired', 'start_failed']);
    // What a live reader cannot read at all is refused, not written.
    expect(() => downcast({ v: 1, at: 1, type: 'start_failed', reason: 'x' }, NOT_READ)).toThrow(
      'start_failed is an event type that a live worker of an earlier release cannot read (reapq hosts, EVENTS): not written until it is upgraded',
    );
    expect(() => downcast({ v: 1, at: 1, type: 'start_failed', reason: 'x' }, NOT_READ)).toThrow(NotInOlderVersionError);
    expect(describeVersions(mine)).toBe('v1, start_requested v2');
  });

  it('writes, per type, what every live worker reads; the baseline while a live one announces nothing or none is live', () => {
    const types = ['start_requested', 'stopped'];
    const mine = readableVersions(types);
    const up = (events?: Record<string, number>) => ({ alive: true, events });
    const gone = (events?: Record<string, number>) => ({ alive: false, events });
    // Only readers of this release: the newest shapes.
    expect(writeVersions(types, [up(mine), up(mine)])).toEqual({ start_requested: 2, stopped: 1 });
    // One live worker of the release before versioned events holds every type at v1 ...
    expect(writeVersions(types, [up(mine), up(undefined)])).toEqual({ start_requested: 1, stopped: 1 });
    // ... and so does one that reads start_requested only at v1.
    expect(writeVersions(types, [up({ start_requested: 1, stopped: 1 }), up(mine)])).toEqual({ start_requested: 1, stopped: 1 });
    // Once it is gone (shut down or expired), it holds nobody back.
    expect(writeVersions(types, [up(mine), gone(undefined), gone({ start_requested: 1 })])).toEqual({ start_requested: 2, stopped: 1 });
    // A worker that crashed (no clean shutdown) is expected back as the release it was: it
    // still counts for REJOIN_WINDOW_MS after its heartbeat expired.
    const crashed = (expiredAgoMs: number) => ({ alive: false, state: 'up', at: 1_000_000 - expiredAgoMs - 6000, ttlMs: 6000 });
    expect(writeVersions(types, [up(mine), crashed(60_000)], 1_000_000)).toEqual({ start_requested: 1, stopped: 1 });
    expect(writeVersions(types, [up(mine), crashed(REJOIN_WINDOW_MS)], 1_000_000)).toEqual({ start_requested: 2, stopped: 1 });
    expect(writeVersions(types, [up(mine), { ...crashed(1000), state: 'down' }], 1_000_000)).toEqual({ start_requested: 2, stopped: 1 });
    // Nobody live to ask: the baseline, which any release that comes next reads.
    expect(writeVersions(types, [])).toEqual({ start_requested: 1, stopped: 1 });
    expect(writeVersions(types, [gone(mine)])).toEqual({ start_requested: 1, stopped: 1 });
    // And what is chosen is what is stored: the v1 shape for a v1 fleet.
    const [sample] = fixtures('start_requested')['2']!;
    const e = decodeEvent(JSON.stringify(sample!.event));
    const asStored = (hosts: Parameters<typeof writeVersions>[1]) =>
      (JSON.parse(encodeEvent(e, (t) => writeVersions(EVENT_TYPES, hosts)[t]!)) as RawEvent).v;
    expect(asStored([up(mine), up(undefined)])).toBe(1);
    expect(asStored([up(readableVersions(EVENT_TYPES))])).toBe(2);
    expect(describeVersions(undefined)).toBe('v1 (not announced)');
  });
});
