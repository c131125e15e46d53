/** The fields of /proc/PID/stat that reapq needs. Field numbers follow proc(5). */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgid: number;
  sid: number;
  /** Field 22, clock ticks since boot; with the boot id it tells a pid apart from a reused one. */
  startTime: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function int(s: string | undefined): number | null {
  return s !== undefined && /^-?\d+$/.test(s) ? Number(s) : null;
}

/** Parses /proc/PID/stat; null when the text is malformed or cut short (the process may die mid-read). */
export function parseStat(text: string): ProcStat | null {
  // comm is whatever the process wrote to /proc/self/comm, ')' and spaces included; the kernel
  // prints it raw, so only the LAST ')' reliably ends it.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = int(text.slice(0, open).trim());
  // Fields 3.. follow ") "; f[n - 3] is field n.
  const f = text
    .slice(close + 1)
    .trim()
    .split(' ');
  const [state, ppid, pgid, sid, startTime] = [f[0], int(f[1]), int(f[2]), int(f[3]), int(f[19])];
  if (pid === null || pid <= 0 || state === undefined || !/^[A-Za-z]$/.test(state)) return null;
  if (ppid === null || pgid === null || sid === null || startTime === null) return null;
  return { pid, comm: text.slice(open + 1, close), state, ppid, pgid, sid, startTime };
}

/** Value of `name` in a NUL-separated /proc/PID/environ, or null. First entry wins, as with getenv(3). */
export function parseEnvironCookie(buf: Buffer | string, name: string): string | null {
  const prefix = `${name}=`;
  const text = typeof buf === 'string' ? buf : buf.toString('utf8');
  for (const entry of text.split('\0')) {
    // Only the first '=' separates: values may contain '=' themselves.
    if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  }
  return null;
}

/** Pids in /proc/PID/task/TID/children; the kernel leaves a trailing space, or nothing at all. */
export function parseChildren(text: string): number[] {
  const out: number[] = [];
  for (const tok of text.split(/\s+/)) {
    const n = int(tok);
    if (n !== null && n > 0) out.push(n);
  }
  return out;
}

/** The trimmed /proc/sys/kernel/random/boot_id; throws rather than key pids on a bogus boot. */
export function parseBootId(text: string): string {
  const id = text.trim();
  if (!UUID.test(id)) throw new Error(`not a boot id: ${JSON.stringify(text.slice(0, 64))}`);
  return id;
}

/**
 * Pids reachable from `roots` by one or more child steps along ppid links. A root is included only
 * if it is itself reachable (e.g. a descendant of another root). The visited set makes ppid cycles
 * (a torn snapshot of a moving table) terminate.
 */
export function descendants(procs: Iterable<ProcStat>, roots: Iterable<number>): Set<number> {
  const kids = new Map<number, number[]>();
  for (const p of procs) {
    const list = kids.get(p.ppid);
    if (list) list.push(p.pid);
    else kids.set(p.ppid, [p.pid]);
  }
  const found = new Set<number>();
  const stack = [...roots];
  for (let pid = stack.pop(); pid !== undefined; pid = stack.pop()) {
    for (const child of kids.get(pid) ?? []) {
      if (!found.has(child)) {
        found.add(child);
        stack.push(child);
      }
    }
  }
  return found;
}
