// A web backend that deploys apps through reapq and serves them behind a reverse proxy.
//
//   POST /apps/:name/deploy  {"version": "v2", "broken": false, "replicas": 1}
//        queues a deploy of app.mjs and streams its steps as server-sent events
//   POST /apps/:name/scale   {"replicas": 3}
//        the same revision with another count, its steps streamed likewise
//   ANY  /apps/:name/*       proxied to the app's active revision (round robin over its replicas)
//
// The proxy switches a replica in only once reapq says it is ready (its /health answered),
// and takes the replica it replaces out before reapq stops it: no request fails in a deploy,
// and a version that never gets ready is rolled back without ever receiving traffic. A
// replica that dies unannounced (kill -9, a crash) is dropped from the pool at its first
// refused or cut connection and the request retried on another replica; it comes back
// when reapq has restarted it (a look at reapq every 500 ms while no deploy is under way).
//
//   node examples/deploy-backend/server.mjs     (REDIS_URL, REAPQ_PREFIX, LISTEN=127.0.0.1:3000)
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
import { InputError, NotFoundError, ReapqClient } from 'reapq';

const APP = fileURLToPath(new URL('./app.mjs', import.meta.url));
const client = new ReapqClient({ redisUrl: process.env.REDIS_URL, prefix: process.env.REAPQ_PREFIX });
const fastify = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } });
fastify.setErrorHandler((err, request, reply) => {
  const code = err instanceof InputError ? 400 : err instanceof NotFoundError ? 404 : (err.statusCode ?? 500);
  reply.code(code).send({ error: err.message });
});

/** Active endpoints per app, keyed by process id: { url, run } (the run it was seen serving). */
const pools = new Map();
const rr = new Map();
const pool = (name) => pools.get(name) ?? pools.set(name, new Map()).get(name);
/** Apps with a deploy or scale being followed: their pool moves with its steps only. */
const following = new Set();
/** Per app, bumped when a follow begins or ends: a look at reapq from before is stale. */
const epochs = new Map();
const bump = (name) => epochs.set(name, (epochs.get(name) ?? 0) + 1);
/** Per process id, the run whose connection failed: not taken back until reapq runs it anew. */
const down = new Map();

async function endpointOf(processId) {
  const rec = await client.get(processId);
  return rec.port && rec.state === 'running' ? { url: `http://127.0.0.1:${rec.port}`, run: rec.runId } : null;
}

/** The app's pool from reapq: the running processes of its active revision (a run that failed here left out). */
async function sync(name) {
  const epoch = epochs.get(name);
  const next = new Map();
  try {
    const svc = await client.service(name);
    for (const p of svc.active?.processes ?? []) {
      const at = p.state === 'running' && p.port ? await endpointOf(p.id) : null;
      if (at && down.get(p.id) !== at.run) next.set(p.id, at);
    }
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  // A deploy that began (or ended) meanwhile owns the pool.
  if (!following.has(name) && epochs.get(name) === epoch) pools.set(name, next);
}

// Restarted replicas come back into the pool; dead ones reapq saw go out.
setInterval(() => {
  for (const name of pools.keys()) if (!following.has(name)) sync(name).catch((err) => fastify.log.warn({ err }, 'pool sync failed'));
}, 500).unref();

fastify.post('/apps/:name/deploy', async (request, reply) => {
  const { name } = request.params;
  const { version = String(Date.now()), broken = false, replicas = 1 } = request.body ?? {};
  const deploy = await client.deploy({
    service: name,
    command: [process.execPath, APP],
    env: { VERSION: String(version), ...(broken ? { BROKEN: '1' } : {}) },
    port: 'auto',
    restart: 'on-failure',
    ready: { kind: 'http', path: '/health', timeoutMs: 5_000 },
    timeoutMs: 10_000,
    replicas,
  });
  let previous = [];
  const newReplicas = [];
  await follow(reply, name, deploy.id, async (event, p) => {
    if (event.type === 'began') previous = event.previous?.processes ?? [];
    if (event.type === 'revision_started') newReplicas.push(event.process);
    if (event.type === 'replica_ready') {
      // In: the new replica. Out: the one it replaces (reapq stops it next), and on the
      // last replica every previous one beyond the new count.
      const at = await endpointOf(event.process);
      if (at) p.set(event.process, at);
      p.delete(previous[event.replica]);
      if (event.replica === replicas - 1) for (const old of previous.slice(replicas)) p.delete(old);
    }
    if (event.type === 'rollback_begun') {
      // The new replicas are stopped: out of the pool, unless nothing else would serve.
      const rest = [...p.keys()].filter((id) => !newReplicas.includes(id));
      if (rest.length > 0) for (const id of newReplicas) p.delete(id);
    }
  });
});

fastify.post('/apps/:name/scale', async (request, reply) => {
  const { name } = request.params;
  const replicas = request.body?.replicas;
  const scale = await client.scale(name, replicas);
  await follow(reply, name, scale.id, async (event, p) => {
    // Down: the replicas beyond the count leave the proxy before reapq stops them. Up: a
    // new one enters once ready; the ones serving are left alone.
    if (event.type === 'began') for (const old of event.previous?.processes.slice(replicas) ?? []) p.delete(old);
    if (event.type === 'replica_ready') {
      const at = await endpointOf(event.process);
      if (at) p.set(event.process, at);
    }
  });
});

/** Streams a deploy's steps as server-sent events, letting `onStep` move the proxy's pool first; ends with `done`. */
async function follow(reply, name, deployId, onStep) {
  if (!pools.has(name)) await sync(name);
  following.add(name);
  bump(name);
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (data) => reply.raw.write(`data: ${JSON.stringify(data)}\n\n`);
  try {
    for await (const { event } of client.followDeploy(deployId)) {
      await onStep(event, pool(name));
      send({ deploy: deployId, ...event });
    }
  } finally {
    following.delete(name);
    bump(name);
  }
  await sync(name);
  const fin = await client.getDeploy(deployId);
  send({ deploy: deployId, type: 'done', state: fin.state, reason: fin.reason });
  reply.raw.end();
}

fastify.get('/apps', async () => client.services());

/** Connection errors that mean the replica is gone, not that the app answered badly. */
const GONE = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);
/** Safe to send twice: a request the dead replica may have half-handled. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A replica of the app this request has not tried yet, round robin; remembered on the request. */
function pick(request) {
  const { name } = request.params;
  const p = (request.proxied ??= { tried: new Set(), at: null });
  const choices = [...pool(name)].filter(([id]) => !p.tried.has(id));
  const i = (rr.get(name) ?? 0) % Math.max(choices.length, 1);
  rr.set(name, i + 1);
  const [id, at] = choices[i] ?? [null, null];
  p.at = id && { id, ...at };
  if (id) p.tried.add(id);
  return at?.url ?? 'http://127.0.0.1:9';
}

fastify.register(proxy, {
  prefix: '/apps/:name',
  // No fixed upstream: getUpstream picks one per request.
  upstream: '',
  rewritePrefix: '',
  preHandler: async (request, reply) => {
    const { name } = request.params;
    if (!pools.has(name)) await sync(name);
    if (pool(name).size === 0) return reply.code(503).send({ error: `no active revision of ${name}` });
  },
  // The first replica is picked before this; kept on the request with a picker, so a failed
  // attempt can be sent again to another replica.
  handler: (request, reply, dest, options) => {
    Object.assign(request.proxied, { dest, again: { ...options, getUpstream: pick } });
    return reply.from(dest, options);
  },
  replyOptions: {
    getUpstream: pick,
    onError: (reply, { error }) => {
      const { request } = reply;
      const { name } = request.params;
      const p = request.proxied;
      const code = error.cause?.code ?? error.code;
      if (p?.at && GONE.has(code)) {
        // The replica died under us: out of the pool until reapq runs it again.
        if (pool(name).get(p.at.id)?.run === p.at.run) pool(name).delete(p.at.id);
        down.set(p.at.id, p.at.run);
        const again = code === 'ECONNREFUSED' || IDEMPOTENT.has(request.method);
        if (again && [...pool(name).keys()].some((id) => !p.tried.has(id))) return reply.from(p.dest, p.again);
      }
      reply.send(error);
    },
  },
});

const [host, port] = (process.env.LISTEN ?? '127.0.0.1:3000').split(':');
await fastify.listen({ host, port: Number(port) });
for (const sig of ['SIGINT', 'SIGTERM'])
  process.once(sig, async () => {
    await fastify.close();
    await client.close();
  });
