/**
 * The states of a managed process as plain data, with no imports: the record schema
 * (record.ts), the CLI and the dashboard's browser code all read them from here.
 */
export const STATES = ['pending', 'starting', 'running', 'stopping', 'stopped', 'exited', 'failed', 'lost'] as const;
export type State = (typeof STATES)[number];

/** States from which nothing moves without a new request or a restart. */
export const FINAL_STATES: ReadonlySet<State> = new Set(['stopped', 'exited', 'failed', 'lost']);
/** States in which a process tree may be alive on a host. */
export const LIVE_STATES: ReadonlySet<State> = new Set(['starting', 'running', 'stopping']);

/** The order a person scans a fleet in: what is up, then what is moving, then what ended. */
export const STATES_BY_ATTENTION: readonly State[] = ['running', 'starting', 'pending', 'stopping', 'exited', 'failed', 'lost', 'stopped'];
