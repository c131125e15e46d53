import { describe, expect, it } from 'vitest';
import { atMostOneRefusal, strategyFor } from '../../src/shared/deploy.js';
import { fold } from '../../src/shared/reducer.js';
import { startRequested } from '../../src/shared/start-request.js';
import { mayTakeOver, selfStopDue, selfStopMarginMs, SELF_STOP_SLACK_MS } from '../../src/worker/at-most-one.js';

describe('selfStopDue (the cut host)', () => {
  it('is due once no beat was taken for the ttl since the last one Redis took was sent', () => {
    expect(selfStopDue({ lastBeatSent: 1000, now: 1000 + 5999, ttlMs: 6000 })).toBe(false);
    expect(selfStopDue({ lastBeatSent: 1000, now: 1000 + 6000, ttlMs: 6000 })).toBe(true);
    expect(selfStopDue({ lastBeatSent: 1000, now: 1000 + 60_000, ttlMs: 6000 })).toBe(true);
  });

  it('never before the first beat (the worker beats before it takes work)', () => {
    expect(selfStopDue({ lastBeatSent: null, now: 1e9, ttlMs: 6000 })).toBe(false);
  });
});

describe('mayTakeOver (the other hosts)', () => {
  const ttlMs = 6000;
  it('a plain record once the lease lapsed', () => {
    expect(mayTakeOver({ atMostOne: false, ageMs: 5999, ttlMs, graceMs: 5000 })).toBe(false);
    expect(mayTakeOver({ atMostOne: false, ageMs: 6000, ttlMs, graceMs: 5000 })).toBe(true);
  });

  it('an at-most-one record only once the lease lapsed and its host had the time to stop it (grace + slack)', () => {
    const margin = selfStopMarginMs(5000);
    expect(margin).toBe(5000 + SELF_STOP_SLACK_MS);
    expect(mayTakeOver({ atMostOne: true, ageMs: 6000, ttlMs, graceMs: 5000 })).toBe(false);
    expect(mayTakeOver({ atMostOne: true, ageMs: ttlMs + margin - 1, ttlMs, graceMs: 5000 })).toBe(false);
    expect(mayTakeOver({ atMostOne: true, ageMs: ttlMs + margin, ttlMs, graceMs: 5000 })).toBe(true);
    // A longer grace period is waited for too.
    expect(mayTakeOver({ atMostOne: true, ageMs: ttlMs + margin, ttlMs, graceMs: 30_000 })).toBe(false);
  });

  it('the two sides never overlap: the cut host has stopped (ttl + look + grace + SIGKILL) before another may start', () => {
    for (const graceMs of [0, 1000, 5000, 60_000])
      for (const ttlMs of [300, 6000, 30_000]) {
        // The beat Redis stamped at `at` was sent no later: the cut host starts its stop by
        // ttl after it, looks every SELF_STOP_LOOK_MS, and SIGKILL is sent after the grace.
        const stoppedBy = ttlMs + 250 + graceMs + 2000;
        const firstTakeOver = [...Array(200).keys()]
          .map((i) => i * 100)
          .find((age) => mayTakeOver({ atMostOne: true, ageMs: age, ttlMs, graceMs }));
        expect(firstTakeOver ?? Infinity).toBeGreaterThan(stoppedBy);
      }
  });
});

describe('atMostOne on a deploy', () => {
  const spec = { command: ['srv'], atMostOne: true };
  it('one replica only: more is refused with the reason', () => {
    expect(atMostOneRefusal(spec, 1)).toBeNull();
    expect(atMostOneRefusal(spec, 2)).toBe('replicas: 2 with atMostOne: a service that runs at most one copy has one replica');
    expect(atMostOneRefusal({ command: ['srv'] }, 5)).toBeNull();
    expect(atMostOneRefusal(null, 5)).toBeNull();
  });

  it('runs stop-first, whether the new or the outgoing revision asks for it, with a note', () => {
    const note = 'at most one copy: deployed stop-first, not start-first (start-first runs two copies for a while)';
    expect(strategyFor(spec, 'start-first')).toEqual({ strategy: 'stop-first', note });
    expect(strategyFor({ command: ['srv'] }, 'start-first', spec)).toEqual({ strategy: 'stop-first', note });
    expect(strategyFor(spec, 'stop-first')).toEqual({ strategy: 'stop-first', note: null });
    expect(strategyFor({ command: ['srv'] }, 'start-first', { command: ['old'] })).toEqual({ strategy: 'start-first', note: null });
  });

  it("the replica's record carries it; a start without it reads false", () => {
    const ev = (s: Parameters<typeof startRequested>[0]) => ({ ...startRequested(s, { service: 'web', revision: 1 }), v: 1, at: 1 });
    const one = fold([ev({ command: ['srv'], atMostOne: true })] as never, 'web-r1-0');
    const plain = fold([ev({ command: ['srv'] })] as never, 'web-r1-1');
    expect(one?.atMostOne).toBe(true);
    expect(plain?.atMostOne).toBe(false);
    const bare = startRequested({ command: ['srv'] });
    expect(bare.type === 'start_requested' && 'atMostOne' in bare.spec).toBe(false);
  });
});
