import type { EventDraft } from '../../shared/events.js';
import type { Limits, ProcessRecord } from '../../shared/record.js';
import type { KillState, KillStep } from './kill-plan.js';

/** The decision's inputs and outputs (decide.ts): what a run of the controller sees, and the actions it may take. */
export interface SpawnFacts {
  pid: number;
  pgid: number;
  sid: number;
  startTime: number;
  port: number | null;
  /** Cgroup mode: the run's leaf cgroup path. */
  cgroup?: string;
  /** The limits the run got (asked for, or the worker's defaults). */
  limits?: Limits;
}

export interface Local {
  /** null for a set of orphans being stopped (no run of ours). */
  runId: string | null;
  phase: 'spawning' | 'spawn-failed' | 'up' | 'orphans';
  spawn: SpawnFacts | null;
  failure: string | null;
  /** Spawned by this worker's forker, which reports the leader's exit; else polled. */
  spawnedHere: boolean;
  exit: { code: number | null; signal: string | null; how: 'exited' | 'signaled' | 'unknown' } | null;
  exitRecorded: boolean;
  /** When (monotonic ms) the tree was first seen gone while the forker's exit report was still due. */
  goneSince: number | null;
  ready: null | 'checking' | { ok: true; how: string } | { ok: false; reason: string };
  /** The kill plan's times are monotonic ms; the record's killDeadline is wall time. */
  kill: KillState;
  /** A drift event was recorded for the current kill (leftovers, stale run). */
  driftRecorded: boolean;
  /** Members outside the run's cgroup leaf already named on the record (drift `escaped`). */
  escapedNamed: number[];
  /** Cgroup mode: the run's leaf. */
  leaf?: string | null;
  /** A write failure on the run's log file, not on the record yet (log_lost). */
  logLoss?: { error: string; lostBytes: number; detail: string } | null;
  /** Why this worker stopped the run itself without Redis (an at-most-one copy whose lease may have lapsed); null if it did not. */
  selfStopped?: string | null;
  /** The readiness check failed while the leader lived: this worker is stopping the tree, then writes not_ready. */
  notReadyStop?: boolean;
  /** This worker signalled the tree for a requested stop (the record said desired stopped then). */
  stopSignalled?: boolean;
}

export type Trigger =
  | { kind: 'start'; jobId?: string }
  | { kind: 'stop' }
  | { kind: 'event' }
  | { kind: 'tick' }
  /** legacy: carriers of no fleet (an older release's) whose id the pass saw no record of. */
  | { kind: 'orphans'; pids: number[]; run: string | null; legacy?: true }
  | { kind: 'abandoned'; pids: number[] }
  /** A leaf cgroup of this id that no live run claimed when the pass listed them. */
  | { kind: 'leaf'; leaf: string; run: string; legacy?: true };

/** A daemon's main process as found once its launcher is gone, or why it is not found (yet). */
export type DaemonSeen =
  { main: { pid: number; pgid: number; sid: number; startTime: number; from: 'pid-file' | 'tree' } } | { waiting: string };

export interface Tree {
  members: number[];
  groupAlive: boolean;
  leader: 'alive' | 'gone' | 'reused';
  /** Members come from the run's cgroup, whose emptying is watched: waits need no fast polling. */
  watched?: boolean;
  /** OOM kills the kernel counted in the run's cgroup. */
  oomKills?: number;
  /** Cgroup mode: members found outside the run's leaf, with their command and the cgroup they are in. */
  escaped?: Array<{ pid: number; comm: string; cgroup: string | null }>;
  /** A daemon whose launcher is gone, not recorded spawned yet: its main process, or why none is found. */
  daemon?: DaemonSeen;
}

export interface DecideInput {
  hostId: string;
  bootId: string;
  /** Wall time (ms since the epoch): what the record's times (killDeadline) are in. */
  now: number;
  /** Monotonic time (ms): what every wait and deadline of this worker is measured in. */
  mono: number;
  rec: ProcessRecord | null;
  local: Local | null;
  /** The tree of the run in question (the local stale run's, or the record's); null if none is known. */
  tree: Tree | null;
  trigger: Trigger;
  /** For a `leaf` trigger: the leaf's path and what is in it now. */
  leaf?: { path: string; members: number[] } | null;
  defaultGraceMs: number;
  killWaitMs: number;
  /** How long a spawned leader's exit report may take after its tree is gone. */
  exitReportMs: number;
  /** Delay before an abandoned spawn is retried: whatever it left is gone by then. */
  abandonedRetryMs: number;
  /** How long a daemon's main process may take to show (its pid file) after its launcher exited. */
  daemonWaitMs: number;
}

export type Action =
  | { kind: 'spawn' }
  | { kind: 'append'; events: EventDraft[] }
  | { kind: 'signal'; signal: string; step: KillStep }
  | { kind: 'wait'; step: KillStep }
  | { kind: 'kill-pids'; pids: number[] }
  /** Not this fleet's (drift `foreign`): reported, never signalled. */
  | { kind: 'foreign'; pids: number[]; leaf?: string }
  | { kind: 'clear-leaf'; leaf: string }
  /** The run's tree is gone: its last usage saved and its leaf removed before its end is written. */
  | { kind: 'release-leaf' }
  | { kind: 'release-port'; port: number }
  | { kind: 'enqueue-start'; delayMs: number }
  | { kind: 'adopt' }
  /** A daemon's main process was recorded as the run's leader: it is watched from now on instead of its launcher. */
  | { kind: 'follow-main'; main: Extract<DaemonSeen, { main: unknown }>['main'] }
  | { kind: 'check-ready' }
  | { kind: 'note-gone' }
  | { kind: 'note-not-ready' }
  | { kind: 'forget' }
  | { kind: 'requeue'; ms: number };
