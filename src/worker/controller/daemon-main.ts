import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ProcStat } from '../../shared/proc-stat.js';
import type { ProcessRecord } from '../../shared/record.js';
import type { CgroupManager } from '../cgroup/manager.js';
import type { HostOs } from '../host-os.js';
import { COOKIE, type Identity } from '../tree.js';
import type { DaemonSeen } from './decision.js';

/**
 * A daemon's main process, once its launcher is gone: named by its pid file, or (cgroup
 * mode without one) the oldest process at the top of its leaf. A pid is taken only with
 * proof it belongs to this run, since a pid file may be stale (an earlier run's, the pid
 * reused since) or name anything: it started no earlier than the launcher, and it is in
 * the run's leaf (cgroup mode), or carries this id's cookie, or (a daemon that wrote over
 * its environment) is in the launcher's group or session or was inherited by the worker,
 * its subreaper. `judge...` and `pickFromTree` are pure; `lookForMain` reads.
 */
export interface PidFileFacts {
  path: string;
  /** The file's text; null when it does not exist (yet). */
  text: string | null;
  stat: ProcStat | null;
  /** This id's cookie value in its environment (null: none or unreadable). */
  cookie: string | null;
  /** Cgroup mode: whether it is in the run's leaf; null in process mode. */
  inLeaf: boolean | null;
}

export function judgePidFile(f: PidFileFacts, launcher: Identity, selfPid: number): DaemonSeen {
  if (f.text === null) return { waiting: `pid file ${f.path} does not exist` };
  const m = /^\s*(\d+)\s*$/.exec(f.text);
  if (!m) return { waiting: `pid file ${f.path} holds no pid` };
  const pid = Number(m[1]);
  const s = f.stat;
  if (!s || s.state === 'Z') return { waiting: `pid file ${f.path} names pid ${pid}, which is not running` };
  if (s.startTime < launcher.startTime) return { waiting: `pid file ${f.path} names pid ${pid}, which started before this run` };
  const ours =
    f.inLeaf ??
    (f.cookie === launcher.id || (f.cookie === null && (s.sid === launcher.sid || s.pgid === launcher.pgid || s.ppid === selfPid)));
  if (!ours) return { waiting: `pid file ${f.path} names pid ${pid} (${s.comm}), which is not of this run` };
  return { main: { pid, pgid: s.pgid, sid: s.sid, startTime: s.startTime, from: 'pid-file' } };
}

/** The main process of a leaf without a pid file: the oldest of those whose parent is not in it. */
export function pickFromTree(members: readonly ProcStat[]): DaemonSeen {
  const live = members.filter((s) => s.state !== 'Z');
  const inside = new Set(live.map((s) => s.pid));
  const tops = live.filter((s) => !inside.has(s.ppid)).sort((a, b) => a.startTime - b.startTime || a.pid - b.pid);
  const top = tops[0];
  if (!top) return { waiting: 'its launcher exited and left nothing running' };
  return { main: { pid: top.pid, pgid: top.pgid, sid: top.sid, startTime: top.startTime, from: 'tree' } };
}

/** Reads what the judgement needs: the pid file (resolved against the record's cwd), or the leaf. */
export function lookForMain(
  deps: { os: HostOs; cgroups: CgroupManager | null },
  rec: ProcessRecord,
  launcher: Identity,
  leaf: string | null,
  members: readonly number[],
): DaemonSeen {
  const { os, cgroups } = deps;
  if (rec.pidFile === null) return pickFromTree(members.flatMap((p) => os.table.stat(p) ?? []));
  const path = resolve(rec.cwd ?? '/', rec.pidFile);
  let text: string | null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { waiting: `pid file ${path} cannot be read: ${(err as Error).message}` };
    text = null;
  }
  const pid = text === null ? NaN : Number(text.trim());
  const known = Number.isInteger(pid) && pid > 0;
  const inLeaf = leaf && cgroups && known ? cgroups.leafOf(cgroups.cgroupOf(pid)) === leaf : null;
  return judgePidFile(
    { path, text, stat: known ? os.table.stat(pid) : null, cookie: known ? os.table.cookie(pid, COOKIE) : null, inLeaf },
    launcher,
    os.selfPid,
  );
}
