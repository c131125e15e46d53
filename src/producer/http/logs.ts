import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from './context.js';
import { IdParams, LogsQuery } from './schemas.js';

const DEFAULT_LINES = 100;

/**
 * A process's stdout and stderr as its worker shipped them to Redis, so the api answers
 * for processes on any host.
 */
export function registerLogRoutes(app: FastifyInstance, { client }: ApiContext): void {
  app
    .withTypeProvider<ZodTypeProvider>()
    .get(
      '/processes/:id/logs',
      { schema: { summary: 'last output lines (text/plain)', params: IdParams, querystring: LogsQuery } },
      async (request, reply) => {
        const { id } = request.params;
        const { lines = DEFAULT_LINES, timestamps } = request.query;
        // ?timestamps=true: each line after the time its worker shipped it, as `reapq logs --timestamps`.
        const text = (await client.logEntries(id, lines)).map((e) => (timestamps ? `${new Date(e.at).toISOString()} ${e.line}` : e.line));
        return reply.type('text/plain; charset=utf-8').send(text.length ? `${text.join('\n')}\n` : '');
      },
    );
}
