import { availableParallelism } from 'node:os';
/** Defaults that more than one entry point (CLI, api, worker, config) needs, named once. */

/** Requests per minute per client address the api serves on /v1 (REAPQ_API_RATE_LIMIT). */
export const DEFAULT_API_RATE_LIMIT = 600;

/**
 * Start jobs one worker handles at once (`reapq worker --concurrency`). A start mostly
 * waits (Redis round trips, the forker). On a quiet two-core machine a burst of 200 starts
 * through one warm client ran at 0.77x a bare spawn loop with 32, 0.82x with 64 and 0.86x
 * with 128 (bench/backend.mjs, medians of 3; each run's range spans those differences):
 * CPU, not this bound, is what limits it there.
 */
export const DEFAULT_START_CONCURRENCY = 32;

/**
 * Forkers a worker runs (`reapq worker --forkers`). Every spawn blocks its forker for the
 * fork and the child's exec (about 1 ms of CPU here), so one forker caps a host's start
 * rate; a second lets spawns run side by side. On two cores the CPU binds first (one and
 * two measured the same within noise, bench/backend.mjs), so two only from four cores.
 */
export function defaultForkers(cores: number): number {
  return cores >= 4 ? 2 : 1;
}
export const DEFAULT_FORKERS = defaultForkers(availableParallelism());
