import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/index.js';
import { FINAL_STATES } from '../../src/shared/record.js';
import { carriersOf, useWorker } from '../helpers/workers.js';

const t = useWorker('h-hostile');

// Programs that cannot do harm whatever arguments they get; the rest of the spec is hostile.
const program = fc.constantFrom('sleep', '/bin/true', '/bin/false', '/nonexistent/x', 'env', '');
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('..', '../../etc', '\0', '$(reboot)', '; rm -rf /', '\u2028', '-'.repeat(100)),
);
/** Mostly a plausible value, sometimes a hostile one: so that some specs pass validation and reach the worker. */
const mostly = <T, U>(ok: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) => fc.oneof({ arbitrary: ok, weight: 5 }, { arbitrary: bad, weight: 1 });
const spec = fc.record(
  {
    id: mostly(
      fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
      fc.oneof(fc.string({ maxLength: 140 }), fc.constantFrom('42', 'a:b', '../x', '')),
    ),
    name: text,
    command: fc.tuple(program, fc.array(text, { maxLength: 5 })).map(([p, args]) => [p, ...args]),
    cwd: mostly(fc.constantFrom('/tmp', '/nonexistent', '/', '/tmp/../tmp'), text),
    env: fc.dictionary(mostly(fc.constantFrom('LD_PRELOAD', 'PATH', 'REAPQ_PROCESS_ID', 'FOO'), fc.constantFrom('1BAD', 'A=B', '')), text, {
      maxKeys: 3,
    }),
    port: mostly(fc.constant('auto' as const), fc.integer({ min: -5, max: 70000 })),
    restart: mostly(fc.constantFrom('never', 'on-failure'), fc.constant('sometimes')),
    graceMs: mostly(fc.integer({ min: 0, max: 500 }), fc.integer({ min: -1000, max: -1 })),
    ready: mostly(
      fc.constant(undefined),
      fc.record({
        kind: fc.constantFrom('tcp', 'http', 'log', 'magic'),
        pattern: fc.constantFrom('(', 'ok', '.*'),
        path: fc.constantFrom('/', 'x'),
        timeoutMs: fc.integer({ min: -1, max: 300 }),
      }),
    ),
  },
  { requiredKeys: ['command'] },
);

describe('hostile specs', () => {
  it('are refused with a reason or run and stop cleanly; the worker never falls over', async () => {
    const samples = fc.sample(spec, { numRuns: 60, seed: 1127 });
    const accepted: string[] = [];
    let refused = 0;
    for (const s of samples) {
      try {
        accepted.push((await t.client.start(s as never)).id);
      } catch (err) {
        expect(err, JSON.stringify(s)).toBeInstanceOf(InputError);
        expect((err as Error).message.split('\n')).toHaveLength(1);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(accepted.length).toBeGreaterThan(0);
    for (const id of new Set(accepted)) await t.client.stop(id, { graceMs: 200 });
    for (const id of new Set(accepted)) {
      const rec = await t.client.waitFor(id, [...FINAL_STATES], { timeoutMs: 15_000 });
      // Stopped, or ended on its own first; 'lost' would mean the worker lost track of it.
      expect(['stopped', 'exited', 'failed'], `${id} ended ${rec.state}`).toContain(rec.state);
      // The stop is on record even for one that had ended already.
      expect(rec.desired, id).toBe('stopped');
      if (rec.state === 'failed') expect(rec.error).toBeTruthy();
      expect(carriersOf(id)).toEqual([]);
    }
    expect(t.worker.child.exitCode).toBeNull();
    // Still serving after all of it.
    const ok = await t.client.start({ command: ['sleep', '1000'] });
    await t.client.waitFor(ok.id, 'running');
    await t.client.stop(ok.id);
    await t.client.waitFor(ok.id, 'stopped');
  });
});
