import type { StoredEvent } from '../shared/events.js';
import { humanMs } from '../shared/duration.js';
import type { ProcessRecord } from '../shared/record.js';

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

export function recordsTable(recs: ProcessRecord[], now: number, color: boolean): string {
  const rows = [['ID', 'NAME', 'STATE', 'HOST', 'PID', 'PORT', 'RESTARTS', 'AGE', 'COMMAND']];
  for (const r of recs) {
    rows.push([
      r.id,
      r.name ?? '-',
      paint(r.state, color),
      r.host ?? '-',
      r.pid?.toString() ?? '-',
      r.port?.toString() ?? '-',
      String(r.restarts),
      humanMs(now - Date.parse(r.createdAt)),
      r.command.join(' ').slice(0, 60),
    ]);
  }
  return table(rows, color);
}

export function recordText(r: ProcessRecord, now: number, color: boolean): string {
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
    ['created', `${r.createdAt} (${humanMs(now - Date.parse(r.createdAt))} ago)`],
    ['updated', r.updatedAt],
    ['version', String(r.version)],
  ];
  if (r.killPending.length) lines.push(['kill pending', r.killPending.join(' ')]);
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
