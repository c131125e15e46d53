import type { FastifyInstance } from 'fastify';
import type { QueueCounts } from '../admin.js';
import type { ApiContext } from './context.js';

// The dashboard's browser code reads the counts' type from here.
export type { QueueCounts };

/**
 * BullMQ's side of the fleet: job counts of the shared start queue and of every known
 * host's queue (stop, reconcile and pinned starts), read-only.
 */
export function registerQueueRoutes(app: FastifyInstance, { client }: ApiContext): void {
  app.get('/queues', (): Promise<QueueCounts[]> => client.admin.queueCounts());
}
