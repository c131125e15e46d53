import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConflictError, InputError, NotFoundError, WaitError } from '../../shared/errors.js';
import { FINAL_STATES, type ProcessRecord } from '../../shared/record.js';
import { mayRestart } from '../client.js';

/** The first line of an error's message: every error body is `{ error: "<one line>" }`. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? msg).trim() || 'internal error';
}

/**
 * Maps errors to statuses: bad input 400, unknown id 404, a lost append race 409, a wait
 * that ended in another final state 409 and one that ran out of time 504 (both with the
 * record), fastify's own client errors (bad JSON, wrong media type, body too large) keep
 * their 4xx, anything else 500.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    if (err instanceof InputError) return reply.code(400).send({ error: oneLine(err) });
    if (err instanceof NotFoundError) return reply.code(404).send({ error: oneLine(err) });
    if (err instanceof ConflictError) return reply.code(409).send({ error: oneLine(err) });
    if (err instanceof WaitError) {
      const rec = err.record as ProcessRecord | undefined;
      const settled = rec !== undefined && FINAL_STATES.has(rec.state) && !mayRestart(rec);
      return reply.code(settled ? 409 : 504).send(rec ? { error: oneLine(err), record: rec } : { error: oneLine(err) });
    }
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) return reply.code(status).send({ error: oneLine(err) });
    request.log.error({ err, method: request.method, url: request.url }, 'request failed');
    return reply.code(500).send({ error: oneLine(err) });
  });
  app.setNotFoundHandler(notFound);
}

/** 404 for a path no route serves. Also set inside /v1, where it runs behind the token like the routes. */
export function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` });
}
