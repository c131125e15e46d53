import { describe, expect, it } from 'vitest';
import { fromEcosystem, isEcosystem, splitArgs, withEnvironment } from '../../src/cli/pm2-ecosystem.js';

const at = { dir: '/srv/app', cpus: 4 };
const one = (app: Record<string, unknown>, o: Partial<typeof at & { envName: string }> = {}) =>
  fromEcosystem({ apps: [app] }, { ...at, ...o });

describe('PM2 ecosystem file as apply entries', () => {
  it("tells its format from reapq's own", () => {
    expect(isEcosystem({ apps: [] })).toBe(true);
    expect(isEcosystem({ services: {} })).toBe(false);
    expect(isEcosystem({ apps: {} })).toBe(false);
    expect(isEcosystem(null)).toBe(false);
  });

  it("a minimal fork-mode app: node runs the script from the file's directory, restarted always, stop-first", () => {
    const { entries, warnings } = one({ name: 'api', script: 'server.js' });
    expect(entries).toEqual([
      { service: 'api', command: ['node', 'server.js'], cwd: '/srv/app', restart: 'always', replicas: 1, strategy: 'stop-first' },
    ]);
    expect(warnings).toEqual([]);
  });

  it('names an app after its script, picks the interpreter by extension, splits args as PM2 does', () => {
    const { entries } = fromEcosystem(
      {
        apps: [
          { script: 'jobs/run.py', args: '--queue "mail out" -v' },
          { script: 'npm', args: ['run', 'start'] },
          { script: './bin/www' },
          { name: 'b', script: 'app.js', interpreter: '/usr/bin/bun', node_args: '--smol' },
          { name: 'c', script: 'app.js', node_args: ['--max-old-space-size=512'], cwd: 'sub' },
          { name: 'd', script: '/opt/x/server', interpreter: 'none', cwd: '/abs' },
        ],
      },
      at,
    );
    expect(entries.map((e) => [e.service, e.command, e.cwd])).toEqual([
      ['run', ['python3', 'jobs/run.py', '--queue', 'mail out', '-v'], '/srv/app'],
      ['npm', ['npm', 'run', 'start'], '/srv/app'],
      ['www', ['./bin/www'], '/srv/app'],
      ['b', ['/usr/bin/bun', '--smol', 'app.js'], '/srv/app'],
      ['c', ['node', '--max-old-space-size=512', 'app.js'], '/srv/app/sub'],
      ['d', ['/opt/x/server'], '/abs'],
    ]);
    expect(splitArgs(`a  'b c' --x="y z" ""`)).toEqual(['a', 'b c', '--x="y z"']);
  });

  it('env_NAME is laid over env with --env NAME; values become strings; a name no app has is refused', () => {
    const app = {
      name: 'w',
      script: 'w.js',
      env: { NODE_ENV: 'development', N: 1, OFF: null },
      env_production: { NODE_ENV: 'production' },
    };
    expect(one(app).entries[0]!.env).toEqual({ NODE_ENV: 'development', N: '1' });
    expect(one(app, { envName: 'production' }).entries[0]!.env).toEqual({ NODE_ENV: 'production', N: '1' });
    expect(() => one(app, { envName: 'staging' })).toThrow(/^--env staging: no app has env_staging$/);
    expect(() => one({ script: 'a.js', env: 'X=1' })).toThrow(/app "a": env must be an object/);
  });

  it('limits, restarts, grace: max_memory_restart, autorestart, stop_exit_codes, kill_timeout', () => {
    const e = one({ name: 'm', script: 'm.js', max_memory_restart: '300M', kill_timeout: 5000, autorestart: false }).entries[0]!;
    expect(e).toMatchObject({ memory: '300M', graceMs: 5000, restart: 'never' });
    expect(one({ name: 'm', script: 'm.js', stop_exit_codes: [0] }).entries[0]!.restart).toBe('on-failure');
    const odd = one({ name: 'm', script: 'm.js', stop_exit_codes: [0, 3] });
    expect(odd.entries[0]!.restart).toBe('on-failure');
    expect(odd.warnings).toEqual([expect.stringMatching(/^app "m": stop_exit_codes: .*no exit code but 0 can be exempted$/)]);
  });

  it('cluster mode: replicas with a PORT each, ready when it accepts, start-first; one warning line for exec_mode', () => {
    const { entries, warnings } = one({
      name: 'web',
      script: 'server.js',
      exec_mode: 'cluster',
      instances: 'max',
      listen_timeout: 8000,
      env: { PORT: 3000 },
    });
    expect(entries[0]).toEqual({
      service: 'web',
      command: ['node', 'server.js'],
      cwd: '/srv/app',
      restart: 'always',
      replicas: 4,
      strategy: 'start-first',
      port: 'auto',
      timeoutMs: 8000,
      ready: { kind: 'tcp', timeoutMs: 8000 },
    });
    expect(warnings).toEqual([
      expect.stringMatching(/^app "web": instances "max": counted on this machine: 4 /),
      expect.stringMatching(/^app "web": exec_mode "cluster": reapq has no shared listening socket: it runs 4 separate processes/),
    ]);
    expect(one({ script: 'a.js', instances: -1 }).entries[0]!.replicas).toBe(3);
    expect(() => one({ script: 'a.js', instances: 1.5 })).toThrow(/instances must be a whole number/);
  });

  it('fork mode with a fixed PORT keeps it (stop-first); wait_ready becomes a TCP check on it, with a warning', () => {
    const { entries, warnings } = one({ name: 'f', script: 'f.js', env: { PORT: '8080', A: 'b' }, wait_ready: true });
    expect(entries[0]).toMatchObject({ port: 8080, env: { A: 'b' }, strategy: 'stop-first', ready: { kind: 'tcp' } });
    expect(warnings).toEqual([expect.stringMatching(/^app "f": wait_ready true: reapq has no process.send\('ready'\): .*PORT accepts/)]);
    const noPort = one({ name: 'g', script: 'g.js', wait_ready: true });
    expect(noPort.entries[0]!.ready).toBeUndefined();
    expect(noPort.warnings).toEqual([expect.stringMatching(/^app "g": wait_ready true: .*counts the app ready once spawned/)]);
  });

  it('each key it cannot honour is one line naming it and why; PM2 defaults are not worth one', () => {
    const { warnings } = fromEcosystem(
      {
        apps: [
          {
            name: 'x',
            script: 'x.js',
            watch: false,
            treekill: true,
            autostart: true,
            merge_logs: false,
            max_restarts: 10,
            min_uptime: '5s',
            restart_delay: 4000,
            cron_restart: '0 3 * * *',
            out_file: './logs/x.log',
            log_date_format: 'YYYY-MM-DD HH:mm Z',
            my_custom_flag: 1,
            env: { NODE_OPTIONS: '--inspect' },
          },
        ],
        deploy: { production: { host: 'h' } },
        extra: 1,
      },
      at,
    );
    expect(warnings.map((w) => w.split(':').slice(0, 2).join(':'))).toEqual([
      'app "x": max_restarts 10',
      'app "x": min_uptime "5s"',
      'app "x": restart_delay 4000',
      'app "x": cron_restart "0 3 * * *"',
      'app "x": out_file "./logs/x.log"',
      'app "x": log_date_format "YYYY-MM-DD HH',
      'app "x": my_custom_flag 1',
      'app "x": env',
      'deploy: pm2 deploy (ssh, git pull, post-deploy hooks) is not run',
      'extra: not a PM2 key reapq knows; ignored',
    ]);
    expect(warnings[0]).toMatch(/gives up after 5 runs in a row that each ended within 10 s/);
    expect(warnings[6]).toMatch(/not a PM2 key reapq knows; ignored$/);
    for (const w of warnings) expect(w).not.toMatch(/\n/);
  });

  it('refuses what cannot be an app', () => {
    expect(() => fromEcosystem({ apps: [] }, at)).toThrow(/apps is empty/);
    expect(() => fromEcosystem({ apps: [42] }, at)).toThrow(/apps\[0\] must be an object/);
    expect(() => one({ name: 'n' })).toThrow(/app "n": needs "script"/);
  });
});

describe("--env NAME for reapq's own format", () => {
  const entries = [
    { service: 'a', command: ['x'], env: { A: '1', B: '2' }, env_production: { B: 'p' } },
    { service: 'b', command: ['y'], env_staging: { S: '1' } },
  ];
  it('lays env_NAME over env and drops every env_* key', () => {
    expect(withEnvironment(entries, 'production')).toEqual([
      { service: 'a', command: ['x'], env: { A: '1', B: 'p' } },
      { service: 'b', command: ['y'] },
    ]);
    expect(withEnvironment(entries, undefined)).toEqual([
      { service: 'a', command: ['x'], env: { A: '1', B: '2' } },
      { service: 'b', command: ['y'] },
    ]);
    expect(() => withEnvironment(entries, 'qa')).toThrow(/^--env qa: no service has env_qa$/);
  });
});
