/** Defaults that more than one entry point (CLI, api, worker, config) needs, named once. */

/** Requests per minute per client address the api serves on /v1 (REAPQ_API_RATE_LIMIT). */
export const DEFAULT_API_RATE_LIMIT = 600;

/**
 * Start jobs one worker handles at once (`reapq worker --concurrency`). A start mostly
 * waits (Redis round trips, the forker). On a quiet two-core machine a burst of 200 starts
 * through one client ran at 0.41x a bare spawn loop with 32 and 0.38x with 8, in the same
 * run (bench/backend.mjs): the worker's CPU, not this bound, is what limits it there.
 */
export const DEFAULT_START_CONCURRENCY = 32;

/**
 * Forkers a worker runs (`reapq worker --forkers`). Every spawn blocks its forker for the
 * fork and the child's exec, so one forker caps a host's start rate at about one bare
 * spawn loop; a second one lets spawns overlap with the rest of the start.
 */
export const DEFAULT_FORKERS = 2;
