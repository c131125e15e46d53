import type { Command } from 'commander';
import type { ProcessRecord } from '../shared/record.js';
import type { UsageEntry } from '../shared/usage.js';
import { bytes, cpuTime } from './format.js';
import { flag, IntFlag } from './options.js';
import type { WithClient } from './processes.js';

interface Row {
  rec: ProcessRecord;
  u: UsageEntry | undefined;
  /** CPU use between the last two readings, in % of one CPU; null until two were seen. */
  cpuPct: number | null;
}

/** The table of one refresh, heaviest memory first (plain text: no colour, no cursor moves). */
export function topTable(rows: Row[], now: number): string {
  const lines = [['ID', 'NAME', 'HOST', 'PID', 'CPU%', 'CPU', 'MEM', 'PEAK', 'LIMIT', 'PIDS', 'READ']];
  const sorted = [...rows].sort((a, b) => (b.u?.memoryBytes ?? -1) - (a.u?.memoryBytes ?? -1) || a.rec.id.localeCompare(b.rec.id));
  for (const { rec, u, cpuPct } of sorted)
    lines.push([
      rec.id,
      rec.name ?? '-',
      rec.host ?? '-',
      rec.pid?.toString() ?? '-',
      cpuPct === null ? '-' : cpuPct.toFixed(1),
      u ? cpuTime(u.cpuMs) : '-',
      u?.memoryBytes != null ? bytes(u.memoryBytes) : '-',
      u?.memoryPeakBytes != null ? bytes(u.memoryPeakBytes) : '-',
      rec.limits?.memory != null ? bytes(rec.limits.memory) : '-',
      u ? String(u.pids) : '-',
      u ? `${Math.max(0, Math.round((now - u.at) / 1000))}s ago` : rec.containment === 'process' ? 'process mode' : '-',
    ]);
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines
    .map((l) =>
      l
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * `reapq top`: the live processes of every host with their cgroup usage, like `pm2 monit`.
 * On a terminal it redraws every --interval-ms until Ctrl-C; piped, it prints one plain
 * table (or --iterations of them) and exits.
 */
export function registerTopCommand(program: Command, withClient: WithClient): void {
  program
    .command('top')
    .description('live processes with CPU, memory and process counts (cgroup mode), refreshed')
    .option('--host <id>', 'only this host')
    .option('--interval-ms <ms>', 'refresh interval', '1000')
    .option('--iterations <n>', 'refreshes before exiting (default: until Ctrl-C on a terminal, 1 when piped)')
    .action(async (o) =>
      withClient(async (c) => {
        const interval = flag('--interval-ms', IntFlag(100), o.intervalMs);
        const tty = process.stdout.isTTY === true;
        const iterations = o.iterations === undefined ? (tty ? Infinity : 1) : flag('--iterations', IntFlag(1), o.iterations);
        const last = new Map<string, UsageEntry>();
        const pct = new Map<string, number>();
        let stop = false;
        process.once('SIGINT', () => (stop = true));
        for (let i = 0; i < iterations && !stop; i++) {
          const hosts = (await c.hosts()).filter((h) => h.alive && (!o.host || h.hostId === o.host));
          const recs: ProcessRecord[] = [];
          for (const h of hosts) recs.push(...(await c.admin.live(h.hostId)).filter((r) => r.state !== 'pending'));
          const usage = await c.usage(recs);
          for (const [id, u] of usage) {
            const prev = last.get(id);
            if (prev && prev.run === u.run && u.at > prev.at) pct.set(id, ((u.cpuMs - prev.cpuMs) / (u.at - prev.at)) * 100);
            last.set(id, u);
          }
          const rows = recs.map((rec) => ({ rec, u: usage.get(rec.id), cpuPct: pct.get(rec.id) ?? null }));
          const text = topTable(rows, Date.now());
          const head = `reapq top: ${recs.length} live on ${hosts.length} host${hosts.length === 1 ? '' : 's'} (usage from each host's reconcile pass)`;
          process.stdout.write(tty ? `\x1b[H\x1b[2J${head}\n${text}\n` : `${head}\n${text}\n`);
          if (i + 1 < iterations && !stop) await new Promise((r) => setTimeout(r, interval));
        }
      }),
    );
}
