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
}

export type ForkerReply =
  | { t: 'spawned'; req: number; pid: number; pgid: number; sid: number; startTime: number; logOffset: number }
  | { t: 'failed'; req: number; code: string | null; message: string }
  | { t: 'exit'; id: string; pid: number; code: number | null; signal: NodeJS.Signals | null };
