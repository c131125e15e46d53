import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/local-redis.js';
import { carriersOf, useWorker } from '../helpers/workers.js';

const t = useWorker('h-owner');

const serve = (word: string) => [
  process.execPath,
  '-e',
  `require('node:http').createServer((q, s) => s.end('${word}')).listen(Number(process.env.PORT), '127.0.0.1')`,
];
/** The server leaves the leader's tree (its parent subshell exits; the worker, subreaper, inherits it) while the leader stays. */
const escaped = [
  'sh',
  '-c',
  `(${process.execPath} -e "require('node:http').createServer((q, s) => s.end('d')).listen(Number(process.env.PORT), '127.0.0.1')" &); exec sleep 1000`,
];

describe('readiness proven from the run', () => {
  it("an answer on the port counts only when a process of the run listens on it, not another's", async () => {
    const port = await freePort();
    const old = await t.client.start({ command: serve('old'), port, ready: { kind: 'http', path: '/' } });
    const first = await t.client.waitFor(old.id, 'running', { timeoutMs: 15_000 });
    const ready = (await t.client.events(old.id)).find((e) => e.event.type === 'ready')!.event;
    expect(ready).toMatchObject({ how: "GET / answered 200, its listening socket this run's" });
    expect(first.port).toBe(port);

    // A new run that does not listen: the old one answers on the port, which must not make it ready.
    const next = await t.client.start({ command: ['sleep', '1000'], port, ready: { kind: 'http', path: '/', timeoutMs: 1500 } });
    const failed = await t.client.waitFor(next.id, 'failed', { timeoutMs: 15_000 });
    expect(failed.error).toBe(`not ready within 1500 ms (port ${port} answered, but no process of this run listens on it)`);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('old');

    await t.client.stop(old.id);
    await t.client.waitFor(old.id, 'stopped');
    for (const id of [old.id, next.id]) expect(carriersOf(id)).toEqual([]);
  });

  it('a server that left the tree is found by its cookie', async () => {
    const rec = await t.client.start({ command: escaped, port: 'auto', ready: { kind: 'tcp', timeoutMs: 10_000 } });
    await t.client.waitFor(rec.id, 'running', { timeoutMs: 15_000 });
    const ready = (await t.client.events(rec.id)).find((e) => e.event.type === 'ready');
    expect(ready?.event).toMatchObject({ how: expect.stringContaining("its listening socket this run's") });
    await t.client.stop(rec.id);
    await t.client.waitFor(rec.id, 'stopped');
    expect(carriersOf(rec.id)).toEqual([]);
  });
});
