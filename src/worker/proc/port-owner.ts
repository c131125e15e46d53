import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ProcessTable } from './table.js';
import { listeningInodes, socketInode } from './net-tcp.js';

/**
 * Whether a process of a run listens on a port: `yes` when one of the listening sockets of
 * the port (/proc/net/tcp{,6}) is an open fd of one of the pids, `no` when the port's
 * listeners are all someone else's, `unknown` when this cannot be told (no /proc/net, no
 * listener seen in this network namespace, an fd table that could not be read).
 */
export type PortOwner = 'yes' | 'no' | 'unknown';

export function portOwner(port: number, pids: readonly number[], procRoot = '/proc'): PortOwner {
  const texts = ['tcp', 'tcp6'].flatMap((f) => {
    try {
      return [readFileSync(`${procRoot}/net/${f}`, 'utf8')];
    } catch {
      return [];
    }
  });
  const inodes = listeningInodes(texts, port);
  if (inodes.size === 0) return 'unknown';
  let unreadable = false;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      unreadable = true;
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      const inode = socketInode(target);
      if (inode !== null && inodes.has(inode)) return 'yes';
    }
  }
  return unreadable ? 'unknown' : 'no';
}

/** A leader and its descendants, by the children files; bounded so a fork bomb cannot hold the check. */
export function treePids(table: ProcessTable, leader: number, max = 4096): number[] {
  const seen = new Set<number>([leader]);
  const todo = [leader];
  while (todo.length > 0 && seen.size < max) {
    for (const c of table.children(todo.pop()!)) {
      if (seen.has(c)) continue;
      seen.add(c);
      todo.push(c);
    }
  }
  return [...seen];
}
