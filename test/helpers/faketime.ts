import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cleanup.js';

/**
 * A process's wall clock set apart from this machine's by libfaketime (Debian's `faketime`),
 * preloaded into it. Monotonic time is left alone: an NTP step or a skewed host moves only
 * the wall clock.
 */

/** libfaketime of this machine's architecture (Debian puts it under /usr/lib/<triplet>/faketime). */
export function libfaketime(): string {
  for (const triplet of readdirSync('/usr/lib')) {
    const lib = join('/usr/lib', triplet, 'faketime', 'libfaketime.so.1');
    if (existsSync(lib)) return lib;
  }
  throw new Error('libfaketime not found: apt-get install faketime');
}

/** The environment of a process whose wall clock is `offset` ('+1h', '-1h') off this machine's for good. */
export function skewedClockEnv(offset: string): Record<string, string> {
  return { LD_PRELOAD: libfaketime(), FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/**
 * A wall clock the test steps while the process runs, as NTP steps a clock: libfaketime
 * reads the offset from a file on every call (no cache), so a step is in effect at once.
 */
export function steppedClock(): { env: Record<string, string>; step(offset: string): void } {
  const file = join(tempDir('faketime'), 'offset');
  const step = (offset: string) => writeFileSync(file, `${offset}\n`);
  step('+0');
  return {
    env: { LD_PRELOAD: libfaketime(), FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    step,
  };
}
