import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ConflictError,
  InputError,
  NotFoundError,
  oneLine,
  RedisRefusedError,
  refusalOf,
  ReplicationError,
  SettledError,
  TimeoutError,
  WaitError,
} from '../../shared/errors.js';

export { oneLine };

/**
 * The one place errors become HTTP statuses: bad input 400, unknown id 404, a lost append
 * race 409, a wait that settled in another final state 409 and one that ran out of time
 * 504, an append fewer replicas confirmed than asked for and a command Redis refused
 * (out of memory, read-only replica, ...) 503, fastify's own client errors
 * (bad JSON, wrong media type, body too large) keep their 4xx, anything else 500.
 */
export function statusOf(err: unknown): number {
  if (err instanceof InputError) return 400;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError || err instanceof SettledError) return 409;
  if (err instanceof TimeoutError) return 504;
  if (err instanceof ReplicationError || err instanceof RedisRefusedError) return 503;
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return status;
  return 500;
}

/** Every error body is `{ error: "<one line>" }`; a failed wait adds the record it last saw. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((raw, request, reply) => {
    // A route that went to Redis past the client still answers a refusal with what to do.
    const kind = raw instanceof RedisRefusedError ? null : refusalOf(raw);
    const err = kind ? new RedisRefusedError(kind, null, raw) : raw;
    const status = statusOf(err);
    if (status === 500) request.log.error({ err, method: request.method, url: request.url }, 'request failed');
    const record = err instanceof WaitError ? err.record : undefined;
    return reply.code(status).send(record ? { error: oneLine(err), record } : { error: oneLine(err) });
  });
  app.setNotFoundHandler(notFound);
}

/** 404 for a path no route serves. Also set inside /v1, where it runs behind the token like the routes. */
export function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` });
}
