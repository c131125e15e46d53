import type { EventDraft } from '../../shared/events.js';

/** A process as a report names it: its pid, command and (v2) cgroup. */
export interface Seen {
  pid: number;
  comm: string;
  cgroup: string | null;
}

const named = (ps: readonly Seen[]) => ps.map((e) => `pid ${e.pid} (${e.comm}) in ${e.cgroup ?? 'an unknown cgroup'}`).join(', ');

/**
 * The words of every reason the worker writes on a record, and of every line of a
 * reconcile report: one place, so a drift kind reads the same wherever it is found.
 * Pure: decide() and the fleet pass build their events with these.
 */
export const reason = {
  rebooted: (was: string, now: string) => `host rebooted (boot id ${was} is now ${now})`,
  pidReused: (pid: number | null) => `pid ${pid} was reused by another process`,
  leftovers: (leader: number | null, left: number) => `leader ${leader} gone, ${left} left in its tree`,
  missedExit: (leader: number | null) => `leader ${leader} ended unseen`,
  lostStop: (leader: number | null) =>
    `leader ${leader} ended on a stop this worker carried out that the record no longer holds (Redis lost it)`,
  aliveAfterEnd: (alive: number, state: string) => `${alive} alive after it ${state}`,
  staleRun: (host: string, run: string | null) => `${host} still ran run ${run}, which is no longer current: stopping its tree`,
  spawnAbandoned: 'the worker died while spawning it',
  spawnFailed: 'could not be spawned',
  orphan: (id: string, host: string) => `carries the cookie of ${id} on ${host}, no current run claims it`,
  leftoverLeaf: (path: string, run: string, n: number) =>
    `cgroup ${path} of run ${run} held ${n} processes no live run claims: killed, removed`,
  hostLost: (host: string, agoS: number) => `host ${host} stopped sending heartbeats ${agoS}s ago`,
  launcherFailed: (e: { code: number | null; signal: string | null }) =>
    `its launcher ${e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`} before the daemon was up`,
  noDaemon: (why: string, ms: number) => `its launcher exited but no daemon was found within ${ms / 1000} s: ${why}`,
  launchLeftovers: (why: string, n: number) => `${why}: ${n} left in its tree`,
  escaped: (leaf: string | null, out: readonly Seen[]) => `${out.length} outside its cgroup ${leaf ?? '(none)'}: ${named(out)}`,
} as const;

/** One line of a reconcile report: what the controller found and did for one id. */
export interface Note {
  kind: string;
  detail: string;
  pids?: number[];
}

/** The report line of an event a decision appended; null for events that need none. */
export function noteOf(e: EventDraft): Note | null {
  switch (e.type) {
    case 'drift':
      return { kind: e.kind, detail: e.detail, pids: e.pids };
    case 'lost':
      return { kind: 'lost', detail: e.reason };
    case 'adopted':
      return { kind: 'adopt', detail: 'adopted: alive, identity matches, nobody here watched it' };
    case 'exited':
      return e.how === 'unknown' ? { kind: 'exited', detail: 'exit recorded, status unknown' } : null;
    case 'signal_sent':
      return { kind: 'stop', detail: `sent ${e.signal} to ${e.pids.length} processes` };
    case 'stopped':
      return { kind: 'stopped', detail: `stopped (${e.how})` };
    case 'spawn_failed':
      return { kind: 'spawn-failed', detail: e.error };
    case 'restart_scheduled':
      return { kind: 'restart', detail: `restart ${e.attempt} in ${e.delayMs} ms` };
    case 'gave_up':
      return { kind: 'gave-up', detail: e.reason };
    default:
      return null;
  }
}

/** Report lines of what the executor did itself. */
export const did = {
  orphansStopped: (n: number): Note => ({ kind: 'stop-orphan', detail: `stopping ${n} processes no run of this host claims` }),
  leafCleared: (leaf: string, pids: number[]): Note => ({
    kind: 'cgroup-leftover',
    pids,
    detail: pids.length > 0 ? `killed ${pids.length} in cgroup ${leaf} no live run claims, removed it` : `removed empty cgroup ${leaf}`,
  }),
  reaped: (n: number): Note => ({ kind: 'reap', detail: `reaped ${n} zombies` }),
  /**
   * Drift `foreign`: processes this worker cannot show are its fleet's, left alone. `fleet`
   * is the one their cookie names; null: none (an older release's), and this fleet's Redis
   * holds no record of the id they carry. Only reported: they have no record here to go on.
   */
  foreign: (id: string, fleet: string | null, procs: readonly Seen[], leaf?: string): Note => ({
    kind: 'foreign',
    pids: procs.map((p) => p.pid),
    detail:
      `${procs.length} of ${fleet !== null ? `fleet ${fleet}` : `no fleet (an older release's), no record of ${id} in this fleet's Redis`}` +
      `${leaf ? `, in cgroup ${leaf}` : ''}, left alone${procs.length > 0 ? `: ${named(procs)}` : ''}`,
  }),
  straysStopped: (pids: number[]): Note => ({
    kind: 'inherited-orphan',
    pids,
    detail: `stopping ${pids.length} processes the worker inherited that no run of this host can have started`,
  }),
};
