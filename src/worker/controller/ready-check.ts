import type { Clock } from '../../shared/clock.js';
import type { ProcessRecord } from '../../shared/record.js';
import { awaitReady } from '../readiness.js';
import { portOwner, treePids, type PortOwner } from '../proc/port-owner.js';
import { linuxProcessTable as table } from '../proc/table.js';
import { COOKIE } from '../tree.js';
import type { Held, HeldRuns } from './held.js';

export interface ReadyDeps {
  held: HeldRuns;
  clock: Clock;
  logFile: (id: string) => string;
  /** The verdict is in (on the held run): the id is looked at again. */
  onVerdict: (id: string) => void;
  background: (what: string, ctx: Record<string, unknown>, p: Promise<unknown>) => void;
}

/**
 * Runs a record's readiness check in the background. Its verdict is noted on the held run
 * and becomes a trigger like any other; the decision records it.
 */
export function checkReady(deps: ReadyDeps, h: Held, rec: ProcessRecord): void {
  h.ready = 'checking';
  // The timeout runs from the spawn on the monotonic clock, which no wall-clock step moves.
  // A run this worker adopted started under another: only the recorded start (wall time) says when.
  const { clock } = deps;
  const timeoutMs = rec.ready!.timeoutMs;
  const deadline =
    h.spawnedMono !== null
      ? h.spawnedMono + timeoutMs
      : clock.mono() + ((rec.startedAt ? Date.parse(rec.startedAt) : clock.now()) + timeoutMs - clock.now());
  const pid = rec.pid;
  const p = awaitReady(rec.ready!, {
    port: rec.port,
    logFile: deps.logFile(rec.id),
    logOffset: h.spawnedHere ? h.logOffset : 0,
    deadline,
    clock,
    gone: () => deps.held.get(rec.id) !== h || h.exit !== null || h.spawn?.pid !== pid,
    owner: (port) => (pid === null ? 'unknown' : runOwnsPort(rec.id, pid, port)),
  })
    // A check that throws still ends with a verdict: left 'checking', the record would wait in starting forever.
    .catch((err: unknown) => ({ ok: false as const, reason: `readiness check failed: ${(err as Error).message}` }))
    .then((res) => {
      h.ready = res.ok ? { ok: true, how: res.how } : { ok: false, reason: res.reason };
      deps.onVerdict(rec.id);
    });
  deps.background('readiness check', { processId: rec.id }, p);
}

/**
 * Whether a process of the run listens on the port: its leader's descendants first; then,
 * only when they do not, every process carrying its cookie (one that daemonized left the
 * tree, and the worker reaped it as subreaper).
 */
function runOwnsPort(id: string, leader: number, port: number): PortOwner {
  const byTree = portOwner(port, treePids(table, leader));
  if (byTree !== 'no') return byTree;
  const carriers = table
    .list()
    .map((p) => p.pid)
    .filter((p) => table.cookie(p, COOKIE) === id);
  return portOwner(port, carriers);
}
