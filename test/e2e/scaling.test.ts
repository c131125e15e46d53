import { describe, expect, it } from 'vitest';
import { stopRecords, useHosts } from '../helpers/client.js';
import { carriersOf, cli, innerPid, stopGracefully, until } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';

// Each test leaves nothing for the next: its processes stopped, then its hosts.
const { env, c, host } = useHosts((client) => stopRecords(client, 500));

describe('several hosts', () => {
  it('spreads starts by capacity and routes each stop to the owning host', async () => {
    const a = await host('h-a', ['--max-processes', '2']);
    const b = await host('h-b', ['--max-processes', '2']);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await c.start({ command: ['sleep', '1000'] })).id);
    const recs = await Promise.all(ids.map((id) => c.waitFor(id, 'running', { timeoutMs: 10_000 })));
    const byHost = (h: string) => recs.filter((r) => r.host === h).length;
    expect([byHost('h-a'), byHost('h-b')]).toEqual([2, 2]);

    // Both hosts are full: a fifth start waits until one has room.
    const fifth = await c.start({ command: ['sleep', '1000'] });
    // Positive signal: full hosts took its start job and handed it back, twice over (each
    // take stamps processedOn; a hand-back leaves the job delayed).
    const takes = new Set<number>();
    await until(
      async () => {
        const job = await internalsOf(c).queue(internalsOf(c).keys.startQueue).getJob(fifth.id);
        if (job?.processedOn && (await job.getState()) === 'delayed') takes.add(job.processedOn);
        return takes.size >= 2;
      },
      10_000,
      'full hosts to hand the fifth start back twice',
    );
    expect((await c.get(fifth.id)).state).toBe('pending');
    const onA = recs.find((r) => r.host === 'h-a')!;
    await c.stop(onA.id);
    expect((await c.waitFor(onA.id, 'stopped')).host).toBe('h-a');
    expect((await c.waitFor(fifth.id, 'running', { timeoutMs: 10_000 })).host).toBe('h-a');

    for (const r of [...recs.filter((x) => x.id !== onA.id), await c.get(fifth.id)]) {
      await c.stop(r.id);
      const done = await c.waitFor(r.id, 'stopped');
      expect(done.host).toBe(r.host);
      expect(carriersOf(r.id)).toEqual([]);
    }
    expect(await stopGracefully(a)).toBe(0);
    expect(await stopGracefully(b)).toBe(0);
  });

  it('marks the processes of a host killed outright lost and brings `always` ones back elsewhere', async () => {
    const a = await host('h-gone');
    const ids = [
      (await c.start({ command: ['sleep', '1000'], restart: 'always' })).id,
      (await c.start({ command: ['sleep', '1000'], restart: 'always' })).id,
      (await c.start({ command: ['sleep', '1000'], restart: 'never' })).id,
    ];
    for (const id of ids) expect((await c.waitFor(id, 'running')).host).toBe('h-gone');
    const b = await host('h-survivor');
    process.kill(innerPid(a), 'SIGKILL'); // PID 1 of the namespace dies: the kernel kills every process in it
    await a.stop();
    for (const id of ids) await until(() => carriersOf(id).length === 0, 5000, 'namespace emptied');

    for (const id of ids.slice(0, 2)) {
      const back = await until(
        async () => {
          const r = await c.get(id);
          return r.state === 'running' && r.host === 'h-survivor' ? r : null;
        },
        15_000,
        `${id} back on h-survivor`,
      );
      expect(back.restarts).toBe(1);
      const evs = await c.events(id);
      expect(evs.some((e) => e.event.type === 'drift' && e.event.kind === 'host-lost')).toBe(true);
      expect(carriersOf(id)).toHaveLength(1); // one process, on one host
    }
    const never = await c.waitFor(ids[2]!, 'lost', { timeoutMs: 5000 });
    expect(never.error).toMatch(/h-gone stopped sending heartbeats/);

    for (const id of ids.slice(0, 2)) {
      await c.stop(id);
      await c.waitFor(id, 'stopped');
    }
    expect(await stopGracefully(b)).toBe(0);
  });

  it('sends no new starts to a drained host, which keeps serving its processes', async () => {
    const a = await host('h-drained');
    const kept = await c.start({ command: ['sleep', '1000'] });
    expect((await c.waitFor(kept.id, 'running')).host).toBe('h-drained');
    const b = await host('h-open');
    const drain = await cli(env, ['drain', 'h-drained']);
    expect(drain.code).toBe(0);
    await until(
      async () =>
        JSON.parse((await cli(env, ['hosts', '--json'])).stdout).some(
          (h: { hostId: string; state: string }) => h.hostId === 'h-drained' && h.state === 'draining',
        ),
      5000,
      'draining',
    );
    const fresh = [];
    for (let i = 0; i < 4; i++) fresh.push((await c.start({ command: ['sleep', '1000'] })).id);
    for (const id of fresh) expect((await c.waitFor(id, 'running')).host).toBe('h-open');
    await c.stop(kept.id); // the drained host still carries out stops
    expect((await c.waitFor(kept.id, 'stopped')).host).toBe('h-drained');
    for (const id of fresh) await c.stop(id);
    for (const id of fresh) await c.waitFor(id, 'stopped');
    expect((await cli(env, ['drain', 'h-drained', '--off'])).code).toBe(0);
    expect(await stopGracefully(a)).toBe(0);
    expect(await stopGracefully(b)).toBe(0);
  });

  it('drops starts stopped while they waited from a batch a full host hands back, and the batch once none is left', async () => {
    const a = await host('h-full', ['--max-processes', '1']);
    const first = await c.start({ command: ['sleep', '1000'] });
    await c.waitFor(first.id, 'running');
    // Issued in one turn: one `starts` job, which the full host keeps handing back.
    const recs = await Promise.all([1, 2, 3].map(() => c.start({ command: ['sleep', '1000'] })));
    const queue = internalsOf(c).queue(internalsOf(c).keys.startQueue);
    const queued = async () => {
      const n = await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      return Object.values(n).reduce((x, y) => x + y, 0);
    };
    await until(
      async () => (await queue.getJobs(['delayed'])).some((j) => j.name === 'starts' && j.processedOn),
      5000,
      'the batch handed back',
    );
    await c.stop(recs[0]!.id);
    // Positive signal: the batch comes back holding only the two still wanted.
    await until(
      async () => (await queue.getJobs(['delayed', 'waiting'])).some((j) => j.name === 'starts' && j.data.starts.length === 2),
      5000,
      'the batch without the stopped start',
    );
    for (const r of recs.slice(1)) await c.stop(r.id);
    await until(async () => (await queued()) === 0, 5000, 'no start left on the queue');
    for (const r of recs) expect((await c.get(r.id)).state).toBe('stopped');
    expect((await c.get(first.id)).state).toBe('running');
    await c.stop(first.id);
    await c.waitFor(first.id, 'stopped');
    expect(await stopGracefully(a)).toBe(0);
  });
});
