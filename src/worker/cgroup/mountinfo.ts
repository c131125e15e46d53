/**
 * Pure parsers for the kernel's view of cgroups: /proc/self/mountinfo (where each
 * hierarchy is mounted) and /proc/<pid>/cgroup (where a process sits in each). No I/O,
 * so pure v2, hybrid and v1-only hosts are unit tests with plain text.
 */
export interface Mount {
  /** The path inside the filesystem that is mounted (a cgroup namespace or bind mount shows a subpath). */
  root: string;
  mountPoint: string;
  fsType: string;
  /** Per-mount options (rw, ro, ...). */
  mountOptions: string[];
  /** Filesystem options: for cgroup v1 the controllers of the hierarchy (memory, pids, name=systemd). */
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parts = line.split(' ');
    const sep = parts.indexOf('-', 6);
    if (sep < 0 || parts.length < sep + 3) continue;
    out.push({
      root: unescape(parts[3]!),
      mountPoint: unescape(parts[4]!),
      mountOptions: parts[5]!.split(','),
      fsType: parts[sep + 1]!,
      superOptions: (parts[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

export interface ProcCgroup {
  /** 0 for the v2 hierarchy. */
  hierarchy: number;
  /** v1 controllers (and name=...); empty for v2. */
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): ProcCgroup[] {
  const out: ProcCgroup[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    out.push({ hierarchy: Number(m[1]), controllers: m[2] === '' ? [] : m[2]!.split(','), path: m[3]! });
  }
  return out;
}

/** `populated 1\nfrozen 0\n` -> { populated: 1, frozen: 0 }: cgroup.events, memory.events, cpu.stat, memory.stat. */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** cgroup.procs / tasks: one pid a line. */
export function parsePids(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) if (/^\d+$/.test(line)) out.push(Number(line));
  return out;
}
