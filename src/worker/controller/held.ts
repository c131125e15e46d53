import type { Identity } from '../tree.js';
import type { Local } from './decision.js';
import { NO_KILL } from './kill-plan.js';

/** What the controller holds per id: the decision's view plus what only the shell needs. */
export interface Held extends Local {
  ident: Identity | null;
  /** Every member seen while stopping, with its start time: kept until it is dead. */
  seen: Map<number, number>;
  logOffset: number;
  stopStartedAt: number | null;
  /** When (monotonic ms) this worker's forker reported the spawn: a readiness timeout runs from it. */
  spawnedMono: number | null;
  /** Cgroup mode: the run's leaf, and the watch on its cgroup.events while it is stopped. */
  leaf: string | null;
  unwatch: (() => void) | null;
}

/** The queue key of an id's orphans: stopped apart from whatever run the id has now. */
export const ORPHANS = '#orphans';

/** The queue key of the worker's inherited children no run can have started: no record id begins with '#'. */
export const STRAYS = `#inherited${ORPHANS}`;

export function isOrphanKey(key: string): boolean {
  return key.endsWith(ORPHANS);
}

export function newHeld(runId: string | null, phase: Local['phase']): Held {
  return {
    runId,
    phase,
    spawn: null,
    failure: null,
    spawnedHere: false,
    exit: null,
    exitRecorded: false,
    goneSince: null,
    ready: null,
    kill: NO_KILL,
    driftRecorded: false,
    escapedNamed: [],
    ident: null,
    seen: new Map(),
    logOffset: 0,
    stopStartedAt: null,
    spawnedMono: null,
    leaf: null,
    unwatch: null,
    logLoss: null,
    selfStopped: null,
  };
}

/** The runs (and sets of orphans) this worker holds, by queue key. */
export class HeldRuns extends Map<string, Held> {
  /** Runs only, by record id: orphan sets left out. */
  *runs(): IterableIterator<[string, Held]> {
    for (const e of this) if (!isOrphanKey(e[0])) yield e;
  }

  ids(): string[] {
    return [...this.runs()].map(([k]) => k);
  }

  /** Live processes this worker is responsible for, for capacity. */
  get load(): number {
    let n = 0;
    for (const [, h] of this.runs()) if (h.phase !== 'spawn-failed') n++;
    return n;
  }

  /** Leader pids of the runs held, except `but`'s. */
  leaders(but?: Held): Set<number> {
    const out = new Set<number>();
    for (const [, h] of this.runs()) if (h !== but && h.spawn) out.add(h.spawn.pid);
    return out;
  }
}
