/**
 * What one reconcile pass on a host found and did. The worker returns it as the reconcile
 * job's result and the producer (CLI, api) reads it back, so it lives here, between them.
 */
export interface ReconcileReport {
  host: string;
  at: string;
  durationMs: number;
  records: number;
  /** Whether every finished record of the host was read too (boot, on demand), or only the live index. */
  full?: boolean;
  /** A sweep (every few passes): the records that ended on the host since then were read too. */
  finishedSince?: string;
  processes: number;
  /** One line per drift found and what was done about it; `kind` is the planner's action kind. */
  actions: Array<{ kind: string; id?: string; pids?: number[]; detail: string }>;
  errors: string[];
  /** Records left out because they do not parse, by id with the first problem. */
  corrupt?: Array<{ id: string; problem: string }>;
}
