// Builds the bundles bin/reapq loads with a V8 code cache: dist/cli/bundle.cjs for the
// commands a script calls often (ls, show, hosts, events, logs, start, stop), and
// dist/worker/bundle.cjs for `reapq worker`. Loading from ~600 separate modules (zod alone
// is 230 files) cost the CLI about 250 ms and a worker about 0.7 s of CPU before any work;
// one bundle with a code cache loads in a fraction of it. Everything else (api, dev,
// reconcile, new commands) runs from dist/ as compiled by tsc.
//
// The bundles are an optimisation only: if esbuild is missing or one cannot be built,
// this says so and exits 0, and bin/reapq uses dist/cli/main.js for those commands.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * src/shared/bullmq-loader.ts requires bullmq through createRequire, which a bundler cannot
 * follow; in the bundle it is a plain require, so bullmq comes from the bundle.
 */
const bundledBullmq = {
  name: 'bundled-bullmq',
  setup(build) {
    build.onLoad({ filter: /shared[\\/]bullmq-loader\.ts$/ }, () => ({
      contents: "export function loadBullmq() { return require('bullmq'); }",
      loader: 'js',
    }));
    // Its PostgreSQL backend (a third of bullmq's size) is only re-exported by its index.
    build.onLoad({ filter: /bullmq[\\/]dist[\\/]cjs[\\/]postgres[\\/]index\.js$/ }, () => ({ contents: '', loader: 'js' }));
  },
};
/** Loaded on demand by both bundles (the api's server, dev's pretty logs): run from dist/. */
const LAZY = ['../producer/http/*', '../dev/pretty-log.js'];
const bundles = [
  {
    // The commands a script calls in a loop.
    out: join(root, 'dist/cli/bundle.cjs'),
    entry: { entryPoints: [join(root, 'src/cli/main.ts')] },
    // Only what a command loads on demand stays outside. A module outside that is imported
    // at load (dev's instance file, the restart constants) came from dist/ as ES modules with
    // their own copy of zod: about 100 more files and 40 ms of every command.
    external: ['../worker/main.js', '../worker/host-stop.js', '../worker/cgroup/*', '../worker/host-os.js', ...LAZY],
  },
  {
    // `reapq worker`: every worker (a restart, a new host, each test) loaded ~600 modules
    // from dist/ and node_modules, about 0.7 s of CPU before its first beat. The worker's
    // modules are evaluated at load, so the code cache holds them too. It lives beside the
    // worker's modules: the forker (./forker-main.js) and ../../lua resolve from there.
    out: join(root, 'dist/worker/bundle.cjs'),
    entry: {
      stdin: {
        contents: "export * from './src/cli/main.ts'; export * as worker from './src/worker/main.ts';",
        resolveDir: root,
        loader: 'ts',
      },
    },
    external: [...LAZY, 're2-wasm'],
  },
];

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.warn('bundle-cli: esbuild not installed; bin/reapq runs every command from dist/ (slower start)');
  process.exit(0);
}
for (const b of bundles) await bundle(b);

async function bundle({ out, entry, external }) {
  const cache = `${out}.cache`;
  rmSync(out, { force: true });
  rmSync(cache, { force: true });
  try {
    await esbuild.build({
      ...entry,
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      minify: true,
      // Errors are told apart by name (ioredis' MaxRetriesPerRequestError, our own classes):
      // minifying must not rename them.
      keepNames: true,
      logLevel: 'error',
      // bullmq is in the bundle and its code cache (start and stop load it: from
      // node_modules it cost a start or stop about 60 ms), but still evaluated only when a
      // command enqueues: the loader below requires it on first use.
      external: ['pino', 'fastify', '@fastify/*', 'prom-client', 'koffi', ...external],
      plugins: [bundledBullmq],
      define: { 'import.meta.url': '__bundleUrl' },
      banner: { js: "var __bundleUrl=require('url').pathToFileURL(__filename).href;" },
    });
  } catch (err) {
    rmSync(out, { force: true });
    console.warn(
      `bundle-cli: could not bundle ${out} (${String(err.message ?? err).split('\n')[0]}); bin/reapq runs its commands from dist/`,
    );
    return;
  }
  await codeCache(out, cache);
}

/**
 * The code cache is made here, after running the module's top level (every bundled
 * module's initialisation, the zod schemas above all) and commander's help, so the
 * functions they compile are in it. V8 rejects it on another Node version: then the bundle
 * is simply compiled as usual.
 */
async function codeCache(out, cache) {
  const script = new vm.Script(wrap(readFileSync(out, 'utf8')), { filename: out });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(out), mod, out, dirname(out));
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true;
  try {
    await mod.exports.main(['node', 'reapq', '--help']);
  } finally {
    process.stdout.write = write;
  }
  // bullmq's modules evaluated too (no connection is made), so their code is in the cache.
  mod.exports.loadBullmq?.();
  writeFileSync(cache, script.createCachedData());
}

/** The CommonJS module wrapper; bin/reapq compiles the same text, so the cache matches. */
function wrap(src) {
  return `(function (exports, require, module, __filename, __dirname) {${src}\n})`;
}
