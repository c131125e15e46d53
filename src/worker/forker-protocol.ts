/** Messages between the worker and its forker (src/worker/forker-main.ts), over Node's IPC channel. */
export interface ForkerRequest {
  req: number;
  id: string;
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  uid: number | null;
  gid: number | null;
  logFile: string;
  /**
   * Cgroup mode: files the forker writes its own pid into just before it forks (so the
   * child is born in the run's leaf, before the program runs) and back into right after.
   */
  cgroup?: { enter: string[]; leave: string[] };
}

export type ForkerReply =
  | { t: 'spawned'; req: number; pid: number; pgid: number; sid: number; startTime: number; logOffset: number }
  | { t: 'failed'; req: number; code: string | null; message: string }
  | { t: 'exit'; id: string; pid: number; code: number | null; signal: NodeJS.Signals | null };
