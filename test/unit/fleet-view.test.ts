import { describe, expect, it } from 'vitest';
import { readableVersions, writeVersions } from '../../src/shared/event-versions.js';
import { EVENT_TYPES } from '../../src/shared/events.js';
import {
  decodeFleetVersions,
  encodeFleetVersions,
  fleetReadsBatches,
  fleetVersions,
  FleetView,
  VERSIONED_TYPES,
} from '../../src/shared/fleet-view.js';

type Host = { alive: boolean; events?: Record<string, number> };
const NEW = readableVersions(VERSIONED_TYPES);
const OLD: Host = { alive: true }; // a worker of the release before versioned events announces nothing

/** A fleet whose hosts the test sets, counting the reads of it, on a clock the test moves. */
function fleet(hosts: Host[]) {
  let t = 1_000;
  const seen = { reads: 0, hosts };
  const view = new FleetView(
    async () => {
      seen.reads++;
      return writeVersions(EVENT_TYPES, seen.hosts);
    },
    500,
    () => t,
  );
  return { view, seen, tick: (ms: number) => (t += ms) };
}

describe("a writer's view of the fleet", () => {
  it('is stored by the fleet pass as the types not at v1, and batches, a few bytes whatever the fleet size', () => {
    const hosts = Array.from({ length: 200 }, (): Host => ({ alive: true, events: NEW }));
    expect(encodeFleetVersions(hosts, 0)).toBe('{"start_requested":2,"drift":2,"deploy.requested":2,"job.batches":1}');
    const stored = decodeFleetVersions(encodeFleetVersions(hosts, 0));
    expect(stored).toEqual({ start_requested: 2, drift: 2, 'deploy.requested': 2, 'job.batches': 1 });
    expect(fleetReadsBatches(stored)).toBe(true);
    // One worker from before announcements: v1 of what it knew, nothing of the types added since.
    expect(encodeFleetVersions([...hosts, OLD], 0)).toBe('{"start_failed":0,"log_lost":0,"repaired":0,"job.batches":0}');
    expect(fleetReadsBatches(decodeFleetVersions(encodeFleetVersions([...hosts, OLD], 0)))).toBe(false);
    // Stored by a release before batches (it names no job.batches): its workers cannot read them.
    expect(fleetReadsBatches(decodeFleetVersions('{"start_requested":2}'))).toBe(false);
    // No live worker at all: the first to come may be of a release before batches.
    expect(fleetReadsBatches(fleetVersions([], 0))).toBe(false);
    expect(fleetReadsBatches(decodeFleetVersions(encodeFleetVersions([], 0)))).toBe(false);
    expect(fleetReadsBatches(fleetVersions([{ alive: true, events: NEW }], 0))).toBe(true);
    // Unreadable: the baseline for every type (nothing stored: fleetView reads the heartbeats instead).
    expect(decodeFleetVersions(null)).toEqual({});
    expect(decodeFleetVersions('{"start_requested":"2"}')).toEqual({});
  });

  it('reads the hosts once for a burst of first writes, then serves every write from memory within a period', async () => {
    const { view, seen } = fleet([{ alive: true, events: NEW }]);
    const first = view.current();
    expect(first).toBeInstanceOf(Promise);
    const all = await Promise.all([first, view.current(), view.current()]);
    expect(all.map((v) => v.start_requested)).toEqual([2, 2, 2]);
    expect(seen.reads).toBe(1);
    for (let i = 0; i < 1000; i++) expect(view.current()).toMatchObject({ start_requested: 2 });
    expect(seen.reads).toBe(1);
  });

  it('after a period serves the write from memory and reads again behind it; the next write sees the change', async () => {
    const { view, seen, tick } = fleet([{ alive: true, events: NEW }, OLD]);
    expect((await view.current()).start_requested).toBe(1);
    // The old worker is gone.
    seen.hosts = [
      { alive: true, events: NEW },
      { ...OLD, alive: false },
    ];
    tick(499);
    expect(view.current()).toMatchObject({ start_requested: 1 });
    expect(seen.reads).toBe(1);
    tick(1);
    // Still the old view for this write (no wait on Redis), one read behind it ...
    expect(view.current()).toMatchObject({ start_requested: 1 });
    expect(view.current()).toMatchObject({ start_requested: 1 });
    expect(seen.reads).toBe(2);
    // ... which refresh() joins rather than repeats, and the next write uses.
    await view.refresh();
    expect(seen.reads).toBe(2);
    expect(view.current()).toMatchObject({ start_requested: 2 });
  });

  it('after an idle spell of a heartbeat ttl (three periods) waits for a fresh read before writing', async () => {
    const { view, seen, tick } = fleet([{ alive: true, events: NEW }]);
    expect((await view.current()).start_requested).toBe(2);
    // An old worker joined while this writer was idle.
    seen.hosts = [{ alive: true, events: NEW }, OLD];
    tick(1500);
    const next = view.current();
    expect(next).toBeInstanceOf(Promise);
    expect((await next).start_requested).toBe(1);
    expect(seen.reads).toBe(2);
  });

  it('keeps its view when a background read fails, and says so', async () => {
    let fail = false;
    const errors: string[] = [];
    let t = 0;
    const view = new FleetView(
      async () => {
        if (fail) throw new Error('Connection is closed.');
        return writeVersions(EVENT_TYPES, [{ alive: true, events: NEW }]);
      },
      100,
      () => t,
      (err) => errors.push(err.message),
    );
    await view.current();
    fail = true;
    t = 150;
    expect(view.current()).toMatchObject({ start_requested: 2 });
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual(['Connection is closed.']);
    expect(view.current()).toMatchObject({ start_requested: 2 });
  });
});
