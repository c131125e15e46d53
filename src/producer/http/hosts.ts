import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { reconcileTargets, requestReconcile } from '../reconcile-request.js';
import type { ApiContext } from './context.js';
import { ReconcileQuery } from './schemas.js';

const DEFAULT_REPORT_WAIT_MS = 30_000;

/** Hosts by heartbeat, and a reconcile pass on demand (as `reapq hosts` / `reapq reconcile`). */
export function registerHostRoutes(app: FastifyInstance, { client }: ApiContext): void {
  app.get('/hosts', { schema: { summary: 'hosts with liveness, load and capacity' } }, async () => client.hosts());

  // With ?host the one report, else an array with one report per live host (like `reconcile --json`).
  app
    .withTypeProvider<ZodTypeProvider>()
    .post(
      '/reconcile',
      { schema: { summary: 'run a reconcile pass now and return its report(s)', querystring: ReconcileQuery } },
      async (request, reply) => {
        const q = request.query;
        const hosts = await reconcileTargets(client, q.host);
        if (hosts.length === 0) return reply.code(503).send({ error: 'no live worker to reconcile' });
        const reports = await Promise.all(hosts.map((h) => requestReconcile(client, h, q.timeoutMs ?? DEFAULT_REPORT_WAIT_MS)));
        return q.host ? reports[0] : reports;
      },
    );
}
