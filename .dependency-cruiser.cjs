/**
 * The import direction of src/ (checked by `npm run lint`):
 *   cli -> producer | worker | dev -> shared
 * The CLI is the composition root and the only place that may import both sides; the
 * producer and the worker never import each other; shared imports none of them.
 * The pure core (reducer, record, events, the stored-JSON decoder, errors, the planners,
 * tree identity, the /proc and cgroup parsers) imports no module that touches I/O, so it
 * can be tested with plain data. Type-only imports are
 * erased at build time and are allowed across the pure-core line, not across layers.
 */
const PURE_CORE = [
  '^src/shared/(reducer|record|events|event-versions|fsck|states|duration|proc-stat|stored|stream-fields|errors)[.]ts$',
  '^src/worker/reconcile/plan[.]ts$',
  '^src/worker/proc/parse[.]ts$',
  '^src/worker/cgroup/(mountinfo|layout)[.]ts$',
  '^src/worker/tree[.]ts$',
  '^src/worker/.*(decide|kill-plan|reasons)[.]ts$',
  '^src/worker/controller/(decide-daemon|kill-steps)[.]ts$',
  '^src/worker/restart[.]ts$',
  '^src/shared/deploy[.]ts$',
  '^src/worker/deploy/plan[.]ts$',
];
// Modules the pure core may load at run time: each other and zod (also where a worktree's
// node_modules is a link to another checkout's, which resolves to ../<checkout>/node_modules).
const PURE_ALLOWED = [...PURE_CORE, '(^|/)node_modules/zod/'];
// Shared modules the dashboard's browser code loads (served from /assets/): no imports at all.
const BROWSER_SHARED = '^src/shared/(states|duration)[.]ts$';

module.exports = {
  forbidden: [
    {
      name: 'producer-not-worker',
      comment: 'The producer and the worker never import each other: a type both need belongs in src/shared.',
      severity: 'error',
      from: { path: '^src/producer/' },
      to: { path: '^src/(worker|cli|dev)/' },
    },
    {
      name: 'worker-not-producer',
      comment: 'The worker never imports the producer, the CLI or the dev tools.',
      severity: 'error',
      from: { path: '^src/worker/' },
      to: { path: '^src/(producer|cli|dev)/' },
    },
    {
      name: 'dev-not-sides',
      comment: 'The dev tools (local Redis launcher) sit beside producer and worker, below the CLI.',
      severity: 'error',
      from: { path: '^src/dev/' },
      to: { path: '^src/(producer|worker|cli)/' },
    },
    {
      name: 'shared-is-the-bottom',
      comment: 'src/shared is imported by every layer and imports none of them.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: '^src/(producer|worker|cli|dev)/' },
    },
    {
      name: 'public-entry-is-producer-and-shared',
      comment:
        "src/index.ts is what import('reapq') loads: the client and the shared schemas and types, never the worker, the CLI or the dev tools (the producer's own rule keeps them out of what it loads in turn).",
      severity: 'error',
      from: { path: '^src/index[.]ts$' },
      to: { path: '^src/', pathNot: '^src/(producer|shared)/' },
    },
    {
      name: 'only-cli-imports-cli',
      comment: 'The CLI is the composition root: nothing below it imports it (index.ts is the library entry and does not either).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'pure-core-no-io',
      comment: 'The pure core takes data and returns data: at run time it loads only itself and zod.',
      severity: 'error',
      from: { path: PURE_CORE },
      to: { pathNot: PURE_ALLOWED, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'browser-code-stays-in-the-browser',
      comment:
        'The dashboard modules run in a browser: at run time they load only each other and the import-free shared modules that dashboard-assets.ts serves.',
      severity: 'error',
      from: { path: '^src/producer/http/dashboard/' },
      to: { pathNot: ['^src/producer/http/dashboard/', BROWSER_SHARED], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'browser-shared-imports-nothing',
      comment: 'states.ts and duration.ts are served to the browser as they are: they may import nothing at run time.',
      severity: 'error',
      from: { path: BROWSER_SHARED },
      to: { dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      comment: 'A cycle makes load order matter and hides which module is the lower layer.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
    exclude: { path: '^dist/' },
  },
};
