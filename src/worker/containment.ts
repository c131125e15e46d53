import { InputError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { probeCgroups, type CgroupManager, type ContainmentInfo, type ContainmentWish } from './cgroup/manager.js';
import type { Policy } from './policy.js';

/**
 * How this worker contains its runs: a cgroup leaf per run where the host allows it (or
 * where asked, refusing to start otherwise), else process group, session and cookie.
 * Called before the forker starts: the forker must be born where the worker ends up
 * (cgroup delegation may move the worker).
 */
export function chooseContainment(
  wish: ContainmentWish,
  policy: Policy,
  subtree: { name: string; legacyName: string },
  log: Logger,
): { cgroups: CgroupManager | null; containment: ContainmentInfo } {
  const probed = wish === 'process' ? null : probeCgroups(subtree.name, { legacyName: subtree.legacyName });
  if (wish === 'cgroup' && !probed?.manager) throw new InputError(`--containment cgroup is not possible here: ${probed?.info.reason}`);
  const cgroups = probed?.manager ?? null;
  const { defaults, max } = policy.limits;
  if (!cgroups && (Object.values(defaults).some((v) => v !== null) || Object.values(max).some((v) => v !== null)))
    throw new InputError(
      `REAPQ_DEFAULT_* and REAPQ_MAX_* limits need cgroup mode, which is not available: ${probed?.info.reason ?? 'asked for process mode'}`,
    );
  const containment: ContainmentInfo = probed?.info ?? { mode: 'process', reason: 'asked for process mode', limits: [], kill: null };
  if (cgroups) log.info({ containment }, 'cgroup mode: every run in its own cgroup');
  else log.info({ containment }, 'process mode: runs contained by process group, session and cookie');
  return { cgroups, containment };
}
