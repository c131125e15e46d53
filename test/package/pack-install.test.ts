import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { carriersOf, ROOT, useWorker } from '../helpers/workers.js';
import { tempDir } from '../helpers/cleanup.js';

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.once('exit', (code) => res({ code, out }));
  });
}

const dir = tempDir('pack');
// Three projects' node_modules: more than the default hook timeout on a busy machine.

// npm's own environment from `npm test` would make the nested npm act on this checkout.
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

/** A code block of the README, as a reader would paste it: the one after `<!-- client-example: NAME -->`. */
function readmeExample(name: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- client-example: ${name.replace('.', '\\.')} -->\\n\`\`\`js\\n([\\s\\S]*?)\\n\`\`\`\\n`).exec(readme);
  if (!m) throw new Error(`README.md has no client example ${name}`);
  return m[1]! + '\n';
}

const t = useWorker('h-pack');
let tarball: string | undefined;
let packOut = '';

/**
 * A copy of the checkout (what git would commit, untracked files included) with its
 * node_modules linked: npm pack cleans and rebuilds dist/, and the checkout's own dist/ is
 * what every other test's workers run, possibly at the same time.
 */
async function checkoutCopy(): Promise<string> {
  const copy = join(dir, 'checkout');
  const files = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT);
  expect(files.code, files.out).toBe(0);
  for (const f of files.out.split('\0').filter((f) => f && existsSync(join(ROOT, f)))) {
    mkdirSync(dirname(join(copy, f)), { recursive: true });
    cpSync(join(ROOT, f), join(copy, f), { verbatimSymlinks: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

/** Packs once for the file, from a copy of the checkout; counts the builds npm ran on the way. */
async function packed(): Promise<string> {
  if (tarball) return tarball;
  const pack = await run('npm', ['pack', '--foreground-scripts', '--pack-destination', dir], await checkoutCopy(), npmEnv);
  packOut = pack.out;
  expect(pack.code, pack.out).toBe(0);
  const file = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  expect(file, pack.out).toBeDefined();
  tarball = join(dir, file!);
  return tarball;
}

let installedIn: string | undefined;

/**
 * The packed tarball installed once for the file (npm install is most of this file's time
 * on a busy machine): each project gets a copy of that install's node_modules, which is
 * what npm would put there, since nothing npm installs depends on the project's type.
 */
async function installed(): Promise<string> {
  if (installedIn) return installedIn;
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // --prefer-offline: the dependencies are in npm's cache from this checkout's own install.
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', await packed()], app, npmEnv);
  expect(install.code, install.out).toBe(0);
  expect(install.out).not.toContain('EBADENGINE');
  installedIn = app;
  return app;
}

/** `npm init -y` in a fresh directory, then the packed tarball installed in it. */
async function freshProject(name: string, type?: 'module'): Promise<string> {
  const app = join(dir, name);
  mkdirSync(app);
  const init = await run('npm', ['init', '-y'], app, npmEnv);
  expect(init.code, init.out).toBe(0);
  if (type) expect((await run('npm', ['pkg', 'set', `type=${type}`], app, npmEnv)).code).toBe(0);
  cpSync(join(await installed(), 'node_modules'), join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  return app;
}

describe('the published package', () => {
  it('builds once per npm pack (prepack cleans, prepare builds)', async () => {
    await packed();
    expect(packOut.match(/^> tsc -p tsconfig\.json/gm) ?? [], packOut).toHaveLength(1);
  }, 180_000);

  for (const [file, type] of [
    ['index.js', undefined],
    ['index.mjs', 'module'],
  ] as const) {
    it(`runs the README's client example ${file} as pasted in a fresh npm init -y ${type ? 'ESM' : 'CommonJS'} project`, async () => {
      const app = await freshProject(`readme-${type ?? 'commonjs'}`, type);
      const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { type?: string };
      expect(pkg.type ?? 'commonjs').toBe(type ?? 'commonjs');
      // The ESM project runs it as its index.js, as "type": "module" makes it.
      writeFileSync(join(app, 'index.js'), readmeExample(file));
      const out = await run(process.execPath, ['index.js'], app, { ...t.env, NODE_OPTIONS: '' });
      expect(out.code, out.out).toBe(0);
      const [first, second] = out.out.trim().split('\n');
      const id = /^(\S+) runs as pid \d+$/.exec(first ?? '')?.[1];
      expect(id, out.out).toBeDefined();
      expect(second).toBe(`${id} is stopped`);
      // Nothing on stderr: no ExperimentalWarning about require() of an ES module.
      expect(out.out.split('\n')).toHaveLength(3);
      expect(carriersOf(id!)).toEqual([]);
    }, 180_000);
  }

  it('installs on Node 20 without engine warnings, imports with types and runs its CLI', async () => {
    await packed();
    const list = await run('tar', ['tzf', tarball!], dir);
    expect(list.out).toContain('package/dist/index.js');
    expect(list.out).toContain('package/dist/index.d.ts');
    expect(list.out).toContain('package/dist/cli/main.js');
    expect(list.out).not.toContain('package/src/');
    expect(list.out).not.toContain('package/test/');

    const app = await installed();

    // The client works from the installed package against a real Redis.
    writeFileSync(
      join(app, 'use.mjs'),
      `import { ReapqClient } from 'reapq';
const c = new ReapqClient({ redisUrl: process.argv[2], prefix: process.argv[3] });
console.log(JSON.stringify(await c.list()));
await c.close();
`,
    );
    const use = await run(process.execPath, ['use.mjs', testRedisUrl(), randomPrefix()], app);
    expect(use, use.out).toEqual({ code: 0, out: '[]\n' });

    // Its types resolve through `exports` the way a NodeNext project resolves them.
    writeFileSync(
      join(app, 'use.ts'),
      `import { ReapqClient, type ProcessRecord, type StartSpec } from 'reapq';
const c: ReapqClient = new ReapqClient({ redisUrl: 'redis://127.0.0.1:1', prefix: 'p' });
const spec: StartSpec = { command: ['sleep', '1'] } as StartSpec;
export const started: Promise<ProcessRecord> = c.start(spec);
`,
    );
    const tsc = await run(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--skipLibCheck',
        '--typeRoots',
        join(ROOT, 'node_modules/@types'),
        '--types',
        'node',
        'use.ts',
      ],
      app,
    );
    expect(tsc, tsc.out).toEqual({ code: 0, out: '' });

    const help = await run(join(app, 'node_modules/.bin/reapq'), ['--help'], app);
    expect(help.code, help.out).toBe(0);
    expect(help.out).toMatch(/Usage: reapq/);
    expect(help.out).toMatch(/\bworker\b/);
  }, 180_000);
});
