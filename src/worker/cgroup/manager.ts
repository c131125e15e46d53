import { watch, type FSWatcher } from 'node:fs';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import {
  chooseLayout,
  limitSources,
  LIMIT_NAMES,
  type Hierarchy,
  type Layout,
  type LimitName,
  type Source,
  type V1Controller,
} from './layout.js';
import { parseFlatKeyed, parseMountinfo, parsePids, parseProcCgroup } from './mountinfo.js';
import { leafNames, removeSubtree } from './subtree.js';

export type ContainmentMode = 'cgroup' | 'process';
export type ContainmentWish = ContainmentMode | 'auto';

/** Limits of one run, as the record keeps them: bytes, CPUs, processes. */
export interface Limits {
  memory: number | null;
  cpus: number | null;
  pidsMax: number | null;
}

/** What a host can do, for its heartbeat, `reapq hosts` and the api. */
export interface ContainmentInfo {
  mode: ContainmentMode;
  /** Why it is not cgroup mode, or what is missing in it; null when all is there. */
  reason: string | null;
  /** Limits a start may ask for on this host. */
  limits: LimitName[];
  /** How the v2 hierarchy stops a tree: cgroup.kill, or freeze and SIGKILL every member. */
  kill: 'cgroup.kill' | 'freeze' | null;
}

export interface Usage {
  cpuMs: number;
  memoryBytes: number | null;
  memoryPeakBytes: number | null;
  pids: number;
}

/** The files the forker writes its pid into before it forks a run, and back into after. */
export interface EnterSpec {
  enter: string[];
  leave: string[];
}

/**
 * Every run's leaf cgroup, behind a small interface so the controller never touches the
 * cgroup filesystem itself. Leaves are named `<id>@<run>` under the worker's subtree
 * `<prefix>@<host>`: ids and runs never contain `@`, so a leaf names its record and run.
 */
export interface CgroupManager {
  readonly info: ContainmentInfo;
  /** The subtree's path in the v2 hierarchy, as /proc/<pid>/cgroup names it. */
  readonly subtreePath: string;
  leafName(id: string, run: string): string;
  /** The record's cgroup path (from `spawned`) for a leaf name. */
  pathOf(leaf: string): string;
  /** The leaf a recorded cgroup path names, if it is in this worker's subtree. */
  leafOf(path: string | null): string | null;
  /** Creates the leaf (and its v1 twins), writes its limits; the forker then enters it. */
  prepare(leaf: string, limits: Limits): Promise<EnterSpec>;
  /** Pids in the leaf (v2 cgroup.procs); [] when it is gone. */
  members(leaf: string): number[];
  /** Whether anything lives in it; null when the leaf does not exist. */
  populated(leaf: string): boolean | null;
  /** The v2 cgroup a process is in (as /proc/PID/cgroup names it); null when it is gone. */
  cgroupOf(pid: number): string | null;
  /** Kills every member: cgroup.kill, or freeze + SIGKILL each + thaw. */
  kill(leaf: string): void;
  /** Calls back when cgroup.events changes (populated 1 -> 0); returns the unwatch. */
  watch(leaf: string, onChange: () => void): () => void;
  /** Removes the leaf from every hierarchy; false when something still lives in it. */
  remove(leaf: string): Promise<boolean>;
  /** Leaves that exist in the subtree (any hierarchy). */
  leaves(): string[];
  usage(leaf: string): Usage | null;
  /** OOM kills in the leaf so far (v2 memory.events oom_kill, v1 memory.oom_control oom_kill). */
  oomKills(leaf: string): number;
  /** Removes the empty leaves, then the subtree when no leaf is left (graceful shutdown). */
  close(): void;
}

const read = (f: string): string | null => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return null;
  }
};

export class CgroupError extends Error {}

/**
 * Finds the host's cgroup layout and sets up the worker's subtree. Returns the manager,
 * or null with the reason when cgroup mode is not possible (never throws for that:
 * `auto` falls back to process mode, `cgroup` turns the reason into a refusal).
 */
export function probeCgroups(
  subtreeName: string,
  opts: { mountinfo?: string; selfCgroup?: string; selfPid?: number } = {},
): { manager: FsCgroupManager | null; info: ContainmentInfo } {
  const none = (reason: string) => ({ manager: null, info: { mode: 'process' as const, reason, limits: [], kill: null } });
  const mi = opts.mountinfo ?? read('/proc/self/mountinfo');
  const sc = opts.selfCgroup ?? read('/proc/self/cgroup');
  if (mi === null || sc === null) return none('cannot read /proc/self/mountinfo or /proc/self/cgroup');
  const layout = chooseLayout(parseMountinfo(mi), parseProcCgroup(sc));
  if (!layout.v2) return none('no cgroup v2 hierarchy is mounted where this process can see its own cgroup');
  if (!layout.v2.writable) return none(`the cgroup v2 hierarchy at ${layout.v2.mountPoint} is mounted read-only`);
  const sub = join(layout.v2.home, subtreeName);
  try {
    mkdirSync(sub, { recursive: true });
  } catch (err) {
    return none(`cannot create ${sub}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const kill = existsSync(join(sub, 'cgroup.kill')) ? 'cgroup.kill' : existsSync(join(sub, 'cgroup.freeze')) ? 'freeze' : null;
  if (!kill) return none(`${sub} has neither cgroup.kill nor cgroup.freeze (kernel older than 5.2)`);
  const problems: string[] = [];
  const v2Enabled = delegateV2(layout.v2, sub, opts.selfPid ?? process.pid, problems);
  const v1: Partial<Record<V1Controller, string>> = {};
  for (const [ctl, h] of Object.entries(layout.v1) as [V1Controller, Hierarchy][]) {
    if (ctl === 'freezer' || !h.writable) continue;
    if (v2Enabled.includes(ctl)) continue;
    const dir = join(h.home, subtreeName);
    try {
      mkdirSync(dir, { recursive: true });
      v1[ctl] = dir;
    } catch (err) {
      problems.push(`v1 ${ctl}: cannot create ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const sources = limitSources(v2Enabled, Object.keys(v1) as V1Controller[]);
  const limits = LIMIT_NAMES.filter((l) => sources[l] !== null);
  const missing = LIMIT_NAMES.filter((l) => sources[l] === null);
  if (missing.length > 0) problems.unshift(`cannot enforce ${missing.join(', ')}`);
  const info: ContainmentInfo = { mode: 'cgroup', reason: problems.length > 0 ? problems.join('; ') : null, limits, kill };
  const subtreePath = posix.join(layout.v2.path, subtreeName);
  return { manager: new FsCgroupManager(layout, sub, subtreePath, v1, sources, info), info };
}

/**
 * Enables memory, pids and cpu for the subtree where the v2 hierarchy offers them. A
 * non-root cgroup may delegate controllers only while it holds no process itself, so a
 * worker alone in its cgroup (a systemd service, a container) first moves itself into
 * the subtree's `worker` leaf. Returns the controllers the subtree's children get.
 */
function delegateV2(v2: Hierarchy, sub: string, selfPid: number, problems: string[]): string[] {
  const offered = (read(join(v2.home, 'cgroup.controllers')) ?? '').split(/\s+/);
  const want = ['memory', 'pids', 'cpu'].filter((c) => offered.includes(c));
  if (want.length === 0) return [];
  const enable = (dir: string): string | null => {
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
      return null;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
  };
  const atRoot = v2.path === '/';
  let err = enable(v2.home);
  if (err === 'EBUSY' && !atRoot) {
    // Our own cgroup has processes (this worker; in a container also its init): they move
    // to a leaf of their own, `worker`, as systemd's delegation asks, and the subtree's
    // controllers can then be enabled. The worker goes first; the rest are its neighbours.
    try {
      const self = join(sub, 'worker');
      mkdirSync(self, { recursive: true });
      writeFileSync(join(self, 'cgroup.procs'), String(selfPid));
      for (let i = 0; i < 3 && err === 'EBUSY'; i++) {
        for (const pid of parsePids(read(join(v2.home, 'cgroup.procs')) ?? '')) {
          try {
            writeFileSync(join(self, 'cgroup.procs'), String(pid));
          } catch {
            // exited, or a kernel thread: try the rest
          }
        }
        err = enable(v2.home);
      }
    } catch (e) {
      err = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
  }
  if (err) {
    problems.push(`v2 controllers ${want.join(', ')} cannot be enabled below ${v2.home} (${err})`);
    return [];
  }
  // The subtree's own children: the leaves (and the worker's leaf, which needs none).
  const e2 = enable(sub);
  if (e2) {
    problems.push(`v2 controllers not enabled in ${sub} (${e2})`);
    return [];
  }
  const enabled = (read(join(sub, 'cgroup.subtree_control')) ?? '').split(/\s+/);
  return want.filter((c) => enabled.includes(c));
}

export class FsCgroupManager implements CgroupManager {
  private readonly home: EnterSpec['leave'];
  constructor(
    private readonly layout: Layout,
    private readonly sub: string,
    readonly subtreePath: string,
    private readonly v1: Partial<Record<V1Controller, string>>,
    private readonly sources: Record<LimitName, Source>,
    readonly info: ContainmentInfo,
  ) {
    // The forker goes back to where it was started: the worker's own cgroups. v1 moves only
    // the forking thread (tasks), v2 the whole process (cgroup.procs).
    const selfV2 = existsSync(join(sub, 'worker', 'cgroup.procs')) && this.inWorkerLeaf() ? join(sub, 'worker') : layout.v2!.home;
    this.home = [join(selfV2, 'cgroup.procs'), ...Object.keys(v1).map((c) => join(layout.v1[c as V1Controller]!.home, 'tasks'))];
  }

  private inWorkerLeaf(): boolean {
    const self = parseProcCgroup(read('/proc/self/cgroup') ?? '').find((c) => c.hierarchy === 0);
    return !!self && self.path === posix.join(this.subtreePath, 'worker');
  }

  leafName(id: string, run: string): string {
    return `${id}@${run}`;
  }

  pathOf(leaf: string): string {
    return posix.join(this.subtreePath, leaf);
  }

  leafOf(path: string | null): string | null {
    if (!path || posix.dirname(path) !== this.subtreePath) return null;
    const leaf = basename(path);
    return leaf.includes('@') ? leaf : null;
  }

  /** The hierarchies a run joins: v2 always; v1 memory for usage and OOM, v1 cpu and pids when limited. */
  private v1For(limits: Limits): V1Controller[] {
    const out: V1Controller[] = [];
    if (this.v1.memory) out.push('memory');
    if (this.v1.cpu && limits.cpus !== null && this.sources.cpus === 'v1') out.push('cpu');
    if (this.v1.pids && limits.pidsMax !== null && this.sources.pidsMax === 'v1') out.push('pids');
    return out;
  }

  async prepare(leaf: string, limits: Limits): Promise<EnterSpec> {
    for (const l of LIMIT_NAMES)
      if (limits[l] !== null && this.sources[l] === null) throw new CgroupError(`this host cannot enforce ${l}: ${this.info.reason ?? ''}`);
    const v2dir = join(this.sub, leaf);
    const v1 = this.v1For(limits);
    const dirs = v1.map((c) => [c, join(this.v1[c]!, leaf)] as const);
    await Promise.all([mkdir(v2dir), ...dirs.map(([, d]) => mkdir(d))]);
    const writes: Array<Promise<void>> = [];
    const put = (dir: string, file: string, value: string) => writes.push(writeFile(join(dir, file), value));
    const v1dir = (c: V1Controller) => dirs.find(([k]) => k === c)?.[1];
    if (limits.memory !== null) {
      if (this.sources.memory === 'v2') {
        put(v2dir, 'memory.max', String(limits.memory));
        put(v2dir, 'memory.oom.group', '1');
        if (existsSync(join(v2dir, 'memory.swap.max'))) put(v2dir, 'memory.swap.max', '0');
      } else {
        const d = v1dir('memory')!;
        await writeFile(join(d, 'memory.limit_in_bytes'), String(limits.memory));
        // Swap would only postpone the OOM; memsw must be set after the memory limit.
        if (existsSync(join(d, 'memory.memsw.limit_in_bytes')))
          await writeFile(join(d, 'memory.memsw.limit_in_bytes'), String(limits.memory)).catch(() => undefined);
      }
    }
    if (limits.cpus !== null) {
      const quota = String(Math.max(1000, Math.round(limits.cpus * 100_000)));
      if (this.sources.cpus === 'v2') put(v2dir, 'cpu.max', `${quota} 100000`);
      else {
        await writeFile(join(v1dir('cpu')!, 'cpu.cfs_period_us'), '100000');
        put(v1dir('cpu')!, 'cpu.cfs_quota_us', quota);
      }
    }
    if (limits.pidsMax !== null) put(this.sources.pidsMax === 'v2' ? v2dir : v1dir('pids')!, 'pids.max', String(limits.pidsMax));
    await Promise.all(writes);
    return { enter: [join(v2dir, 'cgroup.procs'), ...dirs.map(([, d]) => join(d, 'tasks'))], leave: this.home };
  }

  members(leaf: string): number[] {
    return parsePids(read(join(this.sub, leaf, 'cgroup.procs')) ?? '');
  }

  cgroupOf(pid: number): string | null {
    return parseProcCgroup(read(`/proc/${pid}/cgroup`) ?? '').find((c) => c.hierarchy === 0)?.path ?? null;
  }

  populated(leaf: string): boolean | null {
    const t = read(join(this.sub, leaf, 'cgroup.events'));
    if (t === null) return null;
    return parseFlatKeyed(t).populated === 1;
  }

  kill(leaf: string): void {
    const dir = join(this.sub, leaf);
    if (this.info.kill === 'cgroup.kill') {
      try {
        writeFileSync(join(dir, 'cgroup.kill'), '1');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      return;
    }
    // Frozen, nothing can fork while each member gets its SIGKILL; fatal signals reach frozen tasks.
    try {
      writeFileSync(join(dir, 'cgroup.freeze'), '1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const pid of this.members(leaf)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    try {
      writeFileSync(join(dir, 'cgroup.freeze'), '0');
    } catch {
      // removed meanwhile
    }
  }

  watch(leaf: string, onChange: () => void): () => void {
    let w: FSWatcher | null = null;
    try {
      w = watch(join(this.sub, leaf, 'cgroup.events'), { persistent: false }, () => onChange());
      w.on('error', () => undefined);
    } catch {
      return () => undefined; // gone already: the caller's bounded re-check covers it
    }
    return () => w?.close();
  }

  async remove(leaf: string): Promise<boolean> {
    const dirs = [join(this.sub, leaf), ...Object.values(this.v1).map((d) => join(d, leaf))];
    let ok = true;
    for (const d of dirs) {
      try {
        await rmdir(d);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') ok = false;
      }
    }
    return ok;
  }

  leaves(): string[] {
    return leafNames([this.sub, ...Object.values(this.v1)]);
  }

  usage(leaf: string): Usage | null {
    const dir = join(this.sub, leaf);
    const cpu = read(join(dir, 'cpu.stat'));
    if (cpu === null) return null;
    const cpuMs = Math.round((parseFlatKeyed(cpu).usage_usec ?? 0) / 1000);
    let memoryBytes: number | null = null;
    let memoryPeakBytes: number | null = null;
    const num = (f: string): number | null => {
      const t = read(f);
      return t === null || !/^\d+/.test(t.trim()) ? null : Number(t.trim());
    };
    if (this.sources.memory === 'v2') {
      memoryBytes = num(join(dir, 'memory.current'));
      memoryPeakBytes = num(join(dir, 'memory.peak'));
    } else if (this.v1.memory) {
      memoryBytes = num(join(this.v1.memory, leaf, 'memory.usage_in_bytes'));
      memoryPeakBytes = num(join(this.v1.memory, leaf, 'memory.max_usage_in_bytes'));
    }
    const pids = (this.sources.pidsMax === 'v2' ? num(join(dir, 'pids.current')) : null) ?? this.members(leaf).length;
    return { cpuMs, memoryBytes, memoryPeakBytes, pids };
  }

  oomKills(leaf: string): number {
    if (this.sources.memory === 'v2') return parseFlatKeyed(read(join(this.sub, leaf, 'memory.events')) ?? '').oom_kill ?? 0;
    if (this.v1.memory) return parseFlatKeyed(read(join(this.v1.memory, leaf, 'memory.oom_control')) ?? '').oom_kill ?? 0;
    return 0;
  }

  close(): void {
    removeSubtree([...Object.values(this.v1), this.sub]);
  }
}
