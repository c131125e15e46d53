/** Defaults that more than one entry point (CLI, api, worker, config) needs, named once. */

/** Requests per minute per client address the api serves on /v1 (REAPQ_API_RATE_LIMIT). */
export const DEFAULT_API_RATE_LIMIT = 600;

/**
 * Start jobs one worker handles at once (`reapq worker --concurrency`). A start mostly
 * waits (Redis round trips, the forker), so the rate is about concurrency / latency: at 8
 * a burst of 200 starts through one client ran at 0.34-0.37x a bare spawn loop, at 32 at
 * 0.46-0.66x in the same runs (bench/backend.mjs).
 */
export const DEFAULT_START_CONCURRENCY = 32;
