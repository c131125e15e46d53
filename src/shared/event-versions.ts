/**
 * Event shapes by version: how an event stored at an older version of its type becomes the
 * current shape (upcast, on every read) and how a current event is written at an older
 * version (downcast, while some worker of the fleet reads only that one). Pure: plain
 * objects in, plain objects out; the schema check of the result is decodeEvent's.
 *
 * Versions are per type. Every type starts at 1, the version every event carried before
 * versions were per type. Changing a type's shape means appending a step to its list below
 * (version n to n+1 and back), a fixture of the old shape under test/fixtures/events/ (a
 * deploy event's under test/fixtures/deploy-events/), and nothing else: readers upcast in
 * one place, writers downcast in one place.
 *
 * Process events and deploy events are two families in one table: a deploy event type is
 * named `deploy.<type>` here, in a worker's announcement and in what the fleet writes, so
 * the two never share a name.
 */

import { ConflictError } from './errors.js';

/** An event as parsed from JSON, before its schema check. */
export type RawEvent = Record<string, unknown>;

/** Between version n and n+1 of one type: both directions, so a writer can serve an older reader. */
export interface VersionStep {
  /** What the step changed, and the commit of the older shape: read by humans and by the fixture test. */
  why: string;
  up(e: RawEvent): RawEvent;
  down(e: RawEvent): RawEvent;
}

/** The version every event of every type carried before versions were per type. */
export const BASELINE_VERSION = 1;

/** Which events a type name is of: process events go by their type, deploy events by `deploy.<type>`. */
export type EventFamily = 'process' | 'deploy';
/** The name of a type of a family in the table, announcements and the fleet's versions. */
export const versionKey = (type: string, family: EventFamily = 'process'): string => (family === 'deploy' ? `deploy.${type}` : type);

/**
 * What a live worker of the fleet cannot read (a shape its version cannot say, a type it
 * does not know): the write is refused with this message and nothing is stored. A conflict
 * with the fleet (HTTP 409), over once the older workers are upgraded.
 */
export class NotInOlderVersionError extends ConflictError {}

/** What a reader reads of a type it does not know at all: nothing, so no version of it may be written for it. */
export const NOT_READ = 0;

/**
 * The types every release of a fleet reads, announced or not: those of the release before
 * workers announced what they read (a5e6169). A type added since (repaired, start_failed,
 * ...) is read only by a worker that lists it.
 */
export const FIRST_TYPES: ReadonlySet<string> = new Set([
  ...['start_requested', 'spawn_begun', 'start_deferred', 'spawned', 'spawn_failed', 'stop_requested', 'signal_sent'],
  ...['exited', 'stopped', 'kill_pending', 'adopted', 'drift', 'lost', 'oom', 'restart_scheduled', 'gave_up', 'ready', 'not_ready'],
  ...['requested', 'began', 'superseded', 'revision_started', 'replica_ready', 'previous_stopped', 'rollback_begun'].map((t) =>
    versionKey(t, 'deploy'),
  ),
  ...['previous_restarted', 'succeeded', 'rolled_back'].map((t) => versionKey(t, 'deploy')),
]);

const specOf = (e: RawEvent): RawEvent => (typeof e.spec === 'object' && e.spec !== null ? (e.spec as RawEvent) : {});

/**
 * Index i of a type's list is the step from version i+1 to i+2, so a type's current version
 * is its number of steps plus one. Types not named here are at version 1.
 */
export const VERSION_STEPS: Readonly<Record<string, readonly VersionStep[]>> = {
  start_requested: [
    {
      why:
        'v2: the spec always carries ready, service, revision and limits. v1 grew them one release at a time ' +
        '(ready in a3cf558, service and revision in a20b6a3, limits in 6cfd110) and an older writer left them out.',
      up: (e) => ({ ...e, spec: { ready: null, service: null, revision: null, limits: null, ...specOf(e) } }),
      // Every v1 reader since 6cfd110 reads all four; older ones drop fields they do not know.
      down: (e) => e,
    },
  ],
  drift: [
    {
      why:
        "v2: kind may be escaped (a member found outside the run's cgroup leaf). A v1 reader knows the kinds before it " +
        'and would refuse the record as corrupt; it reads such a drift as leftovers, with the same detail and pids.',
      up: (e) => e,
      down: (e) => (e.kind === 'escaped' ? { ...e, kind: 'leftovers' } : e),
    },
  ],
  'deploy.requested': [
    {
      why:
        'v2: kind may be scale (7519353, reapq scale). A v1 reader (a20b6a3 on) knows deploy and stop only, and ' +
        'would refuse the whole deploy as corrupt.',
      up: (e) => e,
      down: (e) => {
        if (e.kind === 'scale')
          throw new NotInOlderVersionError(
            'a scale needs every live worker to read deploy event requested v2, and the fleet does not say so (yet): upgrade the workers that reapq hosts shows on v1, or retry once the fleet pass has run (REAPQ_RECONCILE_MS)',
          );
        return e;
      },
    },
  ],
};

/** The version of a type (a versionKey) this release reads and folds; a type it does not know reads as the baseline. */
export function currentVersion(type: string): number {
  return (VERSION_STEPS[type]?.length ?? 0) + BASELINE_VERSION;
}

/** Type -> the newest version this release reads, for the types listed (what a worker announces). */
export function readableVersions(types: readonly string[]): Record<string, number> {
  return Object.fromEntries(types.map((t) => [t, currentVersion(t)]));
}

export class NewerEventError extends Error {}

/** An event at any version this release reads, in its current shape (with `v` the current version). */
export function upcast(raw: RawEvent, family: EventFamily = 'process'): RawEvent {
  const type = typeof raw.type === 'string' ? versionKey(raw.type, family) : '';
  const current = currentVersion(type);
  const v = raw.v;
  if (typeof v === 'number' && v > current) {
    throw new NewerEventError(
      `${family === 'deploy' ? 'deploy event' : 'event'} schema version ${v} is newer than this reapq understands (${current} for ${
        typeof raw.type === 'string' ? raw.type : 'an event without a type'
      }); upgrade reapq`,
    );
  }
  // A v that is not a whole number from 1 up is left for the schema check to name.
  if (typeof v !== 'number' || !Number.isInteger(v) || v < BASELINE_VERSION || v === current) return raw;
  const steps = VERSION_STEPS[type] ?? [];
  let e = raw;
  for (let from = v; from < current; from++) e = steps[from - BASELINE_VERSION]!.up(e);
  return { ...e, v: current };
}

/**
 * A current event in the shape of an older version of its type (to: at most the current
 * version); NotInOlderVersionError when that version cannot say what it says.
 */
export function downcast(e: RawEvent, to: number, family: EventFamily = 'process'): RawEvent {
  const type = versionKey(String(e.type), family);
  const current = currentVersion(type);
  if (to < BASELINE_VERSION)
    throw new NotInOlderVersionError(
      `${e.type} is an event type that a live worker of an earlier release cannot read (reapq hosts, EVENTS): not written until it is upgraded`,
    );
  const target = Math.min(to, current);
  if (target === current) return e;
  const steps = VERSION_STEPS[type] ?? [];
  let out = e;
  for (let from = current; from > target; from--) out = steps[from - 1 - BASELINE_VERSION]!.down(out);
  return { ...out, v: target };
}

/**
 * Per type, the newest version every reader of a fleet reads: what a writer may use while
 * they all run. A type a reader does not list (or a reader that announced nothing: a
 * release before announcements) it reads at the baseline if it is one of FIRST_TYPES, and
 * not at all (NOT_READ) otherwise: a type new to the fleet is not written until every
 * reader lists it.
 */
export function fleetVersions(
  types: readonly string[],
  announced: ReadonlyArray<Readonly<Record<string, number>> | undefined>,
): Record<string, number> {
  const unlisted = (t: string) => (FIRST_TYPES.has(t) ? BASELINE_VERSION : NOT_READ);
  return Object.fromEntries(types.map((t) => [t, Math.min(currentVersion(t), ...announced.map((a) => a?.[t] ?? unlisted(t)))]));
}

/**
 * How long a worker that stopped heartbeating without shutting down (a crash, a kill, a
 * reboot) still counts as a reader: it is expected back, as the release it was, and its
 * records are read again when it comes. A worker that shut down cleanly (`down`, as in a
 * rolling upgrade) is gone at once.
 */
export const REJOIN_WINDOW_MS = 10 * 60_000;

/** A host's heartbeat as far as the choice of versions goes. */
export interface Reader {
  readonly alive: boolean;
  readonly state?: string;
  readonly at?: number;
  readonly ttlMs?: number;
  readonly events?: Readonly<Record<string, number>> | undefined;
}

/** Whether a host counts among the fleet's readers at `now`: alive, or crashed within REJOIN_WINDOW_MS. */
export function isReader(h: Reader, now: number): boolean {
  if (h.alive) return true;
  if (h.state === 'down' || h.at === undefined || h.ttlMs === undefined) return false;
  return now - (h.at + h.ttlMs) < REJOIN_WINDOW_MS;
}

/**
 * Per type, the version a writer stores now: the newest every reader of the fleet reads
 * (fleetVersions over their announcements; see isReader: the live workers and those that
 * crashed lately). With no reader there is nobody to ask, and the one who comes next may
 * be of any release, so the baseline of every type.
 */
export function writeVersions(types: readonly string[], hosts: readonly Reader[], now = 0): Record<string, number> {
  const readers = hosts.filter((h) => isReader(h, now));
  if (readers.length === 0) return Object.fromEntries(types.map((t) => [t, BASELINE_VERSION]));
  return fleetVersions(
    types,
    readers.map((h) => h.events),
  );
}

/** A reader's versions in a few words: `v1` when it reads only the baseline, else the types above it (`v1, start_requested v2`). */
export function describeVersions(versions: Readonly<Record<string, number>> | undefined): string {
  if (!versions) return 'v1 (not announced)';
  const above = Object.entries(versions)
    .filter(([, v]) => v > BASELINE_VERSION)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([t, v]) => `${t} v${v}`);
  return [`v${BASELINE_VERSION}`, ...above].join(', ');
}
