import { describe, expect, it } from 'vitest';
import { InputError, NotFoundError } from '../../src/index.js';
import { buildServer } from '../../src/producer/http/server.js';
import { parseJob } from '../../src/shared/jobs.js';
import { carriersOf, cli, useWorker } from '../helpers/workers.js';

const t = useWorker('h-edges');

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
