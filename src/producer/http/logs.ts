import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.js';
import { IdParams, LogsQuery, parse } from './schemas.js';
import { tailLines } from './log-tail.js';

const DEFAULT_LINES = 100;

/**
 * A process's stdout and stderr, as kept by the worker that ran it under
 * REAPQ_DATA_DIR/logs/<id>.log. Only this api's host's disk is read: a process that ran
 * elsewhere gets a 404 naming its host.
 */
export function registerLogRoutes(app: FastifyInstance, { client, dataDir }: ApiContext): void {
  app.get('/processes/:id/logs', async (request, reply) => {
    const { id } = parse(IdParams, request.params, 'id');
    const { lines = DEFAULT_LINES } = parse(LogsQuery, request.query, 'query');
    const rec = await client.get(id);
    const file = resolve(dataDir, 'logs', `${id}.log`);
    let text: string[];
    try {
      text = await tailLines(file, lines);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const where = rec.host ? `it ran on host ${rec.host}` : 'it has not run on any host yet';
      return reply.code(404).send({ error: `no log for ${id} on the api's host (${file}); ${where}` });
    }
    return reply.type('text/plain; charset=utf-8').send(text.length ? `${text.join('\n')}\n` : '');
  });
}
