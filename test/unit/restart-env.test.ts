import { describe, it, expect } from 'vitest';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, CRASH_LOOP_LIMIT, decideRestart, retryAbandoned } from '../../src/worker/restart.js';
import { buildEnv } from '../../src/worker/spawn-env.js';
import { CRASH_LOOP_WINDOW_MS, fold } from '../../src/shared/reducer.js';
import type { ReapqEvent } from '../../src/shared/events.js';
import type { ProcessRecord, RestartPolicy } from '../../src/shared/record.js';
import { SLEEP_SPEC } from '../helpers/fixtures.js';

const T0 = Date.UTC(2024, 0, 1);

/** An exited record (folded from real events) that ran `ranMs` and exited with `code`. */
function ended(policy: RestartPolicy, code: number | null, ranMs = 100, extra: ReapqEvent[] = []): ProcessRecord {
  return fold(
    [
      {
        v: 1,
        at: T0,
        type: 'start_requested',
        spec: { ...SLEEP_SPEC, command: ['x'], restart: policy },
      },
      { v: 1, at: T0 + 1, type: 'spawn_begun', host: 'h1', port: null },
      { v: 1, at: T0 + 2, type: 'spawned', host: 'h1', pid: 10, pgid: 10, sid: 10, startTime: 1, bootId: 'b', port: null },
      { v: 1, at: T0 + 2 + ranMs, type: 'exited', code, signal: null, how: code === null ? 'unknown' : 'exited' },
      ...extra,
    ],
    'p',
  )!;
}

describe('retryAbandoned', () => {
  it('retries a spawn its worker died in under the same crash-loop limit as any restart', () => {
    const r = ended('never', 0);
    expect(retryAbandoned({ ...r, desired: 'running', crashLoop: 0 }, 700)).toEqual({
      type: 'restart_scheduled',
      attempt: 1,
      delayMs: 700,
    });
    expect(retryAbandoned({ ...r, desired: 'running', crashLoop: CRASH_LOOP_LIMIT - 1 }, 700)?.type).toBe('restart_scheduled');
    expect(retryAbandoned({ ...r, desired: 'running', crashLoop: CRASH_LOOP_LIMIT }, 700)).toBeNull();
    expect(retryAbandoned({ ...r, desired: 'stopped', crashLoop: 0 }, 700)).toBeNull();
  });
});

describe('decideRestart', () => {
  it('never restarts with policy never', () => {
    expect(decideRestart(ended('never', 1))).toBeNull();
  });

  it('on-failure: code 0 -> null, code 1 -> restart with attempt restarts+1', () => {
    expect(decideRestart(ended('on-failure', 0))).toBeNull();
    expect(decideRestart(ended('on-failure', 1))).toEqual({ type: 'restart_scheduled', attempt: 1, delayMs: BACKOFF_BASE_MS });
    // An unknown status (missed exit) counts as a failure.
    expect(decideRestart(ended('on-failure', null))?.type).toBe('restart_scheduled');
  });

  it('always restarts, even after code 0; a long run restarts at once', () => {
    expect(decideRestart(ended('always', 0))).toEqual({ type: 'restart_scheduled', attempt: 1, delayMs: BACKOFF_BASE_MS });
    expect(decideRestart(ended('always', 0, CRASH_LOOP_WINDOW_MS))).toEqual({ type: 'restart_scheduled', attempt: 1, delayMs: 0 });
  });

  it('attempt follows the restart count', () => {
    const r = { ...ended('always', 1, CRASH_LOOP_WINDOW_MS), restarts: 6 };
    expect(decideRestart(r)).toEqual({ type: 'restart_scheduled', attempt: 7, delayMs: 0 });
  });

  it('does not restart once a stop was requested, or while not ended', () => {
    const stoppedAfter = ended('always', 1, 100, [{ v: 1, at: T0 + 500, type: 'stop_requested', signal: 'SIGTERM', graceMs: 0 }]);
    expect(stoppedAfter.desired).toBe('stopped');
    expect(decideRestart(stoppedAfter)).toBeNull();
    expect(decideRestart({ ...ended('always', 1), state: 'running' })).toBeNull();
  });

  it('gives up when a short run would reach the crash-loop limit', () => {
    const r = { ...ended('always', 1, 100), crashLoop: CRASH_LOOP_LIMIT - 1 };
    const d = decideRestart(r);
    expect(d?.type).toBe('gave_up');
    expect(d && 'reason' in d ? d.reason : '').toContain(`${CRASH_LOOP_LIMIT} runs in a row`);
    // The same streak after a long run starts over.
    expect(decideRestart({ ...ended('always', 1, CRASH_LOOP_WINDOW_MS), crashLoop: CRASH_LOOP_LIMIT - 1 })).toEqual({
      type: 'restart_scheduled',
      attempt: 1,
      delayMs: 0,
    });
  });

  it('doubles the backoff with each short run and caps it', () => {
    const delay = (crashLoop: number) => {
      const d = decideRestart({ ...ended('always', 1, 100), crashLoop });
      return d && d.type === 'restart_scheduled' ? d.delayMs : -1;
    };
    expect([0, 1, 2, 3].map(delay)).toEqual([BACKOFF_BASE_MS, 2 * BACKOFF_BASE_MS, 4 * BACKOFF_BASE_MS, 8 * BACKOFF_BASE_MS]);
    // Every reachable delay stays within the cap. With LIMIT=5 and BASE=250 the largest is
    // 2000 ms, so the 30 s cap itself is never reached (a streak that would need it gives up first).
    const reachable = Array.from({ length: CRASH_LOOP_LIMIT - 1 }, (_, i) => delay(i));
    expect(Math.max(...reachable)).toBe(Math.min(BACKOFF_BASE_MS * 2 ** (CRASH_LOOP_LIMIT - 2), BACKOFF_MAX_MS));
    for (const d of reachable) expect(d).toBeLessThanOrEqual(BACKOFF_MAX_MS);
  });
});

describe('buildEnv', () => {
  const ME = { owner: 'reapq/h1', fleet: 'f1' };
  const runner = {
    PATH: '/usr/bin',
    HOME: '/root',
    REAPQ_API_TOKEN: 'secret-token-xyz',
    REAPQ_PREFIX: 'p',
    REDIS_URL: 'redis://x',
    REDIS_PASSWORD: 'pw',
    UNSET: undefined,
  };

  it('drops REAPQ_* and REDIS_* from the runner, keeps the rest', () => {
    expect(buildEnv(runner, {}, 'web', ME, null)).toEqual({
      PATH: '/usr/bin',
      HOME: '/root',
      REAPQ_PROCESS_ID: 'web',
      REAPQ_OWNER: 'reapq/h1',
      REAPQ_FLEET: 'f1',
    });
  });

  it('lets user env override runner env', () => {
    const env = buildEnv(runner, { PATH: '/opt/bin', FOO: 'bar' }, 'web', ME, null);
    expect(env.PATH).toBe('/opt/bin');
    expect(env.FOO).toBe('bar');
    expect(env.HOME).toBe('/root');
  });

  it('sets PORT only when a port is given', () => {
    expect(buildEnv({}, {}, 'web', ME, 20001).PORT).toBe('20001');
    expect('PORT' in buildEnv({}, {}, 'web', ME, null)).toBe(false);
    // A user PORT survives when no port was assigned, and loses to an assigned one.
    expect(buildEnv({}, { PORT: '8080' }, 'web', ME, null).PORT).toBe('8080');
    expect(buildEnv({}, { PORT: '8080' }, 'web', ME, 20001).PORT).toBe('20001');
  });

  it('sets the cookie, which user env cannot override', () => {
    const env = buildEnv(
      { REAPQ_PROCESS_ID: 'runner', REAPQ_OWNER: 'runner', REAPQ_FLEET: 'runner' },
      { REAPQ_PROCESS_ID: 'evil', REAPQ_OWNER: 'evil', REAPQ_FLEET: 'evil' },
      'web',
      ME,
      null,
    );
    expect(env.REAPQ_PROCESS_ID).toBe('web');
    expect(env.REAPQ_OWNER).toBe('reapq/h1');
    expect(env.REAPQ_FLEET).toBe('f1');
  });
});
