import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';

/** The README's CLI synopsis: the first ```text block under "## CLI", as command -> its lines. */
function readmeSynopsis(): Map<string, string> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('\n## CLI\n'));
  const block = /```text\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README: no ```text block under "## CLI"');
  const byCommand = new Map<string, string>();
  let current: string | null = null;
  for (const raw of block.split('\n')) {
    // Comments say what a command is for; only flags before them are synopsis.
    const line = raw.replace(/\s#\s.*$/, '');
    const head = /^reapq\s+([a-z-]+)/.exec(line);
    if (head) current = head[1]!;
    else if (!/^\s/.test(line) && line.trim() !== '') throw new Error(`README synopsis: line outside a command: ${raw}`);
    if (current) byCommand.set(current, `${byCommand.get(current) ?? ''} ${line}`);
  }
  return byCommand;
}

/** Long flags of a command and of its subcommands (context ls/add/...), and those subcommands' names. */
function flagsOf(cmd: Command): { flags: Set<string>; subcommands: Set<string> } {
  const flags = new Set<string>();
  const subcommands = new Set<string>();
  const walk = (c: Command) => {
    for (const o of c.options) if (o.long && o.long !== '--help') flags.add(o.long);
    for (const sub of c.commands) {
      if (sub.name() === 'help') continue;
      subcommands.add(sub.name());
      walk(sub);
    }
  };
  walk(cmd);
  return { flags, subcommands };
}

const commands = buildProgram().commands.filter((c) => c.name() !== 'help');
const synopsis = readmeSynopsis();

describe("README's CLI synopsis against reapq --help", () => {
  it('names every command --help lists, and no other', () => {
    expect([...synopsis.keys()].sort()).toEqual(commands.map((c) => c.name()).sort());
    // Named in issue 24 as missing once: keep them from going missing again.
    expect(synopsis.has('top')).toBe(true);
    for (const f of ['--memory', '--cpus', '--pids-max']) expect(synopsis.get('start')).toContain(f);
  });

  it.each(commands.map((c) => [c.name(), c] as const))('%s: the same flags and subcommands', (name, cmd) => {
    const text = synopsis.get(name) ?? '';
    const { flags, subcommands } = flagsOf(cmd);
    // `[start flags]` in the deploy line stands for start's spec flags.
    const written = new Set(text.match(/--[a-z][a-z-]*/g) ?? []);
    if (/\[start flags\]/.test(text))
      for (const f of flagsOf(commands.find((c) => c.name() === 'start')!).flags) if (f !== '--id') written.add(f);
    expect([...written].filter((f) => !flags.has(f)).sort(), `in the README, not in reapq ${name} --help`).toEqual([]);
    expect([...flags].filter((f) => !written.has(f)).sort(), `in reapq ${name} --help, not in the README`).toEqual([]);
    for (const sub of subcommands) expect(text, `subcommand ${name} ${sub}`).toMatch(new RegExp(`\\b${sub}\\b`));
  });
});
