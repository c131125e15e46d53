import { defineConfig } from 'vitest/config';

/**
 * Files run side by side in forks, REAPQ_TEST_FILES at a time (default 3). They keep apart by
 * vitest's worker slot (VITEST_POOL_ID): each slot has its own key prefixes, owner marker,
 * cgroup subtrees and port range (test/helpers/run-marker.ts, workers.ts), so one file's
 * leak check never counts or kills another's processes. One project on purpose: with
 * projects in sequence groups (sequence.groupOrder), vitest 4.1.12 hands one slot to two
 * files running at once (a slot freed by the first group is freed again after the second
 * took it), and their leak checks killed each other's processes and cgroups.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/leak-check.ts'],
    pool: 'forks',
    maxWorkers: Number(process.env.REAPQ_TEST_FILES ?? 3),
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
