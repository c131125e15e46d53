/** Parsers of the other /proc files the worker reads (environ, children, boot_id); /proc/PID/stat is src/shared/proc-stat.ts's. */
import type { ProcStat } from '../../shared/proc-stat.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function int(s: string | undefined): number | null {
  return s !== undefined && /^-?\d+$/.test(s) ? Number(s) : null;
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
