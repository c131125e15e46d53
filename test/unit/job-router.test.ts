import { DelayedError, type Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../src/shared/clock.js';
import { makeLogger } from '../../src/shared/logger.js';
import type { StartOutcome } from '../../src/worker/controller/controller.js';
import { JobRouter, type RouterDeps } from '../../src/worker/job-router.js';
import { stillWanted } from '../../src/shared/job-queues.js';
import type { ProcessRecord } from '../../src/shared/record.js';

/** A BullMQ job as the router sees it: what it was moved to and the data it was given. */
function job(name: string, data: Record<string, unknown>) {
  const j = {
    id: 'j1',
    queueName: 'q',
    attemptsStarted: 1,
    name,
    data,
    delayedTo: null as number | null,
    moveToDelayed: async (ts: number) => void (j.delayedTo = ts),
    updateData: async (d: Record<string, unknown>) => void (j.data = d),
  };
  return j;
}

function router(over: Partial<RouterDeps> & { outcome?: StartOutcome; load?: number } = {}) {
  const clock = manualClock();
  const started: string[] = [];
  const watched: Array<{ queue: string; jobId: string; attemptsStarted: number; ms: number }> = [];
  const requeued: Array<{ queue: string; ids: string[]; ms: number; deferrals: number }> = [];
  const deps: RouterDeps = {
    controller: {
      load: over.load ?? 0,
      start: async (id) => (started.push(id), over.outcome ?? { kind: 'spawned' }),
      stop: async () => undefined,
    },
    deploys: { runService: async () => 'done' },
    passes: { run: async () => ({}) as never },
    clusterPass: async () => null,
    maxProcesses: 2,
    draining: () => false,
    stopBoundMs: 1000,
    reconcileMs: 1000,
    due: { watch: (j, ms) => void watched.push({ ...j, ms }) },
    requeueStarts: async (queue, entries, ms, deferrals) => {
      requeued.push({ queue, ids: entries.map((e) => e.id), ms, deferrals });
      return `j${requeued.length + 1}`;
    },
    stillWanted: async (entries) => entries,
    log: makeLogger('silent'),
    clock,
    ...over,
  };
  return { r: new JobRouter(deps), clock, started, watched, requeued };
}

const run = (r: JobRouter, j: ReturnType<typeof job>) => r.handle(j as unknown as Job, 'token');

describe('job router', () => {
  it('hands a start back, 250 ms later on the wall clock BullMQ scores by, when the host is full or drained', async () => {
    for (const over of [{ load: 2 }, { draining: () => true }]) {
      const { r, clock, started, watched } = router(over);
      const j = job('start', { id: 'p-abc' });
      await expect(run(r, j)).rejects.toBeInstanceOf(DelayedError);
      expect(j.delayedTo).toBe(clock.now() + 250);
      expect(started).toEqual([]);
      // Promoted by the worker when due on the monotonic clock, should the wall clock step back.
      expect(watched).toEqual([{ queue: 'q', jobId: 'j1', attemptsStarted: 1, ms: 250 }]);
    }
  });

  it('counts the starts it took before the first await: two at once on a host with room for one', async () => {
    const { r, started } = router({ load: 1 });
    const [a, b] = [job('start', { id: 'p-a' }), job('start', { id: 'p-b' })];
    const out = await Promise.allSettled([run(r, a), run(r, b)]);
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
    expect(started).toEqual(['p-a']);
    expect(b.delayedTo).not.toBeNull();
  });

  it('a deferred start comes back with a growing backoff, capped at 30 s', async () => {
    const { r, clock } = router({ outcome: { kind: 'deferred', reason: 'no free port' } });
    const j = job('start', { id: 'p-abc' });
    const waits: number[] = [];
    for (let n = 0; n < 8; n++) {
      await expect(run(r, j)).rejects.toBeInstanceOf(DelayedError);
      waits.push(j.delayedTo! - clock.now());
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(j.data).toEqual({ id: 'p-abc', deferrals: 8 });
  });

  it('a batch of starts: the host takes what it has room for and puts the rest back for any host, watched', async () => {
    const { r, started, requeued, watched } = router({ load: 0, maxProcesses: 2 });
    const entries = ['p-a', 'p-b', 'p-c'].map((id) => ({ id, job: id }));
    await run(r, job('starts', { starts: entries }));
    expect(started).toEqual(['p-a', 'p-b']);
    expect(requeued).toEqual([{ queue: 'q', ids: ['p-c'], ms: 250, deferrals: 0 }]);
    expect(watched).toEqual([{ queue: 'q', jobId: 'j2', attemptsStarted: 0, ms: 250 }]);
    // A full or drained host hands the whole batch back, as it does a single start.
    for (const over of [{ load: 2 }, { draining: () => true }]) {
      const full = router(over);
      const j = job('starts', { starts: entries });
      await expect(run(full.r, j)).rejects.toBeInstanceOf(DelayedError);
      expect(full.started).toEqual([]);
      expect(full.requeued).toEqual([]);
    }
  });

  it('a full host hands a batch back without the starts nobody waits for any more; none left, the job ends', async () => {
    const entries = ['p-a', 'p-b', 'p-c'].map((id) => ({ id, job: id }));
    const stoppedMeanwhile = new Set(['p-b']);
    const some = router({ load: 2, stillWanted: async (es) => es.filter((e) => !stoppedMeanwhile.has(e.id)) });
    const j = job('starts', { starts: entries, deferrals: 1 });
    await expect(run(some.r, j)).resolves.toBeNull();
    expect(j.delayedTo).toBeNull();
    expect(some.started).toEqual([]);
    expect(some.requeued).toEqual([{ queue: 'q', ids: ['p-a', 'p-c'], ms: 250, deferrals: 1 }]);
    const none = router({ draining: () => true, stillWanted: async () => [] });
    await expect(run(none.r, job('starts', { starts: entries }))).resolves.toBeNull();
    expect(none.requeued).toEqual([]);
    expect(none.watched).toEqual([]);
  });

  it('starts of a batch that found no free port go back together with the growing backoff', async () => {
    const { r, requeued } = router({ outcome: { kind: 'deferred', reason: 'no free port' }, maxProcesses: 10 });
    const entries = ['p-a', 'p-b'].map((id) => ({ id, job: id }));
    await run(r, job('starts', { starts: entries, deferrals: 3 }));
    expect(requeued).toEqual([{ queue: 'q', ids: ['p-a', 'p-b'], ms: 4000, deferrals: 4 }]);
  });

  it('a batch of stops stops each; the job fails once all are done when one failed', async () => {
    const stopped: string[] = [];
    const stop = async (id: string) => {
      if (id === 'p-b') throw new Error('redis away');
      stopped.push(id);
    };
    const { r } = router({ controller: { load: 0, start: async () => ({ kind: 'spawned' }), stop } });
    await expect(run(r, job('stops', { ids: ['p-a', 'p-b', 'p-c'] }))).rejects.toThrow('redis away');
    expect(stopped).toEqual(['p-a', 'p-c']);
    await expect(run(r, job('stops', { ids: [] }))).rejects.toThrow(/malformed stops job/);
  });

  it('a deploy whose service another runner holds comes back; a malformed job is refused', async () => {
    const { r } = router({ deploys: { runService: async () => 'busy' } });
    const j = job('deploy', { service: 'web' });
    await expect(run(r, j)).rejects.toBeInstanceOf(DelayedError);
    await expect(run(r, job('start', { id: 42 }))).rejects.toThrow(/malformed start job/);
    await expect(run(r, job('constructor', {}))).rejects.toThrow(/unknown job name/);
  });
});

describe('stillWanted', () => {
  const rec = (over: Partial<ProcessRecord>) => ({ state: 'pending', desired: 'running', restarts: 0, ...over }) as ProcessRecord;
  it('keeps the starts whose record waits for that very start, and those whose record cannot be read', async () => {
    const records = [
      rec({ id: 'p-a' }),
      rec({ id: 'p-b', state: 'stopped', desired: 'stopped' }),
      rec({ id: 'p-c', restarts: 2 }),
      rec({ id: 'p-d', state: 'running' }),
    ];
    const store = { readMany: async () => ({ records, corrupt: [{ id: 'p-e' }] }) };
    const entries = ['p-a', 'p-b', 'p-c', 'p-d', 'p-e', 'p-gone'].map((id) => ({ id, job: id }));
    entries.push({ id: 'p-c', job: 'p-c.r2' });
    expect((await stillWanted(store, entries)).map((e) => e.job)).toEqual(['p-a', 'p-e', 'p-c.r2']);
  });
});
