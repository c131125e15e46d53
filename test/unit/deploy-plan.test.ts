import { describe, expect, it } from 'vitest';
import {
  activeOf,
  fixedPort,
  foldDeploy,
  strategyFor,
  reduceDeploy,
  type DeployEvent,
  type DeployEventDraft,
  type DeployRecord,
  type Strategy,
} from '../../src/shared/deploy.js';
import type { ProcessRecord, State } from '../../src/shared/record.js';
import { gone, pickNext, planDeploy, type DeployAction } from '../../src/worker/deploy/plan.js';

const T0 = Date.UTC(2026, 0, 1);
const SPEC = { command: ['node', 'server.js'] };

function requested(revision: number, o: { strategy?: Strategy; replicas?: number; kind?: 'deploy' | 'stop' | 'scale' } = {}): DeployEvent {
  return {
    v: 1,
    at: T0 + revision,
    type: 'requested',
    service: 'web',
    revision,
    kind: o.kind ?? 'deploy',
    spec: o.kind === 'stop' || o.kind === 'scale' ? null : { ...SPEC, env: { REV: String(revision) } },
    strategy: o.strategy ?? 'start-first',
    replicas: o.replicas ?? (o.kind === 'stop' ? 0 : 1),
    timeoutMs: 1000,
    cause: null,
  };
}

function proc(id: string, state: State, desired: 'running' | 'stopped' = 'running'): ProcessRecord {
  return {
    id,
    state,
    desired,
    killPending: [],
    killDeadline: null,
    restartPolicy: 'never',
    exitCode: null,
    error: null,
    restarts: 0,
  } as unknown as ProcessRecord;
}

/**
 * A tiny world: processes move as a worker would move them (a start becomes running, or
 * fails for the revisions in `broken`; a stop ends stopped), and the planner is asked
 * again until the deploy ends. Returns the deploy and the log of actions.
 */
type Fate = (id: string) => State;
const fateOf =
  (broken: Set<number>, neverReady: Set<number>): Fate =>
  (id) => {
    const rev = Number(/-r(\d+)-/.exec(id)![1]);
    if (id.includes('-re')) return 'running';
    return broken.has(rev) ? 'failed' : neverReady.has(rev) ? 'starting' : 'running';
  };

function run(d0: DeployRecord, world: Map<string, ProcessRecord>, broken: Set<number> | Fate = new Set(), neverReady = new Set<number>()) {
  const fate = typeof broken === 'function' ? broken : fateOf(broken, neverReady);
  let d = d0;
  let now = T0 + 10_000;
  const log: string[] = [];
  for (let step = 0; step < 200 && !['succeeded', 'rolled_back'].includes(d.state); step++) {
    const actions: DeployAction[] = planDeploy(d, world, now);
    if (actions.length === 0) {
      // The world moves: pending ones start, stopping ones end.
      for (const [id, r] of world) {
        if (r.state === 'pending' && r.desired === 'running') world.set(id, proc(id, fate(id)));
        else if (r.desired === 'stopped' && !['stopped', 'failed'].includes(r.state)) world.set(id, proc(id, 'stopped', 'stopped'));
      }
      now += 600;
      continue;
    }
    for (const a of actions) {
      if (a.kind === 'start') {
        log.push(`start ${a.process}`);
        if (!world.has(a.process)) world.set(a.process, proc(a.process, 'pending'));
        d = apply(d, a.then, now);
      } else if (a.kind === 'stop') {
        log.push(`stop ${a.process}`);
        world.set(a.process, { ...world.get(a.process)!, desired: 'stopped' });
      } else {
        log.push(a.event.type + ('process' in a.event ? ` ${a.event.process}` : ''));
        d = apply(d, a.event, now);
      }
    }
  }
  return { d, log };
}

function apply(d: DeployRecord, e: DeployEventDraft, at: number): DeployRecord {
  const res = reduceDeploy(d, { ...e, v: 1, at } as DeployEvent, d.id);
  if (!res.ok) throw new Error(res.error);
  return res.record;
}

function began(events: DeployEvent[], previous: DeployRecord['active']): DeployRecord {
  return apply(foldDeploy(events, 'd2')!, { type: 'began', previous, runner: 'test' }, T0 + 100);
}

const v1 = (n = 1) => ({ revision: 1, deploy: 'd1', spec: SPEC, processes: Array.from({ length: n }, (_, i) => `web-r1-${i}`) });
const worldOf = (ids: string[]) => new Map(ids.map((id) => [id, proc(id, 'running')]));

describe('deploy planner', () => {
  it('start-first: new replica ready, then the previous one stopped, then succeeded', () => {
    const world = worldOf(['web-r1-0']);
    const { d, log } = run(began([requested(2)], v1()), world);
    expect(d.state).toBe('succeeded');
    expect(log).toEqual(['start web-r2-0', 'replica_ready web-r2-0', 'stop web-r1-0', 'previous_stopped web-r1-0', 'succeeded']);
    expect(d.active?.processes).toEqual(['web-r2-0']);
    expect(world.get('web-r1-0')!.state).toBe('stopped');
  });

  it('starts replicas restarting on failure unless the revision says otherwise', () => {
    const d = began([requested(2)], v1());
    const [a] = planDeploy(d, worldOf(['web-r1-0']), T0 + 200);
    expect(a).toMatchObject({ kind: 'start', process: 'web-r2-0', spec: { ...SPEC, restart: 'on-failure' } });
    const never = began([{ ...requested(2), spec: { ...SPEC, restart: 'never' } } as DeployEvent], v1());
    expect(planDeploy(never, worldOf(['web-r1-0']), T0 + 200)[0]).toMatchObject({ kind: 'start', spec: { restart: 'never' } });
  });

  it('start-first with replicas rolls one at a time, and retires previous replicas beyond the new count', () => {
    const world = worldOf(['web-r1-0', 'web-r1-1', 'web-r1-2']);
    const { d, log } = run(began([requested(2, { replicas: 2 })], v1(3)), world);
    expect(d.state).toBe('succeeded');
    expect(log.filter((l) => !l.startsWith('replica_ready'))).toEqual([
      'start web-r2-0',
      'stop web-r1-0',
      'previous_stopped web-r1-0',
      'start web-r2-1',
      'stop web-r1-1',
      'previous_stopped web-r1-1',
      'stop web-r1-2',
      'previous_stopped web-r1-2',
      'succeeded',
    ]);
  });

  it('a new revision that never gets ready is stopped; the previous one keeps serving and was never stopped', () => {
    const world = worldOf(['web-r1-0']);
    const { d, log } = run(began([requested(2)], v1()), world, new Set(), new Set([2]));
    expect(d.state).toBe('rolled_back');
    expect(d.reason).toMatch(/web-r2-0 not ready within 1000 ms/);
    expect(log).not.toContain('stop web-r1-0');
    expect(log).toContain('stop web-r2-0');
    expect(world.get('web-r1-0')!.state).toBe('running');
    expect(d.active).toEqual(v1());
  });

  it('a failure half-way through replicas starts the stopped previous replicas again before stopping the new ones', () => {
    const world = worldOf(['web-r1-0', 'web-r1-1']);
    const { d, log } = run(began([requested(2, { replicas: 2 })], v1(2)), world, (id) => (id === 'web-r2-1' ? 'failed' : 'running'));
    expect(d.state).toBe('rolled_back');
    expect(log).toEqual([
      'start web-r2-0',
      'replica_ready web-r2-0',
      'stop web-r1-0',
      'previous_stopped web-r1-0',
      'start web-r2-1',
      'rollback_begun',
      'start web-r1-0-re2',
      'stop web-r2-0',
      'rolled_back',
    ]);
    expect(d.active?.processes).toEqual(['web-r1-0-re2', 'web-r1-1']);
    expect(world.get('web-r2-0')!.state).toBe('stopped');
  });

  it('a rollback starts again a previous replica whose stop was asked for but never seen through (its host died)', () => {
    // r2-0 was ready and the stop of r1-0 asked for; then the host died with r1-0 and r2-0.
    const d0 = apply(
      apply(
        apply(began([requested(2, { replicas: 2 })], v1(2)), { type: 'revision_started', process: 'web-r2-0', replica: 0 }, T0 + 200),
        { type: 'replica_ready', process: 'web-r2-0', replica: 0 },
        T0 + 300,
      ),
      { type: 'rollback_begun', reason: 'web-r2-0 lost' },
      T0 + 400,
    );
    const world = new Map([
      ['web-r1-0', proc('web-r1-0', 'lost', 'stopped')],
      ['web-r1-1', proc('web-r1-1', 'running')],
      ['web-r2-0', proc('web-r2-0', 'lost')],
    ]);
    const { d, log } = run(d0, world);
    expect(log).toEqual(['start web-r1-0-re2', 'rolled_back']); // r2-0 is gone with its host: nothing to stop
    expect(d.active?.processes).toEqual(['web-r1-0-re2', 'web-r1-1']);
  });

  it('stop-first: previous gone first, then the new one; a failure starts the previous revision again', () => {
    const ok = run(began([requested(2, { strategy: 'stop-first' })], v1()), worldOf(['web-r1-0']));
    expect(ok.d.state).toBe('succeeded');
    expect(ok.log).toEqual(['stop web-r1-0', 'previous_stopped web-r1-0', 'start web-r2-0', 'replica_ready web-r2-0', 'succeeded']);

    const world = worldOf(['web-r1-0']);
    const bad = run(began([requested(2, { strategy: 'stop-first' })], v1()), world, new Set([2]));
    expect(bad.d.state).toBe('rolled_back');
    expect(bad.d.reason).toMatch(/web-r2-0 failed/);
    expect(bad.log).toEqual([
      'stop web-r1-0',
      'previous_stopped web-r1-0',
      'start web-r2-0',
      'rollback_begun',
      'start web-r1-0-re2',
      'rolled_back',
    ]);
    expect(bad.d.active?.processes).toEqual(['web-r1-0-re2']);
    expect(world.get('web-r1-0-re2')!.state).toBe('running');
  });

  it('a first deploy has nothing to stop; a stop deploy stops the active revision and leaves none', () => {
    const first = run(began([requested(1)], null), new Map());
    expect(first.d.state).toBe('succeeded');
    expect(first.log).toEqual(['start web-r1-0', 'replica_ready web-r1-0', 'succeeded']);
    const world = worldOf(['web-r1-0']);
    const stop = run(began([requested(2, { kind: 'stop' })], v1()), world);
    expect(stop.log).toEqual(['stop web-r1-0', 'previous_stopped web-r1-0', 'succeeded']);
    expect(stop.d.active).toBeNull();
    expect(activeOf([stop.d, first.d])).toBeNull();
  });

  it('resumes from the record alone: a start whose event was not written is requested again under the same id', () => {
    const d = began([requested(2)], v1());
    const world = worldOf(['web-r1-0', 'web-r2-0']); // the process exists, revision_started was never appended
    const a = planDeploy(d, world, T0);
    expect(a).toEqual([expect.objectContaining({ kind: 'start', process: 'web-r2-0' })]);
  });

  it('a previous replica with a kill still pending is not gone', () => {
    expect(gone({ ...proc('x', 'stopped', 'stopped'), killPending: [12] })).toBe(false);
    expect(gone({ ...proc('x', 'failed'), killDeadline: 1 })).toBe(false);
    expect(gone(proc('x', 'stopped', 'stopped'))).toBe(true);
    expect(gone(null)).toBe(true);
  });
});

describe('scale planner', () => {
  it('up: the replicas that serve are left alone, the missing ones start together, numbered after them', () => {
    const world = worldOf(['web-r1-0', 'web-r1-1']);
    const { d, log } = run(began([requested(3, { kind: 'scale', replicas: 4 })], v1(2)), world);
    expect(d.state).toBe('succeeded');
    expect(log).toEqual(['start web-r1-2-s3', 'start web-r1-3-s3', 'replica_ready web-r1-2-s3', 'replica_ready web-r1-3-s3', 'succeeded']);
    expect(d.active).toEqual({ ...v1(2), processes: ['web-r1-0', 'web-r1-1', 'web-r1-2-s3', 'web-r1-3-s3'] });
    expect(world.get('web-r1-2-s3')).toMatchObject({ state: 'running' });
  });

  it('down: the highest-numbered replicas stop, the others keep running', () => {
    const world = worldOf(['web-r1-0', 'web-r1-1', 'web-r1-2']);
    const { d, log } = run(began([requested(3, { kind: 'scale', replicas: 1 })], v1(3)), world);
    expect(log).toEqual(['stop web-r1-1', 'stop web-r1-2', 'previous_stopped web-r1-1', 'previous_stopped web-r1-2', 'succeeded']);
    expect(d.active).toEqual(v1(1));
    expect(world.get('web-r1-0')).toMatchObject({ state: 'running', desired: 'running' });
  });

  it('to the same count succeeds at once; with nothing active it ends with the reason', () => {
    expect(run(began([requested(3, { kind: 'scale', replicas: 2 })], v1(2)), worldOf(['web-r1-0', 'web-r1-1'])).log).toEqual(['succeeded']);
    const none = run(began([requested(3, { kind: 'scale', replicas: 2 })], null), new Map());
    expect(none.d).toMatchObject({ state: 'rolled_back', reason: 'web has no active revision to scale', active: null });
  });

  it('a new replica that fails is stopped with the others it added; the kept replicas serve on', () => {
    const world = worldOf(['web-r1-0']);
    const { d, log } = run(began([requested(3, { kind: 'scale', replicas: 3 })], v1(1)), world, (id) =>
      id === 'web-r1-2-s3' ? 'failed' : 'running',
    );
    expect(d.state).toBe('rolled_back');
    expect(d.reason).toMatch(/web-r1-2-s3 failed/);
    expect(log).toContain('stop web-r1-1-s3');
    expect(log).not.toContain('stop web-r1-0');
    expect(d.active).toEqual(v1(1));
  });
});

describe('strategyFor', () => {
  it('a fixed port runs stop-first whatever was asked, with a note; an allocated one as asked', () => {
    const note = 'port 8080 is fixed: deployed stop-first, not start-first (a fixed port cannot be held twice)';
    expect(strategyFor({ ...SPEC, port: 8080 }, 'start-first')).toEqual({ strategy: 'stop-first', note });
    expect(strategyFor({ ...SPEC, port: 8080 }, 'stop-first')).toEqual({ strategy: 'stop-first', note: null });
    expect(strategyFor({ ...SPEC, port: 'auto' }, 'start-first')).toEqual({ strategy: 'start-first', note: null });
    expect(strategyFor(null, 'start-first')).toEqual({ strategy: 'start-first', note: null });
    expect(fixedPort({ ...SPEC, ready: { kind: 'tcp', port: 9000 } })).toBe(9000);
    expect(fixedPort({ ...SPEC, port: 'auto', ready: { kind: 'tcp', port: 9000 } })).toBeNull();
    expect(fixedPort(SPEC)).toBeNull();
  });
});

describe('pickNext', () => {
  it('a scale supersedes only older scales: a deploy queued before it runs first', () => {
    const scale = (rev: number) => foldDeploy([requested(rev, { kind: 'scale', replicas: 3 })], `d${rev}`)!;
    const q = (rev: number) => foldDeploy([requested(rev)], `d${rev}`)!;
    expect(pickNext([scale(1), q(2), scale(3), scale(4)])).toEqual({ run: q(2), supersede: [{ id: 'd1', by: 'd2' }] });
    expect(pickNext([scale(3), scale(4)])).toEqual({ run: scale(4), supersede: [{ id: 'd3', by: 'd4' }] });
    expect(pickNext([scale(3), q(4)])).toEqual({ run: q(4), supersede: [{ id: 'd3', by: 'd4' }] });
  });

  const q = (rev: number) => foldDeploy([requested(rev)], `d${rev}`)!;
  it('finishes one under way first, and supersedes every queued one but the newest', () => {
    const running = apply(q(1), { type: 'began', previous: null, runner: 't' }, T0);
    expect(pickNext([running, q(2), q(3), q(4)])).toEqual({
      run: running,
      supersede: [
        { id: 'd2', by: 'd4' },
        { id: 'd3', by: 'd4' },
      ],
    });
    expect(pickNext([q(5)]).run?.id).toBe('d5');
    expect(pickNext([]).run).toBeNull();
  });
});

describe('deploy reducer', () => {
  it('refuses events out of order and keeps every step', () => {
    const d = foldDeploy([requested(1)], 'd1')!;
    expect(reduceDeploy(d, { v: 1, at: T0, type: 'succeeded' }, 'd1')).toEqual({
      ok: false,
      error: 'succeeded is not allowed in state queued',
    });
    expect(reduceDeploy(null, { v: 1, at: T0, type: 'succeeded' }, 'd1').ok).toBe(false);
    const s = apply(d, { type: 'superseded', by: 'd9' }, T0);
    expect(s).toMatchObject({ state: 'superseded', reason: 'superseded by d9', supersededBy: 'd9' });
  });
});
