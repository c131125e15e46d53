import type { Mount, ProcCgroup } from './mountinfo.js';

/** The v1 controllers reapq uses where v2 lacks them. */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'freezer'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface Hierarchy {
  version: 1 | 2;
  mountPoint: string;
  /** The filesystem directory of the process's own cgroup in this hierarchy. */
  home: string;
  /** The process's own cgroup path, as /proc/<pid>/cgroup names it. */
  path: string;
  writable: boolean;
}

export interface Layout {
  /** Membership, kill, freeze, populated: the v2 hierarchy, if mounted where the process can see its cgroup. */
  v2: Hierarchy | null;
  /** v1 hierarchies by controller (cpu may be mounted as cpu,cpuacct). */
  v1: Partial<Record<V1Controller, Hierarchy>>;
}

/**
 * Where each hierarchy is and where the process sits in it, from the mount table and
 * /proc/self/cgroup. A mount shows only part of a hierarchy (its `root`): the process's
 * cgroup is reachable through it only when its path lies below that root.
 */
export function chooseLayout(mounts: readonly Mount[], self: readonly ProcCgroup[]): Layout {
  const layout: Layout = { v2: null, v1: {} };
  const under = (m: Mount, path: string): string | null => {
    const root = m.root === '/' ? '' : m.root.replace(/\/$/, '');
    if (path !== root && !path.startsWith(`${root}/`) && root !== '') return null;
    const rest = path.slice(root.length);
    return (m.mountPoint.replace(/\/$/, '') + rest).replace(/\/$/, '') || '/';
  };
  const v2self = self.find((c) => c.hierarchy === 0 && c.controllers.length === 0);
  if (v2self) {
    for (const m of mounts) {
      if (m.fsType !== 'cgroup2') continue;
      const home = under(m, v2self.path);
      if (home === null) continue;
      layout.v2 = { version: 2, mountPoint: m.mountPoint, home, path: v2self.path, writable: m.mountOptions.includes('rw') };
      if (layout.v2.writable) break;
    }
  }
  for (const ctl of V1_CONTROLLERS) {
    const mine = self.find((c) => c.hierarchy !== 0 && c.controllers.includes(ctl));
    if (!mine) continue;
    for (const m of mounts) {
      if (m.fsType !== 'cgroup' || !m.superOptions.includes(ctl)) continue;
      const home = under(m, mine.path);
      if (home === null) continue;
      const h: Hierarchy = { version: 1, mountPoint: m.mountPoint, home, path: mine.path, writable: m.mountOptions.includes('rw') };
      if (!layout.v1[ctl] || (!layout.v1[ctl].writable && h.writable)) layout.v1[ctl] = h;
    }
  }
  return layout;
}

export type LimitName = 'memory' | 'cpus' | 'pidsMax';
export const LIMIT_NAMES: readonly LimitName[] = ['memory', 'cpus', 'pidsMax'];
/** Which v2 controller and which v1 hierarchy enforce a limit. */
export const LIMIT_CONTROLLER: Record<LimitName, { v2: string; v1: V1Controller }> = {
  memory: { v2: 'memory', v1: 'memory' },
  cpus: { v2: 'cpu', v1: 'cpu' },
  pidsMax: { v2: 'pids', v1: 'pids' },
};

export type Source = 'v2' | 'v1' | null;

/** v2 first (controllers enabled for the worker's subtree), else a writable v1 hierarchy, else none. */
export function limitSources(v2Enabled: readonly string[], v1Writable: readonly V1Controller[]): Record<LimitName, Source> {
  const out = {} as Record<LimitName, Source>;
  for (const l of LIMIT_NAMES) {
    const c = LIMIT_CONTROLLER[l];
    out[l] = v2Enabled.includes(c.v2) ? 'v2' : v1Writable.includes(c.v1) ? 'v1' : null;
  }
  return out;
}
