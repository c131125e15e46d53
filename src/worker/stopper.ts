import type { Logger } from '../shared/logger.js';
import type { EventStore } from '../shared/event-store.js';
import type { ProcessRecord } from '../shared/record.js';
import { findTree, type HostOs } from './host-os.js';
import type { Identity } from './tree.js';

export type StopOutcome = 'requested' | 'escalated' | 'pending';

export interface StopperDeps {
  os: HostOs;
  store: EventStore;
  log: Logger;
  owner: string;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** How long SIGKILLed processes get to disappear before they are reported as kill pending. */
  killWaitMs?: number;
  /** Finds the live members of a tree; defaults to a scan of the whole process table. */
  find?: (ident: Identity) => number[];
}

const finder = (deps: StopperDeps) => deps.find ?? ((ident: Identity) => findTree(deps.os, ident, deps.owner));

/**
 * The tree is gone only when a search finds nothing, the process group no longer exists
 * (zombies included, while its leader is the recorded one or gone), and a second search
 * agrees. A walk can miss a process that is re-parented while it walks, because its
 * parent died between two reads; re-parenting only moves processes towards the worker,
 * so a walk after an empty group cannot miss them again.
 */
function gone(deps: StopperDeps, find: (i: Identity) => number[], ident: Identity): boolean {
  if (find(ident).length > 0) return false;
  const leader = deps.os.table.stat(ident.pid);
  const groupOurs = !leader || leader.startTime === ident.startTime;
  if (groupOurs && deps.os.exists(-ident.pgid)) return false;
  return find(ident).length === 0;
}

export function identityOf(rec: ProcessRecord): Identity | null {
  if (rec.pid === null || rec.pgid === null || rec.sid === null || rec.startTime === null) return null;
  return { id: rec.id, pid: rec.pid, pgid: rec.pgid, sid: rec.sid, startTime: rec.startTime };
}

/**
 * Stops a whole tree: the signal to the group and every other member, SIGCONT so stopped
 * members can act on it, then SIGKILL when the deadline passes. Escalation follows the
 * whole tree, not the leader: a leader that exits on SIGTERM while a member ignores it
 * still gets its member killed. The deadline is recorded before waiting, so a worker that
 * dies mid-stop leaves the next one enough to escalate on time.
 */
export async function stopTree(deps: StopperDeps, rec: ProcessRecord, signal: NodeJS.Signals, graceMs: number): Promise<StopOutcome> {
  const ident = identityOf(rec);
  if (!ident) return 'requested';
  const { os, store, log, now, sleep } = deps;
  const plog = log.child({ processId: rec.id, pgid: ident.pgid });
  const find = finder(deps);
  let deadline = rec.killDeadline;

  if (deadline === null) {
    const members = find(ident);
    if (members.length === 0 && gone(deps, find, ident)) return 'requested';
    const sent = signalAll(os, ident, members, signal);
    signalAll(os, ident, members, 'SIGCONT');
    deadline = now() + graceMs;
    const d = deadline;
    await store.transact(rec.id, (cur) =>
      cur && cur.state !== 'stopped' && cur.state !== 'pending'
        ? [{ type: 'signal_sent', signal, pgid: ident.pgid, pids: sent, killDeadline: d }]
        : null,
    );
    plog.info({ signal, pids: sent, graceMs }, 'signal sent');
  } else {
    plog.info({ killDeadline: deadline }, 'resuming a stop in progress');
  }

  let wait = 10;
  while (now() < deadline) {
    if (gone(deps, find, ident)) return 'requested';
    await sleep(Math.min(wait, Math.max(1, deadline - now())));
    wait = Math.min(wait * 2, 100);
  }
  if (gone(deps, find, ident)) return 'requested';
  return escalate(deps, rec, ident);
}

/** SIGKILL to everything left, then report what refuses to die (uninterruptible sleep). */
export async function escalate(deps: StopperDeps, rec: ProcessRecord, ident: Identity): Promise<StopOutcome> {
  const { os, store, log, now, sleep } = deps;
  const find = finder(deps);
  const members = find(ident);
  if (members.length === 0 && gone(deps, find, ident)) return 'requested';
  const sent = signalAll(os, ident, members, 'SIGKILL');
  await store.transact(rec.id, (cur) =>
    cur && cur.state !== 'stopped' && cur.state !== 'pending'
      ? [{ type: 'signal_sent', signal: 'SIGKILL', pgid: ident.pgid, pids: sent, killDeadline: null }]
      : null,
  );
  log.warn({ processId: rec.id, pgid: ident.pgid, pids: sent }, 'grace period over: SIGKILL sent');
  const until = now() + (deps.killWaitMs ?? 2000);
  let left = members;
  while (now() < until) {
    left = find(ident);
    if (left.length === 0 && gone(deps, find, ident)) return 'escalated';
    // Something forked between the scan and the kill: it gets the same treatment.
    signalAll(os, ident, left, 'SIGKILL');
    await sleep(20);
  }
  await store.transact(rec.id, (cur) => (cur && cur.state !== 'pending' ? [{ type: 'kill_pending', pids: left }] : null));
  log.error({ processId: rec.id, pgid: ident.pgid, pids: left }, 'processes survive SIGKILL (uninterruptible sleep?): kill pending');
  return 'pending';
}

/**
 * The group gets one kill(-pgid) when its leader is the recorded one or gone (so members
 * forked after the scan are hit too); everything found outside the group is signalled by
 * pid, each one already verified as part of the tree.
 */
function signalAll(os: HostOs, ident: Identity, members: readonly number[], signal: NodeJS.Signals): number[] {
  const sent: number[] = [];
  const leader = os.table.stat(ident.pid);
  const groupOk = !leader || leader.startTime === ident.startTime;
  if (groupOk && os.kill(-ident.pgid, signal)) sent.push(-ident.pgid);
  for (const pid of members) {
    const p = os.table.stat(pid);
    if (groupOk && p?.pgid === ident.pgid) continue;
    if (os.kill(pid, signal)) sent.push(pid);
  }
  return sent;
}
