/** Defaults that more than one entry point (CLI, api, worker, config) needs, named once. */

/** Requests per minute per client address the api serves on /v1 (REAPQ_API_RATE_LIMIT). */
export const DEFAULT_API_RATE_LIMIT = 600;

/** Start jobs one worker handles at once (`reapq worker --concurrency`). */
export const DEFAULT_START_CONCURRENCY = 8;
