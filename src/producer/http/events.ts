import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { EventStore } from '../../shared/event-store.js';
import type { ApiContext } from './context.js';
import { EventsQuery, GlobalEventId, GlobalEventsQuery, IdParams, parse } from './schemas.js';
import { lastEventId, serveSse, serveVersioned, wantsSse } from './sse.js';

const GLOBAL_BATCH = 500;

/**
 * A process's events, and the fleet's. JSON arrays by default; with
 * `Accept: text/event-stream` a live stream whose event ids resume it: the record version
 * for one process, the global stream entry id for the fleet.
 */
export function registerEventRoutes(app: FastifyInstance, { client, streams }: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/processes/:id/events',
    {
      schema: {
        summary: "a process's events (JSON, or server-sent events with Accept: text/event-stream)",
        params: IdParams,
        querystring: EventsQuery,
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const q = request.query;
      await client.get(id); // 404 before anything is streamed
      if (!wantsSse(request)) return client.events(id, q.after ?? 0);
      await serveVersioned(request, reply, streams, q.after ?? 0, (after, signal) => client.follow(id, after, signal));
      return reply;
    },
  );

  r.get(
    '/events',
    {
      schema: { summary: "the fleet's events (JSON, or server-sent events resumable with Last-Event-ID)", querystring: GlobalEventsQuery },
    },
    async (request, reply) => {
      const q = request.query;
      if (!wantsSse(request)) return client.admin.globalEvents(q.after ?? '0', q.limit ?? 1000);
      const last = lastEventId(request);
      // A new subscriber starts from now unless it names a position (?after=0: everything kept).
      let after = last !== undefined ? parse(GlobalEventId, last, 'Last-Event-ID') : (q.after ?? (await client.admin.latestGlobalId()));
      await serveSse(request, reply, streams, async (sse) => {
        // Catch up with plain reads (a subscriber from 0 may be 100k entries behind), then
        // live from the process's one blocking reader: no connection and no poll per client.
        for (;;) {
          const batch = await client.admin.globalEvents(after, GLOBAL_BATCH);
          for (const e of batch) {
            if (sse.signal.aborted) return;
            await sse.send(e.streamId, e);
            after = e.streamId;
          }
          if (batch.length < GLOBAL_BATCH) break;
        }
        const sub = client.admin.subscribeGlobal(after);
        try {
          while (!sse.signal.aborted && !sub.closed) {
            for (const { id, fields } of await sub.next(60_000, sse.signal)) {
              const e = EventStore.decodeGlobalOrNull(id, fields);
              if (e) await sse.send(e.streamId, e);
            }
          }
        } finally {
          sub.close();
        }
      });
      return reply;
    },
  );
}
