import { describe, expect, it } from 'vitest';
import { MemorySchema, StartSpecSchema } from '../../src/shared/record.js';
import { fold } from '../../src/shared/reducer.js';
import { withVersion, type EventDraft } from '../../src/shared/events.js';
import { DEFAULT_POLICY, effectiveLimits, loadPolicy } from '../../src/worker/policy.js';
import { SLEEP_SPEC } from '../helpers/fixtures.js';

describe('limits', () => {
  it('reads memory sizes in binary units and refuses nonsense', () => {
    expect(MemorySchema.parse('512M')).toBe(512 * 1024 ** 2);
    expect(MemorySchema.parse('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(MemorySchema.parse('64MiB')).toBe(64 * 1024 ** 2);
    expect(MemorySchema.parse(8 * 1024 ** 2)).toBe(8 * 1024 ** 2);
    for (const bad of ['lots', '-1M', '1M', '', '12 parsecs', 1.5, 0]) expect(MemorySchema.safeParse(bad).success, String(bad)).toBe(false);
    expect(StartSpecSchema.safeParse({ command: ['x'], cpus: 0 }).success).toBe(false);
    expect(StartSpecSchema.safeParse({ command: ['x'], pidsMax: 2.5 }).success).toBe(false);
    expect(StartSpecSchema.parse({ command: ['x'], memory: '64M', cpus: 0.5, pidsMax: 50 })).toMatchObject({
      memory: 67108864,
      cpus: 0.5,
      pidsMax: 50,
    });
  });

  it('applies the worker defaults and maximums', () => {
    expect(effectiveLimits(DEFAULT_POLICY, null)).toEqual({ limits: { memory: null, cpus: null, pidsMax: null } });
    const p = loadPolicy({ REAPQ_DEFAULT_MEMORY: '256M', REAPQ_MAX_MEMORY: '1G', REAPQ_MAX_PIDS_MAX: '500' });
    // Nothing asked: the default, and the maximum where there is no default (nothing runs unlimited).
    expect(effectiveLimits(p, null)).toEqual({ limits: { memory: 256 * 1024 ** 2, cpus: null, pidsMax: 500 } });
    expect(effectiveLimits(p, { memory: 512 * 1024 ** 2, cpus: 1, pidsMax: 20 })).toEqual({
      limits: { memory: 512 * 1024 ** 2, cpus: 1, pidsMax: 20 },
    });
    expect(effectiveLimits(p, { memory: 2 * 1024 ** 3, cpus: null, pidsMax: null })).toEqual({
      error: 'refused by policy: memory 2147483648 is over REAPQ_MAX_MEMORY=1073741824',
    });
    expect(() => loadPolicy({ REAPQ_DEFAULT_CPUS: '2', REAPQ_MAX_CPUS: '1' })).toThrow(/REAPQ_DEFAULT_CPUS=2: above REAPQ_MAX_CPUS=1/);
    expect(() => loadPolicy({ REAPQ_MAX_MEMORY: 'lots' })).toThrow(/REAPQ_MAX_MEMORY/);
  });

  it('an OOM kill is the end reason of the run it ended, whichever was recorded first', () => {
    const spec = { ...SLEEP_SPEC, command: ['x'], restart: 'on-failure' as const };
    const limits = { memory: 64 * 1024 ** 2, cpus: null, pidsMax: null };
    const start: EventDraft[] = [
      { type: 'start_requested', spec: { ...spec, limits } },
      { type: 'spawn_begun', host: 'h', port: null, run: 'r1' },
      {
        type: 'spawned',
        host: 'h',
        pid: 10,
        pgid: 10,
        sid: 10,
        startTime: 1,
        bootId: 'b',
        port: null,
        run: 'r1',
        cgroup: '/x@h/p@r1',
        limits,
      },
    ];
    const exited: EventDraft = { type: 'exited', code: null, signal: 'SIGKILL', how: 'signaled', run: 'r1' };
    const oom: EventDraft = { type: 'oom', kills: 1, limit: limits.memory, run: 'r1' };
    const ev = (ds: EventDraft[]) => ds.map((d, i) => withVersion(d, 1000 + i));
    for (const order of [
      [exited, oom],
      [oom, exited],
    ]) {
      const rec = fold(ev([...start, ...order]), 'p')!;
      expect(rec).toMatchObject({ state: 'exited', endReason: 'oom', oom: { kills: 1, limit: limits.memory }, containment: 'cgroup' });
      expect(rec.error).toMatch(/OOM killer at its memory limit of 67108864 bytes/);
    }
    const running = fold(ev(start), 'p')!;
    expect(running).toMatchObject({ containment: 'cgroup', cgroup: '/x@h/p@r1', limits, oom: null });
  });
});

describe('per-process usage metrics', () => {
  it('keep the top processes by memory and fold the rest into one _other series per host', async () => {
    const { topUsage } = await import('../../src/producer/http/metrics.js');
    const row = (id: string, host: string, mem: number) => ({
      id,
      host,
      run: 'r',
      cpuMs: 10,
      memoryBytes: mem,
      memoryPeakBytes: mem,
      pids: 1,
      at: 0,
    });
    const rows = [row('a', 'h1', 5), row('b', 'h1', 50), row('c', 'h1', 1), row('d', 'h2', 2), row('e', 'h2', 3)];
    expect(topUsage(rows, 2).map((r) => [r.id, r.host, r.memoryBytes, r.pids, r.cpuMs])).toEqual([
      ['b', 'h1', 50, 1, 10],
      ['a', 'h1', 5, 1, 10],
      ['_other', 'h2', 5, 2, 20],
      ['_other', 'h1', 1, 1, 10],
    ]);
  });
});
