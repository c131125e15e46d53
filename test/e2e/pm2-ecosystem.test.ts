import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupSupport } from '../helpers/cgroups.js';
import { tempDir } from '../helpers/cleanup.js';
import { stopService } from '../helpers/services.js';
import { carriersOf, cli, useWorker } from '../helpers/workers.js';

const t = useWorker('h-pm2');
// A memory limit is refused by a worker that cannot enforce it (process mode).
const memory = cgroupSupport().ok;

/** An ecosystem file as `pm2 init` and a few years of edits leave it. */
const ECOSYSTEM = `// PM2 ecosystem file
module.exports = {
  apps: [
    {
      name: 'api',
      script: './server.js',
      instances: 2,
      exec_mode: 'cluster',
      ${memory ? "max_memory_restart: '300M'," : ''}
      kill_timeout: 3000,
      listen_timeout: 20000,
      merge_logs: true,
      out_file: './logs/api-out.log',
      log_date_format: 'YYYY-MM-DD HH:mm Z',
      watch: false,
      some_custom_key: 'left over',
      env: { NODE_ENV: 'development', PORT: 3000, GREETING: 'hi' },
      env_production: { NODE_ENV: 'production', GREETING: 'hello' },
    },
    {
      name: 'mailer',
      script: 'worker.js',
      args: '--queue emails',
      autorestart: true,
      max_restarts: 10,
      restart_delay: 4000,
      cron_restart: '0 3 * * *',
    },
  ],
  deploy: {
    production: { user: 'node', host: '10.0.0.1', ref: 'origin/main', repo: 'git@example.com:app.git', path: '/var/www/app' },
  },
};
`;
const SERVER = `require('node:http').createServer((q, s) => s.end(process.env.NODE_ENV + ' ' + process.env.GREETING)).listen(process.env.PORT);\n`;
const WORKER = `console.log('args ' + process.argv.slice(2).join(' ')); setInterval(() => {}, 1000);\n`;

describe('reapq apply with a PM2 ecosystem file', () => {
  it('runs its apps with env_production, cluster mode as replicas with a PORT each, a warning per key not honoured', async () => {
    const dir = tempDir('pm2');
    const file = join(dir, 'ecosystem.config.js');
    writeFileSync(file, ECOSYSTEM);
    writeFileSync(join(dir, 'server.js'), SERVER);
    writeFileSync(join(dir, 'worker.js'), WORKER);

    const r = await cli(t.env, ['apply', file, '--env', 'production', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^api deployed d-\w+ succeeded$/m);
    expect(r.stdout).toMatch(/^mailer deployed d-\w+ succeeded$/m);
    const warned = r.stderr
      .trimEnd()
      .split('\n')
      .map((l) => /^warning: (?:app "(\w+)": )?(\w+)/.exec(l)?.slice(1).filter(Boolean).join('.'));
    expect(warned.sort()).toEqual(
      [
        'api.exec_mode',
        'api.merge_logs',
        'api.out_file',
        'api.log_date_format',
        'api.some_custom_key',
        'mailer.max_restarts',
        'mailer.restart_delay',
        'mailer.cron_restart',
        'deploy',
      ].sort(),
    );
    expect(r.stderr).toMatch(
      /^warning: app "api": exec_mode "cluster": reapq has no shared listening socket: it runs 2 separate processes/m,
    );

    const replicas = await Promise.all(['api-r1-0', 'api-r1-1'].map((id) => t.client.get(id)));
    expect(new Set(replicas.map((p) => p.port)).size).toBe(2);
    for (const p of replicas) {
      expect(p).toMatchObject({ state: 'running', restartPolicy: 'always', graceMs: 3000, ready: { kind: 'tcp' }, cwd: dir });
      if (memory) expect(p.limits?.memory).toBe(300 * 1024 ** 2);
      expect(await (await fetch(`http://127.0.0.1:${p.port}/`)).text()).toBe('production hello');
    }
    const mailer = await t.client.get('mailer-r1-0');
    expect(mailer).toMatchObject({ state: 'running', command: ['node', 'worker.js', '--queue', 'emails'] });

    // The same file again changes nothing: the translation is stable.
    const again = await cli(t.env, ['apply', file, '--env', 'production']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n').sort()).toEqual(['api unchanged', 'mailer unchanged']);

    const typo = await cli(t.env, ['apply', file, '--env', 'prod']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe(`reapq: invalid ecosystem file ${file}: --env prod: no app has env_prod\n`);

    await stopService(t.client, 'api');
    await stopService(t.client, 'mailer');
    expect([...carriersOf('api-r1-0'), ...carriersOf('api-r1-1'), ...carriersOf('mailer-r1-0')]).toEqual([]);
  });
});
