import type { Command } from 'commander';
import { InputError, oneLine, SettledError, WaitError } from '../shared/errors.js';
import { FINAL_STATES, SignalSchema, StateSchema, type ProcessRecord, type State } from '../shared/record.js';
import type { LogEntry, Page, ReapqClient } from '../producer/client.js';
import { eventLine, humanMs, recordText, recordsTable, usageFigures, useColor } from './format.js';
import { flag, IntFlag } from './options.js';
import { specFlags, specFrom } from './spec-flags.js';
import { followDeploy } from './deploys.js';
import { nothingIn, type WithClient } from './redis-target.js';
import { printMergedEvents, printMergedLogs } from './handles.js';
import { resolve } from '../producer/handles.js';

export type { WithClient } from './redis-target.js';

const out = (s: string): void => void process.stdout.write(`${s}\n`);
const json = (v: unknown) => out(JSON.stringify(v, null, 2));

/** Where a stop has nothing left to do: the tree is gone or never existed. */
const STOP_DONE: State[] = ['stopped', 'exited', 'failed', 'lost'];

// eslint-disable-next-line max-lines-per-function -- table-shaped: one commander entry per process command
export function registerProcessCommands(program: Command, withClient: WithClient): void {
  const start = program
    .command('start')
    .description('start a process tree; prints its id')
    .option('--id <id>', 'process id (idempotent: the same id twice is one process)');
  specFlags(start)
    .option('--wait', 'return when running (exit 0) or failed (exit 1)')
    .option('--timeout-ms <ms>', 'how long --wait waits', '60000')
    .option('--json', 'print the record as JSON')
    .argument('<command...>', 'program and arguments, after --')
    .action(async (command: string[], o) =>
      withClient(async (c) => {
        let rec = await c.start({ id: o.id, ...specFrom(o, command) });
        // Failed at once (pinned to a host that is unknown or dead): the id, and exit 1 with the reason, --wait or not.
        if (rec.state === 'failed') {
          if (o.json) json(rec);
          else out(rec.id);
          throw new SettledError(rec, ['running']);
        }
        if (rec.state === 'pending' && rec.error && !o.json) process.stderr.write(`reapq: ${rec.id} waits: ${rec.error}\n`);
        if (o.wait) rec = await waitOrReport(c, rec.id, ['running'], flag('--timeout-ms', IntFlag(1), o.timeoutMs), !!o.json);
        if (o.json) json(rec);
        else out(rec.id);
      }),
    );

  program
    .command('stop')
    .description('stop a process tree (SIGTERM, grace, SIGKILL, verified gone)')
    .argument('[id]', 'process id, a process name (unique among live ones), or a service name')
    .option('--all', 'every live process')
    .option('--host <id>', 'every live process of a host')
    .option('--service <name>', "a service's active revision (queued after its deploys)")
    .option('--signal <name>', 'first signal', 'SIGTERM')
    .option('--grace-ms <ms>', 'grace period before SIGKILL')
    .option('--wait', 'return when the whole tree is verified gone')
    .option('--timeout-ms <ms>', 'how long --wait waits', '60000')
    .option('--json', 'print the records as JSON')
    .action(async (id: string | undefined, o) =>
      withClient(async (c) => {
        // --host narrows --all (or stands for it): one of an id, --all/--host, --service.
        if ([id, o.all || o.host, o.service].filter(Boolean).length !== 1)
          throw new InputError('stop needs one of: an id, --all, --host ID, --service NAME');
        // Flags are checked before the handle is looked up: bad input is exit 2 whatever it names.
        const opts = {
          signal: flag('--signal', SignalSchema, o.signal),
          graceMs: o.graceMs === undefined ? undefined : flag('--grace-ms', IntFlag(0), o.graceMs),
        };
        const timeoutMs = flag('--timeout-ms', IntFlag(1), o.timeoutMs);
        const h = id ? await resolve(c, id) : null;
        if (o.service || h?.kind === 'service') {
          const d = await c.stopService(o.service ?? (h as { service: string }).service);
          if (o.wait) return followDeploy(c, d, !!o.json, timeoutMs);
          return o.json ? json(d) : out(d.id);
        }
        const ids =
          h?.kind === 'process'
            ? [h.id]
            : (await c.list({ host: o.host })).filter((r) => !FINAL_STATES.has(r.state) || r.desired === 'running').map((r) => r.id);
        let results: ProcessRecord[] = [];
        for (const pid of ids) results.push(await c.stop(pid, opts));
        if (o.wait) {
          let done = 0;
          const tty = process.stderr.isTTY && ids.length > 1;
          results = await Promise.all(
            results.map(async (r) => {
              const fin = await waitOrReport(c, r.id, STOP_DONE, timeoutMs, !!o.json, ids.length === 1);
              if (tty) process.stderr.write(`\rstopped ${++done}/${ids.length}`);
              return fin;
            }),
          );
          if (tty) process.stderr.write('\n');
        }
        if (o.json) json(id ? results[0] : results);
        else for (const r of results) out(`${r.id} ${r.state}`);
      }),
    );

  program
    .command('show')
    .description('show one record (by id or live name), or every replica of a service')
    .argument('<id>', 'process id, process name, or service name')
    .option('--json', 'as JSON')
    .action(async (handle: string, o) =>
      withClient(async (c) => {
        const h = await resolve(c, handle);
        if (h.kind === 'service') {
          const recs = await Promise.all(h.processes.map((p) => c.get(p).catch(() => null)));
          const live = recs.filter((r): r is ProcessRecord => r !== null);
          if (o.json) return json({ service: await c.service(h.service), processes: live });
          if (live.length === 0) return out(`service ${h.service}: no replicas`);
          return out(live.map((r) => recordText(r, Date.now(), useColor())).join('\n\n'));
        }
        const rec = await c.get(h.id);
        const usage = rec.containment === 'cgroup' ? ((await c.usage([rec])).get(rec.id) ?? null) : undefined;
        if (o.json) json(usage === undefined ? rec : { ...rec, usage: usage && usageFigures(usage) });
        else out(recordText(rec, Date.now(), useColor(), usage ?? undefined));
      }),
    );

  program
    .command('ls')
    .description('list records, oldest first (--newest: newest first), one page at a time')
    .option('--state <state>', 'only this state')
    .option('--host <id>', 'only this host')
    .option('--limit <n>', 'records per page (1-1000)', '100')
    .option('--cursor <cursor>', 'the page after this cursor (printed under a full page)')
    .option('--all', 'every record, all pages')
    .option('--newest', 'newest first')
    .option('--json', 'as JSON')
    .action(async (o) =>
      withClient(async (c, where) => {
        const filter = { state: o.state === undefined ? undefined : flag('--state', StateSchema, o.state), host: o.host };
        const recs: ProcessRecord[] = [];
        const corrupt: Page['corrupt'] = [];
        let next: string | null = o.all ? null : (o.cursor ?? null);
        const limit = o.all ? 1000 : flag('--limit', IntFlag(1), o.limit);
        do {
          const page = await c.listPage({ ...filter, cursor: next ?? undefined, limit, order: o.newest ? 'newest' : 'oldest' });
          recs.push(...page.records);
          corrupt.push(...page.corrupt);
          next = page.cursor;
        } while (o.all && next);
        // A record that cannot be read is left out, never allowed to fail the listing; the
        // warning goes to stderr, so a pipe reading the table or the JSON gets only records.
        for (const x of corrupt) process.stderr.write(`reapq: warning: record ${x.id} skipped: ${oneLine(x.problem)}\n`);
        if (o.json) json(recs);
        else if (recs.length === 0 && !o.cursor) out(nothingIn('records', where));
        else {
          // CPU and MEM columns once any record on the page runs in cgroup mode.
          const usage = recs.some((r) => r.containment === 'cgroup') ? await c.usage(recs) : undefined;
          out(recordsTable(recs, Date.now(), useColor(), usage));
        }
        if (next)
          process.stderr.write(
            `more: reapq ls${o.newest ? ' --newest' : ''} --cursor ${next}${o.state ? ` --state ${o.state}` : ''}${o.host ? ` --host ${o.host}` : ''} (or --all)\n`,
          );
      }),
    );

  program
    .command('events')
    .description("a process's event history (a service's: its replicas' merged, each line prefixed with its replica)")
    .argument('<id>', 'process id, process name, or service name')
    .option('--follow', 'keep printing new events')
    .option('--json', 'one JSON object per line')
    .action(async (handle: string, o) =>
      withClient(async (c) => {
        const h = await resolve(c, handle);
        if (h.kind === 'service') return printMergedEvents(c, h.processes, !!o.json, !!o.follow);
        const id = h.id;
        const print = (e: Awaited<ReturnType<ReapqClient['events']>>[number]) => out(o.json ? JSON.stringify(e) : eventLine(e));
        if (!o.follow) {
          for (const e of await c.events(id)) print(e);
          return;
        }
        await c.get(id);
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        for await (const e of c.follow(id, 0, ac.signal)) print(e);
      }),
    );

  program
    .command('logs')
    .description("a process's stdout and stderr, from any host (the last REAPQ_LOG_LINES lines are kept in Redis)")
    .argument('<id>', "process id, process name, or service name (its replicas' lines merged, each prefixed with its replica)")
    .option('--follow', 'keep printing')
    .option('--lines <n>', 'last N lines', '100')
    .option('--timestamps', 'each line after the time its worker shipped it (ISO 8601, UTC)')
    .action(async (handle: string, o) =>
      withClient(async (c) => {
        const lines = flag('--lines', IntFlag(0), o.lines);
        const h = await resolve(c, handle);
        if (h.kind === 'service') return printMergedLogs(c, h.processes, lines, !!o.follow, !!o.timestamps);
        const id = h.id;
        const line = (e: LogEntry) => out(o.timestamps ? `${new Date(e.at).toISOString()} ${e.line}` : e.line);
        for (const e of await c.logEntries(id, lines)) line(e);
        if (!o.follow) return;
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        for await (const e of c.followLogEntries(id, ac.signal)) line(e);
      }),
    );
}

/** Waits, and on a wait that ends elsewhere prints the record (with --json) before exit 1. */
async function waitOrReport(
  c: ReapqClient,
  id: string,
  states: State[],
  timeoutMs: number,
  asJson: boolean,
  spin = true,
): Promise<ProcessRecord> {
  const stop = spin ? spinner(`waiting for ${id} to be ${states.join('|')}`) : () => undefined;
  try {
    return await c.waitFor(id, states, { timeoutMs });
  } catch (err) {
    if (err instanceof WaitError && asJson && err.record) json(err.record);
    throw err;
  } finally {
    stop();
  }
}

/** A spinner with the elapsed time on stderr, only on a terminal (pipes and CI get nothing). */
function spinner(what: string): () => void {
  if (!process.stderr.isTTY) return () => undefined;
  const frames = '|/-\\';
  const t0 = Date.now();
  let i = 0;
  const timer = setInterval(() => process.stderr.write(`\r${frames[i++ % frames.length]} ${what} ${humanMs(Date.now() - t0)}  `), 100);
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[2K');
  };
}
