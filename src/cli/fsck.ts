import type { Command } from 'commander';
import type { FsckResult } from '../producer/fsck.js';
import type { WithClient } from './processes.js';

const out = (s: string) => process.stdout.write(`${s}\n`);

/** What fsck found that is still wrong: every problem without --repair, else those it could not fix. */
export function remaining(r: FsckResult, repaired: boolean): FsckResult['problems'] {
  if (!repaired) return r.problems;
  const done = new Set(r.repaired);
  return r.problems.filter((p) => !p.repairable || (p.id === 'counts' ? !r.recounted : !done.has(p.id)));
}

export function registerFsckCommand(program: Command, withClient: WithClient): void {
  program
    .command('fsck')
    .description('check every record against its events, and the indexes, counts, leases and queued starts against the records')
    .option('--repair', 'rewrite what disagrees from the events (fenced by version; kills and starts nothing)')
    .option('--json', 'as JSON')
    .action(async (o) =>
      withClient(async (c) => {
        const repair = o.repair === true;
        const r = await c.admin.fsck({ repair });
        const left = remaining(r, repair);
        if (o.json) out(JSON.stringify(r, null, 2));
        else {
          for (const p of r.problems)
            out(`${p.id} ${p.kind}: ${p.what} (events: ${p.events})${repair && !left.includes(p) ? ' [repaired]' : ''}`);
          const summary = `${r.records} records, ${r.problems.length} problems in ${r.durationMs} ms`;
          out(repair ? `${summary}; ${r.repaired.length} records repaired, ${r.skipped.length} moved on meanwhile` : summary);
        }
        // Exit 1 (one line on stderr) while something disagrees.
        if (left.length > 0) throw new Error(`fsck: ${left.length} problem${left.length === 1 ? '' : 's'}${repair ? ' left' : ''}`);
      }),
    );
}
