import { every, type Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { HostOs } from '../host-os.js';
import { leaderAlive } from '../tree.js';
import type { Local } from './decision.js';
import type { HeldRuns } from './held.js';

type Exit = NonNullable<Local['exit']>;

export interface ExitDeps {
  os: HostOs;
  log: Logger;
  held: HeldRuns;
  clock: Clock;
  /** The key is looked at again (through its queue) now that its leader's exit is known. */
  onExit: (key: string) => void;
}

/**
 * How the controller learns that a leader ended: the forker's report for the runs it
 * spawned, a look at /proc every 250 ms for the others (adopted runs, or every run once
 * the forker died). The exit itself is only noted on the held run; the decision follows.
 */
export class ExitWatch {
  /** Exits reported before the spawn that made them returned (a command that fails at once). */
  private readonly early = new Map<number, Exit>();
  private pollTimer: { cancel(): void } | null = null;

  constructor(private readonly deps: ExitDeps) {}

  /** An exit the forker saw. */
  reported(id: string, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    const exit: Exit = { code, signal, how: signal ? 'signaled' : 'exited' };
    const h = this.deps.held.get(id);
    if (h?.spawn?.pid === pid) h.exit = exit;
    else if (h?.phase === 'spawning') this.early.set(pid, exit);
    else return;
    this.deps.log.info({ processId: id, runId: h.runId, childPid: pid, code, signal }, 'leader exited');
    this.deps.onExit(id);
  }

  /** The exit of a leader whose spawn has just returned, if it came first. */
  takeEarly(pid: number): Exit | null {
    const e = this.early.get(pid) ?? null;
    this.early.delete(pid);
    return e;
  }

  /** The forker died: nobody will report its children's exits, so they are polled from now on. */
  forkerLost(): void {
    for (const h of this.deps.held.values()) h.spawnedHere = false;
    this.ensurePoll();
  }

  ensurePoll(): void {
    if (this.pollTimer) return;
    this.pollTimer = every(this.deps.clock, 250, () => this.poll(), { unref: true });
  }

  close(): void {
    this.pollTimer?.cancel();
    this.pollTimer = null;
  }

  /** Leaders nobody reports on (adopted, or the forker died): an exit is noticed by looking. */
  private poll(): void {
    for (const [key, h] of this.deps.held.runs()) {
      if (h.spawnedHere || h.exit || !h.spawn) continue;
      if (leaderAlive(h.spawn, this.deps.os.table.stat(h.spawn.pid))) continue;
      h.exit = { code: null, signal: null, how: 'unknown' };
      this.deps.onExit(key);
    }
  }
}
