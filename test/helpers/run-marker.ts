import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    runId: string;
  }
}

/**
 * Every prefix this run uses starts with `t-<runId>-`, so every process its workers start
 * carries `REAPQ_OWNER=t-<runId>-.../<host>`: the leak check counts those and nothing else.
 * Another checkout's suite, or an app left by `npm start`, is not this run's business.
 */
export function runMarker(): string {
  const id = inject('runId');
  if (!id) throw new Error('runId was not provided: is test/helpers/global-setup.ts configured as globalSetup?');
  return `t-${id}-`;
}
