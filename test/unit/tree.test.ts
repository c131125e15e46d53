import { describe, it, expect } from 'vitest';
import { cookieCandidates, leaderAlive, leaderState, treeMembers, type Cookie, type Identity } from '../../src/worker/tree.js';
import type { ProcStat } from '../../src/shared/proc-stat.js';
import { procStat } from '../helpers/fixtures.js';

const SELF = 50; // the worker
const OWNER = 'reapq/h1';
const ME = { owner: OWNER, fleet: 'f1' };
const ident: Identity = { id: 'web', pid: 100, pgid: 100, sid: 100, startTime: 1000 };

// A member of leader 100's group and session, unless `o` says otherwise.
const proc = (pid: number, o: Partial<ProcStat> = {}): ProcStat => procStat(pid, { ppid: SELF, pgid: 100, sid: 100, ...o });
const noCookies = new Map<number, Cookie>();

// The worker (own session), a leader 100 and its group: 101 child, 102 grandchild.
const worker = proc(SELF, { ppid: 1, pgid: SELF, sid: SELF, startTime: 10 });
const leader = proc(100, { ppid: SELF });
const child = proc(101, { ppid: 100, startTime: 1001 });
const grandchild = proc(102, { ppid: 101, startTime: 1002 });
const unrelated = proc(300, { ppid: 1, pgid: 300, sid: 300, startTime: 900 });

describe('treeMembers', () => {
  it('finds the leader and its group members', () => {
    const procs = [worker, leader, child, grandchild, unrelated];
    expect(treeMembers(ident, procs, noCookies, SELF, ME)).toEqual([100, 101, 102]);
  });

  it('excludes zombies', () => {
    const procs = [worker, leader, { ...child, state: 'Z' }, grandchild];
    expect(treeMembers(ident, procs, noCookies, SELF, ME)).toEqual([100, 102]);
  });

  it('excludes the worker itself even when it shares the group', () => {
    const procs = [{ ...worker, pgid: 100, sid: 100, startTime: 2000 }, leader, child];
    expect(treeMembers(ident, procs, noCookies, SELF, ME)).toEqual([100, 101]);
  });

  it('distrusts the group when the leader pid was reused; only cookie carriers count', () => {
    const reused = { ...leader, startTime: 7777 };
    const sameGroup = proc(110, { ppid: 1, startTime: 8000 });
    const carrier = proc(120, { ppid: 1, pgid: 120, sid: 120, startTime: 1500 });
    const cookies = new Map<number, Cookie>([[120, { id: 'web', owner: OWNER }]]);
    expect(treeMembers(ident, [worker, reused, sameGroup, carrier], cookies, SELF, ME)).toEqual([120]);
    expect(treeMembers(ident, [worker, reused, sameGroup], noCookies, SELF, ME)).toEqual([]);
  });

  it('trusts the group when the leader is gone, but not members older than the leader', () => {
    const older = proc(103, { ppid: 1, startTime: 999 });
    expect(treeMembers(ident, [worker, child, older], noCookies, SELF, ME)).toEqual([101]);
  });

  it('finds an escaped process (own session, re-parented to the worker) by its cookie', () => {
    const escaped = proc(200, { ppid: SELF, pgid: 200, sid: 200, startTime: 1100 });
    const cookies = new Map<number, Cookie>([[200, { id: 'web', owner: OWNER }]]);
    expect(treeMembers(ident, [worker, leader, escaped], cookies, SELF, ME)).toEqual([100, 200]);
    // Without the cookie it is not recognised.
    expect(treeMembers(ident, [worker, leader, escaped], noCookies, SELF, ME)).toEqual([100]);
  });

  it('accepts a cookie with no owner, ignores one of another owner or id', () => {
    const a = proc(201, { ppid: 1, pgid: 201, sid: 201, startTime: 1100 });
    const b = proc(202, { ppid: 1, pgid: 202, sid: 202, startTime: 1100 });
    const c = proc(203, { ppid: 1, pgid: 203, sid: 203, startTime: 1100 });
    const cookies = new Map<number, Cookie>([
      [201, { id: 'web', owner: null }],
      [202, { id: 'web', owner: 'reapq/h2' }],
      [203, { id: 'db', owner: OWNER }],
    ]);
    expect(treeMembers(ident, [worker, a, b, c], cookies, SELF, ME)).toEqual([201]);
  });

  it("takes a carrier of this fleet or of none (an older release's run of this record), never another fleet's", () => {
    const [a, b, c] = [201, 202, 203].map((pid) => proc(pid, { ppid: 1, pgid: pid, sid: pid, startTime: 1100 }));
    const cookies = new Map<number, Cookie>([
      [201, { id: 'web', owner: OWNER, fleet: 'f1' }],
      [202, { id: 'web', owner: OWNER }],
      [203, { id: 'web', owner: OWNER, fleet: 'f2' }],
    ]);
    expect(treeMembers(ident, [worker, a!, b!, c!], cookies, SELF, ME)).toEqual([201, 202]);
  });

  it('includes descendants of members, even in another group', () => {
    const escaped = proc(200, { ppid: SELF, pgid: 200, sid: 200, startTime: 1100 });
    const kid = proc(210, { ppid: 200, pgid: 210, sid: 210, startTime: 1200 });
    const grandkid = proc(211, { ppid: 210, pgid: 211, sid: 211, startTime: 1300 });
    const deadKid = proc(212, { ppid: 210, pgid: 212, sid: 212, startTime: 1300, state: 'Z' });
    const cookies = new Map<number, Cookie>([[200, { id: 'web', owner: OWNER }]]);
    expect(treeMembers(ident, [worker, leader, escaped, kid, grandkid, deadKid], cookies, SELF, ME)).toEqual([100, 200, 210, 211]);
  });
});

describe('leaderState / leaderAlive', () => {
  it('is alive only with the recorded start time and not a zombie; another start time is a reused pid', () => {
    expect(leaderState(ident, leader)).toBe('alive');
    expect(leaderAlive(ident, leader)).toBe(true);
    expect(leaderState(ident, { ...leader, startTime: 1001 })).toBe('reused');
    expect(leaderAlive(ident, { ...leader, startTime: 1001 })).toBe(false);
    expect(leaderState(ident, { ...leader, state: 'Z' })).toBe('gone');
    expect(leaderAlive(ident, { ...leader, state: 'Z' })).toBe(false);
    expect(leaderState(ident, undefined)).toBe('gone');
    expect(leaderAlive(ident, null)).toBe(false);
  });
});

describe('cookieCandidates', () => {
  it('covers group and session members, the worker children and their descendants only', () => {
    const sessionOnly = proc(104, { ppid: 1, pgid: 104, sid: 100, startTime: 1100 });
    const escaped = proc(200, { ppid: SELF, pgid: 200, sid: 200 });
    const escapedKid = proc(201, { ppid: 200, pgid: 201, sid: 201 });
    const escapedGrandkid = proc(202, { ppid: 201, pgid: 202, sid: 202 });
    const unrelatedKid = proc(301, { ppid: 300, pgid: 300, sid: 300 });
    const zombieChild = proc(400, { ppid: SELF, pgid: 400, sid: 400, state: 'Z' });
    const procs = [
      worker,
      leader,
      child,
      grandchild,
      sessionOnly,
      escaped,
      escapedKid,
      escapedGrandkid,
      unrelated,
      unrelatedKid,
      zombieChild,
    ];
    const got = cookieCandidates(procs, [ident], SELF);
    expect([...got].sort((a, b) => a - b)).toEqual([100, 101, 102, 104, 200, 201, 202]);
  });

  it('without groups, only the worker children and their descendants', () => {
    const escaped = proc(200, { ppid: SELF, pgid: 200, sid: 200 });
    const procs = [worker, leader, child, escaped, unrelated];
    // leader 100 is itself a child of the worker; 101 is its descendant.
    expect([...cookieCandidates(procs, [], SELF)].sort((a, b) => a - b)).toEqual([100, 101, 200]);
    expect([...cookieCandidates([worker, unrelated], [], SELF)]).toEqual([]);
  });
});
