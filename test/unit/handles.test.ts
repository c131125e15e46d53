import { describe, expect, it } from 'vitest';
import { AmbiguousHandleError, mergeLines, mustBeOne, resolveHandle, specOf } from '../../src/producer/handles.js';
import { NotFoundError } from '../../src/shared/errors.js';
import type { ProcessRecord } from '../../src/shared/record.js';

const web = { name: 'web', processes: ['web-r2-0', 'web-r2-1'] };

describe('resolveHandle', () => {
  it('an id always names its record', () => {
    expect(resolveHandle('p-1', { isId: true, service: web, named: [{ id: 'p-2', service: null }] })).toEqual({
      kind: 'process',
      handle: 'p-1',
      id: 'p-1',
    });
  });

  it('a service name names its replicas; its own replicas carrying the name do not compete', () => {
    const named = [{ id: 'web-r2-0', service: 'web' }];
    expect(resolveHandle('web', { isId: false, service: web, named })).toEqual({
      kind: 'service',
      handle: 'web',
      service: 'web',
      processes: web.processes,
    });
  });

  it('a name one live record carries names it; two is ambiguous, listing the ids; none is none', () => {
    expect(resolveHandle('ticker', { isId: false, service: null, named: [{ id: 'p-a', service: null }] })).toEqual({
      kind: 'process',
      handle: 'ticker',
      id: 'p-a',
    });
    const two = resolveHandle('ticker', {
      isId: false,
      service: null,
      named: [
        { id: 'p-b', service: null },
        { id: 'p-a', service: null },
      ],
    });
    expect(two).toEqual({ kind: 'ambiguous', handle: 'ticker', ids: ['p-a', 'p-b'] });
    expect(() => mustBeOne(two)).toThrow(AmbiguousHandleError);
    expect(() => mustBeOne(two)).toThrow('ticker is ambiguous: it names p-a, p-b; use an id');
    expect(resolveHandle('nope', { isId: false, service: null, named: [] })).toEqual({ kind: 'none', handle: 'nope' });
    expect(() => mustBeOne({ kind: 'none', handle: 'nope' })).toThrow(NotFoundError);
  });

  it('a service and a plain process of the same name are ambiguous', () => {
    expect(resolveHandle('web', { isId: false, service: web, named: [{ id: 'p-x', service: null }] })).toEqual({
      kind: 'ambiguous',
      handle: 'web',
      ids: ['p-x', 'web-r2-0', 'web-r2-1'],
    });
  });
});

describe('mergeLines', () => {
  it('orders lines of several processes by their stream stamps, keeps the last N, prefixes each', () => {
    const merged = mergeLines(
      [
        {
          id: 'a',
          lines: [
            { stamp: '100-0', line: 'a1' },
            { stamp: '300-0', line: 'a2' },
          ],
        },
        {
          id: 'b',
          lines: [
            { stamp: '200-0', line: 'b1' },
            { stamp: '300-1', line: 'b2' },
            { stamp: '1000-0', line: 'b3' },
          ],
        },
      ],
      4,
    );
    expect(merged).toEqual(['[b] b1', '[a] a2', '[b] b2', '[b] b3']);
    expect(mergeLines([{ id: 'a', lines: [{ stamp: '9-0', line: 'x' }] }], 10)).toEqual(['[a] x']);
  });
});

describe('specOf', () => {
  it('gives back the start spec of a record, without what it did not ask for', () => {
    const rec = {
      name: 'ticker',
      command: ['sleep', '9'],
      cwd: '/tmp',
      env: { A: '1' },
      requestedPort: 'auto',
      restartPolicy: 'on-failure',
      graceMs: null,
      requestedHost: null,
      ready: null,
      limits: { memory: 1048576, cpus: null, pidsMax: null },
    } as unknown as ProcessRecord;
    expect(specOf(rec)).toEqual({
      name: 'ticker',
      command: ['sleep', '9'],
      cwd: '/tmp',
      env: { A: '1' },
      port: 'auto',
      restart: 'on-failure',
      memory: 1048576,
    });
  });
});
