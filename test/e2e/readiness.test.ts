import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectNotReady } from '../helpers/client.js';
import { carriersOf, FIXTURES, until, useWorker } from '../helpers/workers.js';

const t = useWorker('h-ready');

describe('readiness', () => {
  it('is running only once its HTTP path answers 2xx', async () => {
    const rec = await t.client.start({
      command: ['npm', 'run', 'start'],
      cwd: join(FIXTURES, 'app'),
      port: 'auto',
      ready: { kind: 'http', path: '/' },
    });
    const running = await t.client.waitFor(rec.id, 'running', { timeoutMs: 15_000 });
    const res = await fetch(`http://127.0.0.1:${running.port}/`);
    expect(await res.text()).toBe('ok');
    const types = (await t.client.events(rec.id)).map((e) => e.event.type);
    expect(types.slice(0, 4)).toEqual(['start_requested', 'spawn_begun', 'spawned', 'ready']);
    expect(running.readyAt).not.toBeNull();
    await t.client.stop(rec.id);
    await t.client.waitFor(rec.id, 'stopped');
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('waits in starting for a matching log line', async () => {
    const rec = await t.client.start({
      command: ['sh', '-c', 'sleep 0.6; echo "server listening on 1234"; exec sleep 1000'],
      ready: { kind: 'log', pattern: 'listening on \\d+' },
    });
    await until(async () => (await t.client.get(rec.id)).pid !== null, 5000, 'spawned');
    expect((await t.client.get(rec.id)).state).toBe('starting');
    const running = await t.client.waitFor(rec.id, 'running', { timeoutMs: 5000 });
    expect(Date.parse(running.readyAt!) - Date.parse(running.startedAt!)).toBeGreaterThanOrEqual(500);
    await t.client.stop(rec.id);
    await t.client.waitFor(rec.id, 'stopped');
  });

  it('fails a start that never becomes ready and stops its tree', async () => {
    const rec = await t.client.start({ command: [join(FIXTURES, 'tree.sh')], port: 'auto', ready: { kind: 'tcp', timeoutMs: 500 } });
    await expectNotReady(t.client, rec.id, /not ready within 500 ms/, 10_000);
    expect((await t.client.events(rec.id)).map((e) => e.event.type)).toContain('not_ready');
  });

  it('says failed only once a tree that ignores SIGTERM is gone (SIGKILL after its grace period)', async () => {
    const rec = await t.client.start({
      command: [join(FIXTURES, 'ignores-term.sh')],
      port: 'auto',
      graceMs: 1500,
      ready: { kind: 'tcp', timeoutMs: 500 },
    });
    await expectNotReady(t.client, rec.id, /not ready within 500 ms/, 10_000);
  });

  it('stops a process still waiting to be ready', async () => {
    const rec = await t.client.start({ command: ['sleep', '1000'], ready: { kind: 'log', pattern: 'never printed', timeoutMs: 60_000 } });
    await until(async () => (await t.client.get(rec.id)).pid !== null, 5000, 'spawned');
    await t.client.stop(rec.id);
    const done = await t.client.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
    expect(done.readyAt).toBeNull();
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('rejects a bad readiness spec before writing anything', async () => {
    await expect(t.client.start({ command: ['x'], ready: { kind: 'log', pattern: '(' } })).rejects.toThrow(/regular expression/);
    await expect(t.client.start({ command: ['x'], ready: { kind: 'http', path: 'health' } })).rejects.toThrow(/must start with \//);
  });
});
