/**
 * The kill plan: what to do next for a tree being stopped, from a snapshot of it. Pure,
 * so every step (first signal, waiting out the grace period, escalation, a SIGKILL that
 * does not take, done) is a unit test with plain data.
 *
 *   no signal sent yet, members alive  -> signal (the stop signal, then SIGCONT), deadline = now + grace
 *   before the deadline, members alive -> wait (look again soon, never past the deadline)
 *   deadline passed, members alive     -> kill (SIGKILL to every member, again for late forks)
 *   SIGKILL sent killWaitMs ago, alive -> kill-pending (uninterruptible sleep: report, keep trying)
 *   nothing alive, group gone          -> done (escalated if SIGKILL was needed)
 */
export interface KillState {
  /** When SIGKILL follows; null before the first signal. */
  deadline: number | null;
  /** When SIGKILL was first sent; null before. */
  killSentAt: number | null;
  /** Polls so far while waiting: the interval grows with it. */
  polls: number;
}

export interface KillSnapshot {
  now: number;
  /** Live members of the tree: found by group, session, ancestry, cookie, or seen earlier. */
  members: readonly number[];
  /** The process group still exists (a zombie leader keeps it). */
  groupAlive: boolean;
  graceMs: number;
  killWaitMs: number;
  /** Longest wait between looks (default 100 ms); longer where the end of the tree is watched. */
  maxPollMs?: number;
}

export type KillStep =
  | { kind: 'signal'; deadline: number }
  | { kind: 'wait'; ms: number }
  | { kind: 'kill' }
  | { kind: 'kill-pending'; pids: number[] }
  | { kind: 'done'; escalated: boolean };

export const NO_KILL: KillState = { deadline: null, killSentAt: null, polls: 0 };

export function killStep(s: KillState, t: KillSnapshot): KillStep {
  const alive = t.members.length > 0 || t.groupAlive;
  if (!alive) return { kind: 'done', escalated: s.killSentAt !== null };
  if (s.deadline === null && s.killSentAt === null) return { kind: 'signal', deadline: t.now + t.graceMs };
  if (s.killSentAt === null && s.deadline !== null && t.now < s.deadline) {
    // 10, 20, 40 .. 100 ms: fast for the common quick exit, cheap for a long grace period.
    const ms = Math.min(10 * 2 ** s.polls, t.maxPollMs ?? 100, Math.max(1, s.deadline - t.now));
    return { kind: 'wait', ms };
  }
  if (s.killSentAt !== null && t.now - s.killSentAt >= t.killWaitMs) return { kind: 'kill-pending', pids: [...t.members] };
  return { kind: 'kill' };
}

/** The state after a step was carried out. */
export function afterStep(s: KillState, step: KillStep, now: number): KillState {
  switch (step.kind) {
    case 'signal':
      return { deadline: step.deadline, killSentAt: null, polls: 0 };
    case 'wait':
      return { ...s, polls: s.polls + 1 };
    case 'kill':
      return { ...s, killSentAt: s.killSentAt ?? now };
    default:
      return s;
  }
}
