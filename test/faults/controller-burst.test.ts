import { describe, expect, it } from 'vitest';
import { useClient } from '../helpers/client.js';
import { alive, startWorker, until } from '../helpers/workers.js';

/**
 * The controller under a burst, in a file of its own: three rounds of a thousand processes
 * keep one worker busy for minutes, which other files spend beside it instead of after it.
 */
const { env, c } = useClient();

const events = async (id: string) => (await c.events(id)).map((e) => e.event);

describe('the controller under a burst', () => {
  it('bursts of starts at once: the reconcile pass kills none of them, and every stop ends stopped', async () => {
    const w = await startWorker(env, 'h-burst');
    // As reported: 1,000 starts at once through one client, three rounds back to back.
    for (let round = 0; round < 3; round++) {
      const recs = await Promise.all(Array.from({ length: 1000 }, () => c.start({ command: ['sleep', '1000'] })));
      const ran = await Promise.all(recs.map((r) => c.waitFor(r.id, 'running', { timeoutMs: 120_000 })));
      // A couple of reconcile passes (500 ms apart) run over the fresh processes.
      await until(
        async () => {
          const hosts = await c.hosts();
          const h = hosts.find((x) => x.hostId === 'h-burst');
          return (h?.counters?.reconcilePasses ?? 0) >= (round + 1) * 4;
        },
        20_000,
        'reconcile passes',
      );
      const now = await Promise.all(recs.map((r) => c.get(r.id)));
      expect(now.filter((r) => r.state !== 'running').map((r) => `${r.id} ${r.state} ${r.endReason}`)).toEqual([]);
      expect(alive(ran.map((r) => r.pid!))).toHaveLength(ran.length);
      for (const r of recs) expect((await events(r.id)).filter((e) => e.type === 'drift')).toEqual([]);
      await Promise.all(recs.map((r) => c.stop(r.id)));
      const ended = await Promise.all(recs.map((r) => c.waitFor(r.id, ['stopped', 'exited'], { timeoutMs: 120_000 })));
      expect(ended.filter((r) => r.state !== 'stopped')).toEqual([]);
    }
    await w.stop();
  }, 400_000);
});
