import { readFileSync } from 'node:fs';

/** A live process's parent and start time (clock ticks since boot), or null if gone or a zombie. */
export function procStat(pid: number): { ppid: number; startTicks: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z') return null;
    return { ppid: Number(f[1]), startTicks: Number(f[19]) };
  } catch {
    return null;
  }
}
