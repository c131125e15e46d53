/** Defaults that more than one entry point (CLI, api, worker, config) needs, named once. */

/** Requests per minute per client address the api serves on /v1 (REAPQ_API_RATE_LIMIT). */
export const DEFAULT_API_RATE_LIMIT = 600;

/**
 * Start jobs one worker handles at once (`reapq worker --concurrency`). A start mostly
 * waits (Redis round trips, the forkers). On a quiet two-core machine a burst of 200 starts
 * through one warm client ran at 0.76x a bare spawn loop with 32 and 0.91x with 64 or 128,
 * measured later in the same run (bench/backend.mjs), which favours them: interleaved and
 * cold, 32, 64 and 128 measured the same. CPU, not this bound, is what limits it there.
 */
export const DEFAULT_START_CONCURRENCY = 32;

/**
 * Forkers a worker runs (`reapq worker --forkers`). Every spawn blocks its forker for the
 * fork and the child's exec (about 1 ms of CPU here), so one forker caps a host's start
 * rate; a second lets spawns run side by side. Even on two cores, where the CPU binds
 * first, two beat one in each of four paired runs of bench/backend.mjs, by 3-20% (within
 * the run-to-run range); each costs about 45 MB.
 */
export const DEFAULT_FORKERS = 2;
