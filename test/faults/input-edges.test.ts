import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError, NotFoundError } from '../../src/index.js';
import { buildServer } from '../../src/producer/http/server.js';
import { parseJob } from '../../src/shared/jobs.js';
import type { StartSpec } from '../../src/shared/record.js';
import { requestStart } from '../../src/shared/requests.js';
import { internalsOf } from '../../src/producer/client.js';
import { expectNotReady } from '../helpers/client.js';
import { carriersOf, cli, FIXTURES, useWorker } from '../helpers/workers.js';

const t = useWorker('h-edges');

/** A start refused by the client, over HTTP (400) and on the CLI (exit 2, one line), each with `reason`, and no record written. */
async function refusedAtTheEdges(
  app: ReturnType<typeof buildServer>,
  payload: StartSpec & { id: string },
  cliArgs: string[],
  reason: RegExp,
) {
  await expect(t.client.start(payload)).rejects.toThrow(reason);
  const res = await app.inject({ method: 'POST', url: '/v1/processes', payload });
  expect(res.statusCode, res.body).toBe(400);
  expect(res.json().error).toMatch(reason);
  const r = await cli(t.env, cliArgs);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(reason);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  await expect(t.client.get(payload.id)).rejects.toBeInstanceOf(NotFoundError);
}

describe('input edges', () => {
  it('refuses . and .. as ids at the client, over HTTP (400) and on the CLI (exit 2)', async () => {
    for (const id of ['.', '..']) {
      await expect(t.client.start({ id, command: ['true'] })).rejects.toThrow(/invalid start: id: must not be \. or \.\./);
      const r = await cli(t.env, ['start', '--id', id, '--', 'true']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const app = buildServer(t.client);
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/processes', payload: { id: '..', command: ['true'] } });
      expect(res.statusCode).toBe(400);
      expect((await app.inject({ url: '/v1/processes/a:b' })).statusCode).toBe(400);
    } finally {
      await app.close();
    }
  });

  it('answers a malformed id with exit 2 like HTTP 400, an unknown one with exit 1', async () => {
    for (const args of [
      ['show', 'a:b'],
      ['stop', '..'],
      ['events', '42'],
      ['logs', 'x y'],
    ]) {
      const r = await cli(t.env, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/invalid id/);
    }
    expect((await cli(t.env, ['show', 'no-such-id'])).code).toBe(1);
    await expect(t.client.get('a:b')).rejects.toBeInstanceOf(InputError);
    await expect(t.client.get('no-such-id')).rejects.toBeInstanceOf(NotFoundError);
    await expect(t.client.list({ state: 'constructor' as never })).rejects.toBeInstanceOf(InputError);
  });

  it('rejects unknown fields at the client instead of dropping them', async () => {
    await expect(t.client.start({ id: 'typo', command: ['sleep', '1000'], restartPolicy: 'always' } as never)).rejects.toThrow(
      /invalid start: .*restartPolicy/,
    );
    await expect(t.client.get('typo')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('applies the size limits before anything is stored', async () => {
    const big = 'x'.repeat(1024 * 1024);
    await expect(t.client.start({ id: 'big-env', command: ['true'], env: { BIG: big } })).rejects.toThrow(
      /env is \d+ bytes, over REAPQ_MAX_ENV_BYTES=65536/,
    );
    await expect(
      t.client.start({ id: 'big-arg', command: ['echo', ...Array.from({ length: 5 }, () => 'y'.repeat(60_000))] }),
    ).rejects.toThrow(/command is \d+ bytes, over REAPQ_MAX_ARG_BYTES=262144/);
    await expect(t.client.get('big-env')).rejects.toBeInstanceOf(NotFoundError);
    await expect(t.client.get('big-arg')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a readiness path no HTTP request can carry: client, HTTP 400, CLI exit 2, nothing written', async () => {
    const paths: Array<[string, RegExp]> = [
      ['/health\r\nX-Injected: 1', /ready\.path: contains a control character \(U\+000D\) at 7: percent-encode it \(%0D\)/],
      ['/a\tb', /ready\.path: contains a control character \(U\+0009\) at 2: percent-encode it \(%09\)/],
      ['/two words', /ready\.path: contains a space \(U\+0020\) at 4: percent-encode it \(%20\)/],
      ['/caf\u00e9', /ready\.path: contains a character outside ASCII \(U\+00E9\) at 4: percent-encode it \(%C3%A9\)/],
    ];
    const app = buildServer(t.client);
    try {
      for (const [i, [path, reason]] of paths.entries()) {
        const id = `bad-path-${i}`;
        await refusedAtTheEdges(
          app,
          { id, command: ['sleep', '1000'], port: 'auto', ready: { kind: 'http', path } },
          ['start', '--id', id, '--port', 'auto', '--ready-http', path, '--', 'sleep', '1000'],
          reason,
        );
      }
      // A log pattern with a line break could never match one line of output.
      await expect(t.client.start({ command: ['true'], ready: { kind: 'log', pattern: 'a\nb' } })).rejects.toThrow(
        /ready\.pattern: contains a line break: output is matched one line at a time/,
      );
      // Escaped, the same path is fine.
      const ok = await t.client.start({
        command: ['sleep', '1000'],
        port: 'auto',
        ready: { kind: 'http', path: '/health%0D%0A', timeoutMs: 200 },
      });
      await expect(t.client.waitFor(ok.id, 'running', { timeoutMs: 10_000 })).rejects.toThrow(/not ready within 200 ms/);
    } finally {
      await app.close();
    }
  });

  it('refuses a name with a control character: client, HTTP 400, CLI exit 2, nothing written', async () => {
    const names: Array<[string, RegExp]> = [
      ['web\nfake-row running', /name: contains a control character \(U\+000A\) at 3/],
      ['\u001b[2Jweb', /name: contains a control character \(U\+001B\) at 0/],
    ];
    const app = buildServer(t.client);
    try {
      for (const [i, [name, reason]] of names.entries()) {
        const id = `bad-name-${i}`;
        await refusedAtTheEdges(
          app,
          { id, name, command: ['sleep', '1000'] },
          ['start', '--id', id, '--name', name, '--', 'sleep', '1000'],
          reason,
        );
      }
    } finally {
      await app.close();
    }
  });

  it('ends a readiness check Node cannot send (a record written before the check) with a verdict at once', async () => {
    // Written past the schema, as a record from before the edge refused such paths.
    const c = internalsOf(t.client);
    const rec = await requestStart({ store: c.store, jobs: c.jobs, defaultGraceMs: 1000 }, 'old-bad-path', {
      command: [join(FIXTURES, 'tree.sh')],
      port: 'auto',
      ready: { kind: 'http', path: '/health\r\n', timeoutMs: 600_000 },
    });
    await expectNotReady(t.client, rec.id, /GET "\/health\\r\\n" cannot be sent: Request path contains unescaped characters/, 15_000);
  });

  it('handles Object.prototype names as plain names', async () => {
    expect(() => parseJob('constructor', {})).toThrow('unknown job name "constructor"');
    expect(() => parseJob('toString', {})).toThrow('unknown job name "toString"');
    const rec = await t.client.start({
      id: 'constructor',
      name: 'toString',
      command: ['sleep', '1000'],
      env: { constructor: '1', __proto__: '2' } as Record<string, string>,
    });
    await t.client.waitFor(rec.id, 'running');
    const shown = await cli(t.env, ['show', 'constructor', '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).name).toBe('toString');
    expect(carriersOf('constructor')).toHaveLength(1);
    const stopped = await cli(t.env, ['stop', 'constructor', '--wait']);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(carriersOf('constructor')).toEqual([]);
  });
});
