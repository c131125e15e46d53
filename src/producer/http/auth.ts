import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * An onRequest hook that lets a request through only with `Authorization: Bearer <token>`.
 * Both sides are hashed first so the comparison is constant-time and length-independent.
 */
export function bearerAuth(token: string): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const want = digest(token);
  return async (request, reply) => {
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (m && timingSafeEqual(digest(m[1]!), want)) return undefined;
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="reapq"')
      .send({ error: m ? 'invalid bearer token' : 'missing bearer token: send Authorization: Bearer <REAPQ_API_TOKEN>' });
  };
}
