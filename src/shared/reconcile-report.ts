/**
 * What one reconcile pass on a host found and did. The worker returns it as the reconcile
 * job's result and the producer (CLI, api) reads it back, so it lives here, between them.
 */
export interface ReconcileReport {
  host: string;
  at: string;
  durationMs: number;
  records: number;
  /** Whether finished records were read too (boot, on demand, every few passes), or only the live index. */
  full?: boolean;
  processes: number;
  /** One line per drift found and what was done about it; `kind` is the planner's action kind. */
  actions: Array<{ kind: string; id?: string; pids?: number[]; detail: string }>;
  errors: string[];
  /** Records left out because they do not parse, by id with the first problem. */
  corrupt?: Array<{ id: string; problem: string }>;
}
