import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.js';
import { oneLine } from './errors.js';

const PING_TIMEOUT_MS = 2000;

/** 200 when Redis answers a PING in time, 503 otherwise. */
export function registerHealthRoute(app: FastifyInstance, { client }: ApiContext): void {
  app.get('/healthz', async (_request, reply) => {
    try {
      await client.admin.ping(PING_TIMEOUT_MS);
      return { ok: true };
    } catch (err) {
      return reply.code(503).send({ ok: false, error: oneLine(err) });
    }
  });
}
