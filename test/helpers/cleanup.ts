import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What a test started that must not outlive it, whether the test passed or threw half-way:
 * workers, apis, dev instances. The leak check (test/helpers/leak-check.ts) runs these
 * after every test, before it looks for leftover processes, so a failed test cannot leave
 * a worker serving the next test's starts.
 */
type Cleanup = () => Promise<void> | void;

let inTest = false;
const perTest: Cleanup[] = [];
const perFile: Cleanup[] = [];

export function enterTest(): void {
  inTest = true;
}

/** Runs at the end of the current test if called inside one, else at the end of the file. */
export function onCleanup(fn: Cleanup): void {
  (inTest ? perTest : perFile).push(fn);
}

async function drain(list: Cleanup[]): Promise<void> {
  const fns = list.splice(0).reverse();
  // async: a cleanup that throws synchronously is settled like the rest instead of skipping them.
  const results = await Promise.allSettled(fns.map(async (fn) => fn()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export async function leaveTest(): Promise<void> {
  inTest = false;
  await drain(perTest);
}

export async function leaveFile(): Promise<void> {
  await drain(perFile);
}

const dirs: string[] = [];

/**
 * A fresh `reapq-<name>-*` directory in the temp dir, removed when the test file ends:
 * after its workers are gone (a worker killed mid-write may still be writing its logs there).
 */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `reapq-${name}-`));
  dirs.push(dir);
  return dir;
}

/** Removes the file's temp dirs (the leak check's last step); returns the ones that could not go. */
export function removeTempDirs(): string[] {
  const stuck: string[] = [];
  for (const d of dirs.splice(0)) {
    try {
      rmSync(d, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      stuck.push(d);
    }
  }
  return stuck;
}
