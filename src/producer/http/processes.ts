import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.js';
import { IdParams, ListQuery, parse, StartBody, StopBody, WaitQuery } from './schemas.js';

const DEFAULT_WAIT_MS = 60_000;

/** Create, list, show and stop processes: the client's calls, validated with its schemas. */
export function registerProcessRoutes(app: FastifyInstance, { client }: ApiContext): void {
  app.post('/processes', async (request, reply) => {
    const q = parse(WaitQuery, request.query, 'query');
    const spec = parse(StartBody, request.body ?? {}, 'body');
    let rec = await client.start(spec);
    if (q.wait) rec = await client.waitFor(rec.id, 'running', { timeoutMs: q.timeoutMs ?? DEFAULT_WAIT_MS });
    return reply.code(201).send(rec);
  });

  // With ?limit= or ?cursor=: one page, { records, cursor } (cursor null after the last).
  // Without either: every record as an array, as before pagination existed.
  app.get('/processes', async (request) => {
    const q = parse(ListQuery, request.query, 'query');
    if (q.cursor !== undefined || q.limit !== undefined) return client.listPage(q);
    return client.list({ state: q.state, host: q.host });
  });

  app.get('/processes/:id', async (request) => {
    const { id } = parse(IdParams, request.params, 'id');
    return client.get(id);
  });

  app.post('/processes/:id/stop', async (request) => {
    const { id } = parse(IdParams, request.params, 'id');
    const q = parse(WaitQuery, request.query, 'query');
    const opts = parse(StopBody, request.body ?? {}, 'body');
    const rec = await client.stop(id, opts);
    if (!q.wait) return rec;
    return client.waitFor(id, 'stopped', { timeoutMs: q.timeoutMs ?? DEFAULT_WAIT_MS });
  });
}
