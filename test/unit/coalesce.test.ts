import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../src/shared/coalesce.js';

/** A coalescer that records each send, failing the sends of keys named in `failing`. */
function recorder(max: number, failing = new Set<string>()) {
  const sent: Array<[string, number[]]> = [];
  const c = new Coalescer<number>(async (key, items) => {
    sent.push([key, [...items]]);
    if (failing.has(key)) throw new Error(`send of ${key} failed`);
  }, max);
  return { c, sent };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('requests handed in together', () => {
  it('go as one send per key per turn of the event loop, each caller settled by its send', async () => {
    const { c, sent } = recorder(10);
    const calls = [c.add('a', 1), c.add('b', 2), c.add('a', 3)];
    // Replies read later in the same turn still join (a microtask after the first add).
    await Promise.resolve();
    calls.push(c.add('a', 4));
    await Promise.all(calls);
    expect(sent).toEqual([
      ['a', [1, 3, 4]],
      ['b', [2]],
    ]);
    await turn();
    await c.add('a', 5);
    expect(sent.at(-1)).toEqual(['a', [5]]);
  });

  it('sends a batch early once it is full; the next item starts another', async () => {
    const { c, sent } = recorder(2);
    await Promise.all([1, 2, 3, 4, 5].map((n) => c.add('a', n)));
    expect(sent).toEqual([
      ['a', [1, 2]],
      ['a', [3, 4]],
      ['a', [5]],
    ]);
  });

  it('a failed send rejects its own callers only', async () => {
    const { c } = recorder(10, new Set(['bad']));
    const out = await Promise.allSettled([c.add('bad', 1), c.add('good', 2), c.add('bad', 3)]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'rejected']);
  });
});
