import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeDeployEvent,
  DEPLOY_EVENT_TYPES,
  encodeDeployEvent,
  foldDeploy,
  withDeployVersion,
  type DeployEvent,
} from '../../src/shared/deploy.js';
import {
  currentVersion,
  downcast,
  NotInOlderVersionError,
  VERSION_STEPS,
  versionKey,
  type RawEvent,
} from '../../src/shared/event-versions.js';
import { VERSIONED_TYPES } from '../../src/shared/fleet-view.js';
import { samplesOf } from '../helpers/event-samples.js';

// Stored samples of every version of every deploy event type, as a release of that version
// wrote them: test/fixtures/deploy-events/<type>.json, the same layout as test/fixtures/events/.
const DIR = new URL('../fixtures/deploy-events/', import.meta.url);
const fixtures = (type: string) => samplesOf(DIR, type);
const current = (type: string) => currentVersion(versionKey(type, 'deploy'));
const read = (e: RawEvent) => decodeDeployEvent(JSON.stringify(e));

describe('deploy event versions', () => {
  it('keeps stored samples of every version of every deploy event type, and none of a type it does not know', () => {
    for (const type of DEPLOY_EVENT_TYPES) {
      const byVersion = fixtures(type);
      expect(Object.keys(byVersion).map(Number), type).toEqual(Array.from({ length: current(type) }, (_, i) => i + 1));
      for (const samples of Object.values(byVersion)) expect(samples.length).toBeGreaterThan(0);
    }
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...DEPLOY_EVENT_TYPES].sort());
    // Every step in the table is of a type some family knows.
    for (const key of Object.keys(VERSION_STEPS)) expect(VERSIONED_TYPES).toContain(key);
    expect(current('requested')).toBe(2);
  });

  it('reads every stored sample into the current shape of its type', () => {
    for (const type of DEPLOY_EVENT_TYPES)
      for (const [v, samples] of Object.entries(fixtures(type)))
        for (const s of samples) {
          expect(s.event.v, `${type} sample filed under v${v}`).toBe(Number(v));
          const e = read(s.event);
          expect(e.v).toBe(current(type));
          if (s['as current']) expect(e).toEqual(read(s['as current']));
        }
  });

  it('folds a deploy stored at v1 to the same record as its current shape', () => {
    const one = (type: string, i = 0) => fixtures(type)['1']![i]!;
    const stream = [
      one('requested'),
      one('began'),
      one('revision_started'),
      one('replica_ready'),
      one('previous_stopped'),
      one('succeeded'),
    ];
    const old = foldDeploy(
      stream.map((s) => read(s.event)),
      'd-1',
    );
    const now = foldDeploy(
      stream.map((s) => read(s['as current'] ?? { ...s.event, v: current(String(s.event.type)) })),
      'd-1',
    );
    expect(old).toEqual(now);
    expect(old).toMatchObject({ state: 'succeeded', kind: 'deploy', revision: 3, processes: ['web-r3-0'] });
  });

  it('writes the v1 shape for a v1 fleet, and refuses a scale there instead of writing what v1 readers refuse', () => {
    const [deploy, scale] = fixtures('requested')['2']!.map((s) => read(s.event));
    const asV1 = JSON.parse(encodeDeployEvent(deploy!, () => 1)) as RawEvent;
    expect(asV1).toEqual({ ...deploy, v: 1 });
    expect(read(asV1)).toEqual(deploy);
    expect(JSON.parse(encodeDeployEvent(deploy!, () => 2)).v).toBe(2);
    expect(() => encodeDeployEvent(scale!, () => 1)).toThrow(NotInOlderVersionError);
    expect(() => downcast(scale as unknown as RawEvent, 1, 'deploy')).toThrow(
      /a scale needs every live worker to read deploy event requested v2.*upgrade the workers that reapq hosts shows on v1/,
    );
    expect(JSON.parse(encodeDeployEvent(scale!, (k) => (k === 'deploy.requested' ? 2 : 1))).kind).toBe('scale');
    // A type with one version is written as it is.
    const done: DeployEvent = withDeployVersion({ type: 'succeeded' }, 5);
    expect(JSON.parse(encodeDeployEvent(done, () => 1))).toEqual({ type: 'succeeded', at: 5, v: 1 });
  });

  it('refuses a version newer than it reads, naming the deploy event type', () => {
    expect(() => read({ v: 3, at: 1, type: 'requested' })).toThrow(
      'deploy event schema version 3 is newer than this reapq understands (2 for requested); upgrade reapq',
    );
    expect(() => read({ v: 2, at: 1, type: 'succeeded' })).toThrow(/newer .* \(1 for succeeded\)/);
  });
});
