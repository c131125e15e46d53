import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cleanup.js';
import { testRedisUrl } from '../helpers/redis.js';
import { carriersOf, cli, useWorker } from '../helpers/workers.js';

const t = useWorker('h-ctx');

describe('reapq context', () => {
  it('says where commands go; named contexts choose it; env vars override; an empty listing says where it looked', async () => {
    const config = tempDir('xdg');
    const away = tempDir('cwd'); // no checkout, no dev
    const env: NodeJS.ProcessEnv = { ...t.env, XDG_CONFIG_HOME: config };
    delete env.REDIS_URL;
    delete env.REAPQ_PREFIX;
    const file = join(config, 'reapq', 'config.json');
    const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => cli({ ...env, ...extra }, args, away);

    const none = await run(['context', 'ls']);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe(`no contexts in ${file}; add one: reapq context add NAME REDIS_URL [--prefix P]\n`);
    const dflt = await run(['context']);
    expect(dflt.stdout).toBe(
      `redis   redis://127.0.0.1:6379\nprefix  reapq\nfrom    the default: no REDIS_URL, no context in ${file}, no reapq dev in this checkout\n`,
    );

    expect((await run(['context', 'add', 'fleet', testRedisUrl(), '--prefix', t.prefix])).code).toBe(0);
    const prod = await run(['context', 'add', 'prod', 'redis://ops:s3cret-pw@10.9.8.7:6380/2']);
    expect(prod.stdout).toBe(`context prod added in ${file}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain('s3cret-pw');
    const use = await run(['context', 'use', 'fleet']);
    expect(use.code, use.stderr).toBe(0);

    const listed = await run(['context', 'ls']);
    expect(listed.stdout).toMatch(/^\*\s+fleet\s+redis:\/\/127\.0\.0\.1:\d+\s+t-/m);
    expect(listed.stdout).toMatch(/^\s+prod\s+redis:\/\/ops:\*\*\*@10\.9\.8\.7:6380\/2\s+reapq$/m);
    expect(listed.stdout).not.toContain('s3cret');

    // Every command goes to the current context: an empty listing says which one.
    const empty = await run(['ls']);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toBe(`no records in ${testRedisUrl()} prefix ${t.prefix} (context fleet (current in ${file}))\n`);
    const started = await run(['start', '--wait', '--', 'sleep', '1000']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect((await run(['ls'])).stdout).toContain(id);
    expect(carriersOf(id)).toHaveLength(1);

    // Env vars override: REAPQ_CONTEXT picks another context, REAPQ_PREFIX the prefix, REDIS_URL everything.
    const viaEnv = JSON.parse((await run(['context', '--json'], { REAPQ_CONTEXT: 'prod' })).stdout);
    expect(viaEnv).toEqual({
      redis: 'redis://ops:***@10.9.8.7:6380/2',
      prefix: 'reapq',
      context: 'prod',
      source: 'context prod (REAPQ_CONTEXT)',
      configFile: file,
    });
    expect((await run(['context'], { REAPQ_PREFIX: 'other' })).stdout).toMatch(/^prefix {2}other$/m);
    expect((await run(['context'], { REDIS_URL: 'redis://:pw@127.0.0.1:1' })).stdout).toBe(
      'redis   redis://:***@127.0.0.1:1\nprefix  reapq\nfrom    REDIS_URL\n',
    );
    const unknown = await run(['ls'], { REAPQ_CONTEXT: 'nope' });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(`reapq: no context "nope" in ${file} (REAPQ_CONTEXT); reapq context ls lists them\n`);

    // Bad input is one line, exit 2, and the file is left as it was.
    for (const args of [
      ['context', 'add', 'x', 'http://nope'],
      ['context', 'add', 'has space', 'redis://h:1'],
      ['context', 'add', 'x', 'redis://h:1', '--prefix', 'a{b}'],
      ['context', 'use', 'nope'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }

    expect((await run(['stop', id, '--wait'])).code).toBe(0);
    expect((await run(['context', 'rm', 'fleet'])).stdout).toBe('context fleet removed\n');
    expect((await run(['context'])).stdout).toMatch(/^from {4}the default/m);
    // Seventeen CLI runs: 17 s in a loaded full run, past 30 s with a CPU hog beside it.
  }, 90_000);
});
