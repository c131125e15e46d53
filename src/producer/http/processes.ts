import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from './context.js';
import type { StateCount } from '../admin.js';
import type { UsageEntry } from '../../shared/usage.js';
import { IdParams, ListQuery, StartBody, StopBody, UsageQuery, WaitQuery } from './schemas.js';

export interface CountsBody {
  /** Every record kept. */
  total: number;
  /** Records per state; a state with none is absent. */
  byState: Record<string, number>;
  byStateAndHost: StateCount[];
}

const DEFAULT_WAIT_MS = 60_000;

/**
 * Create, list, show and stop processes: the client's calls, validated with its schemas
 * (declared per route: the validator and the OpenAPI document both read them).
 */
export function registerProcessRoutes(app: FastifyInstance, { client }: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/processes',
    { schema: { summary: 'start a process (201: recorded, pending; ?wait: until running)', querystring: WaitQuery, body: StartBody } },
    async (request, reply) => {
      const q = request.query;
      let rec = await client.start(request.body);
      if (q.wait) rec = await client.waitFor(rec.id, 'running', { timeoutMs: q.timeoutMs ?? DEFAULT_WAIT_MS });
      return reply.code(201).send(rec);
    },
  );

  // With ?limit=, ?cursor= or ?order=: one page, { records, corrupt, cursor } (cursor null
  // after the last). Without any: every record as an array, as before pagination existed.
  r.get(
    '/processes',
    { schema: { summary: 'list records (one page with ?limit=, ?cursor= or ?order=newest)', querystring: ListQuery } },
    async (request) => {
      const q = request.query;
      if (q.cursor !== undefined || q.limit !== undefined || q.order !== undefined) return client.listPage(q);
      return client.list({ state: q.state, host: q.host });
    },
  );

  // Kept by the append (one HGETALL), so a page of records can be shown with the fleet's
  // totals without reading the rest.
  r.get('/counts', { schema: { summary: 'records per state (and per state and host), kept on append' } }, async (): Promise<CountsBody> => {
    const byStateAndHost = (await client.admin.counts()).filter((c) => c.count > 0);
    const byState: Record<string, number> = {};
    for (const c of byStateAndHost) byState[c.state] = (byState[c.state] ?? 0) + c.count;
    return { total: byStateAndHost.reduce((n, c) => n + c.count, 0), byState, byStateAndHost };
  });

  r.get(
    '/usage',
    { schema: { summary: "the last cgroup usage reading of each id (compare its run with the record's runId)", querystring: UsageQuery } },
    async (request): Promise<Record<string, UsageEntry>> => Object.fromEntries(await client.admin.usageOf(request.query.ids)),
  );

  r.get('/processes/:id', { schema: { summary: 'one record', params: IdParams } }, async (request) => client.get(request.params.id));

  r.post(
    '/processes/:id/stop',
    {
      schema: {
        summary: 'stop a process tree (?wait: until it is verified gone)',
        params: IdParams,
        querystring: WaitQuery,
        body: StopBody,
      },
    },
    async (request) => {
      const { id } = request.params;
      const q = request.query;
      const rec = await client.stop(id, request.body);
      if (!q.wait) return rec;
      return client.waitFor(id, 'stopped', { timeoutMs: q.timeoutMs ?? DEFAULT_WAIT_MS });
    },
  );
}
