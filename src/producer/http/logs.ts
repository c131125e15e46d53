import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.js';
import { IdParams, LogsQuery, parse } from './schemas.js';

const DEFAULT_LINES = 100;

/**
 * A process's stdout and stderr as its worker shipped them to Redis, so the api answers
 * for processes on any host.
 */
export function registerLogRoutes(app: FastifyInstance, { client }: ApiContext): void {
  app.get('/processes/:id/logs', async (request, reply) => {
    const { id } = parse(IdParams, request.params, 'id');
    const { lines = DEFAULT_LINES } = parse(LogsQuery, request.query, 'query');
    const text = await client.logs(id, lines);
    return reply.type('text/plain; charset=utf-8').send(text.length ? `${text.join('\n')}\n` : '');
  });
}
