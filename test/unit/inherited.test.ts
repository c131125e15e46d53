import { describe, it, expect } from 'vitest';
import { tieInherited, type InheritedInput, type RunFacts } from '../../src/worker/inherited.js';
import type { ProcStat } from '../../src/shared/proc-stat.js';
import type { Cookie } from '../../src/worker/tree.js';
import { procStat } from '../helpers/fixtures.js';

const SELF = 50; // the worker, leader of session 40 (its parent's)
const OWNER = 'reapq/h1';
const FLEET = 'f1';
const BOOT = '0b6f5a3e-2d1c-4c5b-9a8e-7f6d5c4b3a21';

const child = (pid: number, o: Partial<ProcStat> = {}): ProcStat => procStat(pid, { ppid: SELF, startTime: 2000, ...o });

const run = (key: string, leader: number, startTime: number, o: Partial<RunFacts> = {}): RunFacts => ({
  key,
  id: key,
  runId: `${key}-r1`,
  pgid: leader,
  sid: leader,
  startTime,
  bootId: BOOT,
  seen: new Map(),
  ...o,
});

const forker = child(60, { pgid: 40, sid: 40, startTime: 100 });
const web = run('web', 100, 1000);
const api = run('api', 200, 1500);

const input = (o: Partial<InheritedInput>): InheritedInput => ({
  bootId: BOOT,
  me: { owner: OWNER, fleet: FLEET },
  selfSid: 40,
  own: new Set([60]),
  ownSids: new Set([40]),
  children: [],
  leaders: new Set([100, 200]),
  runs: [web, api],
  cookies: new Map<number, Cookie>(),
  spawning: false,
  ...o,
});

describe('tieInherited', () => {
  it("leaves out the worker's own children, their sessions, run leaders and zombies", () => {
    const spawnedPlain = child(61, { pgid: 40, sid: 40 }); // spawned by the worker without a session of its own
    const devRedis = child(62, { startTime: 50 });
    const redisFork = child(63, { pgid: 62, sid: 62, startTime: 3000 }); // orphan of the dev's Redis
    const leaderAfterForkerDied = child(100, { startTime: 1000 });
    const zombie = child(300, { state: 'Z', startTime: 3000 });
    const claims = tieInherited(
      input({
        own: new Set([60, 62]),
        ownSids: new Set([40, 62]),
        children: [forker, spawnedPlain, devRedis, redisFork, leaderAfterForkerDied, zombie],
      }),
    );
    expect(claims).toEqual([]);
  });

  it("ties a child in the run's group or session to it, though it started after a later run", () => {
    // npm's sh exited: the server re-parented to the worker, still in web's session.
    const server = child(110, { pgid: 110, sid: 100, startTime: 1700 });
    expect(tieInherited(input({ children: [server] }))).toEqual([
      { kind: 'run', pid: 110, startTime: 1700, key: 'web', by: 'group', of: 1 },
    ]);
  });

  it('ties a daemon that cleared its marks to the latest run started before it, saying among how many', () => {
    // redis-server --daemonize yes: forked, setsid, title over its environment; started after both runs.
    const daemon = child(210, { startTime: 1600 });
    expect(tieInherited(input({ children: [daemon] }))).toEqual([
      { kind: 'run', pid: 210, startTime: 1600, key: 'api', by: 'start-time', of: 2 },
    ]);
    // Started before api's leader: only web's lifetime holds it.
    const early = child(111, { startTime: 1200 });
    expect(tieInherited(input({ children: [early] }))).toEqual([
      { kind: 'run', pid: 111, startTime: 1200, key: 'web', by: 'start-time', of: 1 },
    ]);
  });

  it('ties the last of a double fork by the middle process it was seen with', () => {
    // web's leader forked 120, which called setsid and forked 121, then exited; 120 was seen as web's.
    const seenWeb = run('web', 100, 1000, { seen: new Map([[120, 1650]]) });
    const last = child(121, { pgid: 120, sid: 120, startTime: 1660 });
    const itself = child(120, { startTime: 1650 });
    expect(tieInherited(input({ runs: [seenWeb, api], children: [last, itself] }))).toEqual([
      { kind: 'run', pid: 120, startTime: 1650, key: 'web', by: 'member', of: 1 },
      { kind: 'run', pid: 121, startTime: 1660, key: 'web', by: 'member', of: 1 },
    ]);
  });

  it("ties by cookie first, and never claims another installation's process", () => {
    const carrier = child(130, { startTime: 1800 });
    const other = child(131, { pgid: 200, sid: 200, startTime: 1800 });
    const otherFleet = child(132, { pgid: 100, sid: 100, startTime: 1800 }); // same prefix and host id, another installation
    const cookies = new Map<number, Cookie>([
      [130, { id: 'web', owner: OWNER, run: 'web-r1', fleet: FLEET }],
      [131, { id: 'p-x', owner: 'other/h1' }],
      [132, { id: 'web', owner: OWNER, run: 'web-r1', fleet: 'f2' }],
    ]);
    expect(tieInherited(input({ children: [carrier, other, otherFleet], cookies }))).toEqual([
      { kind: 'run', pid: 130, startTime: 1800, key: 'web', by: 'cookie', of: 1 },
      { kind: 'foreign', pid: 131 },
      { kind: 'foreign', pid: 132 },
    ]);
  });

  it('calls a carrier of a run no longer held an orphan, whatever it shares with a held run', () => {
    const old = child(140, { pgid: 100, sid: 100, startTime: 1800 });
    const cookies = new Map<number, Cookie>([[140, { id: 'web', owner: OWNER, run: 'web-r0', fleet: FLEET }]]);
    expect(tieInherited(input({ children: [old], cookies }))).toEqual([{ kind: 'drift', pid: 140, startTime: 1800, cookieId: 'web' }]);
  });

  it("calls a child no run can have started drift, or waits while a spawn's leader is unknown", () => {
    const older = child(150, { startTime: 900 }); // before every held run's leader
    const noRuns = child(151, { startTime: 5000 });
    expect(tieInherited(input({ children: [older] }))).toEqual([{ kind: 'drift', pid: 150, startTime: 900, cookieId: null }]);
    expect(tieInherited(input({ runs: [], leaders: new Set(), children: [noRuns] }))).toEqual([
      { kind: 'drift', pid: 151, startTime: 5000, cookieId: null },
    ]);
    expect(tieInherited(input({ runs: [], leaders: new Set(), children: [noRuns], spawning: true }))).toEqual([{ kind: 'wait', pid: 151 }]);
  });

  it('does not compare start times across boots', () => {
    const adoptedElsewhere = run('web', 100, 1000, { bootId: 'ffffffff-2d1c-4c5b-9a8e-7f6d5c4b3a21' });
    const c = child(160, { pgid: 100, sid: 100, startTime: 1800 });
    expect(tieInherited(input({ runs: [adoptedElsewhere], children: [c] }))).toEqual([
      { kind: 'drift', pid: 160, startTime: 1800, cookieId: null },
    ]);
  });

  it("in cgroup mode, ties a child by its leaf; a leaf no held run claims is the leaf pass's", () => {
    const inLeaf = child(170, { startTime: 1100 });
    const inOldLeaf = child(171, { startTime: 1100 });
    const leaves = new Map([
      [170, { id: 'api', run: 'api-r1' }],
      [171, { id: 'web', run: 'web-r0' }],
    ]);
    expect(tieInherited(input({ children: [inLeaf, inOldLeaf], leaves }))).toEqual([
      { kind: 'run', pid: 170, startTime: 1100, key: 'api', by: 'cgroup', of: 1 },
      { kind: 'leaf', pid: 171 },
    ]);
  });
});
