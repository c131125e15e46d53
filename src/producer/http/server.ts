import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Config } from '../../shared/config.js';
import { DEFAULT_API_RATE_LIMIT } from '../../shared/defaults.js';
import { InputError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { ReapqClient } from '../client.js';
import { bearerAuth } from './auth.js';
import type { ApiContext } from './context.js';
import { registerDashboardRoute } from './dashboard.js';
import { registerDashboardFeedRoute } from './dashboard-feed.js';
import { installErrorHandling, notFound } from './errors.js';
import { registerDeployRoutes } from './deploys.js';
import { registerEventRoutes } from './events.js';
import { registerHealthRoute } from './health.js';
import { registerFsckRoute } from './fsck.js';
import { registerHostRoutes } from './hosts.js';
import { isLoopback, parseListen } from './listen-address.js';
import { registerLogRoutes } from './logs.js';
import { registerMetricsRoute } from './metrics.js';
import { registerOpenApi, registerOpenApiRoute } from './openapi.js';
import { registerProcessRoutes } from './processes.js';
import { registerQueueRoutes } from './queues.js';
import { SseStreams } from './sse.js';

export interface ApiOptions {
  /** When set, every /v1 route needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Where this host's process logs are (default: the client's REAPQ_DATA_DIR). */
  dataDir?: string;
  /** Request errors go here; without one the server logs nothing. */
  logger?: Logger;
  /** Requests per minute per client address on /v1; 0 turns the limit off. */
  rateLimitPerMinute?: number;
}

/** Bodies are small JSON specs: anything larger is refused before it is parsed. */
const BODY_LIMIT = 1024 * 1024;

/**
 * The HTTP API over a client. Routes under /v1 (behind the token when there is one),
 * plus /healthz, /metrics and the dashboard at /. Nothing is listening yet: call
 * `listen`, or `inject` in tests. Closing the server ends open event streams; the client
 * stays the caller's to close.
 */
export function buildServer(client: ReapqClient, opts: ApiOptions = {}): FastifyInstance {
  const app = (opts.logger
    ? Fastify({ bodyLimit: BODY_LIMIT, loggerInstance: opts.logger, logController: new LogController({ disableRequestLogging: true }) })
    : Fastify({ bodyLimit: BODY_LIMIT, logger: false })) as unknown as FastifyInstance;
  const streams = new SseStreams();
  const ctx: ApiContext = { client, dataDir: opts.dataDir ?? client.dataDir, streams };

  installErrorHandling(app);
  registerOpenApi(app);
  // Event streams never end on their own: end them, and wait until they stop reading Redis.
  app.addHook('preClose', async () => {
    await streams.closeAll();
  });

  registerDashboardRoute(app);
  registerHealthRoute(app, ctx);
  registerMetricsRoute(app, ctx);
  app.register(
    async (v1) => {
      const perMinute = opts.rateLimitPerMinute ?? DEFAULT_API_RATE_LIMIT;
      if (perMinute > 0) {
        await v1.register(rateLimit, {
          max: perMinute,
          timeWindow: 60_000,
          errorResponseBuilder: (_req, c) =>
            Object.assign(new Error(`rate limit: at most ${c.max} requests per minute, retry in ${c.after}`), { statusCode: 429 }),
        });
      }
      if (opts.token) v1.addHook('onRequest', bearerAuth(opts.token));
      v1.setNotFoundHandler(notFound);
      registerProcessRoutes(v1, ctx);
      registerEventRoutes(v1, ctx);
      registerDeployRoutes(v1, ctx);
      registerLogRoutes(v1, ctx);
      registerHostRoutes(v1, ctx);
      registerQueueRoutes(v1, ctx);
      registerFsckRoute(v1, ctx);
      registerDashboardFeedRoute(v1, ctx);
      registerOpenApiRoute(v1, app);
    },
    { prefix: '/v1' },
  );
  return app;
}

export interface RunningApi {
  server: FastifyInstance;
  client: ReapqClient;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** Stops accepting, ends event streams, waits for requests in flight, closes the client. */
  close(): Promise<void>;
}

/**
 * Serves the API on HOST:PORT with the token of the config. Refuses, before connecting to
 * anything, to listen beyond loopback without REAPQ_API_TOKEN.
 */
export async function listenApi(config: Config, listen: string, logger?: Logger): Promise<RunningApi> {
  const { host, port } = parseListen(listen);
  if (!config.apiToken && !isLoopback(host)) {
    throw new InputError(`refusing to listen on ${listen} without REAPQ_API_TOKEN: set a token (16+ characters) or listen on 127.0.0.1`);
  }
  const client = new ReapqClient({
    env: {
      ...process.env,
      REDIS_URL: config.redisUrl,
      REAPQ_PREFIX: config.prefix,
      REAPQ_DEFAULT_GRACE_MS: String(config.defaultGraceMs),
      REAPQ_GLOBAL_EVENTS_MAX: String(config.globalEventsMax),
    },
  });
  const server = buildServer(client, {
    token: config.apiToken,
    dataDir: config.dataDir,
    rateLimitPerMinute: config.apiRateLimit,
    ...(logger ? { logger } : {}),
  });
  try {
    await server.listen({ host, port });
  } catch (err) {
    await server.close().catch(() => undefined);
    await client.close().catch(() => undefined);
    throw err;
  }
  const addr = server.server.address();
  const bound = typeof addr === 'object' && addr ? addr : { address: host, port };
  const url = `http://${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`;
  return {
    server,
    client,
    url,
    async close() {
      await server.close();
      await client.close();
    },
  };
}
