import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onCleanup, tempDir } from '../helpers/cleanup.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { BIN, cli, testEnv, until } from '../helpers/workers.js';

const env = testEnv(testRedisUrl(), randomPrefix());

/** `reapq api --token-file`, up: its url, what it said on stderr, and a graceful stop. */
async function api(tokenFile: string): Promise<{ url: string; said: () => string; stop: () => Promise<number | null> }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'api', '--listen', '127.0.0.1:0', '--token-file', tokenFile], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((res) => child.once('exit', res));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = await until(() => /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1] ?? null, 15_000, `api up:\n${out}`);
  return {
    url,
    said: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

const status = async (url: string, token?: string) =>
  (await fetch(`${url}/v1/processes`, { headers: token ? { authorization: `Bearer ${token}` } : {} })).status;

describe('reapq api --token-file', () => {
  it('makes the token once (0600, never printed), keeps it across restarts, and answers 401 without it', async () => {
    const file = join(tempDir('token'), 'state', 'api-token');
    const first = await api(file);
    const token = readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.said()).toContain(`made a new bearer token in ${file}`);
    expect(first.said()).not.toContain(token);
    expect(await status(first.url)).toBe(401);
    expect(await status(first.url, 'x'.repeat(48))).toBe(401);
    expect(await status(first.url, token)).toBe(200);
    expect(await first.stop()).toBe(0);

    // A restart reads the same token and makes none.
    const second = await api(file);
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    expect(second.said()).not.toContain('made a new bearer token');
    expect(await status(second.url)).toBe(401);
    expect(await status(second.url, token)).toBe(200);
    expect(await second.stop()).toBe(0);
  });

  it('refuses a token file others can read, a short token, and two ways of giving the token (exit 2, one line)', async () => {
    const dir = tempDir('token');
    const open = join(dir, 'open');
    writeFileSync(open, 'a'.repeat(32));
    chmodSync(open, 0o644);
    const short = join(dir, 'short');
    writeFileSync(short, 'abc\n', { mode: 0o600 });
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [['--token-file', open], env, `reapq: --token-file ${open}: readable by others (mode 0644); chmod 600 it`],
      [['--token-file', short], env, `reapq: --token-file ${short}: the token must be one line of at least 16 characters without spaces`],
      [
        ['--token-file', short],
        { ...env, REAPQ_API_TOKEN: 'b'.repeat(32) },
        'reapq: give the token one way: REAPQ_API_TOKEN or --token-file, not both',
      ],
    ];
    for (const [args, e, line] of cases) {
      const r = await cli(e, ['api', '--listen', '127.0.0.1:0', ...args]);
      expect([r.code, r.stderr]).toEqual([2, `${line}\n`]);
    }
  });
});
