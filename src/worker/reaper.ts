import { createRequire } from 'node:module';
import type { ProcessTable } from './proc/table.js';

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

interface Libc {
  prctl(option: number, a: number, b: number, c: number, d: number): number;
  waitpid(pid: number, status: number[], options: number): number;
}

/**
 * prctl and waitpid through koffi: a maintained FFI with prebuilt binaries, so nothing is
 * compiled on install and no addon has to be kept in step with Node's ABI. Loaded lazily
 * so a platform without it still runs, only without subreaping.
 */
function loadLibc(): Libc | null {
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    // Fixed arity: a variadic prctl declaration did not pass arguments reliably.
    return {
      prctl: lib.func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)') as Libc['prctl'],
      waitpid: lib.func('int waitpid(int, _Out_ int *, int)') as Libc['waitpid'],
    };
  } catch {
    return null;
  }
}

/**
 * Reaps zombies the worker inherited (as subreaper or PID 1), one pid at a time. Never
 * waitpid(-1): that would steal the exit status libuv waits for on the worker's own
 * children, and their 'exit' events would never fire.
 */
export class Reaper {
  private readonly libc = loadLibc();
  reaped = 0;

  constructor(
    private readonly table: ProcessTable,
    private readonly selfPid: number,
    /** Pids spawned through child_process: libuv reaps those. */
    private readonly ownChildren: ReadonlySet<number>,
  ) {}

  get available(): boolean {
    return this.libc !== null;
  }

  /** Makes orphaned descendants re-parent to this process instead of to init. */
  becomeSubreaper(): boolean {
    return this.libc !== null && this.libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) === 0;
  }

  /** Reaps every inherited zombie child now; returns their pids. */
  sweep(): number[] {
    if (!this.libc) return [];
    const out: number[] = [];
    for (const pid of this.table.children(this.selfPid)) {
      if (this.ownChildren.has(pid)) continue;
      if (this.table.stat(pid)?.state !== 'Z') continue;
      const status = [0];
      if (this.libc.waitpid(pid, status, WNOHANG) === pid) out.push(pid);
    }
    this.reaped += out.length;
    return out;
  }
}
