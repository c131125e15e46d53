import { z } from 'zod';
import { InputError } from './errors.js';
import { parseInput } from './input.js';
import { ServiceNameSchema } from './deploy.js';
import { ProcessIdSchema } from './record.js';

/**
 * Most requests one job can carry. Requests issued together (a backend's burst) share a job:
 * BullMQ spends about 35 Redis commands on each job, more than reapq spends on the start
 * itself. Small enough that a burst still spreads over the hosts of a fleet.
 */
export const BATCH_MAX = 32;

/**
 * The name under which a worker announces that it reads batched jobs (`starts`, `stops`),
 * beside its event types: a writer batches only when every live worker does, so a worker of
 * an earlier release is never handed a job it cannot parse.
 */
export const BATCH_JOBS = 'job.batches';

/**
 * Jobs carry only ids: the record in Redis is the truth, so a job delivered twice or late
 * is judged against the record at the moment it runs, never against a stale copy.
 */
export const JobSchemas = {
  start: z.object({ id: ProcessIdSchema }),
  stop: z.object({ id: ProcessIdSchema }),
  /** Starts requested together, each with the id its own start job would have had (startJobId). */
  starts: z.object({
    starts: z
      .array(z.object({ id: ProcessIdSchema, job: z.string().min(1).max(200) }))
      .min(1)
      .max(BATCH_MAX),
  }),
  /** Stops requested together of processes one host holds. */
  stops: z.object({ ids: z.array(ProcessIdSchema).min(1).max(BATCH_MAX) }),
  // A field a job of an older producer carries (reportKey) is dropped by the parse.
  reconcile: z.object({ full: z.boolean().optional() }).default({}),
  /** Runs a service's queued deploys (one job per deploy, on the deploy queue). */
  deploy: z.object({ service: ServiceNameSchema }),
} as const;
export type JobName = keyof typeof JobSchemas;

export type ParsedJob =
  | { name: 'start'; data: z.infer<(typeof JobSchemas)['start']> }
  | { name: 'stop'; data: z.infer<(typeof JobSchemas)['stop']> }
  | { name: 'starts'; data: z.infer<(typeof JobSchemas)['starts']> }
  | { name: 'stops'; data: z.infer<(typeof JobSchemas)['stops']> }
  | { name: 'reconcile'; data: z.infer<(typeof JobSchemas)['reconcile']> }
  | { name: 'deploy'; data: z.infer<(typeof JobSchemas)['deploy']> };

/** A job put on the queue by hand can be anything; this is the one place it is judged. */
export function parseJob(name: string, data: unknown): ParsedJob {
  // Own keys only: `constructor` or `toString` must not find Object.prototype's members.
  if (!Object.hasOwn(JobSchemas, name)) throw new InputError(`unknown job name ${JSON.stringify(name)}`);
  const schema = JobSchemas[name as JobName];
  return { name, data: parseInput(schema, data, `malformed ${name} job`) } as ParsedJob;
}

/** Job id of a start: the process id itself for the first run, so a repeated id is one job. */
export function startJobId(id: string, restarts: number): string {
  return restarts === 0 ? id : `${id}.r${restarts}`;
}
