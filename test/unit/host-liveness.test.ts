import { describe, expect, it } from 'vitest';
import { clockNote, liveness } from '../../src/shared/hosts.js';

describe('host liveness, on one clock', () => {
  const beat = { state: 'up' as const, at: 1_000_000, ttlMs: 1500 };
  it('is alive while the beat is younger than its ttl, expired after, down when it said so', () => {
    expect(liveness(beat, 1_000_000 + 1499)).toBe('alive');
    expect(liveness(beat, 1_000_000 + 1500)).toBe('expired');
    expect(liveness({ ...beat, state: 'draining' }, 1_000_000)).toBe('alive');
    expect(liveness({ ...beat, state: 'down' }, 1_000_000)).toBe('down');
  });

  it("notes a worker's clock only past a second off Redis', in whole seconds and which way", () => {
    expect(clockNote(undefined)).toBe('-');
    expect(clockNote(1000)).toBe('ok');
    expect(clockNote(-1000)).toBe('ok');
    expect(clockNote(1001)).toBe('1.0s ahead');
    expect(clockNote(-3_599_600)).toBe('1h behind');
    expect(clockNote(3_600_400)).toBe('1h ahead');
  });
});
