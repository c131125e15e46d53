import { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { WaitError } from '../shared/errors.js';
import type { ReconcileReport } from '../worker/reconcile/execute.js';
import type { ReapqClient } from './client.js';

export type { ReconcileReport };

/** A host's last heartbeat, as the worker wrote it, plus whether it is still fresh. */
export interface HostInfo {
  hostId: string;
  pid: number;
  version: string;
  state: string;
  load: number;
  capacity: number | null;
  at: number;
  ttlMs: number;
  alive: boolean;
}

export async function listHosts(redis: Redis, key: string): Promise<HostInfo[]> {
  const all = await redis.hgetall(key);
  const now = Date.now();
  return Object.values(all)
    .map((v) => JSON.parse(v) as Omit<HostInfo, 'alive'>)
    .map((h) => ({ ...h, alive: h.state !== 'down' && now - h.at < h.ttlMs }))
    .sort((a, b) => a.hostId.localeCompare(b.hostId));
}

/** The hosts a reconcile request goes to: the one asked for, else every live host (maybe none). */
export async function reconcileTargets(client: ReapqClient, host?: string): Promise<string[]> {
  if (host) return [host];
  return (await listHosts(client.connection, client.keys.hosts)).filter((h) => h.alive).map((h) => h.hostId);
}

/**
 * Puts a reconcile job on one host's queue and waits for the report its worker returns.
 * Rejects when the job fails, or with a WaitError when no report comes within timeoutMs
 * (the job is then withdrawn if no worker has taken it yet).
 */
export async function requestReconcile(client: ReapqClient, hostId: string, timeoutMs: number): Promise<ReconcileReport> {
  const q = client.queue(client.keys.hostQueue(hostId));
  const job = await q.add('reconcile', {}, { removeOnComplete: { age: 3600 }, removeOnFail: 100 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = await Job.fromId(q, job.id!);
    if (j && (await j.isCompleted())) return j.returnvalue as ReconcileReport;
    if (j && (await j.isFailed())) throw new Error(`reconcile on ${hostId} failed: ${j.failedReason}`);
    if (Date.now() > deadline) {
      if (j && (await j.isWaiting())) await j.remove().catch(() => undefined);
      throw new WaitError(`no report from ${hostId} within ${timeoutMs} ms (is its worker running?)`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
