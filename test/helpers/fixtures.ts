import type { ProcStat } from '../../src/shared/proc-stat.js';
import type { DecideInput, Local } from '../../src/worker/controller/decision.js';
import { newHeld } from '../../src/worker/controller/held.js';

// Test data of the pure parts: nothing here touches Redis or a process.

/** A start spec as the store keeps it, every optional field unset: `sleep 1`, never restarted. */
export const SLEEP_SPEC = {
  name: null,
  command: ['sleep', '1'],
  cwd: null,
  env: {},
  port: null,
  restart: 'never' as const,
  graceMs: null,
  host: null,
  ready: null,
  service: null,
  revision: null,
  limits: null,
};

/** A /proc stat row: `p<pid>`, sleeping, init's child, leader of its own group and session, started at tick 1000. */
export const procStat = (pid: number, over: Partial<ProcStat> = {}): ProcStat => ({
  pid,
  comm: `p${pid}`,
  state: 'S',
  ppid: 1,
  pgid: pid,
  sid: pid,
  startTime: 1000,
  ...over,
});

/**
 * Run r1 as the controller holds it (newHeld's defaults), spawned here and up: leader pid
 * 10, its own group and session, started at tick 5.
 */
export const localOf = (over: Partial<Local> = {}): Local => ({
  ...newHeld('r1', 'up'),
  spawn: { pid: 10, pgid: 10, sid: 10, startTime: 5, port: null },
  spawnedHere: true,
  ...over,
});

/**
 * What decide() is given about `rec` on host h (boot b) at 1000 ms, with localOf() and its
 * tree alive, on a tick, with the worker's default timings. Unless `over` sets both, the
 * wall and monotonic clocks read the same.
 */
export const decideInputOf = (over: Partial<DecideInput> & Pick<DecideInput, 'rec'>): DecideInput => ({
  hostId: 'h',
  bootId: 'b',
  now: 1000,
  mono: over.now ?? 1000,
  local: localOf(),
  tree: { members: [10], groupAlive: true, leader: 'alive' },
  trigger: { kind: 'tick' },
  defaultGraceMs: 5000,
  killWaitMs: 2000,
  exitReportMs: 2000,
  abandonedRetryMs: 7000,
  daemonWaitMs: 10_000,
  ...over,
});
