import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that run longest on their own (the thousand-process burst, the packed package,
 * Sentinel failovers, a host dying under a service), measured alone on two cores: each
 * starts first, so none is left running alone at the end. A fresh clone has no timing
 * cache and vitest would order them by size, which put the short burst file last and
 * made the run a minute longer under load.
 */
const LONGEST = [
  'test/faults/controller-burst.test.ts',
  'test/package/pack-install.test.ts',
  'test/faults/failover-sentinel.test.ts',
  'test/faults/service-host-dies.test.ts',
  'test/e2e/deploys.test.ts',
  'test/faults/clock-skew.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST.findIndex((p) => f.moduleId.endsWith(p));
      return i < 0 ? LONGEST.length : i;
    };
    // Stable: the rest keep vitest's order (longest last time, else largest).
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

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
    sequence: { sequencer: LongestFirst },
  },
});
