import { spawn, spawnSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cleanup.js';
import { ROOT } from './workers.js';

/**
 * An older release built from this checkout's history, for tests that run it beside this
 * one: the commit's files (git archive: nothing is registered in the repository), this
 * checkout's node_modules, tsc. Returns its directory (its CLI is bin/reapq there).
 */
export async function buildOlder(commit: string): Promise<string> {
  const dir = tempDir('older-release');
  const tar = spawnSync('sh', ['-c', `git -C "${ROOT}" archive --format=tar "${commit}" | tar -x -C "${dir}"`], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`git archive of ${commit} failed: ${tar.stderr}`);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const tsc = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: 'pipe' });
  let out = '';
  tsc.stdout.on('data', (d) => (out += d));
  tsc.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((res) => tsc.once('exit', res));
  if (code !== 0) throw new Error(`tsc of the older release ${commit} failed:\n${out}`);
  return dir;
}
