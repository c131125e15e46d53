import { posix } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/shared/errors.js';
import { StartSpecSchema } from '../../src/shared/record.js';
import { checkStart, DEFAULT_POLICY, loadPolicy, type Policy } from '../../src/worker/policy.js';

type Spec = { command: string[]; cwd: string; env: Record<string, string> };

const spec = (over: Partial<Spec> = {}): Spec => ({ command: ['npm', 'run', 'start'], cwd: '/srv/app', env: {}, ...over });
const policy = (over: Partial<Policy> = {}): Policy => ({ ...DEFAULT_POLICY, ...over });

/** An answer is null or one line of printable ASCII, bounded, starting with the prefix. */
const ONE_LINE = /^refused by policy: [\x20-\x7e]+$/;
function expectRefusal(answer: string | null, ...parts: string[]): void {
  expect(answer).not.toBeNull();
  expect(answer).toMatch(ONE_LINE);
  for (const p of parts) expect(answer).toContain(p);
}

describe('DEFAULT_POLICY', () => {
  it('allows any command and cwd, denies the loader and interpreter hooks, 256 KiB args, 64 KiB env', () => {
    expect(DEFAULT_POLICY).toEqual({
      allowedCommands: null,
      allowedCwds: null,
      runAs: null,
      deniedEnv: ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'NODE_OPTIONS', 'BASH_ENV', 'ENV', 'PYTHONSTARTUP', 'PERL5OPT'],
      maxArgBytes: 262_144,
      maxEnvBytes: 65_536,
      maxProcesses: null,
      limits: { defaults: { memory: null, cpus: null, pidsMax: null }, max: { memory: null, cpus: null, pidsMax: null } },
    });
    expect(checkStart(DEFAULT_POLICY, spec({ command: ['/bin/bash', '-c', 'anything'], cwd: '/' }), 10_000)).toBeNull();
  });

  it('is frozen, so one caller cannot loosen it for every other', () => {
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.deniedEnv)).toBe(true);
  });
});

describe('checkStart: commands', () => {
  const p = policy({ allowedCommands: ['npm', 'node', '/usr/bin/python3', '/opt/app/bin/server'] });

  it('accepts a bare name listed by name', () => {
    expect(checkStart(p, spec({ command: ['npm', 'run', 'start'] }), 0)).toBeNull();
    expect(checkStart(p, spec({ command: ['node', 'server.js'] }), 0)).toBeNull();
  });

  it('refuses a bare name not listed, with the example wording', () => {
    expect(checkStart(policy({ allowedCommands: ['npm'] }), spec({ command: ['/bin/bash'] }), 0)).toBe(
      'refused by policy: command /bin/bash is not in REAPQ_ALLOWED_COMMANDS',
    );
    expectRefusal(checkStart(p, spec({ command: ['bash', '-c', 'id'] }), 0), 'command bash is not in REAPQ_ALLOWED_COMMANDS');
  });

  it('a bare-name entry does not allow a path ending in that name (nothing is resolved from PATH)', () => {
    expectRefusal(checkStart(p, spec({ command: ['/usr/bin/npm'] }), 0), 'command /usr/bin/npm is not in');
    expectRefusal(checkStart(p, spec({ command: ['/tmp/evil/npm'] }), 0), '/tmp/evil/npm');
    expectRefusal(checkStart(p, spec({ command: ['./npm'] }), 0), './npm', '/srv/app/npm');
  });

  it('an absolute entry allows that exact path, not its bare name nor a neighbour', () => {
    expect(checkStart(p, spec({ command: ['/usr/bin/python3', '-m', 'http.server'] }), 0)).toBeNull();
    expectRefusal(checkStart(p, spec({ command: ['python3'] }), 0), 'command python3 is not in');
    expectRefusal(checkStart(p, spec({ command: ['/usr/bin/python3.11'] }), 0), '/usr/bin/python3.11');
    expectRefusal(checkStart(p, spec({ command: ['/usr/local/bin/python3'] }), 0), '/usr/local/bin/python3');
  });

  it('normalises harmless spelling (., //) of an absolute command', () => {
    expect(checkStart(p, spec({ command: ['/usr//bin/./python3'] }), 0)).toBeNull();
  });

  it('refuses any .. segment, even one that normalises onto an allowed path (symlinks resolve before ..)', () => {
    expectRefusal(checkStart(p, spec({ command: ['/tmp/link/../../usr/bin/python3'] }), 0), 'has a .. segment');
    expectRefusal(checkStart(p, spec({ command: ['/usr/bin/../bin/python3'] }), 0), 'has a .. segment');
    expectRefusal(checkStart(p, spec({ command: ['../app/bin/server'], cwd: '/opt/app/x' }), 0), 'has a .. segment');
  });

  it('a relative path is resolved against the cwd and compared with the absolute entries', () => {
    expect(checkStart(p, spec({ command: ['bin/server'], cwd: '/opt/app' }), 0)).toBeNull();
    expect(checkStart(p, spec({ command: ['./bin/server'], cwd: '/opt/app/' }), 0)).toBeNull();
    expectRefusal(checkStart(p, spec({ command: ['./bin/server'], cwd: '/opt/other' }), 0), '(/opt/other/bin/server)');
    expectRefusal(checkStart(p, spec({ command: ['./bin/server'], cwd: 'opt/app' }), 0), 'is relative and cwd opt/app is not absolute');
  });

  it('refuses setting PATH when the command is allowed by bare name, since PATH would pick the file', () => {
    expectRefusal(checkStart(p, spec({ command: ['npm'], env: { PATH: '/tmp/evil' } }), 0), 'env PATH may not be set', 'npm');
    // With an absolute command PATH chooses nothing, and without an allowlist there is nothing to bypass.
    expect(checkStart(p, spec({ command: ['/usr/bin/python3'], env: { PATH: '/tmp/evil' } }), 0)).toBeNull();
    expect(checkStart(DEFAULT_POLICY, spec({ command: ['npm'], env: { PATH: '/tmp/evil' } }), 0)).toBeNull();
  });

  it('refuses a command without a program under any policy', () => {
    expectRefusal(checkStart(DEFAULT_POLICY, spec({ command: [] }), 0), 'command names no program');
    expectRefusal(checkStart(DEFAULT_POLICY, spec({ command: [''] }), 0), 'command names no program');
  });

  it('quotes and escapes a hostile command name instead of printing it raw', () => {
    const answer = checkStart(p, spec({ command: ['evil\nrefused by policy: nothing\u2028\u001b[31m'] }), 0);
    expectRefusal(answer, '"evil\\u000arefused by policy: nothing\\u2028\\u001b[31m"');
    const long = checkStart(p, spec({ command: ['x'.repeat(100_000)] }), 0);
    expectRefusal(long, '(100000 chars)');
    expect(long!.length).toBeLessThan(400);
  });
});

describe('checkStart: cwd', () => {
  const p = policy({ allowedCwds: ['/srv/app', '/home/deploy/'] });

  it('allows the prefix itself and anything below it', () => {
    expect(checkStart(p, spec({ cwd: '/srv/app' }), 0)).toBeNull();
    expect(checkStart(p, spec({ cwd: '/srv/app/' }), 0)).toBeNull();
    expect(checkStart(p, spec({ cwd: '/srv/app/releases/42' }), 0)).toBeNull();
    expect(checkStart(p, spec({ cwd: '/home/deploy' }), 0)).toBeNull();
  });

  it('is path-boundary aware: /srv/app does not allow /srv/application or /srv', () => {
    expectRefusal(checkStart(p, spec({ cwd: '/srv/application' }), 0), 'cwd /srv/application is not under REAPQ_ALLOWED_CWDS');
    expectRefusal(checkStart(p, spec({ cwd: '/srv/app2/x' }), 0), '/srv/app2/x');
    expectRefusal(checkStart(p, spec({ cwd: '/srv' }), 0), 'cwd /srv is not');
  });

  it('normalises .. before the prefix test', () => {
    expectRefusal(checkStart(p, spec({ cwd: '/srv/app/../../etc' }), 0), 'cwd /srv/app/../../etc (/etc) is not under');
    expectRefusal(checkStart(p, spec({ cwd: '/srv/app/..' }), 0), '(/srv)');
    expectRefusal(checkStart(p, spec({ cwd: '/srv/app/../application' }), 0), '(/srv/application)');
    expect(checkStart(p, spec({ cwd: '/srv/app/releases/../current' }), 0)).toBeNull();
    expect(checkStart(p, spec({ cwd: '/etc/../srv/app/x' }), 0)).toBeNull();
    expect(checkStart(p, spec({ cwd: '/srv//app/./x' }), 0)).toBeNull();
  });

  it('refuses a relative cwd: resolving it would read process.cwd()', () => {
    expectRefusal(checkStart(p, spec({ cwd: 'srv/app' }), 0), 'cwd srv/app is not absolute');
    expectRefusal(checkStart(p, spec({ cwd: '.' }), 0), 'not absolute');
  });

  it('an entry / allows every directory', () => {
    expect(checkStart(policy({ allowedCwds: ['/'] }), spec({ cwd: '/anything/at/all' }), 0)).toBeNull();
  });
});

describe('checkStart: denied env', () => {
  it('refuses each default name', () => {
    for (const name of DEFAULT_POLICY.deniedEnv) {
      expectRefusal(
        checkStart(DEFAULT_POLICY, spec({ env: { [name]: 'x' } }), 0),
        `env ${name} may not be set by a start (REAPQ_DENIED_ENV)`,
      );
    }
  });

  it('refuses even an empty value, and names every offender on one line', () => {
    expectRefusal(checkStart(DEFAULT_POLICY, spec({ env: { LD_PRELOAD: '' } }), 0), 'LD_PRELOAD');
    expectRefusal(
      checkStart(DEFAULT_POLICY, spec({ env: { OK: '1', NODE_OPTIONS: '--require x', LD_AUDIT: 'y' } }), 0),
      'env NODE_OPTIONS, LD_AUDIT may not be set',
    );
    const many = Object.fromEntries(['A', 'B', 'C', 'D', 'E', 'F', 'G'].map((k) => [k, '1']));
    expectRefusal(checkStart(policy({ deniedEnv: Object.keys(many) }), spec({ env: many }), 0), 'env A, B, C, D, E and 2 more');
  });

  it('is case-sensitive, like Linux and the programs that read these names: ld_preload is allowed', () => {
    expect(checkStart(DEFAULT_POLICY, spec({ env: { ld_preload: '/tmp/x.so', Node_Options: 'x' } }), 0)).toBeNull();
  });

  it('allows ordinary names, and follows a configured list instead of the default', () => {
    expect(checkStart(DEFAULT_POLICY, spec({ env: { NODE_ENV: 'production', PORT_HINT: '1', LD_PRELOAD_NOT: 'x' } }), 0)).toBeNull();
    const custom = policy({ deniedEnv: ['SECRET'] });
    expectRefusal(checkStart(custom, spec({ env: { SECRET: 's' } }), 0), 'env SECRET');
    expect(checkStart(custom, spec({ env: { LD_PRELOAD: 'x' } }), 0)).toBeNull();
  });
});

describe('checkStart: size limits, at the boundary', () => {
  it('counts each argument in UTF-8 plus its NUL, as execve does', () => {
    // ['ab', 'é'] = (2 + 1) + (2 + 1) = 6 bytes
    const command = ['ab', '\u00e9'];
    expect(checkStart(policy({ maxArgBytes: 6 }), spec({ command }), 0)).toBeNull();
    expectRefusal(checkStart(policy({ maxArgBytes: 5 }), spec({ command }), 0), 'command is 6 bytes, over REAPQ_MAX_ARG_BYTES=5');
  });

  it('the default 256 KiB: exactly at the limit passes, one byte over is refused', () => {
    const fill = (total: number) => ['node', 'x'.repeat(total - 5 - 1)]; // 'node\0' + filler + '\0'
    expect(checkStart(DEFAULT_POLICY, spec({ command: fill(262_144) }), 0)).toBeNull();
    expectRefusal(
      checkStart(DEFAULT_POLICY, spec({ command: fill(262_145) }), 0),
      'command is 262145 bytes, over REAPQ_MAX_ARG_BYTES=262144',
    );
  });

  it('counts many tiny arguments too (the NULs add up)', () => {
    expectRefusal(
      checkStart(policy({ maxArgBytes: 1000 }), spec({ command: ['x', ...Array<string>(1000).fill('')] }), 0),
      'command is 1002 bytes',
    );
  });

  it('counts env as KEY=VALUE plus NUL per pair', () => {
    // 'A=bc\0' + 'DE=\0' = 5 + 4 = 9 bytes
    const env = { A: 'bc', DE: '' };
    expect(checkStart(policy({ maxEnvBytes: 9 }), spec({ env }), 0)).toBeNull();
    expectRefusal(checkStart(policy({ maxEnvBytes: 8 }), spec({ env }), 0), 'env is 9 bytes, over REAPQ_MAX_ENV_BYTES=8');
  });

  it('the default 64 KiB env: exactly at the limit passes, one byte over is refused', () => {
    const env = (total: number) => ({ BIG: 'v'.repeat(total - 'BIG=\0'.length) });
    expect(checkStart(DEFAULT_POLICY, spec({ env: env(65_536) }), 0)).toBeNull();
    expectRefusal(checkStart(DEFAULT_POLICY, spec({ env: env(65_537) }), 0), 'env is 65537 bytes, over REAPQ_MAX_ENV_BYTES=65536');
  });

  it('reports size before anything that would quote a huge input', () => {
    const answer = checkStart(policy({ allowedCommands: ['npm'] }), spec({ command: ['y'.repeat(300_000)] }), 0);
    expectRefusal(answer, 'command is 300001 bytes');
  });
});

describe('checkStart: process limit', () => {
  const p = policy({ maxProcesses: 3 });

  it('allows below the limit and refuses at it', () => {
    expect(checkStart(p, spec(), 0)).toBeNull();
    expect(checkStart(p, spec(), 2)).toBeNull();
    expectRefusal(checkStart(p, spec(), 3), 'host already runs 3 processes, REAPQ_MAX_PROCESSES=3');
    expectRefusal(checkStart(p, spec(), 50), 'runs 50 processes');
  });

  it('ignores the count without a limit, and refuses an impossible count with one', () => {
    expect(checkStart(DEFAULT_POLICY, spec(), 1_000_000)).toBeNull();
    expectRefusal(checkStart(p, spec(), Number.NaN), 'live process count NaN is unknown');
    expectRefusal(checkStart(p, spec(), -1), 'live process count -1 is unknown');
  });

  it('a start that can never run is reported before one that waits for capacity', () => {
    const both = policy({ maxProcesses: 1, allowedCommands: ['npm'] });
    expectRefusal(checkStart(both, spec({ command: ['bash'] }), 5), 'command bash is not in');
  });
});

describe('checkStart: fails closed', () => {
  it('refuses a malformed spec instead of throwing or allowing it', () => {
    const bad = { command: 'npm', cwd: null, env: null } as unknown as Spec;
    expectRefusal(checkStart(DEFAULT_POLICY, bad, 0), 'the start could not be checked');
  });
});

describe('loadPolicy', () => {
  it('with nothing set is the default policy', () => {
    expect(loadPolicy({})).toEqual(DEFAULT_POLICY);
    expect(loadPolicy({ REAPQ_ALLOWED_COMMANDS: '', REAPQ_DENIED_ENV: '', REAPQ_RUN_AS: '' })).toEqual(DEFAULT_POLICY);
  });

  it('reads every variable', () => {
    const p = loadPolicy({
      REAPQ_ALLOWED_COMMANDS: ' npm, /usr/bin/node ,/opt/x/../bin/srv/,npm,',
      REAPQ_ALLOWED_CWDS: '/srv/app/,/home/deploy',
      REAPQ_RUN_AS: '1000:1001',
      REAPQ_DENIED_ENV: 'LD_PRELOAD,SECRET_TOKEN',
      REAPQ_MAX_ARG_BYTES: '1024',
      REAPQ_MAX_ENV_BYTES: '2048',
      REAPQ_MAX_PROCESSES: '20',
      REDIS_URL: 'redis://ignored',
    });
    expect(p).toEqual({
      allowedCommands: ['npm', '/usr/bin/node', '/opt/bin/srv'],
      allowedCwds: ['/srv/app', '/home/deploy'],
      runAs: { uid: 1000, gid: 1001 },
      deniedEnv: ['LD_PRELOAD', 'SECRET_TOKEN'],
      maxArgBytes: 1024,
      maxEnvBytes: 2048,
      maxProcesses: 20,
      limits: { defaults: { memory: null, cpus: null, pidsMax: null }, max: { memory: null, cpus: null, pidsMax: null } },
    });
    expect(Object.isFrozen(p)).toBe(true);
  });

  it('a set REAPQ_DENIED_ENV replaces the default list', () => {
    expect(loadPolicy({ REAPQ_DENIED_ENV: 'FOO' }).deniedEnv).toEqual(['FOO']);
  });

  it('accepts uid:gid 0:0 and the largest valid id', () => {
    expect(loadPolicy({ REAPQ_RUN_AS: '0:0' }).runAs).toEqual({ uid: 0, gid: 0 });
    expect(loadPolicy({ REAPQ_RUN_AS: '4294967294:1' }).runAs).toEqual({ uid: 4294967294, gid: 1 });
  });

  const bad: Array<[string, string, string]> = [
    ['REAPQ_ALLOWED_COMMANDS', 'bin/server', '"bin/server" must be an absolute path or a bare name (no /)'],
    ['REAPQ_ALLOWED_COMMANDS', './npm', 'must be an absolute path or a bare name'],
    ['REAPQ_ALLOWED_COMMANDS', 'npm,..', '".." is not a command'],
    ['REAPQ_ALLOWED_COMMANDS', ' , ,', 'must name at least one command (unset it to allow any)'],
    ['REAPQ_ALLOWED_COMMANDS', 'np\0m', 'must not contain NUL'],
    ['REAPQ_ALLOWED_CWDS', 'srv/app', '"srv/app" must be an absolute path'],
    ['REAPQ_ALLOWED_CWDS', ',', 'must name at least one directory'],
    ['REAPQ_RUN_AS', '1000', 'must look like UID:GID with numbers, e.g. 1000:1000'],
    ['REAPQ_RUN_AS', 'www-data:www-data', 'must look like UID:GID'],
    ['REAPQ_RUN_AS', '-1:0', 'must look like UID:GID'],
    ['REAPQ_RUN_AS', '4294967295:0', 'uid and gid must be at most 4294967294'],
    ['REAPQ_DENIED_ENV', 'LD_PRELOAD,BAD-NAME', '"BAD-NAME" is not a valid variable name'],
    ['REAPQ_MAX_ARG_BYTES', '256k', 'must be a whole number of bytes'],
    ['REAPQ_MAX_ARG_BYTES', '0', 'must be at least 1'],
    ['REAPQ_MAX_ENV_BYTES', '-5', 'must be a whole number of bytes'],
    ['REAPQ_MAX_ENV_BYTES', '1.5', 'must be a whole number of bytes'],
    ['REAPQ_MAX_PROCESSES', 'ten', 'must be a whole number'],
    ['REAPQ_MAX_PROCESSES', '0', 'must be at least 1 (unset it for no limit)'],
  ];
  it.each(bad)('%s=%j throws InputError `invalid NAME="value": reason`', (name, value, reason) => {
    let thrown: unknown;
    try {
      loadPolicy({ [name]: value });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InputError);
    expect((thrown as Error).message.startsWith(`invalid ${name}=${JSON.stringify(value)}: `)).toBe(true);
    expect((thrown as Error).message).toContain(reason);
    expect((thrown as Error).message).not.toContain('\n');
  });

  it('a loaded policy enforces what it read', () => {
    const p = loadPolicy({ REAPQ_ALLOWED_COMMANDS: 'npm', REAPQ_ALLOWED_CWDS: '/srv/app/', REAPQ_MAX_PROCESSES: '1' });
    expect(checkStart(p, spec({ command: ['npm'], cwd: '/srv/app/x' }), 0)).toBeNull();
    expectRefusal(checkStart(p, spec({ command: ['npm'], cwd: '/srv/application' }), 0), 'cwd /srv/application');
    expectRefusal(checkStart(p, spec({ command: ['npm'], cwd: '/srv/app' }), 1), 'REAPQ_MAX_PROCESSES=1');
  });
});

describe('properties', () => {
  const hostileString = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(
      '',
      '.',
      '..',
      '/',
      '//',
      '\0',
      '/..',
      '../..',
      '/srv/app/../../etc',
      '/srv/app\0/x',
      'a\nb',
      '\u2028',
      '\u001b[2J',
      '__proto__',
      'constructor',
      'LD_PRELOAD',
      'PATH',
      'npm',
      '\ud800',
    ),
    fc.array(fc.constantFrom('..', '.', '', 'srv', 'app', 'application', 'etc', '\0', 'é'), { maxLength: 8 }).map((s) => s.join('/')),
    fc.array(fc.constantFrom('..', '.', 'srv', 'app', 'x'), { maxLength: 8 }).map((s) => `/${s.join('/')}`),
  );
  const hugeString = fc.nat({ max: 300_000 }).map((n) => 'a'.repeat(n));
  const hugeArray = fc.nat({ max: 100_000 }).map((n) => Array<string>(n).fill('..'));
  const command = fc.oneof(
    fc.array(hostileString, { maxLength: 10 }),
    hugeArray,
    fc.tuple(hostileString, hugeString).map((t) => [...t]),
  );
  const env = fc.dictionary(hostileString, fc.oneof(hostileString, hugeString), { maxKeys: 6 });

  const nullableList = fc.option(fc.array(hostileString, { maxLength: 5 }), { nil: null });
  const anyPolicy: fc.Arbitrary<Policy> = fc.record({
    allowedCommands: nullableList,
    allowedCwds: nullableList,
    runAs: fc.constant(null),
    deniedEnv: fc.array(hostileString, { maxLength: 5 }),
    maxArgBytes: fc.oneof(fc.nat(), fc.constant(Number.NaN), fc.constant(Infinity)),
    maxEnvBytes: fc.oneof(fc.nat(), fc.constant(Number.NaN)),
    maxProcesses: fc.option(fc.integer({ min: -1, max: 10 }), { nil: null }),
    limits: fc.constant({ defaults: { memory: null, cpus: null, pidsMax: null }, max: { memory: null, cpus: null, pidsMax: null } }),
  });
  const liveCount = fc.oneof(fc.integer({ min: -5, max: 20 }), fc.constantFrom(Number.NaN, Infinity, 0.5));

  it('StartSpecSchema.safeParse never throws, on specs shaped right or not at all', () => {
    const shaped = fc.record(
      {
        id: fc.oneof(hostileString, fc.anything()),
        name: hostileString,
        command: fc.oneof(command, fc.anything()),
        cwd: fc.oneof(hostileString, fc.anything()),
        env: fc.oneof(env, fc.anything()),
        port: fc.anything(),
        restart: fc.anything(),
        graceMs: fc.anything(),
        host: hostileString,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(shaped, fc.anything()), (input) => {
        const r = StartSpecSchema.safeParse(input);
        expect(typeof r.success).toBe('boolean');
      }),
      { numRuns: 400 },
    );
  });

  it('checkStart never throws and answers null or one bounded line starting with `refused by policy:`', () => {
    fc.assert(
      fc.property(
        fc.oneof(anyPolicy, fc.constant(DEFAULT_POLICY)),
        command,
        fc.oneof(hostileString, hugeString),
        env,
        liveCount,
        (p, cmd, cwd, e, n) => {
          const answer = checkStart(p, { command: cmd, cwd, env: e }, n);
          if (answer !== null) {
            expect(answer).toMatch(ONE_LINE);
            expect(answer.length).toBeLessThan(1200);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('checkStart fails closed on specs that are not even shaped right', () => {
    fc.assert(
      fc.property(anyPolicy, fc.anything(), liveCount, (p, junk, n) => {
        const answer = checkStart(p, junk as Spec, n);
        if (answer !== null) expect(answer).toMatch(ONE_LINE);
      }),
      { numRuns: 300 },
    );
  });

  it('what StartSpecSchema accepts, checkStart also answers in one line', () => {
    fc.assert(
      fc.property(fc.record({ command, cwd: hostileString, env }), anyPolicy, (raw, p) => {
        const parsed = StartSpecSchema.safeParse(raw);
        if (!parsed.success) return;
        const answer = checkStart(p, { command: parsed.data.command, cwd: parsed.data.cwd ?? '/', env: parsed.data.env ?? {} }, 0);
        if (answer !== null) expect(answer).toMatch(ONE_LINE);
      }),
      { numRuns: 300 },
    );
  });

  it('the cwd decision agrees with posix.relative: inside the prefix exactly when no step leaves it', () => {
    const segs = fc.array(fc.constantFrom('..', '.', '', 'srv', 'app', 'application', 'x'), { maxLength: 8 });
    fc.assert(
      fc.property(segs, segs, (root, dir) => {
        const prefix = posix.resolve(`/${root.join('/')}`);
        const cwd = `/${dir.join('/')}`;
        const rel = posix.relative(prefix, posix.resolve(cwd));
        const inside = rel === '' || (!rel.startsWith('../') && rel !== '..' && !posix.isAbsolute(rel));
        const answer = checkStart(policy({ allowedCwds: [prefix] }), spec({ cwd }), 0);
        expect(answer === null).toBe(inside);
      }),
      { numRuns: 500 },
    );
  });
});
