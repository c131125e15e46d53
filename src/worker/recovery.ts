import type { Logger } from '../shared/logger.js';
import type { ReconcilePasses } from './passes.js';
import type { ReconcileReport } from './reconcile/execute.js';

/**
 * Boot recovery, before the worker takes any job: one full pass over every record of this
 * host adopts what still runs, records what ended while no worker watched, resumes stops
 * that were half done and stops what lives past its record. A start or stop job taken
 * before it could act on a process whose state is not known yet.
 */
export async function recoverBeforeWork(passes: ReconcilePasses, log: Logger): Promise<ReconcileReport> {
  const recovery = await passes.run(true);
  log.info({ actions: recovery.actions.length, records: recovery.records }, 'recovered before taking work');
  return recovery;
}
