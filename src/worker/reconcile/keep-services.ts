import type { Redis } from 'ioredis';
import { activeOf, FINAL_DEPLOY_STATES, type Active, type DeployRecord } from '../../shared/deploy.js';
import { DeployStore } from '../../shared/deploy-store.js';
import type { EventDraft } from '../../shared/events.js';
import type { EventStore } from '../../shared/event-store.js';
import type { Keys } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import type { ProcessRecord } from '../../shared/record.js';

/**
 * A service is desired state: its active revision's replicas run, whatever happened to the
 * hosts they ran on. A replica lost with its host (its record `lost`, still wanted) is
 * started again as the same record, on any host that may take it, whatever its restart
 * policy says: the policy is about the program ending on its own, and a lost host is not
 * that. Replicas that ended on their own follow their policy (a crash loop gives up, and
 * the service shows degraded with the reason). While a deploy of the service is under way
 * its runner owns the replicas, so nothing is done until it is over.
 */
export interface ServiceView {
  service: string;
  active: Active | null;
  /** A deploy of the service is queued or running. */
  underWay: boolean;
  replicas: ReadonlyMap<string, ProcessRecord | null>;
}

export interface Revive {
  process: string;
  event: Extract<EventDraft, { type: 'restart_scheduled' }>;
  reason: string;
}

/** A replica that is lost and still wanted: nothing else brings it back once its host is gone. */
export function lostReplica(rec: ProcessRecord | null | undefined): rec is ProcessRecord {
  return !!rec && rec.state === 'lost' && rec.desired === 'running';
}

export function planKeep(v: ServiceView): Revive[] {
  if (!v.active || v.underWay) return [];
  const out: Revive[] = [];
  for (const id of v.active.processes) {
    const rec = v.replicas.get(id);
    if (!lostReplica(rec)) continue;
    out.push({
      process: id,
      event: { type: 'restart_scheduled', attempt: rec.restarts + 1, delayMs: 0 },
      reason: `replica of ${v.service} r${v.active.revision} lost with host ${rec.host ?? '-'}: started again for the service`,
    });
  }
  return out;
}

export interface KeepDeps {
  redis: Redis;
  store: EventStore;
  keys: Keys;
  log: Logger;
  enqueueStart: (rec: ProcessRecord, delayMs: number) => Promise<void>;
}

/** Deploys read per round trip while looking for the one that made the active revision. */
const PAGE = 8;

/** What serves a service and whether a deploy of it is under way, from its newest deploys only. */
async function view(deploys: DeployStore, redis: Redis, keys: Keys, service: string): Promise<Omit<ServiceView, 'replicas'>> {
  const seen: DeployRecord[] = [];
  for (let from = 0; ; from += PAGE) {
    const ids = await redis.zrevrange(keys.serviceDeploys(service), from, from + PAGE - 1);
    for (const id of ids) {
      const d = await deploys.get(id);
      if (d) seen.push(d);
    }
    const active = activeOf(seen);
    const done = seen.some((d) => d.state === 'succeeded' || d.state === 'rolled_back');
    if (done || ids.length < PAGE) return { service, active, underWay: seen.some((d) => !FINAL_DEPLOY_STATES.has(d.state)) };
  }
}

/** The fleet pass's part for services: each lost replica of an active revision is started again. Returns their ids. */
export async function keepServices(deps: KeepDeps): Promise<string[]> {
  const deploys = new DeployStore(deps.redis, deps.keys);
  const revived: string[] = [];
  for (const service of await deploys.serviceNames()) {
    // One service that cannot be read (a corrupt deploy record) does not stop the others, nor the pass.
    await keepOne(deps, deploys, service, revived).catch((err: unknown) =>
      deps.log.warn({ service, err }, 'could not check the replicas of a service'),
    );
  }
  return revived;
}

async function keepOne(deps: KeepDeps, deploys: DeployStore, service: string, revived: string[]): Promise<void> {
  const v = await view(deploys, deps.redis, deps.keys, service);
  if (!v.active || v.underWay) return;
  const recs = await deps.store.getMany(v.active.processes);
  const replicas = new Map(v.active.processes.map((id) => [id, recs.find((r) => r.id === id) ?? null]));
  for (const r of planKeep({ ...v, replicas })) {
    const { record, appended } = await deps.store.transact(r.process, (cur) => (lostReplica(cur) ? [r.event] : null));
    if (!record || appended.length === 0) continue;
    await deps.enqueueStart(record, 0);
    revived.push(r.process);
    deps.log.warn({ service, processId: r.process, reason: r.reason }, 'service replica lost with its host: started again');
  }
}
