import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/producer/http/server.js';
import { carriersOf, until, useWorker } from '../helpers/workers.js';

const t = useWorker('h-crashloop');
let app: FastifyInstance | undefined;
afterAll(async () => {
  await app?.close();
});

const sample = (body: string, name: string) => Number(new RegExp(`^${name}\\{host="h-crashloop"\\} (\\d+)$`, 'm').exec(body)?.[1] ?? NaN);

describe('metrics of a crash loop', () => {
  it('counts the exits, the restarts and the give-up of a process that keeps failing at once', async () => {
    app = buildServer(t.client, {});
    const scrape = async () => (await app!.inject({ url: '/metrics' })).body;
    const before = await scrape();
    expect(sample(before, 'reapq_restarts_total')).toBe(0);
    expect(sample(before, 'reapq_crash_loop_gave_up_total')).toBe(0);

    const rec = await t.client.start({ command: ['sh', '-c', 'exit 3'], restart: 'always' });
    const failed = await until(
      async () => {
        const r = await t.client.get(rec.id);
        return r.state === 'failed' ? r : null;
      },
      20_000,
      'the crash loop to be given up',
    );
    expect(failed.endReason).toBe('crash-loop');
    // The counters travel in the next heartbeat.
    const body = await until(
      async () => {
        const b = await scrape();
        return sample(b, 'reapq_crash_loop_gave_up_total') === 1 ? b : null;
      },
      5_000,
      'the give-up in /metrics',
    );
    expect(sample(body, 'reapq_restarts_total')).toBe(failed.restarts);
    expect(failed.restarts).toBeGreaterThanOrEqual(3);
    expect(sample(body, 'reapq_exits_total')).toBe(failed.restarts + 1);
    expect(sample(body, 'reapq_starts_total')).toBe(failed.restarts + 1);
    expect(carriersOf(rec.id)).toEqual([]);
  });
});
