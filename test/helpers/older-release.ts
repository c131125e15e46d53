import { spawnSync } from 'node:child_process';
import { readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { tempDir } from './cleanup.js';
import { ROOT } from './workers.js';

/**
 * An older release built from this checkout's history, for tests that run it beside this
 * one: the commit's files (git archive: nothing is registered in the repository), this
 * checkout's node_modules, its sources compiled file by file as tsc would lay them out.
 * esbuild, not tsc: that release's types were checked when it was made, and a full tsc
 * run cost each such test file 15-25 s of CPU on a busy machine. Returns its directory
 * (its CLI is bin/reapq there).
 */
export async function buildOlder(commit: string): Promise<string> {
  const dir = tempDir('older-release');
  const tar = spawnSync('sh', ['-c', `git -C "${ROOT}" archive --format=tar "${commit}" | tar -x -C "${dir}"`], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`git archive of ${commit} failed: ${tar.stderr}`);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const src = join(dir, 'src');
  const sources = readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(src, f));
  await build({
    entryPoints: sources,
    outdir: join(dir, 'dist'),
    outbase: src,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'error',
  });
  return dir;
}
