import type { StoredEvent } from '../shared/events.js';
import type { ReapqClient } from '../producer/client.js';
import { mergedLogs } from '../producer/handles.js';
import { eventLine } from './format.js';

const out = (s: string): void => void process.stdout.write(`${s}\n`);

/** Several processes' events in the order they happened, each line prefixed with its process. */
export async function printMergedEvents(c: ReapqClient, ids: readonly string[], asJson: boolean, follow: boolean): Promise<void> {
  const line = (id: string, e: StoredEvent) => (asJson ? JSON.stringify({ process: id, ...e }) : `[${id}] ${eventLine(e)}`);
  const all = (await Promise.all(ids.map(async (id) => (await c.events(id).catch(() => [])).map((e) => ({ id, e }))))).flat();
  all.sort((a, b) => a.e.event.at - b.e.event.at || a.id.localeCompare(b.id) || a.e.version - b.e.version);
  for (const { id, e } of all) out(line(id, e));
  if (!follow) return;
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  const seen = new Map(ids.map((id) => [id, Math.max(0, ...all.filter((x) => x.id === id).map((x) => x.e.version))]));
  await Promise.all(
    ids.map(async (id) => {
      for await (const e of c.follow(id, seen.get(id) ?? 0, ac.signal)) out(line(id, e));
    }),
  );
}

/** Several processes' output merged in the order it was shipped, each line prefixed with its process. */
export async function printMergedLogs(
  c: ReapqClient,
  ids: readonly string[],
  lines: number,
  follow: boolean,
  timestamps = false,
): Promise<void> {
  for (const l of await mergedLogs(c, ids, lines, timestamps)) out(l);
  if (!follow) return;
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  await Promise.all(
    ids.map(async (id) => {
      for await (const e of c.followLogEntries(id, ac.signal))
        out(`${timestamps ? `${new Date(e.at).toISOString()} ` : ''}[${id}] ${e.line}`);
    }),
  );
}
