import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DeployRequestSchema, ServiceNameSchema, type DeployRecord } from '../../shared/deploy.js';
import { ProcessIdSchema } from '../../shared/record.js';
import type { ApiContext } from './context.js';
import { resolve } from '../handles.js';
import { EventsQuery, MAX_WAIT_MS, WaitQuery } from './schemas.js';
import { serveVersioned, wantsSse } from './sse.js';

const ServiceParams = z.object({ name: ServiceNameSchema });
const DeployParams = z.object({ id: ProcessIdSchema });
const HandleParams = z.object({ handle: z.string().min(1).max(200) });
/** The client's deploy request without `service` (it is in the path), strict. */
const DeployBody = DeployRequestSchema.omit({ service: true }).strict();
const ScaleBody = z.object({ replicas: z.number().int().min(1, 'must be at least 1') }).strict();

/**
 * Services and their deploys: queue one (201, the deploy record; ?wait: once it is over),
 * read services, a deploy, and a deploy's steps (JSON, or live as server-sent events that
 * end after its final step).
 */
export function registerDeployRoutes(app: FastifyInstance, { client, streams }: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  /** 201 with the queued deploy, or with ?wait once it is over. */
  const queued = async (reply: FastifyReply, q: { wait?: boolean; timeoutMs?: number }, rec: DeployRecord) =>
    reply.code(201).send(q.wait ? await client.waitForDeploy(rec.id, { timeoutMs: q.timeoutMs ?? MAX_WAIT_MS }) : rec);
  r.post(
    '/services/:name/deploys',
    {
      schema: {
        summary: 'queue a deploy of a service (201: queued; ?wait: until it succeeded, rolled back or was superseded)',
        params: ServiceParams,
        querystring: WaitQuery,
        body: DeployBody,
      },
    },
    async (request, reply) => queued(reply, request.query, await client.deploy({ ...request.body, service: request.params.name })),
  );
  for (const [action, summary, call] of [
    ['restart', 'replace every replica with a fresh one of the same spec (a start-first deploy)', (n: string) => client.restartService(n)],
    ['rollback', "deploy the previous revision's spec again", (n: string) => client.rollback(n)],
    ['stop', 'stop the active revision (queued after the deploys before it)', (n: string) => client.stopService(n)],
  ] as const)
    r.post(
      `/services/:name/${action}`,
      { schema: { summary: `${summary}; 201 with the deploy record`, params: ServiceParams } },
      async (request, reply) => reply.code(201).send(await call(request.params.name)),
    );
  r.post(
    '/services/:name/scale',
    {
      schema: {
        summary:
          'scale the active revision to `replicas` (its replicas left alone; more started, or the highest-numbered stopped); 201 with the deploy record (kind scale); ?wait: until it is over',
        params: ServiceParams,
        querystring: WaitQuery,
        body: ScaleBody,
      },
    },
    async (request, reply) => queued(reply, request.query, await client.scale(request.params.name, request.body.replicas)),
  );
  r.get('/services', { schema: { summary: 'every service: active revision, its processes, last deploy' } }, async () => client.services());
  r.get('/services/:name', { schema: { summary: 'one service with its deploy history', params: ServiceParams } }, async (request) =>
    client.service(request.params.name),
  );
  r.get(
    '/handles/:handle',
    {
      schema: {
        summary:
          'what an id, a process name (unique among live records) or a service name names: {kind: process, id} or {kind: service, service, processes}; 400 listing the ids when it names more than one, 404 when none',
        params: HandleParams,
      },
    },
    async (request) => resolve(client, request.params.handle),
  );
  r.get('/deploys/:id', { schema: { summary: 'one deploy record', params: DeployParams } }, async (request) =>
    client.getDeploy(request.params.id),
  );
  r.get(
    '/deploys/:id/events',
    {
      schema: {
        summary: "a deploy's steps (JSON, or server-sent events with Accept: text/event-stream, ending after the last step)",
        params: DeployParams,
        querystring: EventsQuery,
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await client.getDeploy(id); // 404 before anything is streamed
      if (!wantsSse(request)) return client.deployEvents(id, request.query.after ?? 0);
      await serveVersioned(request, reply, streams, request.query.after ?? 0, (after, signal) => client.followDeploy(id, after, signal));
      return reply;
    },
  );
}
