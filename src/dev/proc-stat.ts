import { readFileSync } from 'node:fs';
import { parseStat } from '../shared/proc-stat.js';

/** A live process's parent and start time (clock ticks since boot), or null if gone or a zombie. */
export function procStat(pid: number): { ppid: number; startTicks: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const s = parseStat(text);
  return s && s.state !== 'Z' ? { ppid: s.ppid, startTicks: s.startTime } : null;
}
