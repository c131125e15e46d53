import type { Redis } from 'ioredis';
import type { EventStore } from '../../shared/event-store.js';
import { publishFleetVersions } from '../../shared/fleet-view.js';
import type { BatchedStarts } from '../../shared/job-queues.js';
import { liveness, readHostsAt } from '../../shared/hosts.js';
import type { Keys } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import { LIVE_STATES, type ProcessRecord } from '../../shared/record.js';
import { compactFinished, prune } from '../../shared/prune.js';
import { mayTakeOver } from '../at-most-one.js';
import { reason as why } from '../controller/reasons.js';
import { decideRestart } from '../restart.js';
import { settlePinned } from './pinned-pending.js';
import { keepServices } from './keep-services.js';
import { luaScript } from '../../shared/lua.js';

const RELEASE_LUA = luaScript('release-lock.lua');

export interface ClusterReport {
  lostHosts: string[];
  lost: string[];
  rescheduled: string[];
  pruned: number;
  compacted: number;
  /** Pending records whose start job was gone and was put back. */
  requeued: string[];
  /** Pending records pinned to a host that is unknown or dead: failed with the reason. */
  unplaceable: string[];
  /** Replicas of an active revision lost with their host, started again for their service. */
  revived: string[];
}

export interface ClusterDeps {
  redis: Redis;
  store: EventStore;
  keys: Keys;
  log: Logger;
  hostId: string;
  now: () => number;
  enqueueStart: (rec: ProcessRecord, delayMs: number) => Promise<void>;
  /** Puts back the start job of a pending record if it is gone (not even in a batch, read once per pass); true if it did. */
  ensureStartJob: (rec: ProcessRecord, batched: BatchedStarts) => Promise<boolean>;
  /** Finished records older than this are pruned (0: never). */
  retentionMs: number;
  /** The grace period of a record that has none: how long a cut host's self-stop of it may take. */
  defaultGraceMs: number;
}

const PRUNE_EVERY_MS = 60_000;
/** A pending record this old without a start job lost it. */
const STRAY_AFTER_MS = 5_000;
/** A finished record's events move from its stream to a compact list after this. */
const COMPACT_AFTER_MS = 60_000;

/**
 * The fleet-level pass: processes of hosts whose heartbeat expired are marked lost and,
 * where their policy says so, rescheduled onto live hosts. One worker at a time runs it
 * (a lock with a ttl, so a worker that dies holding it blocks nobody for long); null when
 * another worker holds the lock.
 *
 * A host that was only slow, not dead, finds on its return processes whose records moved
 * on: its reconciler stops them as orphans, so a process never stays owned by two hosts.
 */
export async function clusterPass(deps: ClusterDeps, opts: { holdMs?: number } = {}): Promise<ClusterReport | null> {
  const token = `${deps.hostId}:${process.pid}:${deps.now()}`;
  // Scheduled passes keep the lock for the interval (holdMs): one pass per interval for the
  // whole fleet, not one per worker, so the fleet's work grows with its hosts, not their
  // square. A pass asked for by an operator releases it when done.
  const lockMs = opts.holdMs ?? 10_000;
  if ((await deps.redis.set(deps.keys.clusterLock, token, 'PX', lockMs, 'NX')) !== 'OK') return null;
  const report: ClusterReport = {
    lostHosts: [],
    lost: [],
    rescheduled: [],
    pruned: 0,
    compacted: 0,
    requeued: [],
    unplaceable: [],
    revived: [],
  };
  try {
    // Liveness on Redis' clock: this worker's own may be hours off the host it judges. The
    // ages of records (stray starts, retention) are judged on it too: they were stamped by
    // many hosts' clocks, and the one taking this lock may be the furthest off.
    const beats = await readHostsAt(deps.redis, deps.keys.hosts);
    // Once per interval for the fleet, so writers read a few bytes instead of every heartbeat.
    await publishFleetVersions(deps.redis, deps.keys, beats.hosts, beats.now, lockMs);
    await markLostHosts(deps, beats, report);
    // Services keep their replica count: before the pending pass, so a revived replica
    // pinned to a dead host ends in this pass with the reason.
    report.revived = await keepServices(deps);
    await settlePending(deps, beats, report);
    // Retention runs here, once a minute across the fleet, so no worker repeats the others' work.
    if ((await deps.redis.set(deps.keys.pruneLock, token, 'PX', PRUNE_EVERY_MS, 'NX')) === 'OK') {
      if (deps.retentionMs > 0) report.pruned = (await prune(deps.store, beats.now - deps.retentionMs)).length;
      report.compacted = await compactFinished(deps.store, beats.now - COMPACT_AFTER_MS);
      if (report.pruned > 0) deps.log.info({ pruned: report.pruned }, 'pruned finished records past retention');
    }
  } finally {
    if (opts.holdMs === undefined) await deps.redis.eval(RELEASE_LUA, 1, deps.keys.clusterLock, token);
  }
  return report;
}

type Beats = Awaited<ReturnType<typeof readHostsAt>>;

/**
 * Every live record of a host whose lease ran out is `lost`, then restarted where its policy
 * says; an at-most-one record only once its host has had the time to stop it itself.
 */
async function markLostHosts(deps: ClusterDeps, beats: Beats, report: ClusterReport): Promise<void> {
  for (const h of beats.hosts) {
    if (h.hostId === deps.hostId || liveness(h, beats.now) !== 'expired') continue;
    const due = (r: ProcessRecord) =>
      mayTakeOver({ atMostOne: r.atMostOne, ageMs: h.ageMs, ttlMs: h.ttlMs, graceMs: r.graceMs ?? deps.defaultGraceMs });
    const all = (await deps.store.liveOfHost(h.hostId)).filter((r) => LIVE_STATES.has(r.state));
    const live = all.filter(due);
    // Level-triggered: a later pass, once the margin passed, marks them.
    if (live.length < all.length)
      deps.log.info(
        { lostHost: h.hostId, waiting: all.length - live.length },
        'at-most-one copies: waiting for their host to stop them itself',
      );
    if (live.length === 0) continue;
    report.lostHosts.push(h.hostId);
    const lostFor = why.hostLost(h.hostId, Math.round(h.ageMs / 1000));
    for (const rec of live) {
      const reason = rec.atMostOne ? `${lostFor}; at most one copy: started elsewhere only now, its host stopped it itself` : lostFor;
      const { appended } = await deps.store.transact(rec.id, (cur) =>
        cur && cur.host === h.hostId && LIVE_STATES.has(cur.state) && due(cur)
          ? [
              { type: 'drift', kind: 'host-lost', detail: reason, pids: [] },
              { type: 'lost', reason },
            ]
          : null,
      );
      if (appended.length === 0) continue;
      report.lost.push(rec.id);
      const { record, appended: next } = await deps.store.transact(rec.id, (cur) => {
        const e = cur ? decideRestart(cur) : null;
        return e ? [e] : null;
      });
      const ev = next[0];
      if (record && ev?.type === 'restart_scheduled') {
        await deps.enqueueStart(record, ev.delayMs);
        report.rescheduled.push(rec.id);
      }
    }
    deps.log.warn({ lostHost: h.hostId, lost: report.lost.length, rescheduled: report.rescheduled.length }, 'host lost');
  }
}

/**
 * Level-triggered starts: a pending record with no live start job gets it back. Only records
 * pending for a while: a fresh one's job may still be on its way.
 */
async function settlePending(deps: ClusterDeps, beats: Beats, report: ClusterReport): Promise<void> {
  const batched: BatchedStarts = new Map();
  for (const rec of await deps.store.getMany(await deps.store.pendingIds())) {
    if (rec.state !== 'pending' || rec.desired !== 'running') continue;
    // Pinned to a host no worker will serve: it ends here (a restart just scheduled above included).
    if (await settlePinned(deps.store, rec, beats.hosts, beats.now)) {
      report.unplaceable.push(rec.id);
      deps.log.warn({ processId: rec.id, host: rec.requestedHost }, 'pinned to a host that is not alive: start failed');
      continue;
    }
    if (beats.now - Date.parse(rec.updatedAt) < STRAY_AFTER_MS) continue;
    if (await deps.ensureStartJob(rec, batched)) {
      report.requeued.push(rec.id);
      deps.log.warn({ processId: rec.id }, 'pending with no start job: enqueued it again');
    }
  }
}
