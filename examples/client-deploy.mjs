// A deploy with the client: start the new version of a web app, wait until it answers
// HTTP, stop the version before it (if there is one), and follow that stop to its end.
//
//   node examples/client-deploy.mjs [VERSION]
//
// Connects like the CLI: REDIS_URL and REAPQ_PREFIX from the environment, else defaults.
// Needs a running worker (`npm start` in another terminal is one).
import { FINAL_STATES, NotFoundError, ReapqClient, WaitError } from 'reapq';

const version = process.argv[2] ?? String(Date.now());
// Both options are optional; they are spelt out here to show their names.
const client = new ReapqClient({ redisUrl: process.env.REDIS_URL, prefix: process.env.REAPQ_PREFIX });

// The app: a tiny HTTP server on the port reapq picks (PORT), standing in for `npm start`.
const app = `require('node:http').createServer((q, s) => s.end('version ${version}\\n')).listen(process.env.PORT)`;

try {
  // Which version runs now: the newest running `web` process, if any.
  const previous = (await client.list({ state: 'running' }))
    .filter((r) => r.name === 'web')
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    .at(-1);

  const next = await client.start({
    id: `web-${version}`, // idempotent: running this again with the same VERSION is one process
    name: 'web',
    command: [process.execPath, '-e', app],
    env: { NODE_ENV: 'production' },
    port: 'auto',
    restart: 'on-failure',
    graceMs: 5_000,
    ready: { kind: 'http', path: '/', timeoutMs: 30_000 },
  });
  let running;
  try {
    running = await client.waitFor(next.id, 'running', { timeoutMs: 60_000 });
  } catch (err) {
    // failed: not ready in time, command not found, refused by policy, ...
    if (err instanceof WaitError) console.error(`deploy of ${next.id} failed: ${err.message}`);
    throw err;
  }
  console.log(`${running.id} answers on port ${running.port}`);

  if (!previous || previous.id === running.id) {
    console.log('first deploy: nothing to stop');
  } else {
    await client.stop(previous.id, { signal: 'SIGTERM', graceMs: 5_000 });
    // Follow the old version's events from the start until its stop is final, then end.
    const done = new AbortController();
    for await (const e of client.follow(previous.id, 0, done.signal)) {
      console.log(`${previous.id} v${e.version} ${e.event.type}`);
      // An event is a step; the record says when the story is over (stopped, exited, ...).
      if (FINAL_STATES.has((await client.get(previous.id)).state)) done.abort();
    }
    console.log(`${previous.id} is ${(await client.get(previous.id)).state}: its whole tree is gone`);
  }

  console.log(`last lines of ${running.id}:`, await client.logs(running.id, 5));
} catch (err) {
  if (err instanceof NotFoundError) console.error(`no such process: ${err.message}`);
  process.exitCode = 1;
  if (!(err instanceof WaitError) && !(err instanceof NotFoundError)) throw err;
} finally {
  await client.close();
}
