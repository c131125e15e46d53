import { Redis, type RedisOptions } from 'ioredis';

/**
 * One place that opens Redis connections. BullMQ workers need maxRetriesPerRequest=null
 * (blocking commands must wait across reconnects); producers use a bounded retry so a call
 * fails with an error instead of hanging while Redis is away.
 */
export function connect(url: string, kind: 'blocking' | 'command', extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: kind === 'blocking' ? null : 3,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: false,
    ...extra,
  });
}
