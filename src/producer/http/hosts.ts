import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
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
        const reports = await client.admin.reconcile({ host: q.host, timeoutMs: q.timeoutMs ?? DEFAULT_REPORT_WAIT_MS });
        if (reports.length === 0) return reply.code(503).send({ error: 'no live worker to reconcile' });
        return q.host ? reports[0] : reports;
      },
    );
}
