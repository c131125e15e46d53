import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from './context.js';
import { FsckQuery } from './schemas.js';

/** `reapq fsck [--repair] --json` over HTTP: 200 with the result, problems or not (its `problems` say). */
export function registerFsckRoute(app: FastifyInstance, { client }: ApiContext): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/fsck',
    {
      schema: {
        summary:
          'check every record against its events and the indexes, counts and leases against the records; ?repair=true rewrites what disagrees',
        querystring: FsckQuery,
      },
    },
    async (request) => client.admin.fsck({ repair: request.query.repair === true }),
  );
}
