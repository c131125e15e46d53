import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/logger.js';
import type { ForkerReply, ForkerRequest } from './forker-protocol.js';

export type SpawnResult =
  | { ok: true; pid: number; pgid: number; sid: number; startTime: number; logOffset: number }
  | { ok: false; code: string | null; message: string };

export interface ForkerEvents {
  onExit: (id: string, pid: number, code: number | null, signal: NodeJS.Signals | null) => void;
  /** The forker died: its children are now the worker's (it is their subreaper) and must be polled. */
  onLost: () => void;
}

/** The worker's side of the forker: requests spawns, hears exits, restarts it if it dies. */
export class Forker {
  private proc: ChildProcess | null = null;
  private next = 0;
  private readonly pending = new Map<number, (r: SpawnResult) => void>();
  private closing = false;

  constructor(
    private readonly events: ForkerEvents,
    private readonly log: Logger,
    /** Pids spawned through child_process: the reaper leaves them to libuv. */
    private readonly ownChildren: Set<number>,
  ) {}

  start(): void {
    const p = fork(fileURLToPath(new URL('./forker-main.js', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
      serialization: 'json',
    });
    this.proc = p;
    if (p.pid !== undefined) this.ownChildren.add(p.pid);
    p.on('message', (m: ForkerReply) => {
      if (m.t === 'exit') {
        this.events.onExit(m.id, m.pid, m.code, m.signal);
        return;
      }
      const done = this.pending.get(m.req);
      if (!done) return;
      this.pending.delete(m.req);
      done(
        m.t === 'spawned'
          ? { ok: true, pid: m.pid, pgid: m.pgid, sid: m.sid, startTime: m.startTime, logOffset: m.logOffset }
          : { ok: false, code: m.code, message: m.message },
      );
    });
    p.once('exit', (code, signal) => {
      if (p.pid !== undefined) this.ownChildren.delete(p.pid);
      for (const [, done] of this.pending) done({ ok: false, code: null, message: 'the forker died during the spawn' });
      this.pending.clear();
      if (this.closing) return;
      this.log.error({ code, signal }, 'forker died: restarting it; its processes are watched by polling');
      this.events.onLost();
      this.start();
    });
  }

  spawn(req: Omit<ForkerRequest, 'req'>): Promise<SpawnResult> {
    const p = this.proc;
    if (!p?.connected) return Promise.resolve({ ok: false, code: null, message: 'the forker is not running' });
    const n = this.next++;
    return new Promise((resolve) => {
      this.pending.set(n, resolve);
      p.send({ ...req, req: n } satisfies ForkerRequest);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((res) => p.once('exit', () => res()));
    p.disconnect();
    await gone;
  }
}
