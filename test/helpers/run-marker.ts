import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    runId: string;
  }
}

/**
 * Every prefix a test file uses starts with `t-<runId>-<slot>-`, so every process its
 * workers start carries `REAPQ_OWNER=t-<runId>-<slot>-.../<host>`: the leak check counts
 * those and nothing else. The slot is vitest's worker slot (VITEST_POOL_ID, unique among
 * the files running at one time), so files run side by side never count or kill each
 * other's processes; another checkout's suite, or an app left by `npm start`, is not this
 * run's business either.
 */
export function runMarker(): string {
  const id = inject('runId');
  if (!id) throw new Error('runId was not provided: is test/helpers/global-setup.ts configured as globalSetup?');
  return `t-${id}-${process.env.VITEST_POOL_ID ?? '0'}-`;
}
