import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeDeployEvent } from '../../src/shared/deploy.js';
import { CorruptDataError, CorruptRecordError } from '../../src/shared/errors.js';
import { decodeEvent } from '../../src/shared/events.js';
import { decodeStored, decodeStoredOrNull, mustDecodeStored } from '../../src/shared/stored.js';
import { streamField, streamVersion } from '../../src/shared/stream-fields.js';

const Thing = z.object({ v: z.literal(1).optional(), type: z.literal('a'), n: z.number() });

describe('decodeStored: one reading and one wording of stored JSON', () => {
  it('returns the value', () => {
    expect(decodeStored(Thing, '{"type":"a","n":3}', 'thing')).toEqual({ ok: true, value: { type: 'a', n: 3 } });
  });

  it('words each way a value can be bad the same way, naming what it is', () => {
    expect(decodeStored(Thing, '{"type":', 'thing')).toEqual({ ok: false, problem: 'thing is not JSON: "{\\"type\\":"' });
    expect(decodeStored(Thing, '{"v":2,"type":"b"}', 'thing', { newest: 1 })).toEqual({
      ok: false,
      problem: 'thing schema version 2 is newer than this reapq understands (1); upgrade reapq',
    });
    expect(decodeStored(Thing, '{"type":"b","n":1}', 'thing')).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^invalid thing of type b: type: /),
    });
    expect(decodeStored(Thing, '{"n":"3"}', 'thing')).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^invalid thing: type: /),
    });
    expect(decodeStored(Thing, 'null', 'thing')).toMatchObject({ ok: false, problem: expect.stringMatching(/^invalid thing: /) });
  });

  it('without a newest version, a version number is only a field', () => {
    expect(decodeStored(Thing, '{"v":2,"type":"a","n":1}', 'thing')).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^invalid thing of type a: v: /),
    });
  });

  it('throws one error class, or skips, as the reader chooses', () => {
    expect(() => mustDecodeStored(Thing, 'x', 'thing')).toThrow(CorruptDataError);
    expect(() => mustDecodeStored(Thing, 'x', 'thing')).toThrow('thing is not JSON: "x"');
    expect(decodeStoredOrNull(Thing, 'x', 'thing')).toBeNull();
    expect(decodeStoredOrNull(Thing, null, 'thing')).toBeNull();
    expect(decodeStoredOrNull(Thing, '{"type":"a","n":1}', 'thing')).toEqual({ type: 'a', n: 1 });
  });

  it('brings an older shape to the current one first, and words what the upcaster refuses', () => {
    const up = (raw: Record<string, unknown>) => {
      if (raw.v === 9) throw new Error('thing schema version 9 is newer than this reapq understands (1 for a); upgrade reapq');
      return { ...raw, n: raw.n ?? 0 };
    };
    expect(decodeStored(Thing, '{"type":"a"}', 'thing', { upcast: up })).toEqual({ ok: true, value: { type: 'a', n: 0 } });
    expect(decodeStored(Thing, '{"v":9,"type":"a"}', 'thing', { upcast: up })).toEqual({
      ok: false,
      problem: 'thing schema version 9 is newer than this reapq understands (1 for a); upgrade reapq',
    });
  });

  it('is what events and deploy events are read with', () => {
    expect(() => decodeEvent('{"v":99,"at":1,"type":"teleported"}')).toThrow(
      /^event schema version 99 is newer than this reapq understands/,
    );
    expect(() => decodeEvent('{"v":1,"at":1,"type":"teleported"}')).toThrow(/^invalid event of type teleported: /);
    expect(() => decodeDeployEvent('nope')).toThrow(CorruptDataError);
  });

  it('a corrupt record names its id and which part of it is bad', () => {
    const rec = new CorruptRecordError('p1', 'record is not JSON: "x"');
    expect(rec).toBeInstanceOf(CorruptDataError);
    expect(rec.message).toBe('record of p1 is corrupt: record is not JSON: "x"');
    expect(new CorruptRecordError('p1', 'invalid event: at: bad', 'event stream').message).toBe(
      'event stream of p1 is corrupt: invalid event: at: bad',
    );
  });
});

describe('streamField: names sit at even positions', () => {
  it('reads a field by name', () => {
    expect(streamField(['id', 'p1', 'v', '3', 'e', '{}'], 'v')).toBe('3');
    expect(streamField(['l', 'x'], 'pos')).toBeUndefined();
  });

  it('never takes a value for a name (a log line that reads "pos")', () => {
    expect(streamField(['l', 'pos'], 'pos')).toBeUndefined();
    expect(streamField(['l', 'pos', 'pos', '17'], 'pos')).toBe('17');
    expect(streamField(['l', 'e', 'e', 'x'], 'e')).toBe('x');
  });

  it('reads the version of a per-record stream entry', () => {
    expect(streamVersion('12-0')).toBe(12);
  });
});
