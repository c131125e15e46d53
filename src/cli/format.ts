import type { UsageEntry } from '../shared/usage.js';
import type { StoredEvent } from '../shared/events.js';
import { bytes, cpuTime, humanMs } from '../shared/duration.js';
import type { ProcessRecord } from '../shared/record.js';

// The dashboard prints usage the same way, so the two formatters live in shared/duration.ts.
export { bytes, cpuTime };

const COLORS: Record<string, string> = {
  running: '32',
  starting: '36',
  pending: '36',
  stopping: '33',
  stopped: '90',
  exited: '90',
  failed: '31',
  lost: '35',
};

/** Colours only on a terminal that wants them; a pipe gets plain text. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return !!stream.isTTY && !process.env.NO_COLOR;
}

export function paint(state: string, on: boolean): string {
  return on && COLORS[state] ? `\x1b[${COLORS[state]}m${state}\x1b[0m` : state;
}

export { humanMs };

export function table(rows: string[][], color: boolean): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(c))));
  return rows
    .map((r, ri) => {
      const line = r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visible(c)))).join('  ');
      return ri === 0 && color ? `\x1b[1m${line}\x1b[0m` : line;
    })
    .join('\n');
}

export function recordsTable(recs: ProcessRecord[], now: number, color: boolean, usage?: ReadonlyMap<string, UsageEntry>): string {
  const withUsage = !!usage;
  const rows = [['ID', 'NAME', 'STATE', 'HOST', 'PID', 'PORT', 'RESTARTS', 'AGE', ...(withUsage ? ['CPU', 'MEM'] : []), 'COMMAND']];
  for (const r of recs) {
    const u = usage?.get(r.id);
    rows.push([
      r.id,
      r.name ?? '-',
      paint(r.state, color),
      r.host ?? '-',
      r.pid?.toString() ?? '-',
      r.port?.toString() ?? '-',
      String(r.restarts),
      humanMs(now - Date.parse(r.createdAt)),
      ...(withUsage ? [u ? cpuTime(u.cpuMs) : '-', u?.memoryBytes != null ? bytes(u.memoryBytes) : '-'] : []),
      r.command.join(' ').slice(0, 60),
    ]);
  }
  return table(rows, color);
}

/** The usage figures `show --json` carries. */
export function usageFigures(u: UsageEntry): Record<string, unknown> {
  return {
    cpuMs: u.cpuMs,
    memoryBytes: u.memoryBytes,
    memoryPeakBytes: u.memoryPeakBytes,
    pids: u.pids,
    readAt: new Date(u.at).toISOString(),
  };
}

function limitsText(r: ProcessRecord): string {
  const l = r.limits;
  if (!l || (l.memory === null && l.cpus === null && l.pidsMax === null)) return '-';
  const parts: string[] = [];
  if (l.memory !== null) parts.push(`memory ${bytes(l.memory)}`);
  if (l.cpus !== null) parts.push(`cpus ${l.cpus}`);
  if (l.pidsMax !== null) parts.push(`pids ${l.pidsMax}`);
  return parts.join(', ');
}

export function recordText(r: ProcessRecord, now: number, color: boolean, usage?: UsageEntry): string {
  const lines: Array<[string, string]> = [
    ['id', r.id],
    ['name', r.name ?? '-'],
    ['state', paint(r.state, color)],
    ['desired', r.desired],
    ['host', r.host ?? '-'],
    ['pid', r.pid?.toString() ?? '-'],
    ['pgid', r.pgid?.toString() ?? '-'],
    ['command', JSON.stringify(r.command)],
    ['cwd', r.cwd ?? '-'],
    ['port', r.port?.toString() ?? '-'],
    ['restart', `${r.restartPolicy} (${r.restarts} so far)`],
    ['exit', r.exitCode !== null ? `code ${r.exitCode}` : r.signal ? `signal ${r.signal}` : '-'],
    ['error', r.error ?? '-'],
    ['containment', r.containment ? `${r.containment}${r.cgroup ? ` ${r.cgroup}` : ''}` : '-'],
    ['limits', limitsText(r)],
    ['created', `${r.createdAt} (${humanMs(now - Date.parse(r.createdAt))} ago)`],
    ['updated', r.updatedAt],
    ['version', String(r.version)],
  ];
  if (r.killPending.length) lines.push(['kill pending', r.killPending.join(' ')]);
  if (r.oom) lines.push(['oom kills', `${r.oom.kills}${r.oom.limit !== null ? ` at ${bytes(r.oom.limit)}` : ''}`]);
  if (r.logs)
    lines.push([
      'logs',
      [
        r.logs.maxBytes !== null ? `rotated at ${bytes(r.logs.maxBytes)}` : null,
        r.logs.keep !== null ? `${r.logs.keep} kept` : null,
        r.logs.gzip ? 'gzipped' : null,
      ]
        .filter(Boolean)
        .join(', ') + ' (the rest as its host says)',
    ]);
  if (r.logLoss)
    lines.push([
      'warning',
      `log write failed (${r.logLoss.error}) ${r.logLoss.times === 1 ? 'once' : `${r.logLoss.times} times`}, last at ${r.logLoss.at}: output lost, ${bytes(r.logLoss.lostBytes)} not shipped dropped (reapq logs shows where)`,
    ]);
  if (usage)
    lines.push([
      'usage',
      `cpu ${cpuTime(usage.cpuMs)}, memory ${usage.memoryBytes !== null ? bytes(usage.memoryBytes) : '-'} (peak ${usage.memoryPeakBytes !== null ? bytes(usage.memoryPeakBytes) : '-'}), ${usage.pids} processes, read ${humanMs(now - usage.at)} ago`,
    ]);
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

export function eventLine(e: StoredEvent): string {
  const { type, at, v: _v, ...rest } = e.event as Record<string, unknown> & { type: string; at: number; v: number };
  const detail = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${new Date(at).toISOString()}  #${e.version}  ${type}${detail ? `  ${detail}` : ''}`;
}
