import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.js';
import { oneLine } from './errors.js';

const PING_TIMEOUT_MS = 2000;

/** 200 when Redis answers a PING in time, 503 otherwise. */
export function registerHealthRoute(app: FastifyInstance, { client }: ApiContext): void {
  app.get('/healthz', async (_request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.connection.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis did not answer PING within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
        }),
      ]);
      return { ok: true };
    } catch (err) {
      return reply.code(503).send({ ok: false, error: oneLine(err) });
    } finally {
      clearTimeout(timer);
    }
  });
}
