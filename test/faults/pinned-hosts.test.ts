import { describe, expect, it } from 'vitest';
import { internalsOf } from '../../src/producer/client.js';
import { buildServer } from '../../src/producer/http/server.js';
import { startJobId } from '../../src/shared/jobs.js';
import { carriersOf, cli, startWorker, until, useWorker } from '../helpers/workers.js';

// The fleet pass runs on this worker: it judges the hosts the tests below start and kill.
const t = useWorker('h-pin');

const hostOf = async (id: string) => (await t.client.hosts()).find((h) => h.hostId === id);
const types = async (id: string) => (await t.client.events(id)).map((e) => e.event.type);

describe('starts pinned to a host that is not alive', () => {
  it('fail at once when the host is unknown: client, CLI (exit 1, one line) and HTTP', async () => {
    const rec = await t.client.start({ id: 'to-nowhere', command: ['sleep', '1000'], host: 'h-never' });
    expect(rec.state).toBe('failed');
    expect(rec.error).toBe('host h-never is unknown: no worker has announced it');
    expect(rec.endReason).toBe('spawn-failed');
    expect(await types(rec.id)).toEqual(['start_requested', 'start_failed']);
    // No job waits for a worker that will never come.
    expect(await internalsOf(t.client).queue(internalsOf(t.client).keys.hostQueue('h-never')).getJobCounts()).toMatchObject({
      waiting: 0,
      delayed: 0,
    });

    for (const args of [
      ['start', '--host', 'h-never', '--', 'sleep', '1000'],
      ['start', '--host', 'h-never', '--wait', '--', 'sleep', '1000'],
    ]) {
      const r = await cli(t.env, args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/is failed \(host h-never is unknown: no worker has announced it\), not running/);
      expect((await t.client.get(r.stdout.trim())).state).toBe('failed');
    }

    const app = buildServer(t.client);
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/processes', payload: { command: ['sleep', '1000'], host: 'h-never' } });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ state: 'failed', error: 'host h-never is unknown: no worker has announced it' });
    } finally {
      await app.close();
    }
  });

  it('fail at once when the host is dead', async () => {
    const dead = await startWorker(t.env, 'h-pin-dead');
    await dead.kill();
    await until(async () => (await hostOf('h-pin-dead'))?.alive === false, 10_000, 'h-pin-dead dead');
    const rec = await t.client.start({ command: ['sleep', '1000'], host: 'h-pin-dead' });
    expect(rec.state).toBe('failed');
    expect(rec.error).toMatch(/^host h-pin-dead is dead since \d{4}-\d\d-\d\dT[\d:.]+Z \(last heartbeat \d{4}-[\d:.T-]+Z\)$/);
  });

  it('fail within one fleet pass when the host dies while they wait', async () => {
    const w = await startWorker(t.env, 'h-pin-drained');
    // Drained, the host is alive but takes no start: the pinned one waits for it.
    expect((await cli(t.env, ['drain', 'h-pin-drained'])).code).toBe(0);
    await until(async () => (await hostOf('h-pin-drained'))?.state === 'draining', 10_000, 'draining');
    const rec = await t.client.start({ command: ['sleep', '1000'], host: 'h-pin-drained' });
    expect(rec.state).toBe('pending');
    // Positive signal that the host saw the start and handed it back.
    const q = internalsOf(t.client).queue(internalsOf(t.client).keys.hostQueue('h-pin-drained'));
    await until(
      async () => {
        const job = await q.getJob(startJobId(rec.id, 0));
        return job?.processedOn && (await job.getState()) === 'delayed';
      },
      10_000,
      'the start handed back',
    );
    expect((await t.client.get(rec.id)).state).toBe('pending');

    await w.kill();
    const hb = await until(async () => {
      const h = await hostOf('h-pin-drained');
      return h && !h.alive ? h : null;
    }, 10_000);
    const failed = await t.client.waitFor(rec.id, 'failed', { timeoutMs: 10_000 });
    expect(failed.error).toBe(
      `host h-pin-drained is dead since ${new Date(hb.at + hb.ttlMs).toISOString()} (last heartbeat ${new Date(hb.at).toISOString()})`,
    );
    // Failed by a fleet pass after the heartbeat expired, never before (one clock: this machine's).
    const afterMs = Date.parse(failed.endedAt!) - (hb.at + hb.ttlMs);
    console.log(`pinned start failed ${afterMs} ms after its host's heartbeat expired (fleet pass every 500 ms)`);
    expect(afterMs).toBeGreaterThanOrEqual(0);
    expect(await types(rec.id)).toEqual(['start_requested', 'start_failed']);
    expect(carriersOf(rec.id)).toEqual([]);
  });

  it('wait with the reason when the host shut down cleanly, and run once its next worker comes', async () => {
    const w = await startWorker(t.env, 'h-pin-down');
    expect(await w.stop()).toBe(0);
    expect((await hostOf('h-pin-down'))?.state).toBe('down');
    const r = await cli(t.env, ['start', '--host', 'h-pin-down', '--', 'sleep', '1000']);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(r.stderr).toMatch(
      new RegExp(`^reapq: ${id} waits: host h-pin-down is down since \\S+ \\(its worker shut down\\): waiting for its next worker\\n$`),
    );
    const rec = await t.client.get(id);
    expect(rec.state).toBe('pending');
    expect(rec.error).toMatch(/host h-pin-down is down since/);

    const next = await startWorker(t.env, 'h-pin-down');
    const running = await t.client.waitFor(id, 'running', { timeoutMs: 10_000 });
    expect(running.host).toBe('h-pin-down');
    expect(running.error).toBeNull();
    await t.client.stop(id);
    await t.client.waitFor(id, 'stopped');
    expect(carriersOf(id)).toEqual([]);
    expect(await next.stop()).toBe(0);
  });
});
