import { describe, expect, it } from 'vitest';
import { daemonProblem } from '../../src/shared/daemon.js';
import type { HostInfo } from '../../src/shared/hosts.js';
import type { ProcStat } from '../../src/shared/proc-stat.js';
import type { ProcessRecord } from '../../src/shared/record.js';
import { fold } from '../../src/shared/reducer.js';
import { judgePidFile, pickFromTree, type PidFileFacts } from '../../src/worker/controller/daemon-main.js';
import { decide } from '../../src/worker/controller/decide.js';
import type { DecideInput, Local, Tree } from '../../src/worker/controller/decision.js';
import { decideInputOf, localOf, procStat, SLEEP_SPEC } from '../helpers/fixtures.js';

const launcher = { id: 'p', pid: 100, pgid: 100, sid: 100, startTime: 500 };
const stat = (over: Partial<ProcStat>): ProcStat => procStat(200, { comm: 'redis-server', startTime: 510, ...over });
const file: PidFileFacts = { path: '/run/r.pid', text: '200\n', stat: stat({}), cookie: null, inLeaf: null };

describe('a daemon main process from its pid file', () => {
  it('takes a pid of this run: in its leaf, carrying its cookie, or (environment written over) its group, session or inherited by the worker', () => {
    const main = { main: { pid: 200, pgid: 200, sid: 200, startTime: 510, from: 'pid-file' } };
    expect(judgePidFile({ ...file, inLeaf: true }, launcher, 1)).toEqual(main);
    expect(judgePidFile({ ...file, cookie: 'p' }, launcher, 1)).toEqual(main);
    expect(judgePidFile({ ...file, stat: stat({ ppid: 1 }) }, launcher, 1)).toEqual(main);
    expect(judgePidFile({ ...file, stat: stat({ sid: 100 }) }, launcher, 7)).toMatchObject({ main: { pid: 200, sid: 100 } });
  });
  it('waits, saying why, for a file not there yet, no pid, a dead or older pid, or one of something else', () => {
    const why = (f: Partial<PidFileFacts>) => (judgePidFile({ ...file, ...f }, launcher, 1) as { waiting: string }).waiting;
    expect(why({ text: null })).toBe('pid file /run/r.pid does not exist');
    expect(why({ text: 'abc' })).toBe('pid file /run/r.pid holds no pid');
    expect(why({ stat: null })).toBe('pid file /run/r.pid names pid 200, which is not running');
    expect(why({ stat: stat({ state: 'Z' }) })).toBe('pid file /run/r.pid names pid 200, which is not running');
    expect(why({ stat: stat({ startTime: 400 }) })).toBe('pid file /run/r.pid names pid 200, which started before this run');
    expect(why({ inLeaf: false })).toBe('pid file /run/r.pid names pid 200 (redis-server), which is not of this run');
    expect(why({ cookie: 'other' })).toBe('pid file /run/r.pid names pid 200 (redis-server), which is not of this run');
    expect(why({ stat: stat({ ppid: 9 }) })).toBe('pid file /run/r.pid names pid 200 (redis-server), which is not of this run');
  });
});

describe('a daemon main process from its leaf', () => {
  it('is the oldest process whose parent is not in the leaf; none when the leaf is empty', () => {
    const tree = [stat({ pid: 300, ppid: 200, startTime: 520 }), stat({ pid: 200, ppid: 1 }), stat({ pid: 250, ppid: 1, startTime: 515 })];
    expect(pickFromTree(tree)).toEqual({ main: { pid: 200, pgid: 200, sid: 200, startTime: 510, from: 'tree' } });
    expect(pickFromTree([stat({ state: 'Z' })])).toEqual({ waiting: 'its launcher exited and left nothing running' });
  });
});

describe('a daemon at the edge', () => {
  const host = (hostId: string, mode: 'cgroup' | 'process', over: Partial<HostInfo> = {}): HostInfo =>
    ({
      hostId,
      alive: true,
      state: 'up',
      containment: { mode, reason: mode === 'process' ? 'cgroupfs read-only' : null, limits: [], kill: null },
      ...over,
    }) as HostInfo;
  it('refuses a pid file without daemon, and a daemon without one that a process-mode host may take', () => {
    expect(daemonProblem({ pidFile: 'x.pid' }, [])).toBe('pidFile: needs daemon (only a daemon has its pid file read)');
    expect(daemonProblem({ daemon: true }, [host('a', 'cgroup'), host('b', 'process')])).toBe(
      'daemon without pidFile: host b runs in process mode (cgroupfs read-only), where only a pid file can follow a daemon',
    );
    expect(daemonProblem({ daemon: true, host: 'a' }, [host('a', 'cgroup'), host('b', 'process')])).toBeNull();
    expect(daemonProblem({ daemon: true }, [host('a', 'cgroup'), host('b', 'process', { alive: false, state: 'down' })])).toBeNull();
    expect(daemonProblem({ daemon: true, host: 'b' }, [host('b', 'process', { alive: false, state: 'down' })])).toMatch(/host b runs/);
    expect(daemonProblem({ daemon: true, pidFile: 'x.pid' }, [host('b', 'process')])).toBeNull();
    expect(daemonProblem({ daemon: true }, [host('c', 'cgroup', { containment: undefined })])).toMatch(
      /host c runs in process mode \(a worker of an earlier release\)/,
    );
  });
});

describe('a daemon on its record', () => {
  it('carries daemon and pidFile from its start, and its main pid from the spawn that found it', () => {
    const rec = fold(
      [
        {
          v: 2,
          at: 1,
          type: 'start_requested',
          spec: { ...SLEEP_SPEC, command: ['redis-server'], cwd: '/', daemon: { pidFile: 'r.pid' } },
        },
        { v: 1, at: 2, type: 'spawn_begun', host: 'h', port: null, run: 'r1' },
        {
          v: 1,
          at: 3,
          type: 'spawned',
          host: 'h',
          pid: 200,
          pgid: 200,
          sid: 200,
          startTime: 510,
          bootId: 'b',
          port: null,
          run: 'r1',
          daemon: { from: 'pid-file', launcherPid: 100 },
        },
      ],
      'p',
    );
    expect(rec).toMatchObject({ daemon: true, pidFile: 'r.pid', mainPid: 200, pid: 200, state: 'running' });
  });
});

const rec = (over: Partial<ProcessRecord> = {}): ProcessRecord =>
  ({
    id: 'p',
    state: 'starting',
    desired: 'running',
    host: 'h',
    pid: null,
    runId: 'r1',
    daemon: true,
    pidFile: 'r.pid',
    requestedPort: null,
    port: null,
    graceMs: 500,
    killPending: [],
    ...over,
  }) as ProcessRecord;
// Its launcher (pid 100) is the spawn, in the run's leaf.
const local = (over: Partial<Local> = {}): Local =>
  localOf({ spawn: { pid: 100, pgid: 100, sid: 100, startTime: 500, port: null, cgroup: '/reapq@h/p@r1' }, ...over });
const gone: Tree = { members: [], groupAlive: false, leader: 'gone' };
const input = (over: Partial<DecideInput> = {}): DecideInput =>
  decideInputOf({
    rec: rec(),
    local: local(),
    tree: { members: [100], groupAlive: true, leader: 'alive' },
    trigger: { kind: 'event' },
    ...over,
  });
const ok = { code: 0, signal: null, how: 'exited' as const };
const main = { pid: 200, pgid: 200, sid: 200, startTime: 510, from: 'pid-file' as const };

describe('decide: a daemon being launched', () => {
  it('waits while its launcher runs, the record starting with no pid', () => {
    expect(decide(input())).toEqual([]);
  });
  it('records its main process as the spawn once the launcher exited 0, and follows it', () => {
    const out = decide(input({ local: local({ exit: ok }), tree: { ...gone, daemon: { main } } }));
    expect(out).toEqual([
      {
        kind: 'append',
        events: [
          {
            type: 'spawned',
            host: 'h',
            pid: 200,
            pgid: 200,
            sid: 200,
            startTime: 510,
            bootId: 'b',
            port: null,
            run: 'r1',
            cgroup: '/reapq@h/p@r1',
            daemon: { from: 'pid-file', launcherPid: 100 },
          },
        ],
      },
      { kind: 'follow-main', main },
    ]);
  });
  it('fails the start with the launcher code when it exits non-zero, killing what it left first', () => {
    const bad = { code: 3, signal: null, how: 'exited' as const };
    expect(decide(input({ local: local({ exit: bad }), tree: gone }))).toEqual([
      {
        kind: 'append',
        events: [{ type: 'spawn_failed', host: 'h', error: 'its launcher exited with code 3 before the daemon was up', run: 'r1' }],
      },
      { kind: 'forget' },
    ]);
    const left = decide(input({ local: local({ exit: bad }), tree: { members: [150], groupAlive: true, leader: 'gone' } }));
    expect(left.map((a) => a.kind)).toEqual(['append', 'signal', 'requeue']);
    expect(left[0]).toMatchObject({
      events: [
        {
          type: 'drift',
          kind: 'leftovers',
          pids: [150],
          detail: 'its launcher exited with code 3 before the daemon was up: 1 left in its tree',
        },
      ],
    });
  });
  it('gives a late pid file its while, then fails with why no main was found', () => {
    const waiting: Tree = { ...gone, daemon: { waiting: 'pid file /x/r.pid does not exist' } };
    expect(decide(input({ local: local({ exit: ok }), tree: waiting }))).toEqual([{ kind: 'note-gone' }, { kind: 'requeue', ms: 50 }]);
    expect(decide(input({ local: local({ exit: ok, goneSince: 1000 }), tree: waiting, mono: 5000 }))).toEqual([
      { kind: 'requeue', ms: 100 },
    ]);
    expect(decide(input({ local: local({ exit: ok, goneSince: 1000 }), tree: waiting, mono: 11_000 }))[0]).toEqual({
      kind: 'append',
      events: [
        {
          type: 'spawn_failed',
          host: 'h',
          error: 'its launcher exited but no daemon was found within 10 s: pid file /x/r.pid does not exist',
          run: 'r1',
        },
      ],
    });
  });
  it('a stop asked during the launch stops the whole tree, then the record is stopped', () => {
    const stopping = rec({ desired: 'stopped', stopSignal: 'SIGTERM' });
    expect(decide(input({ rec: stopping })).map((a) => a.kind)).toEqual(['signal', 'requeue']);
    expect(decide(input({ rec: stopping, tree: gone }))).toEqual([
      { kind: 'append', events: [{ type: 'stopped', how: 'requested', run: 'r1' }] },
      { kind: 'forget' },
    ]);
  });
});
