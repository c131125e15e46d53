import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { internalsOf } from '../../src/producer/client.js';
import { startJobId } from '../../src/shared/jobs.js';
import { tempDir } from '../helpers/cleanup.js';
import { stopRecords } from '../helpers/client.js';
import { steppedClock } from '../helpers/faketime.js';
import { carriersOf, FIXTURES, until, useWorker } from '../helpers/workers.js';

/**
 * A wall clock stepped forward and back under a running worker (an NTP step; libfaketime
 * reads the offset from a file): passes keep coming, a readiness wait and a grace period
 * keep their length, and a start handed back for later comes back, whatever the wall
 * clock did meanwhile. Every length here is measured on the monotonic clock, which a step
 * does not move.
 */

const HOST = 'h-step';
const HOUR = 3_600_000;
const clock = steppedClock();
const t = useWorker(HOST, clock.env);

/** Steps the worker's wall clock and waits until its heartbeat shows the step in effect. */
async function step(offset: string, offsetMs: number): Promise<void> {
  clock.step(offset);
  await until(
    async () => {
      const h = (await t.client.hosts()).find((x) => x.hostId === HOST);
      return h?.clockOffsetMs !== undefined && Math.abs(h.clockOffsetMs - offsetMs) < 5_000;
    },
    10_000,
    `the worker's heartbeat to show its clock at ${offset}`,
  );
}

const passes = async () => (await t.client.hosts()).find((h) => h.hostId === HOST)?.counters.reconcilePasses ?? 0;

afterEach(async () => {
  // Back to this machine's time, so each case steps from a clock that agrees with Redis'.
  await step('+0', 0);
  await stopRecords(t.client, 300);
});

describe('a wall clock stepped under a running worker', () => {
  it('a step forward of an hour during a readiness wait: the process that then prints its ready line is running, not failed', async () => {
    const gate = join(tempDir('clock-step'), 'go');
    const rec = await t.client.start({
      // Prints its ready line only once the test says so: after the step is in effect.
      command: ['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.05; done; echo "server ready"; exec sleep 1000`],
      ready: { kind: 'log', pattern: 'server ready', timeoutMs: 20_000 },
    });
    await until(async () => (await t.client.get(rec.id)).pid !== null, 10_000, 'spawned');
    await step('+1h', HOUR);
    const stepped = await t.client.get(rec.id);
    expect(stepped.state, stepped.error ?? '').toBe('starting');
    writeFileSync(gate, '');
    const running = await t.client.waitFor(rec.id, 'running', { timeoutMs: 15_000 });
    expect(running.state).toBe('running');
    expect((await t.client.events(rec.id)).map((e) => e.event.type)).not.toContain('not_ready');
  });

  it('a step forward of an hour while a deploy waits for its new replica to be ready: the deploy succeeds', async () => {
    const gate = join(tempDir('clock-step'), 'go');
    const d = await t.client.deploy({
      service: 'stepped',
      command: ['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.05; done; echo "server ready"; exec sleep 1000`],
      ready: { kind: 'log', pattern: 'server ready', timeoutMs: 20_000 },
      timeoutMs: 20_000,
    });
    const replica = await until(async () => (await t.client.getDeploy(d.id)).processes[0], 10_000, 'the new replica named');
    await until(async () => (await t.client.get(replica)).pid !== null, 10_000, 'the new replica spawned');
    await step('+1h', HOUR);
    writeFileSync(gate, '');
    const done = await t.client.waitForDeploy(d.id, { timeoutMs: 15_000 });
    expect(done.reason).toBeNull();
    expect(done.state).toBe('succeeded');
    await t.client.stopService('stepped');
  });

  it('a step back of an hour: reconcile passes keep coming on their own', async () => {
    await step('-1h', -HOUR);
    const [before, t0] = [await passes(), performance.now()];
    let seen = before;
    await until(async () => (seen = await passes()) >= before + 10, 15_000, `10 more reconcile passes after the step back`).catch(
      (err: Error) => {
        throw new Error(`${err.message}: ${seen - before} in 15 s`);
      },
    );
    console.log(`clock -1h: 10 reconcile passes ${Math.round(performance.now() - t0)} ms after the step was seen (every 500 ms)`);
    // Not brought back by the stuck-consumer watch: they never stopped.
    expect(t.worker.output()).not.toContain('no reconcile pass');
  });

  it("a step back of an hour during a stop's grace period: SIGKILL still comes and the record ends stopped", async () => {
    const rec = await t.client.start({ command: [join(FIXTURES, 'ignores-term.sh')], graceMs: 1500 });
    await t.client.waitFor(rec.id, 'running', { timeoutMs: 10_000 });
    await until(() => carriersOf(rec.id).length >= 3, 5_000, 'the tree up, trapping TERM');
    await t.client.stop(rec.id);
    const term = await until(
      async () => (await t.client.events(rec.id)).find((e) => e.event.type === 'signal_sent' && e.event.signal === 'SIGTERM'),
      10_000,
      'SIGTERM sent',
    );
    clock.step('-1h');
    const done = await t.client.waitFor(rec.id, 'stopped', { timeoutMs: 15_000 });
    expect(carriersOf(rec.id)).toEqual([]);
    const events = await t.client.events(rec.id);
    const kill = events.find((e) => e.event.type === 'signal_sent' && e.event.signal === 'SIGKILL');
    expect(kill, 'SIGKILL sent at the end of the grace period').toBeDefined();
    // The SIGKILL's time was written after the step (an hour before the SIGTERM's): the
    // step fell inside the grace period, which still ended on time.
    expect(kill!.event.at - term.event.at).toBeLessThan(-HOUR / 2);
    expect(done.state).toBe('stopped');
  });

  it('a step back of an hour while a start is handed back by a drained host: taken once the drain is lifted', async () => {
    await t.client.admin.drain(HOST);
    await until(() => t.worker.output().includes('draining: no new starts'), 10_000, 'the worker drained');
    const rec = await t.client.start({ command: ['sleep', '1000'], host: HOST });
    // A start pinned here comes to the host's queue and is handed back, a delayed job, every 250 ms.
    const { keys, queue } = internalsOf(t.client);
    const hostQueue = queue(keys.hostQueue(HOST));
    await until(async () => (await hostQueue.getJobState(startJobId(rec.id, 0))) === 'delayed', 10_000, 'the start handed back');
    await step('-1h', -HOUR);
    await t.client.admin.undrain(HOST);
    await t.client.waitFor(rec.id, 'running', { timeoutMs: 15_000 });
  });
});
