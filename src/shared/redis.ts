import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseRedisUrl } from './redis-url.js';

/**
 * Reconnect delay: doubling from 100 ms up to 500 ms, less up to a fifth at random. Behind
 * Sentinel a replica is promoted about 1.8 s after its master died; a 2 s cap left the next
 * try at 3.1 s (the failover fault test), 500 ms finds the new master within half a second.
 * The jitter keeps a fleet of clients from reconnecting in step to a Redis that came back.
 */
export const backoffMs = (times: number, random: () => number): number =>
  Math.round(Math.min(50 * 2 ** Math.min(times, 4), 500) * (1 - random() / 5));
const retryStrategy = (times: number): number => backoffMs(times, Math.random);

/**
 * One place that opens Redis connections. BullMQ workers need maxRetriesPerRequest=null
 * (blocking commands must wait across reconnects); producers use a bounded retry so a call
 * fails with an error instead of hanging while Redis is away.
 *
 * The URL decides the topology (see redis-url.ts): one Redis, a Redis Cluster, or a master
 * found through Sentinel. Sentinel gives a plain `Redis`. A Cluster is returned typed as
 * `Redis` on purpose: every key of a prefix shares one hash slot (keys.ts), so each call,
 * pipeline, MULTI and Lua script reapq and BullMQ send lands on one node, and the commands
 * used (hget/hset/hsetnx/hgetall/set/eval/defineCommand/xadd/xrange/xrevrange/xread/zrange/
 * smembers/ping/pipeline/multi/duplicate/quit/disconnect) exist on `Cluster` with the same
 * call shapes; test/e2e/cluster.test.ts runs each of them on a real cluster. BullMQ tells
 * the two apart at run time (`isCluster`) and reads `redisOptions` for its checks.
 */
export function connect(url: string, kind: 'blocking' | 'command', extra: RedisOptions = {}): Redis {
  const target = parseRedisUrl(url);
  const maxRetriesPerRequest = kind === 'blocking' ? null : 3;
  switch (target.kind) {
    case 'standalone':
      return new Redis(url, { maxRetriesPerRequest, enableOfflineQueue: true, retryStrategy, lazyConnect: false, ...extra });
    case 'sentinel':
      return new Redis({
        maxRetriesPerRequest,
        enableOfflineQueue: true,
        retryStrategy,
        lazyConnect: false,
        sentinels: target.sentinels,
        name: target.name,
        role: 'master',
        db: target.db,
        username: target.username,
        password: target.password,
        sentinelUsername: target.sentinelUsername,
        sentinelPassword: target.sentinelPassword,
        ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
        ...extra,
      });
    case 'cluster': {
      // Options a Cluster takes itself, not per node (ClusterOptions.redisOptions omits them).
      const {
        lazyConnect = false,
        enableOfflineQueue = true,
        retryStrategy: _r,
        host: _h,
        port: _p,
        path: _pa,
        sentinels: _s,
        readOnly: _ro,
        ...nodeExtra
      } = extra;
      const options: ClusterOptions = {
        lazyConnect,
        enableOfflineQueue,
        clusterRetryStrategy: retryStrategy,
        // Nodes announce IPs; with TLS the certificate names the host the URL named, so
        // connect by the announced address as given instead of resolving it (ioredis docs).
        ...(target.tls ? { dnsLookup: (address: string, cb: (err: null, address: string) => void) => cb(null, address) } : {}),
        redisOptions: {
          maxRetriesPerRequest,
          username: target.username,
          password: target.password,
          ...(target.tls ? { tls: {} } : {}),
          ...nodeExtra,
        },
      };
      return new Cluster(target.nodes, options) as unknown as Redis;
    }
  }
}
