import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { parseInput } from '../../shared/input.js';
import { VERSION } from '../../shared/version.js';

/**
 * Routes declare their zod schemas (`schema: { body, querystring, params }`); this compiler
 * validates each request with them and @fastify/swagger documents the very same objects
 * (through fastify-type-provider-zod's JSON Schema transform), so the document cannot drift
 * from what is enforced. A rejection is reapq's own InputError (`invalid body: ...`), which
 * the error handler turns into a 400 with `{ error }`.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const what = httpPart === 'querystring' ? 'query' : httpPart === 'params' ? 'id' : (httpPart ?? 'input');
  return (data: unknown) => {
    // A POST without a body means "no options" ({}), as the client's defaults do.
    try {
      return { value: parseInput(schema, httpPart === 'body' ? (data ?? {}) : data, `invalid ${what}`) };
    } catch (err) {
      return { error: err as Error };
    }
  };
};

/** Must be registered before the routes: it collects them as they are added. */
export function registerOpenApi(app: FastifyInstance): void {
  app.setValidatorCompiler(zodValidatorCompiler);
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'reapq',
        version: VERSION,
        description:
          'Start, stop and follow supervised process trees. Bodies are validated with the same zod schemas as the TypeScript client; errors are `{ "error": "<one line>" }`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'REAPQ_API_TOKEN, when the api has one' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
}

/** GET /openapi.json inside the /v1 scope (so behind the token like the routes it describes). */
export function registerOpenApiRoute(v1: FastifyInstance, root: FastifyInstance): void {
  v1.get('/openapi.json', { schema: { hide: true } as never }, async () => root.swagger());
}
