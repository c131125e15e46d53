import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/logger.js';
import type { ForkerReply, ForkerRequest } from './forker-protocol.js';

export type SpawnResult =
  | { ok: true; pid: number; pgid: number; sid: number; startTime: number; logOffset: number }
  | { ok: false; code: string | null; message: string };

export interface ForkerEvents {
  onExit: (id: string, pid: number, code: number | null, signal: NodeJS.Signals | null) => void;
  /** A forker died: nobody will report its children's exits, so they are polled from now on. */
  onLost: () => void;
}

interface Slot {
  proc: ChildProcess | null;
  pending: Map<number, (r: SpawnResult) => void>;
}

/**
 * The worker's side of its forkers: requests spawns, hears exits, restarts one that dies.
 * A spawn blocks its forker for the fork and the child's exec (about a bare spawn's cost),
 * so one forker is the ceiling of a host's start rate; several spawn in parallel, each
 * request going to the forker with the fewest in flight.
 */
export class Forker {
  private readonly slots: Slot[];
  private next = 0;
  private closing = false;

  constructor(
    private readonly events: ForkerEvents,
    private readonly log: Logger,
    /** Pids spawned through child_process: the reaper leaves them to libuv. */
    private readonly ownChildren: Set<number>,
    count = 1,
  ) {
    this.slots = Array.from({ length: Math.max(1, count) }, () => ({ proc: null, pending: new Map() }));
  }

  start(): void {
    for (const slot of this.slots) this.startOne(slot);
  }

  private startOne(slot: Slot): void {
    const p = fork(fileURLToPath(new URL('./forker-main.js', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Nothing of the worker's flags but a CPU profile's: a worker run with --cpu-prof profiles its forkers too.
      execArgv: process.execArgv.filter((a) => a.startsWith('--cpu-prof')),
      serialization: 'json',
    });
    slot.proc = p;
    if (p.pid !== undefined) this.ownChildren.add(p.pid);
    p.on('message', (m: ForkerReply) => {
      if (m.t === 'exit') {
        this.events.onExit(m.id, m.pid, m.code, m.signal);
        return;
      }
      const done = slot.pending.get(m.req);
      if (!done) return;
      slot.pending.delete(m.req);
      done(
        m.t === 'spawned'
          ? { ok: true, pid: m.pid, pgid: m.pgid, sid: m.sid, startTime: m.startTime, logOffset: m.logOffset }
          : { ok: false, code: m.code, message: m.message },
      );
    });
    p.once('exit', (code, signal) => {
      if (p.pid !== undefined) this.ownChildren.delete(p.pid);
      for (const [, done] of slot.pending) done({ ok: false, code: null, message: 'the forker died during the spawn' });
      slot.pending.clear();
      if (this.closing) return;
      this.log.error({ code, signal }, 'forker died: restarting it; its processes are watched by polling');
      this.events.onLost();
      this.startOne(slot);
    });
  }

  spawn(req: Omit<ForkerRequest, 'req'>): Promise<SpawnResult> {
    let slot: Slot | null = null;
    for (const s of this.slots) if (s.proc?.connected && (!slot || s.pending.size < slot.pending.size)) slot = s;
    const p = slot?.proc;
    if (!slot || !p) return Promise.resolve({ ok: false, code: null, message: 'the forker is not running' });
    const n = this.next++;
    return new Promise((resolve) => {
      slot.pending.set(n, resolve);
      p.send({ ...req, req: n } satisfies ForkerRequest);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(async ({ proc: p }) => {
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise<void>((res) => p.once('exit', () => res()));
        p.disconnect();
        await gone;
      }),
    );
  }
}
