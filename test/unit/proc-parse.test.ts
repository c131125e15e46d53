import { describe, it, expect } from 'vitest';
import { parseStat, statFields, type ProcStat } from '../../src/shared/proc-stat.js';
import { descendants, parseBootId, parseChildren, parseEnvironCookie } from '../../src/worker/proc/parse.js';

// Lines captured from a real Linux /proc (kernel output, trailing newline kept).
const CAT =
  '5573 (cat) R 5571 5571 4871 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 16726 3133440 393 18446744073709551615 94641518542848 94641518562729 140730881349536 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94641518578736 94641518580352 94642369114112 140730881354268 140730881354288 140730881354288 140730881355755 0\n';
// `sleep` copied to a file named "my (weird) name".
const WEIRD =
  '5617 (my (weird) name) S 5616 5612 4871 0 -1 4194304 133 0 0 0 0 0 0 0 20 0 1 0 17036 2990080 424 18446744073709551615 94769125543936 94769125561865 140725148620240 0 0 0 0 6 0 1 0 0 17 0 0 0 0 0 0 94769125575952 94769125577216 94769748066304 140725148621318 140725148621341 140725148621341 140725148622819 0\n';
// bash after `printf 'a) Z 1 (c)' > /proc/$$/comm`: a comm that forges a state and a ppid.
const FORGED =
  '5665 (a) Z 1 (c)) R 5663 5663 4871 0 -1 4194304 168 0 0 0 0 0 0 0 20 0 1 0 17556 4464640 751 18446744073709551615 93951369461760 93951370251165 140726883065776 0 0 0 0 4 65536 0 0 0 17 0 0 0 0 0 0 93951370484464 93951370532708 93952189911040 140726883072476 140726883072558 140726883072558 140726883074026 0\n';
// `sleep` copied to a file named "a) b (c": splitting at the first ') ' reads "b" as the state.
const SPLIT =
  '11451 (a) b (c) S 11450 11442 5529 0 -1 4194304 143 0 0 0 0 0 0 0 20 0 1 0 28952 2990080 410 18446744073709551615 94144592896000 94144592913929 140733361315152 0 0 0 0 6 0 1 0 0 17 0 0 0 0 0 0 94144592928016 94144592929280 94145648156672 140733361322482 140733361322513 140733361322513 140733361323996 0\n';
// An unreaped child of `sh -c 'true & exec sleep 2'`.
const ZOMBIE =
  '5644 (sh) Z 5642 5612 4871 0 -1 4227148 24 0 0 0 0 0 0 0 20 0 1 0 17056 0 0 18446744073709551615 0 0 0 0 0 0 0 6 65536 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n';

describe('parseStat', () => {
  it('parses a normal line', () => {
    expect(parseStat(CAT)).toEqual({
      pid: 5573,
      comm: 'cat',
      state: 'R',
      ppid: 5571,
      pgid: 5571,
      sid: 4871,
      startTime: 16726,
    });
  });

  it('keeps spaces and parentheses in comm', () => {
    expect(parseStat(WEIRD)).toEqual({
      pid: 5617,
      comm: 'my (weird) name',
      state: 'S',
      ppid: 5616,
      pgid: 5612,
      sid: 4871,
      startTime: 17036,
    });
  });

  it('is not fooled by a comm that imitates the fields after it', () => {
    expect(parseStat(FORGED)).toEqual({
      pid: 5665,
      comm: 'a) Z 1 (c)',
      state: 'R',
      ppid: 5663,
      pgid: 5663,
      sid: 4871,
      startTime: 17556,
    });
  });

  it('ends comm at the last parenthesis, not at the first ") "', () => {
    expect(parseStat(SPLIT)).toEqual({
      pid: 11451,
      comm: 'a) b (c',
      state: 'S',
      ppid: 11450,
      pgid: 11442,
      sid: 5529,
      startTime: 28952,
    });
    // What the tests did before this parser: the ppid read that way is not a number.
    expect(Number(SPLIT.split(') ')[1]!.split(' ')[1])).toBeNaN();
  });

  it('parses a zombie', () => {
    expect(parseStat(ZOMBIE)).toMatchObject({ pid: 5644, comm: 'sh', state: 'Z', ppid: 5642, startTime: 17056 });
  });

  it('returns null for a truncated line', () => {
    // Cut just before field 22.
    expect(parseStat(CAT.slice(0, CAT.indexOf(' 16726')))).toBeNull();
    expect(parseStat('5573 (cat')).toBeNull();
    expect(parseStat('')).toBeNull();
  });

  it('returns null for garbage', () => {
    expect(parseStat('hello world')).toBeNull();
    expect(parseStat(CAT.replace('5571 5571', 'x 5571'))).toBeNull();
    expect(parseStat(CAT.replace('5573 (', 'abc ('))).toBeNull();
    expect(parseStat(') (')).toBeNull();
  });
});

describe('statFields', () => {
  it('numbers fields as proc(5) does, from 1', () => {
    const f = statFields(SPLIT)!;
    expect(f.slice(0, 4)).toEqual(['11451', 'a) b (c', 'S', '11450']);
    expect(f[21]).toBe('28952');
    expect(f).toHaveLength(52);
    expect(statFields(CAT)![13]).toBe('0');
  });

  it('returns null without a comm', () => {
    expect(statFields('hello world')).toBeNull();
    expect(statFields(') (')).toBeNull();
  });
});

describe('parseEnvironCookie', () => {
  const env = Buffer.from('SHELL=/bin/bash\0REAPQ_ID=p_abc123\0OPTS=a=b=c\0EMPTY=\0', 'utf8');

  it('finds the value', () => {
    expect(parseEnvironCookie(env, 'REAPQ_ID')).toBe('p_abc123');
    expect(parseEnvironCookie(env.toString(), 'SHELL')).toBe('/bin/bash');
    expect(parseEnvironCookie(env, 'EMPTY')).toBe('');
  });

  it('returns null when absent, including prefix look-alikes', () => {
    expect(parseEnvironCookie(env, 'REAPQ')).toBeNull();
    expect(parseEnvironCookie(env, 'REAPQ_ID_X')).toBeNull();
    expect(parseEnvironCookie(Buffer.alloc(0), 'SHELL')).toBeNull();
  });

  it('keeps = inside the value', () => {
    expect(parseEnvironCookie(env, 'OPTS')).toBe('a=b=c');
  });
});

describe('parseChildren', () => {
  it('reads pids with the trailing space the kernel leaves', () => {
    expect(parseChildren('2186 2206 2890 2935 2940 2946 3772 ')).toEqual([2186, 2206, 2890, 2935, 2940, 2946, 3772]);
  });

  it('reads an empty file as no children', () => {
    expect(parseChildren('')).toEqual([]);
  });
});

describe('parseBootId', () => {
  it('trims a real boot id', () => {
    expect(parseBootId('839ca396-23a8-4e02-8b10-1936f4ebe04d\n')).toBe('839ca396-23a8-4e02-8b10-1936f4ebe04d');
  });

  it('throws on anything else', () => {
    expect(() => parseBootId('')).toThrow();
    expect(() => parseBootId('839ca396-23a8-4e02-8b10-1936f4ebe04')).toThrow();
    expect(() => parseBootId('not-a-uuid')).toThrow();
  });
});

describe('descendants', () => {
  const p = (pid: number, ppid: number): ProcStat => ({
    pid,
    ppid,
    comm: 'x',
    state: 'S',
    pgid: pid,
    sid: pid,
    startTime: 0,
  });
  //   1 ── 10 ── 11 ── 12        20 ── 21
  //         └─ 13                30 ⇄ 31 (cycle)
  const tree = [p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(13, 10), p(20, 1), p(21, 20), p(30, 31), p(31, 30)];

  it('collects the subtree below a root, root excluded', () => {
    expect([...descendants(tree, [10])].sort((a, b) => a - b)).toEqual([11, 12, 13]);
  });

  it('includes a root that descends from another root', () => {
    expect([...descendants(tree, [10, 11])].sort((a, b) => a - b)).toEqual([11, 12, 13]);
  });

  it('terminates on a ppid cycle', () => {
    expect([...descendants(tree, [30])].sort((a, b) => a - b)).toEqual([30, 31]);
  });

  it('is empty for a leaf or an unknown pid', () => {
    expect(descendants(tree, [12]).size).toBe(0);
    expect(descendants(tree, [999]).size).toBe(0);
  });
});
