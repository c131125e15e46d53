import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stderr (stdout belongs to CLI output). Bound fields: pid and host on
 * every line; child loggers add processId and pgid.
 */
export function makeLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  stream: pino.DestinationStream = pino.destination({ fd: 2, sync: true }),
): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, host: hostname(), ...bindings },
      // Credentials can sit in REDIS_URL; never let them reach a log line.
      redact: { paths: ['redisUrl', '*.redisUrl', 'env', '*.env', 'token'], censor: '[redacted]' },
    },
    stream,
  );
}
