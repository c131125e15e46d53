import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { carriersOf, ROOT, useWorker } from '../helpers/workers.js';

const t = useWorker('h-example');

function example(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    // The README's route: REDIS_URL and REAPQ_PREFIX in the environment, `import ... from 'reapq'`.
    const c = spawn(process.execPath, [join(ROOT, 'examples', file), ...args], {
      cwd: ROOT,
      env: t.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.once('exit', (code) => res({ code, stdout, stderr }));
  });
}

describe('examples/', () => {
  it('client-deploy.mjs deploys a first version, then replaces it, and ends', async () => {
    const first = await example('client-deploy.mjs', ['v1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^web-v1 answers on port \d+$/m);
    expect(first.stdout).toContain('first deploy: nothing to stop');
    expect(carriersOf('web-v1')).toHaveLength(1);

    const second = await example('client-deploy.mjs', ['v2']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^web-v2 answers on port \d+$/m);
    expect(second.stdout).toContain('web-v1 v');
    expect(second.stdout).toContain('web-v1 is stopped: its whole tree is gone');
    expect(carriersOf('web-v1')).toEqual([]);
    expect(carriersOf('web-v2')).toHaveLength(1);

    await t.client.stop('web-v2');
    await t.client.waitFor('web-v2', 'stopped');
  }, 60_000);
});
