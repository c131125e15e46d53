import { describe, expect, it } from 'vitest';
import { replicaCondition, replicaSpec, revisionStatus, serviceHealth } from '../../src/shared/deploy.js';
import type { ProcessRecord } from '../../src/shared/record.js';

const rec = (over: Partial<ProcessRecord>): ProcessRecord =>
  ({
    id: 'x',
    state: 'running',
    desired: 'running',
    restarts: 0,
    error: null,
    exitCode: null,
    signal: null,
    endReason: null,
    ...over,
  }) as ProcessRecord;

describe('replica restart default', () => {
  it('a revision without restart gets on-failure; one that says never keeps it', () => {
    expect(replicaSpec({ command: ['a'] })).toEqual({ command: ['a'], restart: 'on-failure' });
    expect(replicaSpec({ command: ['a'], restart: 'never' })).toEqual({ command: ['a'], restart: 'never' });
    expect(replicaSpec({ command: ['a'], restart: undefined }).restart).toBe('on-failure');
  });
});

describe('service health', () => {
  it('classifies a replica from its record', () => {
    expect(replicaCondition(rec({}))).toEqual({ condition: 'ready', why: null });
    expect(replicaCondition(rec({ state: 'starting' })).condition).toBe('starting');
    expect(replicaCondition(rec({ state: 'pending' })).condition).toBe('starting');
    expect(replicaCondition(rec({ state: 'pending', restarts: 2, signal: 'SIGKILL' }))).toEqual({
      condition: 'failing',
      why: 'restarting (attempt 2): signal SIGKILL',
    });
    expect(replicaCondition(rec({ state: 'failed', error: 'crash loop: 5 runs' }))).toEqual({
      condition: 'failing',
      why: 'failed: crash loop: 5 runs',
    });
    expect(replicaCondition(rec({ state: 'exited', exitCode: 3 })).why).toBe('exited: exit code 3');
    expect(replicaCondition(rec({ state: 'running', desired: 'stopped' })).condition).toBe('stopping');
    expect(replicaCondition(null)).toEqual({ condition: 'failing', why: 'its record is gone' });
  });

  it('counts desired, ready, starting and failing replicas of a revision; health follows the active one', () => {
    const recs = new Map<string, ProcessRecord | null>([
      ['w-r1-0', rec({ id: 'w-r1-0' })],
      ['w-r1-1', rec({ id: 'w-r1-1', state: 'failed', error: 'crash loop' })],
      ['w-r1-2', rec({ id: 'w-r1-2', state: 'pending' })],
    ]);
    const s = revisionStatus({ revision: 1, deploy: 'd1', role: 'active', desired: 3, processes: ['w-r1-0', 'w-r1-1', 'w-r1-2'] }, recs);
    expect(s).toEqual({
      revision: 1,
      deploy: 'd1',
      role: 'active',
      desired: 3,
      ready: 1,
      starting: 1,
      failing: 1,
      reason: 'w-r1-1 failed: crash loop',
    });
    expect(serviceHealth(s)).toEqual({ health: 'degraded', reason: 'w-r1-1 failed: crash loop' });
    expect(serviceHealth({ ...s, failing: 0, reason: null })).toEqual({ health: 'degraded', reason: '1 of 3 replicas ready, 1 starting' });
    expect(serviceHealth({ ...s, ready: 3, failing: 0, starting: 0, reason: null })).toEqual({ health: 'serving', reason: null });
    expect(serviceHealth(null)).toEqual({ health: 'none', reason: null });
  });
});
