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
import { delegateV2 } from './delegate.js';
import { leafNames, removeSubtree, removeSubtreeDirs } from './subtree.js';

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
  /**
   * Leaves in the subtree a release before fleet ids made (`<prefix>@<host>`, no fleet):
   * this fleet's only where its Redis holds their record, so they are never cleared blind.
   */
  legacyLeaves(): string[];
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
  opts: { mountinfo?: string; selfCgroup?: string; selfPid?: number; legacyName?: string } = {},
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
  const legacy = opts.legacyName ? legacySubtree(layout, opts.legacyName, Object.keys(v1) as V1Controller[]) : null;
  return { manager: new FsCgroupManager(layout, sub, subtreePath, v1, sources, info, legacy), info };
}

/**
 * Where a release before fleet ids kept this host's leaves (`<prefix>@<host>`). Runs it
 * started are found there from their records' cgroup paths (an upgrade adopts and stops
 * them by their leaf); a leaf there is this fleet's only where its Redis holds the record.
 */
interface Legacy {
  sub: string;
  path: string;
  v1: Partial<Record<V1Controller, string>>;
}

function legacySubtree(layout: Layout, name: string, v1: readonly V1Controller[]): Legacy {
  const dirs = v1.filter((c) => layout.v1[c]).map((c) => [c, join(layout.v1[c]!.home, name)] as const);
  return { sub: join(layout.v2!.home, name), path: posix.join(layout.v2!.path, name), v1: Object.fromEntries(dirs) };
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
    private readonly legacy: Legacy | null = null,
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

  /** Leaves of the older release's subtree this worker knows of (from records, or listed). */
  private readonly old = new Set<string>();

  /** A leaf's directory in v2: this fleet's subtree, or the older release's for a leaf found there. */
  private dir(leaf: string): string {
    return join(this.old.has(leaf) ? this.legacy!.sub : this.sub, leaf);
  }

  /** A leaf's directory in a v1 hierarchy, likewise. */
  private v1Dir(c: V1Controller, leaf: string): string | null {
    const base = this.old.has(leaf) ? this.legacy!.v1[c] : this.v1[c];
    return base ? join(base, leaf) : null;
  }

  leafName(id: string, run: string): string {
    return `${id}@${run}`;
  }

  pathOf(leaf: string): string {
    return posix.join(this.old.has(leaf) ? this.legacy!.path : this.subtreePath, leaf);
  }

  leafOf(path: string | null): string | null {
    if (!path) return null;
    const leaf = basename(path);
    if (!leaf.includes('@')) return null;
    if (posix.dirname(path) === this.subtreePath) return leaf;
    // A record's path in the older release's subtree: the record is what makes it this fleet's.
    if (this.legacy && posix.dirname(path) === this.legacy.path) {
      this.old.add(leaf);
      return leaf;
    }
    return null;
  }

  legacyLeaves(): string[] {
    if (!this.legacy) return [];
    const found = leafNames([this.legacy.sub, ...Object.values(this.legacy.v1)]);
    for (const l of found) this.old.add(l);
    return found;
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
    return parsePids(read(join(this.dir(leaf), 'cgroup.procs')) ?? '');
  }

  cgroupOf(pid: number): string | null {
    return parseProcCgroup(read(`/proc/${pid}/cgroup`) ?? '').find((c) => c.hierarchy === 0)?.path ?? null;
  }

  populated(leaf: string): boolean | null {
    const t = read(join(this.dir(leaf), 'cgroup.events'));
    if (t === null) return null;
    return parseFlatKeyed(t).populated === 1;
  }

  kill(leaf: string): void {
    const dir = this.dir(leaf);
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
      w = watch(join(this.dir(leaf), 'cgroup.events'), { persistent: false }, () => onChange());
      w.on('error', () => undefined);
    } catch {
      return () => undefined; // gone already: the caller's bounded re-check covers it
    }
    return () => w?.close();
  }

  async remove(leaf: string): Promise<boolean> {
    const v1 = (Object.keys(this.v1) as V1Controller[]).map((c) => this.v1Dir(c, leaf)).filter((d) => d !== null);
    let ok = true;
    for (const d of [this.dir(leaf), ...v1]) {
      try {
        await rmdir(d);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') ok = false;
      }
    }
    // The older release's subtree goes with its last leaf (rmdir fails while anything is in it).
    if (ok && this.old.delete(leaf) && this.old.size === 0) removeSubtreeDirs([this.legacy!.sub, ...Object.values(this.legacy!.v1)]);
    return ok;
  }

  leaves(): string[] {
    return leafNames([this.sub, ...Object.values(this.v1)]);
  }

  usage(leaf: string): Usage | null {
    const dir = this.dir(leaf);
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
      memoryBytes = num(join(this.v1Dir('memory', leaf)!, 'memory.usage_in_bytes'));
      memoryPeakBytes = num(join(this.v1Dir('memory', leaf)!, 'memory.max_usage_in_bytes'));
    }
    const pids = (this.sources.pidsMax === 'v2' ? num(join(dir, 'pids.current')) : null) ?? this.members(leaf).length;
    return { cpuMs, memoryBytes, memoryPeakBytes, pids };
  }

  oomKills(leaf: string): number {
    if (this.sources.memory === 'v2') return parseFlatKeyed(read(join(this.dir(leaf), 'memory.events')) ?? '').oom_kill ?? 0;
    if (this.v1.memory) return parseFlatKeyed(read(join(this.v1Dir('memory', leaf)!, 'memory.oom_control')) ?? '').oom_kill ?? 0;
    return 0;
  }

  close(): void {
    removeSubtree([...Object.values(this.v1), this.sub]);
  }
}
