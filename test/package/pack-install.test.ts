import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { ROOT } from '../helpers/workers.js';

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

const dir = mkdtempSync(join(tmpdir(), 'reapq-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// npm's own environment from `npm test` would make the nested npm act on this checkout.
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

describe('the published package', () => {
  it('packs with its build, installs on Node 20 without engine warnings, imports with types and runs its CLI', async () => {
    const pack = await run('npm', ['pack', '--pack-destination', dir], ROOT, npmEnv);
    expect(pack.code, pack.out).toBe(0);
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    expect(tarball, pack.out).toBeDefined();
    const list = await run('tar', ['tzf', join(dir, tarball!)], dir);
    expect(list.out).toContain('package/dist/index.js');
    expect(list.out).toContain('package/dist/index.d.ts');
    expect(list.out).toContain('package/dist/cli/main.js');
    expect(list.out).not.toContain('package/src/');
    expect(list.out).not.toContain('package/test/');

    const app = join(dir, 'app');
    rmSync(app, { recursive: true, force: true });
    await run('mkdir', ['-p', app], dir);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // --prefer-offline: the dependencies are in npm's cache from this checkout's own install.
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball!)], app, npmEnv);
    expect(install.code, install.out).toBe(0);
    expect(install.out).not.toContain('EBADENGINE');

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
