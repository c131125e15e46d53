import { posix } from 'node:path';
import { z } from 'zod';
import { parseEnv } from '../shared/env.js';
import { InputError } from '../shared/errors.js';
import { CpusSchema, MemorySchema, type Limits } from '../shared/record.js';
import { WholeNumber } from '../shared/input.js';

/**
 * What a worker lets a start do on its host. Anyone who can enqueue a start can run code
 * here, so the worker, not the producer, is where the limits hold: a producer can be
 * bypassed by writing a job to Redis by hand.
 */
export interface Policy {
  /** Absolute paths or bare names; null = any command. */
  allowedCommands: string[] | null;
  /** Directory prefixes, compared on path boundaries; null = any directory. */
  allowedCwds: string[] | null;
  /** Applied at spawn (not by checkStart); null = the worker's own uid and gid. */
  runAs: { uid: number; gid: number } | null;
  /** Variable names a start may not set (exact, case-sensitive). */
  deniedEnv: string[];
  /** Bytes of the command array as execve copies it: each argument in UTF-8 plus its NUL. */
  maxArgBytes: number;
  /** Bytes of the user's env as execve copies it: each KEY=VALUE in UTF-8 plus its NUL. */
  maxEnvBytes: number;
  /** Live processes on this host; null = no limit. */
  maxProcesses: number | null;
  /** Limits for a start that asks for none, and the most a start may ask for (null: none). */
  limits: { defaults: Limits; max: Limits };
}

const NO_LIMITS: Limits = Object.freeze({ memory: null, cpus: null, pidsMax: null });

export const REFUSED = 'refused by policy:';

/**
 * Variables that make an unrelated, allowed program load or run code named by the caller:
 * the dynamic loader's preload and audit hooks, and the start-up hooks of node, bash, sh,
 * python and perl. Allowing `node` would mean little if NODE_OPTIONS=--require could be set.
 */
const DEFAULT_DENIED_ENV = Object.freeze([
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
  'NODE_OPTIONS',
  'BASH_ENV',
  'ENV',
  'PYTHONSTARTUP',
  'PERL5OPT',
]);

// Frozen: every worker that does not configure a policy shares this object.
export const DEFAULT_POLICY: Policy = Object.freeze({
  allowedCommands: null,
  allowedCwds: null,
  runAs: null,
  deniedEnv: DEFAULT_DENIED_ENV as string[],
  maxArgBytes: 256 * 1024,
  maxEnvBytes: 64 * 1024,
  maxProcesses: null,
  limits: Object.freeze({ defaults: NO_LIMITS, max: NO_LIMITS }),
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Above this uid_t is -1, which setuid() reads as "leave unchanged".
const MAX_ID = 4_294_967_294;

function commaList(what: string, check: (item: string) => string | null, canonical: (item: string) => string) {
  return z.string().transform((raw, ctx) => {
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (items.length === 0) {
      ctx.addIssue({ code: 'custom', message: `must name at least one ${what} (unset it to allow any)` });
      return z.NEVER;
    }
    for (const item of items) {
      const problem = check(item);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(item)} ${problem}` });
        return z.NEVER;
      }
    }
    return [...new Set(items.map(canonical))];
  });
}

const CpusNumber = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a number of CPUs like 0.5 or 2')
  .transform(Number)
  .pipe(CpusSchema);

const byteCount = WholeNumber(1, 1e15, 'must be a whole number of bytes', 'must be at least 1');

const PolicyEnvSchema = z.object({
  REAPQ_ALLOWED_COMMANDS: commaList(
    'command',
    (c) =>
      c.includes('\0')
        ? 'must not contain NUL'
        : c === '.' || c === '..'
          ? 'is not a command'
          : // A relative path would be resolved against each start's cwd, which the caller picks.
            !c.includes('/') || c.startsWith('/')
            ? null
            : 'must be an absolute path or a bare name (no /)',
    (c) => (c.startsWith('/') ? posix.resolve(c) : c),
  ).optional(),
  REAPQ_ALLOWED_CWDS: commaList(
    'directory',
    (d) => (d.includes('\0') ? 'must not contain NUL' : d.startsWith('/') ? null : 'must be an absolute path'),
    (d) => posix.resolve(d),
  ).optional(),
  REAPQ_RUN_AS: z
    .string()
    .regex(/^\d{1,10}:\d{1,10}$/, 'must look like UID:GID with numbers, e.g. 1000:1000')
    .transform((s) => s.split(':').map(Number) as [number, number])
    .refine(([u, g]) => u <= MAX_ID && g <= MAX_ID, `uid and gid must be at most ${MAX_ID}`)
    .transform(([uid, gid]) => ({ uid, gid }))
    .optional(),
  REAPQ_DENIED_ENV: commaList(
    'variable',
    (n) => (ENV_NAME.test(n) ? null : 'is not a valid variable name'),
    (n) => n,
  ).optional(),
  REAPQ_MAX_ARG_BYTES: byteCount.optional(),
  REAPQ_MAX_ENV_BYTES: byteCount.optional(),
  REAPQ_MAX_PROCESSES: WholeNumber(1, 1e9, 'must be a whole number', 'must be at least 1 (unset it for no limit)').optional(),
  REAPQ_DEFAULT_MEMORY: MemorySchema.optional(),
  REAPQ_MAX_MEMORY: MemorySchema.optional(),
  REAPQ_DEFAULT_CPUS: CpusNumber.optional(),
  REAPQ_MAX_CPUS: CpusNumber.optional(),
  REAPQ_DEFAULT_PIDS_MAX: WholeNumber(1, 4_194_304).optional(),
  REAPQ_MAX_PIDS_MAX: WholeNumber(1, 4_194_304).optional(),
});

/**
 * Compiles the policy from the environment once, at worker start, so a typo stops the
 * worker with one line instead of silently allowing everything. An empty variable counts
 * as unset, as in loadConfig.
 */
export function loadPolicy(env: NodeJS.ProcessEnv): Policy {
  const e = parseEnv(PolicyEnvSchema, env);
  return Object.freeze({
    allowedCommands: e.REAPQ_ALLOWED_COMMANDS ?? null,
    allowedCwds: e.REAPQ_ALLOWED_CWDS ?? null,
    runAs: e.REAPQ_RUN_AS ?? null,
    deniedEnv: e.REAPQ_DENIED_ENV ?? [...DEFAULT_DENIED_ENV],
    maxArgBytes: e.REAPQ_MAX_ARG_BYTES ?? DEFAULT_POLICY.maxArgBytes,
    maxEnvBytes: e.REAPQ_MAX_ENV_BYTES ?? DEFAULT_POLICY.maxEnvBytes,
    maxProcesses: e.REAPQ_MAX_PROCESSES ?? null,
    limits: policyLimits(e),
  });
}

function policyLimits(e: z.infer<typeof PolicyEnvSchema>): Policy['limits'] {
  const defaults = {
    memory: e.REAPQ_DEFAULT_MEMORY ?? null,
    cpus: e.REAPQ_DEFAULT_CPUS ?? null,
    pidsMax: e.REAPQ_DEFAULT_PIDS_MAX ?? null,
  };
  const max = { memory: e.REAPQ_MAX_MEMORY ?? null, cpus: e.REAPQ_MAX_CPUS ?? null, pidsMax: e.REAPQ_MAX_PIDS_MAX ?? null };
  for (const [k, name] of [
    ['memory', 'MEMORY'],
    ['cpus', 'CPUS'],
    ['pidsMax', 'PIDS_MAX'],
  ] as const) {
    const d = defaults[k];
    const m = max[k];
    if (d !== null && m !== null && d > m) throw new InputError(`invalid REAPQ_DEFAULT_${name}=${d}: above REAPQ_MAX_${name}=${m}`);
  }
  return { defaults, max };
}

const LIMIT_ENV: Record<keyof Limits, string> = { memory: 'MEMORY', cpus: 'CPUS', pidsMax: 'PIDS_MAX' };

/**
 * The limits a run gets: what the start asked for, else the worker's default, else its
 * maximum (a worker with a maximum runs nothing unlimited). Asking for more than the
 * maximum is refused with one line.
 */
export function effectiveLimits(policy: Policy, asked: Limits | null): { limits: Limits } | { error: string } {
  const out = { ...NO_LIMITS } as { -readonly [K in keyof Limits]: Limits[K] };
  for (const k of Object.keys(LIMIT_ENV) as (keyof Limits)[]) {
    const max = policy.limits.max[k];
    const v = asked?.[k] ?? policy.limits.defaults[k] ?? max;
    if (v !== null && max !== null && v > max) return { error: `${REFUSED} ${k} ${v} is over REAPQ_MAX_${LIMIT_ENV[k]}=${max}` };
    out[k] = v;
  }
  return { limits: out };
}

export interface StartToCheck {
  command: string[];
  /** The directory the worker will spawn in, as it will pass it to spawn. */
  cwd: string;
  env: Record<string, string>;
}

/**
 * Decides whether a start may be spawned: null, or one line (printable ASCII, bounded
 * length) saying what was refused and why, fit for the record's `error`.
 *
 * Checks run from permanent to transient, so a start that can never run is not reported
 * as merely waiting for capacity. A check that cannot be carried out refuses: this is a
 * gate, and a bug or a malformed spec must not open it.
 */
export function checkStart(policy: Policy, spec: StartToCheck, liveCount: number): string | null {
  try {
    const why = sizes(policy, spec) ?? command(policy, spec) ?? cwd(policy, spec) ?? env(policy, spec) ?? capacity(policy, liveCount);
    return why === null ? null : `${REFUSED} ${why}`;
  } catch (err) {
    return `${REFUSED} the start could not be checked (${show(err instanceof Error ? err.message : String(err))})`;
  }
}

function sizes(policy: Policy, spec: StartToCheck): string | null {
  let arg = 0;
  for (const a of spec.command) arg += Buffer.byteLength(a, 'utf8') + 1;
  if (arg > policy.maxArgBytes) return `command is ${arg} bytes, over REAPQ_MAX_ARG_BYTES=${policy.maxArgBytes}`;
  let envBytes = 0;
  for (const [k, v] of Object.entries(spec.env)) envBytes += Buffer.byteLength(k, 'utf8') + 1 + Buffer.byteLength(v, 'utf8') + 1;
  if (envBytes > policy.maxEnvBytes) return `env is ${envBytes} bytes, over REAPQ_MAX_ENV_BYTES=${policy.maxEnvBytes}`;
  return null;
}

function command(policy: Policy, spec: StartToCheck): string | null {
  const file = spec.command[0];
  if (typeof file !== 'string' || file === '') return 'command names no program';
  const allowed = policy.allowedCommands;
  if (allowed === null) return null;
  if (!file.includes('/')) {
    if (!allowed.includes(file)) return `command ${show(file)} is not in REAPQ_ALLOWED_COMMANDS`;
    // spawn looks a bare name up in the child's PATH, which the start would then choose:
    // the allowed name would run whatever file of that name the caller points PATH at.
    if (Object.hasOwn(spec.env, 'PATH')) {
      return `env PATH may not be set: command ${show(file)} is allowed by name, and PATH would choose which file runs`;
    }
    return null;
  }
  // The kernel resolves `..` after following symlinks, and the supervisor spawns the
  // command as given, so a lexically normalised `/tmp/link/../../usr/bin/x` could name an
  // allowed path while running another file. Refusing `..` keeps string and kernel in step.
  if (file.split('/').includes('..')) return `command ${show(file)} has a .. segment, which REAPQ_ALLOWED_COMMANDS does not allow`;
  let abs: string;
  if (file.startsWith('/')) abs = posix.normalize(file);
  else if (spec.cwd.startsWith('/')) abs = posix.join(posix.resolve(spec.cwd), file);
  else return `command ${show(file)} is relative and cwd ${show(spec.cwd)} is not absolute`;
  if (allowed.some((entry) => entry.startsWith('/') && entry === abs)) return null;
  return abs === file
    ? `command ${show(file)} is not in REAPQ_ALLOWED_COMMANDS`
    : `command ${show(file)} (${show(abs)}) is not in REAPQ_ALLOWED_COMMANDS`;
}

function cwd(policy: Policy, spec: StartToCheck): string | null {
  const allowed = policy.allowedCwds;
  if (allowed === null) return null;
  // posix.resolve would fill a relative path in from process.cwd(): impure, and not
  // necessarily the directory the worker spawns in.
  if (!spec.cwd.startsWith('/')) return `cwd ${show(spec.cwd)} is not absolute`;
  // `..` is removed before the prefix test, or /srv/app/../../etc would pass as /srv/app.
  // This is sound only because the supervisor spawns in the same resolved string.
  const dir = posix.resolve(spec.cwd);
  const inside = allowed.some((entry) => {
    const root = posix.resolve(entry);
    return dir === root || dir.startsWith(root === '/' ? '/' : `${root}/`);
  });
  if (inside) return null;
  return dir === spec.cwd
    ? `cwd ${show(dir)} is not under REAPQ_ALLOWED_CWDS`
    : `cwd ${show(spec.cwd)} (${show(dir)}) is not under REAPQ_ALLOWED_CWDS`;
}

// Case-sensitive on purpose: Linux env names are, and ld.so, node and bash read exactly
// LD_PRELOAD, NODE_OPTIONS, ...; `ld_preload` does nothing, and refusing it would refuse
// a harmless name.
function env(policy: Policy, spec: StartToCheck): string | null {
  const denied = new Set(policy.deniedEnv);
  const hits = Object.keys(spec.env).filter((k) => denied.has(k));
  if (hits.length === 0) return null;
  const names = hits.slice(0, 5).map(show).join(', ') + (hits.length > 5 ? ` and ${hits.length - 5} more` : '');
  return `env ${names} may not be set by a start (REAPQ_DENIED_ENV)`;
}

function capacity(policy: Policy, liveCount: number): string | null {
  const max = policy.maxProcesses;
  if (max === null) return null;
  if (!Number.isInteger(liveCount) || liveCount < 0)
    return `live process count ${show(String(liveCount))} is unknown, REAPQ_MAX_PROCESSES=${max}`;
  if (liveCount >= max) return `host already runs ${liveCount} processes, REAPQ_MAX_PROCESSES=${max}`;
  return null;
}

const PLAIN = /^[A-Za-z0-9_./:@%+=,~-]{1,120}$/;
const SHOWN_MAX = 120;

/**
 * A caller's string as it may appear in the one-line answer: as is when plainly safe,
 * else quoted with everything outside printable ASCII escaped (newlines, NUL, U+2028,
 * terminal escapes) and cut short, so no input can forge or flood a log line.
 */
function show(s: string): string {
  if (PLAIN.test(s)) return s;
  const cut = s.length > SHOWN_MAX ? s.slice(0, SHOWN_MAX) : s;
  const escaped = cut.replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `"${escaped}${cut.length < s.length ? `...(${s.length} chars)` : ''}"`;
}
