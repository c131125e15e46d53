import { createRequire } from 'node:module';

// bullmq takes about 200 ms to load: the CLI's read-only commands (ls, show, logs) never
// enqueue, so it is required on the first queue instead of imported. Its package is
// CommonJS only, so this is the same module instance an `import` elsewhere gets. The CLI
// bundle (scripts/bundle-cli.mjs) puts its own copy of this module in place, which
// requires bullmq from the bundle and its code cache.
const require = createRequire(import.meta.url);

/** The bullmq package, loaded on the first call. */
export function loadBullmq(): typeof import('bullmq') {
  return require('bullmq') as typeof import('bullmq');
}
