import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { exitCodeOf } from '../../src/cli/main.js';
import { statusOf } from '../../src/producer/http/errors.js';
import {
  ConflictError,
  InputError,
  NotFoundError,
  oneLine,
  ReplicationError,
  SettledError,
  TimeoutError,
  WaitError,
} from '../../src/shared/errors.js';
import { parseInput, PortNumber, WholeNumber } from '../../src/shared/input.js';
import type { ProcessRecord } from '../../src/shared/record.js';

// The error classes read only these fields of a record.
const stoppedRecord = (): ProcessRecord => ({ id: 'p-1', state: 'stopped', error: null }) as unknown as ProcessRecord;

describe('parseInput and WholeNumber', () => {
  it('returns the parsed value, or an InputError led by the label', () => {
    expect(parseInput(z.object({ n: WholeNumber(1, 9) }), { n: '7' }, 'invalid body')).toEqual({ n: 7 });
    expect(() => parseInput(z.object({ n: WholeNumber(1, 9) }), { n: '70' }, 'invalid body')).toThrow(InputError);
    expect(() => parseInput(z.object({ n: WholeNumber(1, 9) }), { n: '70' }, 'invalid body')).toThrow(/^invalid body: n: /);
  });

  it.each(['', ' 5', '5 ', '-1', '+1', '1e3', '0x10', '1.5', 'ten'])('refuses %j as a whole number', (s) => {
    expect(WholeNumber(0).safeParse(s).success).toBe(false);
  });

  it('keeps the bounds and its message', () => {
    expect(WholeNumber(0).parse('0')).toBe(0);
    expect(WholeNumber(0).parse('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(PortNumber.safeParse('65536').success).toBe(false);
    expect(PortNumber.safeParse('x').error?.issues[0]?.message).toBe('must be a port number');
  });
});

describe('one mapping each for exit codes and HTTP statuses', () => {
  const rec = stoppedRecord();
  const cases: Array<[string, unknown, number, number]> = [
    ['InputError', new InputError('bad'), 2, 400],
    ['NotFoundError', new NotFoundError('p-1'), 1, 404],
    ['ConflictError', new ConflictError('raced'), 1, 409],
    ['SettledError', new SettledError(rec, ['running']), 1, 409],
    ['TimeoutError', new TimeoutError('timed out', 100, rec), 1, 504],
    ['ReplicationError', new ReplicationError('p-1', 1, 0, 1000), 1, 503],
    ['a plain Error', new Error('redis down'), 1, 500],
    ['a non-error', 'boom', 1, 500],
  ];
  it.each(cases)('%s: exit code %#', (_name, err, code, status) => {
    expect(exitCodeOf(err)).toBe(code);
    expect(statusOf(err)).toBe(status);
  });

  it('maps commander usage errors to 2 and --help/--version to 0', () => {
    expect(exitCodeOf(new CommanderError(1, 'commander.unknownOption', 'unknown option'))).toBe(2);
    expect(exitCodeOf(new CommanderError(0, 'commander.version', '0.1.0'))).toBe(0);
  });

  it('keeps fastify client errors as they are', () => {
    expect(statusOf(Object.assign(new Error('body too large'), { statusCode: 413 }))).toBe(413);
    expect(statusOf(Object.assign(new Error('broken upstream'), { statusCode: 502 }))).toBe(500);
  });
});

describe('wait errors', () => {
  it('carry their fields and stay WaitErrors', () => {
    const rec = stoppedRecord();
    const settled = new SettledError(rec, ['running', 'starting']);
    expect(settled).toBeInstanceOf(WaitError);
    expect(settled.record.state).toBe('stopped');
    expect(settled.wanted).toEqual(['running', 'starting']);
    expect(settled.message).toBe('p-1 is stopped, not running|starting');
    const timeout = new TimeoutError('no report within 5 ms', 5);
    expect(timeout).toBeInstanceOf(WaitError);
    expect(timeout.waitedMs).toBe(5);
    expect(timeout.record).toBeUndefined();
  });

  it('print as one line', () => {
    expect(oneLine(new Error('first\nsecond'))).toBe('first');
    expect(oneLine(new Error(''))).toBe('internal error');
  });
});
