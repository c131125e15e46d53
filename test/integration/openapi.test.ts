import { compileErrors, validate } from '@readme/openapi-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/producer/http/server.js';
import { ReapqClient } from '../../src/index.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';

const TOKEN = 'test-token-0123456789abcdef';
const client = new ReapqClient({ redisUrl: testRedisUrl(), prefix: randomPrefix(), env: {} });
const app = buildServer(client, { token: TOKEN });
afterAll(async () => {
  await app.close();
  await client.close();
});

interface Doc {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
        parameters?: { name: string; in: string; schema: Record<string, unknown> }[];
      }
    >
  >;
}

describe('OpenAPI document', () => {
  it('is served at /v1/openapi.json behind the token and validates as OpenAPI 3', async () => {
    expect((await app.inject({ url: '/v1/openapi.json' })).statusCode).toBe(401);
    const res = await app.inject({ url: '/v1/openapi.json', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as Doc;
    expect(doc.openapi).toMatch(/^3\./);
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('describes the routes with the schemas they validate with', async () => {
    const doc = (await app.inject({ url: '/v1/openapi.json', headers: { authorization: `Bearer ${TOKEN}` } })).json() as Doc;
    for (const [path, method] of [
      ['/v1/processes', 'post'],
      ['/v1/processes', 'get'],
      ['/v1/processes/{id}', 'get'],
      ['/v1/processes/{id}/stop', 'post'],
      ['/v1/processes/{id}/events', 'get'],
      ['/v1/processes/{id}/logs', 'get'],
      ['/v1/events', 'get'],
      ['/v1/hosts', 'get'],
      ['/v1/reconcile', 'post'],
      ['/v1/fsck', 'post'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    // The start body is the client's StartSpecSchema made strict: its fields, nothing else.
    const start = doc.paths['/v1/processes']!.post!.requestBody!.content['application/json']!.schema as {
      properties: Record<string, { enum?: string[] }>;
      required: string[];
      additionalProperties: boolean;
    };
    expect(start.required).toEqual(['command']);
    expect(start.additionalProperties).toBe(false);
    expect(start.properties.restart?.enum).toEqual(['never', 'on-failure', 'always']);
    const state = doc.paths['/v1/processes']!.get!.parameters!.find((p) => p.name === 'state')!;
    expect(state.in).toBe('query');
    expect(state.schema.enum).toContain('running');

    // And the route enforces exactly that: a field the document does not list is a 400.
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/processes',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { command: ['true'], restartPolicy: 'always' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/^invalid body: .*restartPolicy/);
  });
});
