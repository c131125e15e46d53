/**
 * The one parser of /proc/PID/stat: the worker's process table, the forker, the dev tools,
 * the benches and the tests all read it through here. Pure (text in, data out), so it lives
 * in shared where every layer may import it.
 */

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

/**
 * The fields of a /proc/PID/stat line, `f[n - 1]` being field n of proc(5): f[0] the pid,
 * f[1] the comm (raw, without its parentheses), f[2] the state, ... Null when there is no
 * comm to find. For a field reapq does not name in ProcStat (a bench's utime, field 14).
 */
export function statFields(text: string): string[] | null {
  // comm is whatever the process wrote to /proc/self/comm, ')' and spaces included; the kernel
  // prints it raw, so only the LAST ')' reliably ends it.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text
    .slice(close + 1)
    .trim()
    .split(' ');
  return [text.slice(0, open).trim(), text.slice(open + 1, close), ...rest];
}

function int(s: string | undefined): number | null {
  return s !== undefined && /^-?\d+$/.test(s) ? Number(s) : null;
}

/** Parses /proc/PID/stat; null when the text is malformed or cut short (the process may die mid-read). */
export function parseStat(text: string): ProcStat | null {
  const f = statFields(text);
  if (!f) return null;
  const [pid, state, ppid, pgid, sid, startTime] = [int(f[0]), f[2], int(f[3]), int(f[4]), int(f[5]), int(f[21])];
  if (pid === null || pid <= 0 || state === undefined || !/^[A-Za-z]$/.test(state)) return null;
  if (ppid === null || pgid === null || sid === null || startTime === null) return null;
  return { pid, comm: f[1]!, state, ppid, pgid, sid, startTime };
}
