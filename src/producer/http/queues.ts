import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.js';

/** The job states shown per queue (BullMQ's names). */
export const QUEUE_COUNT_TYPES = ['waiting', 'active', 'delayed', 'failed'] as const;

export interface QueueCounts {
  /** The BullMQ queue name (under the prefix's bull prefix). */
  name: string;
  /** The host whose queue this is; null for the shared start queue. */
  host: string | null;
  counts: Record<(typeof QUEUE_COUNT_TYPES)[number], number>;
}

/**
 * BullMQ's side of the fleet: job counts of the shared start queue and of every known
 * host's queue (stop, reconcile and pinned starts), read-only.
 */
export function registerQueueRoutes(app: FastifyInstance, { client }: ApiContext): void {
  app.get('/queues', async (): Promise<QueueCounts[]> => {
    const hosts = await client.hosts();
    const targets: Array<{ name: string; host: string | null }> = [
      { name: client.keys.startQueue, host: null },
      ...hosts.map((h) => ({ name: client.keys.hostQueue(h.hostId), host: h.hostId })),
    ];
    return Promise.all(
      targets.map(async ({ name, host }) => {
        const raw = await client.queue(name).getJobCounts(...QUEUE_COUNT_TYPES);
        const counts = Object.fromEntries(QUEUE_COUNT_TYPES.map((t) => [t, raw[t] ?? 0])) as QueueCounts['counts'];
        return { name, host, counts };
      }),
    );
  });
}
